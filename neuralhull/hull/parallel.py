"""The engine on several cores: queries split across forked worker processes.

Each query's computation does not depend on the chunking (the candidate sample depends on
the seed and ``n`` only), so the answers do not depend on ``n_jobs``; below
:data:`PARALLEL_MIN_WORK` the call runs serially, where a pool would cost more than it saves.
"""

from __future__ import annotations

import numpy as np

from neuralhull.hull import warm_nnls
from neuralhull.hull.column_generation import (
    EngineOptions,
    Faces,
    _Batch,
    _EngineOutput,
    _Progress,
)
from neuralhull.hull.engine import _engine

_WORKER_DATA: dict = {}  # per worker process: the training points, set by the initializer


# below this much work (queries x (points x rank + rank**3), about a second of one core's
# pricing and solving) a worker pool costs more than it saves: the call runs serially
PARALLEL_MIN_WORK = 5e8


def _worker_init(Y: np.ndarray, faces: Faces | None) -> None:
    _WORKER_DATA["Y"] = Y
    _WORKER_DATA["faces"] = faces  # inherited by the fork, not pickled
    try:
        from threadpoolctl import threadpool_limits

        _WORKER_DATA["limits"] = threadpool_limits(1)  # one BLAS thread per process
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        pass


def _worker_run(batch: _Batch, face_queries, options: EngineOptions):
    shared = _WORKER_DATA["faces"]
    if face_queries is not None:
        batch.faces = Faces(shared.points, face_queries, shared.coords)
    return _engine(_WORKER_DATA["Y"], batch, options)


def _engine_parallel(
    Y: np.ndarray, batch: _Batch, options: EngineOptions, progress: _Progress, n_jobs: int
) -> _EngineOutput:
    """Run :func:`_engine` on chunks of the queries in ``n_jobs`` processes.

    Every query's computation is the same whatever the chunking (the candidate sample
    depends on the seed and ``n`` only), so results do not depend on ``n_jobs``.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    m = batch.Z.shape[0]
    n, r = Y.shape
    methods = multiprocessing.get_all_start_methods()
    small = m * (n * r + r**3) < PARALLEL_MIN_WORK  # less than a worker pool costs
    if n_jobs <= 1 or m < 16 or small or "fork" not in methods:
        return _engine(Y, batch, options, progress)
    if options.use_warm if options.use_warm is not None else warm_nnls.AVAILABLE:
        warm_nnls.warm_up()  # load the compiled solver once, before the workers fork
    faces = batch.faces
    n_chunks = min(m // 8, 4 * n_jobs)
    bounds = np.linspace(0, m, n_chunks + 1).astype(int)
    outputs: list = [None] * n_chunks
    done = 0
    with ProcessPoolExecutor(
        max_workers=n_jobs,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_worker_init,
        initargs=(Y, None if faces is None else faces.chunk(0, 0)),
    ) as pool:
        futures = {}
        for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            # the face points reach the workers through the fork, not pickled per chunk
            chunk = _Batch(batch.Z[lo:hi], batch.tol_in[lo:hi], batch.tol_out[lo:hi])
            face_queries = None if faces is None else faces.queries[lo:hi]
            futures[pool.submit(_worker_run, chunk, face_queries, options)] = i
        for future in as_completed(futures):
            i = futures[future]
            outputs[i] = future.result()
            done += bounds[i + 1] - bounds[i]
            progress.report(done, m)
    return _EngineOutput.merge(outputs)
