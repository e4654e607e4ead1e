"""Warm-started non-negative least squares for the hull engine's working sets.

The column-generation engine solves, round after round, ``min ||A lam - e||`` over
``lam >= 0`` where the columns of ``A`` are ``[y_i - z; 1]`` for the points ``y_i`` of a
working set that only grows by a few candidates per round (``e`` is the last unit vector;
normalised, ``lam`` gives the point of the working set's hull nearest to ``z``).
Restarting an NNLS solver from scratch each round repeats all the work of the previous
rounds: in 700 dimensions a working set of 1,100 points costs about 0.3 s per solve.

:class:`WarmNNLS` keeps the Lawson-Hanson state of one query between rounds: the passive
set, its weights and a QR factorisation ``A_P = Q R``; Givens rotations drop a column.
While the passive set is small, Q is thin and a column enters by Gram-Schmidt with one
reorthogonalisation (8 k M operations for k passive columns in M coordinates).  From
half the coordinates on (:data:`FULL_FROM`), where the engine's end game spends its time,
Q is completed to an orthonormal basis of all M coordinates and a column enters by its
coordinates in that basis and one Householder reflection of the complement (2 M^2 +
4 (M - k) M, no reorthogonalisation).  A round then costs only the columns that enter or
leave.  The kernel is compiled with numba when numba is installed (:data:`AVAILABLE`);
otherwise the engine keeps its from-scratch solver.

Nothing here needs to be exact: the engine re-checks every certificate it returns
against all points, so a numerical slip can cost rounds, never a wrong answer.
"""

from __future__ import annotations

import contextlib
import functools
import math

import numpy as np

try:  # pragma: no cover - exercised whichever way the environment is
    import numba

    AVAILABLE = True
except ImportError:  # pragma: no cover
    numba = None
    AVAILABLE = False

# kernel status codes
OK = 0
ITERATION_LIMIT = 1
BREAKDOWN = 2  # non-finite numbers: the caller falls back to a fresh solve


def _delete(Qt, Rt, qt_e, lam, passive, residual, k, pos, M):  # pragma: no cover - compiled
    """Drop passive column ``pos`` of ``k``: shift, re-triangularise with Givens rotations
    (applied to R's rows, Q's columns and ``qt_e`` = Q^T e alike), and add the leaving
    direction's share back to the ``residual``.  Returns the new ``k``.

    ``lam`` holds the passive columns' weights and ``passive`` their rows of the kernel's
    ``columns``, in the order of the factorisation (``Qt``: Q's columns as rows).

    ``Rt`` holds R column by column (``Rt[j, i] = R[i, j]``), so that dropping a column
    moves contiguous memory and back-substitution runs along contiguous columns.
    """
    for col in range(pos, k - 1):  # column col + 1 of R has rows 0..col + 1
        for i in range(col + 2):
            Rt[col, i] = Rt[col + 1, i]
    for i in range(k):
        Rt[k - 1, i] = 0.0
    for t in range(pos, k - 1):
        a = Rt[t, t]
        b = Rt[t, t + 1]
        h = np.hypot(a, b)
        if h == 0.0:
            continue
        cs = a / h
        sn = b / h
        for col in range(t, k - 1):
            x = Rt[col, t]
            y = Rt[col, t + 1]
            Rt[col, t] = cs * x + sn * y
            Rt[col, t + 1] = -sn * x + cs * y
        for e in range(M):
            x = Qt[t, e]
            y = Qt[t + 1, e]
            Qt[t, e] = cs * x + sn * y
            Qt[t + 1, e] = -sn * x + cs * y
        x = qt_e[t]
        y = qt_e[t + 1]
        qt_e[t] = cs * x + sn * y
        qt_e[t + 1] = -sn * x + cs * y
    last = k - 1
    for e in range(M):
        residual[e] += qt_e[last] * Qt[last, e]
    for i in range(pos, last):
        lam[i] = lam[i + 1]
        passive[i] = passive[i + 1]
    if last >= 1:  # row ``last`` of R: only the last rotation touched it, and zeroed it
        Rt[last - 1, last] = 0.0
    qt_e[last] = 0.0
    lam[last] = 0.0
    return last


def _back_substitute(Rt, rhs, sol, k):  # pragma: no cover - compiled
    """Solve R sol = rhs (R upper triangular, stored by columns in ``Rt``)."""
    for i in range(k):
        sol[i] = rhs[i]
    for i in range(k - 1, -1, -1):
        sol[i] /= Rt[i, i]
        si = sol[i]
        r_column = Rt[i]
        for row in range(i):
            sol[row] -= si * r_column[row]


def _dot(a, b, M):  # pragma: no cover - compiled
    """``a[:M] @ b[:M]`` as a loop: for the short vectors here a BLAS call costs more than
    the sum itself."""
    acc = 0.0
    for e in range(M):
        acc += a[e] * b[e]
    return acc


