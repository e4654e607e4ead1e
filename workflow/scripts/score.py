"""score: one space's hull membership (certified, with distances) and proximity tables, from
one load of the space: a model's space (activations, its intrinsic space, ...), or a pixel
space shared by every model of the dataset."""

from neuralhull.datasets import load
from neuralhull.io import load_arrays, write_table
from neuralhull.provenance import job_log
from neuralhull.scoring import hull_table, proximity_table
from neuralhull.spaces import load_space

log = job_log(snakemake.log[0])
space = snakemake.wildcards.get("space") or snakemake.wildcards.input_space
inputs = dict(snakemake.input.items())
if "activations" in inputs:
    train, test = load_space(space, **inputs)
    f = load_arrays(inputs["activations"], ["y_train", "y_test", "pred_test"])
    y_train, y_test, pred_test = f["y_train"], f["y_test"], f["pred_test"]
else:  # pixel space: model-free; each model's prediction agreement comes from nn_label_*
    ds = load(inputs["data"])  # read (and verified) once, for the points and the labels
    train, test = load_space(space, dataset=ds)
    y_train, y_test, pred_test = ds.y_train, ds.y_test, None

header, table = hull_table(
    space, train, test, snakemake.params.hull, n_jobs=snakemake.threads, log=log
)
write_table(table, snakemake.output.hull, header)

header, table = proximity_table(
    space, train, y_train, test, y_test, pred_test, k=snakemake.params.k, log=log
)
write_table(table, snakemake.output.proximity, header)
