"""Benchmark: separate autoencoder fits per latent size against one batched fit of all sizes.

    .venv/bin/python benchmarks/bench_autoencoder.py [--n 60000] [--d 64] [--epochs 5]
        [--threads 1,2] [--sizes 1-16] [--separate 1,8,16] [--device cpu]

On synthetic activations (ReLU features of a smooth map from a low-dimensional latent space,
plus noise), times ``fit_autoencoder`` for a few sizes (``--separate``; their mean time is taken
as the cost of one size) and ``fit_autoencoders`` for all ``--sizes`` at once, for each torch
thread count in ``--threads``, and prints the seconds per latent size of each, their ratio,
and the largest |R^2 difference| between the two ways for the sizes fitted both ways.
Not a workflow script: it is run by hand.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from neuralhull.learn.autoencoder import (  # noqa: E402
    AutoencoderConfig,
    fit_autoencoder,
    fit_autoencoders,
)


def parse_sizes(text: str) -> list[int]:
    """``"1-4,8"`` -> ``[1, 2, 3, 4, 8]``."""
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def synthetic_activations(n: int, d: int, latent: int, seed: int) -> np.ndarray:
    """``(n, d)`` float32 non-negative activations near a ``latent``-dimensional manifold."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, latent))
    h = np.tanh(z @ rng.normal(size=(latent, 2 * d)) / np.sqrt(latent))
    x = np.maximum(h @ rng.normal(size=(2 * d, d)) / np.sqrt(2 * d) + 0.1, 0.0)
    return (x + 0.02 * rng.normal(size=x.shape)).astype(np.float32)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=60000, help="training activations")
    p.add_argument("--n-test", type=int, default=10000)
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--latent", type=int, default=8, help="dimension of the synthetic manifold")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", default="1,2", help="torch thread counts, e.g. 1,2")
    p.add_argument("--sizes", default="1-16", help="latent sizes of the batched fit")
    p.add_argument("--separate", default="1,8,16", help="sizes also fitted one by one")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    args = p.parse_args(argv)

    sizes = parse_sizes(args.sizes)
    separate = parse_sizes(args.separate)
    x = synthetic_activations(args.n + args.n_test, args.d, args.latent, seed=0)
    train, test = x[: args.n], x[args.n :]
    cfg = AutoencoderConfig(
        hidden=args.hidden, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=0
    )
    quiet = dict(log=lambda m: None, device=args.device)
    print(
        f"n={args.n} test={args.n_test} d={args.d} hidden={args.hidden} epochs={args.epochs} "
        f"batch={args.batch_size} sizes={args.sizes} separate={args.separate} "
        f"device={args.device} torch {torch.__version__}"
    )
    for threads in parse_sizes(args.threads):
        torch.set_num_threads(threads)
        fit_autoencoder(train[:2000], test[:500], 2, cfg, **quiet)  # warm up kernels
        sep_seconds, sep_fits = [], {}
        for k in separate:
            t = time.perf_counter()
            sep_fits[k] = fit_autoencoder(train, test, k, cfg, **quiet)
            sep_seconds.append(time.perf_counter() - t)
        t = time.perf_counter()
        batched = fit_autoencoders(train, test, sizes, cfg, **quiet)
        batched_total = time.perf_counter() - t
        per_sep = float(np.mean(sep_seconds))
        per_batched = batched_total / len(sizes)
        both = [k for k in separate if k in batched]
        d_val = max(
            (abs(sep_fits[k].r2_validation - batched[k].r2_validation) for k in both),
            default=float("nan"),
        )
        d_test = max(
            (abs(sep_fits[k].r2_test - batched[k].r2_test) for k in both), default=float("nan")
        )
        print(f"\nthreads={threads}")
        print(
            "  separate fit_autoencoder: "
            + ", ".join(f"k={k} {s:.2f} s" for k, s in zip(separate, sep_seconds, strict=True))
            + f" -> {per_sep:.3f} s per latent size"
            f" (extrapolated {per_sep * len(sizes):.1f} s for {len(sizes)} sizes)"
        )
        print(
            f"  batched fit_autoencoders: {batched_total:.2f} s for {len(sizes)} sizes"
            f" -> {per_batched:.3f} s per latent size"
        )
        print(f"  speed-up per latent size: {per_sep / per_batched:.2f}x")
        print(
            f"  max |R2 separate - batched| over k={both}: validation {d_val:.2e}, "
            f"test {d_test:.2e}"
        )
        print(
            "  R2 (validation) batched: "
            + " ".join(f"{k}:{batched[k].r2_validation:.3f}" for k in sizes)
        )


if __name__ == "__main__":
    main()