# from this share of the coordinates on, passive columns enter through a full basis
# (:func:`_add_full`): 2 M^2 + 4 (M - k) M operations per column against Gram-Schmidt's
# 8 k M, so past about M / 2 the full basis is cheaper
FULL_FROM = 0.5

# below this many coordinates the block's Gram-Schmidt runs as compiled loops; above it,
# as matrix-matrix products (each BLAS call costs about a microsecond before any work)
LOOP_COORDINATES = 64


def _add_full(  # pragma: no cover - compiled
    Qt, Rt, qt_e, lam, passive, in_passive, blocked, col_norm, block_cols, basis_coords,
    reflectors, wy_factor, basis_last, wy_scratch, flip, cand_idx, nb, k, M,
):  # fmt: skip
    """Add the block ``block_cols[:nb]`` (columns ``cand_idx``) with a full orthonormal
    basis: rows ``0..k-1`` of ``Qt`` span the passive columns, rows ``k..M-1`` their
    complement.  Returns the new ``k``.

    One product gives every column's coordinates in the basis (``basis_coords``, 2 M^2 per
    column); a Householder reflection of the complement then turns the column's share
    there into the next basis row.  The reflections are worked out on the coordinates
    alone (and on ``basis_last``, the basis' last coordinates, which give ``qt_e``) and
    reach the basis at the end as one blocked product, ``I - Y T^T Y^T`` (compact WY
    form, Y the ``reflectors``, T the ``wy_factor``; 4 (M - k) M per column).
    Near full rank, where the engine's end game is, this is far cheaper than Gram-Schmidt
    against the k passive rows, twice (8 k M), and needs no reorthogonalisation: the
    basis changes by orthogonal maps only.

    The residual is not updated: the kernel recomputes it before it next reads it.
    """
    basis_coords[:nb] = np.dot(block_cols[:nb], Qt[:M].T)
    k_old = k
    L0 = M - k_old
    for i in range(L0):
        basis_last[i] = Qt[k_old + i, M - 1]
    nr = 0  # reflections so far; reflection r makes basis row k_old + r
    for t in range(nb):
        j = cand_idx[t]
        coords = basis_coords[t]
        tail0 = 0.0  # the column's share outside the passive columns before this block
        for i in range(k_old, M):
            tail0 += coords[i] * coords[i]
        if not np.sqrt(tail0) > 1e-10 * col_norm[j]:
            blocked[j] = True  # in the span of the passive columns
            continue
        tail = 0.0
        for i in range(k, M):
            tail += coords[i] * coords[i]
        sigma = np.sqrt(tail)
        if not sigma > 1e-10 * col_norm[j]:
            continue  # in the span of this block: the next pass may take it
        # reflection H = I - tau y y^T of rows k..M-1 with H u[k:] = alpha e_0, its
        # vector y (``refl``) kept in block coordinates (rows k_old..M-1) as row nr of Y
        x0 = coords[k]
        alpha = -sigma if x0 >= 0.0 else sigma
        tau = 1.0 / (sigma * (sigma + abs(x0)))  # 2 / (y @ y)
        off = k - k_old
        refl = reflectors[nr]
        for i in range(off):
            refl[i] = 0.0
        refl[off] = x0 - alpha
        for i in range(off + 1, L0):
            refl[i] = coords[k_old + i]
        # T's new column (H_0 ... H_nr = I - Y T Y^T): -tau T (Y^T y), T upper triangular
        for a in range(nr):
            d = 0.0
            for i in range(off, L0):
                d += reflectors[a, i] * refl[i]
            wy_scratch[a] = d
        for a in range(nr):
            acc = 0.0
            for b in range(a, nr):
                acc += wy_factor[a, b] * wy_scratch[b]
            wy_factor[a, nr] = -tau * acc
        wy_factor[nr, nr] = tau
        for b in range(nr + 1, wy_factor.shape[1]):
            wy_factor[nr, b] = 0.0
        # the reflection on the coordinates that are still needed: the block's later
        # columns and the basis' last coordinates
        for t2 in range(t + 1, nb):
            coords_later = basis_coords[t2]
            d = 0.0
            for i in range(off, L0):
                d += refl[i] * coords_later[k_old + i]
            d *= tau
            for i in range(off, L0):
                coords_later[k_old + i] -= d * refl[i]
        d = 0.0
        for i in range(off, L0):
            d += refl[i] * basis_last[i]
        d *= tau
        for i in range(off, L0):
            basis_last[i] -= d * refl[i]
        flip[nr] = alpha < 0.0  # then the row changes sign: R's diagonal is positive
        if flip[nr]:
            basis_last[off] = -basis_last[off]
            for t2 in range(t + 1, nb):
                basis_coords[t2, k] = -basis_coords[t2, k]
        for i in range(k):
            Rt[k, i] = coords[i]
        Rt[k, k] = sigma
        for i in range(k + 1, Rt.shape[1]):
            Rt[k, i] = 0.0
        qt_e[k] = basis_last[off]
        lam[k] = 0.0
        passive[k] = j
        in_passive[j] = True
        k += 1
        nr += 1
    if nr > 0:  # the basis' rows k_old..M-1: (I - Y T^T Y^T) (H_nr-1 ... H_0), signs
        q_complement = Qt[k_old:M]
        refl_block = np.ascontiguousarray(reflectors[:nr, :L0])
        wy_product = np.dot(
            np.ascontiguousarray(wy_factor[:nr, :nr].T), np.dot(refl_block, q_complement)
        )
        q_complement -= np.dot(refl_block.T, wy_product)
        for r in range(nr):
            if flip[r]:
                q_row = Qt[k_old + r]
                for e in range(M):
                    q_row[e] = -q_row[e]
    return k


