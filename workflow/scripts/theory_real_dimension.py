"""theory_real_dimension: fraction of test images inside the hull of the full training set,
with the images seen in about k dimensions (PCA, centred crop, or smoothing + subsampling),
for every target dimension k of one method in one job (the data loaded and, for PCA, the
principal axes found once)."""

from neuralhull.datasets import load
from neuralhull.provenance import job_log
from neuralhull.spaces import query_subsample
from neuralhull.theory.counts import affine_rank, logged_hull_counts, write_count_row
from neuralhull.theory.real_dimension import reduce_dimensions

log = job_log(snakemake.log[0])
w, p = snakemake.wildcards, snakemake.params.hull
ks = [int(k) for k in snakemake.params.dimensions]
ds = load(snakemake.input.data)
idx = query_subsample(len(ds.x_test), p["max_queries"], p["seed"])  # the same for every k
for (k, train, test), path in zip(
    reduce_dimensions(w.method, ds.x_train, ds.x_test, ks), snakemake.output, strict=True
):
    if not path.endswith(f"/{k}.tsv"):  # the rule's outputs are in the order of ks
        raise RuntimeError(f"output {path} is not the table of k={k}")
    log(
        f"{w.dataset} {w.method} k={k}: dimension {train.shape[1]}, {len(train)} training "
        f"points, {len(idx)}/{len(test)} queries"
    )
    counts = logged_hull_counts(f"k={k}", train, test[idx], p, n_jobs=snakemake.threads, log=log)
    row = {
        "dataset": w.dataset,
        "method": w.method,
        "k": k,
        "dimension": train.shape[1],
        "rank": affine_rank(train),
        "n_train": len(train),
        **counts,
    }
    write_count_row(row, path, p)
