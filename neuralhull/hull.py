"""Exact, certified convex-hull membership and distance to the hull.

Is a query ``q`` a convex combination of the training points ``x_1 .. x_n``, i.e. is there
``lambda >= 0`` with ``sum(lambda) = 1`` and ``sum_i lambda_i x_i = q``?  Every answer
carries a certificate that is re-checked in float64 against the original points before it
is returned:

``INSIDE``
    sparse convex weights (``>= 0``, summing to 1) with
    ``||sum_i lambda_i x_i - q||_2 <= tol * scale``;
``OUTSIDE``
    a separating hyperplane ``(w, b)``, ``||w||_2 = 1``, with ``max_i x_i . w <= b < q . w``
    and ``q . w - max_i x_i . w >= tol * scale`` (the margin), both true in exact
    arithmetic for the published float64 numbers: rounding errors are bounded, not
    ignored (:meth:`HullResult.verify` re-checks them with its own bounds);
``UNDECIDED``
    neither certificate could be verified (a numerical limit or the round budget was
    reached).  Never reported as outside.

``scale`` is the radius of the training set, ``max_i ||x_i - mean(x)||_2`` (1 when all
training points coincide), so ``tol`` is relative.  In exact arithmetic the two
certificates cover every query: a query within Euclidean distance ``tol * scale`` of the
hull is inside (the hull is closed and the band of width ``tol * scale`` around it counts
as inside), any other is outside with margin equal to its distance.

Floating-point policy
---------------------
All work is done in float64 on ``(x - centre) * 2**k``, an exact power-of-two rescaling to
unit radius, so magnitudes from about 1e-280 to 1e280 behave alike; data whose spread
cannot be represented safely (or queries more than about 1e120 radii away) raise
``ValueError``.  float32 input is converted exactly to float64 and the float32 numbers are
taken as the truth.  Note that a float32 *query* carries its own rounding error, about
``6e-8 * |q|`` per coordinate: when ``|centre|`` is comparable to or larger than
``scale``, that is about ``tol * scale`` with the default ``tol = 1e-7``, so a float32
query meant to lie on the boundary may be certified outside (correctly, for the number
actually given).  Pass float64 queries, or a larger ``tol``, when this matters.  The
outside certificate ``b`` is an absolute number: when ``|centre| >> scale`` the margin
needed to place it strictly between ``max_i x_i . w`` and ``q . w`` grows with
``|centre|``; queries closer than that stay undecided rather than get a hyperplane that
does not separate.

Method
------
1. Preprocessing: drop duplicate rows, centre, rescale, find the affine hull by an SVD
   and work in its coordinates (rank ``r``).  A query off that subspace by ``o`` is
   inside only if its in-subspace distance is below ``sqrt((tol * scale)**2 - o**2)``;
   if ``o > tol * scale`` the off-subspace direction is the hyperplane.
2. Bounding box: a query beyond the training points' range in one coordinate by more
   than ``tol * scale`` is outside with that axis as hyperplane (exact, no product).
3. Column generation on the minimum-norm-point problem
   ``min ||sum_{i in S} mu_i y_i - z||`` over the simplex, for a working set ``S`` that
   starts from the query's nearest neighbours.  Each working-set problem is solved
   exactly as a non-negative least-squares problem (``[Y_S^T - z; 1^T] lambda ~ [0; 1]``,
   ``mu = lambda / sum(lambda)``; this reduction is exact).  With numba installed the
   solver is a compiled Lawson-Hanson method that keeps each query's passive set and thin
   QR factorisation from round to round (:mod:`neuralhull._warm_nnls`), so a round costs
   the columns that enter or leave, not a fresh solve; without numba (or if it breaks
   down numerically) scipy's NNLS solves each working set from scratch.  Its warm state
   takes up to ``16 (r + 2)**2`` bytes per query still in play, so queries run in groups
   that keep it under :data:`WARM_MEMORY`.  Its solution ``p`` gives an
   upper bound ``||z - p||`` on the distance and the direction ``w = z - p``; one batched
   matrix product over all active queries prices every training point against ``w``,
   which gives the Frank-Wolfe lower bound ``(z . w - max_i y_i . w) / ||w||`` and the
   points to add to ``S`` (from the third round on, as many as ``S`` holds, so supports
   of hundreds of points take tens of rounds, not hundreds).  A query stops as soon as
   the upper bound certifies inside or the lower bound certifies outside.  The outside
   candidate is the full-space residual ``q - p`` (in-subspace part plus off-subspace
   part), whose margin is the distance.
   In rank <= 5 with >= 500 queries the working sets are drawn from the hull's vertices
   only (qhull), which makes pricing nearly free.
4. Every certificate is mapped back and verified against the original points; a query
   whose certificate fails (or that used up ``max_rounds``) goes to one exact LP model
   (HiGHS through ``highspy``, built once per call, elastic form
   ``min 1.(s+ + s-)`` s.t. ``Y^T lambda + s+ - s- = z``, ``1.lambda = 1``, sparse; only
   the row bounds change from query to query) with an iteration and time limit and one
   retry with the other simplex variant.  Its primal weights are tried as inside
   certificate first, then its dual as hyperplane; a query neither verifies stays
   ``UNDECIDED``.

Costs: preprocessing is one Gram matrix (n d^2) plus the rotation; each round one product
of the active queries with all points plus one NNLS update per query.  Queries outside the
hull typically need 1-3 rounds.  Inside queries whose convex weights need hundreds of
points in high dimension (e.g. random convex combinations of up to d+1 training points at
d = 784) are the slow case: tens of rounds in which thousands of columns enter and leave
the factorisation (about 0.5 s per query at n = 10,000, d = 784, one core).  Memory: one
float64 copy of the unique points (the input is never modified; float32 input is converted
straight into it), plus a reduced copy when the affine hull has lower rank or constant
columns are dropped; the LP model (sparse, about 12 bytes per nonzero of the reduced
points) is built only if some query reaches step 4.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy.optimize import nnls

from neuralhull import _warm_nnls
from neuralhull._warm_nnls import WarmNNLS

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
_U = _EPS / 2  # unit roundoff
_EXP_LIMIT = 930  # data spread must lie in [2**-930, 2**930] (about 1e-280 .. 1e280)
_QUERY_LIMIT = 2.0**400  # queries at most this many (internal) radii from the centre


def _gamma(k: int) -> float:
    """Bound ``k u / (1 - k u)`` on the relative rounding of a k-term float64 dot product."""
    return k * _U / (1 - k * _U)


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


def _row_norms(a: np.ndarray) -> np.ndarray:
    """(k,) Euclidean norms of the rows of a (k, d), without overflow or underflow."""
    if a.shape[0] == 0:
        return np.zeros(0)
    if a.shape[1] == 0:
        return np.zeros(a.shape[0])
    big = np.maximum(a.max(axis=1), -a.min(axis=1))  # no temporary of a's size
    big = np.where(big > 0, big, 1.0)
    # an exact power of two per row keeps the rescaling exact
    big = np.ldexp(1.0, np.frexp(big)[1])
    scaled = a / big[:, None]
    return big * np.sqrt(np.einsum("ij,ij->i", scaled, scaled))


def _max_row_norm(x: np.ndarray, shift: np.ndarray | None = None, factor: float = 1.0) -> float:
    """``max_i ||(x_i - shift) * factor||_2`` block by block (no full-size temporary)."""
    best = 0.0
    rows = max(16, 131072 // max(1, x.shape[1]))  # blocks of about 1 MB
    for start in range(0, x.shape[0], rows):
        block = x[start : start + rows]
        if shift is not None:
            block = block - shift
            if factor != 1.0:
                block *= factor
        elif factor != 1.0:
            block = block * factor
        best = max(best, float(_row_norms(block).max()))
    return best


def _frame(x: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Centre, radius and an exact power of two ``unit`` with ``radius * unit`` in [0.5, 1).

    x : (n, d) float64.  Raises ValueError when the spread of the data cannot be
    represented safely in float64.
    """
    hi = x.max(axis=0)
    lo = x.min(axis=0)
    constant = ~(hi > lo)
    if constant.all():
        return x[0].copy(), 1.0, 1.0  # all points coincide: absolute tolerances
    with np.errstate(over="ignore", invalid="ignore"):
        centre = x.mean(axis=0)
        centre[constant] = x[0, constant]  # exact, so centred constant columns are exactly 0
        spread = float(np.max(np.maximum(hi - centre, centre - lo)))
    if not (np.isfinite(centre).all() and np.isfinite(spread)) or not (
        2.0**-_EXP_LIMIT <= spread <= 2.0**_EXP_LIMIT
    ):
        raise ValueError(
            f"the points' spread around their mean ({spread:.3g}) cannot be represented "
            f"safely in float64 (supported: 2**-{_EXP_LIMIT} to 2**{_EXP_LIMIT})"
        )
    unit = float(np.ldexp(1.0, -int(np.frexp(spread)[1])))  # spread * unit in [0.5, 1)
    radius = _max_row_norm(x, centre, unit)  # in [0.5, sqrt(d))
    unit = float(np.ldexp(unit, -int(np.frexp(radius)[1])))
    radius = float(np.ldexp(radius, -int(np.frexp(radius)[1])))
    return centre, radius / unit, unit


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
        is that point and the tolerances are absolute).  Computed without squaring the
        raw coordinates, so it is right for any representable magnitude.

    Raises
    ------
    ValueError
        If the spread of the points is outside about 1e-280 .. 1e280.
    """
    centre, scale, _ = _frame(np.asarray(points, dtype=np.float64))
    return centre, scale


@dataclass
class _Prepared:
    """Training points reduced to the coordinates of their affine hull.

    Internal units: ``(x - centre) * unit`` with ``unit`` an exact power of two that makes
    the radius about 1.  Two exact reductions: columns constant over all points are
    dropped (``columns`` keeps the others), then an orthonormal ``basis`` of the span of
    the centred points in the kept columns (None: no rotation).
    """

    centred: np.ndarray  # (u, d) float64, (unique points - centre) * unit
    unique_index: np.ndarray  # (u,) index of each unique point in the original array
    centre: np.ndarray  # (d,) original units
    scale: float  # radius, original units
    unit: float  # power of two: internal = original * unit
    columns: np.ndarray  # (d',) indices of the non-constant columns
    basis: np.ndarray | None  # (d', r) orthonormal basis of the affine hull, None = identity
    reduced: np.ndarray  # (u, r) float64 internal coordinates in the affine hull
    radius: float  # max ||centred row|| (internal)
    colmax: np.ndarray  # (d,) max of each centred column (internal)
    colmin: np.ndarray  # (d,)

    @property
    def rank(self) -> int:
        return self.reduced.shape[1]

    @property
    def iscale(self) -> float:
        """The scale in internal units (about 1)."""
        return self.scale * self.unit

    @cached_property
    def centre_norm(self) -> float:
        """``||centre||_2`` in original units (bounds the rounding of translations)."""
        return float(_row_norms(self.centre[None])[0])

    def reduce(self, queries_centred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Affine-hull coordinates (m, r) and off-hull distances (m,) of internal queries."""
        off = self.off_component(queries_centred)
        coords = queries_centred[:, self.columns]
        if self.basis is not None:
            coords = coords @ self.basis
        return coords, np.linalg.norm(off, axis=1)

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

    def internal_queries(self, queries: np.ndarray) -> np.ndarray:
        """(m, d) internal coordinates of queries; ValueError if not representable."""
        with np.errstate(over="ignore", invalid="ignore"):
            qc = np.asarray(queries, dtype=np.float64) - self.centre
            qc *= self.unit
        if qc.size and not (np.isfinite(qc).all() and np.abs(qc).max() <= _QUERY_LIMIT):
            raise ValueError(
                "some queries lie too far from the points (more than about 1e120 times "
                "their radius) to be handled safely in float64"
            )
        return qc


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
    points = np.asarray(points)
    owned = points.dtype != np.float64  # the conversion below is then already a copy
    x = np.asarray(points, dtype=np.float64)
    unique_index = _unique_rows(x)
    centre, scale, unit = _frame(x)
    if unique_index.size < x.shape[0]:
        centred = x[unique_index]
    else:
        centred = x if owned else x.copy()
    del x
    centred -= centre  # constant columns are exactly 0 (the centre's value there)
    centred *= unit  # exact: a power of two
    radius = _max_row_norm(centred)
    colmax = centred.max(axis=0)
    colmin = centred.min(axis=0)
    columns = np.flatnonzero(colmax > colmin)
    basis = None
    if columns.size == centred.shape[1]:
        kept = centred
    else:
        kept = np.ascontiguousarray(centred[:, columns])
    if columns.size and centred.shape[0] > 1:
        basis = _affine_basis(kept, scale * unit, tol)
    if basis is not None and basis.shape[1] == columns.size:
        basis = None
    if basis is not None:
        reduced = kept @ basis
        del kept
    else:
        reduced = kept  # the centred points themselves, or their kept columns: no new copy
    return _Prepared(
        centred,
        unique_index,
        centre,
        scale,
        unit,
        columns,
        basis,
        reduced,
        radius,
        colmax,
        colmin,
    )


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
# certificate checks (float64, internal units; offsets mapped back exactly)


