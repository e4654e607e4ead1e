"""Tests for the theory branch's experiments and figures against independent truths.

Truths used: pixel positions encoded in the pixel values (which pixels a crop keeps);
scipy.ndimage's Gaussian filter and interpolation (a second implementation of smoothing +
subsampling); symmetric kernels and linear interpolation reproduce affine signals; scikit-
learn's PCA (a second solver); points built on a known affine subspace; a scipy/HiGHS
feasibility LP as hull oracle; exchangeability in one dimension (a new sample is inside the
hull of N with probability (N - 1) / (N + 1)); the Kabluchko-Zaporozhets formula; invariance
of hull membership under an injective linear map (the low-rank Gaussian); scipy's binomial
test confidence interval (Wilson score); and a trivially learnable image task.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage, optimize

from neuralhull.theory import (
    double_descent,
    embedding,
    figures,
    formulas,
    hull_probability,
    real_dimension,
    samplers,
)
from neuralhull.theory.counts import affine_rank, hull_counts
from neuralhull.theory.hull_probability import (
    HullProbabilityGrid,
    SampleKind,
    hull_probability_table,
)
from neuralhull.theory.real_dimension import (
    centre_crop,
    grid_side,
    reduce_dimension,
    smooth_subsample,
    smoothing_matrix,
)
from neuralhull.theory.summary import collect_parts


def lp_in_hull(points: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Independent oracle: lambda >= 0, sum lambda = 1, points^T lambda = q (HiGHS via scipy)."""
    n = len(points)
    a_eq = np.vstack([points.T, np.ones((1, n))])
    inside = np.empty(len(queries), dtype=bool)
    for i, q in enumerate(queries):
        res = optimize.linprog(
            np.zeros(n), A_eq=a_eq, b_eq=np.append(q, 1.0), bounds=(0, None), method="highs"
        )
        assert res.status in (0, 2), res.message
        inside[i] = res.status == 0
    return inside


def lp_status(points: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """The LP oracle's answers as hull status codes (INSIDE 1, OUTSIDE 2)."""
    return np.where(lp_in_hull(points, queries), 1, 2)


def position_images(n: int, c: int, h: int, w: int) -> np.ndarray:
    """Images whose pixel (ch, r, col) holds the value ch * h * w + r * w + col."""
    one = np.arange(c * h * w).reshape(c, h, w)
    return np.broadcast_to(one, (n, c, h, w)).copy()


# ---------------------------------------------------------------------------------------------
# crops
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 4, 9, 16, 30, 100, 784])
def test_crop_keeps_a_centred_square_of_about_k_pixels(k):
    images = position_images(3, 1, 28, 28)
    side = grid_side(k, (1, 28, 28))
    crop = centre_crop(images, side)
    assert crop.shape == (3, 1, side, side)
    # the square with the closest number of pixels
    assert all(abs(side * side - k) <= abs(t * t - k) for t in range(1, 29))
    rows, cols = np.divmod(crop[0, 0], 28)
    # a contiguous square block of the image ...
    assert (rows == rows[:, :1]).all() and (cols == cols[:1]).all()
    np.testing.assert_array_equal(np.diff(rows[:, 0]), np.ones(side - 1))
    np.testing.assert_array_equal(np.diff(cols[0]), np.ones(side - 1))
    # ... whose centre is the image centre (13.5, 13.5) to within half a pixel
    assert abs(rows.mean() - 13.5) <= 0.5 and abs(cols.mean() - 13.5) <= 0.5
    # even margins leave it exactly centred
    if (28 - side) % 2 == 0:
        assert rows.mean() == 13.5 and cols.mean() == 13.5


def test_crop_of_colour_images_keeps_every_channel():
    images = position_images(2, 3, 32, 32)
    side = grid_side(48, (3, 32, 32))  # 48 values = 3 channels x 4 x 4
    assert side == 4
    crop = centre_crop(images, side)
    assert crop.shape == (2, 3, 4, 4)
    channels = crop[0] // (32 * 32)
    np.testing.assert_array_equal(channels[:, 0, 0], [0, 1, 2])


