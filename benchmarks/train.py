"""Throughput of ``train_model`` on the CPU, in images per second.

Usage (from the repository root)::

    python -m benchmarks train [--config config/config.yaml] [--threads 1] [--eval-batch 256]

For every distinct network of the config's zoo (same architecture, width, depth and
channels as ``train_model`` builds for MNIST-shaped inputs, in its memory layout,
:func:`neuralhull.learn.training.fast_layout`), on seeded batches:

- **train**: optimiser steps at the model's batch size (forward, backward, Adam);
- **eval**: inference at :data:`neuralhull.learn.training.EVAL_BATCH` images (``--eval-batch``
  tries another batch size);
- **job**: the compute seconds of a ``train_model`` job of the row's first model at these
  rates: its training steps, then one pass over train and test that scores the model and
  keeps its last hidden layer. (Startup, data loading and the per-epoch passes of
  multi-epoch models are left out.)

The data are random tensors of MNIST's shape: throughput does not depend on the values.
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch import nn

from neuralhull.learn.models import ModelSpec, build_model
from neuralhull.learn.training import EVAL_BATCH, fast_layout

N_TRAIN, N_TEST = 60_000, 10_000


def _rate(step, images_per_call: int, min_seconds: float) -> float:
    """Images per second of ``step()``, after two warm-up calls, timed over at least
    ``min_seconds``."""
    step()
    step()
    calls, t0 = 0, time.perf_counter()
    while True:
        step()
        calls += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= min_seconds and calls >= 3:
            return calls * images_per_call / elapsed


def _train_rate(model: nn.Module, batch: int, min_seconds: float) -> float:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 1, 28, 28, generator=gen)
    y = torch.randint(0, 10, (batch,), generator=gen)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()

    def step():
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return _rate(step, batch, min_seconds)


def _eval_rate(model: nn.Module, batch: int, min_seconds: float) -> float:
    x = torch.randn(batch, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    model.eval()

    def step():
        with torch.no_grad():
            model.head(model.features(x)).argmax(1)

    return _rate(step, batch, min_seconds)


def bench_train(
    models: list[dict], min_seconds: float = 1.5, eval_batch: int = EVAL_BATCH
) -> list[dict]:
    """One row per distinct network of ``models`` (config entries): its rates and the
    compute seconds of one job."""
    rows, seen = [], {}
    for entry in models:
        key = (entry["arch"], entry["width"], entry["depth"], entry.get("channels", 16))
        if key in seen:
            seen[key]["models"].append(entry["name"])
            continue
        spec = ModelSpec(
            arch=entry["arch"],
            in_shape=(1, 28, 28),
            n_classes=10,
            width=entry["width"],
            depth=entry["depth"],
            channels=entry.get("channels", 16),
        )
        torch.manual_seed(0)
        model = fast_layout(build_model(spec))
        batch = entry.get("batch_size", 128)
        row = {
            "models": [entry["name"]],
            "network": f"{spec.arch} w{spec.width} d{spec.depth}"
            + (f" c{spec.channels}" if spec.arch == "cnn" else ""),
            "train": _train_rate(model, batch, min_seconds),
            "eval": _eval_rate(model, eval_batch, min_seconds),
        }
        epochs = entry.get("epochs", 1)
        steps = entry.get("steps") or epochs * math.ceil(N_TRAIN / batch)
        trained = min(steps * batch, epochs * N_TRAIN)
        row["job_s"] = trained / row["train"] + (N_TRAIN + N_TEST) / row["eval"]
        seen[key] = row
        rows.append(row)
    return rows


def print_table(rows: list[dict]) -> None:
    print("| network | models | train img/s | eval img/s | job compute s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['network']} | {', '.join(r['models'])} | {r['train']:.0f} | "
            f"{r['eval']:.0f} | {r['job_s']:.1f} |",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    import yaml

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (jobs use 1)")
    parser.add_argument("--min-seconds", type=float, default=1.5, help="timing per measurement")
    parser.add_argument(
        "--eval-batch", type=int, default=EVAL_BATCH, help="inference batch (images)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with open(args.config) as fh:
        cfg = yaml.safe_load(fh)
    rows = bench_train(cfg["models"], args.min_seconds, args.eval_batch)
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), eval batch {args.eval_batch}, "
        f"config {args.config}"
    )
    print_table(rows)
    return 0
