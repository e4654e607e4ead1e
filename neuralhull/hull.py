"""Exact, certified convex-hull membership and distance to the hull.

Is a query ``q`` a convex combination of the training points ``x_1 .. x_n``, i.e. is there
``lambda >= 0`` with ``sum(lambda) = 1`` and ``sum_i lambda_i x_i = q``?  Every answer
carries a certificate that is re-checked in float64 against the original points before it
is returned:

``INSIDE``
    sparse convex weights (``>= 0``, summing to 1) with
    ``||sum_i lambda_i x_i - q||_2 <= tol * scale``;
``OUTSIDE``
    a separating hyperplane ``(w, b)``, ``||w||_2 = 1``, with ``max_i x_i . w <= b`` and
    ``q . w >= b + tol * scale`` (after an allowance for float64 rounding);
``UNDECIDED``
    neither certificate could be verified (a numerical limit or the round budget was
    reached).  Never reported as outside.

``scale`` is the radius of the training set, ``max_i ||x_i - mean(x)||_2`` (1 when all
training points coincide), so ``tol`` is relative.  In exact arithmetic the two
certificates cover every query: a query within Euclidean distance ``tol * scale`` of the
hull is inside (the hull is closed and the band of width ``tol * scale`` around it counts
as inside), any other is outside with margin equal to its distance.

Method
------
1. Preprocessing: drop duplicate rows, centre, find the affine hull by an SVD and work in
   its coordinates (rank ``r``), rescale to unit radius.  A query farther than the
   tolerance from the affine hull is outside, with the off-subspace direction as
   hyperplane.
2. Column generation on the minimum-norm-point problem
   ``min ||sum_{i in S} mu_i y_i - z||`` over the simplex, for a working set ``S`` that
   starts from the query's nearest neighbours.  Each working-set problem is solved
   exactly as a non-negative least-squares problem (``[Y_S^T - z; 1^T] lambda ~ [0; 1]``,
   ``mu = lambda / sum(lambda)``; this reduction is exact).  Its solution ``p`` gives an
   upper bound ``||z - p||`` on the distance and the direction ``w = z - p``; one batched
   matrix product over all active queries prices every training point against ``w``,
   which gives the Frank-Wolfe lower bound ``(z . w - max_i y_i . w) / ||w||`` and the
   points to add to ``S``.  A query stops as soon as the upper bound certifies inside or
   the lower bound certifies outside.
   In rank <= 5 with >= 500 queries the working sets are drawn from the hull's vertices
   only (qhull), which makes pricing nearly free.
3. Every certificate is mapped back and verified against the original points; a query
   whose certificate fails (or that used up ``max_rounds``) goes to a fallback LP (HiGHS,
   elastic feasibility form, its dual as hyperplane) on the full problem, and stays
   ``UNDECIDED`` if that does not verify either.

Costs: preprocessing is one Gram matrix (n d^2) plus the rotation; each round one product
of the active queries with all points plus one NNLS per query.  Queries outside the hull
typically need 1-3 rounds.  Inside queries whose convex weights need hundreds of points in
high dimension (e.g. random convex combinations of up to d+1 training points at d = 784)
are the slow case: tens of rounds with NNLS problems of hundreds of columns.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import nnls

__all__ = [
    "INSIDE",
    "OUTSIDE",
    "UNDECIDED",
    "STATUS_NAMES",
    "HullResult",
    "HullUndecidedError",
    "DistanceResult",
    "hull_scale",
    "membership",
    "in_hull",
    "hull_distance",
]

UNDECIDED = 0
INSIDE = 1
OUTSIDE = 2
STATUS_NAMES = ("undecided", "inside", "outside")

_EPS = np.finfo(np.float64).eps


class HullUndecidedError(RuntimeError):
    """Some queries could be certified neither inside nor outside."""


# ---------------------------------------------------------------------------
# input checks and preprocessing


def _as_data(points, queries) -> tuple[np.ndarray, np.ndarray]:
    points = np.asarray(points)
    queries = np.asarray(queries)
    for name, a in (("points", points), ("queries", queries)):
        if a.ndim != 2:
            raise ValueError(f"{name} must be a 2-D array (rows are samples), got shape {a.shape}")
        if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
            raise ValueError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    if points.shape[0] < 1 or points.shape[1] < 1:
        raise ValueError(f"points must have at least one row and one column, got {points.shape}")
    if queries.shape[1] != points.shape[1]:
        raise ValueError(
            f"queries have {queries.shape[1]} columns but points have {points.shape[1]}: "
            "both must live in the same space"
        )
    for name, a in (("points", points), ("queries", queries)):
        if np.issubdtype(a.dtype, np.floating):
            if np.isnan(a).any():
                raise ValueError(f"{name} contain NaN")
            if np.isinf(a).any():
                raise ValueError(f"{name} contain inf")
    return points, queries


def hull_scale(points) -> tuple[np.ndarray, float]:
    """Centre and length scale that make the tolerances relative.

    Parameters
    ----------
    points : (n, d) float

    Returns
    -------
    centre : (d,) float64
        The mean of the points (exactly the common value in constant columns).
    scale : float
        ``max_i ||x_i - centre||_2``, or 1.0 when all points coincide (then ``centre``
        is that point and the tolerances are absolute).
    """
    x = np.asarray(points, dtype=np.float64)
    constant = ~(x.max(axis=0) > x.min(axis=0))
    if constant.all():
        return x[0].copy(), 1.0  # all points coincide
    centre = x.mean(axis=0)
    centre[constant] = x[0, constant]  # exact, so centred constant columns are exactly 0
    radius = 0.0
    for start in range(0, x.shape[0], 8192):
        block = x[start : start + 8192] - centre
        radius = max(radius, float(np.sqrt(np.einsum("ij,ij->i", block, block).max())))
    return centre, (radius if radius > 0 else 1.0)


@dataclass
class _Prepared:
    """Training points reduced to the coordinates of their affine hull.

    Two exact reductions: columns constant over all points are dropped (``columns`` keeps
    the others), then an orthonormal ``basis`` of the span of the centred points in the
    kept columns (None: no rotation).
    """

    centred: np.ndarray  # (u, d) float64, unique points minus centre (not scaled)
    unique_index: np.ndarray  # (u,) index of each unique point in the original array
    centre: np.ndarray  # (d,)
    scale: float
    columns: np.ndarray  # (d',) indices of the non-constant columns
    basis: np.ndarray | None  # (d', r) orthonormal basis of the affine hull, None = identity
    reduced: np.ndarray  # (u, r) float64 scaled coordinates
    radius: float  # max ||centred row||

    @property
    def rank(self) -> int:
        return self.reduced.shape[1]

    def reduce(self, queries_centred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scaled affine-hull coordinates (m, r) and off-hull distances (m,) of queries."""
        off = self.off_component(queries_centred)
        coords = queries_centred[:, self.columns]
        if self.basis is not None:
            coords = coords @ self.basis
        return coords / self.scale, np.linalg.norm(off, axis=1) / self.scale

    def off_component(self, queries_centred: np.ndarray) -> np.ndarray:
        """(m, d) component of centred queries orthogonal to the affine hull."""
        off = queries_centred.copy()
        if self.basis is not None:
            kept = queries_centred[:, self.columns]
            off[:, self.columns] = kept - (kept @ self.basis) @ self.basis.T
        else:
            off[:, self.columns] = 0.0
        return off

    def lift(self, w: np.ndarray) -> np.ndarray:
        """(k, d) full-space vectors of reduced directions ``w`` (k, r)."""
        full = np.zeros((w.shape[0], self.centre.size))
        full[:, self.columns] = w if self.basis is None else w @ self.basis.T
        return full


