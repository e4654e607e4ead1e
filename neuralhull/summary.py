"""The per-dataset summary: every run's files -> the tables of ``results/{dataset}/summary/``.

A *run* is one model trained with one seed; its files live under
``results/{dataset}/{model}/seed{seed}/``. The tables:

``models``   one row per run: the model's settings, accuracies, intrinsic dimension (at the
             configured R^2 threshold and at the reported ones) and TwoNN;
``zoo``      one row per model: mean, standard deviation, minimum and maximum over its
             seeds of accuracy, intrinsic dimension, TwoNN and fraction inside per space;
``latent``   one row per run and latent size: held-out reconstruction;
``hull``     one row per run and space: inside / outside counts with a Wilson interval;
``measures`` one row per run, space and measure: AUROC for detecting errors;
``deciles``  accuracy within risk bins of every measure;
``findings`` one row per claim of the papers (:func:`findings_table`).

The script ``workflow/scripts/summarise.py`` only reads the Snakemake object and calls
:func:`build_tables`.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from neuralhull.claims.table import findings_table, sensitivity_table
from neuralhull.config_checks import lever_of
from neuralhull.io import load_json, read_provenance, read_table
from neuralhull.measures import (
    MEASURES,
    decile_table,
    hull_table,
    measures_table,
)
from neuralhull.proximity import prediction_agreement
from neuralhull.spaces import parse_space
from neuralhull.stats.intervals import wilson_interval

#: Space kinds summarised per model in the zoo table.
FINDING_KINDS = ("input", "activation", "intrinsic")
#: Settings of the findings when the config leaves them out (the schema's defaults).
FINDINGS_DEFAULTS = {"almost_none": 0.05, "most": 0.5, "low_dimensional": 0.5, "seed": 0}


def run_of(path: str) -> tuple[str, int]:
    """``results/{dataset}/{model}/seed{s}/...`` -> ``(model, s)``."""
    parts = os.path.normpath(path).split(os.sep)
    i = parts.index("results")
    model, seed = parts[i + 2], parts[i + 3]
    if not seed.startswith("seed"):
        raise ValueError(f"{path}: expected results/<dataset>/<model>/seed<s>/...")
    return model, int(seed.removeprefix("seed"))


def run_key(model: str, seed: int) -> str:
    """The name a run carries in the per-(run, space) score mappings."""
    return f"{model}/seed{seed}"


def split_run_column(df: pd.DataFrame) -> pd.DataFrame:
    """Replace a ``model`` column of run keys (``mlp/seed0``) by ``model`` and ``seed``."""
    if df.empty:
        return df.assign(seed=pd.Series(dtype=int))[["model", "seed", *df.columns[1:]]]
    parts = df["model"].str.rsplit("/seed", n=1, expand=True)
    out = df.drop(columns=["model"])
    out.insert(0, "seed", parts[1].astype(int))
    out.insert(0, "model", parts[0])
    return out


# ---------------------------------------------------------------------------------------------
# models and latent tables


def run_tables(
    metrics_paths: Sequence[str],
    intrinsic_paths: Sequence[str],
    thresholds: Sequence[float],
    levers: Mapping[str, Sequence[str]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, list[dict]]:
    """The ``models`` and ``latent`` tables, and the software versions the runs recorded.

    ``levers``: lever -> its models, worst to best; the ``lever`` column names a model's
    lever, ``reference`` for a model in several, empty for one in none.
    """
    lever = lever_of(levers or {})
    models, latent, versions = [], [], []
    for metrics_path, intrinsic_path in zip(metrics_paths, intrinsic_paths, strict=True):
        model, seed = run_of(metrics_path)
        metrics, intrinsic = load_json(metrics_path), load_json(intrinsic_path)
        versions.append(metrics.get("software", {}))
        spec, train = metrics["spec"], metrics["train"]
        by_threshold = intrinsic.get("by_threshold", {})
        row = {
            "model": model,
            "seed": seed,
            "lever": lever.get(model, ""),
            "arch": spec["arch"],
            "width": spec["width"],
            "depth": spec["depth"],
            "epochs": None if train.get("steps") else train["epochs"],
            "steps": train.get("steps"),
            "label_noise": train["label_noise"],
            "train_accuracy": metrics["final_train_accuracy"],
            "test_accuracy": metrics["final_test_accuracy"],
            "latent_dim": intrinsic["chosen_latent_size"],
            "threshold_reached": intrinsic["threshold_reached"],
        }
        for t in thresholds:
            row[f"latent_dim_r2_{t:g}"] = by_threshold.get(str(t), {}).get("size")
        row["latent_dim_continuous"] = intrinsic.get("continuous_latent_size")
        for t in thresholds:
            row[f"latent_dim_continuous_r2_{t:g}"] = by_threshold.get(str(t), {}).get("continuous")
        row["twonn"] = intrinsic["twonn"]
        row["twonn_low"] = intrinsic.get("twonn_low")
        row["twonn_high"] = intrinsic.get("twonn_high")
        models.append(row)
        sizes = intrinsic["latent_sizes"]
        for i, size in enumerate(sizes):
            entry = {
                "model": model,
                "seed": seed,
                "latent_size": size,
                "r2": intrinsic["r2_validation"][i],
                "mse": intrinsic["mse_validation"][i],
                "r2_test": intrinsic["r2_test"][i],
                "mse_test": intrinsic["mse_test"][i],
                "chosen": size == intrinsic["chosen_latent_size"],
            }
            for t in thresholds:
                entry[f"chosen_r2_{t:g}"] = size == by_threshold.get(str(t), {}).get("size")
            latent.append(entry)
    latent_columns = ["model", "seed", "latent_size", "r2", "mse", "r2_test", "mse_test"]
    latent_columns += ["chosen"] + [f"chosen_r2_{t:g}" for t in thresholds]
    return pd.DataFrame(models), pd.DataFrame(latent, columns=latent_columns), versions


# ---------------------------------------------------------------------------------------------
# per-sample frames


def score_frames(
    predictions: Mapping[str, pd.DataFrame],
    hull_files: Mapping[tuple[str, str], tuple[dict, pd.DataFrame]],
    proximity_files: Mapping[tuple[str, str], tuple[dict, pd.DataFrame]],
    log: Callable[[str], None] = print,
) -> tuple[dict, dict, pd.DataFrame]:
    """Join every run's predictions with its spaces' hull and proximity scores.

    Parameters
    ----------
    predictions : run key -> per-test-sample ``index``, ``prediction``, ``correct``.
    hull_files, proximity_files : (owner, space) -> (header, table); owner is a run key, or
        ``"input"`` for the pixel spaces every run of the dataset shares.

    Returns
    -------
    subset : (run, space) -> the hull's query subsample, with every measure;
    full : (run, space) -> every test sample, proximity measures (status ``undecided``
        where the hull was not queried: never counted);
    spaces : one row per (run, space): model, space, kind, dimension.
    """
    subset, full_frames, spaces = {}, {}, []
    for run, pred in predictions.items():
        for (owner, space), (prox_header, prox) in proximity_files.items():
            if owner not in (run, "input"):
                continue
            if owner == "input":  # pixel spaces are shared: add this run's agreement here
                label_columns = [c for c in prox.columns if c.startswith("nn_label_")]
                by_index = pred.set_index("index")["prediction"]
                prox = prox.drop(columns=label_columns).assign(
                    knn_pred_agreement=prediction_agreement(
                        prox[label_columns].to_numpy(), by_index.loc[prox["index"]].to_numpy()
                    )
                )
            hull_header, hull = hull_files[(owner, space)]
            # Hull distances in the unit of the proximity distances (the space's median
            # train-to-train nearest-neighbour distance), so that spaces compare.
            unit = float(prox_header["distance_unit"])
            distance_columns = ["hull_distance", "hull_distance_lower", "hull_distance_upper"]
            hull = hull.assign(**{c: hull[c] / unit for c in distance_columns if c in hull})
            full = pred[["index", "correct"]].merge(prox, on="index", validate="one_to_one")
            full = full.merge(hull, on="index", how="left", validate="one_to_one")
            queried = full["status"].notna()
            subset[(run, space)] = full[queried].reset_index(drop=True)
            full_frames[(run, space)] = full.assign(status=full["status"].fillna("undecided"))
            spaces.append(
                {
                    "model": run,
                    "space": space,
                    "kind": parse_space(space)[0],
                    "dimension": int(hull_header["dimension"]),
                }
            )
            log(f"{run} / {space}: {int(queried.sum())} hull queries, {len(full)} rows")
    return subset, full_frames, pd.DataFrame(spaces)


def with_wilson(hull: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """``hull`` with the Wilson interval of each row's fraction inside."""
    bounds = [
        wilson_interval(int(i), int(i + o), level)
        for i, o in zip(hull["inside"], hull["outside"], strict=True)
    ]
    pos = hull.columns.get_loc("fraction_inside") + 1
    out = hull.copy()
    out.insert(pos, "fraction_inside_high", [b[1] for b in bounds])
    out.insert(pos, "fraction_inside_low", [b[0] for b in bounds])
    return out


