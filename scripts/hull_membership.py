"""hull_membership: test samples inside / outside the training set's convex hull, with
certificates, and their distance to that hull, in one space (one pass of the engine)."""

import json
import time

import numpy as np
import pandas as pd

from neuralhull.hull import STATUS_NAMES, membership_and_distance, warm_nnls
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
# one pass settles both: the certified distance decides membership too (see
# neuralhull.hull.membership_and_distance); queries whose bounds straddle the tolerance go
# to the membership engine and its exact LP
res = membership_and_distance(
    train,
    queries,
    tol=p["tol"],
    n_jobs=snakemake.threads,
    progress=progress_logger(log, "hull membership and distance queries"),
)
seconds = time.perf_counter() - t0
if res.stats["fallback"]:
    log(f"{res.stats['fallback']} queries not settled by their distance bounds: membership engine")
status = np.asarray(STATUS_NAMES)[res.status]
# Distance: 0 inside; for outside queries the certified distance, or, where the solver
# stopped before its bounds met, NaN with the bounds kept (never a guess).
distance, lower, upper = res.distance, res.lower, res.upper
is_out = status == "outside"
counts = {s: int((status == s).sum()) for s in ("inside", "outside", "undecided")}
unconverged = int(np.sum(is_out & np.isnan(distance)))
log(f"{counts}; membership and distance {seconds:.1f} s")
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
    "rank": res.stats["rank"],
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
