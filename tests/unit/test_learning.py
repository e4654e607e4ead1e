"""Models, training, autoencoders and intrinsic dimension, against known facts."""

import hashlib
import os
import pickle

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from neuralhull.io import atomic_path, save_npz
from neuralhull.learn.autoencoder import AutoencoderConfig, fit_autoencoder, reconstruction_scores
from neuralhull.learn.intrinsic import (
    choose_latent_size,
    crossing_size,
    twonn_dimension,
    twonn_subsamples,
)
from neuralhull.learn.models import ModelSpec, build_model
from neuralhull.learn.training import (
    Split,
    TrainConfig,
    TrainingDiverged,
    channel_stats,
    corrupt_labels,
    extract_activations,
    fast_layout,
    load_model,
    save_model,
    seed_everything,
    train_classifier,
)


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    x = np.round(d.images * 255 / 16).astype(np.uint8)[:, None]
    return x[:1400], d.target[:1400], x[1400:], d.target[1400:]


# A model's params as the workflow's model_params hands them to train_model (a tiny.yaml
# model with the schema's defaults and its seed).
MODEL_PARAMS = {
    "arch": "mlp",
    "batch_size": 64,
    "channels": 16,
    "depth": 1,
    "epochs": 20,
    "label_noise": 0.1,
    "lr": 0.01,
    "seed": 1,
    "steps": 60,
    "weight_decay": 0.001,
    "width": 16,
}


def test_an_unknown_extract_is_refused_before_training(digits):
    spec = ModelSpec(arch="mlp", in_shape=(1, 8, 8), n_classes=10, width=8, depth=1)
    with pytest.raises(ValueError, match="extract must be one of"):
        train_classifier(spec, TrainConfig(epochs=1), Split(*digits), extract="feature")


def test_a_model_entry_gives_its_spec_and_settings():
    spec = ModelSpec.from_config(MODEL_PARAMS, (1, 8, 8), 10)
    assert spec == ModelSpec(
        arch="mlp", in_shape=(1, 8, 8), n_classes=10, width=16, depth=1, channels=16
    )
    assert TrainConfig.from_config(MODEL_PARAMS) == TrainConfig(
        epochs=20, lr=0.01, batch_size=64, seed=1, label_noise=0.1, weight_decay=0.001, steps=60
    )


def test_the_autoencoder_section_gives_the_fit_settings():
    section = {
        "latent_sizes": [1, 2],
        "hidden": 32,
        "epochs": 30,
        "lr": 0.005,
        "batch_size": 128,
        "validation_fraction": 0.2,
        "r2_threshold": 0.9,
        "seed": 3,
    }
    assert AutoencoderConfig.from_config(section) == AutoencoderConfig(
        hidden=32, epochs=30, lr=0.005, batch_size=128, validation_fraction=0.2, seed=3
    )


def test_channel_stats_match_the_float_formula():
    # the histogram route against numpy's mean and (population) std of images / 255
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(300, 3, 7, 5)).astype(np.uint8)
    images[:, 1] = 7  # a constant channel: std 0, floored
    mean, std = channel_stats(images)
    x = images.astype(np.float64) / 255
    np.testing.assert_allclose(mean, x.mean(axis=(0, 2, 3)), rtol=1e-14)
    np.testing.assert_allclose(std[[0, 2]], x.std(axis=(0, 2, 3))[[0, 2]], rtol=1e-12)
    assert std[1] == 1e-6


def test_seed_everything_turns_deterministic_kernels_on():
    torch.use_deterministic_algorithms(False)
    seed_everything(0)
    assert torch.are_deterministic_algorithms_enabled()
    assert not torch.is_deterministic_algorithms_warn_only_enabled()


