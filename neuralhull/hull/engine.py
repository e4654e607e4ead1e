"""The engine's driver: stage 3's rounds over groups of queries.

:func:`_engine` splits the queries into groups whose warm-solver state fits in
:data:`WARM_MEMORY`; :func:`_engine_group` runs one group's rounds (solve, then price) on
the group object that suits it: :class:`~neuralhull.hull.narrow.NarrowGroup` for narrow
problems, else :class:`~neuralhull.hull.column_generation._Group`. It sits above both, so
that neither of them imports the other's caller.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from neuralhull.hull import narrow, warm_nnls
from neuralhull.hull.column_generation import (
    EngineOptions,
    _Batch,
    _EngineOutput,
    _Group,
    _Progress,
)

# bytes of warm-solver state (a thin QR factorisation per active query) one engine call
# may hold; queries beyond it run in consecutive groups
WARM_MEMORY = 1 << 30


_NO_PROGRESS = _Progress()  # no callback: nothing is reported


def _engine(
    Y: np.ndarray, batch: _Batch, options: EngineOptions, progress: _Progress = _NO_PROGRESS
) -> _EngineOutput:
    """:func:`_engine_group` on groups of queries small enough for the warm solver's
    memory (its factorisations take up to ``16 (r + 2)**2`` bytes per active query)."""
    m, r = batch.Z.shape[0], Y.shape[1]
    use_warm = options.use_warm
    if use_warm is None:
        use_warm = warm_nnls.AVAILABLE
        options = dataclasses.replace(options, use_warm=use_warm)
    group = max(1, int(WARM_MEMORY // (16.0 * (r + 2) ** 2))) if use_warm else max(m, 1)
    outputs = []
    for lo in range(0, max(m, 1), group):  # one group (possibly empty) when m <= group
        hi = min(m, lo + group)
        outputs.append(_engine_group(Y, batch.chunk(lo, hi), options, progress.chunk(lo, m)))
    return outputs[0] if len(outputs) == 1 else _EngineOutput.merge(outputs)


def _engine_group(
    Y: np.ndarray, batch: _Batch, options: EngineOptions, progress: _Progress
) -> _EngineOutput:
    """Column generation for the minimum-norm point of conv(Y) relative to each row of Z.

    Parameters
    ----------
    Y : (n, r) float64
        Training points in internal units (radius about 1).
    batch : _Batch
        ``Z`` (m, r) the queries in internal units; ``tol_in`` (m,): stop as inside once
        the distance upper bound is ``<= tol_in``; ``tol_out`` (m,): membership stops as
        outside once the lower bound exceeds it, distance once
        ``upper - lower <= max(tol_out, rtol * upper)``; ``faces``, membership only: the
        box faces each query lies on (see :class:`Faces`).
    options : EngineOptions
        With ``use_warm`` decided (True or False).
    """
    m = batch.Z.shape[0]
    membership = options.mode == "membership"
    if narrow.applies(Y.shape[1], options.use_warm, batch.faces if membership else None):
        group = narrow.NarrowGroup(Y, batch, options)
    else:
        group = _Group(Y, batch, options)
    group.capped_rounds = options.max_rounds // 2
    if batch.faces is not None and membership:
        group.faces = batch.faces
    if m == 0:
        return group.out
    group.initial_working_sets()
    active = np.arange(m)
    for rnd in range(1, options.max_rounds + 1):
        if active.size == 0:
            break
        active, P = group.solve(active, rnd)
        if active.size == 0:
            break
        active = group.price(active, P, rnd)
        progress.report(m - active.size, m)
    group.finish()
    return group.out