def _build_row(columns, a, points, work_set, query, coords):  # pragma: no cover - compiled
    """Row ``a`` of ``columns``: the column ``[y - z; 1]`` of A for point
    ``y = points[work_set[a]]`` and ``z = query``, on the coordinates ``coords``."""
    point = points[work_set[a]]
    m = coords.size
    for e in range(m):
        col = coords[e]
        columns[a, e] = point[col] - query[col]
    columns[a, m] = 1.0


def _kernel(  # pragma: no cover - compiled
    columns, n_warm, Qt, Rt, qt_e, lam, passive, max_iter, block_size, full, points, work_set,
    query, coords,
):  # fmt: skip
    """Lawson-Hanson on the rows of ``columns`` (the columns of A), warm from the passive
    set ``0..n_warm-1`` (rows ``0..n_warm-1`` of ``columns``, factorised in ``Qt``, ``Rt``,
    ``qt_e`` = Q^T e, weights ``lam``).  Returns (status, k, columns added); the passive
    set is ``passive[:k]``.

    Rows ``0..n_warm-1`` of ``columns`` need not be filled: a passive column is only read
    once it leaves, and is then built (:func:`_build_row`, point ``work_set[j]`` of
    ``points`` against ``query`` on ``coords``); the duals' product skips those rows.
    Nearly half of a pixel working set is its passive set, whose columns would otherwise
    be gathered every round.

    Columns enter ``block_size`` at a time (the largest duals), so that orthogonalising them
    against Q costs matrix-matrix products instead of one pass over Q per column; a new
    column whose least-squares weight is not positive leaves again at once.  When a whole
    block leaves, the next pass adds the single best column, as in the textbook method,
    whose weight is positive in exact arithmetic (else it is blocked for this call).

    Every work array is made once per call, and in few coordinates
    (:data:`LOOP_COORDINATES`) the passes run as plain loops: the round's solve is then
    a few microseconds, not dozens of small BLAS calls and allocations.
    """
    n_cols, M = columns.shape
    cap = Qt.shape[0]
    limit = min(cap - 1, M)
    k = n_warm
    in_passive = np.zeros(n_cols, dtype=np.bool_)
    blocked = np.zeros(n_cols, dtype=np.bool_)
    for i in range(k):
        in_passive[passive[i]] = True
    col_norm = np.empty(n_cols)
    built = np.ones(n_cols, dtype=np.bool_)
    for j in range(n_warm):
        built[j] = False
    for j in range(n_warm, n_cols):
        col_norm[j] = np.sqrt(_dot(columns[j], columns[j], M))
    trial = np.empty(cap)
    residual = np.zeros(M)
    duals = np.empty(n_cols)  # the duals, in many coordinates (BLAS)
    cand_idx = np.empty(block_size, dtype=np.int64)
    cand_dual = np.empty(block_size)
    block_cols = np.empty((block_size, M))
    block_coef = np.zeros((cap, block_size))
    proj = np.empty(cap)
    self_coef = np.zeros(block_size)
    loops = M <= LOOP_COORDINATES
    # full basis (:func:`_add_full`): the block's coordinates, its reflections
    nfull = block_size if full else 0
    basis_coords = np.empty((nfull, M))
    reflectors = np.empty((nfull, M))
    wy_factor = np.zeros((nfull, nfull))
    basis_last = np.empty(M if full else 0)
    wy_scratch = np.empty(nfull)
    flip = np.zeros(nfull, dtype=np.bool_)
    added = 0
    pass_size = block_size
    while added < max_iter:
        # exact residual of the current passive solution, then the duals
        if loops:
            for e in range(M):
                residual[e] = 0.0
            residual[M - 1] = 1.0
            for i in range(k):
                ci = qt_e[i]
                q_row = Qt[i]
                for e in range(M):
                    residual[e] -= ci * q_row[e]
        else:
            residual[:] = 0.0
            if k > 0:
                residual -= np.dot(qt_e[:k], Qt[:k])
            residual[M - 1] += 1.0
        rn2 = _dot(residual, residual, M)
        if not np.isfinite(rn2):
            return BREAKDOWN, k, added
        rn = max(np.sqrt(rn2), 1e-300)
        if not loops:
            if n_warm < n_cols:
                duals[n_warm:] = np.dot(columns[n_warm:], residual)
        # the ``pass_size`` largest positive duals, largest first (ties: lower index first)
        nb = 0
        for j in range(n_cols):
            if in_passive[j] or blocked[j]:
                continue
            wj = _dot(columns[j], residual, M) if loops or j < n_warm else duals[j]
            if not wj > 1e-12 * col_norm[j] * rn:
                continue
            if nb < pass_size:
                pos = nb
                nb += 1
            elif wj > cand_dual[nb - 1]:
                pos = nb - 1
            else:
                continue
            while pos > 0 and cand_dual[pos - 1] < wj:
                cand_dual[pos] = cand_dual[pos - 1]
                cand_idx[pos] = cand_idx[pos - 1]
                pos -= 1
            cand_dual[pos] = wj
            cand_idx[pos] = j
        if nb == 0:
            return OK, k, added
        if k >= limit:  # full rank already: nothing can enter
            for t in range(nb):
                blocked[cand_idx[t]] = True
            continue
        nb = min(nb, limit - k)
        for t in range(nb):
            block_cols[t, :] = columns[cand_idx[t]]
        if full:  # coordinates in the full basis, then one reflection per column
            k_old = k
            k = _add_full(
                Qt, Rt, qt_e, lam, passive, in_passive, blocked, col_norm, block_cols,
                basis_coords, reflectors, wy_factor, basis_last, wy_scratch, flip, cand_idx, nb,
                k, M,
            )  # fmt: skip
        else:
            # orthogonalise the block against Q (classical Gram-Schmidt, twice), then
            # within itself; block_coef[:k, t] collects the block's coefficients on Q
            if k > 0 and loops:
                for t in range(nb):
                    col = block_cols[t]
                    for i in range(k):
                        block_coef[i, t] = 0.0
                    for _rep in range(2):
                        for i in range(k):
                            proj[i] = _dot(Qt[i], col, M)
                        for i in range(k):
                            hi = proj[i]
                            q_row = Qt[i]
                            for e in range(M):
                                col[e] -= hi * q_row[e]
                            block_coef[i, t] += hi
            elif k > 0:
                q_passive = Qt[:k]
                block_in = block_cols[:nb]
                coef_q = np.dot(q_passive, block_in.T)
                block_orth = block_in - np.dot(coef_q.T, q_passive)
                coef_q2 = np.dot(q_passive, block_orth.T)
                block_orth -= np.dot(coef_q2.T, q_passive)
                coef_q += coef_q2
                block_cols[:nb] = block_orth
                block_coef[:k, :nb] = coef_q
            k_old = k
            for t in range(nb):
                j = cand_idx[t]
                col = block_cols[t]
                if not np.sqrt(_dot(col, col, M)) > 1e-10 * col_norm[j]:
                    blocked[j] = True  # in the span of the passive columns
                    continue
                for l in range(k - k_old):
                    self_coef[l] = 0.0
                for _rep in range(2):
                    for l in range(k - k_old):
                        q_row = Qt[k_old + l]
                        d = _dot(q_row, col, M)
                        self_coef[l] += d
                        for e in range(M):
                            col[e] -= d * q_row[e]
                vn = np.sqrt(_dot(col, col, M))
                if not vn > 1e-10 * col_norm[j]:
                    continue  # in the span of this block: the next pass may take it
                for i in range(k_old):
                    Rt[k, i] = block_coef[i, t]
                for l in range(k - k_old):
                    Rt[k, k_old + l] = self_coef[l]
                Rt[k, k] = vn
                for i in range(k + 1, cap):
                    Rt[k, i] = 0.0
                q_row = Qt[k]
                for e in range(M):
                    q_row[e] = col[e] / vn
                qt_e[k] = q_row[M - 1]
                for e in range(M):
                    residual[e] -= qt_e[k] * q_row[e]
                lam[k] = 0.0
                passive[k] = j
                in_passive[j] = True
                k += 1
        if k == k_old:
            continue
        added += k - k_old
        # inner loop: new columns with a weight that is not positive leave at once; then
        # step towards the least-squares solution, dropping the passive columns whose
        # weight reaches zero first
        while k > 0:
            _back_substitute(Rt, qt_e, trial, k)
            for i in range(k):
                if not np.isfinite(trial[i]):
                    return BREAKDOWN, k, added
            dropped = False
            for i in range(k - 1, -1, -1):
                if lam[i] == 0.0 and not trial[i] > 0.0:
                    in_passive[passive[i]] = False  # entered this pass: its row is built
                    if pass_size == 1:
                        blocked[passive[i]] = True  # cannot enter numerically
                    k = _delete(Qt, Rt, qt_e, lam, passive, residual, k, i, M)
                    dropped = True
            if dropped:
                continue
            alpha = 2.0
            drop = -1
            for i in range(k):
                if trial[i] <= 0.0:
                    den = lam[i] - trial[i]
                    frac = lam[i] / den if den > 0 else 0.0
                    if frac < alpha:
                        alpha = frac
                        drop = i
            if drop < 0:
                for i in range(k):
                    lam[i] = trial[i]
                break
            for i in range(k):
                lam[i] += alpha * (trial[i] - lam[i])
            lam[drop] = 0.0
            # drop every passive weight at zero, highest position first
            for i in range(k - 1, -1, -1):
                if lam[i] <= 0.0:
                    j = passive[i]
                    in_passive[j] = False
                    if not built[j]:  # passive since the start: it may enter again
                        _build_row(columns, j, points, work_set, query, coords)
                        col_norm[j] = np.sqrt(_dot(columns[j], columns[j], M))
                        built[j] = True
                    k = _delete(Qt, Rt, qt_e, lam, passive, residual, k, i, M)
        # a block that left entirely: the next pass adds one column at a time
        survived = False
        for t in range(nb):
            if in_passive[cand_idx[t]]:
                survived = True
        pass_size = block_size if survived else 1
    return ITERATION_LIMIT, k, added