def _outside_allowance(d: int, radius: float, qnorm) -> np.ndarray:
    """Bound on float64 rounding in ``q.w - max_i x_i.w`` for unit ``w``, internal units.

    Covers the centring ``fl(x - c)`` (relative error ``u`` per coordinate), the two dot
    products and the subtraction, with a factor 4 to spare.
    """
    return 4.0 * (d + 4) * _EPS * (radius + np.asarray(qnorm))


def _check_inside(prep: _Prepared, idx: np.ndarray, weights: np.ndarray, query_centred):
    """Residual ``||sum_i w_i x_i - q||`` in original units; ``inf`` if w is not convex.

    ``|sum(w) - 1| * |centre|`` is added: the published weights sum to 1 only up to
    rounding, and the translation by the centre does not cancel exactly then.
    """
    if weights.size == 0 or (weights < 0).any() or abs(weights.sum() - 1.0) > 1e-12:
        return np.inf
    resid = weights @ prep.centred[idx] - query_centred
    qnorm = float(_row_norms(query_centred[None])[0])
    internal = float(_row_norms(resid[None])[0]) + _gamma(idx.size + 2) * (prep.radius + qnorm)
    return internal / prep.unit + abs(weights.sum() - 1.0) * prep.centre_norm


@dataclass
class _Certificates:
    """Per-query results being assembled (original units)."""

    status: np.ndarray
    residual: np.ndarray
    margin: np.ndarray
    normal: np.ndarray
    offset: np.ndarray
    method: np.ndarray
    weights_idx: list
    weights_val: list

    @classmethod
    def empty(cls, m: int, d: int) -> _Certificates:
        return cls(
            status=np.full(m, UNDECIDED, dtype=np.int8),
            residual=np.full(m, np.nan),
            margin=np.full(m, np.nan),
            normal=np.zeros((m, d)),
            offset=np.full(m, np.nan),
            method=np.full(m, "none", dtype="<U17"),
            weights_idx=[np.zeros(0, dtype=np.int64)] * m,
            weights_val=[np.zeros(0)] * m,
        )

    def try_inside(self, prep, qc, tol, j, idx, lam, method) -> bool:
        """Accept convex weights ``lam`` on unique rows ``idx`` for query j if they verify."""
        pos = lam > 0
        idx, w = idx[pos], lam[pos]
        if w.size == 0 or not np.isfinite(w).all():
            return False
        w = w / w.sum()
        res = _check_inside(prep, idx, w, qc[j])
        if not res <= tol * prep.scale:
            return False
        self.status[j] = INSIDE
        self.residual[j] = res / prep.scale
        self.weights_idx[j] = prep.unique_index[idx]
        self.weights_val[j] = w
        self.method[j] = method
        return True

    def accept_outside(self, prep, qc, qnorm, tol, rows, W, best, qw, allowance, method):
        """Publish hyperplanes for ``rows`` whose separation survives every rounding bound.

        ``W`` (k, d) unit normals; ``best`` (k,) computed ``max_i x_i.w`` and ``qw`` (k,)
        ``q.w``, both internal; ``allowance`` (k,) bounds their combined rounding, so the
        exact gap is at least ``sep = qw - best - allowance``.  Accepted if ``sep`` exceeds
        ``tol * scale`` and half of it exceeds the error of placing the offset ``b`` at
        the midpoint in original units (the centre's dot product, the rounding of ``b``,
        and the slack :meth:`HullResult.verify` allows itself), so that
        ``max_i x_i.w <= b < q.w`` holds exactly.
        """
        if rows.size == 0:
            return
        d = qc.shape[1]
        unit = prep.unit
        sep = qw - best - allowance
        cw = np.array([math.fsum(row) for row in W * prep.centre])
        e_cw = _U * (np.abs(W) @ np.abs(prep.centre)) + _U * np.abs(cw)
        mid = (best + qw) / 2
        b = cw + mid / unit
        cnorm = prep.centre_norm
        x_bound = cnorm + prep.scale  # >= max_i ||x_i||
        q_bound = cnorm + qnorm[rows] / unit  # >= ||q||
        # verify() bounds its own dot products by gamma(d + 2) * ||x||; reserve that twice
        # (its rounding and its allowance) plus the rounding of b and of the comparison
        slack = 2 * _gamma(d + 2) * np.maximum(x_bound, q_bound) + 2 * _U * np.abs(b)
        ok = (sep > tol * prep.iscale) & (sep / 2 / unit > e_cw + slack) & np.isfinite(b)
        ok &= self.status[rows] == UNDECIDED
        r_ok = rows[ok]
        self.status[r_ok] = OUTSIDE
        self.margin[r_ok] = sep[ok] / prep.iscale
        self.normal[r_ok] = W[ok]
        self.offset[r_ok] = b[ok]
        self.method[r_ok] = method

    def certify_outside(self, prep, qc, qnorm, tol, rows, cand, method):
        """Verify candidate normals ``cand`` (k, d), internal, against all points."""
        if rows.size == 0:
            return
        wn = _row_norms(cand)
        good = wn > 0
        rows, cand, wn = rows[good], cand[good], wn[good]
        W = cand / wn[:, None]
        best = _max_dot(prep.centred, W)
        qw = np.einsum("ij,ij->i", qc[rows], W)
        allowance = _outside_allowance(qc.shape[1], prep.radius, qnorm[rows])
        self.accept_outside(prep, qc, qnorm, tol, rows, W, best, qw, allowance, method)