def test_crop_and_grid_reject_bad_sizes():
    images = position_images(1, 1, 8, 8)
    with pytest.raises(ValueError, match="exceeds"):
        centre_crop(images, 9)
    with pytest.raises(ValueError, match="target dimension k must be at least 1, got 0"):
        grid_side(0, (1, 8, 8))
    with pytest.raises(ValueError, match=r"\(n, C, H, W\)"):
        centre_crop(np.zeros((8, 8)), 2)


# ---------------------------------------------------------------------------------------------
# smoothing + subsampling
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size, side", [(28, 1), (28, 3), (28, 7), (28, 9), (28, 14), (8, 3)])
def test_smoothing_matrix_is_an_average_and_matches_scipy_ndimage(size, side):
    m = smoothing_matrix(size, side)
    assert m.shape == (side, size)
    assert (m >= 0).all()
    np.testing.assert_allclose(m.sum(1), 1.0, rtol=0, atol=1e-13)
    # second implementation: scipy's Gaussian filter (edge pixels repeated, truncated at
    # 4 sigma) then linear interpolation at the cell centres
    signal = np.random.default_rng(size * side).uniform(0, 255, size)
    factor = size / side
    sigma = max(0.0, (factor - 1) / 2)
    smoothed = ndimage.gaussian_filter1d(signal, sigma, mode="nearest") if sigma else signal
    positions = (np.arange(side) + 0.5) * factor - 0.5
    expected = ndimage.map_coordinates(smoothed, [positions], order=1, mode="nearest")
    np.testing.assert_allclose(m @ signal, expected, rtol=1e-12, atol=1e-10)


def test_smoothing_at_full_size_is_the_identity():
    np.testing.assert_allclose(smoothing_matrix(28, 28), np.eye(28), atol=0)


def test_smooth_subsample_of_a_constant_image_is_constant():
    images = np.full((4, 1, 28, 28), 137, dtype=np.uint8)
    for side in (1, 3, 9, 20):
        out = smooth_subsample(images, side)
        assert out.shape == (4, 1, side, side)
        np.testing.assert_allclose(out, 137.0, rtol=0, atol=1e-10)


def test_smooth_subsample_reproduces_a_linear_ramp_away_from_the_border():
    # a symmetric kernel and linear interpolation reproduce affine signals; the border
    # (edge pixels repeated) breaks that, so only samples 4 sigma from the border count
    h = w = 64
    ramp = (3.0 * np.arange(h)[:, None] + 2.0 * np.arange(w)[None, :])[None, None]
    side = 16
    out = smooth_subsample(ramp, side)[0, 0]
    factor = h / side
    sigma = (factor - 1) / 2
    pos = (np.arange(side) + 0.5) * factor - 0.5
    interior = (pos > 4 * sigma + 1) & (pos < h - 1 - 4 * sigma - 1)
    expected = 3.0 * pos[:, None] + 2.0 * pos[None, :]
    np.testing.assert_allclose(
        out[np.ix_(interior, interior)], expected[np.ix_(interior, interior)], rtol=1e-12
    )


# ---------------------------------------------------------------------------------------------
# reduce_dimension
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits_images():
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.round(digits.images * (255 / 16)).astype(np.uint8)[:, None]
    return images[:1200], images[1200:]