# ---------------------------------------------------------------------------------------------
# the zoo: mean and spread over seeds


def _spread(values: pd.Series) -> dict:
    v = pd.to_numeric(values, errors="coerce").astype(float)
    return {
        "mean": v.mean(),
        "sd": v.std(ddof=1) if v.notna().sum() > 1 else np.nan,
        "min": v.min(),
        "max": v.max(),
    }


#: AUROCs summarised per model in the zoo table: hull membership and the nearest distance.
ZOO_MEASURES = ("outside_hull", "nn_distance")


def zoo_table(
    models: pd.DataFrame, hull: pd.DataFrame, measures: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per model: mean, sd, min and max over its seeds of the per-run numbers.

    ``hull`` is the hull table (columns model, seed, kind, space, fraction_inside); the
    fraction inside is summarised for the spaces ``input``, ``activation`` and ``intrinsic``,
    and so is the AUROC (``measures``: model, seed, space, measure, auroc) of
    :data:`ZOO_MEASURES` for detecting errors there.
    """
    rows = []
    fractions = hull[hull["space"].isin(FINDING_KINDS)]
    for model, group in models.groupby("model", sort=False):
        first = group.iloc[0]
        row = {
            "model": model,
            "lever": first["lever"],
            "arch": first["arch"],
            "width": first["width"],
            "epochs": first["epochs"],
            "steps": first["steps"],
            "label_noise": first["label_noise"],
            "seeds": len(group),
        }
        for column in ("test_accuracy", "latent_dim", "twonn"):
            for stat, value in _spread(group[column]).items():
                row[f"{column}_{stat}"] = value
        for space in FINDING_KINDS:
            mine = fractions[(fractions["model"] == model) & (fractions["space"] == space)]
            if space == "input":  # shared by every model: one value
                mine = fractions[fractions["space"] == space].drop_duplicates("space")
            for stat, value in _spread(mine["fraction_inside"]).items():
                row[f"inside_{space}_{stat}"] = value
        for space, measure in itertools.product(FINDING_KINDS, ZOO_MEASURES):
            if measures is None:
                break
            mine = measures[
                (measures["model"] == model)
                & (measures["space"] == space)
                & (measures["measure"] == measure)
            ]
            spread = _spread(mine["auroc"])
            row[f"auroc_{measure}_{space}_mean"] = spread["mean"]
            row[f"auroc_{measure}_{space}_sd"] = spread["sd"]
        rows.append(row)
    return pd.DataFrame(rows).sort_values("test_accuracy_mean", kind="stable")


# ---------------------------------------------------------------------------------------------
# everything at once


def build_tables(inputs, params: Mapping, log: Callable[[str], None] = print):
    """All summary tables of a dataset from the workflow's files.

    ``inputs``: attributes (or keys) models, intrinsic, predictions, hull, proximity: lists of
    paths. ``params``: interval (``delong`` or ``bootstrap``), n_boot, seed (AUROC
    intervals of the measures table), thresholds (reported R^2 thresholds),
    findings (settings of :func:`findings_table`), levers (lever -> its models, worst to
    best, optional).

    Returns ``(tables, versions)``: table name -> DataFrame, and the software versions the
    runs recorded.
    """

    def get(name):
        return inputs[name] if isinstance(inputs, Mapping) else getattr(inputs, name)

    models, latent, versions = run_tables(
        get("models"), get("intrinsic"), params["thresholds"], params.get("levers")
    )
    predictions = {}
    for path in get("predictions"):
        predictions[run_key(*run_of(path))] = pd.read_csv(path, sep="\t")
    hull_files, proximity_files = {}, {}
    for paths, files in ((get("hull"), hull_files), (get("proximity"), proximity_files)):
        for path in paths:
            header, table = read_provenance(path), read_table(path)
            owner = "input" if f"{os.sep}input{os.sep}" in path else run_key(*run_of(path))
            files[(owner, header["space"])] = (header, table)
            versions.append(json.loads(header.get("software", "{}")))
    subset, full, spaces = score_frames(predictions, hull_files, proximity_files, log)

    hull = split_run_column(with_wilson(hull_table(subset, spaces)))
    interval = {
        "n_boot": params["n_boot"],
        "seed": params["seed"],
        "interval": params.get("interval", "bootstrap"),
    }
    hull_measures = {m: MEASURES[m] for m in ("outside_hull", "hull_distance")}
    near_measures = {m: o for m, o in MEASURES.items() if m not in hull_measures}
    measures = pd.concat(
        [
            measures_table(subset, measures=hull_measures, **interval),
            measures_table(full, measures=near_measures, **interval),
        ],
        ignore_index=True,
    )
    measures = split_run_column(measures).sort_values(
        ["model", "seed", "space", "measure"], kind="stable"
    )
    deciles = pd.concat(
        [
            decile_table(subset, measures={"hull_distance": 1}),
            decile_table(full, measures=near_measures),
        ],
        ignore_index=True,
    )
    deciles = split_run_column(deciles).sort_values(
        ["model", "seed", "space", "measure", "bin"], kind="stable"
    )
    findings_settings = {**FINDINGS_DEFAULTS, **params["findings"]}
    # lever -> its models, worst to best (the summarise rule passes the dataset's levers)
    ordered = {name: list(models) for name, models in (params.get("levers") or {}).items()}
    findings = findings_table(models, subset, findings_settings, ordered)
    log(f"findings: {len(findings)} rows, verdicts {findings['verdict'].value_counts().to_dict()}")
    sensitivity = sensitivity_table(
        models, subset, findings_settings, ordered, params["thresholds"], findings
    )
    zoo = zoo_table(models, hull, measures)
    tables = {
        "findings": findings,
        "sensitivity": sensitivity,
        "zoo": zoo,
        "models": models,
        "latent": latent,
        "hull": hull,
        "measures": measures,
        "deciles": deciles,
    }
    return tables, versions