def test_corrupt_labels_changes_exactly_the_fraction():
    y = np.arange(1000) % 10
    noisy, k = corrupt_labels(y, 0.3, 10, seed=1)
    assert k == 300 and (noisy != y).sum() == 300
    assert noisy.min() >= 0 and noisy.max() <= 9
    with pytest.raises(ValueError, match="label_noise"):
        corrupt_labels(y, 1.0, 10, 0)


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_models_expose_last_hidden_layer(arch):
    spec = ModelSpec(arch=arch, in_shape=(1, 8, 8), n_classes=10, width=12, depth=2, channels=4)
    model = build_model(spec)
    x = torch.randn(5, 1, 8, 8)
    h = model.features(x)
    assert h.shape == (5, 12) and (h >= 0).all()  # after the ReLU
    torch.testing.assert_close(model(x), model.head(h))


def test_channels_last_layout_computes_the_same_function():
    # fast_layout changes strides, not arithmetic: same outputs as the default layout (up
    # to float rounding), and the saved weights load into a default-layout model.
    torch.manual_seed(0)
    spec = ModelSpec(arch="cnn", in_shape=(1, 12, 12), n_classes=10, width=16, channels=4)
    plain = build_model(spec).eval()
    fast = fast_layout(build_model(spec)).eval()
    fast.load_state_dict(plain.state_dict())
    # the second convolution (4 -> 8 channels): its weight's strides tell the layouts apart
    conv = [m for m in fast.modules() if isinstance(m, torch.nn.Conv2d)][1]
    conv_plain = [m for m in plain.modules() if isinstance(m, torch.nn.Conv2d)][1]
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not conv_plain.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(7, 1, 12, 12)
    torch.testing.assert_close(fast(x), plain(x), rtol=1e-5, atol=1e-5)
    reloaded = build_model(spec).eval()
    reloaded.load_state_dict(fast.state_dict())
    torch.testing.assert_close(reloaded(x), fast(x), rtol=1e-5, atol=1e-5)


