"""The warm-started Lawson-Hanson solver of the hull engine's working sets.

Truths: scipy's NNLS solved from scratch on the same working set (the nearest point of the
working set's hull to z is unique, so both must find the same distance), the optimality
conditions of NNLS checked directly, and the engine's answers without the warm solver.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import nnls

from neuralhull.hull import INSIDE, OUTSIDE, engine, membership, warm_nnls
from neuralhull.hull.warm_nnls import WarmNNLS

pytestmark = pytest.mark.skipif(not warm_nnls.AVAILABLE, reason="numba not installed")


def scratch_distance(Y, S, z):
    """Distance from z to conv(Y[S]) by scipy's NNLS from scratch."""
    A = np.vstack([(Y[S] - z).T, np.ones(S.size)])
    b = np.zeros(A.shape[0])
    b[-1] = 1.0
    lam, _ = nnls(A, b, maxiter=100 * A.shape[1])
    mu = lam / lam.sum()
    return float(np.linalg.norm(mu @ Y[S] - z))


def _problem(rng, kind):
    n, r = int(rng.integers(3, 90)), int(rng.integers(1, 25))
    if kind.startswith("wide"):  # more coordinates than LOOP_COORDINATES: BLAS products
        r = warm_nnls.LOOP_COORDINATES + 16
        n = int(rng.integers(r // 2, 2 * r))
    Y = rng.standard_normal((n, r))
    if kind.endswith("low_rank"):  # columns in the span of the passive ones, blocked
        Y = Y[:, : max(1, r // 3)] @ rng.standard_normal((max(1, r // 3), r))
    elif kind == "duplicates":
        Y = Y[rng.integers(0, max(2, n // 3), n)]
    elif kind == "nonnegative":  # exact zeros, like pixels or ReLU activations
        Y = np.maximum(Y, 0)
    if rng.random() < 0.5:  # inside: a combination of a few points
        k = int(rng.integers(1, min(n, r + 2) + 1))
        z = rng.dirichlet(np.ones(k)) @ Y[rng.choice(n, k, replace=False)]
    else:
        z = rng.standard_normal(r) * rng.choice([0.3, 1.0, 3.0])
    return Y, z


def check_factorisation(solver, Y, z, idx):
    """The solver's state against its definition: the passive columns ``[y - z; 1]`` of
    ``idx`` equal ``R^T Q`` row by row, Q's rows are orthonormal, and with a full basis
    all M rows are (so the last M - k span the complement)."""
    k, M = solver.k, solver.M
    cols = np.arange(Y.shape[1]) if solver.cols is None else solver.cols
    A = np.hstack([Y[idx][:, cols] - z[cols], np.ones((idx.size, 1))])
    R = solver.Rt[:k, :k]  # R stored by columns: row i holds R[:, i]
    assert np.allclose(np.triu(R.T), R.T)
    rows = M if solver.full else k
    Q = solver.Qt[:rows]
    scale = 1 + np.abs(A).max()
    np.testing.assert_allclose(R @ Q[:k], A, atol=1e-10 * scale)
    np.testing.assert_allclose(Q @ Q.T, np.eye(rows), atol=1e-11)


KINDS = ["gaussian", "low_rank", "duplicates", "nonnegative", "wide"]


@pytest.mark.parametrize(
    "kind,full_from",
    [(kind, warm_nnls.FULL_FROM) for kind in KINDS] + [("wide", 0.0), ("wide_low_rank", 0.0)],
)
def test_warm_rounds_match_a_fresh_solve_every_round(kind, full_from):
    # full_from=0: columns enter through the full basis from the first round on
    rng = np.random.default_rng(sum(map(ord, kind)))
    rounds = fulls = 0
    for _ in range(60):
        Y, z = _problem(rng, kind)
        n = Y.shape[0]
        solver = WarmNNLS(Y.shape[1] + 1, full_from=full_from)
        order = rng.permutation(n)
        S, rest = order[:4], order[4:]
        while True:
            out = solver.solve(Y, S, z)
            assert out is not None
            idx, mu, p = out
            # a convex combination of working-set points, at the optimal distance
            assert np.isin(idx, S).all() and np.unique(idx).size == idx.size
            assert (mu > 0).all() and abs(mu.sum() - 1) < 1e-12
            np.testing.assert_allclose(p, mu @ Y[idx], atol=1e-12)
            dist = float(np.linalg.norm(p - z))
            ref = scratch_distance(Y, S, z)
            assert dist <= ref + 1e-9 * (1 + ref), (dist, ref)
            assert dist >= ref - 1e-9 * (1 + ref), (dist, ref)
            check_factorisation(solver, Y, z, idx)
            fulls += solver.full
            # optimality: no working-set point lies beyond p in the direction z - p
            if dist > 1e-9:
                u = (z - p) / dist
                assert (Y[S] @ u).max() <= p @ u + 1e-8
            rounds += 1
            if rest.size == 0:
                break
            step = int(rng.integers(1, 9))
            add, rest = rest[:step], rest[step:]
            # the engine's contract: the previous passive set, in order, leads
            S = np.concatenate([idx, add[~np.isin(add, idx)]])
    assert rounds > 200
    if full_from == 0.0:
        assert fulls == rounds  # every round ran with the full basis


@pytest.mark.parametrize(
    "r,full_from",
    [(60, 0.5), (warm_nnls.LOOP_COORDINATES + 20, 0.0), (warm_nnls.LOOP_COORDINATES + 20, 0.5)],
)
def test_a_large_support_is_found_exactly(r, full_from):
    # a point inside with a support of about r + 1 points, found in many small rounds:
    # hundreds of columns enter and leave the factorisation (in few coordinates the
    # kernel's passes are loops, in many they are BLAS products: both are checked; in
    # many, with the full basis from the start or from half the coordinates on, where
    # the thin factorisation is completed mid-way)
    rng = np.random.default_rng(5)
    n = 400
    Y = rng.standard_normal((n, r))
    z = rng.dirichlet(np.ones(n)) @ Y
    solver = WarmNNLS(r + 1, full_from=full_from)
    S, order = np.arange(10), np.arange(10, n)
    while True:
        idx, mu, p = solver.solve(Y, S, z)
        if order.size == 0:
            break
        S, order = np.concatenate([idx, order[:15]]), order[15:]
    assert np.linalg.norm(p - z) < 1e-10
    assert idx.size <= r + 1
    assert solver.iterations > 61
    check_factorisation(solver, Y, z, idx)
    assert solver.full == (r > warm_nnls.LOOP_COORDINATES)


@pytest.mark.parametrize("r", [30, warm_nnls.LOOP_COORDINATES + 40])
def test_a_solve_on_the_free_coordinates_matches_the_full_one_every_round(r):
    # points and a query sharing exact zeros (pixels, ReLU units): the working sets hold
    # only points that are zero wherever the query is, so their columns vanish there and
    # the solve on the other coordinates must find the same nearest point, round by round
    # (in few coordinates as loops, in many as BLAS products and then the full basis)
    rng = np.random.default_rng(r)
    rounds = same = 0
    for trial in range(12):
        n = int(rng.integers(r, 4 * r))
        Y = np.maximum(rng.standard_normal((n, r)) - 0.3, 0.0)
        zero = rng.random(r) < 0.4  # the query's faces: these coordinates are 0
        on = np.flatnonzero(zero)
        Y[: 3 * n // 4, on] = 0.0  # three quarters of the points lie on all of them
        face_points = np.flatnonzero((Y[:, on] == 0).all(axis=1))
        if trial % 2:  # inside: a combination of face points
            k = int(rng.integers(2, min(face_points.size, r) + 1))
            z = rng.dirichlet(np.ones(k)) @ Y[rng.choice(face_points, k, replace=False)]
        else:  # outside (most likely), zero on the faces
            z = np.where(zero, 0.0, rng.random(r))
        cols = np.flatnonzero(~zero)
        small = WarmNNLS(cols.size + 1, cols=cols)
        full = WarmNNLS(r + 1)
        order = rng.permutation(face_points)
        S_small = S_full = order[:4]
        rest = order[4:]
        while True:
            out_small, out_full = small.solve(Y, S_small, z), full.solve(Y, S_full, z)
            assert out_small is not None and out_full is not None
            (idx, mu, p), (idx_f, _, p_f) = out_small, out_full
            for solver, S in ((small, S_small), (full, S_full)):
                ref = scratch_distance(Y, S, z)
                assert abs(solver.distance - ref) <= 1e-9 * (1 + ref), (solver.distance, ref)
            assert np.isclose(small.distance, float(np.linalg.norm(p - z)), rtol=1e-12)
            np.testing.assert_allclose(p, mu @ Y[idx], atol=1e-12)
            check_factorisation(small, Y, z, idx)
            if set(idx.tolist()) == set(idx_f.tolist()):  # the same problem: same answer
                np.testing.assert_allclose(p, p_f, atol=1e-8)
                same += 1
            rounds += 1
            if rest.size == 0:
                break
            add, rest = rest[:8], rest[8:]
            S_small = np.concatenate([idx, add])
            S_full = np.concatenate([idx_f, add[~np.isin(add, idx_f)]])
        assert small.M == cols.size + 1 < full.M
    assert rounds > 50 and same >= 0.9 * rounds  # the two paths rarely part
    with pytest.raises(ValueError, match="coordinates"):
        WarmNNLS(5, cols=np.arange(5))


def _top_new_brute(g, floor, support, count):
    held = set(support.tolist())
    cands = [i for i in range(g.size) if g[i] > floor and i not in held]
    cands.sort(key=lambda i: (-g[i], i))  # largest first; ties: lower index first
    return np.concatenate([support, np.sort(np.array(cands[:count], dtype=np.int64))])


@pytest.mark.parametrize("n", [7, 300, 20_003])
def test_top_new_is_the_exact_best_priced_extension(n):
    # brute force on every combination of ties, a held working set, floors that leave
    # few or no candidates and counts from 0 to more than there are; sorted inputs too
    # (the engine's points come sorted along a projection, so prices trend with index)
    rng = np.random.default_rng(n)
    mark = np.zeros(n, dtype=bool)
    for trial in range(40):
        g = rng.standard_normal(n)
        if trial % 3 == 0:
            g = np.round(g, 1)  # many ties, also at the cut
        if trial % 4 == 1:
            g = np.sort(g)
        support = rng.choice(n, int(rng.integers(0, min(n, 40) + 1)), replace=False)
        support = support.astype(np.int64)
        floor = float(rng.choice([-np.inf, -0.5, 0.0, 1.5, 10.0]))
        count = int(rng.choice([0, 1, 3, 21, 500, n]))
        got = warm_nnls._top_new(g, floor, support, count, mark)
        np.testing.assert_array_equal(got, _top_new_brute(g, floor, support, count))
        assert not mark.any()


def _engine_statuses(points, queries, monkeypatch, warm):
    monkeypatch.setattr(warm_nnls, "AVAILABLE", warm)
    result = membership(points, queries, n_jobs=1)
    assert result.stats["warm_solver"] is warm
    assert result.verify(points, queries).all() and result.n_undecided == 0
    return result


def test_engine_answers_do_not_depend_on_the_warm_solver(monkeypatch):
    rng = np.random.default_rng(11)
    points = np.maximum(rng.standard_normal((3000, 40)), 0)  # exact zeros, like ReLU
    combos = np.vstack(
        [
            rng.dirichlet(np.ones(k)) @ points[rng.choice(3000, k, replace=False)]
            for k in (2, 10, 30, 41, 41, 41)
        ]
    )
    fresh = np.maximum(rng.standard_normal((20, 40)), 0) * 0.6
    queries = np.vstack([combos, fresh])
    warm = _engine_statuses(points, queries, monkeypatch, True)
    cold = _engine_statuses(points, queries, monkeypatch, False)
    assert (warm.status == cold.status).all()
    assert (warm.status[:6] == INSIDE).all() and (warm.status == OUTSIDE).any()
    assert warm.stats["warm_fallbacks"] == 0


def test_memory_bound_splits_queries_into_groups_with_the_same_answers(monkeypatch):
    rng = np.random.default_rng(12)
    points = rng.standard_normal((800, 15))
    queries = np.vstack(
        [rng.dirichlet(np.ones(16), 20) @ points[:16], rng.standard_normal((20, 15))]
    )
    whole = membership(points, queries, n_jobs=1)
    seen = []
    # room for the state of 3 queries at a time: 14 groups
    monkeypatch.setattr(engine, "WARM_MEMORY", 3 * 16 * (15 + 2) ** 2)
    split = membership(points, queries, n_jobs=1, progress=lambda done, total: seen.append(done))
    assert (split.status == whole.status).all()
    assert (split.rounds == whole.rounds).all()
    assert seen == sorted(seen) and seen[-1] == len(queries)
    assert split.verify(points, queries).all()


def _broken_batch(*args):
    """:func:`warm_nnls._solve_batch` whose every solve breaks down (usable all False)."""
    args[6][2][args[3]] = False  # out = (nearest, dist, usable), at the query positions
    return 0


@pytest.mark.parametrize("d", [10, warm_nnls.LOOP_COORDINATES + 6])
def test_a_breakdown_falls_back_to_fresh_solves(monkeypatch, d):
    # the kernel reports non-finite numbers: the engine must carry on with scipy's NNLS
    # for that query, count it, and still certify every answer; in few coordinates
    # (batched rounds, neuralhull.hull.narrow) and in many (one solver per query)
    monkeypatch.setattr(WarmNNLS, "solve", lambda self, Y, S, z, max_iter=None: None)
    monkeypatch.setattr(warm_nnls, "_solve_batch", _broken_batch)
    rng = np.random.default_rng(13)
    points = rng.standard_normal((500, d))
    queries = np.vstack(
        [rng.dirichlet(np.ones(d + 1), 5) @ points[: d + 1], rng.standard_normal((5, d)) * 2]
    )
    result = membership(points, queries, n_jobs=1)
    assert result.stats["warm_fallbacks"] > 0
    assert result.verify(points, queries).all() and result.n_undecided == 0
    assert (result.status[:5] == INSIDE).all()


@pytest.mark.slow  # compiles the kernels in fresh interpreters
def test_the_compile_is_paid_once_per_cache_not_once_per_job(tmp_path):
    # Two fresh processes share one numba cache (as every job of a checkout shares the
    # package's __pycache__): the first compiles and says so, the second loads and says so.
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(root)}
    code = "from neuralhull.hull import warm_nnls; print(warm_nnls.warm_up())"
    said = [
        subprocess.run(
            [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
        ).stdout
        for _ in range(2)
    ]
    assert "compiled (no cache entry yet)" in said[0], said
    assert "loaded from the cache" in said[1], said
    assert str(tmp_path / "cache") in said[1]


def test_wide_solves_run_on_one_blas_thread_and_pricing_keeps_them():
    """Above LOOP_COORDINATES the kernel's small products run on one BLAS thread (a
    multi-threaded BLAS made them 1.7x slower); the limit is undone afterwards, and
    narrow solves (compiled loops, no BLAS) leave the setting alone."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    np.ones((4, 4)) @ np.ones((4, 4))  # numpy's BLAS is loaded
    WarmNNLS(3).solve(np.eye(2), np.arange(2), np.full(2, 0.5))  # so is numba's
    controller = threadpoolctl.ThreadpoolController()
    before = [lib.num_threads for lib in controller.select(user_api="blas").lib_controllers]
    assert before, "no BLAS library found to limit"
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        two = [lib.num_threads for lib in threadpoolctl.ThreadpoolController().lib_controllers]
        with warm_nnls.one_blas_thread(warm_nnls.LOOP_COORDINATES + 1):
            inside = threadpoolctl.ThreadpoolController().select(user_api="blas")
            assert [lib.num_threads for lib in inside.lib_controllers] == [1] * len(before)
        after = [lib.num_threads for lib in threadpoolctl.ThreadpoolController().lib_controllers]
        assert after == two
        with warm_nnls.one_blas_thread(warm_nnls.LOOP_COORDINATES):
            narrow = [
                lib.num_threads for lib in threadpoolctl.ThreadpoolController().lib_controllers
            ]
            assert narrow == two


@pytest.mark.parametrize("kind", ["clustered", "gaussian"])
def test_batched_rounds_in_few_coordinates_match_one_solver_per_query(monkeypatch, kind):
    """The batched rounds of few coordinates (neuralhull.hull.narrow) run each query's
    arithmetic as the per-query solvers do: the same statuses, rounds and weights to the
    last bit, in membership and in distance; and they are the path actually taken."""
    from benchmarks.hull import clustered_data
    from neuralhull.hull import hull_distance, narrow

    rng = np.random.default_rng(21)
    if kind == "clustered":
        points, fresh = clustered_data(3000, 12, 30, rng)
        k = 3
    else:  # d = 48: passive sets (up to 49) outgrow k_add (32), many rounds, both answers
        points, fresh = rng.standard_normal((1500, 48)), 0.3 * rng.standard_normal((30, 48))
        k = 40
    combos = np.vstack(
        [rng.dirichlet(np.ones(k)) @ points[rng.choice(len(points), k)] for _ in range(30)]
    )
    queries = np.vstack([fresh, combos])
    used = []
    real = narrow.NarrowGroup.__init__
    monkeypatch.setattr(
        narrow.NarrowGroup, "__init__", lambda self, *a, **k: used.append(1) or real(self, *a, **k)
    )
    batched = membership(points, queries, n_jobs=1)
    dist_b = hull_distance(points, queries, n_jobs=1, full_output=True)
    assert len(used) == 2
    monkeypatch.setattr(narrow, "applies", lambda *a: False)
    single = membership(points, queries, n_jobs=1)
    dist_s = hull_distance(points, queries, n_jobs=1, full_output=True)
    assert len(used) == 2
    for name in ("status", "rounds", "weight_indptr", "weight_indices", "weight_values"):
        assert np.array_equal(getattr(batched, name), getattr(single, name)), name
    for name in ("distance", "lower", "upper", "weight_indices", "weight_values"):
        assert np.array_equal(getattr(dist_b, name), getattr(dist_s, name)), name
    assert batched.stats["nnls_solves"] == single.stats["nnls_solves"]
    assert (batched.status[30:] == INSIDE).all() and (batched.status == OUTSIDE).any()
    assert batched.rounds.max() >= 4
    assert batched.verify(points, queries).all()
