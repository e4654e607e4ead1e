"""Damaged training state is detected, never trusted: a checkpoint whose bytes changed on
disk is deleted and training starts again from epoch 1 (to the same model as a run never
interrupted); ``model.pt`` is written byte-reproducibly, its sha256 is recorded in
``train_metrics.json`` and checked by every load."""

import copy
import hashlib
import io
import json
import os
import re

import numpy as np
import pytest
import torch
import yaml
from sklearn.datasets import load_digits

import neuralhull.learn.training as training
from neuralhull.learn.models import ModelSpec
from neuralhull.learn.training import (
    ModelFileError,
    Split,
    TrainConfig,
    TrainingDiverged,
    load_model,
    save_model,
    train_classifier,
)
from neuralhull.summary import run_tables
from neuralhull.theory import embedding
from tests.conftest import ROOT, copy_workflow_profile, kill_mid_training, run_snakemake
from tests.unit.test_learning import _kill_after, _Killed, _same

# tiny's reference mlp (config/tiny.yaml), trained for fewer epochs
SPEC = ModelSpec(arch="mlp", in_shape=(1, 8, 8), n_classes=10, width=16, depth=1)
CFG = TrainConfig(epochs=5, lr=0.01, batch_size=64, seed=0)


def _train(digits, **kw):
    kw.setdefault("log", lambda m: None)
    return train_classifier(SPEC, CFG, Split(*digits), device="cpu", **kw)


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    x = np.round(d.images * 255 / 16).astype(np.uint8)[:, None]
    return x[:1400], d.target[:1400], x[1400:], d.target[1400:]


@pytest.fixture(scope="module")
def uninterrupted(digits):
    return train_classifier(SPEC, CFG, Split(*digits), device="cpu", log=lambda m: None)


def _state(path):
    """The state a checkpoint holds, read past its first line without any check."""
    payload = path.read_bytes().partition(b"\n")[2]
    return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)


def _flip(path, tensor, byte=0, count=16):
    """Flip ``byte`` (0: the lowest, 3: sign and exponent) of the first ``count`` non-zero
    float32 values of ``tensor`` where they lie in the file at ``path``."""
    data = bytearray(path.read_bytes())
    values = tensor.detach().contiguous().numpy().ravel()
    at = data.find(values.tobytes())
    assert at > 0 and data.find(values.tobytes(), at + 1) == -1, "not in the file once"
    nonzero = np.flatnonzero(values)[:count]
    assert len(nonzero) == count
    for i in nonzero:
        data[at + 4 * i + byte] ^= 0xFF if byte == 0 else 0x40
    path.write_bytes(bytes(data))


def _first_weight(state):
    return next(v for v in state["model"].values() if v.is_floating_point() and v.numel() >= 16)


def _damage(path, how):
    state = _state(path)
    if how == "weights, lowest bytes":  # altered weights that trained on quietly before
        _flip(path, _first_weight(state))
    elif how == "weights, exponent bytes":  # made training diverge before
        _flip(path, _first_weight(state), byte=3)
    elif how == "optimiser state":  # Adam's second moments of the first weight
        moments = state["optimizer"]["state"][0]["exp_avg_sq"]
        _flip(path, moments)
    elif how == "digest":
        data = bytearray(path.read_bytes())
        data[40] = ord("0") if data[40] != ord("0") else ord("1")
        path.write_bytes(bytes(data))
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif how == "no digest":  # a plain torch archive, as an older version wrote
        torch.save(state, path)
    else:
        raise AssertionError(how)


WHY = {
    "weights, lowest bytes": "damaged",
    "weights, exponent bytes": "damaged",
    "optimiser state": "damaged",
    "digest": "damaged",
    "truncated": "cut off",
    "no digest": "older version",
}


@pytest.mark.parametrize("how", list(WHY))
def test_a_damaged_checkpoint_is_deleted_and_training_starts_over(
    digits, uninterrupted, tmp_path, how
):
    ckpt = tmp_path / "ckpt" / "seed0.pt"
    with pytest.raises(_Killed):
        _train(digits, log=_kill_after(3), checkpoint=str(ckpt))
    assert _state(ckpt)["epoch"] == 3  # a genuine checkpoint of this very run
    _damage(ckpt, how)
    lines, on_disk = [], []

    def log(msg):
        lines.append(msg)
        if msg.startswith("ignoring checkpoint"):
            on_disk.append(ckpt.exists())

    again = _train(digits, log=log, checkpoint=str(ckpt))
    ignored = [m for m in lines if m.startswith(f"ignoring checkpoint {ckpt}: ")]
    assert len(ignored) == 1 and WHY[how] in ignored[0], lines
    assert "deleted it" in ignored[0] and on_disk == [False]  # gone before training went on
    assert not any("resumed from checkpoint" in m for m in lines), lines
    assert any(m.startswith(f"epoch 1/{CFG.epochs}:") for m in lines)
    _same(uninterrupted, again)  # the model of a run never interrupted, bitwise


