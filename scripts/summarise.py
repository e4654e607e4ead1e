"""summarise: per-dataset tables relating hull membership and proximity to test errors."""

import json
import os

import pandas as pd

from neuralhull.analysis import (
    MEASURES,
    decile_table,
    hull_table,
    measures_table,
    write_table,
)
from neuralhull.io import load_json
from neuralhull.provenance import job_log, merge_versions, software_versions
from neuralhull.proximity import prediction_agreement
from neuralhull.spaces import parse_space

log = job_log(snakemake.log[0])
inp, out = snakemake.input, snakemake.output
dataset = snakemake.wildcards.dataset
# Versions of every environment that shaped the tables: this job's, and those the training,
# hull and proximity jobs recorded in their outputs (their envs differ under --sdm conda).
recorded_versions = [software_versions()]


def model_of(path):
    """results/{dataset}/{model}/... -> model"""
    return path.split(os.sep)[2]


def read_scored(path):
    header = {}
    with open(path) as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            key, _, value = line[1:].partition(":")
            header[key.strip()] = value.strip()
    return header, pd.read_csv(path, sep="\t", comment="#")


# -- models and latent tables ----------------------------------------------------------
models, latent = [], []
for metrics_path, intrinsic_path in zip(inp.models, inp.intrinsic, strict=True):
    model = model_of(metrics_path)
    metrics, intrinsic = load_json(metrics_path), load_json(intrinsic_path)
    recorded_versions.append(metrics.get("software", {}))
    models.append(
        {
            "model": model,
            "arch": metrics["spec"]["arch"],
            "width": metrics["spec"]["width"],
            "epochs": metrics["train"]["epochs"],
            "label_noise": metrics["train"]["label_noise"],
            "seed": metrics["train"]["seed"],
            "train_accuracy": metrics["final_train_accuracy"],
            "test_accuracy": metrics["final_test_accuracy"],
            "latent_dim": intrinsic["chosen_latent_size"],
            "threshold_reached": intrinsic["threshold_reached"],
            "twonn": intrinsic["twonn"],
        }
    )
    for size, r2 in zip(intrinsic["latent_sizes"], intrinsic["r2_validation"], strict=True):
        fit = load_json(
            os.path.join(os.path.dirname(metrics_path), "latent", str(size), "fit.json")
        )
        latent.append(
            {
                "model": model,
                "latent_size": size,
                "r2": r2,
                "mse": fit["mse_validation"],
                "r2_test": fit["r2_test"],
                "mse_test": fit["mse_test"],
                "chosen": size == intrinsic["chosen_latent_size"],
            }
        )
models = pd.DataFrame(models)
latent = pd.DataFrame(
    latent, columns=["model", "latent_size", "r2", "mse", "r2_test", "mse_test", "chosen"]
)

# -- per-sample scores per (model, space) ----------------------------------------------
predictions = {model_of(p): pd.read_csv(p, sep="\t") for p in inp.predictions}
hull_files = {}
for path in inp.hull:
    header, table = read_scored(path)
    hull_files[(model_of(path), header["space"])] = (header, table)
    recorded_versions.append(json.loads(header.get("software", "{}")))
proximity_files = {}
for path in inp.proximity:
    header, table = read_scored(path)
    proximity_files[(model_of(path), header["space"])] = (header, table)
    recorded_versions.append(json.loads(header.get("software", "{}")))
provenance = {**merge_versions(recorded_versions), **snakemake.params.provenance}
subset_frames, full_frames, spaces = {}, {}, []
for model, pred in predictions.items():
    for (owner, space), (prox_header, prox) in proximity_files.items():
        if owner not in (model, "input"):
            continue
        if owner == "input":  # pixel spaces are shared: add this model's agreement here
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
        subset_frames[(model, space)] = full[queried].reset_index(drop=True)
        # Samples outside the hull subsample carry proximity measures only; their status is
        # never counted (hull_table reads the subset frames alone).
        full_frames[(model, space)] = full.assign(status=full["status"].fillna("undecided"))
        spaces.append(
            {
                "model": model,
                "space": space,
                "kind": parse_space(space)[0],
                "dimension": int(hull_header["dimension"]),
            }
        )
        log(f"{model} / {space}: {int(queried.sum())} hull queries, {len(full)} proximity rows")
spaces = pd.DataFrame(spaces)

hull = hull_table(subset_frames, spaces)
n_boot, seed = snakemake.params.n_boot, snakemake.params.seed
hull_measures = {m: MEASURES[m] for m in ("outside_hull", "hull_distance")}
near_measures = {m: o for m, o in MEASURES.items() if m not in hull_measures}
measures = pd.concat(
    [
        measures_table(subset_frames, measures=hull_measures, n_boot=n_boot, seed=seed),
        measures_table(full_frames, measures=near_measures, n_boot=n_boot, seed=seed),
    ],
    ignore_index=True,
).sort_values(["model", "space", "measure"], kind="stable")
deciles = pd.concat(
    [
        decile_table(subset_frames, measures={"hull_distance": 1}),
        decile_table(full_frames, measures=near_measures),
    ],
    ignore_index=True,
).sort_values(["model", "space", "measure", "bin"], kind="stable")

for name, df in [
    ("models", models),
    ("latent", latent),
    ("hull", hull),
    ("measures", measures),
    ("deciles", deciles),
]:
    write_table(df, getattr(out, name), {"table": name, "dataset": dataset, **provenance})
log("tables written:\n" + hull.to_string() + "\n" + json.dumps(models.to_dict("records")))
