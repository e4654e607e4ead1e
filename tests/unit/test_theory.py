"""Tests for the theory branch's formulas, samplers and estimators against independent truths.

Truths used: exact binomial sums in integer arithmetic (Wendel); closed-form orthant
probabilities of equicorrelated Gaussians (n = 2, 3) and Genz's algorithm (larger n);
exchangeability (g_n(1) = 1/(n+1); in 1-D a new sample is an extreme of N+1 with probability
2/(N+1); Efron's identity P(new sample outside) = E[#vertices of N+1 samples]/(N+1), counted
with Qhull); Monte Carlo with a Qhull facet or LP oracle; and the exact finite-sample
moments of Gaussian least squares (inverse Wishart, random projections).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, spatial, stats

from neuralhull.theory import double_descent, formulas, hull_probability, samplers

# ---------------------------------------------------------------------------------------------
# Independent hull oracles (tests only)
# ---------------------------------------------------------------------------------------------


def lp_in_hull(points: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Feasibility LP: lambda >= 0, sum lambda = 1, points^T lambda = q (scipy linprog)."""
    n = points.shape[0]
    A_eq = np.vstack([points.T, np.ones((1, n))])
    inside = np.empty(len(queries), dtype=bool)
    for i, q in enumerate(queries):
        res = optimize.linprog(
            np.zeros(n), A_eq=A_eq, b_eq=np.append(q, 1.0), bounds=(0, None), method="highs"
        )
        if res.status == 0:
            inside[i] = True
        elif res.status == 2:
            inside[i] = False
        else:
            raise RuntimeError(f"linprog could not decide: {res.message}")
    return inside


