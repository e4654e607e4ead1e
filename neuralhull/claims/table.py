"""The findings table: every claim of :mod:`neuralhull.claims.registry` tested on one
dataset's runs, at the claim's own unit, and how the verdicts move with the thresholds.

The data behind it (``evidence``): the ``models`` table (one row per run) and the per-image
scores of every run in every space (``subset``: (run, space) -> the hull's queries with
``index``, ``status``, ``correct`` and the measures).  Every run scores the same test
images; an image a run left undecided (the hull oracle gave no certificate) is left out of
that model's arrays, and the detail column counts such images.

Rows, claim by claim (units and intervals as :mod:`neuralhull.stats.intervals` explains):

1. fraction of test images inside the training hull: pixel space (one hull for every
   model: Wilson on the distinct images), and each model's last hidden layer (two-way
   bootstrap, images x seeds, t seed part); then "every model" (k of K, median, range).
2. intrinsic dimension / layer width, each model's seed mean, mean over models (t
   interval over models).
3. across the zoo (units: models, seed means): Spearman of accuracy and dimension (BCa
   interval, permutation p), the slope of dimension on accuracy (t interval over models;
   seeds enter through their means, the hierarchical estimate for models with equal
   seeds), the within-lever ordered trend per lever and combined over levers (exact or
   permutation Jonckheere-Terpstra on the levels' seed means, the stratified test), and
   Spearman with TwoNN as a cross-check.
4. fraction inside in each model's intrinsic space, as claim 1; "every model".
5. per space, hull measure (``outside_hull``, ``hull_distance``) and proximity family: the
   AUROC difference for detecting errors, the models the units, the images paired and
   resampled together (two-way bootstrap, t model part).  Models whose hull measure does not
   vary over the images are left out; no model left: ``not testable``.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping
from functools import reduce

import numpy as np
import pandas as pd
from scipy import stats as sps

from neuralhull.claims.registry import (
    CLAIMS,
    FAMILIES,
    HULL_MEASURES,
    PROXIMITY,
    SUMMARY_RULE,
    summary_verdict,
)
from neuralhull.measures import MEASURES, measure_values
from neuralhull.stats import intervals as iv
from neuralhull.stats.correlation import spearman_test
from neuralhull.stats.multiplicity import holm
from neuralhull.stats.trend import jonckheere_terpstra, stratified_trend_test

COLUMNS = [
    "claim_id",
    "claim",
    "source",
    "family",
    "role",
    "scope",
    "statistic",
    "value",
    "ci_low",
    "ci_high",
    "interval",
    "n",
    "unit",
    "threshold",
    "rule",
    "p_value",
    "p_holm",
    "verdict",
    "detail",
]

SPACE_NAMES = {
    "input": "pixel space",
    "activation": "last hidden layer",
    "intrinsic": "intrinsic space",
}


def _rng(seed: int, scope: str) -> np.random.Generator:
    """A generator of its own for every row: rows do not depend on each other's draws."""
    return np.random.default_rng([int(seed), zlib.crc32(scope.encode())])


def _runs(subset: Mapping, space: str) -> dict[str, list[pd.DataFrame]]:
    """model -> its runs' score frames in ``space``, in seed order."""
    by_model: dict[str, dict[int, pd.DataFrame]] = {}
    for (run, sp), frame in subset.items():
        if sp == space:
            model, _, seed = run.rpartition("/seed")
            by_model.setdefault(model, {})[int(seed)] = frame
    return {m: [runs[s] for s in sorted(runs)] for m, runs in sorted(by_model.items())}


def _aligned(frames: list[pd.DataFrame], columns: Mapping[str, Callable], images=None):
    """(name -> (S, n) array) on the images every run scored with finite values."""
    common = reduce(np.intersect1d, [f["index"].to_numpy() for f in frames])
    if images is not None:
        common = np.intersect1d(common, images)
    out = {}
    for name, get in columns.items():
        rows = []
        for f in frames:
            values = pd.Series(get(f), index=f["index"].to_numpy()).loc[common]
            rows.append(values.to_numpy(dtype=float))
        out[name] = np.stack(rows)
    keep = np.all([np.isfinite(a).all(axis=0) for a in out.values()], axis=0)
    return {k: a[:, keep] for k, a in out.items()}, common[keep], int((~keep).sum())


