"""intrinsic_dimension: latent size chosen from held-out reconstruction (at the configured
threshold, and at the reported ones), where the R2 curve crosses each threshold (a
continuous size), and TwoNN on disjoint subsamples with a t interval."""

import numpy as np

from neuralhull.io import load_arrays, load_json, save_json
from neuralhull.learn.intrinsic import choose_latent_size, crossing_size, twonn_subsamples
from neuralhull.provenance import job_log

log = job_log(snakemake.log[0])
fits = load_json(snakemake.input.fits[0])["fits"] if snakemake.input.fits else []
sizes = [f["latent_size"] for f in fits]
r2 = [f["r2_validation"] for f in fits]
threshold = snakemake.params.threshold
by_threshold = {}
if fits:
    chosen, reached = choose_latent_size(sizes, r2, threshold)
    continuous = crossing_size(sizes, r2, threshold)
    for t in snakemake.params.thresholds:
        size, hit = choose_latent_size(sizes, r2, t)
        by_threshold[str(t)] = {
            "size": size,
            "reached": hit,
            "continuous": crossing_size(sizes, r2, t),
        }
else:  # no swept latent size (a config that fits no autoencoder)
    chosen, reached, continuous = None, False, None
train = load_arrays(snakemake.input.activations, ["train"])["train"]
twonn = twonn_subsamples(train, seed=0)
log(f"latent sizes {sizes}, held-out R2 {np.round(r2, 4).tolist()}; chosen {chosen}")
log(f"R2 curve crosses {threshold} at size {continuous}")
log(f"chosen size by threshold: {by_threshold}")
log(
    f"TwoNN estimate of the activations: {twonn['estimate']:.2f} "
    f"[{twonn['low']:.2f}, {twonn['high']:.2f}] over {len(twonn['estimates'])} disjoint "
    f"subsamples of {twonn['points_per_subsample']} points: "
    f"{np.round(twonn['estimates'], 2).tolist()}"
)
save_json(
    snakemake.output[0],
    {
        "chosen_latent_size": chosen,
        "threshold_reached": reached,
        "threshold": threshold,
        "rule": f"smallest latent size with held-out R2 >= {threshold}",
        "continuous_latent_size": continuous,
        "continuous_rule": (
            f"latent size where the held-out R2 curve (straight lines between swept sizes, "
            f"from R2 0 at size 0) first reaches {threshold}; the largest size if none does"
        ),
        "by_threshold": by_threshold,
        "latent_sizes": sizes,
        "r2_validation": r2,
        "r2_test": [f["r2_test"] for f in fits],
        "mse_validation": [f["mse_validation"] for f in fits],
        "mse_test": [f["mse_test"] for f in fits],
        "twonn": twonn["estimate"],
        "twonn_low": twonn["low"],
        "twonn_high": twonn["high"],
        "twonn_level": twonn["level"],
        "twonn_estimates": twonn["estimates"],
        "twonn_points_per_subsample": twonn["points_per_subsample"],
        "twonn_seed": twonn["seed"],
        "activation_dimension": int(train.shape[1]),
    },
)
