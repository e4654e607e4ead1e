"""train_model: train one classifier from scratch; save its weights and metrics, and the last
hidden layer of every train and test sample with the test predictions (from the final
evaluation pass)."""

import json
import os

import numpy as np
import pandas as pd
import torch

from neuralhull.datasets import load
from neuralhull.io import atomic_path, save_json, save_npz
from neuralhull.learn.models import ModelSpec
from neuralhull.learn.training import TrainConfig, history_json, save_model, train_classifier
from neuralhull.provenance import job_log, software_versions

log = job_log(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
p = snakemake.params.model
ds = load(snakemake.input.data)
spec = ModelSpec.from_config(p, ds.x_train.shape[1:], len(ds.classes))
cfg = TrainConfig.from_config(p)
model, history, norm = train_classifier(
    spec,
    cfg,
    ds,
    device=snakemake.params.device,
    log=log,
    checkpoint=snakemake.params.checkpoint,
    extract="features",
)
train, test = history.final_train, history.final_test
if not (np.isfinite(train.features).all() and np.isfinite(test.features).all()):
    raise ValueError(f"{snakemake.output.weights}: activations contain NaN or inf")
log(f"activations: train {train.features.shape}, test {test.features.shape}")
# Uncompressed: zlib halves the file (19 -> 9 MB for 70,000 x 64) but cost 0.9 s to write
# and 0.06 s per read, and four jobs read it.
save_npz(
    snakemake.output.activations,
    compress=False,
    train=train.features,
    test=test.features,
    y_train=ds.y_train,
    y_test=ds.y_test,
    pred_train=train.predictions,
    pred_test=test.predictions,
)
table = pd.DataFrame(
    {
        "index": np.arange(len(ds.y_test)),
        "label": ds.y_test,
        "prediction": test.predictions,
        "correct": test.predictions == ds.y_test,
    }
)
with atomic_path(snakemake.output.predictions) as tmp:
    table.to_csv(tmp, sep="\t", index=False)
digest = save_model(model, spec, norm, snakemake.output.weights)
metrics = json.loads(history_json(history, spec, cfg))
metrics["model_sha256"] = digest  # load_model checks model.pt against it
metrics["software"] = software_versions()  # this job's environment, for the tables
save_json(snakemake.output.metrics, metrics)
log(f"test accuracy {history.test_accuracy[-1]:.4f}; wrote {snakemake.output.weights}")
# The outputs are complete: the checkpoint that a killed run would have resumed from goes.
if os.path.exists(snakemake.params.checkpoint):
    os.remove(snakemake.params.checkpoint)
