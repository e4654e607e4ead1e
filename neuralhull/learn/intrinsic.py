"""Intrinsic dimension of a set of activations: the autoencoder choice and TwoNN.

No torch here: the ``intrinsic_dimension`` step reads the autoencoders' fit reports.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def choose_latent_size(
    sizes: Sequence[int], r2: Sequence[float], threshold: float
) -> tuple[int, bool]:
    """The smallest latent size whose held-out R^2 reaches ``threshold``.

    Returns ``(size, reached)``; when no size reaches the threshold the largest size is
    returned with ``reached=False`` (the summary reports it, nothing is hidden).
    """
    if len(sizes) != len(r2) or not len(sizes):
        raise ValueError("sizes and r2 must be non-empty and of equal length")
    order = np.argsort(sizes)
    for i in order:
        if r2[i] >= threshold:
            return int(sizes[i]), True
    return int(sizes[order[-1]]), False


def crossing_size(sizes: Sequence[int], r2: Sequence[float], threshold: float) -> float:
    """Where the held-out R^2 curve first reaches ``threshold``: a continuous latent size.

    The curve is R^2 against latent size, read as straight lines between consecutive swept
    sizes and anchored at ``(0, 0)``: a code of size 0 reconstructs every activation as the
    training mean, whose R^2 is 0 by definition (R^2 is measured against that mean). With
    ``k`` the size :func:`choose_latent_size` picks and ``j`` the swept size before it (0 for
    the first), the crossing is

        j + (threshold - R^2(j)) / (R^2(k) - R^2(j)) * (k - j) ,

    a value in ``(j, k]``, so the integer dimension is the smallest swept size not below it.
    It breaks the ties of the integer rule (two runs at size 6, one just reaching the
    threshold there and one nearly reaching it at 5) and moves smoothly with the curve.

    When no swept size reaches the threshold, the largest size is returned, as by
    :func:`choose_latent_size` (its ``reached`` is then false): when the sweep ends at the
    layer's width, the width is the dimension of the space the activations lie in, an upper
    bound on any intrinsic dimension.

    Parameters
    ----------
    threshold : in ``(0, 1]``.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"the R2 threshold must be in (0, 1], got {threshold}")
    size, reached = choose_latent_size(sizes, r2, threshold)
    if not reached:
        return float(size)
    by_size = dict(zip((int(k) for k in sizes), (float(v) for v in r2), strict=True))
    lower = [k for k in by_size if k < size]
    j = max(lower) if lower else 0
    r2_j = by_size[j] if lower else 0.0
    r2_k = by_size[size]
    if not np.isfinite(r2_j):  # a layer constant on the held-out activations: no curve
        return float(size)
    # r2_j < threshold <= r2_k: the smallest reaching size is k, so j does not reach it
    return float(j + (threshold - r2_j) / (r2_k - r2_j) * (size - j))


def _twonn_estimate(x: np.ndarray, discard_fraction: float) -> float:
    """TwoNN on the distinct points ``x (n, D)``, every point used."""
    from sklearn.neighbors import NearestNeighbors

    dist, _ = NearestNeighbors(n_neighbors=3).fit(x).kneighbors(x)
    r1, r2 = dist[:, 1], dist[:, 2]
    mu = np.sort(r2[r1 > 0] / r1[r1 > 0])
    n = len(mu)
    keep = int(np.floor(n * (1 - discard_fraction)))
    f = np.arange(1, n + 1) / n
    xs, ys = np.log(mu[:keep]), -np.log(1 - f[:keep])
    return float((xs @ ys) / (xs @ xs))


def _distinct_points(x: np.ndarray, needed: int) -> np.ndarray:
    x = np.unique(np.asarray(x, dtype=np.float64), axis=0)
    if len(x) < needed:
        raise ValueError(
            f"TwoNN needs at least {needed} distinct points, got {len(x)} (of activations: "
            "a dead layer, whose units answer every input alike; train the model wider or "
            "with other settings)"
        )
    return x


def twonn_dimension(
    x: np.ndarray, *, max_points: int = 5000, discard_fraction: float = 0.1, seed: int = 0
) -> float:
    """TwoNN intrinsic-dimension estimate (Facco et al. 2017).

    For each point the ratio ``mu = r2 / r1`` of its second to first nearest-neighbour
    distances follows a Pareto law with exponent ``d``; the estimate is the slope through
    the origin of ``-log(1 - F(mu))`` against ``log(mu)`` after discarding the largest
    ``discard_fraction`` of ratios (as the authors recommend).

    Parameters
    ----------
    x : (n, D) points; duplicates are dropped. A seeded subsample of ``max_points`` is used.
    """
    x = _distinct_points(x, 3)
    if len(x) > max_points:
        x = x[np.random.default_rng(seed).choice(len(x), max_points, replace=False)]
    return _twonn_estimate(x, discard_fraction)


# TwoNN on the activations of a run: this many disjoint subsamples of at most this many points.
TWONN_SUBSAMPLES = 5
TWONN_MAX_POINTS = 5000


def twonn_subsamples(
    x: np.ndarray,
    *,
    n_subsamples: int = TWONN_SUBSAMPLES,
    max_points: int = TWONN_MAX_POINTS,
    discard_fraction: float = 0.1,
    seed: int = 0,
    level: float = 0.95,
) -> dict:
    """TwoNN on ``n_subsamples`` disjoint subsamples of ``x``, their mean and a t interval.

    The distinct points of ``x (n, D)`` are shuffled once (``np.random.default_rng(seed)
    .permutation``) and cut into consecutive blocks of ``m = min(max_points, n //
    n_subsamples)`` points; TwoNN (:func:`twonn_dimension`'s estimator, every point of the
    block) is computed on each block. The blocks share no point, so their estimates are
    independent given the activations, and the Student-t interval of their mean
    (:func:`neuralhull.stats.intervals.t_interval`) measures how much the estimate moves
    with the subsample. It says nothing of the spread over training seeds, which the
    per-seed rows show. TwoNN depends on the sampling density (it is biased at small ``m``
    on curved data), so estimates are comparable at equal ``m`` only.

    Returns
    -------
    dict with ``estimate`` (the mean), ``low``, ``high``, ``level``, ``estimates`` (one per
    subsample), ``points_per_subsample`` and ``seed``.
    """
    from neuralhull.stats.intervals import t_interval

    if n_subsamples < 2:
        raise ValueError(f"an interval needs at least 2 subsamples, got {n_subsamples}")
    x = _distinct_points(x, 3 * n_subsamples)
    m = min(max_points, len(x) // n_subsamples)
    perm = np.random.default_rng(seed).permutation(len(x))
    estimates = [
        _twonn_estimate(x[np.sort(perm[i * m : (i + 1) * m])], discard_fraction)
        for i in range(n_subsamples)
    ]
    interval = t_interval(estimates, level)
    return {
        "estimate": interval.estimate,
        "low": interval.low,
        "high": interval.high,
        "level": level,
        "estimates": estimates,
        "points_per_subsample": m,
        "seed": seed,
    }