def _box_check(prep: _Prepared, qc, qnorm, tol, rows, cert: _Certificates) -> None:
    """Outside by one coordinate: ``q_k`` beyond every point's ``x_k`` by the tolerance.

    The axis hyperplane's ``max_i x_i.w`` is a column maximum, exact; only the centring
    rounds.
    """
    if rows.size == 0:
        return
    q = qc[rows]
    above = q - prep.colmax
    below = prep.colmin - q
    gap = np.maximum(above, below)
    k = np.argmax(gap, axis=1)
    g = gap[np.arange(rows.size), k]
    allowance = _outside_allowance(1, prep.radius, qnorm[rows])
    hit = g - allowance > tol * prep.iscale
    if not hit.any():
        return
    rows, k, q = rows[hit], k[hit], q[hit]
    sign = np.where(above[hit, k] >= below[hit, k], 1.0, -1.0)
    W = np.zeros((rows.size, qc.shape[1]))
    W[np.arange(rows.size), k] = sign
    best = np.where(sign > 0, prep.colmax[k], -prep.colmin[k])
    qw = sign * q[np.arange(rows.size), k]
    allowance = allowance[hit]
    cert.accept_outside(prep, qc, qnorm, tol, rows, W, best, qw, allowance, "bounding-box")


# ---------------------------------------------------------------------------
# the column-generation engine (internal affine-hull coordinates)


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


