"""proximity: nearest-neighbour distances and label agreement of every test sample, in a
model's space, or in a pixel space shared by every model of the dataset."""

import json

import numpy as np

from neuralhull.datasets import load
from neuralhull.io import atomic_path
from neuralhull.provenance import job_log, progress_logger, software_versions
from neuralhull.proximity import distance_scale, proximity_scores
from neuralhull.spaces import load_space

log = job_log(snakemake.log[0])
space = snakemake.wildcards.get("space") or snakemake.wildcards.input_space
k = snakemake.params.k
train, test = load_space(space, **dict(snakemake.input.items()))
if "activations" in snakemake.input.keys():
    with np.load(snakemake.input.activations) as f:
        y_train, y_test, pred_test = f["y_train"], f["y_test"], f["pred_test"]
else:  # pixel space: model-free; each model's prediction agreement comes from nn_label_*
    ds = load(snakemake.input.data)
    y_train, y_test, pred_test = ds.y_train, ds.y_test, None
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
    neighbour_labels=pred_test is None,
    progress=progress_logger(log, "nearest-neighbour queries"),
)
table.insert(0, "index", np.arange(len(test)))
with atomic_path(snakemake.output[0]) as tmp, open(tmp, "w") as fh:
    fh.write(f"# space: {space}\n# dimension: {train.shape[1]}\n# k: {k}\n")
    fh.write(f"# distance_unit: {scale!r}\n")
    fh.write(f"# software: {json.dumps(software_versions(), sort_keys=True)}\n")
    table.to_csv(fh, sep="\t", index=False)