def _inside(frame: pd.DataFrame) -> np.ndarray:
    return 1.0 - measure_values(frame, "outside_hull")


def _oriented(measure: str) -> Callable:
    return lambda frame: MEASURES[measure] * measure_values(frame, measure)


def _is_error(frame: pd.DataFrame) -> np.ndarray:
    return (~frame["correct"].to_numpy(dtype=bool)).astype(float)


def _text(claim: int, family: str, role: str, scope: str) -> dict:
    """The columns of a row that name it: from the registry, never typed here."""
    return {
        "claim_id": claim,
        "claim": CLAIMS[claim].text,
        "source": CLAIMS[claim].source,
        "family": family,
        "role": role,
        "scope": scope,
    }


def _row(claim: int, family: str, scope: str, statistic: str, res, n, *, threshold, **extra):
    """A test row before its Holm adjustment and verdict."""
    p = extra.pop("p_value", None)
    if p is None:
        p = res.p_value(threshold) if isinstance(res, iv.Interval) else math.nan
    estimate = res.estimate if isinstance(res, iv.Interval) else float(res)
    low = res.low if isinstance(res, iv.Interval) else math.nan
    high = res.high if isinstance(res, iv.Interval) else math.nan
    return {
        **_text(claim, family, "test", scope),
        "statistic": statistic,
        "value": estimate,
        "ci_low": low,
        "ci_high": high,
        "interval": res.method if isinstance(res, iv.Interval) else extra.pop("interval", ""),
        "n": n,
        "unit": FAMILIES[family].unit,
        "threshold": threshold,
        "rule": CLAIMS[claim].rule(threshold, with_interval=isinstance(res, iv.Interval)),
        "p_value": p,
        "testable": extra.pop("testable", True),
        "detail": extra.pop("detail", ""),
    }


# ---------------------------------------------------------------------------------------------
# claims 1 and 4: where test samples sit


def _wilson(k: int, n: int) -> iv.Interval:
    low, high = iv.wilson_interval(k, n)
    return iv.Interval(k / n, low, high, 0.95, f"Wilson, {n} images", score_n=n)


def _inside_rows(claim, family, space, subset, settings, threshold, pixel=False):
    rows = []
    runs = _runs(subset, space)
    if pixel and runs:  # one hull for every model: any run's frame holds it
        frame = next(iter(runs.values()))[0]
        inside = _inside(frame)
        known = np.isfinite(inside)
        k, n = int(inside[known].sum()), int(known.sum())
        detail = f"{int((~known).sum())} undecided images left out" if (~known).any() else ""
        rows.append(
            _row(
                claim,
                family,
                "pixel space",
                "fraction of test images inside",
                _wilson(k, n),
                n,
                threshold=threshold,
                detail=detail,
            )
        )
        return rows
    for model, frames in runs.items():
        arrays, images, dropped = _aligned(frames, {"inside": _inside})
        y = arrays["inside"]
        scope = f"{SPACE_NAMES[space]}, {model}"
        component = "t" if y.shape[0] > 1 else "none"
        res = iv.model_mean_interval(
            y,
            rng=_rng(settings["seed"], scope),
            n_boot=int(settings["n_boot"]),
            unit_component=component,
        )
        detail = [f"{y.shape[0]} seeds x {y.shape[1]} images"]
        if dropped:
            detail.append(f"{dropped} images undecided in some seed, left out")
        if space == "intrinsic" and "dimension" in frames[0]:
            dims = sorted({int(d) for f in frames for d in f["dimension"].dropna()})
            detail.append(f"latent sizes {dims}")
        rows.append(
            _row(
                claim,
                family,
                scope,
                "fraction of test images inside (mean over seeds)",
                res,
                y.shape[1],
                threshold=threshold,
                detail="; ".join(detail),
            )
        )
    return rows


