"""Quantile bins of a score, ties never split: the bins of the summary's deciles table."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from neuralhull.checks import as_score, check_count


def rank_bins(score, n_bins: int = 10) -> np.ndarray:
    """Quantile bin (1 = lowest scores) of every sample, ties kept in one bin.

    A sample's bin is ``ceil(midrank * n_bins / n)``, where ``midrank`` is its 1-based rank
    with ties given their average rank. Without ties the bins hold n / n_bins samples each
    (sizes differ by at most one); tied samples always share a bin, so with many ties some
    bins are larger and others empty. The result does not depend on the input order.

    Parameters
    ----------
    score : (n,) float
    n_bins : int

    Returns
    -------
    bins : (n,) int
        Values in 1..n_bins.
    """
    score = as_score(score)
    n_bins = check_count(n_bins, "n_bins")
    n = score.shape[0]
    if n == 0:
        return np.zeros(0, dtype=int)
    twice_midrank = np.rint(2.0 * rankdata(score)).astype(np.int64)  # exact integers
    bins = -(-(twice_midrank * n_bins) // (2 * n))  # ceil in integer arithmetic
    return np.clip(bins, 1, n_bins).astype(int)
