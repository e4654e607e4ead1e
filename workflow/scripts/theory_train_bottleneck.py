"""theory_train_bottleneck: train the CNN whose last hidden layer has k units (one job per
k), or every k of the sweep together on a shared trunk (``shared_trunk: true``, one job per
dataset); save each network and the embeddings of every training and test image."""

import json
import os

import numpy as np
import torch

from neuralhull.datasets import load
from neuralhull.io import atomic_path, save_npz
from neuralhull.learn.training import history_json, save_model
from neuralhull.provenance import job_log
from neuralhull.theory.embedding import BottleneckNetworks, train_bottlenecks

log = job_log(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
ds = load(snakemake.input.data)
networks = BottleneckNetworks.from_config(snakemake.params.training, n_classes=len(ds.classes))
data = (ds.x_train, ds.y_train, ds.x_test, ds.y_test)
if "k" in snakemake.wildcards.keys():  # one network per job
    ks = [int(snakemake.wildcards.k)]
else:
    ks = [int(k) for k in snakemake.params.sizes]
    log(f"bottleneck sizes {ks} trained together on a shared trunk")
results = train_bottlenecks(  # one size: a plain network
    ks,
    data,
    networks,
    device=snakemake.params.device,
    log=log,
    checkpoint=snakemake.params.checkpoint,
)

outputs = {"weights": [], "embeddings": [], "metrics": []}
for key in outputs:  # one file per k, in the order of ks
    outputs[key] = list(getattr(snakemake.output, key)) if len(ks) > 1 else [snakemake.output[key]]
for j, (k, result) in enumerate(zip(ks, results, strict=True)):
    arrays = {
        "train": result.train_embeddings,  # the relu reading: after the bottleneck's ReLU
        "test": result.test_embeddings,
        "train_linear": result.train_linear,  # the linear reading: before it
        "test_linear": result.test_linear,
    }
    for name, values in arrays.items():
        if not np.isfinite(values).all():
            raise ValueError(f"bottleneck k={k}: {name} embeddings contain NaN or inf")
    digest = save_model(result.model, result.spec, result.norm, outputs["weights"][j])
    save_npz(
        outputs["embeddings"][j],
        **arrays,
        y_test=ds.y_test,
        pred_test=result.test_predictions,
    )
    metrics = json.loads(history_json(result.history, result.spec, result.train_config))
    del metrics["seconds"]  # the metrics file is a result: the same on every run
    metrics["shared_trunk"] = len(ks) > 1
    metrics["model_sha256"] = digest  # load_model checks model.pt against it
    with atomic_path(outputs["metrics"][j]) as tmp, open(tmp, "w") as fh:
        json.dump(metrics, fh, indent=2)
    log(f"k={k}: test accuracy {result.test_accuracy:.4f}; wrote {outputs['weights'][j]}")
# The outputs are complete: the checkpoint that a killed run would have resumed from goes.
if os.path.exists(snakemake.params.checkpoint):
    os.remove(snakemake.params.checkpoint)
