"""intrinsic_dimension: latent size chosen from held-out reconstruction (at the configured
threshold, and at the reported ones), and TwoNN."""

import numpy as np

from neuralhull.intrinsic import choose_latent_size, twonn_dimension
from neuralhull.io import load_arrays, load_json, save_json
from neuralhull.provenance import job_log

log = job_log(snakemake.log[0])
fits = load_json(snakemake.input.fits[0])["fits"] if snakemake.input.fits else []
sizes = [f["latent_size"] for f in fits]
r2 = [f["r2_validation"] for f in fits]
threshold = snakemake.params.threshold
by_threshold = {}
if fits:
    chosen, reached = choose_latent_size(sizes, r2, threshold)
    for t in snakemake.params.thresholds:
        size, hit = choose_latent_size(sizes, r2, t)
        by_threshold[str(t)] = {"size": size, "reached": hit}
else:  # the model's hidden layer is smaller than every swept latent size
    chosen, reached = None, False
train = load_arrays(snakemake.input.activations, ["train"])["train"]
twonn = twonn_dimension(train, seed=0)
log(f"latent sizes {sizes}, held-out R2 {np.round(r2, 4).tolist()}; chosen {chosen}")
log(f"chosen size by threshold: {by_threshold}")
log(f"TwoNN estimate of the activations: {twonn:.2f}")
save_json(
    snakemake.output[0],
    {
        "chosen_latent_size": chosen,
        "threshold_reached": reached,
        "threshold": threshold,
        "rule": f"smallest latent size with held-out R2 >= {threshold}",
        "by_threshold": by_threshold,
        "latent_sizes": sizes,
        "r2_validation": r2,
        "r2_test": [f["r2_test"] for f in fits],
        "mse_validation": [f["mse_validation"] for f in fits],
        "mse_test": [f["mse_test"] for f in fits],
        "twonn": twonn,
        "activation_dimension": int(train.shape[1]),
    },
)
