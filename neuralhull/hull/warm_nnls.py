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


def _delete(Qt, Rt, c, lam, perm, res, k, p, M):  # pragma: no cover - compiled
    """Drop passive column ``p`` of ``k``: shift, re-triangularise with Givens rotations
    (applied to R's rows, Q's columns and c = Q^T e alike), and add the leaving
    direction's share back to the residual.  Returns the new ``k``.

    ``Rt`` holds R column by column (``Rt[j, i] = R[i, j]``), so that dropping a column
    moves contiguous memory and back-substitution runs along contiguous columns.
    """
    for col in range(p, k - 1):  # column col + 1 of R has rows 0..col + 1
        for i in range(col + 2):
            Rt[col, i] = Rt[col + 1, i]
    for i in range(k):
        Rt[k - 1, i] = 0.0
    for t in range(p, k - 1):
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
        x = c[t]
        y = c[t + 1]
        c[t] = cs * x + sn * y
        c[t + 1] = -sn * x + cs * y
    last = k - 1
    for e in range(M):
        res[e] += c[last] * Qt[last, e]
    for i in range(p, last):
        lam[i] = lam[i + 1]
        perm[i] = perm[i + 1]
    if last >= 1:  # row ``last`` of R: only the last rotation touched it, and zeroed it
        Rt[last - 1, last] = 0.0
    c[last] = 0.0
    lam[last] = 0.0
    return last


def _back_substitute(Rt, c, s, k):  # pragma: no cover - compiled
    """Solve R s = c (R upper triangular, stored by columns in ``Rt``)."""
    for i in range(k):
        s[i] = c[i]
    for i in range(k - 1, -1, -1):
        s[i] /= Rt[i, i]
        si = s[i]
        col = Rt[i]
        for r in range(i):
            s[r] -= si * col[r]


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
    Qt, Rt, c, lam, perm, inP, blocked, anorm, V, U, Yt, T, g, zt, flip, cand, nb, k, M
):
    """Add the block ``V[:nb]`` (columns ``cand``) with a full orthonormal basis: rows
    ``0..k-1`` of ``Qt`` span the passive columns, rows ``k..M-1`` their complement.
    Returns the new ``k``.

    One product gives every column's coordinates in the basis (``U``, 2 M^2 per column);
    a Householder reflection of the complement then turns the column's share there into
    the next basis row.  The reflections are worked out on the coordinates alone (and on
    ``g``, the basis' last coordinates, which give ``c``) and reach the basis at the end
    as one blocked product, ``I - Y T^T Y^T`` (compact WY form; 4 (M - k) M per column).
    Near full rank, where the engine's end game is, this is far cheaper than Gram-Schmidt
    against the k passive rows, twice (8 k M), and needs no reorthogonalisation: the
    basis changes by orthogonal maps only.

    The residual is not updated: the kernel recomputes it before it next reads it.
    """
    U[:nb] = np.dot(V[:nb], Qt[:M].T)
    k_old = k
    L0 = M - k_old
    for i in range(L0):
        g[i] = Qt[k_old + i, M - 1]
    nr = 0  # reflections so far; reflection r makes basis row k_old + r
    for t in range(nb):
        j = cand[t]
        u = U[t]
        tail0 = 0.0  # the column's share outside the passive columns before this block
        for i in range(k_old, M):
            tail0 += u[i] * u[i]
        if not np.sqrt(tail0) > 1e-10 * anorm[j]:
            blocked[j] = True  # in the span of the passive columns
            continue
        tail = 0.0
        for i in range(k, M):
            tail += u[i] * u[i]
        sigma = np.sqrt(tail)
        if not sigma > 1e-10 * anorm[j]:
            continue  # in the span of this block: the next pass may take it
        # reflection H = I - tau y y^T of rows k..M-1 with H u[k:] = alpha e_0, its
        # vector y kept in block coordinates (rows k_old..M-1) as row nr of Yt
        x0 = u[k]
        alpha = -sigma if x0 >= 0.0 else sigma
        tau = 1.0 / (sigma * (sigma + abs(x0)))  # 2 / (y @ y)
        off = k - k_old
        y = Yt[nr]
        for i in range(off):
            y[i] = 0.0
        y[off] = x0 - alpha
        for i in range(off + 1, L0):
            y[i] = u[k_old + i]
        # T's new column (H_0 ... H_nr = I - Y T Y^T): -tau T (Y^T y), T upper triangular
        for a in range(nr):
            d = 0.0
            for i in range(off, L0):
                d += Yt[a, i] * y[i]
            zt[a] = d
        for a in range(nr):
            acc = 0.0
            for b in range(a, nr):
                acc += T[a, b] * zt[b]
            T[a, nr] = -tau * acc
        T[nr, nr] = tau
        for b in range(nr + 1, T.shape[1]):
            T[nr, b] = 0.0
        # the reflection on the coordinates that are still needed: the block's later
        # columns and the basis' last coordinates
        for t2 in range(t + 1, nb):
            u2 = U[t2]
            d = 0.0
            for i in range(off, L0):
                d += y[i] * u2[k_old + i]
            d *= tau
            for i in range(off, L0):
                u2[k_old + i] -= d * y[i]
        d = 0.0
        for i in range(off, L0):
            d += y[i] * g[i]
        d *= tau
        for i in range(off, L0):
            g[i] -= d * y[i]
        flip[nr] = alpha < 0.0  # then the row changes sign: R's diagonal is positive
        if flip[nr]:
            g[off] = -g[off]
            for t2 in range(t + 1, nb):
                U[t2, k] = -U[t2, k]
        for i in range(k):
            Rt[k, i] = u[i]
        Rt[k, k] = sigma
        for i in range(k + 1, Rt.shape[1]):
            Rt[k, i] = 0.0
        c[k] = g[off]
        lam[k] = 0.0
        perm[k] = j
        inP[j] = True
        k += 1
        nr += 1
    if nr > 0:  # the basis' rows k_old..M-1: (I - Y T^T Y^T) (H_nr-1 ... H_0), signs
        Qb = Qt[k_old:M]
        Y = np.ascontiguousarray(Yt[:nr, :L0])
        W = np.dot(np.ascontiguousarray(T[:nr, :nr].T), np.dot(Y, Qb))
        Qb -= np.dot(Y.T, W)
        for r in range(nr):
            if flip[r]:
                q = Qt[k_old + r]
                for e in range(M):
                    q[e] = -q[e]
    return k


