"""Test samples inside a training set's hull, counted with undecided answers kept.

The measurement of the real-dimension and embedding experiments, one table row per cell.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["affine_rank", "hull_counts", "logged_hull_counts", "write_count_row"]


def affine_rank(points: np.ndarray, *, rtol: float = 1e-9) -> int:
    """Dimension of the affine hull of ``points (n, d)``.

    The number of singular values of the centred points above
    ``rtol * max(s_max, sqrt(n) * max_ij |x_ij|)``: relative to the largest singular value,
    and to the size of the points themselves, so rounding noise of identical points does
    not count (0 for a single distinct point).
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or len(points) == 0:
        raise ValueError(f"points must be a non-empty (n, d) array, got shape {points.shape}")
    centred = points - points.mean(0)
    singular = np.linalg.svd(centred, compute_uv=False)
    size = np.sqrt(len(points)) * np.abs(points).max()
    threshold = rtol * max(singular.max(initial=0.0), size)
    return int(np.sum(singular > threshold)) if threshold > 0 else 0


def hull_counts(
    train: np.ndarray,
    queries: np.ndarray,
    *,
    tol: float = 1e-7,
    n_jobs: int | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, float]:
    """How many queries lie inside / outside the convex hull of ``train``, certified.

    Parameters
    ----------
    train : (n, d) float
        Hull points (duplicates and rank deficiency allowed).
    queries : (m, d) float
    tol, n_jobs, seed, progress
        Passed to :func:`neuralhull.hull.membership`.

    Returns
    -------
    dict
        ``queries``, ``inside``, ``outside``, ``undecided`` (counts) and
        ``fraction_inside = inside / (inside + outside)``, the fraction of the decided
        queries (NaN if none was decided). Undecided queries are counted, never guessed.
    """
    from neuralhull.hull import INSIDE, OUTSIDE, UNDECIDED, membership

    train, queries = np.asarray(train), np.asarray(queries)
    if train.ndim != 2 or queries.ndim != 2 or train.shape[1] != queries.shape[1]:
        raise ValueError(
            f"train (n, d) and queries (m, d) must share d; got {train.shape}, {queries.shape}"
        )
    result = membership(train, queries, tol=tol, n_jobs=n_jobs, seed=seed, progress=progress)
    inside = int(np.sum(result.status == INSIDE))
    outside = int(np.sum(result.status == OUTSIDE))
    undecided = int(np.sum(result.status == UNDECIDED))
    decided = inside + outside
    return {
        "queries": len(queries),
        "inside": inside,
        "outside": outside,
        "undecided": undecided,
        "fraction_inside": inside / decided if decided else float("nan"),
    }


def logged_hull_counts(label: str, train, queries, params, *, n_jobs: int, log) -> dict:
    """:func:`hull_counts` at the workflow's tolerance (``params["tol"]``), its progress and
    its counts logged under ``label`` (one cell of a sweep in a job's log)."""
    from neuralhull.provenance import progress_logger

    counts = hull_counts(
        train,
        queries,
        tol=params["tol"],
        n_jobs=n_jobs,
        progress=progress_logger(log, f"{label}: hull membership queries"),
    )
    log(f"{label}: {counts}")
    return counts


def write_count_row(row: dict, path: str, params) -> None:
    """One sweep cell's table: ``row`` under the header of its query subsample."""
    import pandas as pd

    from neuralhull.io import write_table

    header = {
        "subsample_seed": params["seed"],
        "max_queries": params["max_queries"],
        "tol": params["tol"],
    }
    write_table(pd.DataFrame([row]), path, header)
