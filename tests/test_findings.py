"""Tests of neuralhull.findings against independent implementations (scipy, sklearn, loops)."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from neuralhull import findings
from neuralhull.findings import (
    VERDICTS,
    bootstrap_mean,
    paired_auroc_difference,
    paired_delong_difference,
    pooled_difference,
    pooled_normal,
    spearman,
    spearman_test,
    verdict_above,
    verdict_below,
    wilson_interval,
)

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
    err = rng.random(30) < 0.3
    a, b = rng.normal(size=30) + err, rng.normal(size=30)
    ref_s = spearman_test(x, y, n_boot=101, n_perm=333, seed=1)
    ref_a = paired_auroc_difference(a, b, err, n_boot=101, seed=1)
    ref_m = bootstrap_mean(a, n_boot=101, seed=1)
    monkeypatch.setattr(findings, "_CHUNK_CELLS", 64)  # a few rows per chunk
    assert spearman_test(x, y, n_boot=101, n_perm=333, seed=1) == ref_s
    got_a = paired_auroc_difference(a, b, err, n_boot=101, seed=1)
    np.testing.assert_array_equal(got_a.pop("replicates"), ref_a.pop("replicates"))
    assert got_a == ref_a
    assert bootstrap_mean(a, n_boot=101, seed=1) == ref_m
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


# ---------------------------------------------------------------------------------------------
# paired AUROC difference


def _auroc_data(n, seed):
    rng = np.random.default_rng(seed)
    err = rng.random(n) < 0.3
    err[:2] = [True, False]
    a = np.round(rng.normal(size=n) + 1.0 * err, 1)  # rounding: ties
    b = rng.integers(0, 3, size=n).astype(float) + 0.5 * err  # heavy ties
    return a, b, err


def test_point_aurocs_match_sklearn_with_ties():
    for seed in range(5):
        a, b, err = _auroc_data(60, seed)
        res = paired_auroc_difference(a, b, err, n_boot=10, seed=seed)
        assert res["auroc_a"] == pytest.approx(roc_auc_score(err, a), abs=1e-12)
        assert res["auroc_b"] == pytest.approx(roc_auc_score(err, b), abs=1e-12)
        ref = roc_auc_score(err, a) - roc_auc_score(err, b)
        assert res["statistic"] == pytest.approx(ref, abs=1e-12)
        assert res["n"] == 60 and res["n_errors"] == int(err.sum())


def test_paired_bootstrap_matches_naive_loop():
    a, b, err = _auroc_data(12, 7)  # small: some resamples lack a class
    n_boot, seed = 300, 21
    res = paired_auroc_difference(a, b, err, n_boot=n_boot, seed=seed)
    idx = np.random.default_rng(seed).integers(0, len(a), size=(n_boot, len(a)))
    reps = [
        roc_auc_score(err[i], a[i]) - roc_auc_score(err[i], b[i])
        for i in idx
        if 0 < err[i].sum() < len(i)
    ]
    assert res["n_boot_used"] == len(reps) < n_boot
    assert res["replicates"].shape == (len(reps),)
    np.testing.assert_allclose(res["replicates"], reps, atol=1e-12)
    low, high = _quantiles(reps)
    assert res["ci_low"] == pytest.approx(low, abs=1e-12)
    assert res["ci_high"] == pytest.approx(high, abs=1e-12)


def test_paired_auroc_one_class_and_bad_input():
    a = np.array([0.1, 0.4, 0.3])
    res = paired_auroc_difference(a, a, [False, False, False], n_boot=10)
    assert math.isnan(res["statistic"]) and math.isnan(res["ci_low"])
    assert res["n_boot_used"] == 0 and res["replicates"].size == 0
    assert math.isnan(paired_auroc_difference(a, a, [1, 1, 1])["ci_high"])
    with pytest.raises(ValueError):
        paired_auroc_difference([0.1, np.nan, 0.3], a, [True, False, True])
    with pytest.raises(ValueError):
        paired_auroc_difference(a, a[:2], [True, False, True])
    with pytest.raises(ValueError):
        paired_auroc_difference(a, a, [True, False])
    with pytest.raises(ValueError):
        paired_auroc_difference(a, a, [0, 2, 1])
    with pytest.raises(ValueError):
        paired_auroc_difference([], [], [])


# ---------------------------------------------------------------------------------------------
# pooling and means


def test_pooled_difference_truncates_and_averages():
    r1 = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 9.0])
    r2 = np.array([0.0, -0.2, 0.2, 0.1, 0.3])
    res = pooled_difference([r1, r2], [0.25, 0.05])
    pooled = [(0.1 + 0.0) / 2, 0.0, 0.25, 0.25, 0.4]  # 9.0 is truncated away
    low, high = _quantiles(pooled)
    assert res["statistic"] == pytest.approx(0.15)
    assert res["ci_low"] == pytest.approx(low) and res["ci_high"] == pytest.approx(high)
    assert res["n_groups"] == 2 and res["n_boot_used"] == 5
    single = pooled_difference([r1], [0.3])
    assert (single["ci_low"], single["ci_high"]) == pytest.approx(_quantiles(r1))
    empty = pooled_difference([r1, np.empty(0)], [0.3, float("nan")])
    assert math.isnan(empty["ci_low"]) and math.isnan(empty["statistic"])
    with pytest.raises(ValueError):
        pooled_difference([], [])
    with pytest.raises(ValueError):
        pooled_difference([r1, r2], [0.1])
    with pytest.raises(ValueError):
        pooled_difference([np.array([0.1, np.nan])], [0.1])


def _delong_brute_force(a, b, err):
    """DeLong's paired variance from its definition: the psi kernel on every (error,
    correct) pair, the structural components as row and column means, the 2x2 covariance
    matrices S10, S01, and var = (S10_aa + S10_bb - 2 S10_ab) / m + (same for S01) / k."""
    comps = []
    for s in (a, b):
        x, y = s[err], s[~err]
        psi = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])
        comps.append((psi.mean(axis=1), psi.mean(axis=0)))
    s10 = np.cov(np.stack([comps[0][0], comps[1][0]]))
    s01 = np.cov(np.stack([comps[0][1], comps[1][1]]))
    m, k = err.sum(), (~err).sum()
    diff = comps[0][0].mean() - comps[1][0].mean()
    var = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / k
    return diff, var


@pytest.mark.parametrize("ties", [False, True])
def test_paired_delong_matches_its_definition_and_sklearn(ties):
    rng = np.random.default_rng(40)
    n = 300
    err = rng.random(n) < 0.2
    a = rng.standard_normal(n) + err
    b = 0.6 * a + rng.standard_normal(n)  # correlated with a, as two scores of one model
    if ties:  # hull membership and neighbour agreement take few values
        a, b = np.round(a), (b > 0.5).astype(float)
    res = paired_delong_difference(a, b, err)
    diff, var = _delong_brute_force(a, b, err)
    assert res["statistic"] == pytest.approx(diff, abs=1e-12)
    assert res["statistic"] == pytest.approx(roc_auc_score(err, a) - roc_auc_score(err, b))
    assert res["variance"] == pytest.approx(var, rel=1e-9)
    half = Z95 * math.sqrt(var)
    assert res["ci_low"] == pytest.approx(diff - half) and res["ci_high"] == pytest.approx(
        diff + half
    )
    assert res["n"] == n and res["n_errors"] == int(err.sum())


def test_paired_delong_against_a_constant_score_is_the_single_auroc_variance():
    from neuralhull.analysis import delong_interval

    rng = np.random.default_rng(41)
    err = rng.random(200) < 0.3
    a = rng.standard_normal(200) + 0.8 * err
    res = paired_delong_difference(a, np.zeros(200), err)  # AUROC 1/2, no variance
    low, high = delong_interval(a, err)
    assert res["statistic"] + 0.5 == pytest.approx(roc_auc_score(err, a))
    assert Z95 * math.sqrt(res["variance"]) == pytest.approx((high - low) / 2, rel=1e-9)


def test_paired_delong_variance_agrees_with_the_paired_bootstrap():
    """Two estimators of the same sampling variance: within 15 % of each other at n = 2000
    (the bootstrap's own relative error with 4000 replicates is about 2 %)."""
    rng = np.random.default_rng(42)
    n = 2000
    err = rng.random(n) < 0.1
    a = rng.standard_normal(n) + 1.2 * err
    b = 0.5 * a + rng.standard_normal(n)
    dl = paired_delong_difference(a, b, err)
    bs = paired_auroc_difference(a, b, err, n_boot=4000, seed=3)
    assert dl["statistic"] == pytest.approx(bs["statistic"])
    assert dl["variance"] == pytest.approx(np.var(bs["replicates"], ddof=1), rel=0.15)


def test_paired_delong_covers_the_true_difference():
    """Coverage of the 95 % interval over 400 simulated data sets whose AUROC difference is
    known exactly (binormal scores: AUROC = Phi(shift / sqrt(2)) for unit variances)."""
    from scipy.stats import norm

    rng = np.random.default_rng(43)
    truth = norm.cdf(1.0 / math.sqrt(2)) - norm.cdf(0.5 / math.sqrt(2))
    hits = 0
    for _ in range(400):
        err = np.zeros(400, dtype=bool)
        err[:80] = True
        shared = rng.standard_normal(400)
        a = (shared + rng.standard_normal(400)) / math.sqrt(2) + 1.0 * err
        b = (shared + rng.standard_normal(400)) / math.sqrt(2) + 0.5 * err
        res = paired_delong_difference(a, b, err)
        hits += res["ci_low"] <= truth <= res["ci_high"]
    assert 0.92 <= hits / 400 <= 0.98  # binomial sd at 0.95 is 0.011


def test_paired_delong_one_class_and_bad_input():
    a = np.array([0.1, 0.2, 0.3])
    res = paired_delong_difference(a, a, [False, False, False])
    assert math.isnan(res["statistic"]) and math.isnan(res["variance"])
    with pytest.raises(ValueError, match="NaN"):
        paired_delong_difference([0.1, np.nan, 0.3], a, [True, False, True])
    with pytest.raises(ValueError):
        paired_delong_difference(a, a[:2], [True, False, True])


def test_pooled_normal_sums_the_independent_variances():
    res = pooled_normal([0.2, 0.4], [0.01, 0.03])
    sd = math.sqrt((0.01 + 0.03) / 4)
    assert res["statistic"] == pytest.approx(0.3)
    assert res["ci_low"] == pytest.approx(0.3 - Z95 * sd)
    assert res["ci_high"] == pytest.approx(0.3 + Z95 * sd)
    assert res["n_groups"] == 2
    with pytest.raises(ValueError):
        pooled_normal([], [])
    with pytest.raises(ValueError):
        pooled_normal([0.1], [0.1, 0.2])
    with pytest.raises(ValueError):
        pooled_normal([0.1], [-0.1])


def test_bootstrap_mean_matches_naive_loop():
    values = np.random.default_rng(8).exponential(size=25)
    res = bootstrap_mean(values, n_boot=400, seed=9)
    idx = np.random.default_rng(9).integers(0, 25, size=(400, 25))
    low, high = _quantiles([values[i].mean() for i in idx])
    assert res["statistic"] == pytest.approx(values.mean())
    assert res["ci_low"] == pytest.approx(low, abs=1e-12)
    assert res["ci_high"] == pytest.approx(high, abs=1e-12)
    assert res["n"] == 25
    with pytest.raises(ValueError):
        bootstrap_mean([])
    with pytest.raises(ValueError):
        bootstrap_mean([1.0, np.nan])


# ---------------------------------------------------------------------------------------------
# verdicts


def test_verdict_rules():
    nan = float("nan")
    assert VERDICTS == ("supported", "contradicted", "inconclusive")
    assert verdict_above(0.6, 0.8, 0.5) == "supported"
    assert verdict_above(0.1, 0.4, 0.5) == "contradicted"
    assert verdict_above(0.4, 0.6, 0.5) == "inconclusive"
    assert verdict_above(0.5, 0.6, 0.5) == "inconclusive"  # touching counts as containing
    assert verdict_above(0.4, 0.5, 0.5) == "inconclusive"
    assert verdict_above(nan, 0.6, 0.0) == "inconclusive"
    assert verdict_above(nan, nan, 0.0) == "inconclusive"
    assert verdict_below(-0.3, -0.1, 0.0) == "supported"
    assert verdict_below(0.1, 0.3, 0.0) == "contradicted"
    assert verdict_below(-0.1, 0.1, 0.0) == "inconclusive"
    assert verdict_below(-0.1, 0.0, 0.0) == "inconclusive"
    assert verdict_below(0.1, nan, 0.0) == "inconclusive"
    with pytest.raises(ValueError):
        verdict_above(0.6, 0.4, 0.5)  # bounds in the wrong order
    with pytest.raises(ValueError):
        verdict_below(0.1, 0.2, nan)
