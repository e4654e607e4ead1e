"""Bottleneck networks trained together on a shared trunk (theory.embedding.shared_trunk):
each member is a standalone classifier, gets the gradient it would get alone, and the shared
evaluation pass equals evaluating every member on its own."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neuralhull.learn.models import SharedTrunk, build_model  # noqa: E402
from neuralhull.learn.training import (  # noqa: E402
    TrainConfig,
    _training_loss,
    forward_pass,
    load_model,
    save_model,
)
from neuralhull.theory import embedding  # noqa: E402

KS = (1, 3, 5)


def _members(arch="cnn", seed=0):
    torch.manual_seed(seed)
    specs = [embedding.bottleneck_spec(k, (1, 8, 8), 4, channels=2, depth=1, arch=arch) for k in KS]
    return specs, [build_model(s) for s in specs]


def _networks(epochs=1):
    """Small bottleneck CNNs for the 8x8 two-class task."""
    return embedding.BottleneckNetworks(
        2, TrainConfig(epochs=epochs, lr=0.01, batch_size=32), channels=2, depth=1
    )


def _easy_task(n=300, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    images = rng.integers(0, 60, (n, 1, 8, 8))
    images[labels == 0, :, :4] += 180
    images[labels == 1, :, 4:] += 180
    return images.astype(np.uint8), labels


def test_the_trunk_is_one_set_of_parameters():
    specs, members = _members()
    alone = [sum(p.numel() for p in m.parameters()) for m in members]
    shared = SharedTrunk(members)
    trunk = sum(p.numel() for p in shared.trunk.parameters())
    assert trunk > 0
    assert sum(p.numel() for p in shared.parameters()) == sum(alone) - (len(KS) - 1) * trunk
    assert all(m.body[0] is shared.trunk[0] for m in shared.members)


@pytest.mark.parametrize("arch", ["cnn", "convnet"])
def test_shared_logits_are_the_members_own(arch):
    specs, members = _members(arch)
    shared = SharedTrunk(members).eval()
    x = torch.randn(7, 1, 8, 8)
    logits = shared(x)
    assert logits.shape == (7, len(KS), 4)
    for j, m in enumerate(shared.members):
        torch.testing.assert_close(logits[:, j], m(x), rtol=0, atol=0)


def test_each_member_gets_the_gradient_it_would_get_alone():
    specs, members = _members()
    shared = SharedTrunk(members)
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 4, (16,))
    _training_loss(shared(x), y).backward()
    for m in shared.members:
        own = [p.grad.clone() for p in m.head.parameters()]
        fc = [p.grad.clone() for p in m.body[shared.cut].parameters()]
        shared.zero_grad()
        torch.nn.functional.cross_entropy(m(x), y).backward()
        for got, want in zip(
            own + fc,
            list(m.head.parameters()) + list(m.body[shared.cut].parameters()),
            strict=True,
        ):
            torch.testing.assert_close(got, want.grad)
        shared.zero_grad()
        _training_loss(shared(x), y).backward()
    # the trunk's gradient is the sum of the members' gradients
    total = shared.trunk[0].weight.grad.clone()
    parts = []
    for m in shared.members:
        shared.zero_grad()
        torch.nn.functional.cross_entropy(m(x), y).backward()
        parts.append(shared.trunk[0].weight.grad.clone())
    torch.testing.assert_close(total, sum(parts))


def test_the_shared_pass_equals_every_member_evaluated_alone():
    specs, members = _members()
    shared = SharedTrunk(members)
    x, y = torch.randn(300, 1, 8, 8), torch.randint(0, 4, (300,))
    both = forward_pass(
        shared, x, y, torch.device("cpu"), features=True, readings=True, batch_size=64
    )
    ends = np.cumsum([0, *KS])
    assert both.predictions.shape == (300, len(KS))
    for j, m in enumerate(shared.members):
        alone = forward_pass(m, x, y, torch.device("cpu"), features=True, readings=True)
        assert both.loss[j] == pytest.approx(alone.loss, rel=1e-6)
        assert both.accuracy[j] == alone.accuracy
        np.testing.assert_array_equal(both.predictions[:, j], alone.predictions)
        np.testing.assert_allclose(
            both.features[:, ends[j] : ends[j + 1]], alone.features, atol=1e-6
        )
        np.testing.assert_allclose(
            both.linear_features[:, ends[j] : ends[j + 1]], alone.linear_features, atol=1e-6
        )


def test_train_bottlenecks_trains_every_k_and_saves_standalone_networks(tmp_path):
    images, labels = _easy_task()
    ks = [2, 3]
    results = embedding.train_bottlenecks(
        ks,
        (images[:200], labels[:200], images[200:], labels[200:]),
        _networks(epochs=15),
        device="cpu",
        log=lambda msg: None,
        checkpoint=str(tmp_path / "ckpt.pt"),
    )
    assert [r.spec.width for r in results] == ks
    for k, r in zip(ks, results, strict=True):
        assert r.train_embeddings.shape == (200, k) and r.test_linear.shape == (100, k)
        assert r.test_accuracy > 0.95
        assert r.test_accuracy == pytest.approx(np.mean(r.test_predictions == labels[200:]))
        assert r.history.test_accuracy[-1] == pytest.approx(r.test_accuracy)
        np.testing.assert_array_equal(r.train_embeddings, np.maximum(r.train_linear, 0))
        # the member saved alone is a standalone classifier with the same embeddings
        path = str(tmp_path / f"{k}.pt")
        model, spec, norm = load_model(path, sha256=save_model(r.model, r.spec, r.norm, path))
        assert spec.width == k
        from neuralhull.learn.training import standardise

        x = standardise(images[200:], np.asarray(norm["mean"]), np.asarray(norm["std"]))
        alone = forward_pass(model, x, None, torch.device("cpu"), features=True)
        np.testing.assert_allclose(alone.features, r.test_embeddings, atol=1e-5)
        np.testing.assert_array_equal(alone.predictions, r.test_predictions)


def test_train_bottlenecks_resumes_from_its_checkpoint_bitwise(tmp_path, monkeypatch):
    images, labels = _easy_task()
    data = (images[:200], labels[:200], images[200:], labels[200:])
    networks = _networks(epochs=3)
    kw = dict(device="cpu", log=lambda m: None)
    full = embedding.train_bottlenecks([2, 3], data, networks, **kw)
    ckpt = str(tmp_path / "ckpt.pt")
    # a run killed after its second epoch: the checkpoint of epoch 2 stays behind
    import neuralhull.learn.training as training

    real_save = training.save_checkpoint

    def save_then_die(path, fingerprint, epoch, *rest):
        real_save(path, fingerprint, epoch, *rest)
        if epoch == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(training, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        embedding.train_bottlenecks([2, 3], data, networks, checkpoint=ckpt, **kw)
    monkeypatch.setattr(training, "save_checkpoint", real_save)
    lines = []
    kw["log"] = lines.append
    resumed = embedding.train_bottlenecks([2, 3], data, networks, checkpoint=ckpt, **kw)
    assert any("resumed from checkpoint" in line for line in lines)
    for a, b in zip(full, resumed, strict=True):
        np.testing.assert_array_equal(a.train_linear, b.train_linear)
        assert a.history.test_loss == b.history.test_loss


def test_train_bottlenecks_refuses_repeated_sizes():
    images, labels = _easy_task(40)
    with pytest.raises(ValueError, match="distinct"):
        embedding.train_bottlenecks([2, 2], (images, labels, images, labels), _networks())
