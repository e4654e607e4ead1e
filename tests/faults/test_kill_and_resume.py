"""Faults: a run killed mid-job leaves no output that looks finished, and a restart finishes;
training that diverges stops with a clear error instead of writing garbage."""

import copy
import json
import re

import numpy as np
import pytest
import torch
import yaml

from neuralhull.learn.autoencoder import AutoencoderConfig, fit_autoencoder
from neuralhull.learn.training import TrainingDiverged
from tests.conftest import ROOT, copy_workflow_profile, kill_mid_training, run_snakemake

TINY = yaml.safe_load((ROOT / "config/tiny.yaml").read_text())
# tiny's mlp trains 20 epochs: on a fast machine (~10 ms an epoch) over before a poll sees
# epoch 1. 150 epochs leave a wide margin there; the test checks the kill did land mid-way.
LONG_EPOCHS = 150


@pytest.mark.workflow
def test_killed_run_leaves_no_finished_looking_output_and_restarts(tmp_path):
    # mlp trains long enough that the kill below always lands mid-training
    cfg = copy.deepcopy(TINY)
    next(m for m in cfg["models"] if m["name"] == "mlp")["epochs"] = LONG_EPOCHS
    config = tmp_path / "long.yaml"
    config.write_text(yaml.safe_dump(cfg))

    copy_workflow_profile(tmp_path)
    target = "results/digits/mlp/seed0/model.pt"
    log = tmp_path / "logs/train_model/digits/mlp/seed0.log"
    # epoch 3 logged: the checkpoint of epoch 2 is on disk
    kill_mid_training(tmp_path, target, config, log, f"epoch 3/{LONG_EPOCHS}", cores=2)
    # the kill really landed mid-training: some epochs logged, not the last one
    epochs = [int(n) for n in re.findall(rf"epoch (\d+)/{LONG_EPOCHS}:", log.read_text())]
    assert epochs and max(epochs) < LONG_EPOCHS, epochs
    # training seconds reached at each finished epoch ("[12.3 s]" ends its log line)
    elapsed = {
        int(e): float(t)
        for e, t in re.findall(rf"epoch (\d+)/{LONG_EPOCHS}:.*\[([\d.]+) s\]", log.read_text())
    }
    model_dir = tmp_path / "results/digits/mlp/seed0"
    assert not (model_dir / "model.pt").exists()
    assert not (model_dir / "train_metrics.json").exists()
    # a killed Snakemake leaves its lock; the documented restart is --unlock, then rerun,
    # which must redo the job (the profile says rerun-incomplete) and finish
    run_snakemake(tmp_path, "--unlock", configfile=str(config))
    checkpoint = tmp_path / "checkpoints/train_model/digits/mlp/seed0.pt"
    assert checkpoint.exists()  # outside the declared outputs: Snakemake left it
    killed_at = max(epochs)
    run_snakemake(tmp_path, target, "--cores", "2", configfile=str(config))
    assert (model_dir / "model.pt").stat().st_size > 0
    text = log.read_text()
    assert f"epoch {LONG_EPOCHS}/{LONG_EPOCHS}:" in text
    resumed = [int(n) for n in re.findall(r"resumed from checkpoint .* after epoch (\d+)", text)]
    assert resumed and 2 <= resumed[0] <= killed_at, (resumed, killed_at)
    print(
        f"resume: killed after epoch {killed_at}/{LONG_EPOCHS}, resumed after epoch "
        f"{resumed[0]}: {elapsed[resumed[0]]:.1f} s of training not redone"
    )
    assert not checkpoint.exists()  # removed once the outputs were written
    assert not [p for p in model_dir.iterdir() if ".tmp" in p.name]
    # bitwise the weights and metrics of a run that was never interrupted
    fresh = tmp_path / "uninterrupted"
    fresh.mkdir()
    copy_workflow_profile(fresh)
    run_snakemake(fresh, target, "--cores", "2", configfile=str(config))
    a = torch.load(model_dir / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(fresh / target, weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    metrics = [
        json.loads((d / "train_metrics.json").read_text())
        for d in (model_dir, fresh / "results/digits/mlp/seed0")
    ]
    assert metrics[0]["per_epoch"] == metrics[1]["per_epoch"]


def _activations():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 10)).astype(np.float32)
    return x[:250], x[250:]


def test_autoencoder_divergence_is_a_clear_error():
    """A learning rate that blows the loss up stops the fit, naming the config key to change,
    instead of returning codes and R^2 computed from NaN weights."""
    train, test = _activations()
    logged = []
    cfg = AutoencoderConfig(hidden=16, epochs=5, lr=1e12, batch_size=64, seed=0)
    with pytest.raises(TrainingDiverged, match=r"k=2.*(nan|inf).*lower autoencoder\.lr"):
        fit_autoencoder(train, test, 2, cfg, log=logged.append)
    assert not any("R2" in m for m in logged), logged  # no quality was reported


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_autoencoder_refuses_non_finite_activations(bad):
    train, test = _activations()
    train = train.copy()
    train[3, 4] = bad
    with pytest.raises(ValueError, match="NaN or inf"):
        fit_autoencoder(train, test, 2, AutoencoderConfig(epochs=1), log=lambda m: None)
