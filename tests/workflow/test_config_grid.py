"""Configs that pass the schema but describe an impossible experiment grid are refused by
common.smk before any job runs, with a message naming the offending entry."""

import copy

import pytest

from tests.workflow.test_config import TINY, dry_run

pytestmark = pytest.mark.workflow


def with_model(**changes):
    cfg = copy.deepcopy(TINY)
    old = cfg["models"][0]["name"]
    cfg["models"][0].update(changes)
    new = cfg["models"][0]["name"]
    cfg["datasets"][0]["models"] = [new if m == old else m for m in cfg["datasets"][0]["models"]]
    return cfg


@pytest.mark.parametrize(
    "cfg, words",
    [
        # results/{dataset}/input/ holds the pixel-space scores: a model of that name would
        # overwrite them and the summary would mix the two.
        (with_model(name="input"), ["'input'", "reserved"]),
        (with_model(name="summary"), ["'summary'", "reserved"]),
        # torchvision's resnet18 takes 3-channel images; digits has one channel.
        (with_model(arch="resnet18"), ["resnet18", "3-channel", "digits"]),
    ],
    ids=["model-named-input", "model-named-summary", "resnet18-on-greyscale"],
)
def test_impossible_grid_is_refused_before_any_job(tmp_path, cfg, words):
    proc = dry_run(tmp_path, cfg)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-2000:]
    for word in words:
        assert word in out, out[-3000:]
    assert "rule train_model" not in out
    assert not (tmp_path / "results").exists()
