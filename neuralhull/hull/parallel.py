"""The engine on several cores: queries split across forked worker processes.

Each query's computation does not depend on the chunking (the candidate sample depends on
the seed and ``n`` only), so the answers do not depend on ``n_jobs``; below
:data:`PARALLEL_MIN_WORK` the call runs serially, where a pool would cost more than it saves.
"""

from __future__ import annotations

import numpy as np

from neuralhull.hull import warm_nnls
from neuralhull.hull.column_generation import Faces, _engine, _EngineOutput

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


def _worker_run(Z, tol_in, tol_out, face_queries, kw: dict):
    shared = _WORKER_DATA["faces"]
    faces = None if face_queries is None else Faces(shared.points, face_queries, shared.coords)
    return _engine(_WORKER_DATA["Y"], Z, tol_in, tol_out, progress=None, faces=faces, **kw)


def _engine_parallel(
    Y, Z, tol_in, tol_out, *, n_jobs, progress, progress_offset, progress_total, **kw
):
    """Run :func:`_engine` on chunks of the queries in ``n_jobs`` processes.

    Every query's computation is the same whatever the chunking (the candidate sample
    depends on the seed and ``n`` only), so results do not depend on ``n_jobs``.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    m = Z.shape[0]
    n, r = Y.shape
    methods = multiprocessing.get_all_start_methods()
    small = m * (n * r + r**3) < PARALLEL_MIN_WORK  # less than a worker pool costs
    if n_jobs <= 1 or m < 16 or small or "fork" not in methods:
        return _engine(
            Y,
            Z,
            tol_in,
            tol_out,
            progress=progress,
            progress_offset=progress_offset,
            progress_total=progress_total,
            **kw,
        )
    if kw.get("use_warm", warm_nnls.AVAILABLE):
        warm_nnls.warm_up()  # load the compiled solver once, before the workers fork
    faces = kw.pop("faces", None)
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
        futures = {
            pool.submit(
                _worker_run,
                Z[lo:hi],
                tol_in[lo:hi],
                tol_out[lo:hi],
                None if faces is None else faces.queries[lo:hi],
                kw,
            ): i
            for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))
        }
        for future in as_completed(futures):
            i = futures[future]
            outputs[i] = future.result()
            done += bounds[i + 1] - bounds[i]
            if progress is not None:
                progress(progress_offset + done, progress_total)
    return _EngineOutput.merge(outputs)
