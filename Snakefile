# Do neural networks interpolate or extrapolate? See README.md.

from snakemake.utils import min_version

min_version("9.0")

from neuralhull.config_checks import load_config_file_if_present

load_config_file_if_present("config/config.yaml")  # a YAML error: its file and line


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/resources.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/latent.smk"
include: "workflow/rules/score.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/theory.smk"


rule all:
    input:
        get_final_output(),
