"""theory_double_descent: simulated test risk of min-norm least squares over gamma = p / n,
SNRs and seeds for one feature model, with the asymptotic theory where it exists."""

from neuralhull.io import write_table
from neuralhull.provenance import job_log
from neuralhull.theory.double_descent import double_descent_table

log = job_log(snakemake.log[0])
features = snakemake.wildcards.features
p = snakemake.params.ridgeless
log(f"{features}: n={p['n']}, {len(p['gammas'])} gammas, SNRs {p['snrs']}, seeds {p['seeds']}")
table = double_descent_table(
    p["n"],
    p["gammas"],
    p["snrs"],
    p["seeds"],
    models=(features,),
    sigma2=p["sigma2"],
    n_test=p["n_test"],
    n_latent=p["n_latent"],
)
write_table(table, snakemake.output[0], {"features": features})
log(f"wrote {len(table)} rows to {snakemake.output[0]}")
