"""Column generation in few coordinates: a round's solves and extensions as batched,
compiled calls.

In few coordinates (``r + 1 <= LOOP_COORDINATES``: latent codes, PCA spaces, clustered
activations) one warm solve and one candidate pick cost a few microseconds each, and the
per-query Python of :class:`~neuralhull.hull.column_generation._Group` (a solver object, a
compiled call with a dozen arguments, the bookkeeping) cost as much again.  Here every
query's warm state lives in arrays with one row per query, sized once for the most any
query can need (a passive set of at most ``r + 1`` columns), and each half of a round is
one compiled call over all active queries (:func:`~neuralhull.hull.warm_nnls._solve_batch`,
:func:`~neuralhull.hull.warm_nnls._extend_batch`).

Each query's arithmetic is that of :class:`_Group` (the same kernel on the same numbers,
in the same order), so the answers, rounds and weights are the same.  The calls stay on
one thread: the kernel allocates its work arrays per call, which makes solves in two
threads at once slower than one after the other (docs/performance.md, "The hull engine").
"""

from __future__ import annotations

import dataclasses

import numpy as np

from neuralhull.hull import warm_nnls
from neuralhull.hull.column_generation import EngineOptions, _Batch, _fresh_solve, _Group
from neuralhull.hull.numerics import INSIDE


def applies(r: int, use_warm: bool, faces) -> bool:
    """Whether :class:`NarrowGroup` runs a group: the compiled solver, ``r + 1`` within
    :data:`~neuralhull.hull.warm_nnls.LOOP_COORDINATES`, and no query on faces of the
    bounding box (those keep their face points and coordinates in :class:`_Group`)."""
    if not use_warm or r + 1 > warm_nnls.LOOP_COORDINATES:
        return False
    return faces is None or not faces.queries.any()


class NarrowGroup(_Group):
    """:class:`_Group` with its warm state in arrays and its rounds' solves and candidate
    picks as batched compiled calls."""

    def __init__(self, Y: np.ndarray, batch: _Batch, options: EngineOptions):
        # no WarmNNLS objects: the warm state lives in the arrays below
        super().__init__(Y, batch, dataclasses.replace(options, use_warm=False))
        self.out.warm = True
        self.compiled = True
        m, r = batch.Z.shape[0], Y.shape[1]
        M = r + 1
        if m == 0:
            return
        # a working set is at most a passive set (M) plus one extension (max(k_add, M));
        # the first is k_init <= 2 M
        self.cap = 2 * M + self.k_add
        self.S = np.zeros((m, self.cap), dtype=np.int64)
        self.size = np.zeros(m, dtype=np.int64)
        self.npass = np.zeros(m, dtype=np.int64)  # passive set of the last solve: S[:npass]
        self.K = np.zeros(m, dtype=np.int64)  # the warm kernel's passive columns
        self.Qt = np.zeros((m, M + 1, M))
        self.Rt = np.zeros((m, M + 1, M + 1))
        self.c = np.zeros((m, M + 1))
        self.lam = np.zeros((m, M + 1))
        self.perm = np.zeros((m, M + 1), dtype=np.int64)
        self.MU = np.zeros((m, self.cap))
        # the arguments of the batched solve (:func:`~neuralhull.hull.warm_nnls._solve_batch`)
        self.sets = (self.S, self.size, self.npass, self.K, self.MU)
        self.factors = (self.Qt, self.Rt, self.c, self.lam, self.perm)
        self.solved = np.zeros(m, dtype=bool)  # at least one solve gave weights
        self.cold = np.zeros(m, dtype=bool)  # broke down: fresh (scipy) solves from then on

    def initial_working_sets(self) -> None:
        super().initial_working_sets()
        for j, first in enumerate(self.support):
            self.S[j, : first.size] = first
            self.size[j] = first.size
            self.support[j] = None

    def _solve_each(self, active, P, keep, cap) -> None:
        """The working-set solves of :meth:`_Group.solve`: one compiled call for every
        query with a warm state, scipy for the rest (breakdowns, from then on)."""
        Y, Z, out = self.Y, self.Z, self.out
        M = Y.shape[1] + 1
        dist = np.full(active.size, np.inf)
        usable = np.zeros(active.size, dtype=bool)
        warm = np.flatnonzero(~self.cold[active])
        if cap is not None:
            caps = np.full(active.size, cap, dtype=np.int64)
        else:  # what WarmNNLS.solve allows without a cap
            caps = 20 * (self.size[active] + M)
        results = (P, dist, usable)
        warm_nnls._solve_batch(
            Y, Z, active[warm], warm, self.sets, self.factors, results, caps[warm], 16
        )  # fmt: skip
        self.solved[active[usable]] = True
        for a in np.flatnonzero(~usable).tolist():  # breakdowns and cold queries: scipy
            j = int(active[a])
            if not self.cold[j]:
                out.warm_fallbacks += 1
                self.cold[j] = True
                S = np.unique(self.S[j, : self.size[j]])
            else:
                S = self.S[j, : self.size[j]].copy()
            sol = _fresh_solve(Y, S, Z[j])
            if sol is None:
                out.failures += 1
                keep[a] = False
                continue
            points, weights, P[a], dist[a] = sol
            k = points.size
            self.S[j, :k], self.MU[j, :k] = points, weights
            self.size[j] = self.npass[j] = k
            self.solved[j] = True
        upper = out.upper
        js = active[keep]
        upper[js] = np.minimum(upper[js], dist[keep])
        inside = keep & (upper[active] <= self.tol_in[active])
        out.state[active[inside]] = INSIDE
        keep &= ~inside

    def _extend_compiled(self, G, go, rows, active, pw, rnd, keep) -> None:
        rows_go = rows[go]
        queries = active[rows_go]
        floors = pw[rows_go] + 1e-13 * (1.0 + self.ymax)
        size = self.size[queries]
        counts = np.maximum(self.k_add, size) if rnd > 2 else np.full(size.size, self.k_add)
        counts = np.minimum(counts, self.cap - size)
        grew = np.zeros(go.size, dtype=bool)
        warm_nnls._extend_batch(
            G, go, queries, floors, counts, self.S, self.size, self.mark, grew
        )  # fmt: skip
        keep[rows_go[~grew]] = False  # working set optimal, no certificate: numerical limit

    def finish(self) -> None:
        """The output's supports and weights: each query's last solve (its passive set
        and convex weights), or its first working set where no solve gave weights."""
        for j in range(self.Z.shape[0]):
            if self.solved[j]:
                k = int(self.npass[j])
                self.support[j] = self.S[j, :k].copy()
                self.mu[j] = self.MU[j, :k].copy()
            else:
                self.support[j] = self.S[j, : self.size[j]].copy()