def _solve(  # pragma: no cover - compiled
    points, work_set, query, coords, n_warm, Qt, Rt, qt_e, lam, passive, max_iter, block_size,
    full,
):  # fmt: skip
    """One warm solve of ``work_set`` (rows of ``points``) against ``query``: the columns
    ``[y - z; 1]`` built here on the coordinates ``coords`` of ``points`` (all of them, or
    the ones where ``y - z`` can be nonzero for every point of the working set),
    :func:`_kernel`, then the passive points, their convex weights, the nearest point (in
    all coordinates) and its squared distance to ``query``.  Returns (usable, k, columns
    added, idx, mu, nearest, gap2);
    ``usable`` is False on a breakdown or when the weights are not all positive."""
    r = points.shape[1]
    m = coords.size
    columns = np.empty((work_set.size, m + 1))
    for a in range(n_warm, work_set.size):  # the passive set's rows only when they leave (_kernel)
        _build_row(columns, a, points, work_set, query, coords)
    for i in range(n_warm):
        passive[i] = i
    status, k, added = _kernel(
        columns, n_warm, Qt, Rt, qt_e, lam, passive, max_iter, block_size, full, points,
        work_set, query, coords,
    )  # fmt: skip
    total = 0.0
    usable = status != BREAKDOWN and k > 0
    for i in range(k):
        total += lam[i]
        if not lam[i] > 0.0:
            usable = False
    if not (np.isfinite(total) and total > 0.0):
        usable = False
    idx = np.empty(k, dtype=np.int64)
    mu = np.empty(k)
    nearest = np.zeros(r)
    gap2 = np.inf
    if usable:
        for i in range(k):
            idx[i] = work_set[passive[i]]
            mu[i] = lam[i] / total
            point = points[idx[i]]
            for e in range(r):
                nearest[e] += mu[i] * point[e]
        gap2 = 0.0
        for e in range(r):
            gap2 += (query[e] - nearest[e]) ** 2
    return usable, k, added, idx, mu, nearest, gap2


