"""theory_real_dimension: fraction of test images inside the hull of the full training set,
with the images seen in about k dimensions (PCA, centred crop, or smoothing + subsampling)."""

import pandas as pd

from neuralhull.analysis import write_table
from neuralhull.datasets import load
from neuralhull.provenance import job_log, progress_logger
from neuralhull.spaces import query_subsample
from neuralhull.theory_experiments import affine_rank, hull_counts, reduce_dimension

log = job_log(snakemake.log[0])
w, p = snakemake.wildcards, snakemake.params.hull
k = int(w.k)
ds = load(snakemake.input.data)
train, test = reduce_dimension(w.method, ds.x_train, ds.x_test, k)
idx = query_subsample(len(test), p["max_queries"], p["seed"])
log(
    f"{w.dataset} {w.method} k={k}: dimension {train.shape[1]}, {len(train)} training points, "
    f"{len(idx)}/{len(test)} queries"
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
    "method": w.method,
    "k": k,
    "dimension": train.shape[1],
    "rank": affine_rank(train),
    "n_train": len(train),
    **counts,
}
write_table(
    pd.DataFrame([row]),
    snakemake.output[0],
    {"subsample_seed": p["seed"], "max_queries": p["max_queries"], "tol": p["tol"]},
)
