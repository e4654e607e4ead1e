"""What the public functions return: :class:`HullResult` and :class:`DistanceResult`.

:meth:`HullResult.verify` re-checks every certificate against the original points with
its own rounding bounds, independently of how the engine found it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neuralhull.hull.numerics import (
    _EPS,
    INSIDE,
    OUTSIDE,
    STATUS_NAMES,
    UNDECIDED,
    _gamma,
    _max_dot,
    _max_row_norm,
    _row_norms,
)
from neuralhull.hull.prepare import _as_data, hull_scale


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