def qhull_in_hull(points: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Qhull facets: a query is in the hull iff it satisfies every facet inequality."""
    equations = spatial.ConvexHull(points).equations  # (f, d + 1): normal . x + offset <= 0
    return (queries @ equations[:, :-1].T + equations[:, -1]).max(axis=1) <= 1e-12


def within_3se(estimate: float, stderr: float, truth: float) -> bool:
    return abs(estimate - truth) <= 3.0 * stderr


# ---------------------------------------------------------------------------------------------
# Wendel
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("N", [1, 2, 3, 7, 20, 61])
@pytest.mark.parametrize("d", [1, 2, 3, 5, 10])
def test_wendel_equals_exact_integer_sum(N, d):
    exact = sum(math.comb(N - 1, k) for k in range(min(d, N))) / 2 ** (N - 1)
    assert formulas.wendel_outside_probability(N, d) == pytest.approx(exact, rel=1e-12)


def test_wendel_large_N_matches_binomial_cdf_and_low_dimensions():
    # d = 1: 2^-(N-1); d = 2: N 2^-(N-1); and the binomial CDF for a large case.
    assert formulas.wendel_outside_probability(40, 1) == pytest.approx(2.0**-39, rel=1e-12)
    assert formulas.wendel_outside_probability(40, 2) == pytest.approx(40 * 2.0**-39, rel=1e-12)
    assert formulas.wendel_outside_probability(5000, 2400) == pytest.approx(
        stats.binom.cdf(2399, 4999, 0.5), rel=1e-9
    )


# ---------------------------------------------------------------------------------------------
# g_n(r)
# ---------------------------------------------------------------------------------------------


def orthant_closed_form(n: int, rho: float) -> float:
    """P(Y_1..Y_n <= 0) for equicorrelated standard Gaussians, n = 1, 2, 3."""
    return {
        1: 0.5,
        2: 0.25 + np.arcsin(rho) / (2 * np.pi),
        3: 0.125 + 3 * np.arcsin(rho) / (4 * np.pi),
    }[n]


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("r", [-0.3, -0.1, -1e-4, 0.05, 0.5, 1.0, 4.0])
def test_kz_g_is_orthant_probability_closed_forms(n, r):
    if n * r <= -1:
        pytest.skip("outside the domain")
    rho = r / (1 + r)
    assert formulas.kz_g(n, r) == pytest.approx(orthant_closed_form(n, rho), abs=1e-12)


@pytest.mark.parametrize("n", [4, 5, 7])
@pytest.mark.parametrize("s", [0.3, 1.0, 3.0])
def test_kz_g_negative_matches_genz(n, s):
    r = -(s**2) / (1 + n * s**2)
    rho = r / (1 + r)
    cov = np.full((n, n), rho) + (1 - rho) * np.eye(n)
    mvn = stats.multivariate_normal(np.zeros(n), cov, abseps=1e-9, releps=1e-7, maxpts=2_000_000)
    reference = mvn.cdf(np.zeros(n), rng=np.random.default_rng(0))
    value, error = formulas.kz_g(n, r, return_error=True)
    assert error < 1e-12
    assert value == pytest.approx(reference, abs=3e-8, rel=1e-4)


def test_kz_g_negative_is_continuous_at_zero():
    for n in [2, 5, 8]:
        assert formulas.kz_g(n, -1e-9) == pytest.approx(2.0**-n, rel=1e-6)


@pytest.mark.parametrize("n", [1, 10, 1000, 100_000])
def test_kz_g_at_one_is_exchangeability(n):
    # g_n(1) = P(Z_1..Z_n <= X) = P(X is the largest of n+1 i.i.d.) = 1/(n+1).
    assert formulas.kz_g(n, 1.0) == pytest.approx(1.0 / (n + 1), rel=1e-9)


def test_kz_g_rejects_outside_domain():
    with pytest.raises(ValueError, match="r > -1/n"):
        formulas.kz_g(4, -0.25)


# ---------------------------------------------------------------------------------------------
# Kabluchko-Zaporozhets
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 2, 3, 4, 6, 8, 12])
def test_kz_at_zero_is_wendel(d):
    for N in [d + 1, d + 2, 2 * d + 3, 50, 300, 2000]:
        w = formulas.wendel_outside_probability(N, d)
        assert formulas.kz_outside_probability(N, d, 0.0) == pytest.approx(w, rel=1e-9)
        # and the quadrature paths are continuous as s -> 0
        assert formulas.kz_outside_probability(N, d, 1e-7) == pytest.approx(w, rel=1e-4)


@pytest.mark.parametrize("N", [2, 5, 50, 1000, 10_000])
def test_kz_one_dimension_new_sample(N):
    # In 1-D, x ~ same law is outside [min, max] iff it is an extreme of N+1: 2/(N+1).
    assert formulas.kz_outside_probability(N, 1, 1.0) == pytest.approx(2.0 / (N + 1), rel=1e-9)


@pytest.mark.parametrize("N", [3, 30, 300])
@pytest.mark.parametrize("s", [0.4, 2.5])
def test_kz_one_dimension_general_scale(N, s):
    # P(sZ > max) + P(sZ < min) = 2 Int f_max(m) P(sZ > m) dm, f_max = N Phi^(N-1) phi.
    def integrand(m):
        return N * stats.norm.cdf(m) ** (N - 1) * stats.norm.pdf(m) * stats.norm.sf(m / s)

    truth = 2 * integrate.quad(integrand, -12, 12, limit=200, epsabs=1e-13)[0]
    assert formulas.kz_outside_probability(N, 1, s) == pytest.approx(truth, rel=1e-8)


@pytest.mark.parametrize(("N", "d"), [(12, 2), (30, 2), (15, 3), (40, 3), (25, 4)])
def test_kz_new_sample_matches_efron_vertex_count(N, d):
    # Efron: P(X_{N+1} outside conv(X_1..X_N)) = E[f_0(conv(X_1..X_{N+1}))] / (N+1).
    rng = np.random.default_rng([N, d])
    reps = 3000
    fractions = np.array(
        [
            len(spatial.ConvexHull(rng.standard_normal((N + 1, d))).vertices) / (N + 1)
            for _ in range(reps)
        ]
    )
    estimate, stderr = fractions.mean(), fractions.std(ddof=1) / np.sqrt(reps)
    assert within_3se(estimate, stderr, formulas.kz_outside_probability(N, d, 1.0))


@pytest.mark.parametrize("s", [0.0, 0.5, 1.0, 2.0])
@pytest.mark.parametrize("d", [2, 3, 5, 8])
def test_kz_decreases_with_N(s, d):
    # (Wendel at s = 0 underflows below 1e-308 beyond N ~ 1000 in low d)
    sizes = [d + 1, d + 3, 20, 60, 200, 1000] + ([5000, 20_000] if s > 0 else [])
    values = [formulas.kz_outside_probability(N, d, s) for N in sizes]
    assert all(b < a for a, b in zip(values, values[1:], strict=False))
    assert all(0 < v <= 1 for v in values)


def test_kz_below_d_plus_one_is_one():
    assert formulas.kz_outside_probability(3, 3, 1.0) == 1.0
    assert formulas.wendel_outside_probability(3, 3) == 1.0


def test_kz_reports_instead_of_guessing_when_cancellation_is_too_large():
    with pytest.warns(RuntimeWarning, match="error bound"):
        value = formulas.kz_outside_probability(40, 20, 5.0, rtol=1e-30)
    assert np.isnan(value)


def test_kz_rejects_bad_input():
    with pytest.raises(ValueError, match="s must be"):
        formulas.kz_outside_probability(10, 2, -1.0)
    with pytest.raises(ValueError, match="N must be"):
        formulas.kz_outside_probability(0, 2, 1.0)
    with pytest.raises(ValueError, match="d must be an integer"):
        formulas.kz_outside_probability(10, 2.0, 1.0)


# ---------------------------------------------------------------------------------------------
# Samplers
# ---------------------------------------------------------------------------------------------


def test_curve_is_full_dimensional_and_prefix_consistent():
    x8 = samplers.curve_samples(500, 8, np.random.default_rng(5))
    x5 = samplers.curve_samples(500, 5, np.random.default_rng(5))
    np.testing.assert_array_equal(x8[:, :5], x5)
    assert np.all(np.abs(x8) <= 1.0)
    # the affine hull of a curve of distinct-frequency cosines is all of R^8
    assert np.linalg.matrix_rank(x8 - x8.mean(axis=0), tol=1e-8) == 8


def test_low_rank_gaussian_spans_rank_dimensions():
    x = samplers.low_rank_gaussian_samples(300, 9, np.random.default_rng(0), rank=4, map_seed=3)
    s = np.linalg.svd(x, compute_uv=False)
    assert s[3] > 1e-6 * s[0] and s[4] < 1e-10 * s[0]
    y = samplers.low_rank_gaussian_samples(300, 3, np.random.default_rng(0))
    assert np.linalg.matrix_rank(y) == 3


# ---------------------------------------------------------------------------------------------
# Monte Carlo
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("N", "d", "s"), [(15, 3, 1.0), (8, 2, 0.5), (30, 4, 1.0), (20, 3, 1.7)])
def test_mc_gaussian_matches_kz(N, d, s):
    p, se = hull_probability.hull_probability_mc(
        "gaussian",
        N,
        d,
        3000,
        np.random.default_rng(N * d),
        query_scale=s,
        membership=qhull_in_hull,
    )
    assert se > 0
    assert within_3se(p, se, 1.0 - formulas.kz_outside_probability(N, d, s))


@pytest.mark.parametrize(("N", "d"), [(8, 3), (12, 5)])
def test_mc_origin_matches_wendel(N, d):
    p, se = hull_probability.hull_probability_mc(
        "gaussian",
        N,
        d,
        3000,
        np.random.default_rng(7),
        query_scale=0.0,
        membership=qhull_in_hull,
    )
    assert within_3se(p, se, 1.0 - formulas.wendel_outside_probability(N, d))


def test_mc_several_queries_per_set_cluster_stderr():
    # Same target probability; the cluster standard error must cover the truth too.
    N, d = 20, 3
    p, se = hull_probability.hull_probability_mc(
        "gaussian",
        N,
        d,
        800,
        np.random.default_rng(11),
        queries_per_set=8,
        membership=qhull_in_hull,
    )
    assert within_3se(p, se, 1.0 - formulas.kz_outside_probability(N, d, 1.0))


def test_mc_low_rank_independent_of_d_and_equals_four_dimensional_kz():
    N = 30
    results = {
        d: hull_probability.hull_probability_mc(
            "low-rank-gaussian", N, d, 600, np.random.default_rng(d), membership=lp_in_hull
        )
        for d in (5, 8)
    }
    (p5, se5), (p8, se8) = results[5], results[8]
    assert abs(p5 - p8) <= 3 * np.hypot(se5, se8)
    truth = hull_probability.inside_probability_theory("low-rank-gaussian", N, 8)
    assert truth == pytest.approx(1 - formulas.kz_outside_probability(N, 4, 1.0))
    for p, se in results.values():
        assert within_3se(p, se, truth)


def test_mc_curve_probability_falls_with_dimension():
    # Balestriero et al.: intrinsic dimension 1 does not keep new samples inside the hull.
    p3, se3 = hull_probability.hull_probability_mc(
        "curve", 100, 3, 400, np.random.default_rng(0), membership=qhull_in_hull
    )
    p6, se6 = hull_probability.hull_probability_mc(
        "curve", 100, 6, 400, np.random.default_rng(1), membership=lp_in_hull
    )
    assert p3 - p6 > 3 * np.hypot(se3, se6)


def test_mc_with_library_hull_engine():
    pytest.importorskip("neuralhull.hull")
    N, d = 25, 3
    p, se = hull_probability.hull_probability_mc("gaussian", N, d, 1500, np.random.default_rng(3))
    assert within_3se(p, se, 1.0 - formulas.kz_outside_probability(N, d, 1.0))


def test_mc_rejects_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown sampler"):
        hull_probability.hull_probability_mc("uniform", 10, 2, 5, rng, membership=lp_in_hull)
    with pytest.raises(ValueError, match="trials"):
        hull_probability.hull_probability_mc("gaussian", 10, 2, 1, rng, membership=lp_in_hull)
    with pytest.raises(ValueError, match="sampler returned shape"):
        hull_probability.hull_probability_mc(
            lambda n, d, rng: np.zeros((n, d + 1)), 10, 2, 5, rng, membership=lp_in_hull
        )


def test_inside_probability_theory_kinds():
    assert np.isnan(hull_probability.inside_probability_theory("curve", 100, 3))
    assert hull_probability.inside_probability_theory("curve", 100, 1) == pytest.approx(99 / 101)
    assert hull_probability.inside_probability_theory("gaussian", 100, 1) == pytest.approx(
        1 - 2 / 101
    )
    with pytest.raises(ValueError, match="unknown sample kind"):
        hull_probability.inside_probability_theory("swiss-roll", 10, 3)


# ---------------------------------------------------------------------------------------------
# Ridgeless least squares
# ---------------------------------------------------------------------------------------------


def test_ridgeless_theory_values():
    g = np.array([0.5, 1.0, 2.0, 4.0])
    risk = formulas.ridgeless_risk_theory(g, r2=3.0, sigma2=2.0)
    np.testing.assert_allclose(risk, [2.0, np.inf, 3 * 0.5 + 2.0, 3 * 0.75 + 2 / 3])
    assert formulas.ridgeless_risk_theory(0.25, 1.0, 1.0) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="gamma"):
        formulas.ridgeless_risk_theory([0.5, -1.0], 1.0, 1.0)


def exact_finite_n_risk(n: int, p: int, r2: float, sigma2: float) -> float:
    """E||beta_hat - beta||^2 for Gaussian X exactly (inverse Wishart, random projection)."""
    if p < n:  # E tr (X^T X)^-1 = p / (n - p - 1)
        return sigma2 * p / (n - p - 1)
    # bias: beta's component outside the n-dim row space, E = r2 (p - n) / p;
    # variance: E tr (X X^T)^-1 = n / (p - n - 1)
    return r2 * (p - n) / p + sigma2 * n / (p - n - 1)


@pytest.mark.parametrize(
    ("gamma", "r2", "sigma2"),
    [
        (0.3, 1.0, 1.0),
        (0.5, 1.0, 1.0),
        (2.0, 1.0, 1.0),
        (4.0, 1.0, 1.0),
        (0.5, 5.0, 0.5),
        (2.0, 5.0, 0.5),
    ],
)
def test_ridgeless_simulation_matches_theory(gamma, r2, sigma2):
    n = 400
    p = round(gamma * n)
    # The under-parametrised risk (trace of an inverse Wishart) is skewed: more seeds there,
    # where each fit is cheap.
    seeds = 24 if gamma < 1 else 6
    risks = np.array(
        [
            double_descent.ridgeless_risk_simulation(n, p, r2, sigma2, np.random.default_rng(seed))
            for seed in range(seeds)
        ]
    )
    mean, se = risks.mean(), risks.std(ddof=1) / np.sqrt(seeds)
    exact = exact_finite_n_risk(n, p, r2, sigma2)
    assert abs(mean - exact) <= 3 * se + 1e-3 * exact
    asymptotic = formulas.ridgeless_risk_theory(gamma, r2, sigma2)
    assert abs(mean - asymptotic) <= 3 * se + 0.02 * asymptotic


def test_relu_features_show_double_descent_peak():
    n = 200
    rng_seeds = range(3)

    def mean_risk(gamma):
        return np.mean(
            [
                double_descent.ridgeless_risk_simulation(
                    n,
                    round(gamma * n),
                    1.0,
                    0.25,
                    np.random.default_rng(s),
                    features="relu",
                    n_test=500,
                )
                for s in rng_seeds
            ]
        )

    peak = mean_risk(1.0)
    assert peak > 5 * mean_risk(0.3) and peak > 5 * mean_risk(4.0)


def test_double_descent_table_layout():
    table = double_descent.double_descent_table(60, [0.5, 2.0], [1.0, 4.0], [0, 1], n_test=100)
    assert isinstance(table, pd.DataFrame)
    assert len(table) == 2 * 2 * 2 * 2
    expected = {
        "model",
        "gamma",
        "snr",
        "r2",
        "sigma2",
        "seed",
        "risk",
        "theory",
        "theory_finite_n",
    }
    assert expected <= set(table.columns)
    iso = table[table.model == "isotropic"].set_index(["gamma", "snr", "seed"])
    # sigma2 = 1, r2 = snr: gamma 0.5 -> 1; gamma 2 -> snr / 2 + 1
    assert iso.loc[(0.5, 4.0, 0), "theory"] == pytest.approx(1.0)
    assert iso.loc[(2.0, 4.0, 1), "theory"] == pytest.approx(3.0)
    assert iso.loc[(2.0, 1.0, 0), "theory"] == pytest.approx(1.5)
    relu = table[table.model == "relu"]
    assert relu.theory.to_numpy() == pytest.approx(
        [
            formulas.relu_features_risk_theory(g, 15 / 60, r2, 1.0)
            for g, r2 in zip(relu.gamma, relu.r2, strict=True)
        ]
    )
    assert (relu.n_latent == 15).all() and table[table.model == "isotropic"].n_latent.isna().all()
    assert relu.theory_finite_n.isna().all()
    for row in table[table.model == "isotropic"].itertuples():
        assert row.theory_finite_n == pytest.approx(
            exact_finite_n_risk(row.n, row.p, row.r2, row.sigma2), rel=1e-12
        )
    assert np.all(np.isfinite(table.risk)) and np.all(table.risk >= 0)
    with pytest.raises(ValueError, match="unknown model"):
        double_descent.double_descent_table(10, [0.5], [1.0], [0], models=["lasso"])


def test_finite_n_risk_is_the_inverse_wishart_moment_and_tends_to_the_limit():
    for n, p, r2, sigma2 in [
        (50, 10, 1.0, 1.0),
        (50, 48, 2.0, 0.5),
        (50, 52, 2.0, 0.5),
        (50, 400, 3.0, 1.0),
        (7, 1, 0.0, 2.0),
        (3, 200, 1.0, 0.0),
    ]:
        assert formulas.ridgeless_risk_finite_n(n, p, r2, sigma2) == pytest.approx(
            exact_finite_n_risk(n, p, r2, sigma2), rel=1e-12
        )
    # no mean for n - 1 <= p <= n + 1: the expected risk diverges
    for p in (49, 50, 51):
        assert formulas.ridgeless_risk_finite_n(50, p, 1.0, 1.0) == np.inf
    # n, p -> inf at fixed gamma: Hastie et al.'s asymptotic risk
    n = 10**6
    for gamma in (0.3, 0.8, 1.25, 4.0):
        finite = formulas.ridgeless_risk_finite_n(n, round(gamma * n), 2.0, 1.0)
        assert finite == pytest.approx(formulas.ridgeless_risk_theory(gamma, 2.0, 1.0), rel=1e-4)
    with pytest.raises(ValueError, match="r2 must be finite and >= 0"):
        formulas.ridgeless_risk_finite_n(10, 3, -1.0, 1.0)
    with pytest.raises(ValueError, match="sigma2 must be finite and >= 0"):
        formulas.ridgeless_risk_finite_n(10, 3, 1.0, np.nan)


def test_double_descent_table_simulations_match_the_finite_n_column():
    # the exact finite-n expectation is what the simulated mean estimates: 3 SE, no slack,
    # including gammas near the threshold where the asymptotic risk is still far off
    n, seeds = 40, range(40)
    table = double_descent.double_descent_table(
        n, [0.25, 0.85, 1.2, 3.0], [1.0, 4.0], seeds, models=("isotropic",)
    )
    cells = table.groupby(["p", "snr"])
    assert cells.ngroups == 8
    for (p, snr), cell in cells:
        exact = formulas.ridgeless_risk_finite_n(n, int(p), snr, 1.0)
        assert np.isfinite(exact)
        assert (cell["theory_finite_n"] == exact).all()
        se = cell["risk"].std(ddof=1) / np.sqrt(len(cell))
        assert abs(cell["risk"].mean() - exact) <= 3 * se, (p, snr, cell["risk"].mean(), exact)


# ---------------------------------------------------------------------------------------------
# ReLU random features: the asymptotic risk
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ratio", [0.05, 0.3, 0.7, 1.0])
def test_marchenko_pastur_quadrature_has_the_law_s_moments(ratio):
    # E lambda^k of the unit-variance Marchenko-Pastur law are Narayana polynomials:
    # 1, 1, 1 + c, 1 + 3c + c^2, 1 + 6c + 6c^2 + c^3
    x, w = formulas._marchenko_pastur_nodes(ratio)
    c = ratio
    moments = [1.0, 1.0, 1 + c, 1 + 3 * c + c**2, 1 + 6 * c + 6 * c**2 + c**3]
    for k, expected in enumerate(moments):
        assert np.sum(w * x**k) == pytest.approx(expected, rel=1e-9)
    assert np.all(w > 0)


def test_relu_theory_without_a_linear_part_is_the_isotropic_risk_of_pure_noise():
    # mu1 = 0: the features are independent of the target, which then acts as noise of
    # variance r2 on top of sigma2, and is never learnt (approximation error r2)
    for gamma in (0.2, 0.6, 1.3, 2.5, 9.0):
        for psi in (0.1, 0.5, 2.0):
            got = formulas.relu_features_risk_theory(gamma, psi, 2.0, 0.5, mu1=0.0)
            assert got == pytest.approx(2.0 + formulas.ridgeless_risk_theory(gamma, 0.0, 2.5))


def _mei_montanari_ridgeless_risk(psi1, psi2, f1_sq, tau2, zeta):
    # Mei & Montanari (2019), Theorem 3: the lambda -> 0 limit of random-features ridge
    # regression, psi1 = N / d features, psi2 = n / d samples, zeta = mu1 / mu_star, a
    # linear target of norm F1 and noise tau^2: risk = F1^2 E1 / E0 + tau^2 E2 / E0. An
    # independent closed form (polynomials in chi), derived by a different route.
    psi, z = min(psi1, psi2), zeta
    chi = -(((psi - 1) * z**2 - 1) + np.sqrt(((psi - 1) * z**2 - 1) ** 2 + 4 * z**2 * psi))
    chi /= 2 * z**2
    e0 = (
        -(chi**5) * z**6
        + 3 * chi**4 * z**4
        + (psi1 * psi2 - psi2 - psi1 + 1) * chi**3 * z**6
        - 2 * chi**3 * z**4
        - 3 * chi**3 * z**2
        + (psi1 + psi2 - 3 * psi1 * psi2 + 1) * chi**2 * z**4
        + 2 * chi**2 * z**2
        + chi**2
        + 3 * psi1 * psi2 * chi * z**2
        - psi1 * psi2
    )
    e1 = psi2 * chi**3 * z**4 - psi2 * chi**2 * z**2 + psi1 * psi2 * chi * z**2 - psi1 * psi2
    e2 = (
        chi**5 * z**6
        - 3 * chi**4 * z**4
        + (psi1 - 1) * chi**3 * z**6
        + 2 * chi**3 * z**4
        + 3 * chi**3 * z**2
        - (psi1 + 1) * chi**2 * z**4
        - 2 * chi**2 * z**2
        - chi**2
    )
    return f1_sq * e1 / e0 + tau2 * e2 / e0


@pytest.mark.parametrize("psi", [0.1, 0.25, 1.0, 3.0])
def test_relu_theory_agrees_with_mei_montanari_closed_form(psi):
    # our model in their variables: psi1 = p / d = gamma / psi, psi2 = n / d = 1 / psi
    zeta = formulas.RELU_MU1 / np.sqrt(formulas.RELU_MU_STAR2)
    for gamma in (0.05, 0.2, 0.5, 0.9, 0.99, 1.01, 1.1, 2.0, 5.0, 20.0):
        for r2, sigma2 in ((5.0, 1.0), (1.0, 0.0), (0.0, 2.0)):
            expected = _mei_montanari_ridgeless_risk(gamma / psi, 1 / psi, r2, sigma2, zeta)
            got = formulas.relu_features_risk_theory(gamma, psi, r2, sigma2)
            assert got == pytest.approx(expected, rel=1e-9, abs=1e-12), (gamma, r2, sigma2)


def test_relu_theory_with_a_small_latent_dimension_learns_the_signal():
    # psi -> 0: d latent directions with huge eigenvalues are learnt exactly; what remains
    # is min-norm regression of pure noise on isotropic features
    for gamma in (0.3, 0.7, 1.5, 3.0):
        got = formulas.relu_features_risk_theory(gamma, 1e-6, 3.0, 1.0)
        assert got == pytest.approx(formulas.ridgeless_risk_theory(gamma, 0.0, 1.0), rel=1e-4)


def test_relu_theory_with_a_linear_activation_matches_linear_features_simulated():
    # mu_star = 0: x = W z, a linear Gaussian model of covariance W W^T (rank min(p, d)):
    # approximation error r2 (1 - p / d) below d, then rank d < n and pure variance. The
    # risk ||W^T beta_hat - theta||^2 is exact for each draw; 3 SE over 10 draws.
    for n, d, gammas in ((400, 200, (0.3, 0.45, 0.8, 2.0)), (200, 400, (1.5, 3.0))):
        _linear_features_check(n, d, gammas)


def _linear_features_check(n, d, gammas, r2=2.0):
    # d > p > n (psi = 2, gamma = 1.5): rank p > n, the fixed point with null directions
    for gamma in gammas:
        p = round(gamma * n)
        risks = []
        for seed in range(10):
            rng = np.random.default_rng([seed, p])
            theta = rng.standard_normal(d)
            theta *= np.sqrt(r2) / np.linalg.norm(theta)
            W = rng.standard_normal((p, d)) / np.sqrt(d)
            Z = rng.standard_normal((n, d))
            y = Z @ theta + rng.standard_normal(n)
            beta = np.linalg.lstsq(Z @ W.T, y, rcond=None)[0]
            risks.append(np.sum((W.T @ beta - theta) ** 2))
        mean, se = np.mean(risks), np.std(risks, ddof=1) / np.sqrt(len(risks))
        expected = formulas.relu_features_risk_theory(p / n, d / n, r2, 1.0, mu1=1.0, mu_star2=0.0)
        assert abs(mean - expected) <= 3 * se + 0.02 * expected, (gamma, mean, expected)


def test_relu_theory_spectrum_step_matches_a_drawn_weight_matrix():
    # the Marchenko-Pastur integrals against the same traces computed from the eigenvalues
    # of one large drawn W (the deterministic equivalent given W, solved directly)
    n, psi, r2, sigma2 = 2000, 0.25, 4.0, 1.0
    d = round(psi * n)
    mu1, ms2 = formulas.RELU_MU1, formulas.RELU_MU_STAR2
    rng = np.random.default_rng(3)
    for gamma in (0.15, 0.6, 1.7, 4.0):
        p = round(gamma * n)
        W = rng.standard_normal((p, d)) / np.sqrt(d)
        lam = np.clip(np.linalg.eigvalsh(W.T @ W), 0, None)[-min(p, d) :]
        s = np.concatenate([mu1**2 * lam + ms2, np.full(p - lam.size, ms2)])
        signal = np.concatenate(
            [r2 / d * mu1**2 * lam, np.zeros(p - lam.size)]
        )  # (theta_x)_j^2 s_j^2
        approx = r2 - np.sum(signal / s)
        noise = sigma2 + approx
        if p < n:
            direct = approx + noise * (p / n) / (1 - p / n)
        else:
            kappa = optimize.brentq(lambda k, s=s: np.sum(s / (s + k)) / n - 1, 1e-12, 1e6)
            d2 = np.sum((s / (s + kappa)) ** 2) / n
            bias = kappa**2 * np.sum(signal / (s * (s + kappa) ** 2)) / (1 - d2)
            direct = approx + bias + noise * d2 / (1 - d2)
        assert formulas.relu_features_risk_theory(gamma, psi, r2, sigma2) == pytest.approx(
            direct, rel=0.02
        )


@pytest.mark.slow  # simulates 8 data sets at n = 1,000 for 6 gammas
def test_relu_theory_matches_simulation_at_large_n():
    # at scale: n = 1,000, three gammas on each side of the threshold, the mean of
    # 8 simulated data sets within 3 standard errors of the formula
    n, snr, seeds = 1000, 5.0, range(8)
    table = double_descent.double_descent_table(
        n, [0.3, 0.5, 0.7, 1.5, 2.0, 3.0], [snr], seeds, models=("relu",), n_test=4000
    )
    for gamma, cell in table.groupby("gamma"):
        expected = formulas.relu_features_risk_theory(gamma, 0.25, snr, 1.0)
        assert (cell["theory"] == expected).all()
        se = cell["risk"].std(ddof=1) / np.sqrt(len(cell))
        assert abs(cell["risk"].mean() - expected) <= 3 * se, (gamma, cell["risk"].mean(), expected)


def test_relu_constants_are_relu_s_gaussian_moments():
    def moment(k):  # E[G^k relu(G)] for G ~ N(0, 1), by quadrature on the half line
        return integrate.quad(lambda x: x ** (k + 1) * stats.norm.pdf(x), 0, np.inf)[0]

    mu0, mu1 = moment(0), moment(1)
    second = integrate.quad(lambda x: x**2 * stats.norm.pdf(x), 0, np.inf)[0]  # E relu(G)^2
    assert formulas.RELU_MU0 == pytest.approx(mu0, rel=1e-10)
    assert formulas.RELU_MU1 == pytest.approx(mu1, rel=1e-10)
    assert formulas.RELU_MU_STAR2 == pytest.approx(second - mu0**2 - mu1**2, rel=1e-10)


def test_relu_theory_rejects_bad_input():
    with pytest.raises(ValueError, match="gamma"):
        formulas.relu_features_risk_theory(0.0, 0.25, 1.0, 1.0)
    with pytest.raises(ValueError, match="psi"):
        formulas.relu_features_risk_theory(2.0, -1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="constant"):
        formulas.relu_features_risk_theory(2.0, 0.25, 1.0, 1.0, mu1=0.0, mu_star2=0.0)
    assert formulas.relu_features_risk_theory(1.0, 0.25, 1.0, 1.0) == np.inf