def _unique_rows(x: np.ndarray) -> np.ndarray:
    """Sorted indices of the first occurrence of each distinct row of x (n, d).

    Rows are bucketed by two fixed random projections and only rows sharing a bucket are
    compared exactly, which is much faster than sorting rows as byte strings when many rows
    share long common prefixes (images).  A duplicate missed by rounding differences in
    the projections is harmless: duplicates only cost time.
    """
    n = x.shape[0]
    if n <= 1:
        return np.arange(n)
    rng = np.random.default_rng(12345)
    keys = x @ rng.standard_normal((x.shape[1], 2))
    order = np.lexsort((keys[:, 1], keys[:, 0]))
    ks = keys[order]
    same = np.all(ks[1:] == ks[:-1], axis=1)
    if not same.any():
        return np.arange(n)
    drop = np.zeros(n, dtype=bool)
    starts = np.flatnonzero(np.diff(np.concatenate([[False], same, [False]]).astype(np.int8)) == 1)
    ends = np.flatnonzero(np.diff(np.concatenate([[False], same, [False]]).astype(np.int8)) == -1)
    for lo, hi in zip(starts, ends, strict=True):
        group = np.sort(order[lo : hi + 1])
        _, first = np.unique(x[group], axis=0, return_index=True)
        keep = np.zeros(group.size, dtype=bool)
        keep[first] = True
        drop[group[~keep]] = True
    return np.flatnonzero(~drop)


def _prepare(points: np.ndarray, tol: float) -> _Prepared:
    x = np.asarray(points, dtype=np.float64)
    unique_index = _unique_rows(x)
    centre, scale = hull_scale(x)
    centred = x[unique_index]
    centred -= centre  # constant columns are exactly 0 (hull_scale's centre)
    radius = float(np.sqrt(np.einsum("ij,ij->i", centred, centred).max()))
    columns = np.flatnonzero(centred.max(axis=0) > centred.min(axis=0))
    basis = None
    if columns.size == centred.shape[1]:
        kept, kept_is_copy = centred, False
    else:
        kept, kept_is_copy = np.ascontiguousarray(centred[:, columns]), True
    if columns.size and centred.shape[0] > 1:
        basis = _affine_basis(kept, scale, tol)
    if basis is not None and basis.shape[1] == columns.size:
        basis = None
    if basis is not None:
        reduced = kept @ basis
        reduced /= scale
    elif kept_is_copy:
        reduced = kept
        reduced /= scale
    else:
        reduced = kept / scale
    return _Prepared(centred, unique_index, centre, scale, columns, basis, reduced, radius)


