"""Convex-hull membership and distance against independent truths.

Truths used: Wendel's theorem, the 1-D order-statistics probability 2/(n+1), the geometry
of the cube, an independent feasibility LP (scipy ``linprog``) on small random and
degenerate problems, and brute-force enumeration of faces for the distance.
"""

from __future__ import annotations

import itertools
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
    # Column generation gets one round, then the fallback LP fails: the queries neither
    # path certified must come back undecided, with no certificate, and in_hull must not
    # silently call them outside.
    import neuralhull.hull as hull_module

    monkeypatch.setattr(hull_module, "_lp_fallback", lambda Y, z: ("failed", None))
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


def test_parallel_matches_serial():
    rng = np.random.default_rng(8)
    points = rng.standard_normal((3000, 8))
    queries = np.vstack([rng.standard_normal((40, 8)), rng.dirichlet(np.ones(9), 40) @ points[:9]])
    serial = membership(points, queries)
    parallel = membership(points, queries, n_jobs=2)
    assert (serial.status == parallel.status).all()
    assert_certified(parallel, points, queries)


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
        (np.array([[np.nan, 1.0]]), np.ones((1, 2)), "NaN"),
        (np.ones((2, 2)), np.array([[np.inf, 1.0]]), "inf"),
        (np.ones((0, 2)), np.ones((1, 2)), "at least one"),
    ],
)
def test_bad_input_raises(points, queries, message):
    with pytest.raises(ValueError, match=message):
        membership(points, queries)


def test_options_are_checked():
    with pytest.raises(ValueError, match="tol"):
        membership(np.ones((2, 2)), np.ones((1, 2)), tol=-1)
    with pytest.raises(ValueError, match="undecided"):
        in_hull(np.ones((2, 2)), np.ones((1, 2)), undecided="maybe")
    assert issubclass(HullUndecidedError, RuntimeError)
    assert len({INSIDE, OUTSIDE, UNDECIDED}) == 3


def test_empty_queries():
    result = membership(np.ones((3, 2)), np.zeros((0, 2)))
    assert result.status.shape == (0,)
    assert hull_distance(np.ones((3, 2)), np.zeros((0, 2))).shape == (0,)
