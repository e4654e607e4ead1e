"""Exact, certified convex-hull membership and distance to the hull.

Is a query ``q`` a convex combination of the training points ``x_1 .. x_n``?  Every
answer carries a certificate re-checked in float64 against the original points:
``INSIDE`` with convex weights that reproduce ``q`` within ``tol * scale`` (``scale`` the
radius of the points), ``OUTSIDE`` with a separating hyperplane whose margin exceeds
that and that separates in exact arithmetic (rounding is bounded, not ignored),
``UNDECIDED`` when neither could be verified (never reported as outside).  Each query
goes through the stages below in order: the affine hull and the bounding box settle what
they can cheaply, column generation on the minimum-norm-point problem (with a warm-started
NNLS) settles almost all the rest, and an exact LP takes what is left.

The method (its steps are the numbers below), its floating-point policy and its costs:
``docs/hull-engine.md``.

Layout
------
One module per stage, in the order a query meets them:

- :mod:`~neuralhull.hull.numerics`: status codes, rounding bounds, overflow-safe norms;
- :mod:`~neuralhull.hull.prepare`: input checks, scaling, duplicates, the affine hull (1);
- :mod:`~neuralhull.hull.certificates`: inside / outside checks, the bounding box (2);
- :mod:`~neuralhull.hull.column_generation`: the engine (3), with its warm solver
  :mod:`~neuralhull.hull.warm_nnls`, its batched rounds for few coordinates
  :mod:`~neuralhull.hull.narrow`, the rounds' driver :mod:`~neuralhull.hull.engine` and its
  multi-core driver :mod:`~neuralhull.hull.parallel`;
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