def _affine_basis(centred: np.ndarray, scale: float, tol: float) -> np.ndarray | None:
    """Orthonormal basis (d, r) of the span of the centred points, or None for all of R^d.

    The spectrum comes from the smaller Gram matrix.  Directions are dropped only if every
    point's distance to the kept subspace, measured afterwards, is below
    ``1e-3 * tol * scale``; otherwise, or if fewer than 10% of the directions would go, no
    reduction is made (the engine is exact in any orthonormal coordinates).
    """
    u, d = centred.shape
    if d <= u:
        evals, vecs = np.linalg.eigh(centred.T @ centred)
        evals, vecs = evals[::-1], vecs[:, ::-1]
    else:
        evals, left = np.linalg.eigh(centred @ centred.T)
        evals, left = evals[::-1], left[:, ::-1]
    if evals[0] <= 0:
        return np.zeros((d, 0))
    r = int(np.sum(evals > 100 * max(u, d) * _EPS * evals[0]))
    if r >= 0.9 * d:
        return None
    if d <= u:
        basis = vecs[:, :r]
        dropped = vecs[:, r:]
        off = 0.0
        for start in range(0, u, 8192):
            resid = centred[start : start + 8192] @ dropped
            off = max(off, float(np.sqrt(np.einsum("ij,ij->i", resid, resid).max())))
    else:
        basis = np.linalg.qr(centred.T @ left[:, :r])[0]
        resid = centred - (centred @ basis) @ basis.T
        off = float(np.sqrt(np.einsum("ij,ij->i", resid, resid).max()))
    if off > 1e-3 * tol * scale:
        return None
    return np.ascontiguousarray(basis)


