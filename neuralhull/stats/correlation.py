"""Spearman's rank correlation with a bootstrap interval and a permutation p-value.

Randomness and reproducibility
------------------------------
All randomness comes from ``numpy.random.default_rng(seed)``, in a documented order, so a
result can be reproduced draw for draw.  Bootstrap resample indices are always drawn as
``rng.integers(0, n, size=(n_boot, n))`` -- row ``j`` holds the n unit indices of replicate
``j``.  When that matrix (and the work arrays derived from it) would be large, the rows are
drawn in consecutive chunks ``rng.integers(0, n, size=(b, n))``; for NumPy's generators
consecutive chunks give exactly the same numbers as one draw of the whole matrix, so the
chunk size never changes a result.  Each chunk of replicates is one ``(b, n)`` matrix,
ranked row-wise with ``scipy.stats.rankdata(..., axis=1)``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy.stats import rankdata

from neuralhull.checks import check_count, check_level

# Cells (rows x units) of one chunk of resamples.  Each chunk holds a handful of (b, n)
# float64/int64 work arrays (indices, resampled values, ranks, masks), so 2**20 cells keep
# a chunk's peak memory around 50-100 MB, well under the ~200 MB budget.
_CHUNK_CELLS = 2**20

# Tolerance when comparing permuted and observed |rho| (see spearman_test).
_PERM_TOL = 1e-12


# ---------------------------------------------------------------------------------------------
# input checking


def _as_values(values, name: str) -> np.ndarray:
    """(n,) float, n >= 1, no NaN (infinite values are allowed: they can be ranked)."""
    try:
        values = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric") from None
    if values.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {values.shape}")
    if values.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if np.isnan(values).any():
        raise ValueError(f"{name} contains NaN; drop units without a value first")
    return values


def _same_length(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{name_a} and {name_b} must have the same length, got {a.shape[0]} and {b.shape[0]}"
        )


# ---------------------------------------------------------------------------------------------
# helpers: chunked resampling and percentile intervals


def _chunk_rows(n: int) -> int:
    """Rows per chunk for (rows, n) work arrays."""
    return max(1, _CHUNK_CELLS // max(1, n))


def _bootstrap_chunks(rng: np.random.Generator, n: int, n_boot: int):
    """Yield (b, n) int64 index matrices; together they are rng.integers(0, n, (n_boot, n))."""
    block = _chunk_rows(n)
    for start in range(0, n_boot, block):
        yield rng.integers(0, n, size=(min(block, n_boot - start), n))


def _percentile_interval(replicates: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile interval of (m,) finite replicates; (nan, nan) when m == 0."""
    if replicates.size == 0:
        return float("nan"), float("nan")
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(replicates, [alpha, 1.0 - alpha])
    return float(low), float(high)


# ---------------------------------------------------------------------------------------------
# Spearman correlation


def _pearson_of_ranks(rx: np.ndarray, ry: np.ndarray) -> np.ndarray:
    """Row-wise Pearson correlation of rank matrices.

    Parameters
    ----------
    rx, ry : (b, n) float
        Average ranks (1..n) of each row, as from ``rankdata(..., axis=1)``.  Rows of ranks
        always sum to n(n+1)/2, so the row mean is exactly ``(n + 1) / 2``; with half-integer
        ranks the centred sums below are exact in float64.

    Returns
    -------
    (b,) float
        In [-1, 1]; NaN where a row of ``rx`` or ``ry`` has zero variance (all tied).
    """
    n = rx.shape[1]
    mid = (n + 1) / 2.0
    cx = rx - mid
    cy = ry - mid
    num = np.einsum("ij,ij->i", cx, cy)
    ssx = np.einsum("ij,ij->i", cx, cx)
    ssy = np.einsum("ij,ij->i", cy, cy)
    ok = (ssx > 0) & (ssy > 0)
    out = np.full(rx.shape[0], np.nan)
    out[ok] = num[ok] / (np.sqrt(ssx[ok]) * np.sqrt(ssy[ok]))
    return np.clip(out, -1.0, 1.0)


def _spearman_rows(xr: np.ndarray, yr: np.ndarray) -> np.ndarray:
    """Spearman correlation of many rows at once.

    Parameters
    ----------
    xr, yr : (b, n) float
        Row ``j`` of ``xr`` and of ``yr`` are the paired values of one sample (e.g. one
        bootstrap resample).

    Returns
    -------
    (b,) float
        NaN where a row has zero rank variance.
    """
    xr = np.atleast_2d(np.asarray(xr, dtype=float))
    yr = np.atleast_2d(np.asarray(yr, dtype=float))
    if xr.shape != yr.shape:
        raise ValueError(f"xr and yr must have the same shape, got {xr.shape} and {yr.shape}")
    if xr.shape[1] == 0:
        return np.full(xr.shape[0], np.nan)
    return _pearson_of_ranks(rankdata(xr, axis=1), rankdata(yr, axis=1))


def spearman(x, y) -> float:
    """Spearman rank correlation: Pearson correlation of average ranks (ties share a rank).

    Parameters
    ----------
    x, y : (n,) float
        Paired values, no NaN.

    Returns
    -------
    float
        NaN when ``x`` or ``y`` has zero rank variance (constant, or n == 1).
    """
    x = _as_values(x, "x")
    y = _as_values(y, "y")
    _same_length(x, y, "x", "y")
    return float(_spearman_rows(x[None, :], y[None, :])[0])


