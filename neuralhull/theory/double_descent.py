"""Ridgeless least squares simulated over gamma = p / n, beside its closed-form risk.

The double-descent experiment (Hastie, Montanari, Rosset & Tibshirani 2019).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import linalg

from neuralhull.checks import check_count, check_positive
from neuralhull.theory.formulas import (
    relu_features_risk_theory,
    ridgeless_risk_finite_n,
    ridgeless_risk_theory,
)

__all__ = ["double_descent_table", "ridgeless_risk_simulation"]


def _min_norm_least_squares(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    # pinv(X) y through a complete orthogonal decomposition (LAPACK gelsy): the minimum-norm
    # least-squares solution, rank-revealing near gamma = 1, ~4x faster than the SVD (gelsd).
    return linalg.lstsq(X, y, lapack_driver="gelsy")[0]


def _unit_direction(p: int, rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal(p)
    return v / np.linalg.norm(v)


def ridgeless_risk_simulation(
    n: int,
    p: int,
    r2: float,
    sigma2: float,
    rng: np.random.Generator,
    *,
    n_test: int = 2000,
    features: str = "isotropic",
    n_latent: int | None = None,
) -> float:
    """Excess test risk of min-norm least squares on one simulated data set.

    beta_hat = pinv(X) y, the minimum-norm least-squares solution (LAPACK ``gelsy``).

    ``features="isotropic"``: rows of X i.i.d. N(0, I_p), beta uniform on the sphere of
    radius sqrt(r2), y = X beta + eps, eps ~ N(0, sigma2). The risk is computed exactly as
    ||beta_hat - beta||^2 = E_x[(x^T (beta_hat - beta))^2] (no test sample needed); this is
    the quantity :func:`ridgeless_risk_theory` describes asymptotically and
    :func:`ridgeless_risk_finite_n` gives exactly in expectation.

    ``features="relu"``: a random-features model. Latent z ~ N(0, I_{n_latent}), features
    x = relu(W z) with W: (p, n_latent) i.i.d. N(0, 1 / n_latent) drawn once per call,
    target y = z^T theta + eps with ||theta||^2 = r2. The risk is the mean over ``n_test``
    fresh samples of (x^T beta_hat - z^T theta)^2 (again without the label noise); its
    limit is :func:`relu_features_risk_theory` at psi = n_latent / n. ``n_latent``
    defaults to n // 4.

    Parameters
    ----------
    n, p : int
        Training samples and features (>= 1).
    r2, sigma2 : float
        Signal strength and noise variance (>= 0).
    rng : numpy.random.Generator
    n_test : int
        Test samples for the relu model (unused for isotropic features).
    features : {"isotropic", "relu"}
    n_latent : int, optional
        Latent dimension of the relu model.

    Returns
    -------
    float
        The excess test risk.
    """
    n = check_count(n, "n", 1)
    p = check_count(p, "p", 1)
    check_positive(r2, "r2", zero=True)
    check_positive(sigma2, "sigma2", zero=True)
    if features == "isotropic":
        beta = np.sqrt(r2) * _unit_direction(p, rng)
        X = rng.standard_normal((n, p))
        y = X @ beta + np.sqrt(sigma2) * rng.standard_normal(n)
        beta_hat = _min_norm_least_squares(X, y)
        return float(np.sum((beta_hat - beta) ** 2))
    if features == "relu":
        n_latent = max(1, n // 4) if n_latent is None else check_count(n_latent, "n_latent", 1)
        n_test = check_count(n_test, "n_test", 1)
        theta = np.sqrt(r2) * _unit_direction(n_latent, rng)
        W = rng.standard_normal((p, n_latent)) / np.sqrt(n_latent)
        Z = rng.standard_normal((n, n_latent))
        y = Z @ theta + np.sqrt(sigma2) * rng.standard_normal(n)
        beta_hat = _min_norm_least_squares(np.maximum(Z @ W.T, 0.0), y)
        Z_test = rng.standard_normal((n_test, n_latent))
        residual = np.maximum(Z_test @ W.T, 0.0) @ beta_hat - Z_test @ theta
        return float(np.mean(residual**2))
    raise ValueError(f"features must be 'isotropic' or 'relu', got {features!r}")


def double_descent_table(
    n: int,
    gammas: Sequence[float],
    snrs: Sequence[float],
    seeds: Sequence[int],
    *,
    models: Sequence[str] = ("isotropic", "relu"),
    sigma2: float = 1.0,
    n_test: int = 2000,
    n_latent: int | None = None,
) -> pd.DataFrame:
    """Simulated and theoretical ridgeless risk over a grid of gamma, SNR, seed and model.

    For each cell p = round(gamma * n) (at least 1), r2 = snr * sigma2, and the data come
    from ``numpy.random.default_rng([seed, model index, gamma index, snr index])``, so every
    cell is reproducible on its own and independent of the others.

    Returns
    -------
    pandas.DataFrame
        One row per (model, gamma, snr, seed), columns ``model, gamma, snr, r2, sigma2,
        seed, n, p, n_latent, risk, theory, theory_finite_n`` (``n_latent`` NaN for
        isotropic features). ``gamma`` is the realised p / n;
        ``theory`` is the asymptotic risk :func:`ridgeless_risk_theory` at that gamma and
        ``theory_finite_n`` the exact expected risk at this (n, p),
        :func:`ridgeless_risk_finite_n` (inf for n - 1 <= p <= n + 1, where it diverges),
        both for the isotropic model. For relu, ``theory`` is
        :func:`relu_features_risk_theory` at (p / n, n_latent / n) and ``theory_finite_n``
        is NaN (no exact finite-n value is known).
    """
    n = check_count(n, "n", 1)
    for model in models:
        if model not in ("isotropic", "relu"):
            raise ValueError(f"unknown model {model!r}; expected 'isotropic' or 'relu'")
    check_positive(list(snrs), "snrs", zero=True)
    check_positive(list(gammas), "gammas")
    rows = []
    for i_model, model in enumerate(models):
        for i_gamma, gamma in enumerate(gammas):
            p = max(1, round(gamma * n))
            for i_snr, snr in enumerate(snrs):
                r2 = float(snr) * sigma2
                for seed in seeds:
                    rng = np.random.default_rng([int(seed), i_model, i_gamma, i_snr])
                    risk = ridgeless_risk_simulation(
                        n, p, r2, sigma2, rng, n_test=n_test, features=model, n_latent=n_latent
                    )
                    if model == "isotropic":
                        theory = ridgeless_risk_theory(p / n, r2, sigma2)
                        finite_n = ridgeless_risk_finite_n(n, p, r2, sigma2)
                        latent = float("nan")
                    else:
                        latent = max(1, n // 4) if n_latent is None else int(n_latent)
                        theory = relu_features_risk_theory(p / n, latent / n, r2, sigma2)
                        finite_n = float("nan")
                    rows.append(
                        dict(
                            model=model,
                            gamma=p / n,
                            snr=float(snr),
                            r2=r2,
                            sigma2=float(sigma2),
                            seed=int(seed),
                            n=n,
                            p=p,
                            n_latent=latent,
                            risk=risk,
                            theory=theory,
                            theory_finite_n=finite_n,
                        )
                    )
    return pd.DataFrame(rows)