# bytes of warm-solver state (a thin QR factorisation per active query) one engine call
# may hold; queries beyond it run in consecutive groups
WARM_MEMORY = 1 << 30


def _engine(
    Y: np.ndarray,
    Z: np.ndarray,
    tol_in: np.ndarray,
    tol_out: np.ndarray,
    *,
    progress: Callable[[int, int], None] | None,
    progress_offset: int = 0,
    progress_total: int | None = None,
    use_warm: bool | None = None,
    **kw,
) -> _EngineOutput:
    """:func:`_engine_group` on groups of queries small enough for the warm solver's
    memory (its factorisations take up to ``16 (r + 2)**2`` bytes per active query)."""
    m, r = Z.shape[0], Y.shape[1]
    if use_warm is None:
        use_warm = _warm_nnls.AVAILABLE
    group = max(1, int(WARM_MEMORY // (16.0 * (r + 2) ** 2))) if use_warm else max(m, 1)
    total = progress_total if progress_total is not None else m
    outputs = []
    for lo in range(0, max(m, 1), group):  # one group (possibly empty) when m <= group
        hi = min(m, lo + group)
        outputs.append(
            _engine_group(
                Y,
                Z[lo:hi],
                tol_in[lo:hi],
                tol_out[lo:hi],
                progress=progress,
                progress_offset=progress_offset + lo,
                progress_total=total,
                use_warm=use_warm,
                **kw,
            )
        )
    return outputs[0] if len(outputs) == 1 else _EngineOutput.merge(outputs)


def _engine_group(
    Y: np.ndarray,
    Z: np.ndarray,
    tol_in: np.ndarray,
    tol_out: np.ndarray,
    *,
    mode: str,
    rtol: float,
    max_rounds: int,
    progress: Callable[[int, int], None] | None,
    progress_offset: int = 0,
    progress_total: int | None = None,
    seed: int = 0,
    use_warm: bool = False,
) -> _EngineOutput:
    """Column generation for the minimum-norm point of conv(Y) relative to each row of Z.

    Parameters
    ----------
    Y : (n, r) float64
        Training points in internal units (radius about 1).
    Z : (m, r) float64
        Queries in internal units.
    tol_in : (m,) float
        Stop as inside once the distance upper bound is ``<= tol_in``.
    tol_out : (m,) float
        Membership stops as outside once the lower bound exceeds ``tol_out``; distance
        once ``upper - lower <= max(tol_out, rtol * upper)``.
    mode : {"membership", "distance"}
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
    out = _EngineOutput(state, support, mu, upper, lower, direction, np.zeros(m), rounds)
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

    # warm-started solver state per query (compiled Lawson-Hanson), when available
    warm: list = [WarmNNLS(r + 1) if use_warm else None for _ in range(m)]
    out.warm = use_warm
    active = np.arange(m)
    for rnd in range(1, max_rounds + 1):
        if active.size == 0:
            break
        P = np.zeros((active.size, r))
        keep = np.ones(active.size, dtype=bool)
        tick = time.perf_counter()
        for a, j in enumerate(active):
            rounds[j] = rnd
            out.nnls_solves += 1
            if warm[j] is not None:
                sol = warm[j].solve(Y, support[j], Z[j])
                if sol is not None:
                    # the passive set, in the solver's order, leads the next working set
                    support[j], mu[j], P[a] = sol
                else:
                    out.warm_fallbacks += 1
                    warm[j] = None  # from-scratch solves for this query from now on
                    support[j] = np.unique(support[j])
            if warm[j] is None:
                sol = _solve_working_set(Y, support[j], Z[j])
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
        for j in active[~keep]:
            warm[j] = None  # decided: free its factorisation
        active, P = active[keep], P[keep]
        out.seconds["nnls"] += time.perf_counter() - tick
        if active.size == 0:
            break
        W = Z[active] - P
        wnorm = np.linalg.norm(W, axis=1)
        W /= wnorm[:, None]  # unit directions (wnorm > 0: else upper = 0 <= tol_in)
        direction[active] = W
        out.dnorm[active] = wnorm
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
                stop = lower[js] > tol_out[js]
            else:
                stop = upper[js] - lower[js] <= np.maximum(tol_out[js], rtol * upper[js])
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
                # add as many points as the working set holds (at least k_add): a
                # support of hundreds of points is then found in a few rounds
                k_j = max(k_add, int(support[j].size)) if rnd > 2 else k_add
                cj = np.flatnonzero(G[c] > thresh[g])
                if cj.size <= k_j and sample is not None:
                    cj = np.flatnonzero(G[c] > pw[a] + 1e-13 * (1.0 + ymax))
                cj = cj[~np.isin(cj, support[j])]
                vals = G[c, cj]
                if cj.size == 0:
                    keep[a] = False  # working set optimal, no certificate: numerical limit
                    continue
                if cj.size > k_j:
                    cj = cj[np.argpartition(vals, cj.size - k_j)[-k_j:]]
                support[j] = np.concatenate([support[j], cj])
            out.seconds["select"] += time.perf_counter() - tick
        for j in active[~keep]:
            warm[j] = None
        active = active[keep]
        if progress is not None:
            progress(progress_offset + (m - active.size), total)
    return out


# ---------------------------------------------------------------------------
# parallel driver: queries split across forked worker processes

_WORKER_DATA: dict = {}  # per worker process: the training points, set by the initializer

# below this much work (queries x (points x rank + rank**3), about a second of one core's
# pricing and solving) a worker pool costs more than it saves: the call runs serially
PARALLEL_MIN_WORK = 5e8


def _worker_init(Y: np.ndarray) -> None:
    _WORKER_DATA["Y"] = Y
    try:
        from threadpoolctl import threadpool_limits

        _WORKER_DATA["limits"] = threadpool_limits(1)  # one BLAS thread per process
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        pass


def _worker_run(Z: np.ndarray, tol_in: np.ndarray, tol_out: np.ndarray, kw: dict):
    return _engine(_WORKER_DATA["Y"], Z, tol_in, tol_out, progress=None, **kw)


def _engine_parallel(
    Y, Z, tol_in, tol_out, *, n_jobs, progress, progress_offset, progress_total, **kw
):
    """Run :func:`_engine` on chunks of the queries in ``n_jobs`` processes.

    Every query's computation is the same whatever the chunking (the candidate sample
    depends on the seed and ``n`` only), so results do not depend on ``n_jobs``.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    m = Z.shape[0]
    n, r = Y.shape
    methods = multiprocessing.get_all_start_methods()
    small = m * (n * r + r**3) < PARALLEL_MIN_WORK  # less than a worker pool costs
    if n_jobs <= 1 or m < 16 or small or "fork" not in methods:
        return _engine(
            Y,
            Z,
            tol_in,
            tol_out,
            progress=progress,
            progress_offset=progress_offset,
            progress_total=progress_total,
            **kw,
        )
    if kw.get("use_warm", _warm_nnls.AVAILABLE):
        _warm_nnls.warm_up()  # load the compiled solver once, before the workers fork
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
            pool.submit(_worker_run, Z[lo:hi], tol_in[lo:hi], tol_out[lo:hi], kw): i
            for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))
        }
        for future in as_completed(futures):
            i = futures[future]
            outputs[i] = future.result()
            done += bounds[i + 1] - bounds[i]
            if progress is not None:
                progress(progress_offset + done, progress_total)
    return _EngineOutput.merge(outputs)


