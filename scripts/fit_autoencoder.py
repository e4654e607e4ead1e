"""fit_autoencoder: one autoencoder of latent size k on a model's training activations."""

import numpy as np
import torch

from neuralhull.autoencoder import AutoencoderConfig, fit_autoencoder
from neuralhull.io import save_json, save_npz
from neuralhull.provenance import job_log
from neuralhull.training import pick_device

log = job_log(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
p = snakemake.params.autoencoder
cfg = AutoencoderConfig(
    hidden=p["hidden"],
    epochs=p["epochs"],
    lr=p["lr"],
    batch_size=p["batch_size"],
    validation_fraction=p["validation_fraction"],
    seed=p["seed"],
)
k = int(snakemake.wildcards.k)
with np.load(snakemake.input.activations) as f:
    train, test = f["train"], f["test"]
fit = fit_autoencoder(train, test, k, cfg, device=pick_device(snakemake.params.device), log=log)
save_npz(snakemake.output.codes, train=fit.codes_train, test=fit.codes_test)
save_json(
    snakemake.output.fit,
    {
        "latent_size": k,
        "activation_dimension": int(train.shape[1]),
        "r2_validation": fit.r2_validation,
        "mse_validation": fit.mse_validation,
        "r2_test": fit.r2_test,
        "mse_test": fit.mse_test,
        "loss_per_epoch": fit.loss,
        "config": p,
    },
)
