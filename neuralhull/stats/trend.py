"""Ordered-trend tests: does a measurement move one way along a lever's ordered levels?

A lever of the model zoo varies one thing (training length, label noise, width, training-set
size) over ordered levels.  Whether the intrinsic dimension falls (or rises) along it is a
test of an ordered alternative, which is more powerful than a test of "some difference":

* :func:`jonckheere_terpstra`: groups (one per level, in order) of any sizes, e.g. the seeds
  of each level's model, or one model mean per level (then J counts concordant pairs, as
  Kendall's tau does).  ``J = sum_{i<j} sum_{x in g_i, y in g_j} ([x < y] + [x = y] / 2)``.
* :func:`page_trend`: Page's L for a complete block design (blocks x ordered levels, e.g.
  seed s of every level's model when runs of one seed share their initialisation); ranks
  within each block, ``L = sum_j j * R_j``.
* :func:`stratified_trend_test`: several levers at once.  Each lever's J is standardised by
  its null mean and variance, the combined statistic is ``sum_l z_l / sqrt(n_levers)``, and
  its null distribution permutes the values *within* each lever only, so levers that shift
  the measurement's level (one lever's dimensions all higher) cannot create a trend.

p-values are exact (all distinct arrangements enumerated) when there are few, Monte Carlo
permutation ``(1 + count) / (1 + n_resamples)`` otherwise, or the normal approximation
(``method="normal"``).  ``alternative`` is ``"increasing"`` (the values rise with the level),
``"decreasing"`` or ``"two-sided"``.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import stats as sps
from scipy.stats import rankdata

from neuralhull.checks import check_count, check_generator, one_of

ALTERNATIVES = ("increasing", "decreasing", "two-sided")
METHODS = ("auto", "exact", "permutation", "normal")
MAX_EXACT = 100_000  # arrangements enumerated at most for an exact p-value
_TOL = 1e-9  # ties between a permuted and the observed statistic count as "as extreme"


@dataclass(frozen=True)
class TrendResult:
    """An ordered-trend test.

    Attributes
    ----------
    statistic : float
        J (Jonckheere-Terpstra), L (Page) or, for the stratified test, the combined z.
    z : float
        The statistic standardised by its null mean and standard deviation (positive:
        increasing).
    p_value : float
    alternative : str
    method : str
        ``"exact"``, ``"permutation"`` or ``"normal"``.
    n_permutations : int or None
        Arrangements evaluated (exact: all distinct ones; permutation: the random ones).
    strata : tuple of TrendResult
        For the stratified test, each lever's own test.
    """

    statistic: float
    z: float
    p_value: float
    alternative: str
    method: str
    n_permutations: int | None = None
    strata: tuple = ()


def _as_groups(groups, name: str = "groups") -> list[np.ndarray]:
    out = []
    for i, g in enumerate(groups):
        g = np.atleast_1d(np.asarray(g, dtype=float))
        if g.ndim != 1 or g.size == 0 or not np.isfinite(g).all():
            raise ValueError(f"{name}[{i}] must be a non-empty 1-D array of finite values")
        out.append(g)
    if len(out) < 2:
        raise ValueError(f"{name} needs at least 2 ordered levels, got {len(out)}")
    return out


# ---------------------------------------------------------------------------------------------
# Jonckheere-Terpstra


def jt_null_moments(sizes: Sequence[int], values) -> tuple[float, float]:
    """Null mean and variance of J for groups of ``sizes`` holding ``values`` (all of them,
    in any order), with the correction for ties (Hollander & Wolfe, Nonparametric
    Statistical Methods, 2nd ed., eq. 6.19)."""
    n_i = np.asarray(sizes, dtype=float)
    n = n_i.sum()
    t = np.array(list(Counter(np.asarray(values, dtype=float).tolist()).values()), dtype=float)
    mean = (n * n - (n_i * n_i).sum()) / 4.0
    var = (
        n * (n - 1) * (2 * n + 5)
        - (n_i * (n_i - 1) * (2 * n_i + 5)).sum()
        - (t * (t - 1) * (2 * t + 5)).sum()
    ) / 72.0
    if n > 2:
        var += ((n_i * (n_i - 1) * (n_i - 2)).sum() * (t * (t - 1) * (t - 2)).sum()) / (
            36.0 * n * (n - 1) * (n - 2)
        )
    var += ((n_i * (n_i - 1)).sum() * (t * (t - 1)).sum()) / (8.0 * n * (n - 1))
    return float(mean), float(var)


def _ordered_pairs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions (lo, hi) of every pair with labels[lo] < labels[hi]."""
    lo, hi = np.nonzero(labels[:, None] < labels[None, :])
    return lo, hi