@pytest.mark.parametrize("k", [1, 5, 20])
def test_pca_dimension_and_variances_match_scikit_learn(digits_images, k):
    from sklearn.decomposition import PCA

    x_train, x_test = digits_images
    train, test = reduce_dimension("pca", x_train, x_test, k)
    assert train.shape == (len(x_train), k) and test.shape == (len(x_test), k)
    reference = PCA(n_components=k, svd_solver="full").fit(x_train.reshape(len(x_train), -1) / 255)
    np.testing.assert_allclose(train.var(0, ddof=1), reference.explained_variance_, rtol=1e-8)
    # the same subspace: projections agree up to the sign of each axis
    ref_test = reference.transform(x_test.reshape(len(x_test), -1) / 255)
    np.testing.assert_allclose(np.abs(test), np.abs(ref_test), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("method", ["crop", "smooth"])
@pytest.mark.parametrize("k", [1, 4, 9, 16, 64])
def test_pixel_methods_give_s_squared_dimensions(digits_images, method, k):
    x_train, x_test = digits_images
    train, test = reduce_dimension(method, x_train, x_test, k)
    side = grid_side(k, (1, 8, 8))
    assert train.shape == (len(x_train), side * side)
    assert test.shape == (len(x_test), side * side)
    assert train.min() >= 0 and train.max() <= 1  # pixel units x / 255, averages stay inside
    if method == "crop":
        direct = x_train[:, 0, (8 - side) // 2 :, (8 - side) // 2 :][:, :side, :side]
        np.testing.assert_array_equal(train, direct.reshape(len(x_train), -1) / 255)


@pytest.mark.parametrize("method", ["pca", "crop", "smooth"])
def test_a_sweep_of_dimensions_gives_each_k_what_it_gets_alone(digits_images, method):
    # the workflow reduces every k of a method in one job (axes found once): each k's
    # arrays must be bitwise those of the per-k computation (PCA: pca_project, which fits
    # the axes for that k alone)
    from neuralhull.spaces import flatten_images, pca_project

    x_train, x_test = digits_images
    ks = [2, 4, 9, 16, 64]
    swept = list(real_dimension.reduce_dimensions(method, x_train, x_test, ks))
    assert [k for k, _, _ in swept] == ks
    for k, train, test in swept:
        if method == "pca":
            alone = pca_project(flatten_images(x_train), flatten_images(x_test), k)
        else:
            side = grid_side(k, (1, 8, 8))
            alone = (
                (
                    flatten_images(centre_crop(x_train, side)),
                    flatten_images(centre_crop(x_test, side)),
                )
                if method == "crop"
                else tuple(
                    smooth_subsample(x, side).reshape(len(x), -1) / 255.0 for x in (x_train, x_test)
                )
            )
        np.testing.assert_array_equal(train, alone[0])
        np.testing.assert_array_equal(test, alone[1])
    # a bad size anywhere in the sweep is refused before any work
    with pytest.raises(ValueError, match="exceeds the image dimension 64"):
        real_dimension.reduce_dimensions(method, x_train, x_test, [2, 65])


def test_reduce_dimension_refuses_bad_input(digits_images):
    x_train, x_test = digits_images
    with pytest.raises(ValueError, match="exceeds the image dimension 64"):
        reduce_dimension("pca", x_train, x_test, 65)
    with pytest.raises(ValueError, match="unknown method"):
        reduce_dimension("fourier", x_train, x_test, 4)
    with pytest.raises(ValueError, match="differ in shape"):
        reduce_dimension("crop", x_train, x_test[:, :, :4], 4)


# ---------------------------------------------------------------------------------------------
# affine rank and hull counts
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("r, d", [(0, 3), (1, 3), (2, 5), (5, 5), (3, 40)])
def test_affine_rank_of_points_on_a_known_subspace(r, d):
    rng = np.random.default_rng(r * 100 + d)
    basis = np.linalg.qr(rng.standard_normal((d, d)))[0][:, :r]
    points = rng.standard_normal((60, r)) @ basis.T + rng.standard_normal(d)
    assert affine_rank(points) == r


def test_hull_counts_agree_with_an_independent_lp():
    rng = np.random.default_rng(3)
    train = rng.standard_normal((80, 4))
    queries = 1.3 * rng.standard_normal((40, 4))
    counts = hull_counts(train, queries)
    truth = lp_in_hull(train, queries)
    assert counts["queries"] == 40
    assert counts["undecided"] == 0
    assert counts["inside"] == truth.sum() and counts["outside"] == (~truth).sum()
    assert counts["fraction_inside"] == pytest.approx(truth.mean())
    assert 0 < truth.sum() < 40  # the test exercises both answers


def test_hull_counts_of_a_degenerate_training_set():
    # a flat training set in R^3: queries off its plane are outside, others decided by 2-D
    rng = np.random.default_rng(4)
    plane = np.c_[rng.uniform(-1, 1, (50, 2)), np.zeros(50)]
    queries = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.1], [5.0, 0.0, 0.0]])
    counts = hull_counts(plane, queries)
    assert (counts["inside"], counts["outside"], counts["undecided"]) == (1, 2, 0)