def _max_dot(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``max_i X[i] . W[j]`` for every row of W, in float64, block by block.

    X : (n, d) float64, W : (k, d) float64 -> (k,).  One reused buffer of about 4 MB:
    fresh large temporaries are slow to fault in on some machines.
    """
    n = X.shape[0]
    k = W.shape[0]
    best = np.full(k, -np.inf)
    if k == 0 or n == 0:
        return best
    rows = max(1, min(n, int(5e5 // k)))
    buf = np.empty((rows, k))
    WT = np.ascontiguousarray(W.T)
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        out = buf[: stop - start]
        np.matmul(X[start:stop], WT, out=out)
        np.maximum(best, out.max(axis=0), out=best)
    return best


# ---------------------------------------------------------------------------
# certificate checks (float64, original coordinates up to a translation)


def _outside_allowance(d: int, radius: float, qnorm, cnorm: float) -> np.ndarray:
    """Bound on float64 rounding in ``q.w - max_i x_i.w`` for unit ``w`` (centred sums)."""
    return 4.0 * (d + 4) * _EPS * (radius + np.asarray(qnorm) + cnorm)


def _check_inside(centred_support: np.ndarray, weights: np.ndarray, query_centred, cnorm):
    """Residual of a convex combination; ``inf`` if the weights are not convex."""
    if weights.size == 0 or (weights < 0).any() or abs(weights.sum() - 1.0) > 1e-12:
        return np.inf
    resid = weights @ centred_support - query_centred
    return float(np.linalg.norm(resid)) + abs(weights.sum() - 1.0) * cnorm


# ---------------------------------------------------------------------------
# the column-generation engine (scaled affine-hull coordinates)


@dataclass
class _EngineOutput:
    state: np.ndarray  # (m,) INSIDE / OUTSIDE / UNDECIDED candidates
    support: list  # per query: indices into reduced rows
    mu: list  # per query: convex weights on support
    upper: np.ndarray  # (m,) distance upper bound (scaled units)
    lower: np.ndarray  # (m,) distance lower bound (scaled units)
    direction: np.ndarray  # (m, r) w = z - p of the last pricing
    rounds: np.ndarray  # (m,) rounds used
    nnls_solves: int = 0
    failures: int = 0
    seconds: dict = field(default_factory=lambda: {"nnls": 0.0, "pricing": 0.0, "select": 0.0})


def _solve_working_set(Y: np.ndarray, S: np.ndarray, z: np.ndarray):
    """Minimum-norm point of conv(Y[S]) relative to z, via one NNLS.

    Returns mu (|S|,) convex weights, p (r,) the nearest point; None on solver failure.
    """
    r = Y.shape[1]
    A = np.empty((r + 1, S.size))
    A[:r] = (Y[S] - z).T
    A[r] = 1.0
    b = np.zeros(r + 1)
    b[r] = 1.0
    try:
        lam, _ = nnls(A, b, maxiter=50 * (S.size + r + 1))
    except RuntimeError:
        return None
    t = lam.sum()
    if not np.isfinite(t) or t <= 0:
        return None
    mu = lam / t
    return mu, mu @ Y[S]


def _engine(
    Y: np.ndarray,
    Z: np.ndarray,
    tol_in: np.ndarray,
    *,
    mode: str,
    tol_out: float,
    rtol: float,
    max_rounds: int,
    progress: Callable[[int, int], None] | None,
    progress_offset: int = 0,
    progress_total: int | None = None,
    seed: int = 0,
) -> _EngineOutput:
    """Column generation for the minimum-norm point of conv(Y) relative to each row of Z.

    Parameters
    ----------
    Y : (n, r) float64
        Scaled training points (radius about 1).
    Z : (m, r) float64
        Scaled queries.
    tol_in : (m,) float
        Stop as inside once the distance upper bound is ``<= tol_in``.
    mode : {"membership", "distance"}
        Membership stops once the lower bound exceeds ``tol_out``; distance once
        ``upper - lower <= max(tol_out, rtol * upper)``.
    """
    n, r = Y.shape
    m = Z.shape[0]
    state = np.full(m, UNDECIDED, dtype=np.int8)
    upper = np.full(m, np.inf)
    lower = np.zeros(m)
    direction = np.zeros((m, r))
    rounds = np.zeros(m, dtype=np.int32)
    support: list = [None] * m
    mu: list = [None] * m
    out = _EngineOutput(state, support, mu, upper, lower, direction, rounds)
    if m == 0:
        return out
    total = progress_total if progress_total is not None else m

    ynorm2 = np.einsum("ij,ij->i", Y, Y)
    ymax = float(np.sqrt(ynorm2.max()))
    k_init = int(min(n, max(4, min(2 * (r + 1), 64))))
    k_add = int(min(n, max(4, min(r + 1, 32))))
    block = max(1, min(m, int(4e6 // max(n, 1))))
    buf = np.empty((block, n))  # reused: fresh large temporaries are slow to fault in
    YT = Y.T

    rng = np.random.default_rng(seed)
    if n > 16 * k_add:
        sample = np.sort(rng.choice(n, min(n, 4096), replace=False))
        k_sample = max(1, int(np.ceil(sample.size * 4 * k_add / n)))
    else:
        sample = None

    # initial working sets: nearest neighbours (threshold from a sample, then a small
    # partition: a full argpartition over n per query costs more than the rest)
    for start in range(0, m, block):
        zb = Z[start : start + block]
        d2 = np.matmul(zb, YT, out=buf[: zb.shape[0]])
        d2 *= -2.0
        d2 += ynorm2  # (b, n) squared distances minus ||z||^2
        if k_init >= n:
            for c in range(zb.shape[0]):
                support[start + c] = np.arange(n)
            continue
        if sample is not None:
            k_s = max(1, int(np.ceil(sample.size * 3 * k_init / n)))
            cut = np.partition(d2[:, sample], k_s - 1, axis=1)[:, k_s - 1]
        for c in range(zb.shape[0]):
            row = d2[c]
            cand = np.flatnonzero(row <= cut[c]) if sample is not None else np.arange(n)
            if cand.size < k_init:
                cand = np.arange(n)
            pick = np.argpartition(row[cand], k_init - 1)[:k_init]
            support[start + c] = cand[pick].astype(np.int64)

    active = np.arange(m)
    for rnd in range(1, max_rounds + 1):
        if active.size == 0:
            break
        P = np.zeros((active.size, r))
        keep = np.ones(active.size, dtype=bool)
        tick = time.perf_counter()
        for a, j in enumerate(active):
            rounds[j] = rnd
            sol = _solve_working_set(Y, support[j], Z[j])
            out.nnls_solves += 1
            if sol is None:
                out.failures += 1
                keep[a] = False
                continue
            weights, P[a] = sol
            pos = weights > 0
            support[j], mu[j] = support[j][pos], weights[pos]  # drop unused columns
            upper[j] = min(upper[j], float(np.linalg.norm(Z[j] - P[a])))
            if upper[j] <= tol_in[j]:
                state[j] = INSIDE
                keep[a] = False
        active, P = active[keep], P[keep]
        out.seconds["nnls"] += time.perf_counter() - tick
        if active.size == 0:
            break
        W = Z[active] - P
        wnorm = np.linalg.norm(W, axis=1)
        W /= wnorm[:, None]  # unit directions (wnorm > 0: else upper = 0 <= tol_in)
        direction[active] = W
        zw = np.einsum("ij,ij->i", Z[active], W)
        pw = np.einsum("ij,ij->i", P, W)
        keep = np.ones(active.size, dtype=bool)
        for start in range(0, active.size, block):
            rows = np.arange(start, min(start + block, active.size))
            tick = time.perf_counter()
            G = np.matmul(W[rows], YT, out=buf[: rows.size])  # (b, n) prices
            bmax = G.max(axis=1)
            out.seconds["pricing"] += time.perf_counter() - tick
            js = active[rows]
            lower[js] = np.maximum(lower[js], zw[rows] - bmax)
            if mode == "membership":
                stop = lower[js] > tol_out
            else:
                stop = upper[js] - lower[js] <= np.maximum(tol_out, rtol * upper[js])
            state[js[stop]] = OUTSIDE
            keep[rows[stop]] = False
            go = np.flatnonzero(~stop)
            if go.size == 0:
                continue
            tick = time.perf_counter()
            # candidates: prices above a per-row threshold estimated from a fixed sample,
            # chosen so that about 4 * k_add points pass (O(n) per row, no full partition)
            thresh = pw[rows[go]] + 1e-13 * (1.0 + ymax)
            if sample is not None:
                part = np.partition(G[np.ix_(go, sample)], sample.size - k_sample, axis=1)
                thresh = np.maximum(thresh, part[:, sample.size - k_sample])
            for g, c in enumerate(go):
                a = rows[c]
                j = active[a]
                cj = np.flatnonzero(G[c] > thresh[g])
                if cj.size <= k_add and sample is not None:
                    cj = np.flatnonzero(G[c] > pw[a] + 1e-13 * (1.0 + ymax))
                cj = cj[~np.isin(cj, support[j])]
                vals = G[c, cj]
                if cj.size == 0:
                    keep[a] = False  # working set optimal, no certificate: numerical limit
                    continue
                if cj.size > k_add:
                    cj = cj[np.argpartition(vals, cj.size - k_add)[-k_add:]]
                support[j] = np.concatenate([support[j], cj])
            out.seconds["select"] += time.perf_counter() - tick
        active = active[keep]
        if progress is not None:
            progress(progress_offset + (m - active.size), total)
    return out


# ---------------------------------------------------------------------------
# parallel driver: queries split across forked worker processes

_WORKER_DATA: dict = {}  # per worker process: the training points, set by the initializer


def _worker_init(Y: np.ndarray) -> None:
    _WORKER_DATA["Y"] = Y
    try:
        from threadpoolctl import threadpool_limits

        _WORKER_DATA["limits"] = threadpool_limits(1)  # one BLAS thread per process
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        pass


def _worker_run(Z: np.ndarray, tol_in: np.ndarray, kw: dict) -> _EngineOutput:
    return _engine(_WORKER_DATA["Y"], Z, tol_in, progress=None, **kw)


def _engine_parallel(Y, Z, tol_in, *, n_jobs, progress, progress_offset, progress_total, **kw):
    """Run :func:`_engine` on chunks of the queries in ``n_jobs`` processes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    m = Z.shape[0]
    methods = multiprocessing.get_all_start_methods()
    if n_jobs <= 1 or m < 16 or "fork" not in methods:
        return _engine(
            Y,
            Z,
            tol_in,
            progress=progress,
            progress_offset=progress_offset,
            progress_total=progress_total,
            **kw,
        )
    n_chunks = min(m // 8, 4 * n_jobs)
    bounds = np.linspace(0, m, n_chunks + 1).astype(int)
    outputs: list = [None] * n_chunks
    done = 0
    with ProcessPoolExecutor(
        max_workers=n_jobs,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_worker_init,
        initargs=(Y,),
    ) as pool:
        futures = {
            pool.submit(_worker_run, Z[lo:hi], tol_in[lo:hi], kw): i
            for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))
        }
        for future in as_completed(futures):
            i = futures[future]
            outputs[i] = future.result()
            done += bounds[i + 1] - bounds[i]
            if progress is not None:
                progress(progress_offset + done, progress_total)
    merged = _EngineOutput(
        state=np.concatenate([o.state for o in outputs]),
        support=[s for o in outputs for s in o.support],
        mu=[s for o in outputs for s in o.mu],
        upper=np.concatenate([o.upper for o in outputs]),
        lower=np.concatenate([o.lower for o in outputs]),
        direction=np.concatenate([o.direction for o in outputs]),
        rounds=np.concatenate([o.rounds for o in outputs]),
        nnls_solves=sum(o.nnls_solves for o in outputs),
        failures=sum(o.failures for o in outputs),
    )
    for key in merged.seconds:
        merged.seconds[key] = sum(o.seconds[key] for o in outputs)
    return merged


