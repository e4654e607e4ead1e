"""Relate hull membership and proximity to per-sample errors; summary tables.

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

import os
import zlib
from collections.abc import Iterator, Mapping

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from neuralhull.io import atomic_path

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

# Rows of the (n_boot, n) resampling-count matrix processed at once in the bootstrap.
_BOOTSTRAP_BLOCK_CELLS = 4_000_000


# ---------------------------------------------------------------------------------------------
# input checking


def _as_score(score, name: str = "score") -> np.ndarray:
    score = np.asarray(score, dtype=float)
    if score.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {score.shape}")
    if np.isnan(score).any():
        raise ValueError(f"{name} contains NaN; drop samples without a value first")
    return score


def _as_bool(values, name: str, n: int) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 1 or values.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},), got {values.shape}")
    if values.dtype == bool:
        return values
    if values.dtype.kind in "iuf" and np.isin(values, (0, 1)).all():
        return values.astype(bool)
    if values.dtype == object and all(
        isinstance(v, bool | np.bool_) or v in (0, 1) for v in values.tolist()
    ):
        return values.astype(bool)
    raise ValueError(f"{name} must be boolean (or 0/1), got dtype {values.dtype}")


def _check_scores_frame(frame: pd.DataFrame, label: str) -> None:
    missing = {"correct", "status"} - set(frame.columns)
    if missing:
        raise ValueError(f"scores for {label} lack column(s) {sorted(missing)}")
    unknown = set(frame["status"].dropna().unique()) - set(HULL_STATUSES)
    if unknown or frame["status"].isna().any():
        shown = sorted(map(str, unknown)) + (["NaN"] if frame["status"].isna().any() else [])
        raise ValueError(
            f"scores for {label}: status must be one of {HULL_STATUSES}, found {shown}"
        )
    if "index" in frame.columns and frame["index"].duplicated().any():
        raise ValueError(f"scores for {label}: duplicated test-sample index")
    _as_bool(frame["correct"].to_numpy(), f"'correct' for {label}", len(frame))


def _iter_scores(scores_by_model_space) -> Iterator[tuple[str, str, pd.DataFrame]]:
    """Yield (model, space, frame) from a mapping or a long DataFrame, in a fixed order."""
    if isinstance(scores_by_model_space, pd.DataFrame):
        long = scores_by_model_space
        missing = {"model", "space"} - set(long.columns)
        if missing:
            raise ValueError(f"long scores table lacks column(s) {sorted(missing)}")
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
        if not isinstance(frame, pd.DataFrame):
            raise ValueError(f"scores for {label} must be a DataFrame")
        _check_scores_frame(frame, label)
        yield str(model), str(space), frame


def _check_measures(measures: Mapping[str, int]) -> None:
    for name, orientation in measures.items():
        if orientation not in (1, -1):
            raise ValueError(f"orientation of measure {name!r} must be +1 or -1")


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
# AUROC and its bootstrap interval


def auroc(score, is_error) -> float:
    """Area under the ROC curve of ``score`` for detecting errors.

    Computed as the Mann-Whitney U statistic divided by ``n_errors * n_correct``: the
    probability that a random error scores higher than a random correct sample, ties
    counted 1/2.

    Parameters
    ----------
    score : (n,) float
        Larger means "more likely an error". Infinite values are allowed, NaN is not.
    is_error : (n,) bool

    Returns
    -------
    float
        In [0, 1]; NaN when there are no errors or no correct samples.
    """
    score = _as_score(score)
    is_error = _as_bool(is_error, "is_error", score.shape[0])
    n_pos = int(is_error.sum())
    n_neg = score.shape[0] - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)  # mid-ranks: ties count 1/2
    u = ranks[is_error].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def _weighted_auroc(tie_group: np.ndarray, is_error: np.ndarray, counts: np.ndarray):
    """AUROC of score-sorted samples replicated ``counts`` times, for many count vectors.

    Parameters
    ----------
    tie_group : (n,) int
        Samples sorted by score; tie_group[i] numbers the distinct score of sample i
        (0, 1, ... non-decreasing).
    is_error : (n,) bool
        In the same order.
    counts : (b, n) int
        Multiplicity of every sample in each of b weightings (bootstrap replicates).

    Returns
    -------
    (b,) float
        NaN where a weighting has no errors or no correct samples.
    """
    starts = np.flatnonzero(np.r_[True, tie_group[1:] != tie_group[:-1]])
    pos = np.add.reduceat(np.where(is_error, counts, 0), starts, axis=1).astype(float)
    neg = np.add.reduceat(np.where(is_error, 0, counts), starts, axis=1).astype(float)
    neg_below = np.cumsum(neg, axis=1) - neg  # correct samples with a strictly lower score
    n_pos = pos.sum(axis=1)
    n_neg = neg.sum(axis=1)
    u = (pos * (neg_below + 0.5 * neg)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = u / (n_pos * n_neg)
    out[(n_pos == 0) | (n_neg == 0)] = np.nan
    return out


def resample_counts(draws: np.ndarray, n: int) -> np.ndarray:
    """``(b, n)`` multiplicity of every sample in each row of ``draws (b, m)`` (indices in
    ``[0, n)``): the counts :func:`resampled_auroc` takes."""
    b = len(draws)
    return np.bincount((draws + n * np.arange(b)[:, None]).ravel(), minlength=b * n).reshape(b, n)


def resampled_auroc(score: np.ndarray, is_error: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """AUROC of ``score (n,)`` for ``is_error (n,)`` in each of b resamples given by
    ``counts (b, n)``, the multiplicity of every sample in each (a bootstrap replicate's
    ``np.bincount`` of its drawn indices). Exact Mann-Whitney arithmetic on tie groups:
    the same value as ranking each resample, at a pass over ``counts``. NaN where a
    resample has no error or no correct sample."""
    order = np.argsort(score, kind="stable")
    sorted_score = score[order]
    tie_group = np.r_[0, np.cumsum(sorted_score[1:] != sorted_score[:-1])]
    return _weighted_auroc(tie_group, is_error[order], counts[:, order])


def delong_interval(score, is_error, *, level: float = 0.95) -> tuple[float, float]:
    """Normal interval of :func:`auroc` with DeLong's variance (DeLong, DeLong &
    Clarke-Pearson 1988), clipped to [0, 1].

    With m errors (scores X) and k correct samples (scores Y), the structural components
    ``V10_i = mean_j psi(X_i, Y_j)`` and ``V01_j = mean_i psi(X_i, Y_j)`` (psi = 1 if
    x > y, 1/2 if equal, 0 else) come from mid-ranks; ``var = s10 / m + s01 / k`` with
    their sample variances. O(n log n): what the summary uses for every AUROC row, where a
    percentile bootstrap (:func:`bootstrap_interval`) cost a pass over n_boot x n counts.

    Returns ``(nan, nan)`` when one class is empty.
    """
    from scipy.stats import norm

    score = _as_score(score)
    is_error = _as_bool(is_error, "is_error", score.shape[0])
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    x, y = score[is_error], score[~is_error]
    m, k = len(x), len(y)
    if m == 0 or k == 0:
        return float("nan"), float("nan")
    ranks = rankdata(score)
    v10 = (ranks[is_error] - rankdata(x)) / k
    v01 = 1.0 - (ranks[~is_error] - rankdata(y)) / m
    area = float(v10.mean())
    var = (v10.var(ddof=1) if m > 1 else 0.0) / m + (v01.var(ddof=1) if k > 1 else 0.0) / k
    half = float(norm.ppf(0.5 + level / 2.0) * np.sqrt(max(var, 0.0)))
    return max(0.0, area - half), min(1.0, area + half)


def bootstrap_interval(
    score, is_error, *, n_boot: int = 1000, level: float = 0.95, rng
) -> tuple[float, float]:
    """Percentile bootstrap interval of :func:`auroc`, resampling test samples.

    Every replicate draws n (score, is_error) pairs with replacement. Replicates that
    happen to hold no error or no correct sample have no AUROC and are left out (the
    interval is conditional on both classes being present).

    Parameters
    ----------
    score : (n,) float
    is_error : (n,) bool
    n_boot : int
        Number of bootstrap replicates.
    level : float
        Coverage of the interval, in (0, 1).
    rng : numpy.random.Generator or int
        Source of randomness (an int is used as a seed).

    Returns
    -------
    (low, high) : tuple of float
        NaN, NaN when the AUROC itself is undefined (one class empty).
    """
    score = _as_score(score)
    is_error = _as_bool(is_error, "is_error", score.shape[0])
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if int(n_boot) < 1:
        raise ValueError(f"n_boot must be positive, got {n_boot}")
    rng = np.random.default_rng(rng)
    n = score.shape[0]
    if n == 0 or is_error.all() or not is_error.any():
        return float("nan"), float("nan")
    block = max(1, _BOOTSTRAP_BLOCK_CELLS // n)
    replicates = []
    for start in range(0, int(n_boot), block):
        b = min(block, int(n_boot) - start)
        draws = rng.integers(0, n, size=(b, n))
        replicates.append(resampled_auroc(score, is_error, resample_counts(draws, n)))
    replicates = np.concatenate(replicates)
    replicates = replicates[np.isfinite(replicates)]
    if replicates.size == 0:
        return float("nan"), float("nan")
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(replicates, [alpha, 1.0 - alpha])
    return float(low), float(high)


# ---------------------------------------------------------------------------------------------
# accuracy by rank bins


def rank_bins(score, n_bins: int = 10) -> np.ndarray:
    """Quantile bin (1 = lowest scores) of every sample, ties kept in one bin.

    A sample's bin is ``ceil(midrank * n_bins / n)``, where ``midrank`` is its 1-based rank
    with ties given their average rank. Without ties the bins hold n / n_bins samples each
    (sizes differ by at most one); tied samples always share a bin, so with many ties some
    bins are larger and others empty. The result does not depend on the input order.

    Parameters
    ----------
    score : (n,) float
    n_bins : int

    Returns
    -------
    bins : (n,) int
        Values in 1..n_bins.
    """
    score = _as_score(score)
    if int(n_bins) < 1:
        raise ValueError(f"n_bins must be positive, got {n_bins}")
    n = score.shape[0]
    if n == 0:
        return np.zeros(0, dtype=int)
    twice_midrank = np.rint(2.0 * rankdata(score)).astype(np.int64)  # exact integers
    bins = -(-(twice_midrank * int(n_bins)) // (2 * n))  # ceil in integer arithmetic
    return np.clip(bins, 1, int(n_bins)).astype(int)


def _bin_summary(bins, values, correct, n_bins) -> pd.DataFrame:
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


def accuracy_by_decile(score, correct, n_bins: int = 10) -> pd.DataFrame:
    """Accuracy of the model within quantile bins of a score.

    Bins come from :func:`rank_bins` (ties never split). Every bin 1..n_bins gets a row;
    an empty bin has n = 0 and NaN low, high and accuracy.

    Parameters
    ----------
    score : (n,) float
    correct : (n,) bool
    n_bins : int

    Returns
    -------
    DataFrame
        Columns bin (1 = lowest scores), low, high (score range in the bin), n, accuracy.
    """
    score = _as_score(score)
    correct = _as_bool(correct, "correct", score.shape[0])
    return _bin_summary(rank_bins(score, n_bins), score, correct, int(n_bins))


# ---------------------------------------------------------------------------------------------
# summary tables


def _space_metadata(spaces: pd.DataFrame) -> dict:
    missing = {"space", "kind", "dimension"} - set(spaces.columns)
    if missing:
        raise ValueError(f"spaces table lacks column(s) {sorted(missing)}")
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
        correct = _as_bool(frame["correct"].to_numpy(), "correct", len(frame))
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
    if interval not in ("bootstrap", "delong"):
        raise ValueError(f"interval must be 'bootstrap' or 'delong', got {interval!r}")
    rows = []
    for model, space, frame in _iter_scores(scores_by_model_space):
        is_error = ~_as_bool(frame["correct"].to_numpy(), "correct", len(frame))
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
        correct = _as_bool(frame["correct"].to_numpy(), "correct", len(frame))
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


# ---------------------------------------------------------------------------------------------
# table files


def write_table(df: pd.DataFrame, path, provenance: Mapping[str, object]) -> None:
    """Write ``df`` as a TSV file headed by ``# key: value`` provenance lines, atomically.

    Parameters
    ----------
    df : DataFrame
        Written without its index.
    path : str or Path
    provenance : mapping
        E.g. software versions, config hash, seeds. Keys must be free of ``:`` and line
        breaks, values free of line breaks.
    """
    lines = []
    for key, value in provenance.items():
        key, value = str(key), str(value)
        if ":" in key or "\n" in key or "\r" in key or not key.strip():
            raise ValueError(f"provenance key {key!r} must be non-empty, without ':' or newline")
        if "\n" in value or "\r" in value:
            raise ValueError(f"provenance value for {key!r} contains a line break")
        lines.append(f"# {key}: {value}\n")
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            handle.writelines(lines)
            df.to_csv(handle, sep="\t", index=False, lineterminator="\n")
            handle.flush()
            os.fsync(handle.fileno())


def _provenance_lines(path) -> list[str]:
    lines = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.startswith("#"):
                break
            lines.append(line.rstrip("\n"))
    return lines


def read_table(path) -> pd.DataFrame:
    """Read a table written by :func:`write_table`, skipping its leading comment lines.

    Only the leading ``#`` lines are skipped, so a ``#`` inside a data field survives.
    """
    return pd.read_csv(path, sep="\t", skiprows=len(_provenance_lines(path)))


def read_provenance(path) -> dict[str, str]:
    """The ``# key: value`` provenance lines of a table written by :func:`write_table`."""
    out = {}
    for line in _provenance_lines(path):
        key, _, value = line[1:].strip().partition(":")
        out[key.strip()] = value.strip()
    return out
