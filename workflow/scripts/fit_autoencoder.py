"""fit_autoencoder: every latent size's autoencoder of one run, fitted together in one
batched model (one pass over the training activations per epoch for all sizes)."""

import torch

from neuralhull.io import load_arrays, save_json, save_npz
from neuralhull.learn.autoencoder import AutoencoderConfig, fit_autoencoders
from neuralhull.learn.training import device_note, pick_device
from neuralhull.provenance import job_log

log = job_log(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
p = snakemake.params.autoencoder
cfg = AutoencoderConfig.from_config(p)
sizes = [int(k) for k in snakemake.params.sizes]
f = load_arrays(snakemake.input.activations, ["train", "test"])
train, test = f["train"], f["test"]
device = pick_device(snakemake.params.device)
log(
    f"fitting latent sizes {sizes} together on {len(train)} activations of width "
    f"{train.shape[1]}, device={device_note(snakemake.params.device, device)}"
)
fits = fit_autoencoders(train, test, sizes, cfg, device=device, log=log)
codes = {}
for k, fit in fits.items():
    codes[f"train{k}"], codes[f"test{k}"] = fit.codes_train, fit.codes_test
# Uncompressed: dense float codes shrink by 7% under zlib, which cost 1.2 s per job.
save_npz(snakemake.output.codes, compress=False, **codes)
save_json(
    snakemake.output.fits,
    {
        "activation_dimension": int(train.shape[1]),
        "config": p,
        "fits": [
            {
                "latent_size": k,
                "r2_validation": fit.r2_validation,
                "mse_validation": fit.mse_validation,
                "r2_test": fit.r2_test,
                "mse_test": fit.mse_test,
                "loss_per_epoch": fit.loss,
            }
            for k, fit in sorted(fits.items())
        ],
    },
)
log("held-out R2 by size: " + ", ".join(f"{k}: {f.r2_validation:.4f}" for k, f in fits.items()))