def test_hull_counts_checks_shapes():
    with pytest.raises(ValueError, match="share d"):
        hull_counts(np.zeros((5, 2)), np.zeros((3, 3)))


# ---------------------------------------------------------------------------------------------
# Monte-Carlo hull probabilities
# ---------------------------------------------------------------------------------------------


def _table(kind, dimensions, sizes, trials, seed, *, membership=None, progress=None, **settings):
    """hull_probability_table of one kind on one grid; ``settings``: the grid's
    ``queries_per_set``, the sampler's ``rank``, ``map_seed``, ``curve_seed``..."""
    grid_keys = {"queries_per_set", "tol"}
    grid = HullProbabilityGrid(
        dimensions, sizes, trials, seed, **{k: v for k, v in settings.items() if k in grid_keys}
    )
    samples = SampleKind(kind, **{k: v for k, v in settings.items() if k not in grid_keys})
    return hull_probability_table(samples, grid, membership=membership, progress=progress)


def test_gaussian_table_with_an_lp_oracle_matches_the_exact_formula():
    table = _table(
        "gaussian", [2, 3], [8, 30], trials=150, seed=1, queries_per_set=4, membership=lp_status
    )
    assert list(table.columns) == list(hull_probability.HULL_PROBABILITY_COLUMNS)
    assert len(table) == 4
    for row in table.itertuples():
        exact = 1.0 - formulas.kz_outside_probability(row.N, row.d, 1.0)
        assert row.theory == pytest.approx(exact, rel=1e-12)
        assert abs(row.p_inside - exact) <= 3 * row.stderr, row
        assert row.z == pytest.approx((row.p_inside - exact) / row.stderr)


@pytest.mark.parametrize("kind", ["gaussian", "curve", "low-rank-gaussian"])
def test_one_dimension_matches_exchangeability(kind):
    # in 1-D a new sample is inside the hull of N unless it is an extreme of the N + 1:
    # P(inside) = (N - 1) / (N + 1) for any continuous distribution (the curve included)
    # (rank 1: the low-rank Gaussian needs d >= rank, which it then maps into R^1)
    table = _table(kind, [1], [4, 19], trials=300, seed=2, queries_per_set=3, rank=1)
    assert len(table) == 2
    for row in table.itertuples():
        assert abs(row.p_inside - (row.N - 1) / (row.N + 1)) <= 3 * row.stderr, row
        # the table carries that exact value for every kind in d = 1, the curve included
        assert row.theory == pytest.approx((row.N - 1) / (row.N + 1), rel=1e-12)
        assert row.upper_bound == row.theory or kind != "curve"


def test_the_upper_bound_holds_for_the_exact_formula_and_the_curve():
    # (N - 1) / (N + 1) bounds the exact Gaussian probability in every dimension (an
    # independent formula: Kabluchko-Zaporozhets), with equality in d = 1 only
    for N in (2, 10, 100, 10_000):
        bound = formulas.inside_probability_bound(N)
        assert 1 - formulas.kz_outside_probability(N, 1, 1.0) == pytest.approx(bound, rel=1e-12)
        for d in (2, 3, 8):
            assert 1 - formulas.kz_outside_probability(N, d, 1.0) < bound
    # and the curve's Monte Carlo in d >= 2, where no closed form is known
    curve = _table("curve", [2, 3], [10, 200], trials=60, seed=1)
    assert curve["theory"].isna().all()
    assert (curve["p_inside"] <= curve["upper_bound"] + 3 * curve["stderr"]).all(), curve
    assert (curve["upper_bound"] == (curve["N"] - 1) / (curve["N"] + 1)).all()


