"""Wilson intervals and Spearman tests against independent implementations (closed forms,
scipy, brute force)."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from scipy.stats import spearmanr

from neuralhull.stats import correlation as findings
from neuralhull.stats.correlation import spearman, spearman_test
from neuralhull.stats.intervals import wilson_interval

Z95 = 1.959963984540054  # standard normal 97.5% quantile


def _scipy_rho(x, y) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input: scipy warns and returns NaN
        return float(spearmanr(x, y).statistic)


def _quantiles(values, level=0.95):
    alpha = (1 - level) / 2
    return tuple(np.quantile(np.asarray(values), [alpha, 1 - alpha]))


# ---------------------------------------------------------------------------------------------
# Wilson


def _wilson_closed_form(k, n, z):
    p = k / n
    centre = (2 * n * p + z**2) / (2 * (n + z**2))
    spread = z * math.sqrt(z**2 + 4 * n * p * (1 - p)) / (2 * (n + z**2))
    return centre - spread, centre + spread


@pytest.mark.parametrize("k,n", [(0, 10), (10, 10), (3, 10), (1, 1), (0, 1), (17, 50), (499, 1000)])
def test_wilson_matches_closed_form(k, n):
    low, high = wilson_interval(k, n)
    ref_low, ref_high = _wilson_closed_form(k, n, Z95)
    assert low == pytest.approx(ref_low, abs=1e-12)
    assert high == pytest.approx(ref_high, abs=1e-12)
    assert low <= k / n <= high
    assert 0.0 <= low <= high <= 1.0


def test_wilson_other_level_and_edges():
    z90 = 1.6448536269514722
    low, high = wilson_interval(7, 20, level=0.90)
    ref = _wilson_closed_form(7, 20, z90)
    assert (low, high) == pytest.approx(ref, abs=1e-12)
    assert wilson_interval(0, 5)[0] == 0.0
    assert wilson_interval(5, 5)[1] == 1.0
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


@pytest.mark.parametrize(
    "args", [(5, 3), (-1, 3), (1, -2), (1.5, 3), (1, 3, 1.0), (1, 3, 0.0), (True, 3)]
)
def test_wilson_bad_input(args):
    with pytest.raises(ValueError):
        wilson_interval(*args)


# ---------------------------------------------------------------------------------------------
# Spearman


def test_spearman_matches_scipy_with_ties():
    rng = np.random.default_rng(1)
    for _ in range(20):
        n = int(rng.integers(3, 40))
        x = rng.integers(0, 5, size=n).astype(float)  # many ties
        y = np.round(x + rng.normal(size=n), 1)
        ref = _scipy_rho(x, y)
        got = spearman(x, y)
        if math.isnan(ref):
            assert math.isnan(got)
        else:
            assert got == pytest.approx(ref, abs=1e-12)


def test_spearman_rows_match_scipy_per_row():
    rng = np.random.default_rng(2)
    xr = rng.integers(0, 4, size=(30, 8)).astype(float)
    yr = rng.integers(0, 4, size=(30, 8)).astype(float)
    xr[0] = 2.0  # a constant row
    got = findings._spearman_rows(xr, yr)
    ref = np.array([_scipy_rho(a, b) for a, b in zip(xr, yr, strict=True)])
    np.testing.assert_allclose(got, ref, atol=1e-12, equal_nan=True)
    assert math.isnan(got[0])


def test_spearman_zero_variance_is_nan():
    assert math.isnan(spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert math.isnan(spearman([1.0, 2.0, 3.0], [4.0, 4.0, 4.0]))
    assert spearman([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)


@pytest.mark.parametrize(
    "x,y",
    [
        ([1.0, 2.0, 3.0], [1.0, 2.0]),
        ([], []),
        ([1.0, np.nan, 3.0], [1.0, 2.0, 3.0]),
        ([[1.0, 2.0]], [[1.0, 2.0]]),
        (["a", "b", "c"], [1.0, 2.0, 3.0]),
    ],
)
def test_spearman_bad_input(x, y):
    with pytest.raises(ValueError):
        spearman(x, y)


# ---------------------------------------------------------------------------------------------
# spearman_test: permutation p-value


def _brute_force_p(x, y):
    observed = abs(_scipy_rho(x, y))
    hits = total = 0
    for perm in itertools.permutations(range(len(y))):
        total += 1
        if abs(_scipy_rho(x, np.asarray(y)[list(perm)])) >= observed - 1e-12:
            hits += 1
    return hits / total


@pytest.mark.parametrize(
    "x,y",
    [
        ([1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 1.0, 4.0, 3.0, 5.0]),
        ([0.3, 1.2, 0.7, 2.5, 1.9, 0.1], [1.0, 3.0, 2.0, 6.0, 4.0, 5.0]),
        ([1.0, 1.0, 2.0, 3.0, 3.0, 4.0], [5.0, 3.0, 3.0, 1.0, 2.0, 2.0]),  # ties in both
    ],
)
def test_exact_p_value_matches_brute_force(x, y):
    res = spearman_test(x, y, n_boot=50, seed=3)
    assert res["permutation"] == "exact"
    assert res["n_permutations"] == math.factorial(len(x))
    assert res["n"] == len(x)
    assert res["statistic"] == pytest.approx(_scipy_rho(x, y), abs=1e-12)
    assert res["p_value"] == pytest.approx(_brute_force_p(x, y), abs=1e-12)


def test_monte_carlo_p_value_close_to_exact():
    rng = np.random.default_rng(4)
    x = rng.normal(size=7)
    y = x + rng.normal(scale=1.5, size=7)
    exact = spearman_test(x, y, n_boot=20, seed=0)  # 7! = 5040 <= 20000: exact
    assert exact["permutation"] == "exact"
    mc = spearman_test(x, y, n_boot=20, n_perm=1000, seed=0)
    assert mc["permutation"] == "monte-carlo"
    assert mc["n_permutations"] == 1000
    assert mc["p_value"] >= 1 / 1001
    # Monte Carlo standard error at most 0.5 / sqrt(1000) ~ 0.016
    assert abs(mc["p_value"] - exact["p_value"]) < 0.06
    # a perfect correlation: only the identity and the reversal reach |rho| = 1, p = 2 / n!
    perfect = spearman_test(np.arange(6.0), np.arange(6.0) ** 3, n_boot=20)
    assert perfect["p_value"] == pytest.approx(2 / 720)


# ---------------------------------------------------------------------------------------------
# spearman_test: bootstrap interval


def test_spearman_bootstrap_matches_naive_loop():
    x = np.array([1.0, 1.0, 1.0, 1.0, 2.0, 3.0, 4.0])  # ties: some resamples are constant
    y = np.array([0.5, 0.1, 0.9, 1.5, 0.7, 2.0, 2.0])
    n_boot, seed = 600, 11
    res = spearman_test(x, y, n_boot=n_boot, seed=seed)
    idx = np.random.default_rng(seed).integers(0, len(x), size=(n_boot, len(x)))
    reps = [_scipy_rho(x[i], y[i]) for i in idx]
    reps = [r for r in reps if not math.isnan(r)]
    assert 0 < res["n_boot_used"] == len(reps) < n_boot  # some constant resamples dropped
    low, high = _quantiles(reps)
    assert res["ci_low"] == pytest.approx(low, abs=1e-12)
    assert res["ci_high"] == pytest.approx(high, abs=1e-12)
    assert res["ci_low"] <= res["statistic"] <= res["ci_high"]


def test_chunking_does_not_change_results(monkeypatch):
    rng = np.random.default_rng(5)
    x = rng.normal(size=9)
    y = x + rng.normal(size=9)
    ref_s = spearman_test(x, y, n_boot=101, n_perm=333, seed=1)
    monkeypatch.setattr(findings, "_CHUNK_CELLS", 64)  # a few rows per chunk
    assert spearman_test(x, y, n_boot=101, n_perm=333, seed=1) == ref_s
    exact = spearman_test(x[:6], y[:6], n_boot=10)  # exact enumeration in chunks too
    monkeypatch.setattr(findings, "_CHUNK_CELLS", 2**20)
    assert exact == spearman_test(x[:6], y[:6], n_boot=10)


def test_spearman_test_constant_and_bad_input():
    res = spearman_test([1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0], n_boot=10)
    assert math.isnan(res["statistic"]) and math.isnan(res["p_value"])
    assert math.isnan(res["ci_low"]) and res["n_boot_used"] == 0
    with pytest.raises(ValueError):
        spearman_test([1.0, 2.0], [2.0, 1.0])  # n < 3
    with pytest.raises(ValueError):
        spearman_test([1.0, 2.0, 3.0], [2.0, 1.0])
    with pytest.raises(ValueError):
        spearman_test([1.0, 2.0, np.nan], [2.0, 1.0, 3.0])
    with pytest.raises(ValueError):
        spearman_test([1.0, 2.0, 3.0], [2.0, 1.0, 3.0], n_boot=0)
    with pytest.raises(ValueError):
        spearman_test([1.0, 2.0, 3.0], [2.0, 1.0, 3.0], level=1.5)