def _build_row(At, a, Y, S, z, cols):  # pragma: no cover - compiled
    """Row ``a`` of ``At``: the column ``[y - z; 1]`` of point ``S[a]`` on ``cols``."""
    row = Y[S[a]]
    m = cols.size
    for e in range(m):
        col = cols[e]
        At[a, e] = row[col] - z[col]
    At[a, m] = 1.0


def _kernel(
    At, k0, Qt, Rt, c, lam, perm, max_iter, block, full, Y, Sy, z, cols
):  # pragma: no cover
    """Lawson-Hanson on the rows of ``At`` (the columns of A), warm from the passive set
    ``0..k0-1`` (rows ``0..k0-1`` of ``At``, factorised in ``Qt``, ``R``, ``c``, weights
    ``lam``).  Returns (status, k, columns added); the passive set is ``perm[:k]``.

    Rows ``0..k0-1`` of ``At`` need not be filled: a passive column is only read once it
    leaves, and is then built (:func:`_build_row`, point ``Sy[j]`` of ``Y`` against ``z``
    on ``cols``); the duals' product skips those rows.  Nearly half of a pixel working set
    is its passive set, whose columns would otherwise be gathered every round.

    Columns enter ``block`` at a time (the largest duals), so that orthogonalising them
    against Q costs matrix-matrix products instead of one pass over Q per column; a new
    column whose least-squares weight is not positive leaves again at once.  When a whole
    block leaves, the next pass adds the single best column, as in the textbook method,
    whose weight is positive in exact arithmetic (else it is blocked for this call).

    Every work array is made once per call, and in few coordinates
    (:data:`LOOP_COORDINATES`) the passes run as plain loops: the round's solve is then
    a few microseconds, not dozens of small BLAS calls and allocations.
    """
    S, M = At.shape
    cap = Qt.shape[0]
    limit = min(cap - 1, M)
    k = k0
    inP = np.zeros(S, dtype=np.bool_)
    blocked = np.zeros(S, dtype=np.bool_)
    for i in range(k):
        inP[perm[i]] = True
    anorm = np.empty(S)
    built = np.ones(S, dtype=np.bool_)
    for j in range(k0):
        built[j] = False
    for j in range(k0, S):
        anorm[j] = np.sqrt(_dot(At[j], At[j], M))
    s = np.empty(cap)
    res = np.zeros(M)
    w = np.empty(S)  # the duals, in many coordinates (BLAS)
    cand = np.empty(block, dtype=np.int64)
    cval = np.empty(block)
    V = np.empty((block, M))
    H = np.zeros((cap, block))
    h = np.empty(cap)
    coef = np.zeros(block)
    loops = M <= LOOP_COORDINATES
    # full basis (:func:`_add_full`): the block's coordinates, its reflections
    nfull = block if full else 0
    U = np.empty((nfull, M))
    Yt = np.empty((nfull, M))
    T = np.zeros((nfull, nfull))
    g = np.empty(M if full else 0)
    zt = np.empty(nfull)
    flip = np.zeros(nfull, dtype=np.bool_)
    added = 0
    size = block
    while added < max_iter:
        # exact residual of the current passive solution, then the duals
        if loops:
            for e in range(M):
                res[e] = 0.0
            res[M - 1] = 1.0
            for i in range(k):
                ci = c[i]
                q = Qt[i]
                for e in range(M):
                    res[e] -= ci * q[e]
        else:
            res[:] = 0.0
            if k > 0:
                res -= np.dot(c[:k], Qt[:k])
            res[M - 1] += 1.0
        rn2 = _dot(res, res, M)
        if not np.isfinite(rn2):
            return BREAKDOWN, k, added
        rn = max(np.sqrt(rn2), 1e-300)
        if not loops:
            if k0 < S:
                w[k0:] = np.dot(At[k0:], res)
        # the ``size`` largest positive duals, largest first (ties: lower index first)
        nb = 0
        for j in range(S):
            if inP[j] or blocked[j]:
                continue
            wj = _dot(At[j], res, M) if loops or j < k0 else w[j]
            if not wj > 1e-12 * anorm[j] * rn:
                continue
            if nb < size:
                pos = nb
                nb += 1
            elif wj > cval[nb - 1]:
                pos = nb - 1
            else:
                continue
            while pos > 0 and cval[pos - 1] < wj:
                cval[pos] = cval[pos - 1]
                cand[pos] = cand[pos - 1]
                pos -= 1
            cval[pos] = wj
            cand[pos] = j
        if nb == 0:
            return OK, k, added
        if k >= limit:  # full rank already: nothing can enter
            for t in range(nb):
                blocked[cand[t]] = True
            continue
        nb = min(nb, limit - k)
        for t in range(nb):
            V[t, :] = At[cand[t]]
        if full:  # coordinates in the full basis, then one reflection per column
            k_old = k
            k = _add_full(Qt, Rt, c, lam, perm, inP, blocked, anorm, V, U, Yt, T, g, zt,
                          flip, cand, nb, k, M)  # fmt: skip
        else:
            # orthogonalise the block against Q (classical Gram-Schmidt, twice), then
            # within itself; H[:k, t] collects the block's coefficients on Q
            if k > 0 and loops:
                for t in range(nb):
                    v = V[t]
                    for i in range(k):
                        H[i, t] = 0.0
                    for _rep in range(2):
                        for i in range(k):
                            h[i] = _dot(Qt[i], v, M)
                        for i in range(k):
                            hi = h[i]
                            q = Qt[i]
                            for e in range(M):
                                v[e] -= hi * q[e]
                            H[i, t] += hi
            elif k > 0:
                Qk = Qt[:k]
                AB = V[:nb]
                Hb = np.dot(Qk, AB.T)
                Vb = AB - np.dot(Hb.T, Qk)
                H2 = np.dot(Qk, Vb.T)
                Vb -= np.dot(H2.T, Qk)
                Hb += H2
                V[:nb] = Vb
                H[:k, :nb] = Hb
            k_old = k
            for t in range(nb):
                j = cand[t]
                v = V[t]
                if not np.sqrt(_dot(v, v, M)) > 1e-10 * anorm[j]:
                    blocked[j] = True  # in the span of the passive columns
                    continue
                for l in range(k - k_old):
                    coef[l] = 0.0
                for _rep in range(2):
                    for l in range(k - k_old):
                        q = Qt[k_old + l]
                        d = _dot(q, v, M)
                        coef[l] += d
                        for e in range(M):
                            v[e] -= d * q[e]
                vn = np.sqrt(_dot(v, v, M))
                if not vn > 1e-10 * anorm[j]:
                    continue  # in the span of this block: the next pass may take it
                for i in range(k_old):
                    Rt[k, i] = H[i, t]
                for l in range(k - k_old):
                    Rt[k, k_old + l] = coef[l]
                Rt[k, k] = vn
                for i in range(k + 1, cap):
                    Rt[k, i] = 0.0
                q = Qt[k]
                for e in range(M):
                    q[e] = v[e] / vn
                c[k] = q[M - 1]
                for e in range(M):
                    res[e] -= c[k] * q[e]
                lam[k] = 0.0
                perm[k] = j
                inP[j] = True
                k += 1
        if k == k_old:
            continue
        added += k - k_old
        # inner loop: new columns with a weight that is not positive leave at once; then
        # step towards the least-squares solution, dropping the passive columns whose
        # weight reaches zero first
        while k > 0:
            _back_substitute(Rt, c, s, k)
            for i in range(k):
                if not np.isfinite(s[i]):
                    return BREAKDOWN, k, added
            dropped = False
            for i in range(k - 1, -1, -1):
                if lam[i] == 0.0 and not s[i] > 0.0:
                    inP[perm[i]] = False  # entered this pass: its row is built
                    if size == 1:
                        blocked[perm[i]] = True  # cannot enter numerically
                    k = _delete(Qt, Rt, c, lam, perm, res, k, i, M)
                    dropped = True
            if dropped:
                continue
            alpha = 2.0
            drop = -1
            for i in range(k):
                if s[i] <= 0.0:
                    den = lam[i] - s[i]
                    frac = lam[i] / den if den > 0 else 0.0
                    if frac < alpha:
                        alpha = frac
                        drop = i
            if drop < 0:
                for i in range(k):
                    lam[i] = s[i]
                break
            for i in range(k):
                lam[i] += alpha * (s[i] - lam[i])
            lam[drop] = 0.0
            # drop every passive weight at zero, highest position first
            for i in range(k - 1, -1, -1):
                if lam[i] <= 0.0:
                    j = perm[i]
                    inP[j] = False
                    if not built[j]:  # passive since the start: it may enter again
                        _build_row(At, j, Y, Sy, z, cols)
                        anorm[j] = np.sqrt(_dot(At[j], At[j], M))
                        built[j] = True
                    k = _delete(Qt, Rt, c, lam, perm, res, k, i, M)
        # a block that left entirely: the next pass adds one column at a time
        survived = False
        for t in range(nb):
            if inP[cand[t]]:
                survived = True
        size = block if survived else 1
    return ITERATION_LIMIT, k, added