def test_low_rank_theory_is_independent_of_d_and_curve_has_none():
    low = _table("low-rank-gaussian", [3, 6, 9], [40], trials=2, seed=0, rank=3)
    assert low["theory"].nunique() == 1
    assert low["theory"].iloc[0] == pytest.approx(1 - formulas.kz_outside_probability(40, 3, 1.0))
    curve = _table("curve", [2], [10], trials=2, seed=0)
    assert np.isnan(curve["theory"]).all() and np.isnan(curve["z"]).all()


def test_low_rank_cells_below_the_rank_are_skipped_and_logged():
    messages = []
    low = _table(
        "low-rank-gaussian", [2, 3, 5, 7], [20], trials=2, seed=0, rank=4, progress=messages.append
    )
    assert sorted(low["d"]) == [5, 7]
    assert "skipping d = 2, 3 (< rank 4)" in messages[0]
    # the other kinds keep every dimension
    assert sorted(_table("gaussian", [2, 3], [20], trials=2, seed=0)["d"]) == [
        2,
        3,
    ]
    with pytest.raises(ValueError, match="d >= rank 4"):
        _table("low-rank-gaussian", [2, 3], [20], trials=2, seed=0, rank=4)


@pytest.mark.slow  # an LP for each query of 150 trials in 12 cells
def test_low_rank_curve_does_not_move_with_d():
    # Balestriero et al. Fig. 1: a rank-r Gaussian mapped into R^d has one curve for every
    # d >= r, the KZ probability in dimension r. Every cell within 3 standard errors of it.
    rank, sizes = 2, [6, 15, 40]
    table = _table(
        "low-rank-gaussian",
        [1, 2, 3, 6],
        sizes,
        trials=150,
        seed=3,
        queries_per_set=4,
        rank=rank,
        map_seed=5,
        membership=lp_status,
    )
    assert sorted(table["d"].unique()) == [2, 3, 6]  # d = 1 < rank skipped
    for row in table.itertuples():
        truth = 1.0 - formulas.kz_outside_probability(row.N, rank, 1.0)
        assert row.theory == pytest.approx(truth, rel=1e-12)
        assert row.stderr > 0
        assert abs(row.p_inside - truth) <= 3 * row.stderr, row
    # and the curve of the full-rank Gaussian in R^3 differs from it (the test can fail)
    assert 1 - formulas.kz_outside_probability(15, 3, 1.0) < 0.8 * (
        1 - formulas.kz_outside_probability(15, rank, 1.0)
    )


def test_sampler_seeds_and_frequency_range_reach_the_samplers():
    # the curve's frequencies: a narrow range near w gives coordinates cos(w t + phi) whose
    # zero crossings are spaced pi / w apart; different seeds, different samples
    def table(**kw):
        return _table("curve", [3], [30], trials=3, seed=0, **kw)

    base = table(curve_seed=0)
    assert table(curve_seed=0)["p_inside"].equals(base["p_inside"])
    draws = [
        samplers.curve_samples(200, 3, np.random.default_rng(1), curve_seed=s, frequencies=f)
        for s, f in [(0, (4, 24)), (1, (4, 24)), (0, (1.0, 1.000001))]
    ]
    assert not np.allclose(draws[0], draws[1])
    t = np.random.default_rng(1).uniform(0, 2 * np.pi, 200)
    # frequency ~1: x_j = cos(t + phi_j), every coordinate a phase shift of cos t
    _, phases = samplers._curve_parameters(3, 0, (1.0, 1.000001))
    np.testing.assert_allclose(draws[2], np.cos(t[:, None] + phases), atol=1e-4)
    with pytest.raises(ValueError, match="low < high"):
        table(curve_frequencies=(5.0, 5.0))
    a = samplers.low_rank_gaussian_samples(10, 5, np.random.default_rng(0), rank=2, map_seed=0)
    b = samplers.low_rank_gaussian_samples(10, 5, np.random.default_rng(0), rank=2, map_seed=1)
    assert not np.allclose(a, b)
    with pytest.raises(ValueError, match="map_seed"):
        _table("low-rank-gaussian", [3], [10], 2, 0, rank=2, map_seed=-1)


