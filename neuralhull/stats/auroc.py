"""AUROC of one score for detecting a model's errors, and its intervals over test samples.

The AUROC is the Mann-Whitney probability that a random error scores higher than a random
correct sample, ties counted 1/2. Its intervals here treat test samples as independent
(one run): DeLong's normal interval, or a percentile bootstrap of the samples. The
intervals that respect the runs' shared test images are in :mod:`neuralhull.stats.intervals`.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from neuralhull.checks import as_bool, as_score, check_count, check_level
from neuralhull.stats.intervals import weighted_auroc

# Rows of the (n_boot, n) resampling-count matrix processed at once in the bootstrap.
_BOOTSTRAP_BLOCK_CELLS = 4_000_000


def auroc(score, is_error) -> float:
    """Area under the ROC curve of ``score`` for detecting errors.

    Computed as the Mann-Whitney U statistic divided by ``n_errors * n_correct``: the
    probability that a random error scores higher than a random correct sample, ties
    counted 1/2.

    Parameters
    ----------
    score : (n,) float
        Larger means "more likely an error". Infinite values are allowed, NaN is not.
    is_error : (n,) bool

    Returns
    -------
    float
        In [0, 1]; NaN when there are no errors or no correct samples.
    """
    score = as_score(score)
    is_error = as_bool(is_error, "is_error", score.shape[0])
    n_pos = int(is_error.sum())
    n_neg = score.shape[0] - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)  # mid-ranks: ties count 1/2
    u = ranks[is_error].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def resample_counts(draws: np.ndarray, n: int) -> np.ndarray:
    """``(b, n)`` multiplicity of every sample in each row of ``draws (b, m)`` (indices in
    ``[0, n)``): the weights :func:`neuralhull.stats.intervals.weighted_auroc` takes."""
    b = len(draws)
    return np.bincount((draws + n * np.arange(b)[:, None]).ravel(), minlength=b * n).reshape(b, n)


def delong_interval(score, is_error, *, level: float = 0.95) -> tuple[float, float]:
    """Normal interval of :func:`auroc` with DeLong's variance (DeLong, DeLong &
    Clarke-Pearson 1988), clipped to [0, 1].

    With m errors (scores X) and k correct samples (scores Y), the structural components
    ``V10_i = mean_j psi(X_i, Y_j)`` and ``V01_j = mean_i psi(X_i, Y_j)`` (psi = 1 if
    x > y, 1/2 if equal, 0 else) come from mid-ranks; ``var = s10 / m + s01 / k`` with
    their sample variances. O(n log n), where the percentile bootstrap
    (:func:`bootstrap_interval`) costs a pass over n_boot x n counts.

    Returns ``(nan, nan)`` when one class is empty.
    """
    from scipy.stats import norm

    score = as_score(score)
    is_error = as_bool(is_error, "is_error", score.shape[0])
    level = check_level(level)
    x, y = score[is_error], score[~is_error]
    m, k = len(x), len(y)
    if m == 0 or k == 0:
        return float("nan"), float("nan")
    ranks = rankdata(score)
    v10 = (ranks[is_error] - rankdata(x)) / k
    v01 = 1.0 - (ranks[~is_error] - rankdata(y)) / m
    area = float(v10.mean())
    var = (v10.var(ddof=1) if m > 1 else 0.0) / m + (v01.var(ddof=1) if k > 1 else 0.0) / k
    half = float(norm.ppf(0.5 + level / 2.0) * np.sqrt(max(var, 0.0)))
    return max(0.0, area - half), min(1.0, area + half)


def bootstrap_interval(
    score, is_error, *, n_boot: int = 1000, level: float = 0.95, rng
) -> tuple[float, float]:
    """Percentile bootstrap interval of :func:`auroc`, resampling test samples.

    Every replicate draws n (score, is_error) pairs with replacement. Replicates that
    happen to hold no error or no correct sample have no AUROC and are left out (the
    interval is conditional on both classes being present).

    Parameters
    ----------
    score : (n,) float
    is_error : (n,) bool
    n_boot : int
        Number of bootstrap replicates.
    level : float
        Coverage of the interval, in (0, 1).
    rng : numpy.random.Generator or int
        Source of randomness (an int is used as a seed).

    Returns
    -------
    (low, high) : tuple of float
        NaN, NaN when the AUROC itself is undefined (one class empty).
    """
    score = as_score(score)
    is_error = as_bool(is_error, "is_error", score.shape[0])
    level = check_level(level)
    n_boot = check_count(n_boot, "n_boot")
    rng = np.random.default_rng(rng)
    n = score.shape[0]
    if n == 0 or is_error.all() or not is_error.any():
        return float("nan"), float("nan")
    block = max(1, _BOOTSTRAP_BLOCK_CELLS // n)  # bounds the memory of the count matrix
    replicates = []
    for start in range(0, n_boot, block):
        draws = rng.integers(0, n, size=(min(block, n_boot - start), n))
        replicates.append(weighted_auroc(score, is_error, resample_counts(draws, n)))
    replicates = np.concatenate(replicates)
    replicates = replicates[np.isfinite(replicates)]
    if replicates.size == 0:
        return float("nan"), float("nan")
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(replicates, [alpha, 1.0 - alpha])
    return float(low), float(high)