def _worse(v1, i1, v2, i2):  # pragma: no cover - compiled
    """Whether (value v1, index i1) ranks below (v2, i2): smaller value, or the same value
    and a higher index."""
    return v1 < v2 or (v1 == v2 and i1 > i2)


def _largest(prices, idx, count):  # pragma: no cover - compiled
    """The ``count`` entries of ``idx`` (increasing) with the largest ``prices`` (all when
    fewer; ties go to the lower index), increasing.  A bounded min-heap of the best so
    far, written out here: a call with array arguments per entry would cost more."""
    if idx.size <= count:
        return idx
    heap_val = np.empty(count)
    heap_idx = np.empty(count, dtype=np.int64)
    size = 0
    for t in range(idx.size):
        i = idx[t]
        v = prices[i]
        if size < count:  # push, sift up
            pos = size
            size += 1
            while pos > 0:
                parent = (pos - 1) // 2
                if not _worse(v, i, heap_val[parent], heap_idx[parent]):
                    break
                heap_val[pos] = heap_val[parent]
                heap_idx[pos] = heap_idx[parent]
                pos = parent
        elif _worse(heap_val[0], heap_idx[0], v, i):  # replace the worst, sift down
            pos = 0
            while True:
                child = 2 * pos + 1
                if child >= size:
                    break
                if child + 1 < size and _worse(
                    heap_val[child + 1], heap_idx[child + 1], heap_val[child], heap_idx[child]
                ):
                    child += 1
                if not _worse(heap_val[child], heap_idx[child], v, i):
                    break
                heap_val[pos] = heap_val[child]
                heap_idx[pos] = heap_idx[child]
                pos = child
        else:
            continue
        heap_val[pos] = v
        heap_idx[pos] = i
    return np.sort(heap_idx)