# ---------------------------------------------------------------------------
# results


@dataclass
class HullResult:
    """Certified convex-hull membership of m queries.

    Attributes
    ----------
    status : (m,) int8
        ``INSIDE`` (1), ``OUTSIDE`` (2) or ``UNDECIDED`` (0).
    weight_indptr, weight_indices, weight_values : CSR triple
        Inside certificate of query ``j``: points
        ``weight_indices[weight_indptr[j]:weight_indptr[j + 1]]`` (rows of the original
        ``points``) with convex weights ``weight_values[...]``; empty if not inside.
    hyperplane_normal : (m, d) float64
        Outside certificate ``w`` (unit 2-norm); zero rows if not outside.
    hyperplane_offset : (m,) float64
        Outside certificate ``b``: ``max_i x_i . w <= b < q . w``; NaN if not outside.
    residual : (m,) float64
        Inside check value ``||sum_i w_i x_i - q||_2 / scale`` (NaN if not inside).
    margin : (m,) float64
        Outside check value ``(q . w - max_i x_i . w) / scale`` (NaN if not outside);
        a lower bound on the relative distance to the hull.
    method : (m,) str
        What decided the query: ``"affine"`` (off the affine hull), ``"column-generation"``,
        ``"highs"`` (fallback LP), ``"none"``.
    rounds : (m,) int32
        Column-generation rounds spent on the query.
    tol, scale : float
        The relative tolerance and the length scale (radius of the points).
    stats : dict
        ``n_points``, ``n_unique``, ``rank`` (of the affine hull as used), ``nnls_solves``,
        ``lp_solves`` (fallback LPs), ``seconds`` (engine time in nnls / pricing /
        candidate selection, summed over workers), ``preprocess_s``, ``time_s``, ``n_jobs``.
    """

    status: np.ndarray
    weight_indptr: np.ndarray
    weight_indices: np.ndarray
    weight_values: np.ndarray
    hyperplane_normal: np.ndarray
    hyperplane_offset: np.ndarray
    residual: np.ndarray
    margin: np.ndarray
    method: np.ndarray
    rounds: np.ndarray
    tol: float
    scale: float
    stats: dict = field(default_factory=dict)

    @property
    def inside(self) -> np.ndarray:
        """(m,) bool: True only for queries certified inside."""
        return self.status == INSIDE

    @property
    def outside(self) -> np.ndarray:
        """(m,) bool: True only for queries certified outside."""
        return self.status == OUTSIDE

    @property
    def undecided(self) -> np.ndarray:
        """(m,) bool: queries with neither certificate."""
        return self.status == UNDECIDED

    @property
    def n_undecided(self) -> int:
        return int(np.sum(self.status == UNDECIDED))

    @property
    def status_names(self) -> np.ndarray:
        """(m,) str: ``"inside"``, ``"outside"`` or ``"undecided"``."""
        return np.asarray(STATUS_NAMES, dtype=object)[self.status].astype(str)

    def weights(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Inside certificate of query j: (point indices (k,), convex weights (k,))."""
        sl = slice(self.weight_indptr[j], self.weight_indptr[j + 1])
        return self.weight_indices[sl], self.weight_values[sl]

    def verify(self, points, queries) -> np.ndarray:
        """Re-check every certificate against the original data, independently.

        Parameters
        ----------
        points : (n, d) float
            The training points the result was computed for.
        queries : (m, d) float

        Returns
        -------
        (m,) bool
            True where the claim holds: an inside certificate reproduces the query within
            ``tol * scale`` with convex weights, an outside hyperplane has every point on
            its side and the query beyond it by ``tol * scale``.  Undecided queries claim
            nothing and are True.
        """
        points, queries = _as_data(points, queries)
        x = np.asarray(points, dtype=np.float64)
        q = np.asarray(queries, dtype=np.float64)
        m = q.shape[0]
        if self.status.shape != (m,):
            raise ValueError(f"result has {self.status.size} queries, got {m}")
        _, scale = hull_scale(x)
        ok = np.ones(m, dtype=bool)
        for j in np.flatnonzero(self.status == INSIDE):
            idx, w = self.weights(j)
            if w.size == 0 or (w < 0).any() or abs(w.sum() - 1.0) > 1e-12:
                ok[j] = False
                continue
            resid = float(np.linalg.norm(w @ x[idx] - q[j]))
            allowance = 4 * (idx.size + 2) * _EPS * (np.abs(x[idx]).max() + np.abs(q[j]).max())
            ok[j] = resid <= self.tol * scale + allowance * np.sqrt(x.shape[1])
        out = np.flatnonzero(self.status == OUTSIDE)
        if out.size:
            w = self.hyperplane_normal[out]
            b = self.hyperplane_offset[out]
            xmax = np.sqrt(np.einsum("ij,ij->i", x, x).max())
            qw = np.einsum("ij,ij->i", q[out], w)
            wn = np.linalg.norm(w, axis=1)
            allowance = 4 * (x.shape[1] + 4) * _EPS * (xmax + np.linalg.norm(q[out], axis=1)) * wn
            best = _max_dot(x, w)
            ok[out] = (
                (wn > 0) & (best <= b + allowance) & (qw - b >= self.tol * scale * wn - allowance)
            )
        return ok


@dataclass
class DistanceResult:
    """Certified Euclidean distance from m queries to the convex hull.

    Attributes
    ----------
    distance : (m,) float64
        ``||q - p||`` for a certified hull point ``p`` (0 for queries within
        ``tol * scale``, which count as inside); NaN where not converged.
    lower, upper : (m,) float64
        Certified bounds on the exact distance (float64, original coordinates).
    converged : (m,) bool
        ``upper - lower <= max(tol * scale, rtol * upper)`` or inside.
    weight_indptr, weight_indices, weight_values : CSR triple
        Convex weights of the nearest hull point ``p`` found.
    stats : dict
    """

    distance: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    converged: np.ndarray
    weight_indptr: np.ndarray
    weight_indices: np.ndarray
    weight_values: np.ndarray
    tol: float
    rtol: float
    scale: float
    stats: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------
# public API


def _check_options(tol: float, max_rounds: int, n_jobs) -> int:
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive finite number, got {tol}")
    if int(max_rounds) < 1:
        raise ValueError(f"max_rounds must be >= 1, got {max_rounds}")
    if n_jobs is None:
        return 1
    n_jobs = int(n_jobs)
    if n_jobs == -1:
        return os.cpu_count() or 1
    if n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer or -1, got {n_jobs}")
    return n_jobs


def _hull_vertices(Y: np.ndarray) -> np.ndarray | None:
    """Indices of the vertices of conv(Y) by qhull, or None if qhull fails."""
    from scipy.spatial import ConvexHull, QhullError

    if Y.shape[0] <= 4 * (Y.shape[1] + 1):
        return None
    try:
        return np.sort(ConvexHull(Y).vertices).astype(np.int64)
    except (QhullError, ValueError):
        return None


def _run(points, queries, *, tol, mode, rtol, n_jobs, progress, max_rounds, seed):
    t0 = time.perf_counter()
    points, queries = _as_data(points, queries)
    n_jobs = _check_options(tol, max_rounds, n_jobs)
    prep = _prepare(points, tol)
    qc = np.asarray(queries, dtype=np.float64) - prep.centre
    Z, off = prep.reduce(qc)
    t_prep = time.perf_counter() - t0
    m = Z.shape[0]
    tol_in = np.sqrt(np.clip(tol**2 - off**2, 0.0, None))
    tol_in[off > tol] = -1.0
    if mode == "membership":
        engine_rows = np.flatnonzero(off <= tol)
    else:
        engine_rows = np.arange(m)
    if prep.rank == 0:
        # every unique point is the single point: distance is the off-subspace distance
        eng = _EngineOutput(
            state=np.where(off <= tol, INSIDE, OUTSIDE).astype(np.int8)[engine_rows],
            support=[np.zeros(1, dtype=np.int64) for _ in engine_rows],
            mu=[np.ones(1) for _ in engine_rows],
            upper=np.zeros(engine_rows.size),
            lower=np.zeros(engine_rows.size),
            direction=np.zeros((engine_rows.size, 0)),
            rounds=np.zeros(engine_rows.size, dtype=np.int32),
        )
    else:
        # low dimension and many queries: only the hull's vertices can carry weight, and
        # qhull finds them cheaply; certificates are still checked against all points
        candidates = _hull_vertices(prep.reduced) if prep.rank <= 5 and m >= 500 else None
        Y = prep.reduced if candidates is None else prep.reduced[candidates]
        eng = _engine_parallel(
            Y,
            Z[engine_rows],
            np.maximum(tol_in[engine_rows], 0.0),
            n_jobs=n_jobs,
            mode=mode,
            tol_out=tol,
            rtol=rtol,
            max_rounds=max_rounds,
            progress=progress,
            progress_offset=m - engine_rows.size,
            progress_total=m,
            seed=seed,
        )
        if candidates is not None:
            eng.support = [None if s is None else candidates[s] for s in eng.support]
    return prep, qc, Z, off, engine_rows, eng, t_prep, t0, n_jobs


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
    queries : (m, d) float
    tol : float
        Relative tolerance: inside means within ``tol * scale`` (Euclidean) of the hull,
        ``scale`` the radius of the points (see :func:`hull_scale`).
    n_jobs : int or None
        Worker processes for the queries (None: 1; -1: all cores).
    progress : callable(done, total) or None
        Called after every round with the number of decided queries.
    max_rounds : int
        Column-generation rounds per query before the fallback LP.
    seed : int
        Seed of the random subsample of points used to pick candidate columns cheaply;
        it can change the work done, never a certified answer.

    Returns
    -------
    HullResult
    """
    prep, qc, Z, off, rows, eng, t_prep, t0, n_jobs = _run(
        points,
        queries,
        tol=tol,
        mode="membership",
        rtol=0.0,
        n_jobs=n_jobs,
        progress=progress,
        max_rounds=max_rounds,
        seed=seed,
    )
    m, d = qc.shape
    scale = prep.scale
    cnorm = float(np.linalg.norm(prep.centre))
    status = np.full(m, UNDECIDED, dtype=np.int8)
    residual = np.full(m, np.nan)
    margin = np.full(m, np.nan)
    normal = np.zeros((m, d))
    offset = np.full(m, np.nan)
    method = np.full(m, "none", dtype="<U17")
    rounds = np.zeros(m, dtype=np.int32)
    weights_idx: list = [np.zeros(0, dtype=np.int64)] * m
    weights_val: list = [np.zeros(0)] * m
    qnorm = np.linalg.norm(qc, axis=1)

    # candidates for outside: off the affine hull, or from the engine
    cand_w = np.zeros((m, d))
    cand_method = np.full(m, "none", dtype="<U17")
    off_rows = np.flatnonzero(off > tol)
    if off_rows.size:
        comp = prep.off_component(qc[off_rows])
        cand_w[off_rows] = comp
        cand_method[off_rows] = "affine"
    rounds[rows] = eng.rounds
    for a, j in enumerate(rows):
        if eng.state[a] == INSIDE:
            S = eng.support[a]
            mu = eng.mu[a]
            pos = mu > 0
            idx, w = S[pos], mu[pos]
            w = w / w.sum()
            res = _check_inside(prep.centred[idx], w, qc[j], cnorm)
            if res <= tol * scale:
                status[j] = INSIDE
                residual[j] = res / scale
                weights_idx[j] = prep.unique_index[idx]
                weights_val[j] = w
                method[j] = "column-generation"
        elif eng.state[a] == OUTSIDE:
            wr = eng.direction[a]
            cand_w[j] = prep.lift(wr[None])[0]
            cand_method[j] = "column-generation"
    out_rows = np.flatnonzero(cand_method != "none")
    _certify_outside(prep, qc, out_rows, cand_w, tol, status, margin, normal, offset, qnorm)
    method[out_rows] = np.where(status[out_rows] == OUTSIDE, cand_method[out_rows], "none")

    # fallback: exact LP for whatever is still undecided
    lp_solves = 0
    rest = np.flatnonzero(status == UNDECIDED)
    for j in rest:
        lp_solves += 1
        kind, payload = _lp_fallback(prep.reduced, Z[j])
        if kind == "inside":
            idx = np.flatnonzero(payload > 0)
            w = payload[idx] / payload[idx].sum()
            res = _check_inside(prep.centred[idx], w, qc[j], cnorm)
            if res <= tol * scale:
                status[j] = INSIDE
                residual[j] = res / scale
                weights_idx[j] = prep.unique_index[idx]
                weights_val[j] = w
                method[j] = "highs"
        elif kind == "outside":
            cand_w[j] = prep.lift(payload[None])[0]
            _certify_outside(
                prep, qc, np.array([j]), cand_w, tol, status, margin, normal, offset, qnorm
            )
            if status[j] == OUTSIDE:
                method[j] = "highs"
    # map hyperplane offsets to original coordinates
    outside = status == OUTSIDE
    offset[outside] = offset[outside] + normal[outside] @ prep.centre
    offset[outside] += 4 * (d + 4) * _EPS * cnorm  # rounding in the shift by the centre

    if progress is not None:
        progress(m, m)
    counts = np.array([w.size for w in weights_val], dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    return HullResult(
        status=status,
        weight_indptr=indptr,
        weight_indices=np.concatenate(weights_idx) if m else np.zeros(0, dtype=np.int64),
        weight_values=np.concatenate(weights_val) if m else np.zeros(0),
        hyperplane_normal=normal,
        hyperplane_offset=offset,
        residual=residual,
        margin=margin,
        method=method,
        rounds=rounds,
        tol=float(tol),
        scale=float(scale),
        stats={
            "n_points": int(np.asarray(points).shape[0]),
            "n_unique": int(prep.unique_index.size),
            "rank": int(prep.rank),
            "nnls_solves": int(eng.nnls_solves),
            "lp_solves": int(lp_solves),
            "seconds": {k: round(v, 4) for k, v in eng.seconds.items()},
            "preprocess_s": float(t_prep),
            "time_s": float(time.perf_counter() - t0),
            "n_jobs": int(n_jobs),
        },
    )


def _certify_outside(prep, qc, rows, cand_w, tol, status, margin, normal, offset, qnorm):
    """Verify candidate hyperplanes ``cand_w[rows]`` against all (centred) points."""
    if rows.size == 0:
        return
    d = qc.shape[1]
    w = cand_w[rows]
    wn = np.linalg.norm(w, axis=1)
    good = wn > 0
    w = w / np.where(good, wn, 1.0)[:, None]
    best = _max_dot(prep.centred, w)
    qw = np.einsum("ij,ij->i", qc[rows], w)
    allowance = _outside_allowance(d, prep.radius, qnorm[rows], 0.0)
    sep = qw - best - allowance
    ok = good & (sep > tol * prep.scale)
    r_ok = rows[ok]
    status[r_ok] = OUTSIDE
    margin[r_ok] = sep[ok] / prep.scale
    normal[r_ok] = w[ok]
    offset[r_ok] = best[ok] + allowance[ok]


def _lp_fallback(Y: np.ndarray, z: np.ndarray):
    """Elastic feasibility LP ``min 1.s  s.t. Y^T lam + s+ - s- = z, 1.lam = 1``.

    Returns ("inside", lam (n,)) when the optimum is ~0, ("outside", w (r,)) with the
    dual as hyperplane candidate otherwise, ("failed", None) if HiGHS fails.
    """
    from scipy.optimize import linprog

    n, r = Y.shape
    c = np.concatenate([np.zeros(n), np.ones(2 * r)])
    A = np.zeros((r + 1, n + 2 * r))
    A[:r, :n] = Y.T
    A[:r, n : n + r] = np.eye(r)
    A[:r, n + r :] = -np.eye(r)
    A[r, :n] = 1.0
    b = np.concatenate([z, [1.0]])
    res = linprog(c, A_eq=A, b_eq=b, bounds=(0, None), method="highs")
    if res.status != 0:
        return "failed", None
    if res.fun <= 1e-12:
        return "inside", res.x[:n]
    return "outside", np.asarray(res.eqlin.marginals[:r])


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
    prep, qc, Z, off, rows, eng, t_prep, t0, n_jobs = _run(
        points,
        queries,
        tol=tol,
        mode="distance",
        rtol=rtol,
        n_jobs=n_jobs,
        progress=progress,
        max_rounds=max_rounds,
        seed=seed,
    )
    m, d = qc.shape
    scale = prep.scale
    X = prep.centred
    qnorm = np.linalg.norm(qc, axis=1)
    upper = np.full(m, np.inf)
    lower = np.zeros(m)
    weights_idx: list = [np.zeros(0, dtype=np.int64)] * m
    weights_val: list = [np.zeros(0)] * m
    P = np.zeros((m, d))
    for a, j in enumerate(rows):
        if eng.mu[a] is None:
            continue
        S, mu = eng.support[a], eng.mu[a]
        pos = mu > 0
        idx, w = S[pos], mu[pos] / mu[pos].sum()
        weights_idx[j] = prep.unique_index[idx]
        weights_val[j] = w
        P[j] = w @ X[idx]
    has = np.array([w.size > 0 for w in weights_val], dtype=bool)
    Wd = qc - P
    norm = np.linalg.norm(Wd[has], axis=1)
    upper[has] = norm + 4 * (d + 4) * _EPS * (prep.radius + qnorm[has])  # float64 rounding
    # certified lower bound: (q.w - max_i x_i.w) / ||w|| with w = q - p
    rows_lb = np.flatnonzero(has & (upper > tol * scale))  # inside needs no lower bound
    if rows_lb.size:
        w = Wd[rows_lb] / np.linalg.norm(Wd[rows_lb], axis=1)[:, None]
        best = _max_dot(X, w)
        qw = np.einsum("ij,ij->i", qc[rows_lb], w)
        allowance = _outside_allowance(d, prep.radius, qnorm[rows_lb], 0.0)
        lower[rows_lb] = np.maximum(qw - best - allowance, 0.0)
    inside = has & (upper <= tol * scale)
    converged = inside | (has & (upper - lower <= np.maximum(tol * scale, rtol * upper)))
    distance = np.where(inside, 0.0, np.where(converged, upper, np.nan))
    if progress is not None:
        progress(m, m)
    counts = np.array([w.size for w in weights_val], dtype=np.int64)
    result = DistanceResult(
        distance=distance,
        lower=np.where(inside, 0.0, lower),
        upper=upper,
        converged=converged,
        weight_indptr=np.concatenate([[0], np.cumsum(counts)]),
        weight_indices=np.concatenate(weights_idx) if m else np.zeros(0, dtype=np.int64),
        weight_values=np.concatenate(weights_val) if m else np.zeros(0),
        tol=float(tol),
        rtol=float(rtol),
        scale=float(scale),
        stats={
            "n_points": int(np.asarray(points).shape[0]),
            "n_unique": int(prep.unique_index.size),
            "rank": int(prep.rank),
            "nnls_solves": int(eng.nnls_solves),
            "preprocess_s": float(t_prep),
            "time_s": float(time.perf_counter() - t0),
            "n_jobs": int(n_jobs),
        },
    )
    if full_output:
        return result
    if not converged.all():
        raise HullUndecidedError(
            f"distance of {int((~converged).sum())} of {m} queries did not converge "
            f"within max_rounds={max_rounds}; use full_output=True for bounds"
        )
    return distance
