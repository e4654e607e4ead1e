"""A malformed config stops Snakemake before any job runs, with a message naming the key."""

import copy
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, copy_workflow_profile, run_snakemake

TINY = yaml.safe_load((ROOT / "config/tiny.yaml").read_text())


def dry_run(tmp_path, cfg):
    copy_workflow_profile(tmp_path)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return run_snakemake(tmp_path, "-n", check=False, configfile=str(path))


def mutated(edit):
    cfg = copy.deepcopy(TINY)
    edit(cfg)
    return cfg


@pytest.mark.workflow
@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda c: c["autoencoder"].update(latent_sizse=[2]), ["latent_sizse"]),
        (lambda c: c["hull"].update(max_queries="many"), ["max_queries", "many"]),
        (lambda c: c["models"][0].update(epochs=0), ["epochs", "minimum"]),
        (lambda c: c["models"][0].update(label_noise=1.5), ["label_noise"]),
        (lambda c: c["datasets"][0].update(name="imagenet"), ["imagenet"]),
        (lambda c: c["models"][0].update(arch="transformer"), ["transformer"]),
        (lambda c: c["datasets"][0]["models"].append("nope"), ["nope", "not defined"]),
        (lambda c: c["models"].append(dict(c["models"][0])), ["unique", "mlp-weak"]),
    ],
)
def test_bad_config_is_refused_before_any_job(tmp_path, edit, words):
    proc = dry_run(tmp_path, mutated(edit))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    for word in words:
        assert word in out, out[-3000:]
    assert not (Path(tmp_path) / "results").exists()
    assert not re.search(r"^rule \w+:", out, flags=re.M)  # no job was even planned


@pytest.mark.workflow
def test_the_shipped_configs_are_valid(tmp_path):
    for name in ("config/config.yaml", "config/tiny.yaml", "config/paper.yaml"):
        proc = run_snakemake(tmp_path, "-n", "--quiet", "all", check=False, configfile=name)
        assert proc.returncode == 0, (name, proc.stderr[-3000:])


@pytest.mark.workflow
def test_torch_steps_ask_for_a_gpu_only_when_the_config_says_cuda(tmp_path):
    copy_workflow_profile(tmp_path)  # its printshellcmds separates the dry run's jobs

    def train_resources(device):
        proc = run_snakemake(tmp_path, "-n", "--config", f"device={device}")
        blocks = [b for b in proc.stdout.split("\n\n") if "rule train_model:" in b]
        assert blocks, proc.stdout[-2000:]
        return [line for b in blocks for line in b.splitlines() if "resources:" in line]

    for device, gpus in (("cuda", 1), ("cpu", 0)):
        lines = train_resources(device)
        # all() of nothing is true: a changed dry-run format must fail, not pass
        assert lines, f"no resources line for train_model with device={device}"
        assert all(re.search(rf"\bgpu={gpus}(,|$)", line) for line in lines), (device, lines)


def test_config_readme_is_the_schema_and_every_key_is_described():
    from neuralhull.config_doc import config_readme

    text = (ROOT / "config/README.md").read_text()
    assert text == config_readme(), "regenerate: python -m neuralhull.config_doc > config/README.md"
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) > 60
    assert all(not line.rstrip().endswith("|  |") for line in rows), "a key lacks a description"
    for key in ("`seeds`", "`findings.almost_none`", "`autoencoder.r2_thresholds`"):
        assert any(line.startswith(f"| {key} ") for line in rows), key


def trained_runs(stdout):
    """(dataset, model, seed) of every training job a dry run plans."""
    return set(re.findall(r"results/(\w+)/([\w-]+)/seed(\d+)/model\.pt", stdout))


@pytest.mark.workflow
def test_the_default_runs_both_zoos_and_the_documented_targets_one_dataset(tmp_path):
    # the default trains each dataset's zoo with every seed; the command of
    # docs/configuration.md ("A second dataset") plans one dataset's tables alone
    default_cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    zoo = {entry["name"]: entry["models"] for entry in default_cfg["datasets"]}
    assert set(zoo) == {"mnist", "fashion_mnist"}
    assert set(zoo["fashion_mnist"]) < set(zoo["mnist"])  # the smaller zoo, same models
    seeds = {str(s) for s in default_cfg["seeds"]}
    plan = run_snakemake(tmp_path, "-n", configfile="config/config.yaml")
    expected = {(ds, m, s) for ds, models in zoo.items() for m in models for s in seeds}
    assert trained_runs(plan.stdout) == expected
    for dataset in zoo:
        assert f"results/{dataset}/summary/findings.tsv" in plan.stdout
    text = (ROOT / "docs/configuration.md").read_text()
    block = text.split("## A second dataset", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    targets = block.split("--cores all", 1)[1].split()
    assert targets and all(t.startswith("results/mnist/") for t in targets), block
    one = run_snakemake(tmp_path, "-n", *targets, configfile="config/config.yaml")
    assert trained_runs(one.stdout) == {r for r in expected if r[0] == "mnist"}
    assert "results/fashion_mnist" not in one.stdout
