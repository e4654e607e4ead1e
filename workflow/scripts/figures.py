"""figures: the per-dataset figures of the report (per-run tables summarised over seeds)."""

from neuralhull import plots
from neuralhull.io import read_table
from neuralhull.provenance import job_log

log = job_log(snakemake.log[0])
inp, out = snakemake.input, snakemake.output
models = read_table(inp.models)
plots.plot_findings(read_table(inp.findings), out.findings)
plots.plot_fraction_inside(read_table(inp.hull), out.fraction_inside, models_df=models)
plots.plot_reconstruction(
    read_table(inp.latent),
    out.reconstruction,
    thresholds=snakemake.params.thresholds,
    threshold=snakemake.params.threshold,
)
plots.plot_intrinsic_vs_accuracy(models, out.intrinsic_vs_accuracy)
# Deciles and AUROCs: the mean over each model's seeds; bars = standard deviation over seeds.
deciles = plots.deciles_over_seeds(read_table(inp.deciles))
order = plots.model_order(deciles, models)
plots.plot_accuracy_by_decile(deciles, out.accuracy_by_decile, models=order)
plots.plot_auroc(plots.aurocs_over_seeds(read_table(inp.measures), order), out.auroc)
log("figures written: " + ", ".join(out))