def test_a_checkpoint_for_other_settings_is_deleted_too(digits, tmp_path):
    ckpt = tmp_path / "seed0.pt"
    other = TrainConfig(epochs=5, lr=0.02, batch_size=64, seed=0)
    with pytest.raises(_Killed):
        train_classifier(
            SPEC, other, Split(*digits), device="cpu", log=_kill_after(2), checkpoint=str(ckpt)
        )
    lines = []
    with pytest.raises(_Killed):  # stopped once the stale checkpoint has been dealt with
        _train(digits, log=lambda m: (lines.append(m), _kill_after(0)(m)), checkpoint=str(ckpt))
    assert any("other settings" in m and "deleted it" in m for m in lines), lines
    assert not ckpt.exists()


def test_divergence_after_a_resume_names_the_checkpoint(digits, tmp_path, monkeypatch):
    ckpt = tmp_path / "seed0.pt"
    with pytest.raises(_Killed):
        _train(digits, log=_kill_after(2), checkpoint=str(ckpt))
    # the resumed run's loss turns NaN (as a bad learning rate would make it)
    monkeypatch.setattr(training, "_training_loss", lambda logits, y: logits.sum() * np.nan)
    with pytest.raises(TrainingDiverged) as error:
        _train(digits, checkpoint=str(ckpt))
    message = str(error.value)
    assert "at epoch 3" in message and "lower the learning rate" in message
    assert f"resumed from checkpoint {ckpt} after epoch 2" in message
    assert "sha256" in message and "delete it" in message