# points per block of the candidate pick's last pass (a block with no point at or above
# the bound is skipped after a count)
PICK_BLOCK = 32


def _top_new(prices, floor, support, count, mark):  # pragma: no cover - compiled
    """The working set ``support`` extended by the ``count`` points of largest price
    ``prices`` above ``floor`` that it does not hold yet (fewer if fewer qualify; the new
    ones in index order).  ``mark`` is an all-False scratch mask of ``prices.size``, left so.

    Exact, without a sort or partition of all n: the ``count``-th largest eligible price
    of any subset is at most that of all points, so samples (every ``step``-th point,
    coarse to fine, each kept to what the coarser bound lets through) give a safe lower
    bound; the last pass (after two samples, when the bound is tight) skips every block of
    :data:`PICK_BLOCK` points without a price at that bound, and a bounded heap ranks the
    few survivors."""
    n = prices.size
    for i in support:
        mark[i] = True
    keep = np.empty(n, dtype=np.int64)
    least = -np.inf
    levels = 0
    step = n // (16 * count) if count > 0 else 0
    while step > 1:
        kept = 0
        for i in range(0, n, step):
            v = prices[i]
            keep[kept] = i
            kept += (v > floor) & (v >= least) & (not mark[i])
        if kept >= count:
            best = _largest(prices, keep[:kept], count)
            bound = prices[best[0]]
            for t in range(1, count):
                bound = min(bound, prices[best[t]])
            least = bound
        step //= 16
        levels += 1
    kept = 0
    if levels >= 2:  # a tight bound: most blocks hold no point at it and are skipped
        thr = max(floor, least)
        for base in range(0, n - n % PICK_BLOCK, PICK_BLOCK):
            hits = 0
            for t in range(PICK_BLOCK):
                hits += prices[base + t] >= thr
            if hits == 0:
                continue
            for i in range(base, base + PICK_BLOCK):
                v = prices[i]
                keep[kept] = i
                kept += (v > floor) & (v >= least) & (not mark[i])
        for i in range(n - n % PICK_BLOCK, n):
            v = prices[i]
            keep[kept] = i
            kept += (v > floor) & (v >= least) & (not mark[i])
    else:  # after one sample about 1 point in 16 passes: one branch-free pass
        for i in range(n):
            v = prices[i]
            keep[kept] = i
            kept += (v > floor) & (v >= least) & (not mark[i])
    new = _largest(prices, keep[:kept], count) if count > 0 else keep[:0]
    for i in support:
        mark[i] = False
    out = np.empty(support.size + new.size, dtype=np.int64)
    out[: support.size] = support
    out[support.size :] = new
    return out


def _solve_batch(  # pragma: no cover - compiled
    points, query_rows, queries, pos, sets, factors, out, caps, block_size
):
    """:func:`_solve` for many queries in one call, their warm state in arrays with one
    row per query (few coordinates: :class:`~neuralhull.hull.narrow.NarrowGroup`).

    ``sets`` is ``(work_sets, size, npass, n_warm, weights)``, ``factors`` the kernel's
    ``(Qt, Rt, qt_e, lam, passive)`` per query, ``out`` ``(nearest, dist, usable)``.
    Query ``j = queries[a]`` (row ``query_rows[j]``, working set
    ``work_sets[j, :size[j]]``, its first ``n_warm[j]`` entries the kernel's passive set)
    is solved with at most ``caps[a]`` columns added; its nearest point goes to
    ``nearest[pos[a]]``, its distance to ``dist[pos[a]]``.  When ``usable``, the passive
    set and its convex weights replace the working set's first ``npass[j]`` entries
    (``work_sets`` and ``weights``); otherwise the query is left for the caller's
    fresh solve.  Returns the columns added.  Queries share nothing, so calls on disjoint
    sets of queries may run in threads at once (the GIL is released)."""
    work_sets, size, npass, n_warm, weights = sets
    Qt, Rt, qt_e, lam, passive = factors
    nearest, dist, usable = out
    coords = np.arange(points.shape[1])
    added = 0
    for a in range(queries.size):
        j = queries[a]
        ok, k, add, idx, mu, point, gap2 = _solve(
            points, work_sets[j, : size[j]], query_rows[j], coords, n_warm[j], Qt[j], Rt[j],
            qt_e[j], lam[j], passive[j], caps[a], block_size, False,
        )  # fmt: skip
        added += add
        usable[pos[a]] = ok
        if not ok:
            n_warm[j] = 0
            continue
        n_warm[j] = k
        npass[j] = k
        size[j] = k
        for i in range(k):
            work_sets[j, i] = idx[i]
            weights[j, i] = mu[i]
        nearest[pos[a]] = point
        dist[pos[a]] = np.sqrt(gap2)
    return added


