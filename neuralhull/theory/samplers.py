"""Random samples in R^d: a Gaussian, a one-dimensional curve and a low-rank Gaussian.

The kinds of sample whose hull probabilities the theory branch measures (Balestriero et
al. 2021, Fig. 1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from neuralhull.checks import check_count

__all__ = [
    "CURVE_FREQUENCIES",
    "SAMPLERS",
    "curve_samples",
    "gaussian_samples",
    "low_rank_gaussian_samples",
]


def gaussian_samples(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """n i.i.d. samples of N(0, I_d).

    Returns
    -------
    samples : (n, d) float
    """
    n = check_count(n, "n", 0)
    d = check_count(d, "d", 1)
    return rng.standard_normal((n, d))


CURVE_FREQUENCIES = (4.0, 24.0)
"""Default range (low, high) of the curve's frequencies (see :func:`curve_samples`)."""


def _curve_parameters(
    d: int, curve_seed: int, frequencies: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    low, high = (float(f) for f in frequencies)
    if not (np.isfinite(low) and np.isfinite(high) and 0.0 < low < high):
        raise ValueError(
            f"curve frequencies must be (low, high) with 0 < low < high, got {frequencies!r}"
        )
    # Separate streams for frequencies and phases, so the curve in R^d is the first d
    # coordinates of the curve in any higher dimension.
    omega = np.random.default_rng([curve_seed, 0]).uniform(low, high, size=d)
    phases = np.random.default_rng([curve_seed, 1]).uniform(0.0, 2.0 * np.pi, size=d)
    return omega, phases


def curve_samples(
    n: int,
    d: int,
    rng: np.random.Generator,
    *,
    curve_seed: int = 0,
    frequencies: Sequence[float] = CURVE_FREQUENCIES,
) -> np.ndarray:
    """n samples on a fixed one-dimensional curve in R^d (intrinsic dimension 1).

    x_j = cos(w_j t + phi_j), j = 1..d, with t ~ Uniform(0, 2 pi) drawn from ``rng`` and
    frequencies w_j ~ Uniform(low, high) (``frequencies = (low, high)``, default
    :data:`CURVE_FREQUENCIES` = (4, 24)), phases phi_j ~ Uniform(0, 2 pi), both fixed by
    ``curve_seed``. Distinct frequencies make the cosines and the constant affinely
    independent functions, so the hull is full-dimensional although the data are a curve.
    Slow curves (a trigonometric moment curve, or frequencies around 1) are in or near
    convex position, so new samples essentially never fall inside their hull for d >= 4;
    with several oscillations per coordinate the curve winds through its hull and the
    probability is measurable on the workflow's grid (d = 2..8, N up to 10^4). The curve in
    R^d is a coordinate projection of the curve in any higher dimension (same seed and
    frequency range).

    Returns
    -------
    samples : (n, d) float
    """
    n = check_count(n, "n", 0)
    d = check_count(d, "d", 1)
    curve_seed = check_count(curve_seed, "curve_seed", 0)
    omega, phases = _curve_parameters(d, curve_seed, frequencies)
    t = rng.uniform(0.0, 2.0 * np.pi, size=n)
    return np.cos(np.outer(t, omega) + phases)


def low_rank_gaussian_samples(
    n: int, d: int, rng: np.random.Generator, rank: int = 4, map_seed: int = 0
) -> np.ndarray:
    """n samples of a rank-dimensional standard Gaussian through a fixed linear map to R^d.

    x = z A with z ~ N(0, I_rank) from ``rng`` and A: (rank, d) with i.i.d. N(0, 1 / rank)
    entries fixed by (map_seed, rank, d). For d >= rank the samples span a rank-dimensional
    subspace; hull membership is invariant under the injective map, so the probability that a
    new sample lies in the hull equals that of N(0, I_rank) in R^rank, whatever d. For
    d < rank the samples are a full-rank Gaussian in R^d (affinely equivalent to N(0, I_d)),
    so the probability does move with d there; the workflow's grid leaves those cells out
    (:func:`neuralhull.theory.hull_probability.hull_probability_table`).

    Returns
    -------
    samples : (n, d) float
    """
    n = check_count(n, "n", 0)
    d = check_count(d, "d", 1)
    rank = check_count(rank, "rank", 1)
    map_seed = check_count(map_seed, "map_seed", 0)
    linear_map = np.random.default_rng([map_seed, rank, d]).standard_normal((rank, d))
    linear_map /= np.sqrt(rank)
    return rng.standard_normal((n, rank)) @ linear_map


SAMPLERS: dict[str, Callable[[int, int, np.random.Generator], np.ndarray]] = {
    "gaussian": gaussian_samples,
    "curve": curve_samples,
    "low-rank-gaussian": low_rank_gaussian_samples,
}
"""Sample kinds by name (Balestriero et al. 2021, Fig. 1): sampler(n, d, rng) -> (n, d)."""
