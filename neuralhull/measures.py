"""Per-sample measures (hull membership, proximity) and the tables that relate them to errors.

The hull, measures and deciles tables of the summary (:mod:`neuralhull.summary`) are built
here; their statistics (AUROC and its intervals, quantile bins) live in
:mod:`neuralhull.stats.auroc` and :mod:`neuralhull.stats.deciles`.

Inputs are the per-test-sample score tables the workflow writes for every (model, space):
one row per test sample with the columns

``index``
    test-sample id (unique within a table),
``correct``
    bool, the model classified the sample correctly,
``status``
    ``"inside"``, ``"outside"`` or ``"undecided"`` (convex-hull membership certificate),

and any of the measure columns named in :data:`MEASURES` (``nn_distance``,
``knn_mean_distance``, ``knn_label_agreement``, ``knn_pred_agreement``, ``hull_distance``).
A measure value may be NaN where it was not computed; such samples are left out of that
measure's statistics and the tables say how many samples were used (``n``).

Scores for several (model, space) pairs come either as a mapping
``{(model, space): DataFrame}`` or as one long DataFrame with ``model`` and ``space`` columns.

All AUROCs are *oriented*: the score is multiplied by the measure's orientation in
:data:`MEASURES` before ranking, so 0.5 is chance and a value above 0.5 means the measure
flags errors (far from the training set, outside its hull, disagreeing neighbours).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping

import numpy as np
import pandas as pd

from neuralhull.checks import as_bool, one_of, require_columns
from neuralhull.stats.auroc import auroc, bootstrap_interval, delong_interval
from neuralhull.stats.deciles import rank_bins

#: measure name -> orientation: +1 if a larger value means an error is more likely,
#: -1 if a larger value means an error is less likely.
MEASURES: dict[str, int] = {
    "outside_hull": +1,
    "hull_distance": +1,
    "nn_distance": +1,
    "knn_mean_distance": +1,
    "knn_label_agreement": -1,
    "knn_pred_agreement": -1,
}

HULL_STATUSES = ("inside", "outside", "undecided")


# ---------------------------------------------------------------------------------------------
# reading the scores


def _check_scores_frame(frame, label: str) -> None:
    require_columns(frame, ["correct", "status"], f"the score table of {label}")
    unknown = set(frame["status"].dropna().unique()) - set(HULL_STATUSES)
    if unknown or frame["status"].isna().any():
        shown = sorted(map(str, unknown)) + (["NaN"] if frame["status"].isna().any() else [])
        raise ValueError(
            f"scores for {label}: status must be one of {HULL_STATUSES}, found {shown}"
        )
    if "index" in frame.columns and frame["index"].duplicated().any():
        raise ValueError(f"scores for {label}: duplicated test-sample index")
    as_bool(frame["correct"].to_numpy(), f"'correct' for {label}", len(frame))


def _iter_scores(scores_by_model_space) -> Iterator[tuple[str, str, pd.DataFrame]]:
    """Yield (model, space, frame) from a mapping or a long DataFrame, in a fixed order."""
    if isinstance(scores_by_model_space, pd.DataFrame):
        long = scores_by_model_space
        require_columns(long, ["model", "space"], "long scores table")
        items = [
            ((model, space), frame.drop(columns=["model", "space"]))
            for (model, space), frame in long.groupby(["model", "space"], sort=False)
        ]
    elif isinstance(scores_by_model_space, Mapping):
        items = list(scores_by_model_space.items())
    else:
        raise ValueError(
            "scores must be a mapping {(model, space): DataFrame} or a DataFrame with "
            f"'model' and 'space' columns, got {type(scores_by_model_space).__name__}"
        )
    if not items:
        raise ValueError("no scores given")
    for key, frame in items:
        if not (isinstance(key, tuple) and len(key) == 2):
            raise ValueError(f"scores keys must be (model, space) pairs, got {key!r}")
        model, space = key
        label = f"model {model!r}, space {space!r}"
        _check_scores_frame(frame, label)
        yield str(model), str(space), frame


def _check_measures(measures: Mapping[str, int]) -> None:
    for name, orientation in measures.items():
        one_of(orientation, (1, -1), f"orientation of measure {name!r}")


def measure_values(scores: pd.DataFrame, measure: str) -> np.ndarray | None:
    """Per-sample values of one measure, NaN where it was not computed.

    Parameters
    ----------
    scores : DataFrame
        Per-test-sample scores of one (model, space), see the module docstring.
    measure : str
        A measure column, or ``"outside_hull"``: 1.0 for status ``"outside"``, 0.0 for
        ``"inside"`` and NaN for ``"undecided"`` (an undecided sample is neither).

    Returns
    -------
    values : (n,) float or None
        None when the table has no column for the measure (not computed in this space).
    """
    if measure == "outside_hull":
        status = scores["status"].to_numpy()
        values = np.where(status == "outside", 1.0, 0.0)
        values[status == "undecided"] = np.nan
        return values
    if measure not in scores.columns:
        return None
    return pd.to_numeric(scores[measure], errors="raise").to_numpy(dtype=float)


# ---------------------------------------------------------------------------------------------
# summary tables


def _space_metadata(spaces: pd.DataFrame) -> dict:
    require_columns(spaces, ["dimension", "kind", "space"], "spaces table")
    keys = ["model", "space"] if "model" in spaces.columns else ["space"]
    if spaces.duplicated(keys).any():
        raise ValueError(f"spaces table has duplicated {'/'.join(keys)} entries")
    return {
        tuple(str(v) for v in row[keys]): (str(row["kind"]), int(row["dimension"]))
        for _, row in spaces.iterrows()
    }


def hull_table(scores_by_model_space, spaces: pd.DataFrame) -> pd.DataFrame:
    """Counts of test samples inside / outside the training hull, and accuracy in each.

    Parameters
    ----------
    scores_by_model_space : mapping or DataFrame
        Per-test-sample scores, see the module docstring.
    spaces : DataFrame
        Columns space, kind, dimension, and optionally model (when a space's dimension
        depends on the model, e.g. its activation width).

    Returns
    -------
    DataFrame
        Columns model, space, kind, dimension, queries, inside, outside, undecided,
        fraction_inside (inside / (inside + outside); NaN if nothing was decided),
        accuracy_inside, accuracy_outside (NaN for an empty group), and
        distance_unconverged: outside samples whose ``hull_distance`` is NaN because its
        solver stopped before its bounds met (0 when the frame has no such column).
        Undecided samples are counted in ``queries`` and ``undecided`` and in neither
        fraction.
    """
    meta = _space_metadata(spaces)
    by_model = "model" in spaces.columns
    rows = []
    for model, space, frame in _iter_scores(scores_by_model_space):
        key = (model, space) if by_model else (space,)
        if key not in meta:
            raise ValueError(f"spaces table has no entry for {'/'.join(key)}")
        kind, dimension = meta[key]
        status = frame["status"].to_numpy()
        correct = as_bool(frame["correct"].to_numpy(), "correct", len(frame))
        inside = status == "inside"
        outside = status == "outside"
        n_in, n_out = int(inside.sum()), int(outside.sum())
        if "hull_distance" in frame:
            distance = frame["hull_distance"].to_numpy(dtype=float)
            unconverged = int(np.sum(outside & np.isnan(distance)))
        else:
            unconverged = 0
        rows.append(
            {
                "model": model,
                "space": space,
                "kind": kind,
                "dimension": dimension,
                "queries": len(frame),
                "inside": n_in,
                "outside": n_out,
                "undecided": int((status == "undecided").sum()),
                "fraction_inside": n_in / (n_in + n_out) if n_in + n_out else np.nan,
                "accuracy_inside": float(correct[inside].mean()) if n_in else np.nan,
                "accuracy_outside": float(correct[outside].mean()) if n_out else np.nan,
                "distance_unconverged": unconverged,
            }
        )
    return pd.DataFrame(rows)


def _row_seed(seed: int, *names: str) -> list[int]:
    """Seed for one table row, independent of the order rows are computed in."""
    return [int(seed), zlib.crc32("\0".join(names).encode())]


def measures_table(
    scores_by_model_space,
    *,
    measures: Mapping[str, int] = MEASURES,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    interval: str = "bootstrap",
) -> pd.DataFrame:
    """Oriented AUROC of every measure for detecting errors, with 95% intervals.

    Parameters
    ----------
    scores_by_model_space : mapping or DataFrame
        Per-test-sample scores, see the module docstring.
    measures : mapping
        Measure name -> orientation (default :data:`MEASURES`). A measure whose column a
        table lacks was not computed for that space and gets no row; samples with a NaN
        value are left out.
    n_boot, level :
        Passed to :func:`bootstrap_interval`.
    seed : int
        Every row's bootstrap uses a generator seeded by (seed, model, space, measure).
    interval : ``"bootstrap"`` (percentile, :func:`bootstrap_interval`) or ``"delong"``
        (normal interval with DeLong's variance, :func:`delong_interval`; no resampling).

    Returns
    -------
    DataFrame
        Columns model, space, measure, auroc, low, high, n (samples with a value),
        n_errors. auroc > 0.5 means the measure flags errors.
    """
    _check_measures(measures)
    one_of(interval, ("bootstrap", "delong"), "interval")
    rows = []
    for model, space, frame in _iter_scores(scores_by_model_space):
        is_error = ~as_bool(frame["correct"].to_numpy(), "correct", len(frame))
        for measure, orientation in measures.items():
            values = measure_values(frame, measure)
            if values is None:
                continue
            known = ~np.isnan(values)
            oriented = orientation * values[known]
            errors = is_error[known]
            if interval == "delong":
                low, high = delong_interval(oriented, errors, level=level)
            else:
                rng = np.random.default_rng(_row_seed(seed, model, space, measure))
                low, high = bootstrap_interval(
                    oriented, errors, n_boot=n_boot, level=level, rng=rng
                )
            rows.append(
                {
                    "model": model,
                    "space": space,
                    "measure": measure,
                    "auroc": auroc(oriented, errors),
                    "low": low,
                    "high": high,
                    "n": int(known.sum()),
                    "n_errors": int(errors.sum()),
                }
            )
    columns = ["model", "space", "measure", "auroc", "low", "high", "n", "n_errors"]
    return pd.DataFrame(rows, columns=columns)


def _bin_summary(bins, values, correct, n_bins) -> pd.DataFrame:
    """One row per bin 1..n_bins: the range of ``values`` in it, its size and the accuracy
    of ``correct`` there (NaN range and accuracy, n = 0, for an empty bin)."""
    rows = []
    for b in range(1, n_bins + 1):
        members = bins == b
        count = int(members.sum())
        rows.append(
            {
                "bin": b,
                "low": float(values[members].min()) if count else np.nan,
                "high": float(values[members].max()) if count else np.nan,
                "n": count,
                "accuracy": float(correct[members].mean()) if count else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=["bin", "low", "high", "n", "accuracy"])


def decile_table(
    scores_by_model_space, *, measures: Mapping[str, int] = MEASURES, n_bins: int = 10
) -> pd.DataFrame:
    """Accuracy within quantile bins of every measure, bins ordered by risk.

    Bins are :func:`rank_bins` of the *oriented* score, so bin 1 holds the samples the
    measure deems least error-prone (nearest, inside the hull, most agreeing neighbours)
    and bin ``n_bins`` the most error-prone, whatever the measure's sign. ``low`` and
    ``high`` give the bin's range in the measure's own units.

    Parameters
    ----------
    scores_by_model_space : mapping or DataFrame
        Per-test-sample scores, see the module docstring.
    measures : mapping
        Measure name -> orientation (default :data:`MEASURES`); absent columns are skipped
        and NaN values left out, as in :func:`measures_table`.
    n_bins : int

    Returns
    -------
    DataFrame
        Columns model, space, measure, bin, low, high, n, accuracy; every bin 1..n_bins of
        every measure has a row (n = 0 for an empty bin).
    """
    _check_measures(measures)
    parts = []
    for model, space, frame in _iter_scores(scores_by_model_space):
        correct = as_bool(frame["correct"].to_numpy(), "correct", len(frame))
        for measure, orientation in measures.items():
            values = measure_values(frame, measure)
            if values is None:
                continue
            known = ~np.isnan(values)
            bins = rank_bins(orientation * values[known], n_bins)
            part = _bin_summary(bins, values[known], correct[known], int(n_bins))
            part.insert(0, "measure", measure)
            part.insert(0, "space", space)
            part.insert(0, "model", model)
            parts.append(part)
    columns = ["model", "space", "measure", "bin", "low", "high", "n", "accuracy"]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]
