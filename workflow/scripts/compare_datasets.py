"""compare_datasets: claim by claim, whether the datasets' verdicts agree
(logic: neuralhull.claims.compare)."""

from neuralhull.claims.compare import compare_verdicts
from neuralhull.io import read_table, write_table
from neuralhull.provenance import job_log
from neuralhull.report_tables import write_pages

log = job_log(snakemake.log[0])
findings = {
    name: read_table(path)
    for name, path in zip(snakemake.params.datasets, snakemake.input.findings, strict=True)
}
table = compare_verdicts(findings)
write_table(table, snakemake.output.table, {"table": "verdicts by dataset"})
write_pages(
    {"datasets": table}, {"datasets": snakemake.output.html}, dataset="every dataset", provenance={}
)
log("verdicts by dataset:\n" + table.to_string())