def _summary_row(claim, family, space, rows):
    """'every model': k of K supported, the median fraction and its range."""
    mine = [r for r in rows if r["family"] == family and r["scope"] != "pixel space"]
    if not mine:
        return None
    values = np.array([r["value"] for r in mine])
    counts = pd.Series([r["verdict"] for r in mine]).value_counts()
    words = ", ".join(f"{counts[v]} {v}" for v in counts.index)
    return {
        **_text(claim, family, "summary", f"{SPACE_NAMES[space]}, every model"),
        "statistic": "median over models of the fraction inside",
        "value": float(np.median(values)),
        "ci_low": math.nan,
        "ci_high": math.nan,
        "interval": "",
        "n": len(mine),
        "unit": "models",
        "threshold": mine[0]["threshold"],
        "rule": SUMMARY_RULE,
        "p_value": math.nan,
        "p_holm": math.nan,
        "verdict": summary_verdict([r["verdict"] for r in mine]),
        "detail": f"{words} of {len(mine)} models; range {values.min():.3g} to {values.max():.3g}",
    }


# ---------------------------------------------------------------------------------------------
# claims 2 and 3: the intrinsic dimension across models


def dimension_column(models: pd.DataFrame, threshold: float | None = None) -> str:
    """The primary estimator: the autoencoder dimension, its continuous version (where the
    held-out R^2 curve crosses the threshold) when the runs recorded it."""
    suffix = "" if threshold is None else f"_r2_{threshold:g}"
    for name in (f"latent_dim_continuous{suffix}", f"latent_dim{suffix}"):
        if name in models and models[name].notna().any():
            return name
    raise ValueError(f"models table has no intrinsic dimension column for R2 {threshold}")


def _model_means(models: pd.DataFrame, column: str) -> pd.DataFrame:
    keep = models.dropna(subset=[column, "test_accuracy"])
    return (
        keep.assign(ratio=keep[column] / keep["width"])
        .groupby("model", sort=True)
        .agg(
            accuracy=("test_accuracy", "mean"),
            dimension=(column, "mean"),
            ratio=("ratio", "mean"),
            seeds=("seed", "count"),
        )
    )


def _ratio_row(models, column, settings):
    means = _model_means(models, column)
    threshold = CLAIMS[2].threshold_value(settings)
    scope = "intrinsic dimension / width, mean over models"
    if len(means) < 2:
        return _row(
            2,
            "2: zoo",
            scope,
            "dimension / width",
            math.nan,
            len(means),
            threshold=threshold,
            testable=False,
            detail="fewer than 2 models",
        )
    res = iv.t_interval(means["ratio"].to_numpy())
    return _row(
        2,
        "2: zoo",
        scope,
        f"{column} / width (seed means), mean over models",
        res,
        len(means),
        threshold=threshold,
        detail=f"range over models {means['ratio'].min():.3g} to {means['ratio'].max():.3g}",
    )


def _spearman_rows(x, y, axis=-1) -> np.ndarray:
    """Spearman's rho along ``axis`` (vectorised, as scipy's bootstrap calls it)."""
    x, y = np.moveaxis(x, axis, -1), np.moveaxis(y, axis, -1)
    rx, ry = sps.rankdata(x, axis=-1), sps.rankdata(y, axis=-1)
    rx = rx - rx.mean(axis=-1, keepdims=True)
    ry = ry - ry.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ry).sum(-1) / np.sqrt((rx * rx).sum(-1) * (ry * ry).sum(-1))


def _spearman_interval(x, y, rho, rng, settings) -> iv.Interval:
    """BCa bootstrap over the models; where BCa is undefined (resamples of tied
    dimensions give no rho), Fieller, Hartley & Pearson's interval, tanh(atanh(rho) -/+
    1.96 sqrt(1.06 / (n - 3)))."""
    bca = iv.bca_interval(
        (x, y), _spearman_rows, rng=rng, n_resamples=int(settings["n_boot"]), paired=True
    )
    if np.isfinite(bca.low) and np.isfinite(bca.high):
        return iv.Interval(
            rho, bca.low, bca.high, 0.95, f"BCa bootstrap over {len(x)} models", bca.n_boot
        )
    n = len(x)
    if n <= 3 or abs(rho) == 1.0:
        return iv.Interval(rho, math.nan, math.nan, 0.95, "none: too few models or |rho| = 1")
    half = float(sps.norm.ppf(0.975)) * math.sqrt(1.06 / (n - 3))
    z = math.atanh(rho)
    return iv.Interval(
        rho,
        math.tanh(z - half),
        math.tanh(z + half),
        0.95,
        f"Fieller-Hartley-Pearson, {n} models (BCa undefined: tied resamples)",
    )


