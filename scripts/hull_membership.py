"""hull_membership: test samples inside / outside the training set's convex hull, with
certificates, and their distance to that hull, in one space."""

import json
import time

import numpy as np
import pandas as pd

from neuralhull.hull import STATUS_NAMES, hull_distance, membership, warm_nnls
from neuralhull.io import atomic_path
from neuralhull.provenance import job_log, progress_logger, software_versions
from neuralhull.spaces import load_space, query_subsample

log = job_log(snakemake.log[0])
space = snakemake.wildcards.get("space") or snakemake.wildcards.input_space
p = snakemake.params.hull
train, test = load_space(space, **dict(snakemake.input.items()))
idx = query_subsample(len(test), p["max_queries"], p["seed"])
queries = test[idx]
log(
    f"space {space}: {len(train)} training points, {len(queries)}/{len(test)} queries, "
    f"d={train.shape[1]}"
)

log(warm_nnls.warm_up())  # a fresh checkout compiles the solver once; later jobs load it
t0 = time.perf_counter()
res = membership(
    train,
    queries,
    tol=p["tol"],
    n_jobs=snakemake.threads,
    progress=progress_logger(log, "hull membership queries"),
)
seconds_membership = time.perf_counter() - t0
status = np.asarray(STATUS_NAMES)[res.status]
outside = status == "outside"
# Distance: 0 inside; for outside queries the certified distance, or, where the solver
# stopped before its bounds met, NaN with the bounds kept (never a guess).
distance = np.where(status == "inside", 0.0, np.nan)
lower, upper = distance.copy(), distance.copy()
t0 = time.perf_counter()
if outside.any():
    dist = hull_distance(
        train,
        queries[outside],
        n_jobs=snakemake.threads,
        progress=progress_logger(log, "hull distance queries"),
        full_output=True,
    )
    distance[outside], lower[outside], upper[outside] = dist.distance, dist.lower, dist.upper
seconds_distance = time.perf_counter() - t0
counts = {s: int((status == s).sum()) for s in ("inside", "outside", "undecided")}
unconverged = int(np.sum(outside & np.isnan(distance)))
log(f"{counts}; membership {seconds_membership:.1f} s, distance {seconds_distance:.1f} s")
if counts["undecided"]:
    log(f"WARNING: {counts['undecided']} queries undecided; they are counted as such in hull.tsv")
if unconverged:
    log(
        f"WARNING: the distance of {unconverged} outside queries did not converge; "
        "hull_distance is NaN there (bounds in hull_distance_lower / _upper)"
    )

header = {
    "space": space,
    "dimension": train.shape[1],
    "n_train": len(train),
    "n_test": len(test),
    "queries": len(queries),
    "max_queries": p["max_queries"],
    "subsample_seed": p["seed"],
    "tol": p["tol"],
    "rank": res.stats.get("rank"),
    **{f"n_{k}": v for k, v in counts.items()},
    "n_distance_unconverged": unconverged,
    "software": json.dumps(software_versions(), sort_keys=True),
}
table = pd.DataFrame(
    {
        "index": idx,
        "status": status,
        "hull_distance": distance,
        "hull_distance_lower": lower,
        "hull_distance_upper": upper,
        "method": res.method,
        "margin": res.margin,
        "residual": res.residual,
    }
)
with atomic_path(snakemake.output[0]) as tmp, open(tmp, "w") as fh:
    for key, value in header.items():
        fh.write(f"# {key}: {value}\n")
    table.to_csv(fh, sep="\t", index=False)
