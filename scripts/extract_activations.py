"""extract_activations: last hidden layer of every train and test sample, test predictions."""

import numpy as np
import pandas as pd
import torch

from neuralhull.datasets import load
from neuralhull.io import atomic_path, save_npz
from neuralhull.provenance import job_log
from neuralhull.training import device_note, extract_activations, load_model, pick_device

log = job_log(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
device = pick_device(snakemake.params.device)
log(f"device: {device_note(snakemake.params.device, device)}")
ds = load(snakemake.input.data)
model, spec, norm = load_model(snakemake.input.weights, device=device)
train, pred_train = extract_activations(model, ds.x_train, norm, device=device)
test, pred_test = extract_activations(model, ds.x_test, norm, device=device)
if not (np.isfinite(train).all() and np.isfinite(test).all()):
    raise ValueError(f"{snakemake.input.weights}: activations contain NaN or inf")
log(
    f"activations: train {train.shape}, test {test.shape}; "
    f"train accuracy {np.mean(pred_train == ds.y_train):.4f}, "
    f"test accuracy {np.mean(pred_test == ds.y_test):.4f}"
)
save_npz(
    snakemake.output.activations,
    train=train,
    test=test,
    y_train=ds.y_train,
    y_test=ds.y_test,
    pred_train=pred_train,
    pred_test=pred_test,
)
table = pd.DataFrame(
    {
        "index": np.arange(len(ds.y_test)),
        "label": ds.y_test,
        "prediction": pred_test,
        "correct": pred_test == ds.y_test,
    }
)
with atomic_path(snakemake.output.predictions) as tmp:
    table.to_csv(tmp, sep="\t", index=False)
