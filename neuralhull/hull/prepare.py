"""Stage 1 of the method: input checks, scaling and the affine hull.

The training points are deduplicated, centred and rescaled by an exact power of two to
unit radius (so that magnitudes from about 1e-280 to 1e280 behave alike), constant columns
are dropped and, when the centred points span fewer directions, an orthonormal basis of
their span is found: the engine then works in the ``r`` coordinates of the affine hull.
Every reduction is exact or verified (:func:`_affine_basis` measures what it drops).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from neuralhull.hull.numerics import (
    _EPS,
    _EXP_LIMIT,
    _QUERY_LIMIT,
    _column_max,
    _column_min,
    _max_row_norm,
    _row_norms,
)

# Every integer of at most this magnitude is exactly a float64; beyond it, not all are.
_EXACT_INT = 2**53


def _inexact_integer(a) -> int | None:
    """The first integer in ``a`` that float64 cannot represent exactly, or None.

    ``a`` is what a caller passed: an array of any dtype, or (nested) lists and tuples of
    numbers and arrays, whose Python integers numpy would otherwise round silently (beyond
    int64, or mixed with floats).
    """
    if isinstance(a, np.ndarray):
        if a.dtype.kind in "iu" and a.dtype.itemsize >= 8:
            big = a > _EXACT_INT
            if a.dtype.kind == "i":
                big |= a < -_EXACT_INT
            candidates = a[big]
        elif a.dtype == object:
            candidates = a.ravel()
        else:
            return None  # floats are taken as given; integers of 32 bits or fewer are exact
        for value in candidates:
            bad = _inexact_integer(value)
            if bad is not None:
                return bad
        return None
    if isinstance(a, (bool, np.bool_)):
        return None
    if isinstance(a, (int, np.integer)):
        value = int(a)
        try:
            exact = int(float(value)) == value
        except OverflowError:  # beyond the largest float64
            exact = False
        return None if exact else value
    if isinstance(a, (list, tuple)):
        for item in a:
            bad = _inexact_integer(item)
            if bad is not None:
                return bad
    return None


def _refuse_inexact_integers(name: str, a) -> None:
    """ValueError naming ``name`` if it holds an integer float64 cannot represent exactly."""
    bad = _inexact_integer(a)
    if bad is not None:
        digits = str(bad)
        shown = digits if len(digits) <= 40 else f"{digits[:8]}... ({len(digits)} digits)"
        raise ValueError(
            f"{name} hold the integer {shown}, of magnitude above 2**53 (about "
            f"2**{math.log2(abs(bad)):.1f}), which float64 cannot represent exactly: the "
            f"engine works in float64, where integers are exact only up to 2**53 = "
            f"{_EXACT_INT}. Values beyond 2**53 must be scaled (e.g. subtract a common "
            "offset) or given as floats, which are taken as the numbers given"
        )


def _is_real_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _as_array(name: str, a) -> np.ndarray:
    """``a`` as an array, with every integer exactly representable in float64; an object
    array of real numbers becomes float64 (exactly, after that check)."""
    _refuse_inexact_integers(name, a)
    a = np.asarray(a)
    if a.dtype == object and all(_is_real_number(v) for v in a.flat):
        a = a.astype(np.float64)
    return a


def _as_data(points, queries) -> tuple[np.ndarray, np.ndarray]:
    points = _as_array("points", points)
    queries = _as_array("queries", queries)
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


def _frame(x: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Centre, radius and an exact power of two ``unit`` with ``radius * unit`` in [0.5, 1).

    x : (n, d) float64.  Raises ValueError when the spread of the data cannot be
    represented safely in float64.
    """
    return _frame_and_extremes(x)[:3]


def _frame_and_extremes(x: np.ndarray):
    """:func:`_frame`, and the columns' maxima and minima ``hi``, ``lo`` of x."""
    hi = _column_max(x)
    lo = _column_min(x)
    constant = ~(hi > lo)
    if constant.all():
        return x[0].copy(), 1.0, 1.0, hi, lo  # all points coincide: absolute tolerances
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
    return centre, radius / unit, unit, hi, lo


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
    _refuse_inexact_integers("points", points)
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


@dataclass
class _Problem:
    """One call's queries in the engine's terms: centred and scaled like the points, in
    the coordinates of their affine hull, with the call's relative tolerance."""

    prep: _Prepared
    qc: np.ndarray  # (m, d) centred queries, internal units
    Z: np.ndarray  # (m, r) their coordinates in the affine hull
    off: np.ndarray  # (m,) their distances to the affine hull (internal)
    qnorm: np.ndarray  # (m,) ||qc||
    tol: float  # relative tolerance: inside means within tol * scale

    @classmethod
    def build(cls, prep: _Prepared, queries: np.ndarray, tol: float) -> _Problem:
        qc = prep.internal_queries(queries)
        Z, off = prep.reduce(qc)
        return cls(prep=prep, qc=qc, Z=Z, off=off, qnorm=_row_norms(qc), tol=tol)

    @property
    def tol_abs(self) -> float:
        """The tolerance in internal units."""
        return self.tol * self.prep.iscale

    @cached_property
    def off_vec(self) -> np.ndarray:
        """(m, d) the queries' components orthogonal to the affine hull (internal)."""
        return self.prep.off_component(self.qc)

    @cached_property
    def tol_sub(self) -> np.ndarray:
        """(m,) the share of the tolerance left in the affine hull: a query off it by
        ``o`` is within ``tol * scale`` of the hull only if its in-hull distance is within
        ``sqrt((tol * scale)**2 - o**2)``."""
        return np.sqrt(np.clip(self.tol_abs**2 - self.off**2, 0.0, None))


@functools.lru_cache(maxsize=64)
def _projection(d: int) -> np.ndarray:
    """The fixed random direction of :func:`_unique_rows` in R^d (read-only, made once)."""
    v = np.random.default_rng(12345).standard_normal(d)
    v.flags.writeable = False
    return v


def _unique_rows(x: np.ndarray) -> np.ndarray:
    """Sorted indices of the first occurrence of each distinct row of x (n, d).

    Rows are bucketed by a fixed random projection and only rows sharing a bucket are
    compared exactly, which is much faster than sorting rows as byte strings when many rows
    share long common prefixes (images).  A duplicate missed by rounding differences in
    the projection is harmless: duplicates only cost time.
    """
    n = x.shape[0]
    if n <= 1:
        return np.arange(n)
    keys = x @ _projection(x.shape[1])
    ks = np.sort(keys)  # a sort of values is ~20x faster than a stable argsort
    if not (ks[1:] == ks[:-1]).any():
        return np.arange(n)  # no two keys equal: every row is distinct
    order = np.argsort(keys, kind="stable")
    ks = keys[order]
    same = ks[1:] == ks[:-1]
    drop = np.zeros(n, dtype=bool)
    edges = np.diff(np.concatenate([[False], same, [False]]).astype(np.int8))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
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
    centre, scale, unit, hi, lo = _frame_and_extremes(x)
    if unique_index.size < x.shape[0]:
        centred = x[unique_index]
    else:
        centred = x if owned else x.copy()
    del x
    centred -= centre  # constant columns are exactly 0 (the centre's value there)
    centred *= unit  # exact: a power of two
    # Rounding is monotone and the scaling exact, so the extremes of the centred columns
    # are the centred extremes, and the radius is the one _frame measured: no more passes.
    radius = scale * unit
    colmax = (hi - centre) * unit
    colmin = (lo - centre) * unit
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