def test_outlier_count_counts_finite_z_only():
    table = pd.DataFrame({"z": [0.5, -3.2, np.nan, 3.0, 4.1, np.inf]})
    assert hull_probability.hull_probability_outliers(table) == (2, 4)
    assert hull_probability.hull_probability_outliers(table, threshold=0.4) == (4, 4)


@pytest.mark.parametrize(("x", "n"), [(0, 10), (3, 10), (10, 10), (57, 500), (1, 1)])
def test_wilson_interval_matches_scipy(x, n):
    from scipy import stats

    from neuralhull.stats.intervals import wilson_interval

    expected = stats.binomtest(x, n).proportion_ci(0.95, method="wilson")
    low, high = wilson_interval(x, n)
    assert low == pytest.approx(expected.low, abs=1e-12)
    assert high == pytest.approx(expected.high, abs=1e-12)
    assert 0 <= low <= x / n <= high <= 1


def test_wilson_interval_arrays_and_bad_input():
    from neuralhull.stats.intervals import wilson_interval

    low, high = wilson_interval(np.array([0, 5]), np.array([0, 10]))
    assert np.isnan(low[0]) and np.isnan(high[0])
    assert low[1] < 0.5 < high[1]
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(4, 3)


@pytest.mark.parametrize("queries_per_set", [1, 4])
def test_cell_estimate_equals_the_theory_modules_estimator_when_all_is_decided(queries_per_set):
    # hull_probability.hull_probability_mc (a separate implementation, boolean oracle) on the same
    # random stream: the ratio estimator and its cluster standard error reduce to it
    args = (samplers.gaussian_samples, 12, 2, 40)
    ours = hull_probability.hull_probability_cell(
        *args, np.random.default_rng(5), queries_per_set=queries_per_set, membership=lp_status
    )
    p, se = hull_probability.hull_probability_mc(
        *args, np.random.default_rng(5), queries_per_set=queries_per_set, membership=lp_in_hull
    )
    assert ours["undecided"] == 0
    assert ours["p_inside"] == pytest.approx(p, abs=1e-15)
    assert ours["stderr"] == pytest.approx(se, rel=1e-12)


def test_undecided_answers_are_counted_and_left_out():
    def half_undecided(points, queries):  # first query undecided, the others inside
        return np.r_[0, np.ones(len(queries) - 1, dtype=int)]

    cell = hull_probability.hull_probability_cell(
        samplers.gaussian_samples,
        5,
        2,
        10,
        np.random.default_rng(0),
        queries_per_set=3,
        membership=half_undecided,
    )
    assert cell == {"p_inside": 1.0, "stderr": 0.0, "undecided": 10}
    nothing = hull_probability.hull_probability_cell(
        samplers.gaussian_samples,
        5,
        2,
        10,
        np.random.default_rng(0),
        queries_per_set=2,
        membership=lambda points, queries: np.zeros(len(queries), dtype=int),
    )
    assert nothing["undecided"] == 20 and np.isnan(nothing["p_inside"])


def test_a_cell_does_not_depend_on_the_rest_of_the_grid():
    alone = _table("gaussian", [3], [25], trials=20, seed=7)
    in_grid = _table("gaussian", [2, 3], [10, 25], trials=20, seed=7)
    cell = in_grid[(in_grid["d"] == 3) & (in_grid["N"] == 25)]
    assert cell["p_inside"].item() == alone["p_inside"].item()


def test_grid_and_kind_read_the_workflows_params():
    # the params theory.smk builds for one kind: the grid keys, and the kind's sampler
    # settings under "sampler"
    params = {
        "dimensions": [2, 5],
        "sizes": [10, 50],
        "trials": 7,
        "queries_per_set": 3,
        "seed": 4,
        "tol": 1e-6,
        "sampler": {"curve_seed": 2, "curve_frequencies": [3.0, 9.0]},
    }
    grid = HullProbabilityGrid.from_config(params)
    assert grid == HullProbabilityGrid((2, 5), (10, 50), 7, 4, queries_per_set=3, tol=1e-6)
    kind = SampleKind.from_config("curve", params["sampler"])
    assert (kind.curve_seed, list(kind.curve_frequencies)) == (2, [3.0, 9.0])
    drawn = kind.sampler()(5, 3, np.random.default_rng(0))
    expected = samplers.curve_samples(
        5, 3, np.random.default_rng(0), curve_seed=2, frequencies=(3.0, 9.0)
    )
    np.testing.assert_array_equal(drawn, expected)


