"""theory_embedding_hull: fraction of test embeddings inside the hull of the training
embeddings of one bottleneck CNN, read before (linear) or after (relu) the bottleneck's
ReLU, with its test accuracy."""

import numpy as np
import pandas as pd

from neuralhull.analysis import write_table
from neuralhull.io import load_json
from neuralhull.provenance import job_log, progress_logger
from neuralhull.spaces import query_subsample
from neuralhull.theory_experiments import affine_rank, hull_counts

log = job_log(snakemake.log[0])
w, p = snakemake.wildcards, snakemake.params.hull
suffix = {"relu": "", "linear": "_linear"}[w.reading]
with np.load(snakemake.input.embeddings) as f:
    if f"train{suffix}" not in f:
        raise ValueError(
            f"{snakemake.input.embeddings} has no {w.reading} reading (written by an older "
            "version of the workflow); delete it to retrain"
        )
    train = f[f"train{suffix}"].astype(np.float64)
    test = f[f"test{suffix}"].astype(np.float64)
    accuracy = float(np.mean(f["pred_test"] == f["y_test"]))
metrics = load_json(snakemake.input.metrics)
idx = query_subsample(len(test), p["max_queries"], p["seed"])
rank = affine_rank(train)
dead = int(np.sum(train.max(axis=0) <= 0))  # never positive: the ReLU never fires
log(
    f"k={w.k}, {w.reading} reading: {len(train)} training embeddings, affine rank {rank}, "
    f"{dead} dead units"
)
counts = hull_counts(
    train,
    test[idx],
    tol=p["tol"],
    n_jobs=snakemake.threads,
    progress=progress_logger(log, "hull membership queries"),
)
log(f"{counts}")
row = {
    "dataset": w.dataset,
    "k": int(w.k),
    "reading": w.reading,
    "test_accuracy": accuracy,
    "train_accuracy": metrics["final_train_accuracy"],
    "rank": rank,
    "dead_units": dead,
    "n_train": len(train),
    **counts,
}
write_table(
    pd.DataFrame([row]),
    snakemake.output[0],
    {"subsample_seed": p["seed"], "max_queries": p["max_queries"], "tol": p["tol"]},
)
