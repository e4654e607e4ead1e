"""intrinsic_dimension: latent size chosen from held-out reconstruction, and TwoNN."""

import numpy as np

from neuralhull.intrinsic import choose_latent_size, twonn_dimension
from neuralhull.io import load_json, save_json
from neuralhull.provenance import job_log

log = job_log(snakemake.log[0])
fits = [load_json(f) for f in snakemake.input.fits]
sizes = [f["latent_size"] for f in fits]
r2 = [f["r2_validation"] for f in fits]
threshold = snakemake.params.threshold
if fits:
    chosen, reached = choose_latent_size(sizes, r2, threshold)
else:  # the model's hidden layer is smaller than every swept latent size
    chosen, reached = None, False
with np.load(snakemake.input.activations) as f:
    train = f["train"]
twonn = twonn_dimension(train, seed=0)
log(f"latent sizes {sizes}, held-out R2 {np.round(r2, 4).tolist()}; chosen {chosen}")
log(f"TwoNN estimate of the activations: {twonn:.2f}")
save_json(
    snakemake.output[0],
    {
        "chosen_latent_size": chosen,
        "threshold_reached": reached,
        "rule": f"smallest latent size with held-out R2 >= {threshold}",
        "latent_sizes": sizes,
        "r2_validation": r2,
        "twonn": twonn,
        "activation_dimension": int(train.shape[1]),
    },
)
