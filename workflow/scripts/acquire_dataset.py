"""acquire_dataset: one canonical, checksummed .npz per dataset."""

from neuralhull.datasets import acquire
from neuralhull.provenance import job_log

log = job_log(snakemake.log[0])
meta = acquire(
    snakemake.wildcards.dataset,
    snakemake.output[0],
    source=snakemake.config["data"]["source"],
    **snakemake.params.split,
    progress=log,
)
log(f"wrote {snakemake.output[0]} from {meta.get('source')}")