# ---------------------------------------------------------------------------
# the exact LP stage: one HiGHS model per call, only the right-hand side changes


class _ElasticLP:
    """``min 1.(s+ + s-)`` s.t. ``Y^T lambda + s+ - s- = z``, ``1.lambda = 1``, all >= 0.

    Y : (n, r) float64, internal units.  The model is built once (sparse, column-wise:
    the nonzeros of each point plus a 1, then the slack columns) and each query only
    changes the bounds of the first r rows.  The elastic form is always feasible and
    bounded, which keeps the simplex away from the fragile infeasible case; its optimum
    is 0 exactly when z is in the hull, and its row duals ``y`` then satisfy
    ``Y y + t <= 0 < z.y + t`` otherwise (a separating direction).
    """

    def __init__(self, Y: np.ndarray, *, iteration_limit: int, time_limit: float):
        import highspy

        n, r = Y.shape
        self.n, self.r = n, r
        self.time_limit = time_limit
        self.highs = highspy.Highs()
        self.highs.silent()
        self.highs.setOptionValue("output_flag", False)
        self.highs.setOptionValue("simplex_iteration_limit", int(iteration_limit))
        lp = highspy.HighsLp()
        lp.num_col_ = n + 2 * r
        lp.num_row_ = r + 1
        lp.col_cost_ = np.concatenate([np.zeros(n), np.ones(2 * r)])
        lp.col_lower_ = np.zeros(n + 2 * r)
        lp.col_upper_ = np.full(n + 2 * r, highspy.kHighsInf)
        lp.row_lower_ = np.concatenate([np.zeros(r), [1.0]])
        lp.row_upper_ = np.concatenate([np.zeros(r), [1.0]])
        nnz = np.count_nonzero(Y, axis=1)
        start = np.zeros(n + 2 * r + 1, dtype=np.int64)
        start[1 : n + 1] = np.cumsum(nnz + 1)
        start[n + 1 :] = start[n] + np.arange(1, 2 * r + 1)
        index = np.empty(int(start[-1]), dtype=np.int32)
        value = np.empty(int(start[-1]))
        for lo in range(0, n, 8192):  # block by block: no dense copy of the matrix
            block = Y[lo : lo + 8192]
            rows_nz, cols_nz = np.nonzero(block)
            pos = start[lo + rows_nz] + (
                np.arange(rows_nz.size) - np.searchsorted(rows_nz, rows_nz, side="left")
            )
            index[pos] = cols_nz
            value[pos] = block[rows_nz, cols_nz]
            ends = start[lo + 1 : lo + block.shape[0] + 1] - 1
            index[ends] = r
            value[ends] = 1.0
        index[start[n] : start[n] + r] = np.arange(r)
        value[start[n] : start[n] + r] = 1.0
        index[start[n] + r :] = np.arange(r)
        value[start[n] + r :] = -1.0
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.num_col_ = n + 2 * r
        lp.a_matrix_.num_row_ = r + 1
        lp.a_matrix_.start_ = start.astype(np.int32)
        lp.a_matrix_.index_ = index
        lp.a_matrix_.value_ = value
        self.highs.passModel(lp)
        self._optimal = highspy.HighsModelStatus.kOptimal

    def solve(self, z: np.ndarray):
        """("optimal", lambda (n,), y (r,)) or ("failed", None, None)."""
        h = self.highs
        for k in range(self.r):
            h.changeRowBounds(k, float(z[k]), float(z[k]))
        for attempt, strategy in enumerate((1, 4)):  # dual simplex, then primal simplex
            if attempt:
                h.clearSolver()
            h.setOptionValue("simplex_strategy", strategy)
            h.setOptionValue("time_limit", float(h.getRunTime() + self.time_limit))
            h.run()
            if h.getModelStatus() == self._optimal:
                sol = h.getSolution()
                col = np.asarray(sol.col_value)
                dual = np.asarray(sol.row_dual)
                return "optimal", col[: self.n], dual[: self.r]
        return "failed", None, None


