"""theory_hull_probability: Monte-Carlo P(new sample inside the hull of N samples) for one
kind of random sample over the configured (d, N) grid, beside the exact value."""

from neuralhull.analysis import write_table
from neuralhull.provenance import job_log
from neuralhull.theory_experiments import hull_probability_table

log = job_log(snakemake.log[0])
kind = snakemake.wildcards.kind
p = snakemake.params.grid
log(f"{kind}: d in {p['dimensions']}, N in {p['sizes']}, {p['trials']} trials per cell")
table = hull_probability_table(
    kind,
    p["dimensions"],
    p["sizes"],
    p["trials"],
    p["seed"],
    queries_per_set=p["queries_per_set"],
    rank=p.get("rank", 4),
    tol=p["tol"],
    progress=log,
)
write_table(table, snakemake.output[0], {"kind": kind, "seed": p["seed"]})
log(f"wrote {snakemake.output[0]}")
