"""theory_hull_probability: Monte-Carlo P(new sample inside the hull of N samples) for one
kind of random sample over the configured (d, N) grid, beside the exact value.

Every setting comes from the config (params.grid): the grid keys, and under ``sampler``
the settings of this kind's sampler (rank and map_seed of the low-rank Gaussian,
curve_seed and curve_frequencies of the curve, none for the Gaussian)."""

from neuralhull.io import write_table
from neuralhull.provenance import job_log
from neuralhull.theory.hull_probability import (
    HullProbabilityGrid,
    SampleKind,
    hull_probability_table,
)

log = job_log(snakemake.log[0])
kind = snakemake.wildcards.kind
p = snakemake.params.grid
sampler = p["sampler"]
log(
    f"{kind}: d in {p['dimensions']}, N in {p['sizes']}, {p['trials']} trials per cell, "
    f"sampler settings {sampler}"
)
table = hull_probability_table(
    SampleKind.from_config(kind, sampler), HullProbabilityGrid.from_config(p), progress=log
)
write_table(table, snakemake.output[0], {"kind": kind, "seed": p["seed"], **sampler})
log(f"wrote {len(table)} cells to {snakemake.output[0]}")
