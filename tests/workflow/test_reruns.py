"""Partial reruns and determinism, read from Snakemake's own dry-run plan."""

import copy
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import ROOT, finished_tiny_run, run_snakemake

pytestmark = pytest.mark.workflow
TINY = yaml.safe_load((ROOT / "config/tiny.yaml").read_text())


def jobs_in(proc):
    """(rule, wildcards) of every job a Snakemake run or dry run printed (rule ``all`` left
    out).

    Checked against Snakemake's own count, so that a change of its output format fails here
    instead of reading as "no jobs": the parsed jobs must number exactly the ``total`` of
    its job stats, and a plan of no jobs must say "Nothing to be done".
    """
    out = proc.stdout + proc.stderr
    jobs = []
    for block in re.split(r"\n(?=\S*rule \w+:)", out):
        m = re.match(r"\S*rule (\w+):", block.strip())
        if not m:
            continue
        w = re.search(r"^\s*wildcards: (.*)$", block, flags=re.M)
        wildcards = dict(kv.split("=", 1) for kv in w.group(1).split(", ")) if w else {}
        jobs.append((m.group(1), wildcards))
    totals = {int(t) for t in re.findall(r"^total\s+(\d+)\s*$", out, flags=re.M)}
    if jobs:
        assert totals == {len(jobs)}, (totals, len(jobs), out[-3000:])
    else:
        assert "Nothing to be done" in out and not totals, out[-3000:]
    return [(rule, w) for rule, w in jobs if rule != "all"]


def planned_jobs(run, cfg, tmp_path):
    """(rule, wildcards) of every job a dry run with ``cfg`` would execute (rule ``all`` left
    out), checked as :func:`jobs_in` checks them."""
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return jobs_in(run_snakemake(run, "-n", configfile=str(path)))


def assert_only_model_chain_and_summaries(jobs):
    """No theory job, and the jobs without a model wildcard are exactly the two summaries."""
    rules = {r for r, _ in jobs}
    assert not {r for r in rules if r.startswith("theory_")}, sorted(rules)
    assert {r for r, w in jobs if "model" not in w} == {"summarise", "figures"}, jobs


def edited(edit):
    cfg = copy.deepcopy(TINY)
    edit(cfg)
    return cfg


def test_unchanged_config_reruns_nothing(tiny_run, tmp_path):
    assert planned_jobs(tiny_run, TINY, tmp_path) == []


def test_autoencoder_change_reruns_only_what_depends_on_it(tiny_run, tmp_path):
    jobs = planned_jobs(tiny_run, edited(lambda c: c["autoencoder"].update(epochs=31)), tmp_path)
    rules = {r for r, _ in jobs}
    assert {"fit_autoencoder", "intrinsic_dimension", "summarise", "figures"} <= rules
    assert not rules & {"acquire_dataset", "train_model"}
    assert not rules & {"score_input"}
    for rule, w in jobs:
        if rule == "score":
            assert w["space"].startswith("latent") or w["space"] == "intrinsic", (rule, w)
    assert_only_model_chain_and_summaries(jobs)


def test_one_models_epochs_rerun_that_models_chain_only(tiny_run, tmp_path):
    def edit(c):
        next(m for m in c["models"] if m["name"] == "mlp")["epochs"] = 21

    jobs = planned_jobs(tiny_run, edited(edit), tmp_path)
    rules = {r for r, _ in jobs}
    assert {"train_model", "fit_autoencoder", "summarise"} <= rules
    assert all(w.get("model", "mlp") == "mlp" for _, w in jobs), jobs
    assert not rules & {"acquire_dataset", "score_input"}
    assert_only_model_chain_and_summaries(jobs)


def test_the_levers_rerun_only_the_tables_that_show_them(tiny_run, tmp_path):
    # the levers are the zoo's design: no training or scoring depends on them; the summary
    # tables show them (and the figures read them)
    def edit(c):
        c["levers"][0]["name"] = "optimiser steps"

    jobs = planned_jobs(tiny_run, edited(edit), tmp_path)
    assert sorted(r for r, _ in jobs) == ["figures", "summarise"], jobs


def test_adding_a_model_adds_only_its_jobs(tiny_run, tmp_path):
    def edit(c):
        c["models"].append({"name": "mlp-wide", "arch": "mlp", "width": 8, "epochs": 1})
        # (every seed of it: tiny trains each model with two)
        c["datasets"][0]["models"].append("mlp-wide")

    jobs = planned_jobs(tiny_run, edited(edit), tmp_path)
    per_model = {w["model"] for _, w in jobs if "model" in w}
    assert per_model == {"mlp-wide"}
    trained = sorted(w["seed"] for r, w in jobs if r == "train_model")
    assert trained == ["0", "1"]
    assert_only_model_chain_and_summaries(jobs)


@pytest.fixture(scope="module")
def second_run(tmp_path_factory):
    return finished_tiny_run(tmp_path_factory.mktemp("tiny-again"))


def test_adding_a_seed_adds_only_its_runs(tiny_run, tmp_path):
    jobs = planned_jobs(tiny_run, edited(lambda c: c.update(seeds=[0, 1, 2])), tmp_path)
    runs = {(w["model"], w["seed"]) for _, w in jobs if "seed" in w}
    assert runs == {(m, "2") for m in ("mlp", "mlp-short", "mlp-weak")}
    assert sum(r == "train_model" for r, _ in jobs) == 3
    assert_only_model_chain_and_summaries(jobs)


def test_two_runs_from_scratch_are_identical(tiny_run, second_run):
    tables = sorted((tiny_run / "results").rglob("*.tsv"))
    assert len(tables) > 30
    for path in tables:
        other = second_run / path.relative_to(tiny_run)
        assert other.read_bytes() == path.read_bytes(), path
    arrays = sorted((tiny_run / "results").rglob("*.npz"))
    assert len(arrays) >= 5
    for path in arrays:
        a, b = np.load(path), np.load(second_run / path.relative_to(tiny_run))
        assert a.files == b.files
        for key in a.files:
            assert np.array_equal(a[key], b[key]), (path, key)
    data = Path("resources/data/digits.npz")
    assert (tiny_run / data).read_bytes() == (second_run / data).read_bytes()


def test_adding_a_dataset_adds_only_its_jobs(tiny_run, tmp_path):
    # the documented way to see the claims on a second dataset (docs/configuration.md): the
    # first one's finished results stay; only the new dataset's jobs, the theory summaries
    # that collect both and the comparison of the two datasets' verdicts run
    def edit(c):
        c["datasets"].append({"name": "mnist", "models": ["mlp"]})
        c["theory"]["real_data"]["datasets"] = ["digits", "mnist"]

    jobs = planned_jobs(tiny_run, edited(edit), tmp_path)
    others = [(r, w) for r, w in jobs if w.get("dataset") != "mnist"]
    assert {(r, w.get("experiment")) for r, w in others} <= {
        ("theory_summary", "real_dimension"),
        ("theory_summary", "embedding"),
        ("compare_datasets", None),
    }, others
    assert ("compare_datasets", {}) in jobs
    assert ("acquire_dataset", {"dataset": "mnist"}) in jobs
    assert sum(r == "train_model" for r, _ in jobs) == len(TINY["seeds"])
