"""Certificates: checking convex weights and separating hyperplanes in float64.

A query is published ``INSIDE`` only with convex weights whose residual, bounded for
rounding, is within ``tol * scale``, and ``OUTSIDE`` only with a unit normal ``w`` and an
offset ``b`` with ``max_i x_i . w <= b < q . w`` true in exact arithmetic for the published
numbers (every dot product widened by its rounding bound).  Stage 2 of the method, the
bounding-box test (:func:`_box_check`), is a certificate that needs no product at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from neuralhull.hull.numerics import (
    _EPS,
    _U,
    INSIDE,
    OUTSIDE,
    UNDECIDED,
    _gamma,
    _max_dot,
    _row_norms,
)
from neuralhull.hull.prepare import _Prepared, _Problem


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
class _Separation:
    """Candidate hyperplanes for k queries, internal units: ``W`` (k, d) unit normals,
    ``best`` (k,) the computed ``max_i x_i.w``, ``qw`` (k,) the computed ``q.w``, and
    ``allowance`` (k,) a bound on the rounding of ``qw - best``."""

    W: np.ndarray
    best: np.ndarray
    qw: np.ndarray
    allowance: np.ndarray


# numbers (weighted training rows) :meth:`_Certificates.try_inside_many` gathers at once
INSIDE_BATCH = 1 << 22


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

    def try_inside(self, problem: _Problem, j, idx, lam, method) -> bool:
        """Accept convex weights ``lam`` on unique rows ``idx`` for query j if they verify."""
        prep, qc, tol = problem.prep, problem.qc, problem.tol
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

    def try_inside_many(self, problem: _Problem, js, supports, weights, method) -> None:
        """:meth:`try_inside` for many queries: the same checks and bounds, vectorised
        over the queries (a call per query costs more in numpy overhead than its checks
        in few dimensions), in batches of at most
        :data:`INSIDE_BATCH` gathered numbers.  The residuals are summed in another order
        than :meth:`try_inside` sums them, within the same rounding bound."""
        prep = problem.prep
        js = np.asarray(js, dtype=np.int64)
        sizes = np.fromiter((s.size for s in supports), np.int64, len(supports))
        d = prep.centred.shape[1]
        ends = np.cumsum(sizes) * max(d, 1)
        start = 0
        while start < js.size:
            base = ends[start - 1] if start else 0
            stop = max(start + 1, int(np.searchsorted(ends, base + INSIDE_BATCH, "right")))
            self._inside_batch(problem, js[start:stop], supports[start:stop],
                               weights[start:stop], sizes[start:stop], method)  # fmt: skip
            start = stop

    def _inside_batch(self, problem: _Problem, js, supports, weights, sizes, method) -> None:
        prep, qc, tol = problem.prep, problem.qc, problem.tol
        b = js.size
        idx = np.concatenate(supports).astype(np.int64, copy=False)
        lam = np.concatenate(weights)
        seg = np.repeat(np.arange(b), sizes)
        pos = lam > 0
        idx, lam, seg = idx[pos], lam[pos], seg[pos]
        count = np.bincount(seg, minlength=b)
        finite = np.isfinite(lam)
        ok = (count > 0) & (np.bincount(seg, weights=~finite, minlength=b) == 0)
        lam = np.where(finite, lam, 0.0)
        total = np.bincount(seg, weights=lam, minlength=b)
        ok &= total > 0
        w = lam / np.where(ok, total, 1.0)[seg]
        wsum = np.bincount(seg, weights=w, minlength=b)
        ok &= np.abs(wsum - 1.0) <= 1e-12
        starts = np.concatenate([[0], np.cumsum(count)[:-1]])
        resid = np.zeros((b, qc.shape[1]))
        if idx.size:
            nonempty = np.flatnonzero(count)
            resid[nonempty] = np.add.reduceat(prep.centred[idx] * w[:, None], starts[nonempty])
        resid -= qc[js]
        qnorm = _row_norms(qc[js])
        internal = _row_norms(resid) + _gamma(count + 2) * (prep.radius + qnorm)
        res = internal / prep.unit + np.abs(wsum - 1.0) * prep.centre_norm
        ok &= res <= tol * prep.scale
        for a in np.flatnonzero(ok).tolist():
            j = int(js[a])
            part = slice(starts[a], starts[a] + count[a])
            self.status[j] = INSIDE
            self.residual[j] = res[a] / prep.scale
            self.weights_idx[j] = prep.unique_index[idx[part]]
            self.weights_val[j] = w[part]
            self.method[j] = method

    def accept_outside(self, problem: _Problem, rows, planes: _Separation, method):
        """Publish hyperplanes for ``rows`` whose separation survives every rounding bound.

        The exact gap of each of ``planes`` is at least ``sep = qw - best - allowance``
        (:class:`_Separation`).  Accepted if ``sep`` exceeds ``tol * scale`` and half of
        it exceeds the error of placing the offset ``b`` at the midpoint in original units
        (the centre's dot product, the rounding of ``b``, and the slack
        :meth:`HullResult.verify` allows itself), so that ``max_i x_i.w <= b < q.w`` holds
        exactly.
        """
        if rows.size == 0:
            return
        prep, qnorm, tol = problem.prep, problem.qnorm, problem.tol
        W, best, qw, allowance = planes.W, planes.best, planes.qw, planes.allowance
        d = problem.qc.shape[1]
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

    def certify_outside(self, problem: _Problem, rows, cand, method):
        """Verify candidate normals ``cand`` (k, d), internal, against all points."""
        if rows.size == 0:
            return
        prep, qc, qnorm = problem.prep, problem.qc, problem.qnorm
        wn = _row_norms(cand)
        good = wn > 0
        rows, cand, wn = rows[good], cand[good], wn[good]
        W = cand / wn[:, None]
        best = _max_dot(prep.centred, W)
        qw = np.einsum("ij,ij->i", qc[rows], W)
        allowance = _outside_allowance(qc.shape[1], prep.radius, qnorm[rows])
        self.accept_outside(problem, rows, _Separation(W, best, qw, allowance), method)


def _box_check(problem: _Problem, rows, cert: _Certificates) -> None:
    """Outside by one coordinate: ``q_k`` beyond every point's ``x_k`` by the tolerance.

    The axis hyperplane's ``max_i x_i.w`` is a column maximum, exact; only the centring
    rounds.
    """
    if rows.size == 0:
        return
    prep, qc, qnorm, tol = problem.prep, problem.qc, problem.qnorm, problem.tol
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
    cert.accept_outside(problem, rows, _Separation(W, best, qw, allowance), "bounding-box")
