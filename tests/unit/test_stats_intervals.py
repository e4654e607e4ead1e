"""The statistics package against independent references (scipy, brute force on small
cases), and the coverage of its intervals on data with the workflow's structure."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps
from threadpoolctl import threadpool_limits

from neuralhull.stats import coverage, power, trend
from neuralhull.stats import intervals as iv
from neuralhull.stats import simulate as sim

# ---------------------------------------------------------------------------------------------
# formula intervals


@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_wilson_matches_scipy_binomtest(level):
    cases = [(k, n) for n in (1, 2, 7, 30, 1000) for k in sorted({0, 1, n // 3, n - 1, n})]
    lows, highs = iv.wilson_interval([k for k, _ in cases], [n for _, n in cases], level)
    for (k, n), low, high in zip(cases, lows, highs, strict=True):
        ref = sps.binomtest(k, n).proportion_ci(confidence_level=level, method="wilson")
        assert low == pytest.approx(ref.low, abs=1e-12), (k, n)
        assert high == pytest.approx(ref.high, abs=1e-12), (k, n)
    assert iv.wilson_interval(3, 10) == pytest.approx(
        tuple(sps.binomtest(3, 10).proportion_ci(method="wilson")), abs=1e-12
    )


def test_wilson_refuses_impossible_counts():
    with pytest.raises(ValueError, match="successes <= n"):
        iv.wilson_interval(11, 10)
    with pytest.raises(ValueError, match="integer counts"):
        iv.wilson_interval(0.5, 10)
    assert all(math.isnan(v) for v in iv.wilson_interval(0, 0))


def test_t_interval_matches_scipy_t():
    values = np.array([0.11, 0.19, 0.07, 0.25, 0.16, 0.12, 0.31, 0.09])
    got = iv.t_interval(values, 0.9)
    ref = sps.t.interval(0.9, len(values) - 1, loc=values.mean(), scale=sps.sem(values))
    assert (got.low, got.high) == pytest.approx(ref, abs=1e-14)
    with pytest.raises(ValueError, match="at least 2"):
        iv.t_interval([1.0])


def _exact_bca(x: np.ndarray, level: float) -> tuple[float, float]:
    """BCa from the complete bootstrap distribution (all n^n resamples) of the mean (Efron &
    Tibshirani 1993, ch. 14), written out independently of scipy."""
    n = x.size
    idx = np.array(list(itertools.product(range(n), repeat=n)))
    theta = x[idx].mean(axis=1)
    est = x.mean()
    z0 = sps.norm.ppf(np.mean(theta < est))
    jack = np.array([np.delete(x, i).mean() for i in range(n)])
    d = jack.mean() - jack
    a = (d**3).sum() / (6 * (d**2).sum() ** 1.5)
    z = sps.norm.ppf([(1 - level) / 2, (1 + level) / 2])
    q = sps.norm.cdf(z0 + (z0 + z) / (1 - a * (z0 + z)))
    return tuple(np.quantile(theta, q))


def test_bca_matches_the_complete_bootstrap_distribution():
    x = np.array([0.2, 0.3, 0.35, 0.5, 0.9, 2.4])  # skewed: BCa differs from percentile
    exact = _exact_bca(x, 0.95)
    got = iv.bca_interval((x,), np.mean, rng=np.random.default_rng(1), n_resamples=40000)
    spread = x.std() / math.sqrt(x.size)  # the resample means sit on a coarse grid of atoms,
    assert got.low == pytest.approx(exact[0], abs=0.1 * spread)  # one step ~ 0.05 spread
    assert got.high == pytest.approx(exact[1], abs=0.1 * spread)
    percentile = np.quantile(x[np.random.default_rng(2).integers(0, 6, (40000, 6))].mean(1), 0.975)
    assert got.high - percentile > 0.3 * spread  # the correction is visible


# ---------------------------------------------------------------------------------------------
# AUROC and the two-way bootstrap, draw for draw


def _brute_auroc(score, is_error):
    pos, neg = score[is_error], score[~is_error]
    diff = pos[:, None] - neg[None, :]
    return ((diff > 0) + 0.5 * (diff == 0)).mean()


def test_weighted_auroc_is_the_auroc_of_the_replicated_sample():
    rng = np.random.default_rng(3)
    score = rng.integers(0, 5, 40).astype(float)  # many ties
    err = rng.random(40) < 0.3
    weights = rng.multinomial(40, np.full(40, 1 / 40), size=25)
    got = iv.weighted_auroc(score, err, weights)
    for w, g in zip(weights, got, strict=True):
        keep = np.repeat(np.arange(40), w)
        assert g == pytest.approx(_brute_auroc(score[keep], err[keep]), abs=1e-12)
    assert np.isnan(iv.weighted_auroc(score, np.zeros(40, bool), weights[:1]))[0]


def _replay(seed, n_images, n_boot, n_units):
    """The draws the two-way bootstrap makes, in its documented order."""
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n_images, np.full(n_images, 1 / n_images), size=n_boot)
    drawn = rng.integers(0, n_units, size=(n_boot, n_units))
    return counts, drawn


def test_pigeonhole_replicate_is_the_mean_of_resampled_seeds_and_images():
    rng = np.random.default_rng(4)
    y = (rng.random((3, 12)) < 0.4).astype(float)
    got = iv.model_mean_interval(
        y, rng=np.random.default_rng(9), n_boot=300, unit_component="pigeonhole", level=0.8
    )
    counts, drawn = _replay(9, 12, 300, 3)
    reps = [y[d][:, np.repeat(np.arange(12), c)].mean() for c, d in zip(counts, drawn, strict=True)]
    assert (got.low, got.high) == pytest.approx(tuple(np.quantile(reps, [0.1, 0.9])), abs=1e-12)


def test_paired_auroc_replicate_resamples_the_same_images_in_every_run():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(2, 2, 30))
    err = rng.random((2, 30)) < 0.4
    err[:, :2] = [True, False]
    got = iv.model_auroc_difference_interval(
        a, b, err, rng=np.random.default_rng(8), n_boot=200, unit_component="pigeonhole"
    )
    counts, drawn = _replay(8, 30, 200, 2)
    reps = []
    for c, d in zip(counts, drawn, strict=True):
        keep = np.repeat(np.arange(30), c)
        diffs = [
            _brute_auroc(a[r, keep], err[r, keep]) - _brute_auroc(b[r, keep], err[r, keep])
            for r in d
        ]
        reps.append(np.mean(diffs))
    assert got.estimate == pytest.approx(
        np.mean([_brute_auroc(a[r], err[r]) - _brute_auroc(b[r], err[r]) for r in range(2)])
    )
    assert (got.low, got.high) == pytest.approx(tuple(np.quantile(reps, [0.025, 0.975])))


def test_t_part_is_the_t_interval_when_images_do_not_vary():
    # every image gives a seed the same value: only the seeds vary, and the interval is the
    # t interval over the seed means with n_seeds - 1 degrees of freedom
    seed_means = np.array([0.2, 0.35, 0.3, 0.5])
    y = np.repeat(seed_means[:, None], 50, axis=1)
    got = iv.model_mean_interval(y, rng=np.random.default_rng(0), n_boot=200)
    ref = iv.t_interval(seed_means)
    assert (got.low, got.high) == pytest.approx((ref.low, ref.high), abs=1e-12)


def test_constant_outcomes_get_wilson_on_the_distinct_images():
    got = iv.zoo_mean_interval(np.zeros((8, 3, 1000)), rng=np.random.default_rng(0))
    ref = sps.binomtest(0, 1000).proportion_ci(method="wilson")
    assert (got.estimate, got.low, got.high) == pytest.approx((0.0, 0.0, ref.high))
    assert "1000 distinct images" in got.method


def test_inputs_are_checked_with_their_cause():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="one row per run"):
        iv.model_mean_interval(np.zeros(5), rng=rng)
    with pytest.raises(ValueError, match="single unit"):
        iv.model_mean_interval(np.ones((1, 5)) * [0, 1, 0, 1, 1], rng=rng)
    with pytest.raises(ValueError, match="same test images"):
        iv.zoo_mean_interval([np.zeros((3, 5)), np.zeros((3, 6))], rng=rng)
    with pytest.raises(TypeError, match="Generator"):
        iv.model_mean_interval(np.zeros((3, 5)), rng=0)
    with pytest.raises(ValueError, match="no error or no correct"):
        iv.model_auroc_difference_interval(
            np.zeros((2, 4)), np.zeros((2, 4)), np.zeros((2, 4)), rng=rng
        )


# ---------------------------------------------------------------------------------------------
# coverage on data with the workflow's structure

N_SIMS = 300
BAND = (0.90, 0.99)  # a method with 95 % coverage lands here with probability > 0.999


def _coverage(simulate, truth, method, n_sims=N_SIMS, seed=0):
    rng = np.random.default_rng(seed)
    with threadpool_limits(1):
        return np.mean([method(simulate(rng), rng).covers(truth) for _ in range(n_sims)])


def test_the_band_is_the_binomial_one():
    assert sps.binom.cdf(BAND[0] * N_SIMS - 1, N_SIMS, 0.95) < 1e-3
    assert sps.binom.sf(BAND[1] * N_SIMS, N_SIMS, 0.95) < 1e-3
    assert coverage.binomial_band(N_SIMS) == pytest.approx((0.923, 0.973), abs=0.004)


SEEDS_MATTER = sim.CrossedDesign(n_models=1, n_seeds=3, n_images=200, sd_seed=0.4)


def test_model_fraction_interval_covers_and_pooled_wilson_does_not():
    def simulate(r):
        return sim.simulate_outcomes(r, SEEDS_MATTER, np.zeros(1))[0]

    truth = sim.true_model_mean(SEEDS_MATTER, 0.0)
    two_way = _coverage(simulate, truth, lambda d, r: iv.model_mean_interval(d, rng=r, n_boot=300))
    assert BAND[0] <= two_way <= BAND[1], two_way
    naive = _coverage(simulate, truth, lambda d, r: coverage._pooled_wilson(d, r))
    assert naive < 0.7, naive  # runs sharing images and a model are not independent trials


def test_zoo_fraction_interval_covers():
    design = sim.CrossedDesign(n_models=8, n_seeds=3, n_images=200)
    got = _coverage(
        lambda r: sim.simulate_outcomes(r, design),
        sim.true_zoo_mean(design),
        lambda d, r: iv.zoo_mean_interval(d, rng=r, n_boot=300),
    )
    assert BAND[0] <= got <= BAND[1], got


def test_paired_auroc_difference_interval_covers():
    design = sim.CrossedDesign(n_models=1, n_seeds=3, n_images=200, sd_run_signal=0.5)
    truth, mc_se = sim.true_auroc_difference(np.random.default_rng(11), design, 0.0)
    got = _coverage(
        lambda r: sim.simulate_auroc_runs(r, design, np.zeros(1)),
        truth,
        lambda d, r: iv.model_auroc_difference_interval(
            d[0][0], d[1][0], d[2][0], rng=r, n_boot=200
        ),
    )
    assert mc_se < 0.005
    assert BAND[0] <= got <= BAND[1], got


def test_model_level_t_and_bca_intervals_cover():
    t_cov = _coverage(lambda r: r.normal(0.0, 1.0, 8), 0.0, lambda d, r: iv.t_interval(d))
    assert BAND[0] <= t_cov <= BAND[1], t_cov
    bca = _coverage(
        lambda r: r.lognormal(0.0, 0.5, 24),
        math.exp(0.125),
        lambda d, r: iv.bca_interval((d,), np.mean, rng=r, n_resamples=500),
        n_sims=200,
    )
    assert 0.88 <= bca <= 0.99, bca  # 200 simulations: band 0.88-0.99


# ---------------------------------------------------------------------------------------------
# trend tests


def _brute_jt_p(groups, alternative):
    x = np.concatenate(groups)
    sizes = [len(g) for g in groups]
    cuts = np.cumsum(sizes)[:-1]

    def j(values):
        parts = np.split(values, cuts)
        return sum(
            ((p[:, None] < q[None, :]) + 0.5 * (p[:, None] == q[None, :])).sum()
            for i, p in enumerate(parts)
            for q in parts[i + 1 :]
        )

    null = np.array([j(x[list(perm)]) for perm in itertools.permutations(range(x.size))])
    obs = j(x)
    if alternative == "increasing":
        return np.mean(null >= obs - 1e-9), null
    if alternative == "decreasing":
        return np.mean(null <= obs + 1e-9), null
    mid = null.mean()
    return np.mean(np.abs(null - mid) >= abs(obs - mid) - 1e-9), null


@pytest.mark.parametrize("alternative", ["increasing", "decreasing", "two-sided"])
def test_jonckheere_exact_p_matches_all_permutations(alternative):
    groups = [[5.0, 6.0], [6.0, 7.0, 6.0], [7.0, 9.0]]  # ties, as whole-number dimensions
    got = trend.jonckheere_terpstra(groups, alternative=alternative, method="exact")
    ref, null = _brute_jt_p(groups, alternative)
    assert got.p_value == pytest.approx(ref, abs=1e-12)
    mean, var = trend.jt_null_moments([2, 3, 2], np.concatenate(groups))
    assert (mean, var) == pytest.approx((null.mean(), null.var()), rel=1e-12)
    perm = trend.jonckheere_terpstra(
        groups, alternative=alternative, method="permutation", rng=np.random.default_rng(0)
    )
    assert perm.p_value == pytest.approx(ref, abs=0.015)


def test_page_matches_scipy_and_brute_force():
    data = np.random.default_rng(6).random((4, 4))
    for method, ref_method in (("exact", "exact"), ("normal", "asymptotic")):
        got = trend.page_trend(data, method=method)
        ref = sps.page_trend_test(data, method=ref_method)
        assert got.statistic == ref.statistic
        assert got.p_value == pytest.approx(ref.pvalue, abs=1e-12)
    tied = np.array([[1.0, 1.0, 2.0], [3.0, 1.0, 2.0], [2.0, 2.0, 2.5]])
    ranks = sps.rankdata(tied, axis=1)
    w = np.arange(1, 4)
    null = [
        sum((ranks[b][list(p)] * w).sum() for b, p in enumerate(ps))
        for ps in itertools.product(itertools.permutations(range(3)), repeat=3)
    ]
    got = trend.page_trend(tied)
    assert got.p_value == pytest.approx(np.mean(np.array(null) >= got.statistic - 1e-9))


def test_stratified_test_permutes_within_levers():
    # every lever rises, but the levers sit at very different levels: pooled they would
    # look unordered, within levers they are not
    levers = [[[1.0], [2.0], [3.0], [4.0]], [[20.0], [21.0], [23.0]], [[10.5], [10.0], [12.0]]]
    exact = trend.stratified_trend_test(levers, alternative="increasing", method="exact")
    z_l = [
        (j.statistic - m) / math.sqrt(v)
        for j, (m, v) in (
            (
                trend.jonckheere_terpstra(g, method="normal"),
                trend.jt_null_moments([1] * len(g), np.concatenate(g)),
            )
            for g in levers
        )
    ]
    assert exact.statistic == pytest.approx(sum(z_l) / math.sqrt(3))
    brute = []
    for perms in itertools.product(*(itertools.permutations(np.concatenate(g)) for g in levers)):
        brute.append(
            sum((trend.jonckheere_terpstra([[v] for v in p], method="normal").z) for p in perms)
            / math.sqrt(3)
        )
    assert exact.p_value == pytest.approx(np.mean(np.array(brute) >= exact.statistic - 1e-9))
    assert exact.p_value < 0.01
    perm = trend.stratified_trend_test(
        levers, alternative="increasing", method="permutation", rng=np.random.default_rng(1)
    )
    assert perm.p_value == pytest.approx(exact.p_value, abs=0.005)
    vectorised_z, vectorised_p = power.stratified_jt_permutation(
        [(np.arange(len(g)), np.concatenate(g)[None, :]) for g in levers],
        np.random.default_rng(2),
        20000,
    )
    assert vectorised_z[0] == pytest.approx(exact.statistic)
    two_sided = trend.stratified_trend_test(levers, method="exact")
    assert vectorised_p[0] == pytest.approx(two_sided.p_value, abs=0.004)


# ---------------------------------------------------------------------------------------------
# power


def test_spearman_permutation_matches_scipy():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(2, 3, 7))
    y[0] = -x[0] + 0.5 * y[0]
    rho, p = power.spearman_permutation(x, y, np.random.default_rng(0), 20000)
    for i in range(3):
        rx = sps.rankdata(x[i]) - 4.0

        def rho_of(v, axis=-1, rx=rx):  # Spearman of (x[i], v), vectorised over permutations
            rv = sps.rankdata(v, axis=axis) - 4.0
            return (rx * rv).sum(axis=axis) / np.sqrt((rx * rx).sum() * (rv * rv).sum(axis=axis))

        ref = sps.permutation_test(
            (y[i],), rho_of, permutation_type="pairings", vectorized=True
        )  # exact: 7! orderings
        assert rho[i] == pytest.approx(sps.spearmanr(x[i], y[i]).statistic)
        assert p[i] == pytest.approx(ref.pvalue, abs=0.006)


def test_simulated_models_have_the_asked_rank_correlation():
    noise = power.Noise(sd_seed_accuracy=1e-9, sd_seed_dimension=1e-9)
    acc, dim = power.simulate_zoo(
        np.random.default_rng(0), 1, 200_000, 1, -0.6, noise, integer_dimension=False
    )
    assert sps.spearmanr(acc[0], dim[0]).statistic == pytest.approx(-0.6, abs=0.005)


def test_power_holds_its_level_and_grows_with_models():
    noise = power.Noise()
    sim = power.Simulation(np.random.default_rng(0), 400, 400)
    null = power.zoo_power(sim, 12, 3, 0.0, noise)
    assert null <= 0.05  # half of the two-sided 5 %: rho < 0 and p < 0.05
    small = power.zoo_power(sim, 8, 3, -0.6, noise)
    large = power.zoo_power(sim, 24, 3, -0.6, noise)
    assert 0.2 <= small <= 0.42 and 0.77 <= large <= 0.93, (small, large)
    means, runs = power.trend_power(sim, 8, 3, 0.0, 0.5, noise)
    assert means <= 0.08 < runs  # seeds of one model are not independent observations
