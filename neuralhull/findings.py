"""Statistics behind the findings table: each claim is a statistic, a 95% interval, a verdict.

Every claim of the project is tested by one statistic (a proportion, a Spearman correlation,
a difference of two AUROCs, a mean) together with an interval at level ``level`` (0.95 by
default).  The verdict is then read off the interval by the project's stated rule:

**Verdict rule.**  A claim "the statistic is above ``threshold``" is

* ``"supported"`` when the whole interval lies above the threshold (``ci_low > threshold``),
* ``"contradicted"`` when the whole interval lies below it (``ci_high < threshold``),
* ``"inconclusive"`` otherwise: the interval contains the threshold (touching it counts as
  containing it), or a bound is NaN (the statistic could not be computed).

A claim "the statistic is below ``threshold``" is the mirror image (:func:`verdict_below`):
supported when ``ci_high < threshold``, contradicted when ``ci_low > threshold``.

Intervals
---------
* proportions: the Wilson score interval (:func:`wilson_interval`);
* differences of two AUROCs of the same samples: by default DeLong's paired variance
  and a normal interval (:func:`paired_delong_difference`, pooled over independent runs by
  :func:`pooled_normal`); optionally the paired bootstrap (:func:`paired_auroc_difference`);
* everything else: percentile bootstrap intervals over *units* (samples, or (x, y) pairs),
  ``np.quantile(replicates, [(1 - level) / 2, (1 + level) / 2])`` with NumPy's default
  (linear) quantile method.

Randomness and reproducibility
------------------------------
All randomness comes from ``numpy.random.default_rng(seed)``, in a documented order, so a
result can be reproduced draw for draw.  Bootstrap resample indices are always drawn as
``rng.integers(0, n, size=(n_boot, n))`` -- row ``j`` holds the n unit indices of replicate
``j``.  When that matrix (and the work arrays derived from it) would be large, the rows are
drawn in consecutive chunks ``rng.integers(0, n, size=(b, n))``; for NumPy's generators
consecutive chunks give exactly the same numbers as one draw of the whole matrix, so the
chunk size never changes a result.

Bootstrap and permutation loops are vectorised: each chunk of replicates is one
``(b, n)`` matrix, ranked row-wise with ``scipy.stats.rankdata(..., axis=1)`` (rank
correlations), or turned into per-sample counts whose AUROC
:func:`neuralhull.analysis.resampled_auroc` computes on tie groups (AUROC differences).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import norm, rankdata

from neuralhull.analysis import _as_bool, auroc, resample_counts, resampled_auroc
from neuralhull.stats.intervals import check_count as _check_count
from neuralhull.stats.intervals import check_level as _check_level

VERDICTS = ("supported", "contradicted", "inconclusive")

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
# proportions


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``successes / n``.

    ``(p + z^2/(2n) -/+ z sqrt(p(1-p)/n + z^2/(4n^2))) / (1 + z^2/n)`` with
    ``p = successes / n`` and ``z = norm.ppf((1 + level) / 2)``.  The lower bound is exactly 0
    when ``successes == 0`` and the upper bound exactly 1 when ``successes == n``.

    Parameters
    ----------
    successes : int
        Number of successes, ``0 <= successes <= n``.
    n : int
        Number of trials, ``n >= 0``.
    level : float
        Coverage, in (0, 1).

    Returns
    -------
    (low, high) : tuple of float
        ``(nan, nan)`` when ``n == 0``.
    """
    k = _check_count(successes, "successes", minimum=0)
    n = _check_count(n, "n", minimum=0)
    level = _check_level(level)
    if k > n:
        raise ValueError(f"successes ({k}) exceeds n ({n})")
    if n == 0:
        return float("nan"), float("nan")
    z = float(norm.ppf(0.5 + level / 2.0))
    p = k / n
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (p + z2 / (2.0 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
    low = 0.0 if k == 0 else max(0.0, center - half)
    high = 1.0 if k == n else min(1.0, center + half)
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
            Percentile bootstrap interval over units.  Draws, in this order, from
            ``rng = default_rng(seed)``: ``idx = rng.integers(0, n, size=(n_boot, n))`` (in
            consecutive row chunks for large sizes, which yields the same numbers); replicate
            ``j`` is ``spearman(x[idx[j]], y[idx[j]])``.  Replicates that are NaN (a resample
            with zero rank variance in x or y) are dropped.
        ``n_boot_used``
            Number of replicates kept.
        ``p_value``
            Two-sided permutation p-value of ``|rho|``, permuting y against fixed x.  Exact:
            the fraction of all n! permutations (identity included) with
            ``|rho_perm| >= |rho_obs| - 1e-12``.  Monte Carlo: ``(count + 1) / (n_perm + 1)``
            over ``n_perm`` random permutations, drawn *after* the bootstrap indices from the
            same generator, as ``rng.permuted(ranks_y tiled to (b, n), axis=1)`` in chunks.
        ``permutation``
            ``"exact"`` or ``"monte-carlo"``.
        ``n_permutations``
            Permutations evaluated (n! or n_perm).
        ``n``
            Number of units.

        When rho itself is NaN (x or y constant) the interval and p-value are NaN and
        ``n_boot_used`` is 0.
    """
    x = _as_values(x, "x")
    y = _as_values(y, "y")
    _same_length(x, y, "x", "y")
    n = x.shape[0]
    if n < 3:
        raise ValueError(f"spearman_test needs at least 3 units, got {n}")
    n_boot = _check_count(n_boot, "n_boot")
    n_perm = _check_count(n_perm, "n_perm")
    level = _check_level(level)
    rng = np.random.default_rng(seed)

    exact = math.factorial(n) <= n_perm
    rx = rankdata(x)[None, :]
    ry = rankdata(y)[None, :]
    rho = float(_pearson_of_ranks(rx, ry)[0])
    out = {
        "statistic": rho,
        "ci_low": float("nan"),
        "ci_high": float("nan"),
        "n_boot_used": 0,
        "p_value": float("nan"),
        "permutation": "exact" if exact else "monte-carlo",
        "n_permutations": math.factorial(n) if exact else n_perm,
        "n": n,
    }
    if not np.isfinite(rho):
        return out

    # bootstrap over units: resample (x_i, y_i) pairs
    replicates = []
    for idx in _bootstrap_chunks(rng, n, n_boot):
        replicates.append(_spearman_rows(x[idx], y[idx]))
    replicates = np.concatenate(replicates)
    replicates = replicates[np.isfinite(replicates)]
    out["ci_low"], out["ci_high"] = _percentile_interval(replicates, level)
    out["n_boot_used"] = int(replicates.size)

    # permutation test: permuting y permutes its ranks, x's ranks stay fixed
    threshold = abs(rho) - _PERM_TOL
    count = 0
    if exact:
        for perms in _exact_permutation_chunks(n):
            rho_perm = _pearson_of_ranks(np.broadcast_to(rx, perms.shape), ry[0][perms])
            count += int(np.count_nonzero(np.abs(rho_perm) >= threshold))
        out["p_value"] = count / math.factorial(n)
    else:
        block = _chunk_rows(n)
        for start in range(0, n_perm, block):
            b = min(block, n_perm - start)
            ry_perm = rng.permuted(np.tile(ry, (b, 1)), axis=1)
            rho_perm = _pearson_of_ranks(np.broadcast_to(rx, ry_perm.shape), ry_perm)
            count += int(np.count_nonzero(np.abs(rho_perm) >= threshold))
        out["p_value"] = (count + 1) / (n_perm + 1)
    return out


# ---------------------------------------------------------------------------------------------
# AUROC differences


def _paired_inputs(score_a, score_b, is_error, level):
    """Checked inputs of a paired AUROC difference, and its all-NaN result to fill in."""
    a = _as_values(score_a, "score_a")
    b = _as_values(score_b, "score_b")
    _same_length(a, b, "score_a", "score_b")
    n = a.shape[0]
    err = _as_bool(is_error, "is_error", n)
    level = _check_level(level)
    nan = float("nan")
    out = {
        "statistic": nan,
        "ci_low": nan,
        "ci_high": nan,
        "auroc_a": nan,
        "auroc_b": nan,
        "n": n,
        "n_errors": int(err.sum()),
    }
    return a, b, err, level, out


def paired_auroc_difference(
    score_a,
    score_b,
    is_error,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict:
    """AUROC of ``score_a`` minus AUROC of ``score_b`` for detecting errors, same samples.

    Parameters
    ----------
    score_a, score_b : (n,) float
        Two scores of the same n samples; larger means "more likely an error".  NaN is an
        error (infinite values are allowed).
    is_error : (n,) bool
        The model got the sample wrong.
    n_boot : int
        Bootstrap replicates.
    seed : int
        Seed of ``numpy.random.default_rng``.
    level : float
        Coverage of the interval.

    Returns
    -------
    dict
        ``statistic``
            ``auroc_a - auroc_b``.
        ``ci_low``, ``ci_high``
            Paired percentile bootstrap interval: ``idx = rng.integers(0, n, size=(n_boot,
            n))`` from ``rng = default_rng(seed)`` (in consecutive row chunks for large sizes,
            same numbers); replicate ``j`` is the difference of the two AUROCs on the samples
            ``idx[j]`` -- the same resampled samples for both scores.
        ``auroc_a``, ``auroc_b``
            The two AUROCs (Mann-Whitney statistic, ties count 1/2).
        ``n``, ``n_errors``
            Samples and errors among them.
        ``replicates``
            ``(n_boot_used,)`` float: the bootstrap differences, in draw order, of the
            replicates that hold both classes (for :func:`pooled_difference`).
        ``n_boot_used``
            Number of such replicates.

        With no errors or no correct samples every statistic and bound is NaN and
        ``replicates`` is empty.
    """
    a, b, err, level, out = _paired_inputs(score_a, score_b, is_error, level)
    n_boot = _check_count(n_boot, "n_boot")
    n, n_errors = out["n"], out["n_errors"]
    out.update(replicates=np.empty(0), n_boot_used=0)
    if n_errors == 0 or n_errors == n:
        return out
    auroc_a, auroc_b = auroc(a, err), auroc(b, err)
    out.update(auroc_a=auroc_a, auroc_b=auroc_b, statistic=auroc_a - auroc_b)

    rng = np.random.default_rng(seed)
    replicates = []
    for idx in _bootstrap_chunks(rng, n, n_boot):
        # the same resample for both scores; each replicate's AUROC from its sample counts
        # (exact Mann-Whitney arithmetic on tie groups, no ranking of every row)
        counts = resample_counts(idx, n)
        replicates.append(resampled_auroc(a, err, counts) - resampled_auroc(b, err, counts))
    replicates = np.concatenate(replicates)
    replicates = replicates[np.isfinite(replicates)]
    out["ci_low"], out["ci_high"] = _percentile_interval(replicates, level)
    out["replicates"] = replicates
    out["n_boot_used"] = int(replicates.size)
    return out


def _delong_components(score: np.ndarray, err: np.ndarray):
    """DeLong's structural components of the AUROC of ``score`` for ``err``.

    ``V10_i = mean_j psi(X_i, Y_j)`` over the errors' scores X_i and ``V01_j = mean_i
    psi(X_i, Y_j)`` over the correct samples' Y_j (psi = 1 if x > y, 1/2 if equal, else 0),
    from mid-ranks in O(n log n); their means are both the AUROC."""
    m, k = int(err.sum()), int((~err).sum())
    ranks = rankdata(score)
    v10 = (ranks[err] - rankdata(score[err])) / k
    v01 = 1.0 - (ranks[~err] - rankdata(score[~err])) / m
    return v10, v01


def paired_delong_difference(score_a, score_b, is_error, *, level: float = 0.95) -> dict:
    """AUROC of ``score_a`` minus AUROC of ``score_b``, same samples, with DeLong's variance.

    DeLong, DeLong & Clarke-Pearson (1988) built their estimator for exactly this: two
    correlated AUROCs of the same samples.  With the structural components of both scores
    (:func:`_delong_components`), the difference's variance is
    ``var(V10_a - V10_b) / m + var(V01_a - V01_b) / k`` (m errors, k correct samples,
    sample variances), which is the covariance form ``s_aa + s_bb - 2 s_ab`` of the paper.
    The interval is the normal one, clipped to [-1, 1].  O(n log n), no resampling: the
    paired bootstrap (:func:`paired_auroc_difference`) resamples n samples ``n_boot``
    times for the same number.

    Returns
    -------
    dict
        ``statistic``, ``ci_low``, ``ci_high``, ``auroc_a``, ``auroc_b``, ``variance``,
        ``n``, ``n_errors``; every statistic NaN with no errors or no correct samples.
    """
    a, b, err, level, out = _paired_inputs(score_a, score_b, is_error, level)
    n, n_errors = out["n"], out["n_errors"]
    out["variance"] = float("nan")
    if n_errors == 0 or n_errors == n:
        return out
    a10, a01 = _delong_components(a, err)
    b10, b01 = _delong_components(b, err)
    m, k = n_errors, n - n_errors
    d10, d01 = a10 - b10, a01 - b01
    var = (d10.var(ddof=1) if m > 1 else 0.0) / m + (d01.var(ddof=1) if k > 1 else 0.0) / k
    auroc_a, auroc_b = auroc(a, err), auroc(b, err)
    diff = auroc_a - auroc_b
    half = float(norm.ppf(0.5 + level / 2.0) * math.sqrt(max(var, 0.0)))
    out.update(
        statistic=diff,
        auroc_a=auroc_a,
        auroc_b=auroc_b,
        variance=float(var),
        ci_low=max(-1.0, diff - half),
        ci_high=min(1.0, diff + half),
    )
    return out


def pooled_normal(statistics: Sequence[float], variances: Sequence[float], level=0.95) -> dict:
    """Mean of independent groups' statistics, with a normal interval.

    The groups are independent (different models or runs), so the mean's variance is
    ``sum(variances) / G**2``; the interval is ``mean +- z * sqrt(that)``.  The normal
    counterpart of :func:`pooled_difference`, for statistics with a variance estimate such
    as :func:`paired_delong_difference`.

    Returns
    -------
    dict
        ``statistic``, ``ci_low``, ``ci_high``, ``n_groups``, ``variance`` (of the mean).
    """
    level = _check_level(level)
    try:
        stats = np.asarray(list(statistics), dtype=float)
        var = np.asarray(list(variances), dtype=float)
    except (TypeError, ValueError):
        raise ValueError("statistics and variances must be numbers") from None
    if stats.ndim != 1 or stats.size == 0:
        raise ValueError("no groups given")
    if var.shape != stats.shape:
        raise ValueError(f"got {stats.size} statistics but {var.size} variances")
    if not (np.isfinite(var).all() and (var >= 0).all()):
        raise ValueError("variances must be finite and non-negative")
    mean = float(stats.mean())
    v = float(var.sum()) / stats.size**2
    half = float(norm.ppf(0.5 + level / 2.0) * math.sqrt(v))
    return {
        "statistic": mean,
        "ci_low": mean - half,
        "ci_high": mean + half,
        "n_groups": int(stats.size),
        "variance": v,
    }


def pooled_difference(
    replicate_sets: Sequence[np.ndarray],
    statistics: Sequence[float],
    level: float = 0.95,
) -> dict:
    """Mean of independent groups' statistics, with a pooled bootstrap interval.

    The interval is the percentile interval of the element-wise mean of the groups'
    bootstrap replicates: replicate ``j`` of the pooled statistic is the mean of replicate
    ``j`` of every group.  This is valid because the groups are independent (e.g. different
    models or data sets, bootstrapped with different seeds), so pairing their replicates by
    position is a draw from the joint bootstrap distribution.  All replicate arrays are
    truncated to the shortest length.

    Parameters
    ----------
    replicate_sets : sequence of (m_g,) float
        One array of bootstrap replicates per group (e.g. ``replicates`` from
        :func:`paired_auroc_difference`); finite values only.
    statistics : sequence of float
        The point statistic of every group, in the same order.
    level : float
        Coverage of the interval.

    Returns
    -------
    dict
        ``statistic`` (mean of ``statistics``; NaN if any is NaN), ``ci_low``, ``ci_high``
        (NaN when the shortest replicate array is empty), ``n_groups`` and ``n_boot_used``
        (the common, truncated replicate count).
    """
    level = _check_level(level)
    if isinstance(replicate_sets, np.ndarray) and replicate_sets.ndim == 2:
        replicate_sets = list(replicate_sets)
    replicate_sets = list(replicate_sets)
    try:
        stats = np.asarray(list(statistics), dtype=float)
    except (TypeError, ValueError):
        raise ValueError("statistics must be numbers") from None
    if len(replicate_sets) == 0:
        raise ValueError("no groups given")
    if stats.ndim != 1 or stats.shape[0] != len(replicate_sets):
        raise ValueError(f"got {len(replicate_sets)} replicate arrays but {stats.size} statistics")
    sets = []
    for g, reps in enumerate(replicate_sets):
        reps = np.asarray(reps, dtype=float)
        if reps.ndim != 1:
            raise ValueError(f"replicates of group {g} must be one-dimensional")
        if not np.isfinite(reps).all():
            raise ValueError(f"replicates of group {g} contain non-finite values")
        sets.append(reps)
    m = min(reps.shape[0] for reps in sets)
    pooled = np.mean(np.stack([reps[:m] for reps in sets]), axis=0)
    low, high = _percentile_interval(pooled, level)
    return {
        "statistic": float(stats.mean()),
        "ci_low": low,
        "ci_high": high,
        "n_groups": len(sets),
        "n_boot_used": int(m),
    }


# ---------------------------------------------------------------------------------------------
# means


def bootstrap_mean(values, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> dict:
    """Mean with a percentile bootstrap interval.

    Parameters
    ----------
    values : (n,) float
        Finite values, n >= 1.
    n_boot : int
        Bootstrap replicates: ``idx = rng.integers(0, n, size=(n_boot, n))`` from
        ``rng = default_rng(seed)`` (in consecutive row chunks for large sizes, same numbers);
        replicate ``j`` is ``values[idx[j]].mean()``.
    seed : int
    level : float

    Returns
    -------
    dict
        ``statistic``, ``ci_low``, ``ci_high``, ``n``.
    """
    values = _as_values(values, "values")
    if not np.isfinite(values).all():
        raise ValueError("values must be finite")
    n_boot = _check_count(n_boot, "n_boot")
    level = _check_level(level)
    n = values.shape[0]
    rng = np.random.default_rng(seed)
    replicates = np.concatenate(
        [values[idx].mean(axis=1) for idx in _bootstrap_chunks(rng, n, n_boot)]
    )
    low, high = _percentile_interval(replicates, level)
    return {"statistic": float(values.mean()), "ci_low": low, "ci_high": high, "n": n}


# ---------------------------------------------------------------------------------------------
# verdicts


def _check_bounds(ci_low, ci_high, threshold) -> tuple[float, float, float]:
    ci_low, ci_high, threshold = float(ci_low), float(ci_high), float(threshold)
    if math.isnan(threshold):
        raise ValueError("threshold is NaN")
    if ci_low > ci_high:
        raise ValueError(f"ci_low ({ci_low}) exceeds ci_high ({ci_high})")
    return ci_low, ci_high, threshold


def verdict_above(ci_low: float, ci_high: float, threshold: float) -> str:
    """Verdict on "the statistic is above ``threshold``" (see the module's rule).

    ``"supported"`` if ``ci_low > threshold``, ``"contradicted"`` if ``ci_high < threshold``,
    else ``"inconclusive"`` (also when a bound is NaN).
    """
    ci_low, ci_high, threshold = _check_bounds(ci_low, ci_high, threshold)
    if math.isnan(ci_low) or math.isnan(ci_high):
        return "inconclusive"
    if ci_low > threshold:
        return "supported"
    if ci_high < threshold:
        return "contradicted"
    return "inconclusive"


def verdict_below(ci_low: float, ci_high: float, threshold: float) -> str:
    """Verdict on "the statistic is below ``threshold``" (see the module's rule).

    ``"supported"`` if ``ci_high < threshold``, ``"contradicted"`` if ``ci_low > threshold``,
    else ``"inconclusive"`` (also when a bound is NaN).
    """
    ci_low, ci_high, threshold = _check_bounds(ci_low, ci_high, threshold)
    if math.isnan(ci_low) or math.isnan(ci_high):
        return "inconclusive"
    if ci_high < threshold:
        return "supported"
    if ci_low > threshold:
        return "contradicted"
    return "inconclusive"
