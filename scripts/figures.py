"""figures: the per-dataset figures of the report (per-run tables summarised over seeds)."""

from neuralhull import plots
from neuralhull.analysis import read_table
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
deciles = read_table(inp.deciles)
keys = ["model", "space", "measure", "bin"]
stats = plots.over_seeds(deciles.dropna(subset=["accuracy"]), keys, "accuracy")
counts = deciles.groupby(keys, sort=False)["n"].sum().reset_index()
deciles = stats.rename(columns={"mean": "accuracy", "std": "accuracy_sd"}).merge(counts, on=keys)
order = plots._model_order(deciles, models)
plots.plot_accuracy_by_decile(deciles, out.accuracy_by_decile, models=order)
measures = read_table(inp.measures)
stats = plots.over_seeds(measures.dropna(subset=["auroc"]), ["model", "space", "measure"], "auroc")
stats = stats.assign(
    auroc=stats["mean"], low=stats["mean"] - stats["std"], high=stats["mean"] + stats["std"]
)
stats["model"] = stats["model"].astype(str)
plots.plot_auroc(stats.sort_values("model", key=lambda m: m.map(order.index)), out.auroc)
log("figures written: " + ", ".join(out))
