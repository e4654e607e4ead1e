"""Autoencoders that find the low-dimensional space of a network's activations.

One fully connected autoencoder per latent size ``k``: ``d -> hidden -> k -> hidden -> d``
(ReLU between, linear code and output), fitted by Adam on mean squared error of
standardised activations. Its quality is the reconstruction on held-out activations,
measured in the original activation units:

    R^2 = 1 - sum ||x - x_hat||^2 / sum ||x - mean_train||^2 ,   MSE = mean (x - x_hat)^2 .

The intrinsic dimension is chosen from these fits by
:func:`neuralhull.intrinsic.choose_latent_size`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from neuralhull.training import TrainingDiverged, seed_everything


@dataclass(frozen=True)
class AutoencoderConfig:
    hidden: int = 256
    epochs: int = 20
    lr: float = 1e-3
    batch_size: int = 256
    validation_fraction: float = 0.1
    seed: int = 0


@dataclass
class AutoencoderFit:
    """Codes and held-out reconstruction quality of one fitted autoencoder.

    Attributes
    ----------
    codes_train : (n_train, k) float32 codes of every training activation.
    codes_test : (n_test, k) float32 codes of every test activation.
    r2_validation, mse_validation : on the held-out part of the training activations
        (not used for fitting; this is what chooses the latent size).
    r2_test, mse_test : on the test activations.
    loss : training loss per epoch (standardised units).
    """

    latent_size: int
    codes_train: np.ndarray
    codes_test: np.ndarray
    r2_validation: float
    mse_validation: float
    r2_test: float
    mse_test: float
    loss: list[float]
    seconds: float


def _network(d: int, hidden: int, k: int) -> tuple[nn.Module, nn.Module]:
    encoder = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, k))
    decoder = nn.Sequential(nn.Linear(k, hidden), nn.ReLU(), nn.Linear(hidden, d))
    return encoder, decoder


def reconstruction_scores(
    x: np.ndarray, x_hat: np.ndarray, mean: np.ndarray
) -> tuple[float, float]:
    """R^2 (against the training mean ``mean (d,)``) and MSE of ``x_hat`` for ``x (n, d)``."""
    x = x.astype(np.float64)
    sse = float(((x - x_hat) ** 2).sum())
    sst = float(((x - mean) ** 2).sum())
    r2 = 1.0 - sse / sst if sst > 0 else (1.0 if sse == 0 else -math.inf)
    return r2, sse / x.size


def fit_autoencoder(
    train: np.ndarray,
    test: np.ndarray,
    latent_size: int,
    cfg: AutoencoderConfig = AutoencoderConfig(),
    *,
    device: str = "cpu",
    log: Callable[[str], None] = print,
) -> AutoencoderFit:
    """Fit an autoencoder with code size ``latent_size`` on training activations.

    Parameters
    ----------
    train : (n_train, d) activations; a seeded ``cfg.validation_fraction`` of them is held
        out for validation, the rest fits the network.
    test : (n_test, d) activations, only encoded and scored.
    device : where the networks are fitted (``"cpu"``, ``"cuda"``, ...); the codes come back
        as NumPy arrays on the host either way.

    Raises
    ------
    TrainingDiverged
        When the loss becomes NaN or infinite.
    """
    if train.ndim != 2 or test.ndim != 2 or train.shape[1] != test.shape[1]:
        raise ValueError(
            f"activations must be (n, d) with equal d, got {train.shape}, {test.shape}"
        )
    if not (np.isfinite(train).all() and np.isfinite(test).all()):
        raise ValueError("activations contain NaN or inf")
    seed_everything(cfg.seed)
    t0 = time.perf_counter()
    n, d = train.shape
    rng = np.random.default_rng(cfg.seed)
    perm = rng.permutation(n)
    n_val = max(1, int(round(cfg.validation_fraction * n)))
    val_idx, fit_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    mean = train[fit_idx].mean(0).astype(np.float64)
    std = train[fit_idx].std(0).astype(np.float64)
    std = np.where(std > 1e-8, std, 1.0)  # constant units (dead ReLUs) stay constant

    def z(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(((a - mean) / std).astype(np.float32))

    dev = torch.device(device)
    x_fit = z(train[fit_idx]).to(dev)
    encoder, decoder = _network(d, cfg.hidden, latent_size)
    encoder.to(dev)
    decoder.to(dev)
    params = list(encoder.parameters()) + list(decoder.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    n_batches = math.ceil(len(x_fit) / cfg.batch_size)
    losses = []
    for epoch in range(1, cfg.epochs + 1):
        order = torch.randperm(len(x_fit), generator=gen).to(dev)
        total = 0.0
        for b in range(n_batches):
            xb = x_fit[order[b * cfg.batch_size : (b + 1) * cfg.batch_size]]
            loss = nn.functional.mse_loss(decoder(encoder(xb)), xb)
            if not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"autoencoder k={latent_size}: loss became {loss.item()} at epoch {epoch}; "
                    "lower autoencoder.lr in the config"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        losses.append(total / len(x_fit))
        if epoch == 1 or epoch == cfg.epochs or epoch % max(1, cfg.epochs // 5) == 0:
            log(
                f"autoencoder k={latent_size} epoch {epoch}/{cfg.epochs} loss {losses[-1]:.5f} "
                f"[{time.perf_counter() - t0:.1f} s]"
            )

    @torch.no_grad()
    def encode_decode(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        codes, recon = [], []
        xa = z(a)
        for i in range(0, len(xa), 4096):
            c = encoder(xa[i : i + 4096].to(dev))
            codes.append(c.cpu().numpy())
            recon.append(decoder(c).cpu().numpy().astype(np.float64) * std + mean)
        return np.concatenate(codes).astype(np.float32), np.concatenate(recon)

    codes_train, _ = encode_decode(train)
    _, rec_val = encode_decode(train[val_idx])
    codes_test, rec_test = encode_decode(test)
    r2_val, mse_val = reconstruction_scores(train[val_idx], rec_val, mean)
    r2_test, mse_test = reconstruction_scores(test, rec_test, mean)
    log(f"autoencoder k={latent_size}: validation R2 {r2_val:.4f}, test R2 {r2_test:.4f}")
    return AutoencoderFit(
        latent_size=latent_size,
        codes_train=codes_train,
        codes_test=codes_test,
        r2_validation=r2_val,
        mse_validation=mse_val,
        r2_test=r2_test,
        mse_test=mse_test,
        loss=losses,
        seconds=time.perf_counter() - t0,
    )
