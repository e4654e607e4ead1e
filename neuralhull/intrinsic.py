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
    from sklearn.neighbors import NearestNeighbors

    x = np.unique(np.asarray(x, dtype=np.float64), axis=0)
    if len(x) < 3:
        raise ValueError(
            f"TwoNN needs at least 3 distinct points, got {len(x)} (of activations: a dead "
            "layer, whose units answer every input alike; train the model wider or with "
            "other settings)"
        )
    if len(x) > max_points:
        x = x[np.random.default_rng(seed).choice(len(x), max_points, replace=False)]
    dist, _ = NearestNeighbors(n_neighbors=3).fit(x).kneighbors(x)
    r1, r2 = dist[:, 1], dist[:, 2]
    mu = np.sort(r2[r1 > 0] / r1[r1 > 0])
    n = len(mu)
    keep = int(np.floor(n * (1 - discard_fraction)))
    f = np.arange(1, n + 1) / n
    xs, ys = np.log(mu[:keep]), -np.log(1 - f[:keep])
    return float((xs @ ys) / (xs @ xs))
