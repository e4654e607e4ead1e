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
All work is done in float64 on ``(x - centre) * 2**k``, an exact power-of-two rescaling
to unit radius, so magnitudes from about 1e-280 to 1e280 behave alike; data whose spread
cannot be represented safely (or queries more than about 1e120 radii away) raise
``ValueError``.  float32 input is converted exactly to float64 and the float32 numbers
are taken as the truth; so are integers (any integer dtype, or Python ints in lists and
object arrays), and an integer float64 cannot represent exactly (beyond ``2**53`` in
magnitude) raises ``ValueError`` rather than being rounded.  Note that a float32 *query*
carries its own rounding error, about ``6e-8 * |q|`` per coordinate: when ``|centre|``
is comparable to or larger than ``scale``, that is about ``tol * scale`` with the
default ``tol = 1e-7``, so a float32 query meant to lie on the boundary may be certified
outside (correctly, for the number actually given).  Pass float64 queries, or a larger
``tol``, when this matters.  The outside certificate ``b`` is an absolute number: when
``|centre| >> scale`` the margin needed to place it strictly between ``max_i x_i . w``
and ``q . w`` grows with ``|centre|``; queries closer than that stay undecided rather
than get a hyperplane that does not separate.

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
   solver is a compiled Lawson-Hanson method that keeps each query's passive set and QR
   factorisation (thin, then a full basis past half the coordinates) from round to round
   (:mod:`neuralhull.hull.warm_nnls`), so a round costs the columns that enter or leave, not a
   fresh solve; without numba (or if it breaks down numerically) scipy's NNLS solves each working
   set from scratch.  Its warm state takes up to ``16 (r + 2)**2`` bytes per query still in play,
   so queries run in groups that keep it under :data:`WARM_MEMORY`.  Its solution ``p`` gives an
   upper bound ``||z - p||`` on the distance and the direction ``w = z - p``; one batched matrix
   product over all active queries prices every training point against ``w``, which gives the
   Frank-Wolfe lower bound ``(z . w - max_i y_i . w) / ||w||`` and the points to add to ``S``
   (from the third round on, as many as ``S`` holds, so supports of hundreds of points take tens
   of rounds, not hundreds).  In the first half of
   ``max_rounds`` a warm solve stops after ``ROUND_ADDS`` new columns and the query is
   priced again: better points from outside the working set beat the working set's own
   optimum.  For membership, a query on faces of the bounding box (a coordinate exactly at
   the points' minimum or maximum: the zeros of pixels and ReLU units) is offered only
   the points on all of those faces, the only points any exact convex combination equal
   to it can use, while one of them prices positive; then every point (within the
   tolerance others can count).  Such a query with at least a first working set's worth
   of face points starts from its nearest face points and, when the engine works in the
   points' own columns (no rotation, as for pixels and most activations), its NNLS runs
   in the coordinates off its faces only: there the columns are exactly zero, so the
   solve is the same in fewer coordinates (a column costs the square of their number);
   once no face point prices positive it goes on in every coordinate with every point.
   The bounds, and so the answers, always come from pricing every point.  A query stops as soon as
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
the factorisation (about 0.3 s per query at n = 10,000, d = 784, one core).  Memory: one
float64 copy of the unique points (the input is never modified; float32 input is converted
straight into it), plus a reduced copy when the affine hull has lower rank or constant
columns are dropped; for membership of queries on faces of the bounding box, one byte per
point and face they lie on (at most 2 d); the LP model (sparse, about 12 bytes per nonzero
of the reduced points) is built only if some query reaches step 4.

Layout
------
One module per stage, in the order a query meets them:

- :mod:`~neuralhull.hull.numerics`: status codes, rounding bounds, overflow-safe norms;
- :mod:`~neuralhull.hull.prepare`: input checks, scaling, duplicates, the affine hull (1);
- :mod:`~neuralhull.hull.certificates`: inside / outside checks, the bounding box (2);
- :mod:`~neuralhull.hull.column_generation`: the engine (3), with its warm solver
  :mod:`~neuralhull.hull.warm_nnls`, its batched rounds for few coordinates
  :mod:`~neuralhull.hull.narrow` and its multi-core driver :mod:`~neuralhull.hull.parallel`;
- :mod:`~neuralhull.hull.lp`: the exact LP fallback (4);
- :mod:`~neuralhull.hull.results` and :mod:`~neuralhull.hull.api`: what a caller sees.
"""

from neuralhull.hull.api import (
    MembershipDistance,
    hull_distance,
    in_hull,
    membership,
    membership_and_distance,
)
from neuralhull.hull.numerics import (
    INSIDE,
    OUTSIDE,
    STATUS_NAMES,
    UNDECIDED,
    HullUndecidedError,
)
from neuralhull.hull.prepare import hull_scale
from neuralhull.hull.results import DistanceResult, HullResult

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
    "membership_and_distance",
    "MembershipDistance",
]