def _spearman_row(family, scope, label, means, settings):
    if len(means) < 3 or means["dimension"].nunique() < 2:
        return _row(
            3,
            family,
            scope,
            label,
            math.nan,
            len(means),
            threshold=0.0,
            testable=False,
            detail="fewer than 3 models, or one dimension for all",
        )
    x, y = means["accuracy"].to_numpy(), means["dimension"].to_numpy()
    test = spearman_test(
        x, y, n_boot=10, n_perm=int(settings["n_perm"]), seed=int(settings["seed"])
    )
    res = _spearman_interval(x, y, test["statistic"], _rng(settings["seed"], scope), settings)
    return _row(
        3,
        family,
        scope,
        label,
        res,
        len(x),
        threshold=0.0,
        p_value=test["p_value"],
        detail=f"permutation p ({test['permutation']}, {test['n_permutations']})",
    )


def _slope_row(means):
    scope = "slope of dimension on accuracy across models"
    k = len(means)
    if k < 3:
        return _row(
            3,
            "3: secondary",
            scope,
            "slope",
            math.nan,
            k,
            threshold=0.0,
            testable=False,
            detail="fewer than 3 models",
        )
    fit = sps.linregress(means["accuracy"].to_numpy(), means["dimension"].to_numpy())
    df = k - 2
    half = float(sps.t.ppf(0.975, df)) * fit.stderr
    res = iv.Interval(
        float(fit.slope),
        fit.slope - half,
        fit.slope + half,
        0.95,
        f"t interval, least squares over {k} models",
        se=float(fit.stderr),
        df=float(df),
    )
    return _row(
        3,
        "3: secondary",
        scope,
        "dimension per unit of accuracy (seed means)",
        res,
        k,
        threshold=0.0,
        detail="seeds enter through each model's mean",
    )


def _lever_rows(means, levers, settings):
    """Per lever (models listed from the expected worst to the best): the ordered trend of
    the dimension, if the lever ordered the models by accuracy; then all levers combined."""
    rows, usable = [], []
    for lever, order in (levers or {}).items():
        row, ordered = _lever_row(lever, order, means, settings)
        rows.append(row)
        if ordered is not None:
            usable.append(ordered)
    rows.append(_combined_lever_row(usable, settings))
    return rows


def _lever_row(lever, order, means, settings):
    """One lever's trend row, and ``(models, dimensions)`` for the combined test when its
    models are ordered by accuracy as declared (else None)."""
    names = [m for m in order if m in means.index]
    scope = f"lever {lever}: {' < '.join(names)}"
    statistic = "Kendall tau of dimension along the lever"
    if len(names) < 3:
        detail = "fewer than 3 models with a dimension"
        row = _row(
            3,
            "3: levers",
            scope,
            statistic,
            math.nan,
            len(names),
            threshold=0.0,
            testable=False,
            detail=detail,
        )
        return row, None
    part = means.loc[names]
    rng = _rng(settings["seed"], scope)
    acc = jonckheere_terpstra(
        [[v] for v in part["accuracy"]],
        alternative="increasing",
        n_resamples=int(settings["n_perm"]),
        rng=rng,
    )
    dim = jonckheere_terpstra(
        [[v] for v in part["dimension"]],
        alternative="two-sided",
        n_resamples=int(settings["n_perm"]),
        rng=rng,
    )
    pairs = len(names) * (len(names) - 1) / 2
    tau = 2.0 * dim.statistic / pairs - 1.0
    tau_acc = 2.0 * acc.statistic / pairs - 1.0
    ordered = acc.p_value < 0.05
    detail = (
        f"accuracy along the lever: tau {tau_acc:.2f}, one-sided p {acc.p_value:.3g}"
        f"{'' if ordered else ' (not ordered by accuracy as declared)'}; "
        f"dimension {', '.join(f'{v:.3g}' for v in part['dimension'])}; {dim.method} test"
    )
    row = _row(
        3,
        "3: levers",
        scope,
        statistic,
        tau,
        len(names),
        threshold=0.0,
        p_value=dim.p_value,
        testable=ordered,
        detail=detail,
        interval="",
    )
    return row, ((names, list(part["dimension"])) if ordered else None)