def _exact_permutation_chunks(n: int):
    """Yield (c, n) index matrices; together all n! permutations, identity first."""
    perms = itertools.permutations(range(n))
    total = math.factorial(n)
    block = _chunk_rows(n)
    for start in range(0, total, block):
        c = min(block, total - start)
        flat = np.fromiter(
            itertools.chain.from_iterable(itertools.islice(perms, c)), dtype=np.intp, count=c * n
        )
        yield flat.reshape(c, n)


def spearman_test(
    x,
    y,
    *,
    n_boot: int = 2000,
    n_perm: int = 20000,
    seed: int = 0,
    level: float = 0.95,
) -> dict:
    """Spearman correlation with a bootstrap interval and a permutation p-value.

    Parameters
    ----------
    x, y : (n,) float
        Paired values of n units, n >= 3, no NaN.
    n_boot : int
        Bootstrap replicates.
    n_perm : int
        Permutation budget: the test is exact when ``n! <= n_perm``, Monte Carlo otherwise.
    seed : int
        Seed of ``numpy.random.default_rng``.
    level : float
        Coverage of the interval.

    Returns
    -------
    dict
        ``statistic``
            Spearman rho of (x, y).
        ``ci_low``, ``ci_high``
            Percentile bootstrap interval over units: replicate ``j`` is
            ``spearman(x[idx[j]], y[idx[j]])``, ``idx = rng.integers(0, n, size=(n_boot, n))``
            drawn first from ``rng = default_rng(seed)`` (in row chunks: the same numbers).
            NaN replicates (zero rank variance in x or y) are dropped.
        ``n_boot_used``
            Number of replicates kept.
        ``p_value``
            Two-sided permutation p-value of ``|rho|``, permuting y against fixed x.  Exact:
            the fraction of all n! permutations (identity included) with
            ``|rho_perm| >= |rho_obs| - 1e-12``.  Monte Carlo: ``(count + 1) / (n_perm + 1)``
            over ``n_perm`` random permutations, drawn *after* the bootstrap indices from the
            same generator, as ``rng.permuted(ranks_y tiled to (b, n), axis=1)`` in chunks.
        ``permutation``, ``n_permutations``, ``n``
            ``"exact"`` or ``"monte-carlo"``; permutations evaluated (n! or n_perm); units.

        When rho itself is NaN (x or y constant) the interval and p-value are NaN and
        ``n_boot_used`` is 0.
    """
    x = _as_values(x, "x")
    y = _as_values(y, "y")
    _same_length(x, y, "x", "y")
    n = x.shape[0]
    if n < 3:
        raise ValueError(f"spearman_test needs at least 3 units, got {n}")
    n_boot = check_count(n_boot, "n_boot")
    n_perm = check_count(n_perm, "n_perm")
    level = check_level(level)
    rng = np.random.default_rng(seed)

    exact = math.factorial(n) <= n_perm
    rx = rankdata(x)[None, :]
    ry = rankdata(y)[None, :]
    rho = float(_pearson_of_ranks(rx, ry)[0])
    nan = float("nan")
    low, high, n_boot_used, p_value = nan, nan, 0, nan
    if np.isfinite(rho):  # the bootstrap draws first, the Monte Carlo permutations after
        low, high, n_boot_used = _bootstrap_interval(x, y, rng, n_boot, level)
        p_value = _permutation_p_value(rx, ry, rho, rng, None if exact else n_perm)
    return {
        "statistic": rho,
        "ci_low": low,
        "ci_high": high,
        "n_boot_used": n_boot_used,
        "p_value": p_value,
        "permutation": "exact" if exact else "monte-carlo",
        "n_permutations": math.factorial(n) if exact else n_perm,
        "n": n,
    }


def _bootstrap_interval(x, y, rng, n_boot: int, level: float) -> tuple[float, float, int]:
    """Percentile interval of rho over units (resampling (x_i, y_i) pairs) and the number of
    finite replicates it used; see :func:`spearman_test`."""
    replicates = []
    for idx in _bootstrap_chunks(rng, x.shape[0], n_boot):
        replicates.append(_spearman_rows(x[idx], y[idx]))
    replicates = np.concatenate(replicates)
    replicates = replicates[np.isfinite(replicates)]
    low, high = _percentile_interval(replicates, level)
    return low, high, int(replicates.size)


def _permutation_p_value(rx, ry, rho: float, rng, n_perm: int | None) -> float:
    """Two-sided p-value of ``|rho|`` permuting y's ranks ``ry (1, n)`` against x's ``rx
    (1, n)``: over all n! permutations when ``n_perm`` is None, else Monte Carlo."""
    threshold = abs(rho) - _PERM_TOL
    n = rx.shape[1]
    count = 0
    if n_perm is None:
        for perms in _exact_permutation_chunks(n):
            rho_perm = _pearson_of_ranks(np.broadcast_to(rx, perms.shape), ry[0][perms])
            count += int(np.count_nonzero(np.abs(rho_perm) >= threshold))
        return count / math.factorial(n)
    block = _chunk_rows(n)
    for start in range(0, n_perm, block):
        b = min(block, n_perm - start)
        ry_perm = rng.permuted(np.tile(ry, (b, 1)), axis=1)
        rho_perm = _pearson_of_ranks(np.broadcast_to(rx, ry_perm.shape), ry_perm)
        count += int(np.count_nonzero(np.abs(rho_perm) >= threshold))
    return (count + 1) / (n_perm + 1)
