"""Stage 4 of the method: the exact LP for what column generation leaves undecided.

One HiGHS model per call (sparse, elastic, always feasible and bounded); from query to
query only its row bounds change.  Its primal weights are tried as an inside certificate,
its duals as a separating direction; a query neither verifies stays ``UNDECIDED``.
"""

from __future__ import annotations

import numpy as np

from neuralhull.hull.certificates import _Certificates
from neuralhull.hull.numerics import _max_dot
from neuralhull.hull.prepare import _Problem


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


def _lp_stage(problem: _Problem, rows, cert: _Certificates, *, time_limit=60.0) -> int:
    """Settle ``rows`` (still undecided) with the exact LP; returns the number of solves."""
    prep, Z = problem.prep, problem.Z
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
        if cert.try_inside(problem, j, all_idx, np.clip(lam, 0.0, None), "highs"):
            continue
        yn = float(np.linalg.norm(y))
        if not yn > 0:
            continue
        u = y / yn
        gap = float(Z[j] @ u - _max_dot(Y, u[None])[0])  # in-subspace margin of u
        cand = prep.lift((max(gap, 0.0) * u if gap > 0 else u)[None]) + problem.off_vec[j]
        cert.certify_outside(problem, np.array([j]), cand, "highs")
    return solves