def _combined_lever_row(usable, settings):
    """The stratified trend test over the levers ordered by accuracy (``usable``: their
    ``(models, dimensions)``)."""
    scope = "levers combined (stratified trend)"
    statistic = "combined z of the levers' trends"
    if not usable:
        detail = "no lever of 3 or more models ordered by accuracy"
        return _row(
            3,
            "3: secondary",
            scope,
            statistic,
            math.nan,
            0,
            threshold=0.0,
            testable=False,
            detail=detail,
        )
    # a model in several levers (the reference) puts the same values into each: its
    # level stays in place in the null, which keeps the combined test at its level
    counts = pd.Series([m for names, _ in usable for m in names]).value_counts()
    held = [[i for i, m in enumerate(names) if counts[m] > 1] for names, _ in usable]
    res = stratified_trend_test(
        [[[v] for v in dims] for _, dims in usable],
        alternative="two-sided",
        n_resamples=int(settings["n_perm"]),
        rng=_rng(settings["seed"], scope),
        held=held,
    )
    return _row(
        3,
        "3: secondary",
        scope,
        statistic,
        res.statistic,
        len(counts),
        threshold=0.0,
        p_value=res.p_value,
        detail=f"{len(usable)} levers ordered by accuracy; {res.method} test, models "
        "shared by levers held in place",
    )


# ---------------------------------------------------------------------------------------------
# claim 5: proximity against hull membership


def _proximity_rows(subset, settings):
    rows = []
    for kind in ("input", "activation", "intrinsic"):
        runs = _runs(subset, kind)
        if not runs:
            continue
        for hull_measure in HULL_MEASURES:
            for family_name, measure in PROXIMITY.items():
                rows.append(
                    _proximity_row(runs, kind, hull_measure, family_name, measure, settings)
                )
    return rows


def _proximity_row(runs, kind, hull_measure, family_name, measure, settings):
    scope = f"{SPACE_NAMES[kind]}, {family_name} vs {hull_measure}"
    label = f"AUROC({measure}) - AUROC({hull_measure}), mean over models"
    columns = {"a": _oriented(measure), "b": _oriented(hull_measure), "err": _is_error}
    per_model = {m: _aligned(frames, columns) for m, frames in runs.items()}
    images = reduce(np.intersect1d, [im for _, im, _ in per_model.values()])
    kept, constant, no_errors = {}, [], []
    for model, frames in runs.items():
        arrays = _aligned(frames, columns, images)[0]
        if any(np.ptp(row) == 0 for row in arrays["b"]):
            constant.append(model)
        elif any(row.min() == row.max() for row in arrays["err"]):
            no_errors.append(model)
        else:
            kept[model] = arrays
    notes = []
    if constant:
        notes.append(
            f"{hull_measure} constant over the images in {len(constant)} models "
            f"({', '.join(constant)})"
        )
    if no_errors:
        notes.append(f"no error (or no correct image) in a seed of {', '.join(no_errors)}")
    if len(kept) < 2:
        return _row(
            5,
            "5: zoo",
            scope,
            label,
            math.nan,
            len(kept),
            threshold=0.0,
            testable=False,
            detail="; ".join(notes + ["fewer than 2 models left"]),
        )
    res = iv.zoo_auroc_difference_interval(
        [a["a"] for a in kept.values()],
        [a["b"] for a in kept.values()],
        [a["err"] for a in kept.values()],
        rng=_rng(settings["seed"], scope),
        n_boot=int(settings["n_boot"]),
    )
    notes.insert(0, f"{len(kept)} of {len(runs)} models, {len(images)} images")
    return _row(5, "5: zoo", scope, label, res, len(kept), threshold=0.0, detail="; ".join(notes))


# ---------------------------------------------------------------------------------------------
# the table


def _finish(rows: list[dict]) -> list[dict]:
    """Holm within each family, then every test row's verdict by its claim's rule."""
    frame = pd.DataFrame(rows)
    frame["p_holm"] = math.nan
    for _, idx in frame.groupby("family", sort=False).groups.items():
        p = frame.loc[idx, "p_value"].where(frame.loc[idx, "testable"])
        frame.loc[idx, "p_holm"] = holm(p.to_numpy(dtype=float))
    out = []
    for row in frame.to_dict("records"):
        row["verdict"] = CLAIMS[row["claim_id"]].verdict(row)
        out.append(row)
    return out


