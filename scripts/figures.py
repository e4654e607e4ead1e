"""figures: the per-dataset figures of the report."""

from neuralhull import plots
from neuralhull.analysis import read_table
from neuralhull.provenance import job_log

log = job_log(snakemake.log[0])
inp, out = snakemake.input, snakemake.output
plots.plot_fraction_inside(read_table(inp.hull), out.fraction_inside)
plots.plot_reconstruction(read_table(inp.latent), out.reconstruction)
plots.plot_intrinsic_vs_accuracy(read_table(inp.models), out.intrinsic_vs_accuracy)
plots.plot_accuracy_by_decile(read_table(inp.deciles), out.accuracy_by_decile)
plots.plot_auroc(read_table(inp.measures), out.auroc)
log("figures written: " + ", ".join(out))