def _extend_batch(  # pragma: no cover - compiled
    prices, rows, queries, floors, counts, work_sets, size, mark, grew,
):  # fmt: skip
    """:func:`_top_new` for many queries: query ``j = queries[t]``'s working set
    ``work_sets[j, :size[j]]`` extended in place by its ``counts[t]`` best prices in
    ``prices[rows[t]]`` above ``floors[t]``; ``grew[t]`` says whether any point was added."""
    for t in range(queries.size):
        j = queries[t]
        out = _top_new(prices[rows[t]], floors[t], work_sets[j, : size[j]], counts[t], mark)
        grew[t] = out.size > size[j]
        for i in range(size[j], out.size):
            work_sets[j, i] = out[i]
        size[j] = out.size


if AVAILABLE:  # pragma: no branch
    # reassociation lets the compiler vectorise the sums; NaN and inf keep their meaning
    # (the kernel checks for them), so no "fast" flags beyond these two
    _jit = numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
    # inlined: a call between compiled functions with array arguments pays reference
    # counting on every call (tens of nanoseconds), more than these small bodies cost
    _inline = numba.njit(cache=True, nogil=True, inline="always", fastmath={"reassoc", "contract"})
    _dot = _inline(_dot)
    _delete = _jit(_delete)
    _build_row = _inline(_build_row)
    _add_full = _jit(_add_full)
    _back_substitute = _jit(_back_substitute)
    _kernel = _jit(_kernel)
    _solve = _jit(_solve)
    _worse = _inline(_worse)
    _largest = _jit(_largest)
    _top_new = _jit(_top_new)
    _solve_batch = _jit(_solve_batch)
    _extend_batch = _jit(_extend_batch)


class WarmNNLS:
    """Lawson-Hanson state of one query, carried from round to round.

    ``solve(Y, S, z)`` takes the working set ``S`` (indices of rows of ``Y``) whose first
    ``self.k`` entries must be the passive set returned by the previous call, in the
    same order, and returns ``(idx, mu, p)``: the new passive points, their convex
    weights and the nearest point ``p = mu @ Y[idx]``; None when the kernel broke down.

    ``cols`` (optional, increasing column indices of ``Y``) solves in those coordinates
    only, ``M = cols.size + 1``: exact when every point of every working set equals ``z``
    in the other coordinates (a query on faces of the bounding box and points on the same
    faces, :class:`~neuralhull.hull.column_generation.Faces`), since the columns are zero
    there.  A column then costs ``M**2`` in the smaller ``M``; ``p`` and the distance are
    still computed in all coordinates of ``Y``.
    """

    def __init__(
        self,
        M: int,
        block: int = 16,
        full_from: float = FULL_FROM,
        cols: np.ndarray | None = None,
    ):
        if cols is not None:
            cols = np.ascontiguousarray(cols, dtype=np.int64)
            if cols.size + 1 != M:
                raise ValueError(f"cols has {cols.size} coordinates, M is {M}")
        self.cols = cols
        self.M = M
        self.block = int(block)
        # from this share of M passive columns on (and in more than LOOP_COORDINATES
        # coordinates), columns enter through a full basis (:func:`_add_full`)
        self.full_from = float(full_from)
        self.full = False  # whether rows k..M-1 of Qt hold the complement's basis
        self.k = 0
        self.cap = 0
        self.Qt = np.zeros((0, M))
        self.Rt = np.zeros((0, 0))
        self.c = np.zeros(0)
        self.lam = np.zeros(0)
        self.perm = np.zeros(0, dtype=np.int64)
        self.iterations = 0
        self.distance = math.inf  # ||z - p|| of the last solve

    def _reserve(self, need: int) -> None:
        need = min(need, self.M + 1)
        if need <= self.cap:
            return
        cap = min(self.M + 1, max(need, 2 * self.cap))
        k = self.k
        Qt = np.zeros((cap, self.M))
        Rt = np.zeros((cap, cap))
        Qt[:k] = self.Qt[:k]
        Rt[:k, :k] = self.Rt[:k, :k]
        c = np.zeros(cap)
        c[:k] = self.c[:k]
        lam = np.zeros(cap)
        lam[:k] = self.lam[:k]
        self.Qt, self.Rt, self.c, self.lam = Qt, Rt, c, lam
        self.perm = np.zeros(cap, dtype=np.int64)
        self.cap = cap

    def _complete(self) -> None:
        """Extend the k passive rows of ``Qt`` to an orthonormal basis of all M
        coordinates (a complete QR of them: its first k columns are theirs up to sign, so
        its last M - k span their complement)."""
        self._reserve(self.M + 1)
        k, M = self.k, self.M
        if k == 0:
            self.Qt[:M] = np.eye(M)
        else:
            basis = np.linalg.qr(self.Qt[:k].T, mode="complete")[0]
            self.Qt[k:M] = basis[:, k:].T
        self.full = True

    def solve(self, Y: np.ndarray, S: np.ndarray, z: np.ndarray, max_iter: int | None = None):
        self._reserve(S.size + 1)
        if not self.full and self.M > LOOP_COORDINATES and self.k >= self.full_from * self.M:
            self._complete()
        if max_iter is None:
            max_iter = 20 * (S.size + self.M)
        cols = self.cols
        if cols is None:
            cols = _all_columns(self.M - 1)
        usable, k, iters, idx, mu, p, gap2 = _solve(
            Y, S, z, cols, self.k, self.Qt, self.Rt, self.c, self.lam, self.perm,
            int(max_iter), self.block, self.full,
        )  # fmt: skip
        self.iterations += int(iters)
        if not usable:
            self.k = 0
            self.full = False  # after a breakdown the basis is not to be trusted
            return None
        self.k = int(k)
        self.distance = math.sqrt(gap2)  # ||z - p||
        return idx, mu, p


