"""summarise: per-dataset tables relating hull membership and proximity to test errors, and
the findings table that tests the papers' claims (logic: neuralhull.summary)."""

from neuralhull.io import write_table
from neuralhull.provenance import job_log, merge_versions, software_versions
from neuralhull.report_tables import write_pages
from neuralhull.summary import build_tables

log = job_log(snakemake.log[0])
params = snakemake.params
tables, versions = build_tables(
    snakemake.input,
    {
        "interval": params.interval,
        "n_boot": params.n_boot,
        "seed": params.seed,
        "thresholds": params.thresholds,
        "findings": params.findings,
        "levers": params.levers,
    },
    log=log,
)
# Versions of every environment that shaped the tables: this job's, and those the training,
# hull and proximity jobs recorded in their outputs (their envs differ under --sdm conda).
provenance = {**merge_versions([software_versions(), *versions]), **params.provenance}
for name, df in tables.items():
    write_table(
        df,
        getattr(snakemake.output, name),
        {"table": name, "dataset": snakemake.wildcards.dataset, **provenance},
    )
# The same tables as pages the report shows in the browser, and the verdicts for its front
# page (neuralhull.report_tables).
write_pages(
    tables,
    {name: snakemake.output[f"{name}_html"] for name in tables},
    dataset=snakemake.wildcards.dataset,
    provenance=provenance,
    verdicts=snakemake.output.verdicts,
)
log("findings:\n" + tables["findings"].to_string())
log("zoo:\n" + tables["zoo"].to_string())
