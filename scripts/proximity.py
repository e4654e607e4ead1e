"""proximity: nearest-neighbour distances and label agreement of every test sample."""

import numpy as np

from neuralhull.io import atomic_path
from neuralhull.provenance import job_log, progress_logger
from neuralhull.proximity import distance_scale, proximity_scores
from neuralhull.spaces import load_space

log = job_log(snakemake.log[0])
space = snakemake.wildcards.space
train, test = load_space(space, **dict(snakemake.input.items()))
with np.load(snakemake.input.activations) as f:
    y_train, y_test, pred_test = f["y_train"], f["y_test"], f["pred_test"]
scale = distance_scale(train, seed=0)
log(f"space {space}: d={train.shape[1]}, distance unit (median train NN distance) {scale:.6g}")
table = proximity_scores(
    train,
    y_train,
    test,
    y_test,
    pred_test,
    k=snakemake.params.k,
    scale=scale,
    progress=progress_logger(log, "nearest-neighbour queries"),
)
table.insert(0, "index", np.arange(len(test)))
with atomic_path(snakemake.output[0]) as tmp, open(tmp, "w") as fh:
    fh.write(f"# space: {space}\n# dimension: {train.shape[1]}\n# k: {snakemake.params.k}\n")
    fh.write(f"# distance_unit: {scale!r}\n")
    table.to_csv(fh, sep="\t", index=False)
