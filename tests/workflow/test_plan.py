"""The cost plan: the job graph it adds up is the one Snakemake itself would run, its group
jobs are the ones the profile's groups make, and its hours add up the requests that
Snakemake's own dry run prints."""

import math
import re

import pytest
import yaml

from neuralhull.plan import build_plan, format_plan, main
from tests.conftest import ROOT, run_snakemake

TINY = ROOT / "config/tiny.yaml"
SLURM = ROOT / "profiles/slurm"

pytestmark = pytest.mark.workflow


def dry_run_jobs(workdir):
    """(rule, runtime in minutes) of every job Snakemake's own dry run of tiny.yaml lists,
    rule ``all`` left out; checked against its job-stats total."""
    proc = run_snakemake(workdir, "-n")
    blocks = re.split(r"\n(?=\S*rule \w+:)", proc.stdout)
    jobs = []
    for block in blocks:
        m = re.match(r"\S*rule (\w+):", block.strip())
        if m and m.group(1) != "all":
            runtime = re.search(r"resources: .*\bruntime=(\d+)", block)
            jobs.append((m.group(1), int(runtime.group(1))))
    totals = re.findall(r"^total\s+(\d+)\s*$", proc.stdout + proc.stderr, flags=re.M)
    assert {int(t) for t in totals} == {len(jobs) + 1}  # + all
    return jobs


def test_local_plan_is_snakemakes_own_dag(tmp_path):
    jobs = dry_run_jobs(tmp_path)
    plan = build_plan([TINY], directory=tmp_path)
    per_rule = {}
    for rule, _ in jobs:
        per_rule[rule] = per_rule.get(rule, 0) + 1
    assert {name: rp.jobs for name, rp in plan.rules.items()} == per_rule
    assert plan.jobs == len(jobs) == plan.submissions  # locally: no groups
    # every job asks for one thread in this workflow, so CPU-hours are its runtimes' sum
    assert plan.cpu_hours == pytest.approx(sum(r for _, r in jobs) / 60)
    assert plan.gpu_hours == 0  # tiny.yaml runs on the CPU


def test_slurm_plan_groups_as_the_profile_says(tmp_path):
    plan = build_plan([TINY], profile=SLURM, directory=tmp_path)
    profile = yaml.safe_load((SLURM / "config.yaml").read_text())
    size = dict(g.split("=") for g in profile["group-components"])
    group_of = dict(g.split("=") for g in profile["groups"])
    n = {name: rp.jobs for name, rp in plan.rules.items()}
    # Components per group, from the DAG's shape: a scoring job alone; a run's autoencoder
    # fit with its intrinsic dimension; a dataset's summary with its figures; an experiment's
    # cells with its summary.
    components = {
        "score": n["score"] + n["score_input"],
        "latent": n["fit_autoencoder"],
        "summary": n["summarise"],
        "theory": n["theory_summary"],
    }
    expected = {g: math.ceil(c / int(size.get(g, 1))) for g, c in components.items()}
    assert plan.grouped_submissions == expected
    ungrouped = sum(rp.jobs for name, rp in plan.rules.items() if name not in group_of)
    assert plan.submissions == ungrouped + sum(expected.values())
    assert plan.submissions < plan.jobs
    # the hours are the jobs' own requests: the same with or without groups, call after call
    local = build_plan([TINY], directory=tmp_path)
    assert (plan.cpu_hours, plan.gpu_hours, plan.peak_mem_mb) == (
        local.cpu_hours,
        local.gpu_hours,
        local.peak_mem_mb,
    )


def test_plan_command_prints_the_totals(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["--configfile", str(TINY), "--profile", str(SLURM)]) == 0
    out = capsys.readouterr().out
    plan = build_plan([TINY], profile=SLURM, directory=tmp_path)
    assert format_plan(plan, "x").split("\n", 1)[1] in out
    assert re.search(rf"^submissions: {plan.submissions} ", out, flags=re.M)
    assert re.search(rf"^jobs: {plan.jobs}$", out, flags=re.M)