def _solve(Y, S, z, cols, k0, Qt, Rt, c, lam, perm, max_iter, block, full):  # pragma: no cover
    """One warm solve of working set ``S`` (rows of ``Y``) against ``z``: the columns
    ``[y - z; 1]`` built here on the coordinates ``cols`` of ``Y`` (all of them, or the
    ones where ``y - z`` can be nonzero for every point of ``S``), :func:`_kernel`, then
    the passive points, their convex weights, the nearest point (in all coordinates) and
    its squared distance to ``z``.  Returns (usable, k, columns added, idx, mu, p, gap2);
    ``usable`` is False on a breakdown or when the weights are not all positive."""
    r = Y.shape[1]
    m = cols.size
    At = np.empty((S.size, m + 1))
    for a in range(k0, S.size):  # the passive set's rows only when they leave (_kernel)
        _build_row(At, a, Y, S, z, cols)
    for i in range(k0):
        perm[i] = i
    status, k, added = _kernel(
        At, k0, Qt, Rt, c, lam, perm, max_iter, block, full, Y, S, z, cols
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
    p = np.zeros(r)
    gap2 = np.inf
    if usable:
        for i in range(k):
            idx[i] = S[perm[i]]
            mu[i] = lam[i] / total
            row = Y[idx[i]]
            for e in range(r):
                p[e] += mu[i] * row[e]
        gap2 = 0.0
        for e in range(r):
            gap2 += (z[e] - p[e]) ** 2
    return usable, k, added, idx, mu, p, gap2


def _worse(v1, i1, v2, i2):  # pragma: no cover - compiled
    """Whether (value v1, index i1) ranks below (v2, i2): smaller value, or the same value
    and a higher index."""
    return v1 < v2 or (v1 == v2 and i1 > i2)


def _largest(g, idx, count):  # pragma: no cover - compiled
    """The ``count`` entries of ``idx`` (increasing) with the largest ``g`` (all when
    fewer; ties go to the lower index), increasing.  A bounded min-heap of the best so
    far, written out here: a call with array arguments per entry would cost more."""
    if idx.size <= count:
        return idx
    hv = np.empty(count)
    hi = np.empty(count, dtype=np.int64)
    size = 0
    for t in range(idx.size):
        i = idx[t]
        v = g[i]
        if size < count:  # push, sift up
            pos = size
            size += 1
            while pos > 0:
                parent = (pos - 1) // 2
                if not _worse(v, i, hv[parent], hi[parent]):
                    break
                hv[pos] = hv[parent]
                hi[pos] = hi[parent]
                pos = parent
        elif _worse(hv[0], hi[0], v, i):  # replace the worst, sift down
            pos = 0
            while True:
                child = 2 * pos + 1
                if child >= size:
                    break
                if child + 1 < size and _worse(hv[child + 1], hi[child + 1], hv[child], hi[child]):
                    child += 1
                if not _worse(hv[child], hi[child], v, i):
                    break
                hv[pos] = hv[child]
                hi[pos] = hi[child]
                pos = child
        else:
            continue
        hv[pos] = v
        hi[pos] = i
    return np.sort(hi)


# points per block of the candidate pick's last pass (a block with no point at or above
# the bound is skipped after a count)
PICK_BLOCK = 32


def _top_new(g, floor, support, count, mark):  # pragma: no cover - compiled
    """The working set ``support`` extended by the ``count`` points of largest price
    ``g`` above ``floor`` that it does not hold yet (fewer if fewer qualify; the new
    ones in index order).  ``mark`` is an all-False scratch mask of ``g.size``, left so.

    Exact, without a sort or partition of all n: the ``count``-th largest eligible price
    of any subset is at most that of all points, so samples (every ``step``-th point,
    coarse to fine, each kept to what the coarser bound lets through) give a safe lower
    bound; the last pass (after two samples, when the bound is tight) skips every block of
    :data:`PICK_BLOCK` points without a price at that bound, and a bounded heap ranks the
    few survivors."""
    n = g.size
    for i in support:
        mark[i] = True
    keep = np.empty(n, dtype=np.int64)
    least = -np.inf
    levels = 0
    step = n // (16 * count) if count > 0 else 0
    while step > 1:
        kept = 0
        for i in range(0, n, step):
            v = g[i]
            keep[kept] = i
            kept += (v > floor) & (v >= least) & (not mark[i])
        if kept >= count:
            best = _largest(g, keep[:kept], count)
            bound = g[best[0]]
            for t in range(1, count):
                bound = min(bound, g[best[t]])
            least = bound
        step //= 16
        levels += 1
    kept = 0
    if levels >= 2:  # a tight bound: most blocks hold no point at it and are skipped
        thr = max(floor, least)
        for base in range(0, n - n % PICK_BLOCK, PICK_BLOCK):
            hits = 0
            for t in range(PICK_BLOCK):
                hits += g[base + t] >= thr
            if hits == 0:
                continue
            for i in range(base, base + PICK_BLOCK):
                v = g[i]
                keep[kept] = i
                kept += (v > floor) & (v >= least) & (not mark[i])
        for i in range(n - n % PICK_BLOCK, n):
            v = g[i]
            keep[kept] = i
            kept += (v > floor) & (v >= least) & (not mark[i])
    else:  # after one sample about 1 point in 16 passes: one branch-free pass
        for i in range(n):
            v = g[i]
            keep[kept] = i
            kept += (v > floor) & (v >= least) & (not mark[i])
    new = _largest(g, keep[:kept], count) if count > 0 else keep[:0]
    for i in support:
        mark[i] = False
    out = np.empty(support.size + new.size, dtype=np.int64)
    out[: support.size] = support
    out[support.size :] = new
    return out


def _solve_batch(  # pragma: no cover - compiled
    Y, Z, queries, pos, S, size, npass, K, Qt, Rt, c, lam, perm, MU, P, dist, usable, caps,
    block,
):  # fmt: skip
    """:func:`_solve` for many queries in one call, their warm state in arrays with one
    row per query (few coordinates: :class:`~neuralhull.hull.narrow.NarrowGroup`).

    Query ``queries[a]`` (working set ``S[j, :size[j]]``, its first ``K[j]`` entries the
    passive set of the last solve) is solved with at most ``caps[a]`` columns added; its
    nearest point goes to ``P[pos[a]]``, its distance to ``dist[pos[a]]``.  When
    ``usable``, the passive set and its convex weights replace the working set's first
    ``npass[j]`` entries (``S`` and ``MU``); otherwise the query is left for the caller's
    fresh solve.  Returns the columns added.  Queries share nothing, so calls on disjoint
    sets of queries may run in threads at once (the GIL is released)."""
    cols = np.arange(Y.shape[1])
    added = 0
    for a in range(queries.size):
        j = queries[a]
        ok, k, add, idx, mu, p, gap2 = _solve(
            Y, S[j, : size[j]], Z[j], cols, K[j], Qt[j], Rt[j], c[j], lam[j], perm[j],
            caps[a], block, False,
        )  # fmt: skip
        added += add
        usable[pos[a]] = ok
        if not ok:
            K[j] = 0
            continue
        K[j] = k
        npass[j] = k
        size[j] = k
        for i in range(k):
            S[j, i] = idx[i]
            MU[j, i] = mu[i]
        P[pos[a]] = p
        dist[pos[a]] = np.sqrt(gap2)
    return added


def _extend_batch(G, rows, queries, floors, counts, S, size, mark, grew):  # pragma: no cover
    """:func:`_top_new` for many queries: query ``queries[t]``'s working set
    ``S[j, :size[j]]`` extended in place by its ``counts[t]`` best prices in ``G[rows[t]]``
    above ``floors[t]``; ``grew[t]`` says whether any point was added."""
    for t in range(queries.size):
        j = queries[t]
        out = _top_new(G[rows[t]], floors[t], S[j, : size[j]], counts[t], mark)
        grew[t] = out.size > size[j]
        for i in range(size[j], out.size):
            S[j, i] = out[i]
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
    default) spends more on its threads than on the work.  On MNIST pixels (25 convex
    combinations, n = 10,000, 2 cores) the solves took 8.0 s with two BLAS threads and
    4.7 s with one.  The engine's worker processes already run on one BLAS thread; a
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
    _solve_batch(
        Y, z, one, one, S, size, one.copy(), one.copy(), Qt, Rt, np.zeros((1, 4)),
        np.zeros((1, 4)), np.zeros((1, 4), dtype=np.int64), np.zeros((1, 9)), np.zeros((1, 2)),
        np.zeros(1), np.zeros(1, dtype=bool), 60 * i1, 16,
    )  # fmt: skip
    _extend_batch(
        np.array([[0.5, 1.0, 0.0]]), one, one, np.zeros(1), i1, S, size, np.zeros(3, bool),
        np.zeros(1, dtype=bool),
    )  # fmt: skip
    _WARMED.append(True)
    seconds = time.perf_counter() - t0
    stats = _solve.stats
    how = "compiled (no cache entry yet)" if stats.cache_misses else "loaded from the cache"
    return f"compiled solver {how} in {seconds:.1f} s (cache: {stats.cache_path})"
