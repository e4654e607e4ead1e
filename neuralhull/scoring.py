"""Scoring one space: hull membership (with certificates and distances) of the test samples,
and their proximity to the training set, as the per-sample tables of the workflow.

The workflow scores a space in one job (``workflow/scripts/score.py``): the space is loaded once and
both tables are written from it by :func:`neuralhull.io.write_table`, whose header lines
(``# key: value``) record what each was computed from.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from neuralhull.hull import STATUS_NAMES, membership_and_distance, warm_nnls
from neuralhull.provenance import progress_logger, software_versions
from neuralhull.proximity import distance_scale, proximity_scores
from neuralhull.spaces import query_subsample

Log = Callable[[str], None]


def hull_table(
    space: str,
    train: np.ndarray,
    test: np.ndarray,
    params: dict,
    *,
    n_jobs: int = 1,
    log: Log = print,
) -> tuple[dict, pd.DataFrame]:
    """Membership and distance of a seeded subsample of ``test (m, d)`` in the hull of
    ``train (n, d)``: the header and the per-query table of ``hull/{space}.tsv``.

    ``params``: ``max_queries`` (None: every test sample), ``seed`` (of the subsample) and
    ``tol`` (certificate tolerance). Undecided queries and distances that did not converge
    are kept as such (NaN distance with its bounds), never guessed, and logged.
    """
    idx = query_subsample(len(test), params["max_queries"], params["seed"])
    queries = test[idx]
    log(
        f"space {space}: {len(train)} training points, {len(queries)}/{len(test)} queries, "
        f"d={train.shape[1]}"
    )
    log(warm_nnls.warm_up())  # a fresh checkout compiles the solver once; later jobs load it
    t0 = time.perf_counter()
    # one pass settles both: the certified distance decides membership too (see
    # neuralhull.hull.membership_and_distance); queries whose bounds straddle the tolerance
    # go to the membership engine and its exact LP
    res = membership_and_distance(
        train,
        queries,
        tol=params["tol"],
        n_jobs=n_jobs,
        progress=progress_logger(log, "hull membership and distance queries"),
    )
    seconds = time.perf_counter() - t0
    if res.stats["fallback"]:
        log(
            f"{res.stats['fallback']} queries not settled by their distance bounds: "
            "membership engine"
        )
    status = np.asarray(STATUS_NAMES)[res.status]
    # Distance: 0 inside; for outside queries the certified distance, or, where the solver
    # stopped before its bounds met, NaN with the bounds kept (never a guess).
    is_out = status == "outside"
    counts = {s: int((status == s).sum()) for s in ("inside", "outside", "undecided")}
    unconverged = int(np.sum(is_out & np.isnan(res.distance)))
    _log_outcome(log, counts, unconverged, seconds)
    header = {
        "space": space,
        "dimension": train.shape[1],
        "n_train": len(train),
        "n_test": len(test),
        "queries": len(queries),
        "max_queries": params["max_queries"],
        "subsample_seed": params["seed"],
        "tol": params["tol"],
        "rank": res.stats["rank"],
        **{f"n_{k}": v for k, v in counts.items()},
        "n_distance_unconverged": unconverged,
        "software": json.dumps(software_versions(), sort_keys=True),
    }
    return header, _query_table(idx, status, res)


def _log_outcome(log: Log, counts: dict, unconverged: int, seconds: float) -> None:
    """The hull job's counts, time and warnings, in its log."""
    log(f"{counts}; membership and distance {seconds:.1f} s")
    if counts["undecided"]:
        log(
            f"WARNING: {counts['undecided']} queries undecided; they are counted as such "
            "in hull.tsv"
        )
    if unconverged:
        log(
            f"WARNING: the distance of {unconverged} outside queries did not converge; "
            "hull_distance is NaN there (bounds in hull_distance_lower / _upper)"
        )


def _query_table(idx: np.ndarray, status: np.ndarray, res) -> pd.DataFrame:
    """One row per query: its test-sample index, status, certified distance with bounds,
    the method that settled it and its certificate's margin and residual."""
    return pd.DataFrame(
        {
            "index": idx,
            "status": status,
            "hull_distance": res.distance,
            "hull_distance_lower": res.lower,
            "hull_distance_upper": res.upper,
            "method": res.method,
            "margin": res.margin,
            "residual": res.residual,
        }
    )


def proximity_table(
    space: str,
    train: np.ndarray,
    y_train: np.ndarray,
    test: np.ndarray,
    y_test: np.ndarray,
    pred_test: np.ndarray | None,
    *,
    k: int,
    log: Log = print,
) -> tuple[dict, pd.DataFrame]:
    """Nearest-neighbour distances (in units of the median training nearest-neighbour
    distance) and label agreement of every test sample: the header and table of
    ``proximity/{space}.tsv``. ``pred_test`` None: a pixel space shared by every model, whose
    neighbours' labels are kept for each model's prediction agreement later."""
    scale = distance_scale(train, seed=0)
    log(f"space {space}: d={train.shape[1]}, distance unit (median train NN distance) {scale:.6g}")
    table = proximity_scores(
        train,
        y_train,
        test,
        y_test,
        pred_test,
        k=k,
        scale=scale,
        progress=progress_logger(log, "nearest-neighbour queries"),
    )
    table.insert(0, "index", np.arange(len(test)))
    header = {
        "space": space,
        "dimension": train.shape[1],
        "k": k,
        "distance_unit": repr(scale),
        "software": json.dumps(software_versions(), sort_keys=True),
    }
    return header, table