def test_hull_probability_table_refuses_bad_input():
    with pytest.raises(ValueError, match="unknown sample kind"):
        _table("uniform", [2], [10], 5, 0)
    with pytest.raises(ValueError, match="dimension"):
        _table("gaussian", [0], [10], 5, 0)
    with pytest.raises(ValueError, match="seed"):
        _table("gaussian", [2], [10], 5, -1)


# ---------------------------------------------------------------------------------------------
# bottleneck classifiers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 7])
def test_bottleneck_features_have_width_k(k):
    torch = pytest.importorskip("torch")
    from neuralhull.learn.models import build_model

    spec = embedding.bottleneck_spec(k, (1, 28, 28), 10, channels=2, depth=2)
    assert (spec.arch, spec.width) == ("cnn", k)
    model = build_model(spec)
    features = model.features(torch.zeros(5, 1, 28, 28))
    assert features.shape == (5, k)
    assert model(torch.zeros(5, 1, 28, 28)).shape == (5, 10)


def test_bottleneck_networks_read_the_workflows_training_params():
    pytest.importorskip("torch")
    from neuralhull.learn.training import TrainConfig

    # the params theory.smk passes: architecture, training settings and the trunk switch
    params = {
        "arch": "convnet",
        "batch_size": 64,
        "channels": 32,
        "depth": 2,
        "epochs": 10,
        "lr": 1.0,
        "lr_decay": 0.7,
        "optimizer": "adadelta",
        "seed": 3,
        "shared_trunk": True,
        "warmup_steps": 5,
    }
    networks = embedding.BottleneckNetworks.from_config(params, n_classes=10)
    expected = TrainConfig(
        epochs=10,
        lr=1.0,
        batch_size=64,
        seed=3,
        optimizer="adadelta",
        lr_decay=0.7,
        warmup_steps=5,
    )
    assert networks == embedding.BottleneckNetworks(
        10, expected, arch="convnet", channels=32, depth=2
    )
    assert networks.spec(4, (1, 28, 28)) == embedding.bottleneck_spec(
        4, (1, 28, 28), 10, channels=32, depth=2, arch="convnet"
    )


def test_one_bottleneck_network_learns_an_easy_task_and_embeds_every_image():
    pytest.importorskip("torch")
    # class 0: bright top half, class 1: bright bottom half, plus noise
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    images = rng.integers(0, 60, (300, 1, 8, 8))
    images[labels == 0, :, :4] += 180
    images[labels == 1, :, 4:] += 180
    images = images.astype(np.uint8)
    from neuralhull.learn.training import TrainConfig

    networks = embedding.BottleneckNetworks(
        2, TrainConfig(epochs=15, lr=0.01, batch_size=32), channels=2, depth=1
    )
    data = (images[:200], labels[:200], images[200:], labels[200:])
    (result,) = embedding.train_bottlenecks([3], data, networks, device="cpu", log=lambda m: None)
    assert result.train_embeddings.shape == (200, 3)
    assert result.test_embeddings.shape == (100, 3)
    assert result.test_accuracy == pytest.approx(np.mean(result.test_predictions == labels[200:]))
    assert result.test_accuracy > 0.95
    assert (result.train_embeddings >= 0).all()  # a ReLU layer


# ---------------------------------------------------------------------------------------------
# summary tables and figures
# ---------------------------------------------------------------------------------------------


