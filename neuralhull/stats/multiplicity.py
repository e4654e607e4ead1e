"""Multiplicity: Holm's step-down adjustment of p-values within a family of tests.

Holm (1979): sort the m p-values, ``p_(1) <= ... <= p_(m)``; the adjusted value of the i-th
is ``max_{j <= i} min(1, (m - j + 1) p_(j))``.  Rejecting where the adjusted value is below
alpha controls the family-wise error rate at alpha under any dependence between the tests,
which is why it suits the findings: every test of a family reads the same test images.
"""

from __future__ import annotations

import numpy as np


def holm(p_values) -> np.ndarray:
    """Holm-adjusted p-values, in the input order.

    Parameters
    ----------
    p_values : (m,) float in [0, 1], or NaN for a row without a test.  NaN entries are left
        out of the family (m counts the finite ones) and stay NaN.

    Returns
    -------
    (m,) float
    """
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"p_values must be one-dimensional, got shape {p.shape}")
    finite = np.isfinite(p)
    if np.any((p[finite] < 0) | (p[finite] > 1)):
        raise ValueError(f"p-values must lie in [0, 1], got {p[finite]}")
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(finite)
    if idx.size == 0:
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    m = order.size
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out
