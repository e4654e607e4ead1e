"""Convex-hull membership and distance against independent truths.

Truths used: Wendel's theorem, the 1-D order-statistics probability 2/(n+1), the geometry
of the cube, an independent feasibility LP (scipy ``linprog``) on small random and
degenerate problems, and brute-force enumeration of faces for the distance.
"""

from __future__ import annotations

import copy
import itertools
import os
from fractions import Fraction
from math import comb

import numpy as np
import pytest
from scipy.optimize import linprog
from scipy.spatial import ConvexHull

from neuralhull.hull import (
    INSIDE,
    OUTSIDE,
    UNDECIDED,
    HullUndecidedError,
    hull_distance,
    hull_scale,
    in_hull,
    membership,
    warm_nnls,
)

# ---------------------------------------------------------------------------
# independent references


def lp_inside(points: np.ndarray, query: np.ndarray) -> bool | None:
    """Feasibility of lambda >= 0, sum 1, X^T lambda = q by HiGHS (None: not decided)."""
    n = points.shape[0]
    a_eq = np.vstack([points.T, np.ones(n)])
    b_eq = np.append(query, 1.0)
    res = linprog(np.zeros(n), A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
    if res.status == 0:
        return True
    if res.status == 2:
        return False
    return None


def brute_force_distance(points: np.ndarray, query: np.ndarray) -> float:
    """Distance to the hull by enumerating every affinely independent subset (tiny n).

    The nearest point of a polytope lies in the relative interior of some face, and is
    then the orthogonal projection onto the affine hull of an affinely independent set of
    points of that face with positive barycentric coordinates.
    """
    n, d = points.shape
    best = min(float(np.linalg.norm(query - p)) for p in points)
    for k in range(2, min(n, d + 1) + 1):
        for subset in itertools.combinations(range(n), k):
            base = points[subset[0]]
            edges = (points[list(subset[1:])] - base).T  # (d, k-1)
            if np.linalg.matrix_rank(edges) < k - 1:
                continue
            coef, *_ = np.linalg.lstsq(edges, query - base, rcond=None)
            bary = np.concatenate([[1 - coef.sum()], coef])
            if (bary >= -1e-12).all():
                best = min(best, float(np.linalg.norm(query - base - edges @ coef)))
    return best


def wendel_outside_probability(n: int, d: int) -> float:
    """P(origin outside the hull of n symmetric points in general position in R^d)."""
    return sum(comb(n - 1, k) for k in range(d)) / 2 ** (n - 1)


def assert_certified(result, points, queries):
    assert result.verify(points, queries).all()
    assert result.n_undecided == 0


# ---------------------------------------------------------------------------
# theorems


@pytest.mark.parametrize(("n", "d", "trials"), [(5, 2, 600), (8, 3, 500), (12, 5, 400)])
def test_wendel_probability_of_origin_outside(n, d, trials):
    rng = np.random.default_rng(100 * n + d)
    outside = 0
    for _ in range(trials):
        points = rng.standard_normal((n, d))
        result = membership(points, np.zeros((1, d)))
        assert result.n_undecided == 0
        outside += int(result.status[0] == OUTSIDE)
    p = wendel_outside_probability(n, d)
    se = np.sqrt(p * (1 - p) / trials)
    assert abs(outside / trials - p) < 3 * se


def test_one_dimensional_new_point_outside_probability():
    rng = np.random.default_rng(7)
    n, trials = 9, 1500
    outside = 0
    for _ in range(trials):
        sample = rng.uniform(size=(n + 1, 1))
        result = membership(sample[:n], sample[n:])
        # order statistics, independently: outside iff beyond the min or the max
        truth = bool(sample[n, 0] < sample[:n, 0].min() or sample[n, 0] > sample[:n, 0].max())
        assert (result.status[0] == OUTSIDE) == truth
        outside += int(truth)
    p = 2 / (n + 1)
    assert abs(outside / trials - p) < 3 * np.sqrt(p * (1 - p) / trials)


@pytest.mark.parametrize("d", [2, 3, 5])
def test_cube_vertices_outside_others_and_face_centres_inside(d):
    vertices = np.array(list(itertools.product([0.0, 1.0], repeat=d)))
    for v in range(len(vertices)):
        others = np.delete(vertices, v, axis=0)
        result = membership(others, vertices[v : v + 1])
        assert result.status[0] == OUTSIDE
        assert result.verify(others, vertices[v : v + 1]).all()
    # centres of all faces of every dimension (free coordinates 0.5), incl. the vertices
    centres = np.array(list(itertools.product([0.0, 0.5, 1.0], repeat=d)))
    result = membership(vertices, centres)
    assert (result.status == INSIDE).all()
    assert_certified(result, vertices, centres)
    # just outside every facet
    facet_out = np.full((2 * d, d), 0.5)
    for i in range(d):
        facet_out[2 * i, i] = -1e-4
        facet_out[2 * i + 1, i] = 1 + 1e-4
    result = membership(vertices, facet_out)
    assert (result.status == OUTSIDE).all()
    assert_certified(result, vertices, facet_out)
    np.testing.assert_allclose(hull_distance(vertices, facet_out), 1e-4, rtol=1e-6)


# ---------------------------------------------------------------------------
# agreement with an independent LP on small random and degenerate problems


def _random_problem(rng, kind):
    d = int(rng.integers(1, 7))
    n = int(rng.integers(1, 30))
    if kind == "gaussian":
        points = rng.standard_normal((n, d))
    elif kind == "duplicates":
        base = rng.standard_normal((max(1, n // 3), d))
        points = base[rng.integers(0, base.shape[0], n)]
    elif kind == "low_rank":
        k = int(rng.integers(0, d))  # affine dimension < d
        points = rng.standard_normal((n, k)) @ rng.standard_normal((k, d)) + rng.normal(size=d)
    elif kind == "few_points":
        d = int(rng.integers(3, 10))
        points = rng.standard_normal((int(rng.integers(1, d)), d)) * 3 + 5
    else:  # integer grid: many coplanar points and ties
        points = rng.integers(0, 3, size=(n, d)).astype(float)
    return points


def _queries_for(rng, points):
    n, d = points.shape
    parts = [rng.standard_normal((6, d)) * points.std() + points.mean(axis=0)]
    parts.append(points[rng.integers(0, n, 3)])  # exactly on vertices
    for _ in range(4):  # convex combinations of small subsets (edges, faces, interior)
        k = int(rng.integers(1, min(n, 4) + 1))
        idx = rng.choice(n, k, replace=False)
        parts.append(rng.dirichlet(np.ones(k)) @ points[idx][None])
    if n > d + 1 and d >= 2:
        try:
            hull = ConvexHull(points)
        except Exception:  # noqa: BLE001 - degenerate: no facets to sample
            hull = None
        if hull is not None:
            for simplex in hull.simplices[:3]:  # points on facets: the boundary
                parts.append(rng.dirichlet(np.ones(len(simplex))) @ points[simplex][None])
    return np.vstack(parts)


@pytest.mark.parametrize("kind", ["gaussian", "duplicates", "low_rank", "few_points", "grid"])
def test_agrees_with_independent_lp(kind):
    rng = np.random.default_rng(sum(map(ord, kind)))
    compared = 0
    for _ in range(25):
        points = _random_problem(rng, kind)
        queries = _queries_for(rng, points)
        result = membership(points, queries)
        assert_certified(result, points, queries)
        for j, q in enumerate(queries):
            truth = lp_inside(points, q)
            if truth is None:
                continue
            assert (result.status[j] == INSIDE) == truth, (kind, j, points.shape)
            compared += 1
    assert compared > 200


def test_boundary_points_are_inside():
    rng = np.random.default_rng(3)
    points = rng.standard_normal((40, 4))
    hull = ConvexHull(points)
    queries = np.vstack([rng.dirichlet(np.ones(4)) @ points[s] for s in hull.simplices])
    result = membership(points, queries)
    assert (result.status == INSIDE).all()
    assert_certified(result, points, queries)


def test_near_boundary_of_a_simplex():
    """Barycentric coordinates decide membership in a simplex exactly; distance to a facet
    is (negative coordinate) x (height of the opposite vertex over it)."""
    rng = np.random.default_rng(12)
    d = 15
    vertices = rng.standard_normal((d + 1, d))
    filler = rng.dirichlet(np.ones(d + 1), 300) @ vertices  # more points, same hull
    points = np.vstack([filler[:150], vertices, filler[150:]])
    bary = rng.dirichlet(np.ones(d + 1), 12) * 0.5 + 0.5 / (d + 1)
    delta = np.array([1e-5, -1e-6, 1e-4, -1e-4] * 3)  # first coordinate set to +-delta
    bary[:, 0] = 0.0
    bary /= bary.sum(axis=1, keepdims=True)
    bary *= (1 - delta)[:, None]
    bary[:, 0] = delta
    queries = bary @ vertices
    # height of vertex 0 over the affine hull of the others
    base = vertices[1]
    edges = (vertices[2:] - base).T
    coef, *_ = np.linalg.lstsq(edges, vertices[0] - base, rcond=None)
    height = np.linalg.norm(vertices[0] - base - edges @ coef)

    result = membership(points, queries)
    assert_certified(result, points, queries)
    assert (result.inside == (delta >= 0)).all()
    dist = hull_distance(points, queries)
    np.testing.assert_allclose(dist, np.where(delta < 0, -delta * height, 0.0), rtol=1e-5)


def test_constant_columns_are_an_exact_reduction():
    rng = np.random.default_rng(13)
    points = np.hstack([rng.standard_normal((80, 3)), np.zeros((80, 2)), np.full((80, 1), 0.7)])
    inside = np.hstack([rng.dirichlet(np.ones(6), 3) @ points[:6, :3], np.zeros((3, 2))])
    inside = np.hstack([inside, np.full((3, 1), 0.7)])
    off = inside.copy()
    off[:, 3] = 1e-5  # leaves the affine hull through a constant column
    queries = np.vstack([inside, off])
    result = membership(points, queries)
    assert result.status.tolist() == [INSIDE] * 3 + [OUTSIDE] * 3
    assert (result.method[3:] == "affine").all()
    assert_certified(result, points, queries)
    np.testing.assert_allclose(hull_distance(points, queries), [0, 0, 0] + [1e-5] * 3, rtol=1e-6)


def test_fallback_lp_certificates_when_rounds_run_out():
    rng = np.random.default_rng(14)
    points = rng.standard_normal((400, 12))
    queries = np.vstack(
        [rng.dirichlet(np.ones(13), 6) @ points[-13:], rng.standard_normal((6, 12)) * 0.9]
    )
    result = membership(points, queries, max_rounds=1)
    assert_certified(result, points, queries)
    assert (result.method == "highs").any()
    assert result.inside.tolist() == [lp_inside(points, q) for q in queries]


def test_a_solver_that_gives_up_leaves_undecided_never_a_guess(monkeypatch):
    # Column generation gets one round, then the exact LP fails: the queries neither
    # path certified must come back undecided, with no certificate, and in_hull must not
    # silently call them outside.
    from neuralhull.hull import lp

    monkeypatch.setattr(lp._ElasticLP, "solve", lambda self, z: ("failed", None, None))
    rng = np.random.default_rng(14)
    points = rng.standard_normal((400, 12))
    queries = np.vstack(
        [rng.dirichlet(np.ones(13), 6) @ points[-13:], rng.standard_normal((6, 12)) * 0.9]
    )
    result = membership(points, queries, max_rounds=1)
    undecided = result.status == UNDECIDED
    assert undecided.any()
    assert result.n_undecided == int(undecided.sum())
    assert (result.method[undecided] == "none").all()
    assert np.isnan(result.margin[undecided]).all() and np.isnan(result.residual[undecided]).all()
    assert all(result.weights(j)[0].size == 0 for j in np.flatnonzero(undecided))
    assert not (result.hyperplane_normal[undecided] != 0).any()
    # what was decided is still right, and certified
    truth = np.array([lp_inside(points, q) for q in queries])
    assert (result.inside == (truth & ~undecided)).all()
    assert (result.outside == (~truth & ~undecided)).all()
    assert result.verify(points, queries)[~undecided].all()
    with pytest.raises(HullUndecidedError, match=f"{int(undecided.sum())} of 12"):
        in_hull(points, queries, max_rounds=1)
    as_inside = in_hull(points, queries, max_rounds=1, undecided="inside")
    as_outside = in_hull(points, queries, max_rounds=1, undecided="outside")
    assert as_inside[undecided].all() and not as_outside[undecided].any()
    assert (as_inside[~undecided] == truth[~undecided]).all()


def test_many_queries_in_low_dimension_match_delaunay():
    # >= 500 queries in rank <= 5 take the qhull-vertices path of the engine
    from scipy.spatial import Delaunay

    rng = np.random.default_rng(15)
    points = rng.standard_normal((3000, 3))
    queries = rng.standard_normal((600, 3)) * 1.2
    result = membership(points, queries)
    assert_certified(result, points, queries)
    truth = Delaunay(points).find_simplex(queries) >= 0
    assert (result.inside == truth).all()
    dist = hull_distance(points, queries)
    assert ((dist > 0) == ~truth).all()


def test_agrees_with_independent_lp_in_higher_dimension():
    rng = np.random.default_rng(16)
    points = rng.standard_normal((400, 40)) * rng.uniform(0.5, 2, 40)  # anisotropic
    points = np.vstack([points, points[:50]])  # with duplicates
    queries = np.vstack(
        [
            rng.dirichlet(np.ones(30), 8) @ points[rng.choice(400, 30, replace=False)],
            rng.dirichlet(np.ones(41), 8) @ points[rng.choice(400, 41, replace=False)],
            points[:400].mean(axis=0) + 0.05 * rng.standard_normal((8, 40)),
            rng.standard_normal((8, 40)),
        ]
    )
    result = membership(points, queries)
    assert_certified(result, points, queries)
    assert result.inside.tolist() == [lp_inside(points, q) for q in queries]
    assert result.inside[:16].all()


def test_a_hundred_thousand_points_match_qhull_facets():
    # the top of the supported n: truth from qhull's facet inequalities, independently
    rng = np.random.default_rng(21)
    points = rng.standard_normal((100_000, 3))
    queries = rng.standard_normal((300, 3)) * 2.8
    facets = ConvexHull(points).equations  # a x + b <= 0 inside
    slack = (queries @ facets[:, :3].T + facets[:, 3]).max(axis=1)
    clear = np.abs(slack) > 1e-9  # no query on a facet by accident
    assert clear.sum() > 290 and 30 < (slack < 0).sum() < 270
    result = membership(points, queries)
    assert_certified(result, points, queries)
    assert (result.inside[clear] == (slack[clear] < 0)).all()


def test_three_thousand_dimensions_with_fewer_points():
    # the top of the supported d (32 x 32 x 3 images) with n < d: the hull spans a
    # 999-dimensional affine subspace; truths by construction: convex combinations are
    # inside, a step off the subspace is outside, and so is any point of the subspace
    # beyond the support function h(u) = max_i (x_i - c).u of a direction u in it
    rng = np.random.default_rng(22)
    n, d = 1000, 3072
    points = rng.random((n, 64)) @ rng.standard_normal((64, d)) / 8  # image-like, correlated
    points += 0.05 * rng.standard_normal((n, d))
    combos = [
        rng.dirichlet(np.ones(k)) @ points[rng.choice(n, k, replace=False)] for k in (2, 30, 300)
    ]
    centre = points.mean(axis=0)
    spanned = (points - centre).T @ rng.standard_normal(n)  # a direction in the span
    u = spanned / np.linalg.norm(spanned)
    beyond = centre + 1.01 * ((points - centre) @ u).max() * u
    normal = rng.standard_normal(d)
    normal -= (points[1:] - points[0]).T @ np.linalg.lstsq(
        (points[1:] - points[0]).T, normal, rcond=None
    )[0]  # orthogonal to the affine hull
    off = combos[1] + 1e-3 * normal / np.linalg.norm(normal)
    queries = np.vstack(combos + [beyond, off])
    result = membership(points, queries)
    assert_certified(result, points, queries)
    assert result.status.tolist() == [INSIDE] * 3 + [OUTSIDE] * 2
    assert result.stats["rank"] == n - 1
    assert result.method[-1] == "affine"


# ---------------------------------------------------------------------------
# distance


@pytest.mark.parametrize("seed", range(6))
def test_distance_matches_face_enumeration(seed):
    rng = np.random.default_rng(seed)
    d = int(rng.integers(1, 4))
    points = rng.standard_normal((int(rng.integers(1, 9)), d))
    if seed % 3 == 2:  # degenerate: points on a line in R^d
        points = rng.standard_normal((points.shape[0], 1)) * rng.standard_normal((1, d))
    queries = rng.standard_normal((15, d)) * 1.5
    result = hull_distance(points, queries, full_output=True)
    assert result.converged.all()
    truth = np.array([brute_force_distance(points, q) for q in queries])
    _, scale = hull_scale(points)
    np.testing.assert_allclose(result.distance, truth, rtol=1e-6, atol=1e-7 * scale)
    assert (result.lower <= truth + 1e-9 * scale).all()
    assert (result.upper >= truth - 1e-9 * scale).all()


def test_distance_matches_slsqp_projection():
    from scipy.optimize import minimize

    rng = np.random.default_rng(11)
    points = rng.standard_normal((25, 6))
    queries = rng.standard_normal((10, 6)) * 2
    dist = hull_distance(points, queries)
    for q, got in zip(queries, dist, strict=True):
        res = minimize(
            lambda lam, q=q: np.sum((lam @ points - q) ** 2),
            np.full(25, 1 / 25),
            jac=lambda lam, q=q: 2 * points @ (lam @ points - q),
            bounds=[(0, 1)] * 25,
            constraints=[{"type": "eq", "fun": lambda lam: lam.sum() - 1}],
            method="SLSQP",
            options={"ftol": 1e-12, "maxiter": 1000},
        )
        # SLSQP may stop with "positive directional derivative" at the optimum: compare
        # values, and never let the engine be above a feasible point SLSQP found
        lam = np.clip(res.x, 0, None) / np.clip(res.x, 0, None).sum()
        assert got <= np.linalg.norm(lam @ points - q) + 1e-9  # never above a feasible point
        assert got == pytest.approx(np.linalg.norm(lam @ points - q), rel=1e-5)


def test_distance_zero_inside_and_positive_outside():
    rng = np.random.default_rng(5)
    points = rng.standard_normal((200, 10))
    queries = np.vstack([rng.dirichlet(np.ones(20), 10) @ points[:20], points[:5] * 3])
    dist = hull_distance(points, queries)
    assert (dist[:10] == 0).all()
    assert (dist[10:] > 0).all()
    result = membership(points, queries)
    assert result.inside[:10].all() and result.outside[10:].all()
    # the outside margin is a lower bound of the distance
    assert (result.margin[10:] * result.scale <= dist[10:] * (1 + 1e-9)).all()


@pytest.mark.parametrize("d", [10, 80])
def test_distance_whose_rounds_run_out_gives_valid_bounds(d):
    """A query still unsettled when max_rounds runs out (its working set was extended
    after its last solve) gets that solve's weights and bounds, not an error; in few
    coordinates (batched rounds) and in many. Truth: scipy's NNLS over all points."""
    from scipy.optimize import nnls

    rng = np.random.default_rng(41)
    points = rng.standard_normal((400, d))
    queries = 0.8 * rng.standard_normal((6, d))
    res = hull_distance(points, queries, max_rounds=2, full_output=True)
    assert not res.converged.all()  # some rounds did run out
    for j, q in enumerate(queries):
        A = np.vstack([(points - q).T, np.ones(len(points))])
        b = np.zeros(d + 1)
        b[-1] = 1.0
        lam = nnls(A, b, maxiter=50 * len(points))[0]
        truth = np.linalg.norm(lam / lam.sum() @ points - q)
        assert res.lower[j] <= truth * (1 + 1e-9) + 1e-12
        assert truth <= res.upper[j] * (1 + 1e-9) + 1e-12
        lo, hi = res.weight_indptr[j], res.weight_indptr[j + 1]
        w = res.weight_values[lo:hi]
        assert w.size and (w >= 0).all() and abs(w.sum() - 1) < 1e-12
        p = w @ points[res.weight_indices[lo:hi]]
        assert np.linalg.norm(p - q) <= res.upper[j] * (1 + 1e-9) + 1e-12


# ---------------------------------------------------------------------------
# degenerate inputs and the API


def test_single_point_and_constant_data():
    point = np.array([[1.0, -2.0, 3.0]])
    queries = np.array([[1.0, -2.0, 3.0], [1.0, -2.0, 3.5]])
    for points in (point, np.repeat(point, 5, axis=0)):
        result = membership(points, queries)
        assert result.status.tolist() == [INSIDE, OUTSIDE]
        assert_certified(result, points, queries)
        np.testing.assert_allclose(hull_distance(points, queries), [0.0, 0.5])


def test_off_affine_hull_is_outside_with_certificate():
    rng = np.random.default_rng(2)
    basis = np.linalg.qr(rng.standard_normal((50, 3)))[0]  # 3-D subspace of R^50
    points = rng.standard_normal((100, 3)) @ basis.T
    inside = rng.dirichlet(np.ones(5), 4) @ points[:5]
    off = inside + 1e-3 * np.linalg.qr(np.hstack([basis, rng.standard_normal((50, 1))]))[0][:, 3]
    queries = np.vstack([inside, off])
    result = membership(points, queries)
    assert result.status.tolist() == [INSIDE] * 4 + [OUTSIDE] * 4
    assert_certified(result, points, queries)
    assert result.stats["rank"] == 3
    np.testing.assert_allclose(hull_distance(points, queries)[4:], 1e-3, rtol=1e-6)


def test_float32_input_and_more_dimensions_than_points():
    rng = np.random.default_rng(4)
    points = rng.standard_normal((30, 100)).astype(np.float32)
    queries = np.vstack([rng.dirichlet(np.ones(30), 5) @ points, rng.standard_normal((5, 100))])
    queries = queries.astype(np.float32)
    result = membership(points, queries)
    assert_certified(result, points, queries)
    truth = [lp_inside(points.astype(float), q.astype(float)) for q in queries]
    assert result.inside.tolist() == truth


def test_in_hull_and_progress():
    rng = np.random.default_rng(6)
    points = rng.standard_normal((500, 5))
    queries = rng.standard_normal((50, 5))
    calls = []
    got = in_hull(points, queries, progress=lambda done, total: calls.append((done, total)))
    truth = np.array([lp_inside(points, q) for q in queries])
    assert (got == truth).all()
    assert calls and calls[-1] == (50, 50)
    assert all(done <= total for done, total in calls)


def test_verify_rejects_forged_certificates():
    rng = np.random.default_rng(9)
    points = rng.standard_normal((60, 3))
    queries = np.vstack([points[:3].mean(axis=0), 10 * np.ones(3)])
    result = membership(points, queries)
    assert result.status.tolist() == [INSIDE, OUTSIDE]
    assert result.verify(points, queries).all()
    moved = queries + np.array([[0.5, 0, 0], [-20, -20, -20]])
    assert not result.verify(points, moved).any()


@pytest.mark.parametrize(
    ("points", "queries", "message"),
    [
        (np.ones((3, 2)), np.ones((2, 3)), "columns"),
        (np.ones(3), np.ones((2, 3)), "2-D"),
        (np.array([[np.nan, 1.0]]), np.ones((1, 2)), "points contain NaN"),
        (np.ones((2, 2)), np.array([[1.0, np.nan]]), "queries contain NaN"),
        (np.ones((2, 2)), np.array([[np.inf, 1.0]]), "queries contain inf"),
        (np.array([[0.0, 1.0], [-np.inf, 2.0]]), np.ones((1, 2)), "points contain inf"),
        (np.ones((0, 2)), np.ones((1, 2)), "at least one"),
    ],
)
def test_bad_input_raises(points, queries, message):
    with pytest.raises(ValueError, match=message):
        membership(points, queries)


def test_options_are_checked():
    with pytest.raises(ValueError, match="tol"):
        membership(np.ones((2, 2)), np.ones((1, 2)), tol=-1)
    for options, message in [
        ({"max_rounds": 0}, "max_rounds must be at least 1, got 0"),
        ({"n_jobs": 0}, r"n_jobs \(or -1 or None: every core\) must be at least 1, got 0"),
        ({"n_jobs": 1.5}, r"n_jobs .* must be an integer, got 1.5"),
    ]:
        with pytest.raises(ValueError, match=message):
            membership(np.ones((2, 2)), np.ones((1, 2)), **options)
        with pytest.raises(ValueError, match=message):
            hull_distance(np.ones((2, 2)), np.ones((1, 2)), **options)
    with pytest.raises(ValueError, match="undecided"):
        in_hull(np.ones((2, 2)), np.ones((1, 2)), undecided="maybe")
    assert issubclass(HullUndecidedError, RuntimeError)
    assert len({INSIDE, OUTSIDE, UNDECIDED}) == 3


def test_empty_queries():
    result = membership(np.ones((3, 2)), np.zeros((0, 2)))
    assert result.status.shape == (0,)
    assert hull_distance(np.ones((3, 2)), np.zeros((0, 2))).shape == (0,)


def test_bad_input_raises_in_distance_and_verify_too():
    points = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="queries contain NaN"):
        hull_distance(points, np.array([[np.nan, 0.0]]))
    result = membership(points, np.array([[0.2, 0.2]]))
    with pytest.raises(ValueError, match="points contain inf"):
        result.verify(np.vstack([points[:2], [[np.inf, 0.0]]]), np.array([[0.2, 0.2]]))


# ---------------------------------------------------------------------------
# hyperplanes that separate in exact arithmetic: flat and far-off hulls, the bounding box


def exact_dot(a, b) -> Fraction:
    pairs = zip(a, b, strict=True)
    return sum((Fraction(float(x)) * Fraction(float(y)) for x, y in pairs), Fraction(0))


def assert_hyperplane_exact(points, query, normal, offset, min_gap):
    """In exact rational arithmetic on the float64 numbers: every point on one side of
    the published hyperplane, the query strictly on the other, gap at least min_gap."""
    b = Fraction(float(offset))
    best = max(exact_dot(x, normal) for x in points)
    qw = exact_dot(query, normal)
    assert best <= b < qw
    assert qw - best >= Fraction(float(min_gap)) * Fraction(float(np.linalg.norm(normal)))


@pytest.mark.parametrize("rotate", [False, True])
def test_just_outside_a_flat_hull_is_outside(rotate):
    # 50 points in the plane z = 0 of R^3 (optionally rotated, so no column is constant).
    # Geometry: the max-x vertex moved by a in x and lifted by a in z is at distance
    # sqrt(2) a from the hull (the half-space x <= max x holds the hull, the vertex is in
    # it); with a = 0.8 tol * scale that is 1.13 tol * scale: outside.  With a = 0.6 tol *
    # scale it is 0.85 tol * scale: inside (the closed band).
    rng = np.random.default_rng(21)
    tol = 1e-7
    rot = np.linalg.qr(rng.standard_normal((3, 3)))[0] if rotate else np.eye(3)
    for trial in range(5):
        flat = np.zeros((50, 3))
        flat[:, :2] = rng.standard_normal((50, 2))
        _, s = hull_scale(flat)
        v = flat[np.argmax(flat[:, 0])]
        queries = []
        for a in (0.8, 0.6):
            q = v.copy()
            q[0] += a * tol * s
            q[2] = a * tol * s
            queries.append(q)
        points, queries = flat @ rot.T, np.array(queries) @ rot.T
        result = membership(points, queries, tol=tol)
        assert result.status.tolist() == [OUTSIDE, INSIDE], (trial, result.method)
        assert_certified(result, points, queries)
        # the margin is a lower bound of the true distance sqrt(2) * 0.8 tol * scale
        assert tol <= result.margin[0] <= np.sqrt(2) * 0.8 * tol * (1 + 1e-6)
        assert_hyperplane_exact(
            points, queries[0], result.hyperplane_normal[0], result.hyperplane_offset[0], tol * s
        )


@pytest.mark.parametrize("centre", [1e6, 1e8])
def test_hyperplane_separates_in_exact_arithmetic_far_from_the_origin(centre):
    rng = np.random.default_rng(24)
    tol = 1e-7
    for _ in range(4):
        points = centre + rng.standard_normal((30, 3))
        _, s = hull_scale(points)
        q = points[np.argmax(points[:, 0])].copy()
        q[0] += 3e-7 * s  # distance 3 tol * scale (the vertex moved along x, as above)
        result = membership(points, q[None], tol=tol)
        assert result.status[0] == OUTSIDE
        assert result.verify(points, q[None]).all()
        assert_hyperplane_exact(
            points, q, result.hyperplane_normal[0], result.hyperplane_offset[0], tol * s
        )
        # verify() is strict: an offset at or beyond q.w is rejected
        forged = copy.deepcopy(result)
        forged.hyperplane_offset[0] = float(q @ result.hyperplane_normal[0])
        assert not forged.verify(points, q[None]).any()


def test_far_centre_never_publishes_a_wrong_hyperplane():
    # |centre| / scale = 1e10: the offset cannot be placed for a query 3 tol * scale out,
    # so the engine must say undecided (or give a hyperplane that is exactly right)
    rng = np.random.default_rng(25)
    points = 1e10 + rng.standard_normal((30, 3))
    _, s = hull_scale(points)
    q = points[np.argmax(points[:, 0])].copy()
    q[0] += 3e-7 * s
    result = membership(points, q[None])
    assert result.status[0] != INSIDE
    if result.status[0] == OUTSIDE:
        assert_hyperplane_exact(
            points, q, result.hyperplane_normal[0], result.hyperplane_offset[0], 1e-7 * s
        )


def test_bounding_box_certifies_outside_with_an_axis_hyperplane():
    # Truth by geometry: a query whose k-th coordinate exceeds every point's k-th
    # coordinate by more than tol * scale is outside, and the axis separates.
    rng = np.random.default_rng(28)
    points = rng.standard_normal((500, 6)) + 50.0
    _, s = hull_scale(points)
    queries = rng.dirichlet(np.ones(6), 8) @ points[:6]
    for j in range(8):
        k = j % 6
        sign = 1 if j < 6 else -1
        edge = points[:, k].max() if sign > 0 else points[:, k].min()
        queries[j, k] = edge + sign * 2e-7 * s
    result = membership(points, queries)
    assert result.outside.all()
    assert (result.method == "bounding-box").all()
    assert_certified(result, points, queries)
    for j in range(8):
        w = result.hyperplane_normal[j]
        assert np.count_nonzero(w) == 1 and abs(w[j % 6]) == 1.0
        assert_hyperplane_exact(points, queries[j], w, result.hyperplane_offset[j], 1e-7 * s)


# ---------------------------------------------------------------------------
# magnitudes: data from about 1e-280 to 1e280 behave like unit data, beyond that raise


@pytest.mark.parametrize("magnitude", [2.0**-565, 1e-170, 1e160, 2.0**530])
def test_extreme_magnitudes_behave_like_unit_data(magnitude):
    # Membership is invariant under scaling; the truth comes from the LP on unit data.
    rng = np.random.default_rng(26)
    base = rng.standard_normal((40, 4))
    queries = np.vstack([rng.dirichlet(np.ones(5), 5) @ base[:5], rng.standard_normal((6, 4))])
    truth = [lp_inside(base, q) for q in queries]
    points = base * magnitude
    result = membership(points, queries * magnitude)
    assert result.inside.tolist() == truth
    assert_certified(result, points, queries * magnitude)
    # the scale is the radius, computed without squaring the raw numbers
    _, unit_scale = hull_scale(base)
    assert hull_scale(points)[1] == pytest.approx(unit_scale * magnitude, rel=1e-12)
    # a query 10 radii off a vertex is outside however small the numbers are
    far = points[:1] + np.array([[10 * unit_scale * magnitude, 0, 0, 0]])
    assert membership(points, far).status[0] == OUTSIDE


def test_tiny_data_does_not_make_the_tolerance_absolute():
    rng = np.random.default_rng(27)
    points = 1e-170 * rng.standard_normal((20, 3))
    query = points[:1] + np.array([[1e-160, 0.0, 0.0]])  # 1e10 radii away
    result = membership(points, query)
    assert result.status[0] == OUTSIDE
    assert result.scale < 1e-165
    assert_hyperplane_exact(
        points, query[0], result.hyperplane_normal[0], result.hyperplane_offset[0], 0.0
    )


def test_unrepresentable_magnitudes_raise_a_clear_error():
    with pytest.raises(ValueError, match="cannot be represented"):
        membership(np.array([[-1e300], [1e300]]), np.zeros((1, 1)))
    with pytest.raises(ValueError, match="cannot be represented"):
        membership(np.array([[0.0], [1e-300]]), np.zeros((1, 1)))
    with pytest.raises(ValueError, match="too far"):
        membership(np.array([[0.0], [1e-200]]), np.array([[1e200]]))


# ---------------------------------------------------------------------------
# preprocessing: one copy of the points, exact column extremes, radius and norms


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_preprocessing_makes_one_copy_of_the_points(dtype):
    import tracemalloc

    from neuralhull.hull.prepare import _prepare

    rng = np.random.default_rng(30)
    points = rng.standard_normal((20000, 50)).astype(dtype)
    one_copy = points.shape[0] * points.shape[1] * 8
    tracemalloc.start()
    prep = _prepare(points, 1e-7)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert prep.rank == 50
    assert peak < 1.3 * one_copy  # the centred float64 copy and small blocks, no more


def test_row_norms_skip_the_rescaling_only_where_it_changes_nothing():
    from neuralhull.hull.numerics import _row_norms

    def rescaled(a):  # the always-safe formula: an exact power of two per row first
        big = np.maximum(np.abs(a).max(axis=1), np.finfo(float).tiny)
        big = np.ldexp(1.0, np.frexp(big)[1])
        s = a / big[:, None]
        return big * np.sqrt(np.einsum("ij,ij->i", s, s))

    rng = np.random.default_rng(31)
    ordinary = rng.standard_normal((500, 7)) * 10.0 ** rng.uniform(-100, 100, (500, 1))
    np.testing.assert_array_equal(_row_norms(ordinary), rescaled(ordinary))  # bitwise
    # rows whose squares would overflow or underflow take the rescaled route, and are right
    extreme = np.array([[3e200, 4e200], [3e-200, 4e-200], [0.0, 0.0], [1e-310, 0.0]])
    np.testing.assert_allclose(_row_norms(extreme), [5e200, 5e-200, 0.0, 1e-310], rtol=1e-15)


@pytest.mark.parametrize("shape", [(1, 5), (7, 1), (40000, 3), (300, 31), (300, 40)])
def test_column_extremes_equal_numpys(shape):
    from neuralhull.hull.numerics import _column_max, _column_min

    a = np.random.default_rng(32).standard_normal(shape)  # (40000, 3) spans 3 blocks
    np.testing.assert_array_equal(_column_max(a), a.max(axis=0))
    np.testing.assert_array_equal(_column_min(a), a.min(axis=0))


@pytest.mark.parametrize("case", ["plain", "duplicates", "constant column", "tiny", "huge"])
def test_prepared_extremes_and_radius_are_those_of_the_centred_points(case):
    """_prepare derives the centred points' column extremes and radius from the raw
    extremes and _frame's radius instead of measuring them again: the same numbers."""
    from neuralhull.hull.numerics import _max_row_norm
    from neuralhull.hull.prepare import _prepare

    rng = np.random.default_rng(33)
    x = rng.standard_normal((3000, 6)) * np.array([1.0, 3.0, 1e-3, 7.0, 0.5, 2.0])
    if case == "duplicates":
        x = np.vstack([x, x[:500]])
    elif case == "constant column":
        x[:, 2] = 4.25
    elif case == "tiny":
        x *= 1e-200
    elif case == "huge":
        x = x * 1e200 + 3e200
    prep = _prepare(x, 1e-7)
    np.testing.assert_array_equal(prep.colmax, prep.centred.max(axis=0))
    np.testing.assert_array_equal(prep.colmin, prep.centred.min(axis=0))
    assert prep.radius == _max_row_norm(prep.centred)
    if case == "duplicates":
        assert prep.unique_index.size == 3000
    if case == "constant column":
        assert prep.colmax[2] == prep.colmin[2] == 0.0 and 2 not in prep.columns


# ---------------------------------------------------------------------------
# points on a line: the closed form instead of column generation


@pytest.mark.parametrize("where", ["the real line", "a line in R^5", "near a line in R^5"])
def test_points_on_a_line_take_the_closed_form_and_agree_with_brute_force(where):
    """Rank 1: the hull is a segment, the engine's candidates come in closed form; every
    answer is still certified, and agrees with HiGHS and with the brute-force distance."""
    rng = np.random.default_rng(34)
    for _ in range(30):
        n = int(rng.integers(2, 40))
        t, tq = rng.standard_normal(n), 1.5 * rng.standard_normal(8)
        if where == "the real line":
            points, queries = t[:, None], tq[:, None]
        else:
            a, b = rng.standard_normal(5), rng.standard_normal(5)
            points, queries = a + np.outer(t, b), a + np.outer(tq, b)
            if where == "near a line in R^5":  # off the line by less than the tolerance
                queries = queries + 1e-9 * rng.standard_normal(queries.shape)
        queries[0] = points[int(rng.integers(n))]  # a training point itself
        result = membership(points, queries, n_jobs=1)
        assert_certified(result, points, queries)
        assert result.stats["rank"] == 1 and result.stats["lp_solves"] == 0
        distance = hull_distance(points, queries, n_jobs=1)
        # the nearest point of a segment: the nearest of the points and of every pair's
        # orthogonal projection (brute force over subsets of size <= 2)
        exact = (
            [brute_force_distance(points, q) for q in queries]
            if n <= 6
            else [
                min(
                    float(np.linalg.norm(q - p))
                    for i, j in itertools.combinations(range(n), 2)
                    for p in [
                        points[i]
                        + np.clip(
                            (q - points[i])
                            @ (points[j] - points[i])
                            / max((points[j] - points[i]) @ (points[j] - points[i]), 1e-300),
                            0,
                            1,
                        )
                        * (points[j] - points[i])
                    ]
                )
                for q in queries
            ]
        )
        # within tol * scale counts as inside, distance 0
        scale = np.linalg.norm(points - points.mean(axis=0), axis=1).max()
        np.testing.assert_allclose(distance, exact, atol=1e-7 * scale)
        if where == "near a line in R^5":  # 1e-9 off the line: inside within the tolerance
            assert result.inside.tolist() == [e <= 1e-7 * scale for e in exact]
        else:
            assert result.inside.tolist() == [lp_inside(points, q) for q in queries]


# ---------------------------------------------------------------------------
# the exact LP: it settles what column generation leaves


def test_exact_lp_keeps_inside_weights_with_a_nonzero_optimum(monkeypatch):
    # Column generation is made to fail, so the exact LP decides everything.  Points:
    # the vertices of the cube [0, 1000]^5 plus interior points; queries: face centres
    # pushed out along the face normal by 0.5 tol * scale (distance 0.5 tol * scale by
    # geometry: inside the closed band, although the LP's optimum is 0.5 tol * scale,
    # far above 1e-12) and by 3 tol * scale (outside), and interior points.
    from neuralhull.hull import column_generation, warm_nnls

    monkeypatch.setattr(column_generation, "_solve_working_set", lambda Y, S, z: None)
    monkeypatch.setattr(warm_nnls, "AVAILABLE", False)  # the only NNLS route
    rng = np.random.default_rng(22)
    d, tol = 5, 1e-7
    cube = 1000.0 * np.array(list(itertools.product([0.0, 1.0], repeat=d)))
    points = np.vstack([cube, 1000.0 * rng.uniform(0.1, 0.9, (40, d))])
    _, s = hull_scale(points)
    queries, truth = [], []
    for k in range(d):
        for push, inside in ((0.5, True), (3.0, False)):
            q = np.full(d, 500.0)
            q[k] = 1000.0 + push * tol * s
            queries.append(q)
            truth.append(inside)
    queries = np.vstack([queries, 1000.0 * rng.uniform(0.2, 0.8, (4, d))])
    truth += [True] * 4
    result = membership(points, queries, tol=tol)
    assert result.inside.tolist() == truth
    assert result.n_undecided == 0
    assert (result.method[result.inside] == "highs").all()
    assert_certified(result, points, queries)


def test_one_lp_model_settles_what_column_generation_leaves(monkeypatch):
    from neuralhull.hull import column_generation, lp, warm_nnls

    built = []
    original_init = lp._ElasticLP.__init__

    def counting_init(self, *args, **kwargs):
        built.append(1)
        original_init(self, *args, **kwargs)

    monkeypatch.setattr(column_generation, "_solve_working_set", lambda Y, S, z: None)
    monkeypatch.setattr(warm_nnls, "AVAILABLE", False)  # the only NNLS route
    monkeypatch.setattr(lp._ElasticLP, "__init__", counting_init)
    rng = np.random.default_rng(23)
    points = rng.standard_normal((300, 8))
    queries = np.vstack(
        [rng.dirichlet(np.ones(9), 10) @ points[:9], 0.9 * rng.standard_normal((15, 8))]
    )
    result = membership(points, queries)
    assert len(built) == 1  # one model for the whole call
    assert result.stats["lp_solves"] >= 10
    assert_certified(result, points, queries)
    assert result.inside.tolist() == [lp_inside(points, q) for q in queries]


# ---------------------------------------------------------------------------
# inside certificates checked for many queries at once


@pytest.mark.parametrize("batch", [None, 64])
def test_inside_certificates_for_many_queries_match_one_at_a_time(monkeypatch, batch):
    """try_inside_many against try_inside, query by query: the same accepted queries,
    published weights and points, residuals within rounding; on exact combinations,
    near misses, far misses, non-convex or non-finite weights and empty supports, in
    one batch and in batches of a few queries (INSIDE_BATCH small)."""
    from neuralhull.hull import certificates
    from neuralhull.hull.api import _setup

    if batch is not None:
        monkeypatch.setattr(certificates, "INSIDE_BATCH", batch)
    rng = np.random.default_rng(31)
    points = rng.standard_normal((300, 6)) * 3.0 + 10.0  # off-centre: the sum term counts
    points[::7] = points[1::7]  # duplicates: the unique rows are what idx refers to
    k = 40
    supports, weights, queries = [], [], np.empty((k, 6))
    prep0 = _setup(points, points[:1], 1e-7, 10, 1).problem.prep
    n_unique = prep0.unique_index.size
    for a in range(k):
        idx = rng.choice(n_unique, int(rng.integers(1, 9)), replace=False)
        lam = rng.dirichlet(np.ones(idx.size))
        queries[a] = lam @ points[prep0.unique_index[idx]]
        kind = a % 8
        if kind == 1:
            queries[a] += 1e-9 * rng.standard_normal(6)  # within tol * scale
        elif kind == 2:
            queries[a] += 1e-3  # far outside the tolerance
        elif kind == 3:
            lam = lam * 3.7  # not normalised: both normalise
        elif kind == 4:
            lam = np.append(lam, 0.0)  # a zero weight, dropped
            idx = np.append(idx, (idx[0] + 1) % n_unique)
        elif kind == 5:
            lam = lam.copy()
            lam[0] = np.inf
        elif kind == 6:
            lam, idx = lam[:0], idx[:0]
        supports.append(idx.astype(np.int64))
        weights.append(lam)
    problem = _setup(points, queries, 1e-7, 10, 1).problem
    one = certificates._Certificates.empty(k, 6)
    many = certificates._Certificates.empty(k, 6)
    for j in range(k):
        one.try_inside(problem, j, supports[j], weights[j], "m")
    many.try_inside_many(problem, np.arange(k), supports, weights, "m")
    assert np.array_equal(one.status, many.status)
    accepted = np.flatnonzero(one.status == INSIDE)
    assert 10 <= accepted.size < k  # both answers occur
    assert not (one.status[2::8] == INSIDE).any() and not (one.status[5::8] == INSIDE).any()
    # summed in another order: equal up to rounding (the residuals of exact combinations
    # are themselves rounding, about 1e-15 of the scale)
    np.testing.assert_allclose(many.residual, one.residual, rtol=1e-6, atol=1e-14)
    for j in accepted:
        assert np.array_equal(one.weights_idx[j], many.weights_idx[j])
        np.testing.assert_allclose(many.weights_val[j], one.weights_val[j], rtol=1e-15)
        assert many.method[j] == "m"


# ---------------------------------------------------------------------------
# membership and distance from one pass of the engine


@pytest.mark.parametrize("rank_deficient", [False, True])
def test_membership_and_distance_in_one_pass_give_the_two_calls_answers(rank_deficient):
    from neuralhull.hull import membership_and_distance

    rng = np.random.default_rng(32)
    d = 12
    points = rng.standard_normal((1500, d))
    if rank_deficient:  # an affine hull of dimension 8: queries off it are outside
        points[:, 8:] = points[:, :4] @ rng.standard_normal((4, 4))
    queries = np.vstack(
        [
            rng.dirichlet(np.ones(6), 30) @ points[rng.choice(1500, 6, replace=False)],
            rng.standard_normal((30, d)) * 1.3,
        ]
    )
    both = membership_and_distance(points, queries, n_jobs=1)
    alone = membership(points, queries, n_jobs=1)
    np.testing.assert_array_equal(both.status, alone.status)
    assert both.stats["fallback"] == 0 and (both.method == "distance").all()
    out = alone.status == OUTSIDE
    assert out.any() and (alone.status == INSIDE).any()
    dist = hull_distance(points, queries[out], n_jobs=1)
    np.testing.assert_allclose(both.distance[out], dist, rtol=1e-9)
    assert (both.distance[~out] == 0).all()
    # an outside margin is a certified lower bound on the relative distance
    assert (both.margin[out] * both.scale <= both.distance[out] * (1 + 1e-12)).all()
    assert (both.margin[out] > 1e-7).all() and (both.residual[~out] <= 1e-7).all()
    for j in range(len(queries)):  # and the brute-force truth
        assert (both.status[j] == INSIDE) == lp_inside(points, queries[j])


def test_membership_and_distance_send_unsettled_queries_to_the_membership_engine(monkeypatch):
    from neuralhull.hull import api, membership_and_distance

    real = api.hull_distance

    def unsettled(*args, **kwargs):  # the distance pass "stops" with loose bounds for 4
        result = real(*args, **kwargs)
        result.converged[:4] = False
        result.lower[:4], result.upper[:4] = 0.0, np.inf
        return result

    monkeypatch.setattr(api, "hull_distance", unsettled)
    rng = np.random.default_rng(33)
    points = rng.standard_normal((800, 6))
    queries = np.vstack(
        [rng.dirichlet(np.ones(7), 4) @ points[:7], rng.standard_normal((6, 6)) * 3]
    )
    both = membership_and_distance(points, queries, n_jobs=1)
    assert both.stats["fallback"] == 4
    alone = membership(points, queries, n_jobs=1)
    np.testing.assert_array_equal(both.status, alone.status)
    assert (both.method[:4] != "distance").all() and (both.method[4:] == "distance").all()
    assert (both.distance[:4] == 0).all()  # the four are inside: distance 0, not a guess


# ---------------------------------------------------------------------------
# several cores: the answers do not depend on n_jobs


def test_small_work_runs_without_a_worker_pool(monkeypatch):
    import concurrent.futures

    def no_pool(*args, **kwargs):
        raise AssertionError("a worker pool was started for a small problem")

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", no_pool)
    rng = np.random.default_rng(9)
    points = rng.standard_normal((3000, 8))
    queries = np.vstack([rng.standard_normal((40, 8)), rng.dirichlet(np.ones(9), 40) @ points[:9]])
    result = membership(points, queries, n_jobs=2)
    assert_certified(result, points, queries)
    from neuralhull.hull import parallel

    monkeypatch.setattr(parallel, "PARALLEL_MIN_WORK", 0)  # the pool is really asked for
    with pytest.raises(AssertionError, match="worker pool"):
        membership(points, queries, n_jobs=2)


def test_parallel_matches_serial(monkeypatch):
    from neuralhull.hull import parallel

    monkeypatch.setattr(parallel, "PARALLEL_MIN_WORK", 0)
    rng = np.random.default_rng(8)
    points = rng.standard_normal((3000, 8))
    queries = np.vstack([rng.standard_normal((40, 8)), rng.dirichlet(np.ones(9), 40) @ points[:9]])
    serial = membership(points, queries)
    parallel = membership(points, queries, n_jobs=2)
    assert (serial.status == parallel.status).all()
    assert_certified(parallel, points, queries)


def test_default_uses_every_core_and_n_jobs_does_not_change_the_result(monkeypatch):
    from neuralhull.hull import parallel

    monkeypatch.setattr(parallel, "PARALLEL_MIN_WORK", 0)  # a pool even for small work
    rng = np.random.default_rng(29)
    points = rng.standard_normal((2000, 10))
    queries = np.vstack(
        [rng.standard_normal((40, 10)), rng.dirichlet(np.ones(11), 40) @ points[:11]]
    )
    default = membership(points, queries)
    assert default.stats["n_jobs"] == len(os.sched_getaffinity(0))
    serial = membership(points, queries, n_jobs=1)
    three = membership(points, queries, n_jobs=3)
    for other in (serial, three):
        for name in (
            "status",
            "weight_indptr",
            "weight_indices",
            "weight_values",
            "hyperplane_normal",
            "hyperplane_offset",
            "method",
            "rounds",
        ):
            np.testing.assert_array_equal(getattr(default, name), getattr(other, name))
    assert_certified(default, points, queries)
    assert default.inside.tolist() == [lp_inside(points, q) for q in queries]


# ---------------------------------------------------------------------------
# box faces: queries on a column's minimum or maximum are offered only points on it


def _relu_problem(rng, n=1500, d=40):
    """Activation-like data: ReLU of a random layer, so most coordinates have exact zeros
    (the column minimum), and queries that are convex combinations keep many of them."""
    layer = rng.standard_normal((20, d))
    points = np.maximum(rng.standard_normal((n, 20)) @ layer - 1.0, 0.0)
    fresh = np.maximum(rng.standard_normal((15, 20)) @ layer - 1.0, 0.0)
    few = np.stack([rng.dirichlet(np.ones(3)) @ points[rng.choice(n, 3)] for _ in range(15)])
    many = np.stack([rng.dirichlet(np.ones(30)) @ points[rng.choice(n, 30)] for _ in range(15)])
    return points, np.vstack([fresh, few, many])


def test_box_faces_are_the_points_sharing_every_bound_a_query_sits_on():
    from neuralhull.hull.api import _box_faces
    from neuralhull.hull.prepare import _prepare

    rng = np.random.default_rng(31)
    points, queries = _relu_problem(rng, n=400, d=12)
    points[:5, 0] = points[:, 0].max()  # a few points on a maximum face too
    queries[-1, 0] = points[:, 0].max()
    prep = _prepare(points, 1e-7)
    faces = _box_faces(prep, prep.internal_queries(queries))
    unique = points[prep.unique_index]
    lo, hi = unique.min(axis=0), unique.max(axis=0)
    restricted = 0
    for j, q in enumerate(queries):
        on_min = (q == lo) & (lo < hi)
        on_max = (q == hi) & (lo < hi)
        truth = (unique[:, on_min] == lo[on_min]).all(axis=1)
        truth &= (unique[:, on_max] == hi[on_max]).all(axis=1)
        got = faces.allowed(j)
        if truth.all():
            assert got is None
        else:
            assert (got == truth).all(), j
            restricted += 1
    assert restricted >= 30  # the fresh samples and both kinds of combinations


@pytest.mark.parametrize("route", ["compiled", "scipy", "two workers"])
def test_face_restriction_changes_no_answer_and_agrees_with_the_lp(monkeypatch, route):
    from neuralhull.hull import api, parallel, warm_nnls

    if route == "scipy":
        monkeypatch.setattr(warm_nnls, "AVAILABLE", False)  # the uncompiled candidate pick
    if route == "two workers":
        monkeypatch.setattr(parallel, "PARALLEL_MIN_WORK", 0)
    n_jobs = 2 if route == "two workers" else 1
    rng = np.random.default_rng(32)
    points, queries = _relu_problem(rng)
    with_faces = membership(points, queries, n_jobs=n_jobs)
    assert_certified(with_faces, points, queries)
    for j, q in enumerate(queries):
        assert (with_faces.status[j] == INSIDE) == lp_inside(points, q), j
    assert with_faces.inside.sum() >= 30  # the combinations
    assert (with_faces.method != "highs").all()  # column generation settled them all
    monkeypatch.setattr(api, "_box_faces", lambda prep, qc: None)
    without = membership(points, queries, n_jobs=n_jobs)
    assert (without.status == with_faces.status).all()


def test_a_query_the_face_points_cannot_reach_falls_back_to_every_point(monkeypatch):
    """The origin sits on the face x_0 = 0, whose points' hull misses it by 1; only with
    the off-face point b (x_0 = 1e-9) is it within the tolerance: inside, with b's weight.
    Clutter nearer the origin fills the first working set, so the face points come in
    by pricing, restricted, and b only once the restriction is lifted."""
    from neuralhull.hull import column_generation

    seen = []
    allowed = column_generation.Faces.allowed

    def spy(self, j, **kw):
        seen.append(allowed(self, j, **kw))
        return seen[-1]

    monkeypatch.setattr(column_generation.Faces, "allowed", spy)
    rng = np.random.default_rng(33)
    a, c, b = [0.0, 3.0, 1.0], [0.0, -3.0, 1.0], [1e-9, 0.0, -3.0]
    clutter = np.column_stack([0.5 + rng.random(30), rng.uniform(-0.3, 0.3, (30, 2))])
    points = np.vstack([clutter, [a, c, b]])
    query = np.zeros((1, 3))
    result = membership(points, query)
    assert_certified(result, points, query)
    assert result.status[0] == INSIDE
    assert result.method[0] == "column-generation"  # not left to the exact LP
    assert any(m is not None and m.sum() == 2 for m in seen)  # restricted to a and c
    assert 32 in result.weights(0)[0]  # b carries weight: the restriction was lifted
    assert membership(points[:32], query).status[0] == OUTSIDE  # b is needed


def _solver_spy(monkeypatch):
    """Records the coordinates (None: all) of every warm solver the engine makes."""
    from neuralhull.hull import column_generation

    made = []

    class Spy(warm_nnls.WarmNNLS):
        def __init__(self, M, *args, **kw):
            super().__init__(M, *args, **kw)
            made.append(self.cols)

    monkeypatch.setattr(column_generation, "WarmNNLS", Spy)
    return made


@pytest.mark.skipif(not warm_nnls.AVAILABLE, reason="numba not installed")
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_face_queries_solved_off_their_faces_give_the_same_answers(monkeypatch, n_jobs):
    """Small images (sklearn's digits, all 61 non-constant pixels independent: no
    rotation): queries on pixel faces that many images share start from their nearest
    face images and are solved in the pixels off their faces; the answers are those of
    solving in every pixel, and the LP's."""
    from sklearn.datasets import load_digits

    from neuralhull.hull import column_generation, parallel
    from neuralhull.hull.prepare import _prepare

    monkeypatch.setattr(parallel, "PARALLEL_MIN_WORK", 0)
    rng = np.random.default_rng(34)
    x = load_digits().data / 16.0
    points, fresh = x[:1500], x[1500:1510]
    d = _prepare(points, 1e-7).rank
    assert _prepare(points, 1e-7).basis is None
    combos = np.stack(
        [
            rng.dirichlet(np.ones(k)) @ points[rng.choice(1500, k, replace=False)]
            for k in (2, 5, 12, 25, 60) * 4
        ]
    )
    queries = np.vstack([fresh, combos])
    made = _solver_spy(monkeypatch)
    small = membership(points, queries, n_jobs=n_jobs)
    assert_certified(small, points, queries)
    reduced = [c for c in made if c is not None]
    if n_jobs == 1:  # (workers' solvers are made in their own processes)
        assert len(reduced) >= 12 and all(c.size < d for c in reduced)
    for j, q in enumerate(queries):
        assert (small.status[j] == INSIDE) == lp_inside(points, q), j
    assert small.inside.sum() >= 20 and (small.method != "highs").all()
    monkeypatch.setattr(column_generation.Faces, "free_coordinates", lambda self, j, r: None)
    made.clear()
    full = membership(points, queries, n_jobs=n_jobs)
    assert all(c is None for c in made)
    assert (full.status == small.status).all()
    np.testing.assert_array_equal(full.inside, small.inside)


@pytest.mark.skipif(not warm_nnls.AVAILABLE, reason="numba not installed")
def test_a_query_solved_off_its_faces_goes_on_in_every_coordinate_when_they_run_out(
    monkeypatch,
):
    """The origin sits on the face x_0 = 0; the 20 points on it miss the origin by at
    least 1 (their last coordinate is >= 1), the off-face point b (x_0 = 1e-9) brings it
    within the tolerance.  The first working sets are face points, solved in the two
    coordinates off the face; once no face point helps, the query goes on with a solver
    in all three and b: inside, with b's weight."""
    rng = np.random.default_rng(35)
    face = np.column_stack([np.zeros(20), rng.uniform(-3, 3, 20), 1.0 + rng.random(20)])
    b = [1e-9, 0.0, -3.0]
    clutter = np.column_stack([0.5 + rng.random(30), rng.uniform(-1, 1, (30, 2))])
    points = np.vstack([face, clutter, [b]])
    query = np.zeros((1, 3))
    made = _solver_spy(monkeypatch)
    result = membership(points, query)
    assert_certified(result, points, query)
    assert result.status[0] == INSIDE
    assert result.method[0] == "column-generation"
    first, *later = [c for c in made[1:]]  # made[0]: the solver the group starts with
    assert first is not None and first.tolist() == [1, 2]  # off the face x_0 = 0
    assert later and later[-1] is None  # then every coordinate
    assert 50 in result.weights(0)[0]  # b carries weight
    assert membership(points[:50], query).status[0] == OUTSIDE  # b is needed


@pytest.mark.skipif(not warm_nnls.AVAILABLE, reason="numba not installed")
def test_first_working_sets_are_the_nearest_points_or_nearest_face_points():
    """Brute force: each query's first working set is its k_init nearest points; for a
    query on faces that enough points share, its k_init nearest points on them."""
    from neuralhull.hull.column_generation import EngineOptions, Faces, _Batch, _Group

    rng = np.random.default_rng(36)
    n, r, m = 3000, 6, 40
    Y = rng.standard_normal((n, r))
    Y[: n // 2, 0] = Y[:, 0].min()  # half the points on the face "column 0 at its minimum"
    Z = rng.standard_normal((m, r))
    Z[::2, 0] = Y[:, 0].min()  # every other query on that face
    on_face = Y[:, 0] == Y[:, 0].min()
    faces = Faces(on_face[None, :], (Z[:, 0] == Y[:, 0].min())[:, None], np.array([0]))
    group = _Group(
        Y, _Batch(Z, np.zeros(m), np.zeros(m)), EngineOptions("membership", use_warm=True)
    )
    group.faces = faces
    group.initial_working_sets()
    for j in range(m):
        d2 = ((Y - Z[j]) ** 2).sum(axis=1)
        if j % 2 == 0:
            d2[~on_face] = np.inf
            assert group.warm[j].cols.tolist() == list(range(1, r))  # off the face
        else:
            assert group.warm[j].cols is None
        truth = np.argsort(d2, kind="stable")[: group.k_init]
        assert sorted(group.support[j].tolist()) == sorted(truth.tolist()), j