@functools.lru_cache(maxsize=1)
def _blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries (found once: a lookup costs
    milliseconds, a limit through it about 20 us); None without threadpoolctl."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return None
    return ThreadpoolController()


@contextlib.contextmanager
def one_blas_thread(M: int):
    """Run the warm solves of ``M`` coordinates on one BLAS thread.

    Above :data:`LOOP_COORDINATES` the kernel's products are BLAS calls on blocks of 16
    columns: too small to split, and a multi-threaded BLAS (OpenBLAS takes every core by
    default) spends more on its threads than on the work (docs/performance.md, "The hull
    engine").  The engine's worker processes already run on one BLAS thread; a
    serial call (``n_jobs=1`` or too small for a pool) gets the same here, while its
    pricing products, large enough to split, keep every thread."""
    controller = _blas_controller() if M > LOOP_COORDINATES else None
    if controller is None:
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield


@functools.lru_cache(maxsize=8)
def _all_columns(r: int) -> np.ndarray:
    """``arange(r)``, made once per size (the kernel's coordinates when all are used).
    Left writeable: numba compiles read-only arrays as a separate signature."""
    return np.arange(r, dtype=np.int64)


_WARMED = []


def warm_up() -> str:
    """Compile the kernel (or load it from numba's cache) in this process, once: forked
    worker processes then inherit it instead of loading it each.

    Returns a line for the job's log: whether the kernel was compiled (the first call of
    a fresh checkout, about 25 s for the solver, the candidate pick and their batched
    forms for few coordinates) or loaded from
    numba's on-disk cache, and how long it took.
    """
    if not AVAILABLE:
        return "compiled solver unavailable (numba missing): scipy NNLS is used"
    if _WARMED:
        return "compiled solver already loaded in this process"
    import time

    t0 = time.perf_counter()
    Y = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    WarmNNLS(3).solve(Y, np.arange(3), np.array([0.25, 0.25]))
    _top_new(np.array([0.5, 1.0, 0.0]), 0.1, np.zeros(1, dtype=np.int64), 1, np.zeros(3, bool))
    # the batched calls of few coordinates (:mod:`neuralhull.hull.narrow`), same types
    one, i1 = np.zeros(1, dtype=np.int64), np.ones(1, dtype=np.int64)
    S = np.array([[0, 1, 2, 0, 0, 0, 0, 0, 0]])
    size = np.full(1, 3, dtype=np.int64)
    z, Qt, Rt = np.array([[0.25, 0.25]]), np.zeros((1, 4, 3)), np.zeros((1, 4, 4))
    sets = (S, size, one.copy(), one.copy(), np.zeros((1, 9)))
    factors = (Qt, Rt, np.zeros((1, 4)), np.zeros((1, 4)), np.zeros((1, 4), dtype=np.int64))
    out = (np.zeros((1, 2)), np.zeros(1), np.zeros(1, dtype=bool))
    _solve_batch(Y, z, one, one, sets, factors, out, 60 * i1, 16)
    _extend_batch(
        np.array([[0.5, 1.0, 0.0]]), one, one, np.zeros(1), i1, S, size, np.zeros(3, bool),
        np.zeros(1, dtype=bool),
    )  # fmt: skip
    _WARMED.append(True)
    seconds = time.perf_counter() - t0
    stats = _solve.stats
    how = "compiled (no cache entry yet)" if stats.cache_misses else "loaded from the cache"
    return f"compiled solver {how} in {seconds:.1f} s (cache: {stats.cache_path})"