def test_a_damaged_bottleneck_checkpoint_is_deleted_and_training_starts_over(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    images = rng.integers(0, 60, (300, 1, 8, 8))
    images[labels == 0, :, :4] += 180
    images = images.astype(np.uint8)
    data = (images[:200], labels[:200], images[200:], labels[200:])
    networks = embedding.BottleneckNetworks(
        2, TrainConfig(epochs=3, lr=0.01, batch_size=32), channels=2, depth=1
    )
    kw = dict(device="cpu")
    full = embedding.train_bottlenecks([2, 3], data, networks, log=lambda m: None, **kw)
    ckpt = tmp_path / "bottleneck" / "digits.pt"
    real_save = training.save_checkpoint

    def save_then_die(path, fingerprint, epoch, *rest):  # a run killed after epoch 2
        real_save(path, fingerprint, epoch, *rest)
        if epoch == 2:
            raise _Killed

    monkeypatch.setattr(training, "save_checkpoint", save_then_die)
    with pytest.raises(_Killed):
        embedding.train_bottlenecks(
            [2, 3], data, networks, log=lambda m: None, checkpoint=str(ckpt), **kw
        )
    monkeypatch.setattr(training, "save_checkpoint", real_save)
    _flip(ckpt, _first_weight(_state(ckpt)))  # the shared trunk's first convolution
    lines = []
    again = embedding.train_bottlenecks(
        [2, 3], data, networks, log=lines.append, checkpoint=str(ckpt), **kw
    )
    assert any(m.startswith(f"ignoring checkpoint {ckpt}: damaged") for m in lines), lines
    assert not any("resumed from checkpoint" in m for m in lines)
    for a, b in zip(full, again, strict=True):
        np.testing.assert_array_equal(a.train_linear, b.train_linear)
        assert a.history.test_loss == b.history.test_loss


def _write_metrics(folder, digest):
    (folder / "train_metrics.json").write_text(json.dumps({"model_sha256": digest}))


def test_model_file_is_byte_reproducible_and_checked_when_loaded(digits, tmp_path):
    paths = [tmp_path / "a" / "model.pt", tmp_path / "b" / "weights.pt"]
    digests = []
    for path in paths:  # two trainings with the same seed, saved under different names
        model, _, norm = _train(digits)
        digests.append(save_model(model, SPEC, norm, str(path)))
        _write_metrics(path.parent, digests[-1])
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert digests[0] == digests[1] == hashlib.sha256(paths[0].read_bytes()).hexdigest()
    loaded, spec, _ = load_model(str(paths[0]))  # checked against train_metrics.json
    assert spec == SPEC
    for a, b in zip(loaded.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b)

    _flip(paths[0], next(iter(model.state_dict().values())))
    with pytest.raises(ModelFileError, match="damaged") as error:
        load_model(str(paths[0]))
    assert str(paths[0]) in str(error.value) and f"snakemake --force {paths[0]}" in str(error.value)
    with pytest.raises(ModelFileError, match="damaged"):
        load_model(str(paths[0]), sha256=digests[0])

    (paths[1].parent / "train_metrics.json").write_text("{}")  # an older version's metrics
    with pytest.raises(ModelFileError, match="records no model_sha256") as error:
        load_model(str(paths[1]))
    assert str(paths[1]) in str(error.value)
    os.remove(paths[1].parent / "train_metrics.json")
    with pytest.raises(ModelFileError, match="train_metrics.json cannot be read"):
        load_model(str(paths[1]))
    load_model(str(paths[1]), sha256=digests[1])  # the digest given: no metrics file needed


def test_the_recorded_digest_changes_no_table(tmp_path):
    metrics = {
        "spec": SPEC.to_dict(),
        "train": CFG.__dict__,
        "final_train_accuracy": 1.0,
        "final_test_accuracy": 0.9,
    }
    intrinsic = {
        "chosen_latent_size": 2,
        "threshold_reached": True,
        "twonn": 3.0,
        "latent_sizes": [2],
        "r2_validation": [0.9],
        "mse_validation": [0.1],
        "r2_test": [0.9],
        "mse_test": [0.1],
    }
    tables = []
    for digest in (None, "0" * 64):
        run = tmp_path / str(digest) / "results/digits/mlp/seed0"
        run.mkdir(parents=True)
        (run / "train_metrics.json").write_text(
            json.dumps({**metrics, "model_sha256": digest} if digest else metrics)
        )
        (run / "intrinsic_dimension.json").write_text(json.dumps(intrinsic))
        models, latent, _ = run_tables(
            [str(run / "train_metrics.json")], [str(run / "intrinsic_dimension.json")], [0.9]
        )
        tables.append((models.to_csv(sep="\t"), latent.to_csv(sep="\t")))
    assert tables[0] == tables[1]


# The workflow: tiny's mlp trains long enough that the kill lands mid-training.
LONG_EPOCHS = 150
TARGET = "results/digits/mlp/seed0/model.pt"


def _killed_mid_training(workdir, config):
    log = workdir / "logs/train_model/digits/mlp/seed0.log"
    # epoch 4 logged: the checkpoint of epoch 3 is on disk
    kill_mid_training(workdir, TARGET, config, log, f"epoch 4/{LONG_EPOCHS}", cores=1)
    return log


@pytest.mark.workflow
def test_workflow_retrains_from_scratch_over_a_damaged_checkpoint(tmp_path):
    cfg = yaml.safe_load((ROOT / "config/tiny.yaml").read_text())
    cfg = copy.deepcopy(cfg)
    next(m for m in cfg["models"] if m["name"] == "mlp")["epochs"] = LONG_EPOCHS
    config = tmp_path / "long.yaml"
    config.write_text(yaml.safe_dump(cfg))
    run, fresh = tmp_path / "run", tmp_path / "uninterrupted"
    for folder in (run, fresh):
        folder.mkdir()
        copy_workflow_profile(folder)

    log = _killed_mid_training(run, config)
    checkpoint = run / "checkpoints/train_model/digits/mlp/seed0.pt"
    state = _state(checkpoint)
    assert state["epoch"] < LONG_EPOCHS - 1, "the kill landed after training"
    _flip(checkpoint, _first_weight(state))  # the low bytes of 16 weights
    run_snakemake(run, "--unlock", configfile=str(config))
    run_snakemake(run, TARGET, "--cores", "1", configfile=str(config))
    text = log.read_text()
    ignored = re.findall(r"ignoring checkpoint (\S+): damaged.*deleted it.*", text)
    assert ignored == ["checkpoints/train_model/digits/mlp/seed0.pt"], text[-3000:]
    after = text[text.index("ignoring checkpoint") :]
    assert "resumed from checkpoint" not in after and f"epoch 1/{LONG_EPOCHS}:" in after
    assert not checkpoint.exists()  # the job removed its own last checkpoint at the end

    run_snakemake(fresh, TARGET, "--cores", "1", configfile=str(config))
    weights = run / TARGET
    assert weights.read_bytes() == (fresh / TARGET).read_bytes()  # byte-reproducible
    metrics = json.loads((weights.parent / "train_metrics.json").read_text())
    assert metrics["model_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    with (
        np.load(weights.parent / "activations.npz") as a,
        np.load(fresh / "results/digits/mlp/seed0/activations.npz") as b,
    ):
        assert all(np.array_equal(a[key], b[key]) for key in b.files)

    model, _, _ = load_model(str(weights))
    _flip(weights, next(iter(model.state_dict().values())))
    with pytest.raises(ModelFileError, match=f"{weights} is damaged"):
        load_model(str(weights))
