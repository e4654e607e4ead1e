"""The public functions: :func:`membership`, :func:`in_hull`, :func:`hull_distance` and
:func:`membership_and_distance`.

Each runs the stages in order (preprocessing, the affine and bounding-box certificates,
column generation on several cores, the exact LP for what is left) and assembles the
verified certificates into a result.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from neuralhull.checks import check_count, check_positive
from neuralhull.hull.certificates import _box_check, _Certificates, _outside_allowance
from neuralhull.hull.column_generation import (
    EngineOptions,
    Faces,
    _Batch,
    _EngineOutput,
    _Progress,
)
from neuralhull.hull.lp import _lp_stage
from neuralhull.hull.numerics import (
    INSIDE,
    OUTSIDE,
    UNDECIDED,
    HullUndecidedError,
    _max_dot,
    _row_norms,
)
from neuralhull.hull.parallel import _engine_parallel
from neuralhull.hull.prepare import _as_data, _prepare, _Prepared, _Problem
from neuralhull.hull.results import DistanceResult, HullResult


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def _check_options(tol: float, max_rounds: int, n_jobs) -> int:
    """The call's options checked with the library's shared checks; the worker count."""
    check_positive(tol, "tol")
    check_count(max_rounds, "max_rounds")
    if n_jobs is None or n_jobs == -1:
        return _available_cores()
    return check_count(n_jobs, "n_jobs (or -1 or None: every core)")


def _hull_vertices(Y: np.ndarray) -> np.ndarray | None:
    """Indices of the vertices of conv(Y) by qhull, or None if qhull fails."""
    from scipy.spatial import ConvexHull, QhullError

    if Y.shape[0] <= 4 * (Y.shape[1] + 1):
        return None
    try:
        return np.sort(ConvexHull(Y).vertices).astype(np.int64)
    except (QhullError, ValueError):
        return None


@dataclass
class _Call:
    """One call of a public function: its problem in the engine's terms, how it runs,
    and the clock its stats read."""

    problem: _Problem
    n_points: int  # rows of the points as given, duplicates included
    n_jobs: int
    progress: Callable[[int, int], None] | None
    t0: float  # when the call started
    t_prep: float  # seconds spent preparing the points and queries

    @property
    def m(self) -> int:
        return self.problem.qc.shape[0]

    def stats(self, eng: _EngineOutput, extra: dict | None = None) -> dict:
        """The result's ``stats``: sizes, the engine's counters, ``extra``, the times."""
        prep = self.problem.prep
        stats = {
            "n_points": self.n_points,
            "n_unique": int(prep.unique_index.size),
            "rank": int(prep.rank),
            "nnls_solves": int(eng.nnls_solves),
            "warm_solver": bool(eng.warm),
            "warm_fallbacks": int(eng.warm_fallbacks),
        }
        stats.update(extra or {})
        stats["preprocess_s"] = float(self.t_prep)
        stats["time_s"] = float(time.perf_counter() - self.t0)
        stats["n_jobs"] = int(self.n_jobs)
        return stats

    def finish_progress(self) -> None:
        if self.progress is not None:
            self.progress(self.m, self.m)


def _setup(points, queries, tol, max_rounds, n_jobs, progress=None) -> _Call:
    t0 = time.perf_counter()
    points, queries = _as_data(points, queries)
    n_jobs = _check_options(tol, max_rounds, n_jobs)
    prep = _prepare(points, tol)
    problem = _Problem.build(prep, queries, tol)
    n_points = int(points.shape[0])
    return _Call(problem, n_points, n_jobs, progress, t0, time.perf_counter() - t0)


def _pack_weights(indices: list, values: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-query weights (lists of (k_j,) arrays) as a CSR triple (indptr, indices, values)."""
    counts = np.array([w.size for w in values], dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    if not values:
        return indptr, np.zeros(0, dtype=np.int64), np.zeros(0)
    return indptr, np.concatenate(indices), np.concatenate(values)


def _box_faces(prep, queries_centred: np.ndarray) -> Faces | None:
    """The bounding-box faces (a column's minimum or maximum, exactly) that the queries
    lie on and that hold some but not all of the points; None where there are none."""
    span = prep.colmin < prep.colmax
    q_min = (queries_centred == prep.colmin) & span
    q_max = (queries_centred == prep.colmax) & span
    cols_min = np.flatnonzero(q_min.any(axis=0))
    cols_max = np.flatnonzero(q_max.any(axis=0))
    if cols_min.size + cols_max.size == 0:
        return None
    X = prep.centred
    cols = np.concatenate([cols_min, cols_max])
    bound = np.concatenate([prep.colmin[cols_min], prep.colmax[cols_max]])
    points = np.empty((cols.size, X.shape[0]), dtype=bool)
    step = max(1, (1 << 22) // cols.size)  # rows per block: no full copy of the columns
    for lo in range(0, X.shape[0], step):
        points[:, lo : lo + step] = (X[lo : lo + step, cols] == bound).T
    queries = np.concatenate([q_min[:, cols_min], q_max[:, cols_max]], axis=1)
    # the engine's coordinates are the kept columns themselves when there is no rotation:
    # the faces then name coordinates where face points equal the query exactly
    coords = None if prep.basis is not None else np.searchsorted(prep.columns, cols)
    return Faces(points, queries, coords)


def _run_engine(call: _Call, rows: np.ndarray, tol_out: np.ndarray, options: EngineOptions):
    """Column generation for ``rows`` of the call's queries, which stop as inside within
    their in-subspace share of the tolerance and as ``options.mode`` says with
    ``tol_out``; supports index unique points.  Membership also uses the box faces the
    queries lie on (:class:`Faces`)."""
    prep, Z, tol_in = call.problem.prep, call.problem.Z, call.problem.tol_sub
    if prep.rank == 0:
        # every unique point is the single point: the in-subspace distance is 0
        k = rows.size
        return _EngineOutput(
            state=np.full(k, INSIDE, dtype=np.int8),
            support=[np.zeros(1, dtype=np.int64) for _ in range(k)],
            mu=[np.ones(1) for _ in range(k)],
            upper=np.zeros(k),
            lower=np.zeros(k),
            direction=np.zeros((k, 0)),
            dnorm=np.zeros(k),
            rounds=np.zeros(k, dtype=np.int32),
        )
    if prep.rank == 1:
        return _engine_on_a_line(prep.reduced[:, 0], Z[rows, 0], tol_in[rows])
    # low dimension and many queries: only the hull's vertices can carry weight, and
    # qhull finds them cheaply; certificates are still checked against all points
    candidates = _hull_vertices(prep.reduced) if prep.rank <= 5 and rows.size >= 500 else None
    Y = prep.reduced if candidates is None else prep.reduced[candidates]
    batch = _Batch(Z[rows], tol_in[rows], tol_out[rows])
    if options.mode == "membership" and candidates is None and rows.size:
        batch.faces = _box_faces(prep, call.problem.qc[rows])
    progress = _Progress(call.progress, call.m - rows.size, call.m)
    eng = _engine_parallel(Y, batch, options, progress, call.n_jobs)
    if candidates is not None:
        eng.support = [None if s is None else candidates[s] for s in eng.support]
    return eng


def _engine_on_a_line(y: np.ndarray, z: np.ndarray, tol_in: np.ndarray) -> _EngineOutput:
    """The engine's answer where the affine hull is a line: the hull is the segment
    [min y, max y], so each query's nearest hull point is known in closed form.

    Inside the segment: the two end points with weights ``(1 - t, t)``; beyond an end: that
    end, with the unit direction to the query and its distance.  These are candidates like
    the column generation's: the caller certifies every answer against all points (and a
    query whose certificate fails goes on to the exact LP)."""
    k = z.size
    imin, imax = int(np.argmin(y)), int(np.argmax(y))
    lo, hi = float(y[imin]), float(y[imax])
    below, above = z < lo, z > hi
    gap = np.where(below, lo - z, np.where(above, z - hi, 0.0))
    state = np.where(gap <= tol_in, INSIDE, OUTSIDE).astype(np.int8)
    support, mu = [], []
    for j in range(k):
        if below[j]:
            support.append(np.array([imin], dtype=np.int64))
            mu.append(np.ones(1))
        elif above[j]:
            support.append(np.array([imax], dtype=np.int64))
            mu.append(np.ones(1))
        else:
            t = (float(z[j]) - lo) / (hi - lo)
            support.append(np.array([imin, imax], dtype=np.int64))
            mu.append(np.array([1.0 - t, t]))
    return _EngineOutput(
        state=state,
        support=support,
        mu=mu,
        upper=gap.copy(),
        lower=gap.copy(),
        direction=np.where(below, -1.0, 1.0)[:, None],
        dnorm=np.where(gap > 0, gap, 1.0),
        rounds=np.zeros(k, dtype=np.int32),
    )


def membership(
    points,
    queries,
    *,
    tol: float = 1e-7,
    n_jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    max_rounds: int = 200,
    seed: int = 0,
) -> HullResult:
    """Certified membership of each query in the convex hull of the points.

    Parameters
    ----------
    points : (n, d) float
        Training points (float32 or float64; duplicates and rank deficiency allowed).
        The spread around their mean must lie within about 1e-280 .. 1e280.
    queries : (m, d) float
        float32 queries are taken as the exact numbers given; see "Floating-point
        policy" in ``docs/hull-engine.md`` for what their own rounding means.
    tol : float
        Relative tolerance: inside means within ``tol * scale`` (Euclidean) of the hull,
        ``scale`` the radius of the points (see :func:`hull_scale`).
    n_jobs : int or None
        Worker processes for the queries (None or -1: every core this process may use,
        ``len(os.sched_getaffinity(0))``).  The result does not depend on it.
    progress : callable(done, total) or None
        Called after every round with the number of decided queries.
    max_rounds : int
        Column-generation rounds per query before the exact LP.
    seed : int
        Seed of the random subsample of points used to pick candidate columns cheaply;
        it can change the work done, never a certified answer.

    Returns
    -------
    HullResult

    Raises
    ------
    ValueError
        Bad shapes, NaN or inf, bad options, integers that float64 cannot represent
        exactly, or magnitudes that float64 cannot handle safely (see :func:`hull_scale`).
    """
    call = _setup(points, queries, tol, max_rounds, n_jobs, progress)
    problem = call.problem
    cert = _Certificates.empty(*problem.qc.shape)
    # 1. off the affine hull by more than the tolerance: the off direction separates
    off_rows = np.flatnonzero(problem.off > problem.tol_abs)
    cert.certify_outside(problem, off_rows, problem.off_vec[off_rows], "affine")
    # 2. the bounding box
    _box_check(problem, np.flatnonzero(cert.status == UNDECIDED), cert)
    # 3. column generation, against the in-subspace share of the tolerance both ways
    options = EngineOptions("membership", rtol=0.0, max_rounds=max_rounds, seed=seed)
    eng, rounds = _membership_engine(call, cert, options)
    # 4. the exact LP for whatever is still undecided
    lp_solves = _lp_stage(problem, np.flatnonzero(cert.status == UNDECIDED), cert)

    call.finish_progress()
    indptr, indices, values = _pack_weights(cert.weights_idx, cert.weights_val)
    seconds = {k: round(v, 4) for k, v in eng.seconds.items()}
    return HullResult(
        status=cert.status,
        weight_indptr=indptr,
        weight_indices=indices,
        weight_values=values,
        hyperplane_normal=cert.normal,
        hyperplane_offset=cert.offset,
        residual=cert.residual,
        margin=cert.margin,
        method=cert.method,
        rounds=rounds,
        tol=float(tol),
        scale=float(problem.prep.scale),
        stats=call.stats(eng, {"lp_solves": int(lp_solves), "seconds": seconds}),
    )


def _membership_engine(call: _Call, cert: _Certificates, options: EngineOptions):
    """Stage 3 of membership: column generation for the queries still undecided and on
    the affine hull within the tolerance, and the certificates of its answers.  Returns
    the engine's output and the rounds (m,) each query used."""
    problem = call.problem
    prep, Z, off = problem.prep, problem.Z, problem.off
    rounds = np.zeros(call.m, dtype=np.int32)
    rows = np.flatnonzero((cert.status == UNDECIDED) & (off <= problem.tol_abs))
    eng = _run_engine(call, rows, problem.tol_sub, options)
    rounds[rows] = eng.rounds
    in_a = np.flatnonzero(eng.state == INSIDE)
    cert.try_inside_many(
        problem, rows[in_a], [eng.support[a] for a in in_a], [eng.mu[a] for a in in_a],
        "column-generation",
    )  # fmt: skip
    out_a = np.flatnonzero(eng.state == OUTSIDE)
    if out_a.size:
        out_rows = rows[out_a]
        # the full-space residual q - p: unit in-subspace direction u scaled by its
        # in-subspace margin g, plus the off-subspace part o; the margin of u * g + o is
        # then sqrt(g**2 + |o|**2), which exceeds tol * scale whenever g > tol_sub
        U = eng.direction[out_a]
        alpha = eng.dnorm[out_a].copy()
        flat = off[out_rows] > 0  # otherwise the length of u does not matter
        if flat.any():
            g = np.einsum("ij,ij->i", Z[out_rows[flat]], U[flat])
            g -= _max_dot(prep.reduced, U[flat])
            alpha[flat] = np.where(g > 0, g, alpha[flat])
        cand = prep.lift(U * alpha[:, None]) + problem.off_vec[out_rows]
        cert.certify_outside(problem, out_rows, cand, "column-generation")
    return eng, rounds


def in_hull(points, queries, *, tol: float = 1e-7, undecided: str = "raise", **kw) -> np.ndarray:
    """Boolean convex-hull membership.

    Parameters
    ----------
    points : (n, d) float
    queries : (m, d) float
    tol : float
        See :func:`membership`.
    undecided : {"raise", "inside", "outside"}
        What to do with queries that could not be certified: raise
        :class:`HullUndecidedError` (default), or count them as inside / outside.
    **kw
        Passed to :func:`membership`.

    Returns
    -------
    (m,) bool
    """
    if undecided not in ("raise", "inside", "outside"):
        raise ValueError(f"undecided must be 'raise', 'inside' or 'outside', got {undecided!r}")
    result = membership(points, queries, tol=tol, **kw)
    if result.n_undecided and undecided == "raise":
        raise HullUndecidedError(
            f"{result.n_undecided} of {result.status.size} queries could be certified neither "
            "inside nor outside; use membership() to inspect them or pass undecided="
        )
    return (result.status == INSIDE) | ((result.status == UNDECIDED) & (undecided == "inside"))


def hull_distance(
    points,
    queries,
    *,
    tol: float = 1e-7,
    rtol: float = 1e-6,
    n_jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    max_rounds: int = 500,
    seed: int = 0,
    full_output: bool = False,
):
    """Euclidean distance from each query to the convex hull of the points.

    Parameters
    ----------
    points : (n, d) float
    queries : (m, d) float
    tol : float
        Queries within ``tol * scale`` of the hull count as inside (distance 0); also the
        absolute accuracy (relative to ``scale``) of the distance.
    rtol : float
        Relative accuracy: a distance is returned once its certified bounds satisfy
        ``upper - lower <= max(tol * scale, rtol * upper)``.
    n_jobs, progress, max_rounds, seed
        See :func:`membership`.
    full_output : bool
        Return the :class:`DistanceResult` (bounds, weights, convergence flags) instead.

    Returns
    -------
    (m,) float64
        The distance ``upper`` (that of a certified hull point).  Raises
        :class:`HullUndecidedError` if some query did not converge (unless
        ``full_output``).
    """
    call = _setup(points, queries, tol, max_rounds, n_jobs, progress)
    m, scale = call.m, call.problem.prep.scale
    options = EngineOptions("distance", rtol=rtol, max_rounds=max_rounds, seed=seed)
    tol_out = np.full(m, call.problem.tol_abs)
    eng = _run_engine(call, np.arange(m), tol_out, options)
    bounds = _DistanceBounds.certify(call.problem, eng)
    upper, lower = bounds.upper, bounds.lower
    inside = bounds.has & (upper <= tol * scale)
    converged = inside | (bounds.has & (upper - lower <= np.maximum(tol * scale, rtol * upper)))
    distance = np.where(inside, 0.0, np.where(converged, upper, np.nan))
    call.finish_progress()
    indptr, indices, values = _pack_weights(bounds.weights_idx, bounds.weights_val)
    result = DistanceResult(
        distance=distance,
        lower=np.where(inside, 0.0, lower),
        upper=upper,
        converged=converged,
        weight_indptr=indptr,
        weight_indices=indices,
        weight_values=values,
        tol=float(tol),
        rtol=float(rtol),
        scale=float(scale),
        stats=call.stats(eng),
    )
    if full_output:
        return result
    if not converged.all():
        raise HullUndecidedError(
            f"distance of {int((~converged).sum())} of {m} queries did not converge "
            f"within max_rounds={max_rounds}; use full_output=True for bounds"
        )
    return distance


@dataclass
class _DistanceBounds:
    """Certified bounds on each query's distance to the hull, original units: ``upper``
    (m,) that of the hull point its weights give (``inf`` without weights), ``lower``
    (m,) the margin of the hyperplane through that point's residual (0 where not needed
    or not positive); ``has`` (m,) whether the query got weights; the weights, per query,
    on original rows."""

    upper: np.ndarray
    lower: np.ndarray
    has: np.ndarray
    weights_idx: list
    weights_val: list

    @classmethod
    def certify(cls, problem: _Problem, eng: _EngineOutput) -> _DistanceBounds:
        """The bounds of the engine's nearest points (``eng`` covers every query)."""
        prep, qc, qnorm = problem.prep, problem.qc, problem.qnorm
        m, d = qc.shape
        unit, X = prep.unit, prep.centred
        upper = np.full(m, np.inf)
        lower = np.zeros(m)
        weights_idx, weights_val, wsum_err, P = _nearest_points(prep, eng, m, d)
        has = np.array([w.size > 0 for w in weights_val], dtype=bool)
        Wd = qc - P
        norm = _row_norms(Wd[has])
        # upper bound, original units: float64 rounding of the internal residual, then the
        # weights' rounding off a sum of exactly 1 moves the point by |sum(w) - 1| * |centre|
        upper[has] = (norm + _outside_allowance(d, prep.radius, qnorm[has])) / unit + wsum_err[
            has
        ] * prep.centre_norm
        # certified lower bound: (q.w - max_i x_i.w) / ||w|| with w = q - p (translation
        # invariant: only the centring's rounding, inside the allowance, enters)
        rows_lb = np.flatnonzero(has & (upper > problem.tol * prep.scale))  # inside: no need
        if rows_lb.size:
            w = Wd[rows_lb] / _row_norms(Wd[rows_lb])[:, None]
            best = _max_dot(X, w)
            qw = np.einsum("ij,ij->i", qc[rows_lb], w)
            allowance = _outside_allowance(d, prep.radius, qnorm[rows_lb])
            lower[rows_lb] = np.maximum(qw - best - allowance, 0.0) / unit
        return cls(upper, lower, has, weights_idx, weights_val)


def _nearest_points(prep: _Prepared, eng: _EngineOutput, m: int, d: int):
    """Each query's convex weights from the engine (positive ones, renormalised, on
    original rows), how far their sum is from 1, and the point P (m, d) they give
    (centred, internal units; 0 without weights)."""
    weights_idx: list = [np.zeros(0, dtype=np.int64)] * m
    weights_val: list = [np.zeros(0)] * m
    wsum_err = np.zeros(m)
    P = np.zeros((m, d))
    for j in range(m):
        if eng.mu[j] is None:
            continue
        S, mu = eng.support[j], eng.mu[j]
        pos = mu > 0
        idx, w = S[pos], mu[pos] / mu[pos].sum()
        weights_idx[j] = prep.unique_index[idx]
        weights_val[j] = w
        wsum_err[j] = abs(w.sum() - 1.0)
        P[j] = w @ prep.centred[idx]
    return weights_idx, weights_val, wsum_err, P


@dataclass
class MembershipDistance:
    """Membership and distance of m queries from one pass (:func:`membership_and_distance`).

    ``status`` (m,) int8 codes as in :class:`HullResult`; ``method`` (m,) str (``"distance"``
    where the distance's bounds settled the query, else the membership engine's method);
    ``margin`` and ``residual`` (m,) as in :class:`HullResult` (relative to ``scale``);
    ``distance``, ``lower``, ``upper`` (m,) certified distance and bounds, original units
    (0 inside; for outside queries the distance, NaN where it did not converge, with its
    bounds; NaN for undecided queries); ``scale``; ``stats`` (``rank``, ``fallback``: queries
    sent to the membership engine, ``time_s``).
    """

    status: np.ndarray
    method: np.ndarray
    margin: np.ndarray
    residual: np.ndarray
    distance: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    scale: float
    stats: dict


def membership_and_distance(
    points,
    queries,
    *,
    tol: float = 1e-7,
    n_jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> MembershipDistance:
    """Certified membership and distance to the hull in one pass of the engine.

    The distance's certified bounds settle membership: inside where a hull point within
    ``tol * scale`` is certified (its convex weights checked), outside where the certified
    lower bound, the margin of the separating hyperplane ``w = q - p``, exceeds
    ``tol * scale``.  Only queries whose bounds straddle the tolerance go to
    :func:`membership` (with its exact LP stage).  Same answers as :func:`membership`
    followed by :func:`hull_distance` of the outside queries, for about the cost of the
    second alone.
    """
    t0 = time.perf_counter()
    dist = hull_distance(
        points, queries, tol=tol, n_jobs=n_jobs, progress=progress, full_output=True
    )
    scale = dist.scale
    inside = dist.converged & (dist.upper <= tol * scale)
    outside = ~inside & (dist.lower > tol * scale)
    status = np.where(inside, INSIDE, np.where(outside, OUTSIDE, UNDECIDED)).astype(np.int8)
    method = np.where(inside | outside, "distance", "none").astype("<U17")
    margin = np.where(outside, dist.lower / scale, np.nan)
    residual = np.where(inside, dist.upper / scale, np.nan)
    rank = dist.stats.get("rank")
    rest = np.flatnonzero(~(inside | outside))
    if rest.size:
        res = membership(points, np.asarray(queries)[rest], tol=tol, n_jobs=n_jobs)
        status[rest] = res.status
        method[rest], margin[rest], residual[rest] = res.method, res.margin, res.residual
    is_in, is_out = status == INSIDE, status == OUTSIDE
    return MembershipDistance(
        status=status,
        method=method,
        margin=margin,
        residual=residual,
        distance=np.where(is_in, 0.0, np.where(is_out, dist.distance, np.nan)),
        lower=np.where(is_in, 0.0, np.where(is_out, dist.lower, np.nan)),
        upper=np.where(is_in, 0.0, np.where(is_out, dist.upper, np.nan)),
        scale=float(scale),
        stats={"rank": rank, "fallback": int(rest.size), "time_s": time.perf_counter() - t0},
    )