def _lp_stage(prep, Z, qc, qnorm, off_vec, tol, rows, cert, *, time_limit=60.0) -> int:
    """Settle ``rows`` (still undecided) with the exact LP; returns the number of solves."""
    if rows.size == 0 or prep.rank == 0:
        return 0
    Y = prep.reduced
    n, r = Y.shape
    lp = _ElasticLP(Y, iteration_limit=max(10_000, 50 * (n + r)), time_limit=time_limit)
    all_idx = np.arange(n)
    solves = 0
    for j in rows:
        solves += 1
        kind, lam, y = lp.solve(Z[j])
        if kind != "optimal":
            continue
        # primal first: the weights may already prove inside, whatever the objective
        if cert.try_inside(prep, qc, tol, j, all_idx, np.clip(lam, 0.0, None), "highs"):
            continue
        yn = float(np.linalg.norm(y))
        if not yn > 0:
            continue
        u = y / yn
        gap = float(Z[j] @ u - _max_dot(Y, u[None])[0])  # in-subspace margin of u
        cand = prep.lift((max(gap, 0.0) * u if gap > 0 else u)[None]) + off_vec[j]
        cert.certify_outside(prep, qc, qnorm, tol, np.array([j]), cand, "highs")
    return solves


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
        Outside certificate ``b``: ``max_i x_i . w <= b < q . w`` in exact arithmetic
        (``b`` lies about halfway between them); NaN if not outside.
    residual : (m,) float64
        Inside check value ``||sum_i w_i x_i - q||_2 / scale`` (NaN if not inside).
    margin : (m,) float64
        Certified lower bound on ``(q . w - max_i x_i . w) / scale`` (NaN if not
        outside), at least ``tol``; a lower bound on the relative distance to the hull.
    method : (m,) str
        What decided the query: ``"affine"`` (off the affine hull), ``"bounding-box"``
        (an axis hyperplane), ``"column-generation"``, ``"highs"`` (the exact LP),
        ``"none"``.
    rounds : (m,) int32
        Column-generation rounds spent on the query.
    tol, scale : float
        The relative tolerance and the length scale (radius of the points).
    stats : dict
        ``n_points``, ``n_unique``, ``rank`` (of the affine hull as used), ``nnls_solves``,
        ``warm_solver`` (the compiled warm-started solver ran), ``warm_fallbacks``,
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
            ``tol * scale`` with convex weights (up to a bound on the rounding of this
            check); an outside hyperplane has ``max_i x_i . w <= b < q . w`` and
            ``q . w - max_i x_i . w >= tol * scale * ||w||`` after every computed dot
            product is widened by its rounding-error bound ``gamma(d + 2) ||x|| ||w||``
            against the claim.  Undecided queries claim nothing and are True.
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
            resid = float(_row_norms((w @ x[idx] - q[j])[None])[0])
            allowance = 4 * (idx.size + 2) * _EPS * (np.abs(x[idx]).max() + np.abs(q[j]).max())
            ok[j] = resid <= self.tol * scale + allowance * np.sqrt(x.shape[1])
        out = np.flatnonzero(self.status == OUTSIDE)
        if out.size:
            w = self.hyperplane_normal[out]
            b = self.hyperplane_offset[out]
            gamma = _gamma(x.shape[1] + 2)
            wn = _row_norms(w)
            ax = gamma * _max_row_norm(x) * wn  # bounds the rounding of each x_i . w
            aq = gamma * _row_norms(q[out]) * wn  # and of q . w
            with np.errstate(over="ignore", invalid="ignore"):
                qw = np.einsum("ij,ij->i", q[out], w)
                best = _max_dot(x, w)
                ok[out] = (
                    (wn > 0)
                    & np.isfinite(b)
                    & (best + ax <= b)
                    & (qw - aq > b)
                    & (qw - best + (ax + aq) >= self.tol * scale * wn)
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


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def _check_options(tol: float, max_rounds: int, n_jobs) -> int:
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive finite number, got {tol}")
    if int(max_rounds) < 1:
        raise ValueError(f"max_rounds must be >= 1, got {max_rounds}")
    if n_jobs is None or int(n_jobs) == -1:
        return _available_cores()
    n_jobs = int(n_jobs)
    if n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer, -1 or None, got {n_jobs}")
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


def _setup(points, queries, tol, max_rounds, n_jobs):
    t0 = time.perf_counter()
    points, queries = _as_data(points, queries)
    n_jobs = _check_options(tol, max_rounds, n_jobs)
    prep = _prepare(points, tol)
    qc = prep.internal_queries(queries)
    Z, off = prep.reduce(qc)
    qnorm = _row_norms(qc)
    return prep, qc, Z, off, qnorm, n_jobs, t0


def _run_engine(prep, Z, rows, tol_in, tol_out, *, mode, rtol, n_jobs, progress, m, **kw):
    """Column generation for ``rows`` of Z; supports index unique points."""
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
    # low dimension and many queries: only the hull's vertices can carry weight, and
    # qhull finds them cheaply; certificates are still checked against all points
    candidates = _hull_vertices(prep.reduced) if prep.rank <= 5 and rows.size >= 500 else None
    Y = prep.reduced if candidates is None else prep.reduced[candidates]
    eng = _engine_parallel(
        Y,
        Z[rows],
        tol_in[rows],
        tol_out[rows],
        n_jobs=n_jobs,
        mode=mode,
        rtol=rtol,
        progress=progress,
        progress_offset=m - rows.size,
        progress_total=m,
        **kw,
    )
    if candidates is not None:
        eng.support = [None if s is None else candidates[s] for s in eng.support]
    return eng


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
        policy" in the module docstring for what their own rounding means.
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
        Bad shapes, NaN or inf, bad options, or magnitudes that float64 cannot handle
        safely (see :func:`hull_scale`).
    """
    prep, qc, Z, off, qnorm, n_jobs, t0 = _setup(points, queries, tol, max_rounds, n_jobs)
    t_prep = time.perf_counter() - t0
    m, d = qc.shape
    tol_abs = tol * prep.iscale
    cert = _Certificates.empty(m, d)
    rounds = np.zeros(m, dtype=np.int32)

    # 1. off the affine hull by more than the tolerance: the off direction separates
    off_vec = prep.off_component(qc)
    off_rows = np.flatnonzero(off > tol_abs)
    cert.certify_outside(prep, qc, qnorm, tol, off_rows, off_vec[off_rows], "affine")
    # 2. the bounding box
    _box_check(prep, qc, qnorm, tol, np.flatnonzero(cert.status == UNDECIDED), cert)
    # 3. column generation, against the in-subspace share of the tolerance both ways
    tol_sub = np.sqrt(np.clip(tol_abs**2 - off**2, 0.0, None))
    rows = np.flatnonzero((cert.status == UNDECIDED) & (off <= tol_abs))
    eng = _run_engine(
        prep,
        Z,
        rows,
        tol_sub,
        tol_sub,
        mode="membership",
        rtol=0.0,
        n_jobs=n_jobs,
        progress=progress,
        m=m,
        max_rounds=max_rounds,
        seed=seed,
    )
    rounds[rows] = eng.rounds
    out_a = []
    for a, j in enumerate(rows):
        if eng.state[a] == INSIDE:
            cert.try_inside(prep, qc, tol, j, eng.support[a], eng.mu[a], "column-generation")
        elif eng.state[a] == OUTSIDE:
            out_a.append(a)
    if out_a:
        out_a = np.array(out_a)
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
        cand = prep.lift(U * alpha[:, None]) + off_vec[out_rows]
        cert.certify_outside(prep, qc, qnorm, tol, out_rows, cand, "column-generation")

    # 4. the exact LP for whatever is still undecided
    rest = np.flatnonzero(cert.status == UNDECIDED)
    lp_solves = _lp_stage(prep, Z, qc, qnorm, off_vec, tol, rest, cert)

    if progress is not None:
        progress(m, m)
    counts = np.array([w.size for w in cert.weights_val], dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    return HullResult(
        status=cert.status,
        weight_indptr=indptr,
        weight_indices=np.concatenate(cert.weights_idx) if m else np.zeros(0, dtype=np.int64),
        weight_values=np.concatenate(cert.weights_val) if m else np.zeros(0),
        hyperplane_normal=cert.normal,
        hyperplane_offset=cert.offset,
        residual=cert.residual,
        margin=cert.margin,
        method=cert.method,
        rounds=rounds,
        tol=float(tol),
        scale=float(prep.scale),
        stats={
            "n_points": int(np.asarray(points).shape[0]),
            "n_unique": int(prep.unique_index.size),
            "rank": int(prep.rank),
            "nnls_solves": int(eng.nnls_solves),
            "warm_solver": bool(eng.warm),
            "warm_fallbacks": int(eng.warm_fallbacks),
            "lp_solves": int(lp_solves),
            "seconds": {k: round(v, 4) for k, v in eng.seconds.items()},
            "preprocess_s": float(t_prep),
            "time_s": float(time.perf_counter() - t0),
            "n_jobs": int(n_jobs),
        },
    )


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
    prep, qc, Z, off, qnorm, n_jobs, t0 = _setup(points, queries, tol, max_rounds, n_jobs)
    t_prep = time.perf_counter() - t0
    m, d = qc.shape
    unit = prep.unit
    tol_abs = tol * prep.iscale
    rows = np.arange(m)
    tol_sub = np.sqrt(np.clip(tol_abs**2 - off**2, 0.0, None))
    eng = _run_engine(
        prep,
        Z,
        rows,
        tol_sub,
        np.full(m, tol_abs),
        mode="distance",
        rtol=rtol,
        n_jobs=n_jobs,
        progress=progress,
        m=m,
        max_rounds=max_rounds,
        seed=seed,
    )
    X = prep.centred
    cnorm = prep.centre_norm
    upper = np.full(m, np.inf)
    lower = np.zeros(m)
    weights_idx: list = [np.zeros(0, dtype=np.int64)] * m
    weights_val: list = [np.zeros(0)] * m
    wsum_err = np.zeros(m)
    P = np.zeros((m, d))
    for a, j in enumerate(rows):
        if eng.mu[a] is None:
            continue
        S, mu = eng.support[a], eng.mu[a]
        pos = mu > 0
        idx, w = S[pos], mu[pos] / mu[pos].sum()
        weights_idx[j] = prep.unique_index[idx]
        weights_val[j] = w
        wsum_err[j] = abs(w.sum() - 1.0)
        P[j] = w @ X[idx]
    has = np.array([w.size > 0 for w in weights_val], dtype=bool)
    Wd = qc - P
    norm = _row_norms(Wd[has])
    # upper bound, original units: float64 rounding of the internal residual, then the
    # weights' rounding off a sum of exactly 1 moves the point by |sum(w) - 1| * |centre|
    upper[has] = (norm + _outside_allowance(d, prep.radius, qnorm[has])) / unit + wsum_err[
        has
    ] * cnorm
    # certified lower bound: (q.w - max_i x_i.w) / ||w|| with w = q - p (translation
    # invariant: only the centring's rounding, inside the allowance, enters)
    rows_lb = np.flatnonzero(has & (upper > tol * prep.scale))  # inside needs no lower bound
    if rows_lb.size:
        w = Wd[rows_lb] / _row_norms(Wd[rows_lb])[:, None]
        best = _max_dot(X, w)
        qw = np.einsum("ij,ij->i", qc[rows_lb], w)
        allowance = _outside_allowance(d, prep.radius, qnorm[rows_lb])
        lower[rows_lb] = np.maximum(qw - best - allowance, 0.0) / unit
    scale = prep.scale
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
            "warm_solver": bool(eng.warm),
            "warm_fallbacks": int(eng.warm_fallbacks),
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