def test_collect_parts_orders_rows_whatever_the_order_of_the_parts():
    parts = [
        pd.DataFrame({"method": [m], "k": [k], "dataset": ["digits"]}).assign(
            dimension=k, rank=k, n_train=10, queries=5, inside=1, outside=4, undecided=0
        )
        for m, k in [("smooth", 8), ("pca", 32), ("crop", 2), ("pca", 2)]
    ]
    for p in parts:
        p["fraction_inside"] = 0.2
    table = collect_parts("real_dimension", parts[::-1])
    assert list(zip(table["method"], table["k"], strict=True)) == [
        ("pca", 2),
        ("pca", 32),
        ("crop", 2),
        ("smooth", 8),
    ]
    # two datasets: MNIST before Fashion-MNIST, whatever the order of the parts
    two = [p.assign(dataset="fashion_mnist") for p in parts] + [
        p.assign(dataset="mnist") for p in parts
    ]
    for order in (two, two[::-1]):
        table = collect_parts("real_dimension", order)
        assert list(table["dataset"]) == ["mnist"] * 4 + ["fashion_mnist"] * 4
        assert list(table["method"][:4]) == ["pca", "pca", "crop", "smooth"]
    with pytest.raises(ValueError, match="lacks column"):
        collect_parts("real_dimension", [parts[0].drop(columns="undecided")])
    with pytest.raises(ValueError, match="unknown theory experiment"):
        collect_parts("nonsense", parts)


def test_the_summary_caption_shows_each_experiment_its_own_section():
    # one caption file for the one summary rule, rendered as Snakemake's report renders it
    # (Jinja with the job's config and wildcards, then reStructuredText)
    from types import SimpleNamespace

    import jinja2
    import yaml
    from docutils.core import publish_parts

    from tests.conftest import ROOT

    openings = {
        "hull_probability": "Probability that a new sample lies inside the convex hull",
        "real_dimension": "Fraction of test images inside the convex hull",
        "embedding": "CNNs whose last hidden layer (the embedding) has k units",
        "double_descent": "Excess test risk of minimum-norm",
    }
    config = yaml.safe_load((ROOT / "config/tiny.yaml").read_text())
    source = (ROOT / "workflow/report/theory_summary.rst").read_text()
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)  # as Snakemake's report
    for experiment, opening in openings.items():
        snakemake = SimpleNamespace(config=config, wildcards=SimpleNamespace(experiment=experiment))
        rst = env.from_string(source).render(snakemake=snakemake)
        assert rst.startswith(opening), (experiment, rst[:80])
        assert not [o for e, o in openings.items() if e != experiment and o in rst], experiment
        html = publish_parts(rst, writer_name="html", settings_overrides={"report_level": 2})
        assert "system-message" not in html["body"], (experiment, html["body"])


def test_figures_are_written_and_refuse_tables_without_their_columns(tmp_path):
    hp = _table("gaussian", [2], [5, 20], trials=5, seed=0)
    dd = double_descent.double_descent_table(
        20, [0.5, 2.0], [1.0], [0, 1], models=("isotropic", "relu")
    )
    emb = pd.DataFrame(
        {"k": [2, 8], "fraction_inside": [0.9, 0.3], "test_accuracy": [0.6, 0.9], "rank": [2, 6]}
    )
    real = pd.DataFrame(
        {
            "method": ["pca", "pca", "crop"],
            "dimension": [2, 16, 4],
            "fraction_inside": [0.9, 0.0, 0.5],
            "inside": [9, 0, 5],
            "outside": [1, 10, 5],
        }
    )
    for name, table in [
        ("hull_probability", hp),
        ("double_descent", dd),
        ("embedding", emb),
        ("real_dimension", real),
    ]:
        path = tmp_path / f"{name}.png"
        figures.FIGURES[name](table, path)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if name in ("embedding", "real_dimension"):  # a second dataset: a panel row / column
            two = pd.concat([table.assign(dataset="mnist"), table.assign(dataset="fashion")])
            figures.FIGURES[name](two, tmp_path / f"{name}-two.png")
            one_size = _png_size(path)
            two_size = _png_size(tmp_path / f"{name}-two.png")
            assert two_size[0] * two_size[1] > 1.5 * one_size[0] * one_size[1]
        with pytest.raises(ValueError, match="lacks column"):
            figures.FIGURES[name](table.iloc[:, :1], tmp_path / "bad.png")


def _png_size(path):
    import struct

    with open(path, "rb") as fh:
        header = fh.read(24)
    return struct.unpack(">II", header[16:24])