def test_training_hands_over_the_extraction_of_its_final_pass(digits):
    # extract="features": the final evaluation keeps the last hidden layer; it is what a separate
    # extraction of the saved model gives, and its accuracies are the history's last ones.
    xtr, ytr, xte, yte = digits
    spec = ModelSpec(arch="cnn", in_shape=(1, 8, 8), n_classes=10, width=16, channels=4)
    cfg = TrainConfig(epochs=2, lr=0.01, batch_size=64, seed=1)
    model, hist, norm = train_classifier(
        spec, cfg, Split(xtr, ytr, xte, yte), device="cpu", log=lambda m: None, extract="features"
    )
    acts, preds = extract_activations(model, xte, norm)
    np.testing.assert_allclose(hist.final_test.features, acts, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(hist.final_test.predictions, preds)
    assert hist.final_train.features.shape == (len(xtr), 16)
    assert hist.final_test.accuracy == hist.test_accuracy[-1] == np.mean(preds == yte)
    assert hist.final_train.accuracy == hist.train_accuracy[-1]
    # without it nothing is kept (a theory or library caller that needs no activations)
    _, plain, _ = train_classifier(spec, cfg, Split(xtr, ytr, xte, yte), device="cpu", log=print)
    assert plain.final_test.features is None
    assert plain.test_accuracy == hist.test_accuracy


def test_resnet18_needs_three_channels():
    spec = ModelSpec(arch="resnet18", in_shape=(3, 32, 32), n_classes=10)
    assert build_model(spec).features(torch.randn(2, 3, 32, 32)).shape == (2, 512)
    with pytest.raises(ValueError, match="3-channel"):
        build_model(ModelSpec(arch="resnet18", in_shape=(1, 28, 28), n_classes=10))


def test_training_learns_digits_and_is_deterministic(digits, tmp_path):
    xtr, ytr, xte, yte = digits
    spec = ModelSpec(arch="mlp", in_shape=(1, 8, 8), n_classes=10, width=32, depth=1)
    cfg = TrainConfig(epochs=15, lr=0.01, batch_size=64, seed=3)
    model, hist, norm = train_classifier(
        spec, cfg, Split(xtr, ytr, xte, yte), device="cpu", log=lambda m: None
    )
    # a small MLP on scikit-learn's digits is known to reach well above 90% test accuracy
    assert hist.test_accuracy[-1] > 0.9
    assert len(hist.train_loss) == 15 and hist.train_loss[-1] < hist.train_loss[0]
    model2, hist2, _ = train_classifier(
        spec, cfg, Split(xtr, ytr, xte, yte), device="cpu", log=lambda m: None
    )
    for a, b in zip(model.state_dict().values(), model2.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    path = tmp_path / "m.pt"
    loaded, spec2, norm2 = load_model(path, sha256=save_model(model, spec, norm, path))
    assert spec2 == spec
    acts, preds = extract_activations(loaded, xte, norm2)
    assert acts.shape == (len(xte), 32) and acts.dtype == np.float32
    assert np.mean(preds == yte) == pytest.approx(hist.test_accuracy[-1])


def test_label_noise_makes_a_weaker_model(digits):
    xtr, ytr, xte, yte = digits
    spec = ModelSpec(arch="mlp", in_shape=(1, 8, 8), n_classes=10, width=32, depth=1)
    kw = dict(device="cpu", log=lambda m: None)
    clean = train_classifier(
        spec, TrainConfig(epochs=10, lr=0.01, seed=0), Split(xtr, ytr, xte, yte), **kw
    )
    noisy = train_classifier(
        spec,
        TrainConfig(epochs=10, lr=0.01, seed=0, label_noise=0.8),
        Split(xtr, ytr, xte, yte),
        **kw,
    )
    assert noisy[1].test_accuracy[-1] < clean[1].test_accuracy[-1] - 0.1


def test_divergence_is_a_clear_error(digits):
    xtr, ytr, xte, yte = digits
    spec = ModelSpec(arch="mlp", in_shape=(1, 8, 8), n_classes=10, width=32, depth=3)
    with pytest.raises(TrainingDiverged, match="lower the learning rate"):
        train_classifier(
            spec,
            TrainConfig(epochs=5, lr=1e12, seed=0),
            Split(xtr, ytr, xte, yte),
            log=lambda m: None,
        )


def test_loading_weights_never_runs_pickled_code(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    path = tmp_path / "evil.pt"
    with open(path, "wb") as fh:
        pickle.dump({"spec": {}, "state_dict": Exploit()}, fh)
    with pytest.raises(pickle.UnpicklingError):  # (its digest given: the bytes are checked)
        load_model(path, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    assert not (tmp_path / "pwned").exists()


def test_reconstruction_scores_known_values():
    x = np.array([[0.0, 0.0], [2.0, 2.0]])
    mean = x.mean(0)
    assert reconstruction_scores(x, x, mean) == (1.0, 0.0)
    r2, mse = reconstruction_scores(x, np.tile(mean, (2, 1)), mean)
    assert r2 == pytest.approx(0.0) and mse == pytest.approx(1.0)


def test_autoencoder_finds_a_two_dimensional_linear_structure():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(3000, 2))
    x = (z @ rng.normal(size=(2, 20))).astype(np.float32)
    cfg = AutoencoderConfig(hidden=32, epochs=30, lr=3e-3, batch_size=128, seed=0)
    fits = {k: fit_autoencoder(x[:2500], x[2500:], k, cfg, log=lambda m: None) for k in (1, 2)}
    assert fits[2].r2_validation > 0.98 and fits[2].r2_test > 0.98
    # one latent unit cannot hold a 2-D Gaussian: a linear code keeps half the variance, a
    # non-linear one somewhat more, never all of it
    assert fits[1].r2_validation < 0.9
    assert fits[2].codes_train.shape == (2500, 2) and fits[2].codes_test.shape == (500, 2)
    assert choose_latent_size([1, 2], [fits[1].r2_validation, fits[2].r2_validation], 0.95) == (
        2,
        True,
    )


def test_choose_latent_size_rule():
    assert choose_latent_size([8, 2, 4], [0.99, 0.5, 0.95], 0.9) == (4, True)
    assert choose_latent_size([2, 4], [0.5, 0.6], 0.9) == (4, False)


def test_crossing_size_hand_cases():
    # between 4 (0.8) and 8 (1.0), 0.9 is reached half-way: 6
    assert crossing_size([2, 4, 8], [0.5, 0.8, 1.0], 0.9) == pytest.approx(6.0)
    # unsorted input, and a size exactly at the threshold is its own crossing
    assert crossing_size([8, 2, 4], [0.99, 0.5, 0.9], 0.9) == pytest.approx(4.0)
    # the first size reaches it: the curve starts at R2 0 at size 0 (the training mean)
    assert crossing_size([1, 2], [0.95, 0.99], 0.9) == pytest.approx(0.9 / 0.95)
    assert crossing_size([2, 4], [0.95, 0.99], 0.5) == pytest.approx(2 * 0.5 / 0.95)
    # none reaches it: the largest size, as the integer rule gives
    assert crossing_size([2, 4], [0.5, 0.6], 0.9) == 4.0
    # a dip after the first crossing does not matter: the first crossing counts
    assert crossing_size([1, 2, 3, 4], [0.5, 0.95, 0.7, 0.99], 0.9) == pytest.approx(1 + 0.4 / 0.45)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        crossing_size([1, 2], [0.5, 0.9], 0.0)


def test_crossing_size_matches_a_brute_force_search():
    """Against a dense scan of the piecewise-linear curve (from (0, 0)), and never above the
    integer size nor at or below the swept size before it."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        sizes = np.sort(rng.choice(np.arange(1, 40), size=rng.integers(1, 8), replace=False))
        r2 = np.sort(rng.uniform(-0.2, 1.0, size=len(sizes)))
        if rng.random() < 0.3:  # not always monotone
            r2 = rng.permutation(r2)
        t = float(rng.uniform(0.05, 1.0))
        got = crossing_size(sizes.tolist(), r2.tolist(), t)
        k, reached = choose_latent_size(sizes, r2, t)
        if not reached:
            assert got == sizes.max()
            continue
        grid = np.linspace(0, sizes.max(), 400_001)
        curve = np.interp(grid, np.r_[0, sizes], np.r_[0.0, r2])
        brute = grid[np.argmax(curve >= t - 1e-12)]
        assert got == pytest.approx(brute, abs=2 * sizes.max() / 400_000)
        before = sizes[sizes < k].max() if (sizes < k).any() else 0
        assert before < got <= k


@pytest.mark.parametrize("dim", [1, 2, 5])
def test_twonn_recovers_the_dimension_of_a_linear_manifold(dim):
    rng = np.random.default_rng(dim)
    x = rng.uniform(size=(4000, dim)) @ rng.normal(size=(dim, 30))
    assert twonn_dimension(x) == pytest.approx(dim, rel=0.15)


@pytest.mark.parametrize("dim", [2, 4])
def test_twonn_subsamples_recover_a_linear_subspace_and_a_torus(dim):
    """A d-dimensional linear subspace and a flat d-torus, both embedded in 30 dimensions:
    the mean over subsamples is near d and its interval covers d."""
    rng = np.random.default_rng(dim)
    rotation = np.linalg.qr(rng.normal(size=(30, 30)))[0]
    subspace = rng.uniform(size=(20000, dim)) @ rng.normal(size=(dim, 30))
    # the flat d-torus: (cos t_i, sin t_i) per angle, in 2d coordinates, then rotated in 30
    angles = rng.uniform(0, 2 * np.pi, size=(20000, dim))
    torus = np.hstack([np.cos(angles), np.sin(angles), np.zeros((20000, 30 - 2 * dim))])
    for x in (subspace, torus @ rotation):
        got = twonn_subsamples(x, n_subsamples=5, max_points=3000, seed=1)
        assert got["points_per_subsample"] == 3000 and len(got["estimates"]) == 5
        assert got["estimate"] == pytest.approx(dim, rel=0.1)
        assert got["low"] < dim < got["high"]


def test_twonn_subsamples_are_disjoint_blocks_with_a_t_interval():
    from scipy import stats

    rng = np.random.default_rng(0)
    x = rng.normal(size=(1000, 3))
    x = np.vstack([x, x[:50]])  # duplicates are dropped before the blocks are cut
    got = twonn_subsamples(x, n_subsamples=4, max_points=5000, seed=3)
    distinct = np.unique(x, axis=0)
    assert got["points_per_subsample"] == 250  # 1000 distinct points // 4
    perm = np.random.default_rng(3).permutation(len(distinct))
    blocks = [perm[i * 250 : (i + 1) * 250] for i in range(4)]
    assert len(set(np.concatenate(blocks))) == 1000  # disjoint
    expected = [twonn_dimension(distinct[b], max_points=250) for b in blocks]
    assert got["estimates"] == pytest.approx(expected, rel=1e-12)
    low, high = stats.t.interval(
        0.95, len(expected) - 1, loc=np.mean(expected), scale=stats.sem(expected)
    )
    assert (got["estimate"], got["low"], got["high"]) == pytest.approx(
        (np.mean(expected), low, high), rel=1e-12
    )
    with pytest.raises(ValueError, match="at least 2 subsamples"):
        twonn_subsamples(x, n_subsamples=1)
    with pytest.raises(ValueError, match="at least 15 distinct points"):
        twonn_subsamples(np.zeros((100, 3)), n_subsamples=5)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.npz"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        open(tmp, "w").write("half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    save_npz(target, a=np.arange(3))
    assert list(tmp_path.iterdir()) == [target]
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
    np.testing.assert_array_equal(np.load(target)["a"], np.arange(3))


def test_autoencoder_fits_on_the_device_it_is_given():
    """The device argument is honoured: on a machine without a GPU, asking for one fails
    (an ignored argument would quietly fit on the CPU); with a GPU the codes match the CPU's."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 6)).astype(np.float32)
    cfg = AutoencoderConfig(hidden=8, epochs=2, batch_size=64, seed=0)
    quiet = dict(log=lambda m: None)
    cpu = fit_autoencoder(x[:250], x[250:], 2, cfg, device=torch.device("cpu"), **quiet)
    assert cpu.codes_train.dtype == np.float32 and cpu.codes_test.shape == (50, 2)
    if torch.cuda.is_available():
        gpu = fit_autoencoder(x[:250], x[250:], 2, cfg, device="cuda", **quiet)
        np.testing.assert_allclose(gpu.codes_train, cpu.codes_train, atol=1e-3)
    else:
        with pytest.raises((RuntimeError, AssertionError)):
            fit_autoencoder(x[:250], x[250:], 2, cfg, device="cuda", **quiet)


class _Killed(Exception):
    pass


def _train(digits, cfg, **kw):
    xtr, ytr, xte, yte = digits
    spec = ModelSpec(arch="mlp", in_shape=(1, 8, 8), n_classes=10, width=16, depth=1)
    kw.setdefault("device", "cpu")
    return train_classifier(spec, cfg, Split(xtr, ytr, xte, yte), **kw)


def _kill_after(epoch):
    """A log that stops training (like a kill) once the given epoch has been checkpointed:
    its line is logged before its checkpoint is written, so stop at the next one."""

    def log(msg):
        if msg.startswith(f"  epoch {epoch + 1} batch") or msg.startswith(f"epoch {epoch + 1}/"):
            raise _Killed

    return log


def _same(a, b):
    (ma, ha, _), (mb, hb, _) = a, b
    for x, y in zip(ma.state_dict().values(), mb.state_dict().values(), strict=True):
        assert torch.equal(x, y)
    assert ha.train_loss == hb.train_loss and ha.test_accuracy == hb.test_accuracy


def test_interrupted_training_resumes_to_bitwise_the_same_model(digits, tmp_path):
    cfg = TrainConfig(epochs=6, lr=0.01, batch_size=64, seed=5)
    full = _train(digits, cfg, log=lambda m: None)
    ckpt = tmp_path / "ckpt" / "run.pt"
    with pytest.raises(_Killed):
        _train(digits, cfg, log=_kill_after(3), checkpoint=str(ckpt))
    assert ckpt.exists()
    lines = []
    resumed = _train(digits, cfg, log=lines.append, checkpoint=str(ckpt))
    assert any("resumed from checkpoint" in m and "after epoch 3" in m for m in lines), lines
    assert not any(m.startswith("epoch 1/") for m in lines)  # epochs 1-3 were not redone
    _same(full, resumed)


def test_a_stale_or_corrupt_checkpoint_is_ignored_with_a_log_line(digits, tmp_path):
    cfg = TrainConfig(epochs=4, lr=0.01, batch_size=64, seed=5)
    full = _train(digits, cfg, log=lambda m: None)
    ckpt = tmp_path / "run.pt"
    # written for another learning rate: other settings, never resumed
    with pytest.raises(_Killed):
        _train(
            digits,
            TrainConfig(epochs=4, lr=0.02, batch_size=64, seed=5),
            log=_kill_after(2),
            checkpoint=str(ckpt),
        )
    lines = []
    _same(full, _train(digits, cfg, log=lines.append, checkpoint=str(ckpt)))
    assert any("ignoring checkpoint" in m and "other settings" in m for m in lines), lines
    # a truncated file: unreadable, ignored, training starts again from epoch 1
    ckpt.unlink()  # (the run above left its own last checkpoint: the caller removes it)
    with pytest.raises(_Killed):
        _train(digits, cfg, log=_kill_after(2), checkpoint=str(ckpt))
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    lines = []
    _same(full, _train(digits, cfg, log=lines.append, checkpoint=str(ckpt)))
    assert any("ignoring checkpoint" in m and "cut off" in m for m in lines), lines
    assert any(m.startswith("epoch 1/") for m in lines)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallback of auto")
def test_auto_device_says_in_the_log_where_it_runs(digits):
    lines = []
    cfg = TrainConfig(epochs=1, lr=0.01, batch_size=64, seed=0)
    _train(digits, cfg, log=lines.append, device="auto")
    assert "device=cpu (auto: no GPU visible)" in lines[0], lines[0]
    lines = []
    _train(digits, cfg, log=lines.append, device="cpu")
    assert "device=cpu (config: device cpu)" in lines[0], lines[0]


def test_convnet_is_the_pytorch_mnist_example_network():
    # channels 32, width 128: the example's network (1,199,882 parameters: conv 320 +
    # 18,496, fully connected 1,179,776 + 1,290)
    spec = ModelSpec(arch="convnet", in_shape=(1, 28, 28), n_classes=10, width=128, channels=32)
    model = build_model(spec)
    assert sum(p.numel() for p in model.parameters()) == 1_199_882
    assert model.features(torch.randn(3, 1, 28, 28)).shape == (3, 128)
    drops = [m.p for m in model.body if isinstance(m, torch.nn.Dropout)]
    assert drops == [0.25, 0.5]
    with pytest.raises(ValueError, match="6 x 6"):
        build_model(ModelSpec(arch="convnet", in_shape=(1, 4, 4), n_classes=10))


@pytest.mark.parametrize("arch", ["mlp", "cnn", "convnet"])
def test_readings_are_the_last_hidden_layer_before_and_after_its_relu(arch):
    torch.manual_seed(0)
    spec = ModelSpec(arch=arch, in_shape=(1, 8, 8), n_classes=10, width=12, channels=4)
    model = build_model(spec).eval()
    x = torch.randn(20, 1, 8, 8)
    with torch.no_grad():
        linear, relu = model.readings(x)
        assert torch.equal(relu, model.features(x))
        assert torch.equal(relu, torch.relu(linear))
        assert (linear < 0).any()  # a real pre-activation, not the ReLU's output
    resnet = build_model(ModelSpec(arch="resnet18", in_shape=(3, 32, 32), n_classes=10))
    with pytest.raises(ValueError, match="fully connected"):
        resnet.readings(torch.randn(1, 3, 32, 32))


def test_adadelta_with_a_decaying_rate_learns_and_resumes_bitwise(digits, tmp_path):
    cfg = TrainConfig(epochs=5, lr=1.0, batch_size=64, seed=2, optimizer="adadelta", lr_decay=0.7)
    full = _train(digits, cfg, log=lambda m: None)
    assert full[1].test_accuracy[-1] > 0.75  # chance is 0.1
    # the decay is a function of the epoch: a resumed run ends bitwise where a full run does
    ckpt = tmp_path / "run.pt"
    with pytest.raises(_Killed):
        _train(digits, cfg, log=_kill_after(2), checkpoint=str(ckpt))
    _same(full, _train(digits, cfg, log=lambda m: None, checkpoint=str(ckpt)))
    # and it changes the run: without decay the weights differ
    other = _train(digits, TrainConfig(**{**cfg.__dict__, "lr_decay": 1.0}), log=lambda m: None)
    assert not torch.equal(
        next(iter(full[0].state_dict().values())), next(iter(other[0].state_dict().values()))
    )
    with pytest.raises(ValueError, match="optimizer"):
        _train(digits, TrainConfig(epochs=1, optimizer="sgd"), log=lambda m: None)
    with pytest.raises(ValueError, match="lr_decay"):
        _train(digits, TrainConfig(epochs=1, lr_decay=0.0), log=lambda m: None)


def test_warmup_raises_the_rate_linearly_and_resumes_bitwise(digits, tmp_path):
    seen = []

    class Spy(torch.optim.Adam):
        def step(self, closure=None):
            seen.append(self.param_groups[0]["lr"])
            return super().step(closure)

    cfg = TrainConfig(epochs=3, lr=0.01, batch_size=64, seed=4, warmup_steps=10, lr_decay=0.5)
    original = torch.optim.Adam
    torch.optim.Adam = Spy
    try:
        full = _train(digits, cfg, log=lambda m: None)
    finally:
        torch.optim.Adam = original
    n_batches = len(seen) // 3  # 22 batches of 64 digits per epoch
    assert n_batches == 22
    assert seen[:10] == pytest.approx([0.01 * (i + 1) / 10 for i in range(10)])
    assert seen[10:n_batches] == pytest.approx([0.01] * (n_batches - 10))
    assert seen[n_batches] == pytest.approx(0.005) and seen[-1] == pytest.approx(0.0025)
    ckpt = tmp_path / "run.pt"
    with pytest.raises(_Killed):
        _train(digits, cfg, log=_kill_after(1), checkpoint=str(ckpt))
    _same(full, _train(digits, cfg, log=lambda m: None, checkpoint=str(ckpt)))
    # a warm-up longer than an epoch carries on under the first decay: 30 steps, 22 a epoch
    seen.clear()
    torch.optim.Adam = Spy
    try:
        _train(digits, TrainConfig(**{**cfg.__dict__, "warmup_steps": 30}), log=lambda m: None)
    finally:
        torch.optim.Adam = original
    assert seen[21] == pytest.approx(0.01 * 22 / 30)
    assert seen[22] == pytest.approx(0.005 * 23 / 30)  # epoch 2, step 23 of the warm-up
    assert seen[29:44] == pytest.approx([0.005] * 15) and seen[44] == pytest.approx(0.0025)


def test_a_network_with_dropout_resumes_to_bitwise_the_same_model(digits, tmp_path):
    # dropout masks come from torch's global generator: the checkpoint carries its state
    xtr, ytr, xte, yte = digits
    spec = ModelSpec(arch="convnet", in_shape=(1, 8, 8), n_classes=10, width=16, channels=4)
    cfg = TrainConfig(epochs=4, lr=0.01, batch_size=64, seed=3, warmup_steps=30, lr_decay=0.8)

    def run(**kw):
        return train_classifier(spec, cfg, Split(xtr, ytr, xte, yte), device="cpu", **kw)

    full = run(log=lambda m: None)
    ckpt = tmp_path / "run.pt"
    with pytest.raises(_Killed):
        run(log=_kill_after(2), checkpoint=str(ckpt))
    _same(full, run(log=lambda m: None, checkpoint=str(ckpt)))