def _jt_rows(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """J of every row of ``x (b, n)`` for the fixed label pairs (lo, hi)."""
    a, b = x[:, lo], x[:, hi]
    return (a < b).sum(axis=1) + 0.5 * (a == b).sum(axis=1)


def _n_arrangements(sizes: Sequence[int]) -> int:
    n = sum(sizes)
    out = math.factorial(n)
    for s in sizes:
        out //= math.factorial(s)
    return out


def _label_assignments(sizes: Sequence[int]) -> np.ndarray:
    """(A, n) int: every distinct way to give n positions the labels 0..k-1, label j used
    sizes[j] times (A = n! / prod sizes!)."""
    n = sum(sizes)
    rows: list[np.ndarray] = []

    def fill(label: int, free: tuple, current: np.ndarray) -> None:
        if label == len(sizes) - 1:
            row = current.copy()
            row[list(free)] = label
            rows.append(row)
            return
        for chosen in itertools.combinations(free, sizes[label]):
            row = current.copy()
            row[list(chosen)] = label
            rest = tuple(p for p in free if p not in chosen)
            fill(label + 1, rest, row)

    fill(0, tuple(range(n)), np.full(n, -1))
    return np.array(rows)


def _exact_jt(x: np.ndarray, sizes: Sequence[int], held: Sequence[int] = ()) -> np.ndarray:
    """J of every distinct assignment of the values x to groups of ``sizes`` (x in group
    order) that leaves the values of the groups ``held`` in their own groups."""
    own = np.repeat(np.arange(len(sizes)), sizes)
    free_groups = np.array([g for g in range(len(sizes)) if g not in set(held)], dtype=int)
    free = np.isin(own, free_groups)
    labels = np.tile(own, (1, 1))
    if free_groups.size:
        sub = _label_assignments([sizes[g] for g in free_groups])  # over the free values
        labels = np.tile(own, (sub.shape[0], 1))
        labels[:, free] = free_groups[sub]  # (A, n): the group of each value
    c = (x[:, None] < x[None, :]) + 0.5 * (x[:, None] == x[None, :])  # c[i, j]: x_i before x_j
    out = np.empty(labels.shape[0])
    step = max(1, 2**20 // (x.size * x.size))
    for s in range(0, labels.shape[0], step):
        lab = labels[s : s + step]
        out[s : s + step] = ((lab[:, :, None] < lab[:, None, :]) * c).sum(axis=(1, 2))
    return out


def _permuted_jt(rng, x: np.ndarray, lo, hi, n_resamples: int, free=None) -> np.ndarray:
    """J of ``n_resamples`` random permutations of x (of its positions ``free`` only, the
    others left in place, when given)."""
    out = np.empty(n_resamples)
    step = max(1, 2**20 // max(1, lo.size))
    for s in range(0, n_resamples, step):
        b = min(step, n_resamples - s)
        rows = np.tile(x, (b, 1))
        if free is None:
            rows = rng.permuted(rows, axis=1)
        else:
            rows[:, free] = rng.permuted(rows[:, free], axis=1)
        out[s : s + b] = _jt_rows(rows, lo, hi)
    return out


def _tail(null: np.ndarray, observed: float, mean: float, alternative: str) -> int:
    if alternative == "increasing":
        return int(np.count_nonzero(null >= observed - _TOL))
    if alternative == "decreasing":
        return int(np.count_nonzero(null <= observed + _TOL))
    return int(np.count_nonzero(np.abs(null - mean) >= abs(observed - mean) - _TOL))


def _normal_p(z: float, alternative: str) -> float:
    if alternative == "increasing":
        return float(sps.norm.sf(z))
    if alternative == "decreasing":
        return float(sps.norm.cdf(z))
    return float(min(1.0, 2 * sps.norm.sf(abs(z))))


def _resolve_method(method: str, n_arrangements: int, max_exact: int) -> str:
    if method == "auto":
        return "exact" if n_arrangements <= max_exact else "permutation"
    if method == "exact" and n_arrangements > max_exact:
        raise ValueError(
            f"an exact p-value needs {n_arrangements} arrangements, more than max_exact="
            f"{max_exact}; use method='permutation' or raise max_exact"
        )
    return method


def jonckheere_terpstra(
    groups,
    *,
    alternative: str = "two-sided",
    method: str = "auto",
    n_resamples: int = 9999,
    rng: np.random.Generator | None = None,
    max_exact: int = MAX_EXACT,
) -> TrendResult:
    """Jonckheere-Terpstra test for a trend along ordered groups.

    Parameters
    ----------
    groups : sequence of (n_j,) float
        The values of each level, levels in their order (at least 2).
    alternative : {"increasing", "decreasing", "two-sided"}
    method : {"auto", "exact", "permutation", "normal"}
        "auto": exact when there are at most ``max_exact`` distinct arrangements of the
        values into the groups, Monte Carlo permutation otherwise.
    n_resamples : int
        Random permutations for "permutation".
    rng : numpy.random.Generator
        Needed for "permutation" (and "auto" when it chooses it).

    Returns
    -------
    TrendResult
        ``statistic`` is J; ``z`` is ``(J - E J) / sd J`` under the null with the tie
        correction.
    """
    one_of(alternative, ALTERNATIVES, "alternative")
    one_of(method, METHODS, "method")
    groups = _as_groups(groups)
    sizes = [g.size for g in groups]
    x = np.concatenate(groups)
    labels = np.repeat(np.arange(len(groups)), sizes)
    lo, hi = _ordered_pairs(labels)
    j_obs = float(_jt_rows(x[None, :], lo, hi)[0])
    mean, var = jt_null_moments(sizes, x)
    z = (j_obs - mean) / math.sqrt(var) if var > 0 else 0.0
    n_arr = _n_arrangements(sizes)
    method = _resolve_method(method, n_arr, max_exact)
    if var <= 0:  # every value equal: no arrangement differs from another
        return TrendResult(j_obs, 0.0, 1.0, alternative, method, n_arr)
    if method == "normal":
        return TrendResult(j_obs, z, _normal_p(z, alternative), alternative, "normal")
    if method == "exact":
        null = _exact_jt(x, sizes)
        p = _tail(null, j_obs, mean, alternative) / null.size
        return TrendResult(j_obs, z, p, alternative, "exact", int(null.size))
    rng = check_generator(rng)
    n_resamples = check_count(n_resamples, "n_resamples")
    null = _permuted_jt(rng, x, lo, hi, n_resamples)
    p = (1 + _tail(null, j_obs, mean, alternative)) / (1 + n_resamples)
    return TrendResult(j_obs, z, p, alternative, "permutation", n_resamples)


# ---------------------------------------------------------------------------------------------
# Page's L


def _page_block_distribution(ranks: np.ndarray) -> Counter:
    """Distribution of 2 * sum_j (j+1) r_perm(j) over all k! orderings of one block's ranks
    (doubled so that half ranks stay integers)."""
    k = ranks.size
    weights = np.arange(1, k + 1)
    perms = np.array(list(itertools.permutations(range(k))))
    values = np.rint(2 * (ranks[perms] * weights).sum(axis=1)).astype(np.int64)
    return Counter(values.tolist())


def page_trend(
    data,
    *,
    alternative: str = "increasing",
    method: str = "auto",
    max_exact: int = MAX_EXACT,
) -> TrendResult:
    """Page's L test for an increasing (or decreasing) trend over ordered levels.

    Parameters
    ----------
    data : (n_blocks, n_levels) float
        Row b: block b's value at each level, levels in their order.  Values are ranked
        within each row (ties get average ranks).
    alternative : {"increasing", "decreasing", "two-sided"}
    method : {"auto", "exact", "normal"}
        "exact" convolves the blocks' null distributions (each block's ranks equally likely
        in every order, k! orderings per block); "auto" uses it when k! <= ``max_exact``.

    Returns
    -------
    TrendResult
        ``statistic`` is L = sum_j j R_j (R_j: the rank sum of level j, j = 1..k).
    """
    one_of(alternative, ALTERNATIVES, "alternative")
    one_of(method, ("auto", "exact", "normal"), "method")
    data = np.asarray(data, dtype=float)
    if data.ndim != 2 or data.shape[0] < 1 or data.shape[1] < 2 or not np.isfinite(data).all():
        raise ValueError(
            f"page_trend needs finite data of shape (n_blocks >= 1, n_levels >= 2), got "
            f"shape {data.shape}"
        )
    n, k = data.shape
    ranks = rankdata(data, axis=1)
    l_obs = float((ranks.sum(axis=0) * np.arange(1, k + 1)).sum())
    mean = n * k * (k + 1) ** 2 / 4.0
    # null variance with ties: per block, var(sum_j j r_perm(j)) = k^2 (k+1) / 12 * var(r),
    # var(r) with divisor k (without ties (k^2 - 1) / 12: Page's n k^2 (k+1) (k^2-1) / 144)
    block_var = (ranks.var(axis=1) * k * k * (k + 1) / 12.0).sum()
    z = (l_obs - mean) / math.sqrt(block_var) if block_var > 0 else 0.0
    method = _resolve_method(method, math.factorial(k), max_exact)
    if block_var <= 0:
        return TrendResult(l_obs, 0.0, 1.0, alternative, method)
    if method == "normal":
        return TrendResult(l_obs, z, _normal_p(z, alternative), alternative, "normal")
    total = Counter({0: 1})
    for row in ranks:
        block = _page_block_distribution(row)
        new: Counter = Counter()
        for v1, c1 in total.items():
            for v2, c2 in block.items():
                new[v1 + v2] += c1 * c2
        total = new
    values = np.array(list(total.keys()), dtype=float) / 2.0
    counts = np.array(list(total.values()), dtype=float)
    if alternative == "increasing":
        hit = values >= l_obs - _TOL
    elif alternative == "decreasing":
        hit = values <= l_obs + _TOL
    else:
        hit = np.abs(values - mean) >= abs(l_obs - mean) - _TOL
    p = float(counts[hit].sum() / counts.sum())
    return TrendResult(l_obs, z, p, alternative, "exact", math.factorial(k) ** n)


# ---------------------------------------------------------------------------------------------
# several levers


def _held_tail(null, z_obs, alternative, held, plus_one) -> float:
    """The count of null values as extreme as z_obs; with held levels the null is not
    centred on 0, so a two-sided test doubles the smaller tail (returned as the count
    that gives that p-value)."""
    if not held or alternative != "two-sided":
        return _tail(null, z_obs, 0.0, alternative)
    n = null.size + plus_one
    low = _tail(null, z_obs, 0.0, "decreasing") + plus_one
    high = _tail(null, z_obs, 0.0, "increasing") + plus_one
    return min(n, 2 * min(low, high)) - plus_one


class _Lever(NamedTuple):
    """One lever of :func:`stratified_trend_test`, ready for its null distribution."""

    sizes: list  # of its groups, in level order
    x: np.ndarray  # its values, group after group
    lo: np.ndarray  # the ordered pairs (lower level, higher level) J counts
    hi: np.ndarray
    mean: float  # J's null mean and SD (inf for a constant lever: it adds nothing)
    sd: float
    j_obs: float
    held: tuple  # levels left in place
    free: np.ndarray | None  # positions of the values not held (None: all free)


def _lever(groups, held: tuple) -> _Lever:
    sizes = [g.size for g in groups]
    x = np.concatenate(groups)
    labels = np.repeat(np.arange(len(groups)), sizes)
    lo, hi = _ordered_pairs(labels)
    mean, var = jt_null_moments(sizes, x)
    sd = math.sqrt(var) if var > 0 else math.inf
    j_obs = float(_jt_rows(x[None, :], lo, hi)[0])
    free = np.flatnonzero(~np.isin(labels, held)) if held else None
    return _Lever(sizes, x, lo, hi, mean, sd, j_obs, held, free)


def _checked_held(held, levers) -> list[tuple]:
    """``held`` as one tuple of level indices per lever (empty when None)."""
    n_lev = len(levers)
    if held is None:
        held = [()] * n_lev
    held = [tuple(int(h) for h in hs) for hs in held]
    if len(held) != n_lev or any(
        h < 0 or h >= len(g) for hs, g in zip(held, levers, strict=False) for h in hs
    ):
        raise ValueError(
            f"held must give, for each of the {n_lev} levers, indices of its levels; got {held}"
        )
    return held


def stratified_trend_test(
    levers,
    *,
    alternative: str = "two-sided",
    method: str = "auto",
    n_resamples: int = 9999,
    rng: np.random.Generator | None = None,
    max_exact: int = MAX_EXACT,
    held=None,
) -> TrendResult:
    """Combined ordered-trend test over several levers, permuting within each lever.

    Parameters
    ----------
    levers : sequence of sequences of (n_j,) float
        One entry per lever: its groups in level order, as for :func:`jonckheere_terpstra`.
    alternative : {"increasing", "decreasing", "two-sided"}
        The same direction for every lever.
    method : {"auto", "exact", "permutation", "normal"}
        "exact" enumerates every combination of the levers' arrangements (when their
        product is at most ``max_exact``); "permutation" permutes the values within each
        lever independently ``n_resamples`` times; "normal" refers the combined z to N(0, 1).
    held : sequence of sequences of int, optional
        One entry per lever: the levels (indices into its groups) whose values the null
        distribution leaves in place.  A model that is a level of several levers (the
        reference) puts the same values into each, so permuting every lever whole treats
        dependent levers as independent and rejects too often when there is no trend;
        holding the shared model's level makes the test exact given its values.  Not with
        ``method="normal"`` (the combined z's null moments are then conditional).  The
        conditional null is not centred on 0: a two-sided p-value doubles the smaller
        one-sided one.

    Returns
    -------
    TrendResult
        ``statistic`` = ``z`` = ``sum_l z_l / sqrt(n_levers)``, z_l each lever's
        standardised J; ``strata`` holds each lever's own test (same method, its own draws;
        each lever alone permuted whole, ``held`` or not).
    """
    one_of(alternative, ALTERNATIVES, "alternative")
    one_of(method, METHODS, "method")
    levers = [_as_groups(g, f"levers[{i}]") for i, g in enumerate(levers)]
    if not levers:
        raise ValueError("levers is empty")
    held = _checked_held(held, levers)
    if method == "normal" and any(held):
        raise ValueError("held levels need method 'exact', 'permutation' or 'auto', not 'normal'")
    parts = [_lever(groups, hs) for groups, hs in zip(levers, held, strict=True)]
    n_lev = len(levers)
    z_obs = sum((p.j_obs - p.mean) / p.sd for p in parts) / math.sqrt(n_lev)
    n_comb = math.prod(
        _n_arrangements([n for g, n in enumerate(p.sizes) if g not in p.held]) for p in parts
    )
    method = _resolve_method(method, n_comb, max_exact)
    # each lever's own test; with permutations it draws from rng before the combined null
    strata = tuple(
        jonckheere_terpstra(
            groups,
            alternative=alternative,
            method=method,
            n_resamples=n_resamples,
            rng=rng if method == "permutation" else None,
            max_exact=max(max_exact, n_comb, *(_n_arrangements(p.sizes) for p in parts)),
        )
        for groups in levers
    )
    if method == "normal":
        return TrendResult(
            z_obs, z_obs, _normal_p(z_obs, alternative), alternative, "normal", strata=strata
        )
    null = _combined_null(parts, method, rng, n_resamples)
    if method == "exact":
        p = _held_tail(null, z_obs, alternative, any(held), 0) / null.size
        return TrendResult(z_obs, z_obs, p, alternative, "exact", int(null.size), strata)
    p = (1 + _held_tail(null, z_obs, alternative, any(held), 1)) / (1 + null.size)
    return TrendResult(z_obs, z_obs, p, alternative, "permutation", null.size, strata)


def _combined_null(parts: list[_Lever], method: str, rng, n_resamples: int) -> np.ndarray:
    """Null distribution of the combined z: over every combination of the levers'
    arrangements ("exact"), else over ``n_resamples`` permutations within each lever."""
    if method == "exact":
        null = np.zeros(1)
        for part in parts:
            z_l = (_exact_jt(part.x, part.sizes, part.held) - part.mean) / part.sd
            null = (null[:, None] + z_l[None, :]).ravel()
        return null / math.sqrt(len(parts))
    rng = check_generator(rng)
    null = np.zeros(check_count(n_resamples, "n_resamples"))
    for part in parts:
        permuted = _permuted_jt(rng, part.x, part.lo, part.hi, null.size, part.free)
        null += (permuted - part.mean) / part.sd
    return null / math.sqrt(len(parts))
