"""theory_summary: collect one theory experiment's parts into its table and draw its figure."""

from neuralhull.io import read_table, write_table
from neuralhull.provenance import job_log, software_versions
from neuralhull.theory import figures
from neuralhull.theory.hull_probability import hull_probability_outliers
from neuralhull.theory.summary import collect_parts

log = job_log(snakemake.log[0])
experiment = snakemake.wildcards.experiment
parts = [read_table(path) for path in snakemake.input.parts]
table = collect_parts(experiment, parts)
write_table(table, snakemake.output.table, {**software_versions(), **snakemake.params.provenance})
figures.FIGURES[experiment](table, snakemake.output.figure)
log(f"{experiment}: {len(table)} rows; wrote {snakemake.output.table}, {snakemake.output.figure}")
if experiment == "hull_probability":
    outliers, cells = hull_probability_outliers(table, threshold=3.0)
    log(
        f"hull_probability: {outliers} of {cells} cells with an exact value have |z| > 3 "
        f"(about {0.0027 * cells:.2f} expected by chance)"
    )