def claim_rows(models, subset, settings, levers=None, *, claims=(1, 2, 3, 4, 5), dimension=None):
    """The test and summary rows of the claims in ``claims`` (see the module docstring).
    Every row draws from its own generator and every family lies within one claim, so
    leaving claims out changes no other row."""
    column = dimension or dimension_column(models)
    threshold = {c: CLAIMS[c].threshold_value(settings) for c in (1, 4)}
    rows = []
    if 1 in claims:
        rows += _inside_rows(1, "1: per model", "input", subset, settings, threshold[1], pixel=True)
        rows += _inside_rows(1, "1: per model", "activation", subset, settings, threshold[1])
    if 2 in claims:
        rows.append(_ratio_row(models, column, settings))
    if 3 in claims:
        means = _model_means(models, column)
        label = f"Spearman of accuracy and {column} across models"
        rows.append(
            _spearman_row("3: primary", "across the zoo (autoencoder)", label, means, settings)
        )
        rows.append(_slope_row(means))
        rows += _lever_rows(means, levers, settings)
        if "twonn" in models:
            twonn = _model_means(models.assign(width=1.0), "twonn")
            rows.append(
                _spearman_row(
                    "3: TwoNN cross-check",
                    "across the zoo (TwoNN)",
                    "Spearman of accuracy and TwoNN across models",
                    twonn,
                    settings,
                )
            )
    if 4 in claims:
        rows += _inside_rows(4, "4: per model", "intrinsic", subset, settings, threshold[4])
    if 5 in claims:
        rows += _proximity_rows(subset, settings)
    rows = _finish(rows)
    for claim, family, space in (
        (1, "1: per model", "activation"),
        (4, "4: per model", "intrinsic"),
    ):
        if claim not in claims:
            continue
        summary = _summary_row(claim, family, space, rows)
        if summary is not None:
            last = max(i for i, r in enumerate(rows) if r["family"] == family)
            rows.insert(last + 1, summary)
    return rows


def findings_table(models, subset, settings, levers=None) -> pd.DataFrame:
    """One row per claim and scope (``COLUMNS``), in claim order."""
    rows = claim_rows(models, subset, settings, levers)
    table = pd.DataFrame(rows)
    table = table.sort_values("claim_id", kind="stable")
    return table[COLUMNS].reset_index(drop=True)


def sensitivity_table(models, subset, settings, levers, r2_thresholds, findings) -> pd.DataFrame:
    """How the verdicts of claims 1 to 3 move with the thresholds: 'almost none' at 0.05
    and 0.10, and the intrinsic dimension read at each reported R^2 threshold (claims 2
    and 3; the hull was scored at the configured threshold's dimension only, so claim 4
    is not recomputed). ``findings``: the findings table at the configured settings."""
    base = {(r["scope"], r["family"]): r["verdict"] for r in findings.to_dict("records")}
    variants = []
    for value in sorted({float(settings["almost_none"]), 0.05, 0.10}):
        variants.append(
            ("findings.almost_none", value, {**settings, "almost_none": value}, None, {1})
        )
    for t in sorted(r2_thresholds):
        try:
            column = dimension_column(models, t)
        except ValueError:
            continue
        variants.append(("autoencoder.r2_threshold", t, settings, column, {2, 3}))
    out = []
    for setting, value, changed, column, claims in variants:
        for row in claim_rows(models, subset, changed, levers, claims=claims, dimension=column):
            ref = base.get((row["scope"], row["family"]), "")
            out.append(
                {
                    "claim_id": row["claim_id"],
                    "scope": row["scope"],
                    "setting": setting,
                    "value_of_setting": value,
                    "statistic": row["statistic"],
                    "value": row["value"],
                    "ci_low": row["ci_low"],
                    "ci_high": row["ci_high"],
                    "p_holm": row["p_holm"],
                    "verdict": row["verdict"],
                    "verdict_as_configured": ref,
                }
            )
    return pd.DataFrame(out)
