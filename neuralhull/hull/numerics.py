"""Status codes, float64 rounding bounds and the overflow-safe kernels every stage uses.

Nothing here knows about hulls: norms without overflow or underflow, a blockwise maximum of
dot products, and the bound ``gamma(k)`` on the rounding of a k-term dot product, with
which the certificates (:mod:`neuralhull.hull.certificates`) and
:meth:`~neuralhull.hull.results.HullResult.verify` widen every computed number.
"""

from __future__ import annotations

import numpy as np

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


# squared norms between these are summed unscaled: no term that matters can overflow or
# underflow (a term below 2**-1022 is under 2**-122 of its row's sum, far below an ulp)
_SAFE_SQUARES = (2.0**-900, 2.0**900)


def _row_norms(a: np.ndarray) -> np.ndarray:
    """(k,) Euclidean norms of the rows of a (k, d), without overflow or underflow.

    Rows are rescaled by an exact power of two first, unless every row's sum of squares
    lies safely inside float64's range (the common case): then the rescaling would give the
    same numbers, and is skipped.
    """
    if a.shape[0] == 0:
        return np.zeros(0)
    if a.shape[1] == 0:
        return np.zeros(a.shape[0])
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        squares = np.einsum("ij,ij->i", a, a)
    if _SAFE_SQUARES[0] <= squares.min() and squares.max() <= _SAFE_SQUARES[1]:
        return np.sqrt(squares)
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


_NARROW = 32  # below this many columns, reduce the rows of transposed blocks
_BLOCK_ROWS = 16384


def _column_reduce(a: np.ndarray, reduce) -> np.ndarray:
    if a.ndim != 2 or not (1 < a.shape[1] < _NARROW) or a.shape[0] <= 1:
        return reduce(a, axis=0)
    parts = [
        reduce(np.ascontiguousarray(a[start : start + _BLOCK_ROWS].T), axis=1)
        for start in range(0, a.shape[0], _BLOCK_ROWS)
    ]
    return parts[0] if len(parts) == 1 else reduce(np.stack(parts), axis=0)


def _column_max(a: np.ndarray) -> np.ndarray:
    """``a.max(axis=0)`` of a (n, k) array, the same values.

    numpy reduces a C-ordered array along axis 0 one row at a time, which for a few
    columns is 4-30x slower than reducing the rows of a transposed copy (measured for
    k = 2..16); from about 32 columns on the direct reduction is the faster one.  The
    copies are made block by block (16,384 rows), so no temporary of ``a``'s size.
    """
    return _column_reduce(a, np.max)


def _column_min(a: np.ndarray) -> np.ndarray:
    """``a.min(axis=0)``, the same values; see :func:`_column_max`."""
    return _column_reduce(a, np.min)


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
        np.maximum(best, _column_max(out), out=best)
    return best
