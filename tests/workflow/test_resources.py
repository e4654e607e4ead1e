"""The workflow's resource requests: the rules reach the cost model (neuralhull.cost, unit
tests in tests/unit/test_cost.py) through workflow/rules/resources.smk, so the requests in
Snakemake's own dry-run plan grow with each config's data, and a finished run stays within
what it asked for (a scheduler kills a job that outlives its `runtime` or exceeds its
`mem_mb`)."""

import csv
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT, copy_workflow_profile, run_snakemake


def planned_jobs(workdir, configfile, *extra):
    """Every job of a forced dry run: (rule, benchmark path or None, resources dict)."""
    if not (Path(workdir) / "profiles").exists():
        copy_workflow_profile(workdir)  # its printshellcmds separates the dry run's jobs
    proc = run_snakemake(workdir, "-n", "-F", *extra, configfile=configfile)
    jobs = []
    for block in proc.stdout.split("\n\n"):
        rule = re.search(r"^rule (\w+):", block, flags=re.M)
        resources = re.search(r"^\s*resources: (.*)$", block, flags=re.M)
        if not (rule and resources):
            continue
        benchmark = re.search(r"^\s*benchmark: (\S+)$", block, flags=re.M)
        values = dict(item.split("=", 1) for item in resources.group(1).split(", "))
        jobs.append((rule.group(1), benchmark and benchmark.group(1), values))
    assert jobs, proc.stdout[-3000:]
    return jobs


def largest(jobs, rule, resource):
    values = [int(res[resource]) for name, _, res in jobs if name == rule]
    assert values, f"no {rule} job planned"
    return max(values)


@pytest.mark.workflow
def test_requests_grow_with_dataset_model_and_queries(tmp_path):
    tiny = planned_jobs(tmp_path, "config/tiny.yaml")  # digits: 1,347 images of 64 pixels
    default = planned_jobs(tmp_path, "config/config.yaml")  # MNIST: 60,000 of 784
    paper = planned_jobs(tmp_path, "config/paper.yaml")  # + CIFAR-10, 20-40 epochs

    # Memory follows the data a job holds.
    for rule in ["train_model", "score_input"]:
        assert largest(tiny, rule, "mem_mb") < largest(default, rule, "mem_mb")
        assert largest(default, rule, "mem_mb") < largest(paper, rule, "mem_mb")
    # Runtime follows epochs x images x pixels, and the number of hull queries.
    for rule in ["train_model", "fit_autoencoder", "score_input"]:
        assert largest(default, rule, "runtime") < largest(paper, rule, "runtime")
    # A GPU shortens what a torch job asks for, not what a CPU job asks for.
    gpu = planned_jobs(tmp_path, "config/paper.yaml", "--config", "device=cuda")
    assert largest(gpu, "train_model", "runtime") < largest(paper, "train_model", "runtime")
    assert largest(gpu, "score", "runtime") == largest(paper, "score", "runtime")


@pytest.mark.workflow
def test_a_finished_run_stayed_within_its_requests(tiny_run):
    """Every job's measured time and peak memory (its benchmark file) are below what it
    asked of the scheduler."""
    checked = 0
    for rule, benchmark, res in planned_jobs(tiny_run, "config/tiny.yaml"):
        if benchmark is None:
            continue
        with open(Path(tiny_run) / benchmark) as fh:
            measured = next(csv.DictReader(fh, delimiter="\t"))
        seconds, peak_mb = float(measured["s"]), float(measured["max_rss"])
        assert seconds < 60 * int(res["runtime"]), (rule, benchmark, seconds, res)
        assert peak_mb < int(res["mem_mb"]), (rule, benchmark, peak_mb, res)
        checked += 1
    assert checked >= 40, checked


def test_rules_whose_cost_depends_on_the_data_ask_the_cost_model():
    # Rules name the adapter's callables instead of writing numbers of their own.
    scaled = [
        "train_model",
        "fit_autoencoder",
        "score",
        "score_input",
        "theory_real_dimension",
        "theory_train_bottleneck",
        "theory_embedding_hull",
    ]
    text = "\n".join(p.read_text() for p in (ROOT / "workflow/rules").glob("*.smk"))
    adapter = (ROOT / "workflow/rules/resources.smk").read_text()
    for rule in scaled:
        block = text.split(f"rule {rule}:", 1)[1].split("\nrule ", 1)[0]
        resources = block.split("resources:", 1)[1].split("params:", 1)[0]
        named = re.findall(r"(?:mem_mb|runtime)=([a-z_]+),", resources)
        assert len(named) == 2, (rule, resources)
        for name in named:
            assert f"def {name}(wildcards, attempt):" in adapter, (rule, name)
