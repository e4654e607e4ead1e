"""theory_embedding_hull: fraction of test embeddings inside the hull of the training
embeddings of each bottleneck CNN of a dataset, read before (linear) or after (relu) the
bottleneck's ReLU, with its test accuracy: every size and reading in one job."""

import numpy as np

from neuralhull.io import load_arrays, load_json
from neuralhull.provenance import job_log
from neuralhull.spaces import query_subsample
from neuralhull.theory.counts import affine_rank, logged_hull_counts, write_count_row

log = job_log(snakemake.log[0])
w, p = snakemake.wildcards, snakemake.params.hull
sizes, readings = [int(k) for k in snakemake.params.sizes], snakemake.params.readings
outputs = iter(snakemake.output)  # in the rule's order: per size, its readings
# the rule that writes the embeddings: one job for every size on a shared trunk
shared = snakemake.config["theory"]["embedding"]["shared_trunk"]
made_by = "theory_train_bottlenecks" if shared else "theory_train_bottleneck"
for k, embeddings, metrics_path in zip(
    sizes, snakemake.input.embeddings, snakemake.input.metrics, strict=True
):
    metrics = load_json(metrics_path)
    for reading in readings:
        suffix = {"relu": "", "linear": "_linear"}[reading]
        f = load_arrays(
            embeddings, [f"train{suffix}", f"test{suffix}", "pred_test", "y_test"], rule=made_by
        )
        train = f[f"train{suffix}"].astype(np.float64)
        test = f[f"test{suffix}"].astype(np.float64)
        accuracy = float(np.mean(f["pred_test"] == f["y_test"]))
        idx = query_subsample(len(test), p["max_queries"], p["seed"])
        rank = affine_rank(train)
        dead = int(np.sum(train.max(axis=0) <= 0))  # never positive: the ReLU never fires
        log(
            f"k={k}, {reading} reading: {len(train)} training embeddings, affine rank {rank}, "
            f"{dead} dead units"
        )
        counts = logged_hull_counts(
            f"k={k} {reading}", train, test[idx], p, n_jobs=snakemake.threads, log=log
        )
        row = {
            "dataset": w.dataset,
            "k": k,
            "reading": reading,
            "test_accuracy": accuracy,
            "train_accuracy": metrics["final_train_accuracy"],
            "rank": rank,
            "dead_units": dead,
            "n_train": len(train),
            **counts,
        }
        path = next(outputs)
        if not path.endswith(f"/{k}/{reading}.tsv"):  # the rule's expand order changed
            raise RuntimeError(f"output {path} is not the table of k={k}, {reading}")
        write_count_row(row, path, p)
