"""Stage 3 of the method: column generation on the minimum-norm-point problem.

For each query ``z`` (internal affine-hull coordinates) the engine keeps a working set
``S`` of training points, solves ``min ||sum_{i in S} mu_i y_i - z||`` over the simplex
exactly (one NNLS: with numba, the warm-started solver of
:mod:`neuralhull.hull.warm_nnls`, else scipy from scratch), prices every training point
against the residual direction in one batched product, and adds the best-priced points
(for a query on faces of the bounding box, first only points on those faces: :class:`Faces`).
The upper bound ``||z - p||`` and the Frank-Wolfe lower bound stop a query as soon as one
of them settles it.  :class:`_Group` holds one group of queries between rounds and runs
a round's two halves; :mod:`neuralhull.hull.engine` drives the rounds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import nnls

from neuralhull.hull import warm_nnls
from neuralhull.hull.numerics import INSIDE, OUTSIDE, UNDECIDED
from neuralhull.hull.warm_nnls import WarmNNLS


@dataclass
class _EngineOutput:
    state: np.ndarray  # (m,) INSIDE / OUTSIDE / UNDECIDED candidates
    support: list  # per query: indices into reduced rows
    mu: list  # per query: convex weights on support
    upper: np.ndarray  # (m,) distance upper bound (internal units)
    lower: np.ndarray  # (m,) distance lower bound (internal units)
    direction: np.ndarray  # (m, r) unit (z - p) of the last pricing
    dnorm: np.ndarray  # (m,) ||z - p|| of the last pricing
    rounds: np.ndarray  # (m,) rounds used
    nnls_solves: int = 0
    failures: int = 0
    warm: bool = False  # warm-started solver used
    warm_fallbacks: int = 0  # its breakdowns (that query went on with fresh solves)
    seconds: dict = field(default_factory=lambda: {"nnls": 0.0, "pricing": 0.0, "select": 0.0})

    @classmethod
    def merge(cls, outputs: list) -> _EngineOutput:
        """One output for consecutive chunks of the queries, in order."""
        merged = cls(
            state=np.concatenate([o.state for o in outputs]),
            support=[s for o in outputs for s in o.support],
            mu=[s for o in outputs for s in o.mu],
            upper=np.concatenate([o.upper for o in outputs]),
            lower=np.concatenate([o.lower for o in outputs]),
            direction=np.concatenate([o.direction for o in outputs]),
            dnorm=np.concatenate([o.dnorm for o in outputs]),
            rounds=np.concatenate([o.rounds for o in outputs]),
            nnls_solves=sum(o.nnls_solves for o in outputs),
            failures=sum(o.failures for o in outputs),
            warm=any(o.warm for o in outputs),
            warm_fallbacks=sum(o.warm_fallbacks for o in outputs),
        )
        for key in merged.seconds:
            merged.seconds[key] = sum(o.seconds[key] for o in outputs)
        return merged


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


def _fresh_solve(Y: np.ndarray, S: np.ndarray, z: np.ndarray):
    """:func:`_solve_working_set` with its unused columns dropped: (points of ``S`` with
    positive weight, their weights, the nearest point p, ``||z - p||``); None on failure."""
    sol = _solve_working_set(Y, S, z)
    if sol is None:
        return None
    weights, p = sol
    pos = weights > 0
    gap = z - p
    return S[pos], weights[pos], p, math.sqrt(gap @ gap)  # what np.linalg.norm computes


# columns one warm solve may add before its query is priced against all points again: the
# working set's own optimum is not worth computing while better points are still outside
# it; lifted in the second half of ``max_rounds``, where every round runs to the end (how
# the value was chosen: docs/performance.md, "The hull engine")
ROUND_ADDS = 40


@dataclass
class Faces:
    """Faces of the bounding box that queries lie on, for membership.

    A face is a column's minimum or maximum: ``points[f]`` marks the training points on
    face ``f``, ``queries[j]`` the faces query ``j`` lies on (its coordinate equals that
    bound exactly).  Every convex combination equal to such a query uses only points on
    all of its faces (any other point would move the coordinate off the bound), so the
    engine offers a query only those points while any of them prices positive.  Raw
    pixels and ReLU activations sit on such faces in most coordinates (their zeros).

    ``coords[f]``, where given, is the engine's coordinate (column of ``Y``) of face
    ``f``: when the engine works in the points' own columns (no rotation), a point on all
    of a query's faces equals the query exactly in those coordinates, so a working set of
    such points is solved in the others only (:meth:`free_coordinates`).
    """

    points: np.ndarray  # (f, n) bool
    queries: np.ndarray  # (m, f) bool
    coords: np.ndarray | None = None  # (f,) column of Y of each face; None: Y is rotated

    def chunk(self, lo: int, hi: int) -> Faces:
        return Faces(self.points, self.queries[lo:hi], self.coords)

    def allowed(self, j: int, at_least: int = 0) -> np.ndarray | None:
        """(n,) bool: the points query j may use; None where that is every point, or
        where fewer than ``at_least`` points are left (checked as the faces are combined,
        so that a query with hardly any face points stops early)."""
        on = np.flatnonzero(self.queries[j])
        if on.size == 0:
            return None
        mask = self.points[on[0]].copy()
        for lo in range(1, on.size, 32):
            mask &= np.logical_and.reduce(self.points[on[lo : lo + 32]], axis=0)
            if at_least and np.count_nonzero(mask) < at_least:
                return None
        return None if mask.all() or np.count_nonzero(mask) < at_least else mask

    def free_coordinates(self, j: int, r: int) -> np.ndarray | None:
        """The columns of ``Y`` (of ``r``) where points on all of query j's faces can
        differ from it; None where that is every column or ``Y`` is rotated."""
        if self.coords is None:
            return None
        free = np.ones(r, dtype=bool)
        free[self.coords[self.queries[j]]] = False
        return None if free.all() else np.flatnonzero(free)


@dataclass(frozen=True)
class EngineOptions:
    """What settles a query and how much work the engine may do for it.

    ``mode`` "membership" stops a query once a bound settles which side of the tolerance
    it lies on; "distance" once its bounds agree within ``max(tol_out, rtol * upper)``.
    ``seed`` picks the sample of points that candidate thresholds are estimated from (it
    can change the work, never an answer).  ``use_warm`` None: the compiled solver
    wherever numba is installed (:data:`~neuralhull.hull.warm_nnls.AVAILABLE`).
    """

    mode: str
    rtol: float = 0.0
    max_rounds: int = 200
    seed: int = 0
    use_warm: bool | None = None


@dataclass
class _Batch:
    """Queries for the engine: ``Z`` (m, r) internal coordinates, ``tol_in`` (m,) and
    ``tol_out`` (m,) their thresholds (:func:`_engine_group`), and for membership the box
    faces they lie on."""

    Z: np.ndarray
    tol_in: np.ndarray
    tol_out: np.ndarray
    faces: Faces | None = None

    def chunk(self, lo: int, hi: int) -> _Batch:
        faces = None if self.faces is None else self.faces.chunk(lo, hi)
        return _Batch(self.Z[lo:hi], self.tol_in[lo:hi], self.tol_out[lo:hi], faces)


@dataclass(frozen=True)
class _Progress:
    """Reports a chunk's decided queries to the caller's ``callback(done, total)``:
    ``offset`` queries come before the chunk, ``total`` in the whole call (None: the
    chunk is the whole call)."""

    callback: Callable[[int, int], None] | None = None
    offset: int = 0
    total: int | None = None

    def chunk(self, lo: int, m: int) -> _Progress:
        """The progress of the chunk of the queries from ``lo``, in a call of ``m``."""
        total = self.total if self.total is not None else m
        return _Progress(self.callback, self.offset + lo, total)

    def report(self, done: int, m: int) -> None:
        if self.callback is not None:
            total = self.total if self.total is not None else m
            self.callback(self.offset + done, total)


class _Group:
    """The state of one group of queries between rounds, and the two halves of a round.

    A round is :meth:`solve` (the exact minimum-norm point of each active query's working
    set: its distance upper bound, and inside once that is within ``tol_in``) then
    :meth:`price` (every training point priced against the residual directions in one
    batched product: the Frank-Wolfe lower bound, outside or converged once it settles the
    query, and the best-priced points added to the working set).
    """

    def __init__(self, Y: np.ndarray, batch: _Batch, options: EngineOptions):
        n, r = Y.shape
        Z = batch.Z
        m = Z.shape[0]
        self.Y, self.YT, self.Z = Y, Y.T, Z
        self.tol_in, self.tol_out = batch.tol_in, batch.tol_out
        self.mode, self.rtol = options.mode, options.rtol
        seed, use_warm = options.seed, bool(options.use_warm)
        self.support: list = [None] * m
        self.mu: list = [None] * m
        self.out = _EngineOutput(
            np.full(m, UNDECIDED, dtype=np.int8),
            self.support,
            self.mu,
            np.full(m, np.inf),
            np.zeros(m),
            np.zeros((m, r)),
            np.zeros(m),
            np.zeros(m, dtype=np.int32),
        )
        if m == 0:
            return
        self.ynorm2 = np.einsum("ij,ij->i", Y, Y)
        self.ymax = float(np.sqrt(self.ynorm2.max()))
        self.k_init = int(min(n, max(4, min(2 * (r + 1), 64))))
        self.k_add = int(min(n, max(4, min(r + 1, 32))))
        self.block = max(1, min(m, int(4e6 // max(n, 1))))
        self.buf = np.empty((self.block, n))  # reused: fresh large temporaries fault in slowly
        self.mark = np.zeros(n, dtype=bool)  # reused mask of one working set
        self.sample = None
        if n > 16 * self.k_add:  # a generator only where it is used (~10 us to make one)
            rng = np.random.default_rng(seed)
            self.sample = np.sort(rng.choice(n, min(n, 4096), replace=False))
            self.k_sample = max(1, int(np.ceil(self.sample.size * 4 * self.k_add / n)))
        # warm-started solver state per query (compiled Lawson-Hanson), when available
        self.warm: list = [WarmNNLS(r + 1) if use_warm else None for _ in range(m)]
        self.out.warm = use_warm
        self.compiled = use_warm  # numba present: candidates picked by compiled code too
        self.capped_rounds = 0  # rounds whose warm solves stop after ROUND_ADDS columns
        self.faces: Faces | None = None
        self.allowed: dict = {}  # query -> packed mask of its face points, or None

    def finish(self) -> None:
        """After the last round: each query's support is its last solve's points, the ones
        its weights ``mu`` belong to.  A query still active when the rounds ran out had
        its working set extended after that solve; the extension follows those points
        (a prefix, in the same order), so it is cut off here."""
        for j, weights in enumerate(self.mu):
            if weights is not None and self.support[j].size > weights.size:
                self.support[j] = self.support[j][: weights.size]

    def _allowed(self, j: int) -> np.ndarray | None:
        """Query j's face points (:class:`Faces`), found at its first extension (a query
        settled by its first working set never needs them)."""
        if self.faces is None:
            return None
        if j not in self.allowed:
            mask = self.faces.allowed(j)
            self.allowed[j] = None if mask is None else np.packbits(mask)
        packed = self.allowed[j]
        if packed is None:
            return None
        return np.unpackbits(packed, count=self.Y.shape[0]).view(bool)

    def _on_faces(self, j: int) -> np.ndarray | None:
        """Where query j lies on faces that at least ``k_init`` points share: its face
        points (cached as :meth:`_allowed` would), and its warm solver set up in the
        coordinates off those faces (:meth:`Faces.free_coordinates`) when the engine
        works in the points' own columns.  None otherwise (the query starts as before)."""
        if self.faces is None or not self.compiled:
            return None
        mask = self.faces.allowed(j, at_least=self.k_init)
        if mask is None:
            return None
        self.allowed[j] = np.packbits(mask)
        r = self.Y.shape[1]
        cols = self.faces.free_coordinates(j, r)
        if cols is not None and cols.size:
            self.warm[j] = WarmNNLS(cols.size + 1, cols=cols)
        return mask

    def initial_working_sets(self) -> None:
        """Each query's ``k_init`` nearest neighbours: with numba, the exact top-k of the
        compiled candidate pick (:func:`~neuralhull.hull.warm_nnls._top_new`), else a
        threshold from a sample then a small partition (a full argpartition over n per
        query costs more than the rest); for a query on faces of the bounding box that
        enough points share, its nearest face points, so that its working sets stay on its
        faces (:meth:`_on_faces`)."""
        Y, Z, support, sample = self.Y, self.Z, self.support, self.sample
        n, m, k_init = Y.shape[0], Z.shape[0], self.k_init
        none, mark = np.zeros(0, dtype=np.int64), self.mark
        half_norm2 = 0.5 * self.ynorm2 if self.compiled else None
        for start in range(0, m, self.block):
            zb = Z[start : start + self.block]
            if k_init >= n:
                for c in range(zb.shape[0]):
                    support[start + c] = np.arange(n)
                continue
            if self.compiled:  # the exact k_init nearest by the compiled top-k
                # a price, larger when nearer: z . y - ||y||^2 / 2 = (||z||^2 - d^2) / 2
                near = np.matmul(zb, self.YT, out=self.buf[: zb.shape[0]])
                near -= half_norm2
                for c in range(zb.shape[0]):
                    row = near[c]
                    on_faces = self._on_faces(start + c)
                    if on_faces is not None:
                        row = np.where(on_faces, row, -np.inf)
                    support[start + c] = warm_nnls._top_new(row, -np.inf, none, k_init, mark)
                continue
            d2 = np.matmul(zb, self.YT, out=self.buf[: zb.shape[0]])
            d2 *= -2.0
            d2 += self.ynorm2  # (b, n) squared distances minus ||z||^2
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

    def solve(self, active: np.ndarray, rnd: int) -> tuple[np.ndarray, np.ndarray]:
        """Solve every active working set; returns the still-active queries and their
        nearest points P (k, r)."""
        Y, out, warm = self.Y, self.out, self.warm
        P = np.zeros((active.size, Y.shape[1]))
        keep = np.ones(active.size, dtype=bool)
        tick = time.perf_counter()
        out.rounds[active] = rnd
        out.nnls_solves += active.size
        cap = ROUND_ADDS if rnd <= self.capped_rounds else None
        with warm_nnls.one_blas_thread(Y.shape[1] + 1 if self.compiled else 0):
            self._solve_each(active, P, keep, cap)
        for j in active[~keep]:
            warm[j] = None  # decided: free its factorisation
        out.seconds["nnls"] += time.perf_counter() - tick
        return active[keep], P[keep]

    def _solve_each(self, active, P, keep, cap) -> None:
        """The working-set solves of :meth:`solve`, query by query."""
        Y, Z, out, warm = self.Y, self.Z, self.out, self.warm
        support, mu, upper, tol_in = self.support, self.mu, out.upper, self.tol_in
        for a, j in enumerate(active.tolist()):
            sol = warm[j].solve(Y, support[j], Z[j], cap) if warm[j] is not None else None
            if sol is not None:
                # the passive set, in the solver's order, leads the next working set
                support[j], mu[j], P[a] = sol
                dist = warm[j].distance
            else:
                if warm[j] is not None:
                    out.warm_fallbacks += 1
                    warm[j] = None  # from-scratch solves for this query from now on
                    support[j] = np.unique(support[j])
                sol = _fresh_solve(Y, support[j], Z[j])
                if sol is None:
                    out.failures += 1
                    keep[a] = False
                    continue
                support[j], mu[j], P[a], dist = sol
            upper[j] = min(upper[j], dist)
            if upper[j] <= tol_in[j]:
                out.state[j] = INSIDE
                keep[a] = False

    def price(self, active: np.ndarray, P: np.ndarray, rnd: int) -> np.ndarray:
        """Price, stop what the bounds settle, extend the rest; returns the still-active."""
        Z, out, support, sample = self.Z, self.out, self.support, self.sample
        lower, upper, tol_out = out.lower, out.upper, self.tol_out
        k_add, block, ymax, mark = self.k_add, self.block, self.ymax, self.mark
        W = Z[active] - P
        wnorm = np.linalg.norm(W, axis=1)
        W /= wnorm[:, None]  # unit directions (wnorm > 0: else upper = 0 <= tol_in)
        out.direction[active] = W
        out.dnorm[active] = wnorm
        zw = np.einsum("ij,ij->i", Z[active], W)
        pw = np.einsum("ij,ij->i", P, W)
        keep = np.ones(active.size, dtype=bool)
        for start in range(0, active.size, block):
            rows = np.arange(start, min(start + block, active.size))
            tick = time.perf_counter()
            G = np.matmul(W[rows], self.YT, out=self.buf[: rows.size])  # (b, n) prices
            bmax = G.max(axis=1)
            out.seconds["pricing"] += time.perf_counter() - tick
            js = active[rows]
            lower[js] = np.maximum(lower[js], zw[rows] - bmax)
            if self.mode == "membership":
                stop = lower[js] > tol_out[js]
            else:
                stop = upper[js] - lower[js] <= np.maximum(tol_out[js], self.rtol * upper[js])
            out.state[js[stop]] = OUTSIDE
            keep[rows[stop]] = False
            go = np.flatnonzero(~stop)
            if go.size == 0:
                continue
            tick = time.perf_counter()
            if self.compiled:
                self._extend_compiled(G, go, rows, active, pw, rnd, keep)
                out.seconds["select"] += time.perf_counter() - tick
                continue
            # candidates: prices above a per-row threshold estimated from a fixed sample,
            # chosen so that about 4 * k_add points pass (O(n) per row, no full partition)
            thresh = pw[rows[go]] + 1e-13 * (1.0 + ymax)
            if sample is not None:
                k_sample = self.k_sample
                part = np.partition(G[np.ix_(go, sample)], sample.size - k_sample, axis=1)
                thresh = np.maximum(thresh, part[:, sample.size - k_sample])
            for g, c in enumerate(go):
                a = rows[c]
                j = active[a]
                # add as many points as the working set holds (at least k_add): a
                # support of hundreds of points is then found in a few rounds
                k_j = max(k_add, int(support[j].size)) if rnd > 2 else k_add
                cj = np.flatnonzero(G[c] > thresh[g])
                if cj.size <= k_j and sample is not None:
                    cj = np.flatnonzero(G[c] > pw[a] + 1e-13 * (1.0 + ymax))
                mark[support[j]] = True  # drop the working set's own points
                cj = cj[~mark[cj]]
                mark[support[j]] = False
                allowed = self._allowed(j)
                if allowed is not None:
                    if allowed[cj].any():
                        cj = cj[allowed[cj]]
                    else:
                        self.allowed[j] = None  # none left on its faces: all points now
                vals = G[c, cj]
                if cj.size == 0:
                    keep[a] = False  # working set optimal, no certificate: numerical limit
                    continue
                if cj.size > k_j:
                    cj = cj[np.argpartition(vals, cj.size - k_j)[-k_j:]]
                support[j] = np.concatenate([support[j], cj])
            out.seconds["select"] += time.perf_counter() - tick
        for j in active[~keep]:
            self.warm[j] = None
        return active[keep]

    def _extend_compiled(self, G, go, rows, active, pw, rnd, keep) -> None:
        """Each row's ``k_j`` best-priced new points in one compiled pass over its prices
        (the exact top ``k_j``, where the sampled threshold above approximates it)."""
        support, k_add, mark = self.support, self.k_add, self.mark
        rows_go = rows[go]
        floors = (pw[rows_go] + 1e-13 * (1.0 + self.ymax)).tolist()
        queries = active[rows_go].tolist()
        for c, a, j, floor in zip(go.tolist(), rows_go.tolist(), queries, floors, strict=True):
            k_j = max(k_add, support[j].size) if rnd > 2 else k_add
            allowed = self._allowed(j)
            if allowed is not None:
                face = np.where(allowed, G[c], -np.inf)
                grown = warm_nnls._top_new(face, floor, support[j], k_j, mark)
                if grown.size > support[j].size:
                    support[j] = grown
                    continue
                self.allowed[j] = None  # none left on its faces: all points from now on
                if self.warm[j] is not None and self.warm[j].cols is not None:
                    # off-face points enter: a fresh solver in all coordinates
                    self.warm[j] = WarmNNLS(self.Y.shape[1] + 1)
            grown = warm_nnls._top_new(G[c], floor, support[j], k_j, mark)
            if grown.size == support[j].size:
                keep[a] = False  # working set optimal, no certificate: numerical limit
            else:
                support[j] = grown
