"""Throughput of ``train_model`` on the CPU, in images per second, old way against new.

Usage::

    python -m neuralhull.bench train [--config config/config.yaml] [--threads 1]

For every distinct network of the config's zoo (same architecture, width, depth and
channels as ``train_model`` builds for MNIST-shaped inputs), on the same seeded batches in
one process, so the two columns share a machine and a moment:

- **train**: optimiser steps at the model's batch size (forward, backward, Adam), in the
  default memory layout (``before``) and after :func:`neuralhull.training.fast_layout`;
- **eval**: inference, at the old batch of 1,024 images in the default layout (``before``)
  and at :data:`neuralhull.training.EVAL_BATCH` after ``fast_layout``;
- **job**: the images a ``train_model`` job of the row's first model processes, weighted by these
  rates: its training steps, plus, before, the final evaluation of train and test and a
  separate extraction job's pass over both again; after, one final pass that is both.
  (Startup, data loading and the per-epoch passes of multi-epoch models are left out.)

The data are random tensors of MNIST's shape: throughput does not depend on the values.
"""

from __future__ import annotations

import argparse
import copy
import math
import time

import torch
from torch import nn

from neuralhull.learn.models import ModelSpec, build_model
from neuralhull.learn.training import EVAL_BATCH, fast_layout

OLD_EVAL_BATCH = 1024
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


def bench_train(models: list[dict], min_seconds: float = 1.5) -> list[dict]:
    """One row per distinct network of ``models`` (config entries): rates and ratios."""
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
        base = build_model(spec)
        fast = fast_layout(copy.deepcopy(base))
        batch = entry.get("batch_size", 128)
        row = {
            "models": [entry["name"]],
            "network": f"{spec.arch} w{spec.width} d{spec.depth}"
            + (f" c{spec.channels}" if spec.arch == "cnn" else ""),
            "train_before": _train_rate(copy.deepcopy(base), batch, min_seconds),
            "train_after": _train_rate(fast, batch, min_seconds),
            "eval_before": _eval_rate(base, OLD_EVAL_BATCH, min_seconds),
            "eval_after": _eval_rate(fast, EVAL_BATCH, min_seconds),
        }
        # images one job processes: the steps, then (before) final evaluation + extraction
        # of train and test, (after) one pass that is both
        epochs = entry.get("epochs", 1)
        steps = entry.get("steps") or epochs * math.ceil(N_TRAIN / batch)
        trained = min(steps * batch, epochs * N_TRAIN)
        passes = N_TRAIN + N_TEST
        row["job_before_s"] = trained / row["train_before"] + 2 * passes / row["eval_before"]
        row["job_after_s"] = trained / row["train_after"] + passes / row["eval_after"]
        seen[key] = row
        rows.append(row)
    return rows


def print_table(rows: list[dict]) -> None:
    print(
        "| network | models | train img/s before | after | ratio | eval img/s before | after "
        "| ratio | job compute s before | after | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['network']} | {', '.join(r['models'])} | {r['train_before']:.0f} | "
            f"{r['train_after']:.0f} | {r['train_after'] / r['train_before']:.2f}x | "
            f"{r['eval_before']:.0f} | {r['eval_after']:.0f} | "
            f"{r['eval_after'] / r['eval_before']:.2f}x | {r['job_before_s']:.1f} | "
            f"{r['job_after_s']:.1f} | {r['job_before_s'] / r['job_after_s']:.2f}x |",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    import yaml

    parser = argparse.ArgumentParser(prog="python -m neuralhull.bench train", description=__doc__)
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (jobs use 1)")
    parser.add_argument("--min-seconds", type=float, default=1.5, help="timing per measurement")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with open(args.config) as fh:
        cfg = yaml.safe_load(fh)
    rows = bench_train(cfg["models"], min_seconds=args.min_seconds)
    print(f"torch {torch.__version__}, {args.threads} thread(s), config {args.config}")
    print_table(rows)
    return 0
