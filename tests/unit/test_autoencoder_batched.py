"""Autoencoders of several latent sizes fitted together (``fit_autoencoders``), against the
separate fits of ``fit_autoencoder`` and against known facts."""

import numpy as np
import pytest
import torch

from neuralhull.learn.autoencoder import (
    AutoencoderConfig,
    BatchedAutoencoder,
    _network,
    _Workspace,
    fit_autoencoder,
    fit_autoencoders,
    fit_batched_autoencoder,
    reconstruction_scores,
)
from neuralhull.learn.training import TrainingDiverged

QUIET = dict(log=lambda m: None)
CFG = AutoencoderConfig(hidden=32, epochs=25, lr=3e-3, batch_size=128, seed=0)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread, as in a workflow job (and immune to a busy machine's other jobs)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def manifold():
    """2000 activations in d=20 near a 3-dimensional non-linear manifold, plus noise."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2000, 3))
    x = np.tanh(z @ rng.normal(size=(3, 20))) + 0.5 * np.sin(z @ rng.normal(size=(3, 20)))
    x = (x + 0.02 * rng.normal(size=x.shape)).astype(np.float32)
    return x[:1700], x[1700:]


@pytest.fixture(scope="module")
def rank3():
    """Exactly linear activations of rank 3 in d=20, no noise."""
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(2000, 3)) @ rng.normal(size=(3, 20))).astype(np.float32)
    return x[:1700], x[1700:]


def test_hand_written_backward_matches_autograd():
    rng = torch.Generator().manual_seed(0)
    model = BatchedAutoencoder(7, 5, [4, 1, 3], seed=2, chunk=2)  # chunks (1, 3) and (4,)
    with torch.no_grad():  # move off the initialisation, masked entries included
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=rng))
    x = torch.randn(33, 7, generator=rng)
    _, recon = model(x)
    per_group = ((recon - x) ** 2).mean((1, 2))
    expected = torch.autograd.grad(per_group.sum(), list(model.parameters()))
    for p in model.parameters():
        p.grad = torch.full_like(p, np.nan)  # backprop overwrites, never accumulates
    sse = torch.empty(3)
    model.backprop(x, _Workspace(torch.device("cpu")), sse)
    torch.testing.assert_close(sse / x.numel(), per_group.detach())
    for (name, p), g in zip(model.named_parameters(), expected, strict=True):
        torch.testing.assert_close(p.grad, g, msg=name)


def test_each_group_starts_from_fit_autoencoders_initial_weights():
    """Initial weights depend only on (seed, k): they are the ones fit_autoencoder draws."""
    model = BatchedAutoencoder(6, 4, [5, 2], seed=3, chunk=8)
    (chunk,) = model.chunks
    assert chunk.ks == (2, 5) and model.sizes == (2, 5)
    for g, k in enumerate(chunk.ks):
        torch.manual_seed(3)
        enc, dec = _network(6, 4, k)
        torch.testing.assert_close(chunk.w1[g], enc[0].weight.T, rtol=0, atol=0)
        torch.testing.assert_close(chunk.w2[g, :k], enc[2].weight, rtol=0, atol=0)
        torch.testing.assert_close(chunk.b2[g, 0, :k], enc[2].bias, rtol=0, atol=0)
        torch.testing.assert_close(chunk.w3[g, :k], dec[0].weight.T, rtol=0, atol=0)
        torch.testing.assert_close(chunk.w4[g], dec[2].weight.T, rtol=0, atol=0)
        torch.testing.assert_close(chunk.b4[g, 0], dec[2].bias, rtol=0, atol=0)
        assert chunk.mask[g].sum() == k
        assert not chunk.w2[g, k:].any() and not chunk.w3[g, k:].any()


def test_a_size_is_fitted_the_same_whatever_it_is_fitted_with(manifold):
    train, test = manifold
    cfg = AutoencoderConfig(hidden=32, epochs=8, lr=3e-3, batch_size=128, seed=0)
    alone = fit_autoencoders(train, test, [2], cfg, **QUIET)[2]
    for companions in ([2, 5], [7, 2, 1]):
        with_others = fit_autoencoders(train, test, companions, cfg, **QUIET)[2]
        assert abs(with_others.r2_validation - alone.r2_validation) < 1e-5
        assert abs(with_others.r2_test - alone.r2_test) < 1e-5
        np.testing.assert_allclose(with_others.loss, alone.loss, rtol=1e-5)
        np.testing.assert_allclose(with_others.codes_test, alone.codes_test, atol=1e-4)
    # grouping the sizes into several batched products (chunks) changes nothing either
    one_by_one = fit_autoencoders(train, test, [7, 2, 1], cfg, chunk=1, **QUIET)[2]
    assert abs(one_by_one.r2_validation - alone.r2_validation) < 1e-5


def test_batched_fit_matches_separate_fits(manifold):
    train, test = manifold
    sizes = [1, 2, 3, 5, 8]
    batched = fit_autoencoders(train, test, sizes, CFG, **QUIET)
    assert list(batched) == sizes
    for k in sizes:
        separate = fit_autoencoder(train, test, k, CFG, **QUIET)
        fit = batched[k]
        assert fit.latent_size == k
        assert abs(fit.r2_validation - separate.r2_validation) < 0.01, k
        assert abs(fit.r2_test - separate.r2_test) < 0.01, k
        assert fit.mse_test == pytest.approx(separate.mse_test, rel=0.05)
        # the same initial weights and minibatches: the same training, up to rounding
        np.testing.assert_allclose(fit.loss, separate.loss, rtol=1e-3)
        assert len(fit.loss) == CFG.epochs
        assert fit.codes_train.shape == (len(train), k) and fit.codes_test.shape == (len(test), k)
        assert fit.codes_train.dtype == np.float32 and fit.codes_test.dtype == np.float32
    # the fits converge: three units hold the 3-dimensional manifold
    assert min(batched[k].r2_validation for k in (3, 5, 8)) > 0.9


def test_rank_three_linear_data_needs_exactly_three_units(rank3):
    train, test = rank3
    cfg = AutoencoderConfig(hidden=32, epochs=30, lr=3e-3, batch_size=128, seed=0)
    fits = fit_autoencoders(train, test, [1, 2, 3, 4, 6], cfg, **QUIET)
    for k in (3, 4, 6):
        assert fits[k].r2_validation > 0.99 and fits[k].r2_test > 0.99, k
    # fewer units than the rank cannot reconstruct it
    assert fits[1].r2_validation < 0.9 and fits[2].r2_validation < 0.95


def test_masked_code_units_never_reach_a_reconstruction(manifold):
    train, test = manifold
    cfg = AutoencoderConfig(hidden=16, epochs=3, lr=3e-3, batch_size=128, seed=0)
    result = fit_batched_autoencoder(train, test, [1, 4, 2], cfg, chunk=8, **QUIET)
    (chunk,) = result.model.chunks
    unused = chunk.mask[:, 0, :] == 0  # (groups, kmax)
    assert unused.sum() == 3 * 4 - (1 + 2 + 4)
    # zero gradient: the masked weights are still exactly their initial zero
    assert not chunk.w2[unused].any() and not chunk.b2[:, 0][unused].any()
    assert not chunk.w3[unused].any()
    before = result.reconstruct(test)
    assert before.shape == (3, len(test), test.shape[1])
    # the scores are those of reconstruction_scores on these reconstructions
    for g, k in enumerate(result.model.sizes):
        r2, mse = reconstruction_scores(test, before[g], result.mean)
        assert r2 == pytest.approx(result.fits[k].r2_test, abs=1e-9)
        assert mse == pytest.approx(result.fits[k].mse_test, rel=1e-9)
        assert result.fits[k].codes_test.shape == (len(test), k)
    with torch.no_grad():
        rng = torch.Generator().manual_seed(1)
        for p in (chunk.w2, chunk.w3):
            p[unused] = torch.randn(p[unused].shape, generator=rng) * 10
        chunk.b2[:, 0][unused] = torch.randn(int(unused.sum()), generator=rng) * 10
    np.testing.assert_array_equal(result.reconstruct(test), before)


def test_divergence_names_the_sizes_and_the_learning_rate(manifold):
    train, test = manifold
    cfg = AutoencoderConfig(hidden=16, epochs=3, lr=1e6, batch_size=128, seed=0)
    logged = []
    with pytest.raises(TrainingDiverged, match=r"k=[\d,]+: loss became .*(nan|inf).*lr=1000000"):
        fit_autoencoders(train, test, [1, 3], cfg, log=logged.append)
    assert not any("R2" in m for m in logged), logged  # no quality was reported


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_activations_or_bad_sizes_are_refused(manifold, bad):
    train, test = manifold
    broken = train.copy()
    broken[5, 3] = bad
    with pytest.raises(ValueError, match="NaN or inf"):
        fit_autoencoders(broken, test, [1, 2], CFG, **QUIET)
    for sizes in ([], [0, 2], [2, 2]):
        with pytest.raises(ValueError, match="distinct positive"):
            fit_autoencoders(train, test, sizes, CFG, **QUIET)


def test_deterministic_on_the_cpu_and_logs_progress(manifold):
    train, test = manifold
    cfg = AutoencoderConfig(hidden=16, epochs=3, lr=3e-3, batch_size=128, seed=4)
    logged = []
    a = fit_autoencoders(train, test, [3, 1], cfg, log=logged.append)
    b = fit_autoencoders(train, test, [3, 1], cfg, **QUIET)
    for k in (1, 3):
        np.testing.assert_array_equal(a[k].codes_train, b[k].codes_train)
        assert a[k].r2_test == b[k].r2_test and a[k].loss == b[k].loss
        assert a[k].seconds > 0
    epochs = [m for m in logged if " epoch " in m]
    assert len(epochs) == cfg.epochs and all("samples/s" in m for m in epochs)
    assert epochs[-1].startswith("autoencoders k=1,3 epoch 3/3")


def test_fits_on_the_device_it_is_given(manifold):
    train, test = manifold
    cfg = AutoencoderConfig(hidden=8, epochs=2, batch_size=64, seed=0)
    cpu = fit_autoencoders(train[:300], test, [1, 2], cfg, device=torch.device("cpu"), **QUIET)
    if torch.cuda.is_available():
        gpu = fit_autoencoders(train[:300], test, [1, 2], cfg, device="cuda", **QUIET)
        for k in (1, 2):
            np.testing.assert_allclose(gpu[k].codes_train, cpu[k].codes_train, atol=1e-3)
            assert gpu[k].r2_test == pytest.approx(cpu[k].r2_test, abs=1e-4)
    else:
        with pytest.raises((RuntimeError, AssertionError)):
            fit_autoencoders(train[:300], test, [1, 2], cfg, device="cuda", **QUIET)


def test_a_unit_that_fires_once_does_not_wreck_the_held_out_score(manifold, monkeypatch):
    # A ReLU unit that fires for one fitted sample and one held-out sample (as in trained
    # networks' last layers): divided by its own standard deviation (~1e-5), the held-out
    # sample would enter the networks thousands of deviations out. With the floor on the
    # divisor the held-out R2 stays what it is without that unit.
    from neuralhull.learn.autoencoder import STD_FLOOR, _validation_split

    train, test = manifold
    val_idx, fit_idx, *_ = _validation_split(train, test, CFG)
    spike = np.zeros((len(train), 1), dtype=np.float32)
    spike[fit_idx[0]], spike[val_idx[0]] = 0.005, 0.03
    with_spike = np.hstack([train, spike])
    test_spike = np.hstack([test, np.zeros((len(test), 1), dtype=np.float32)])
    *_, mean, std = _validation_split(with_spike, test_spike, CFG)
    scale = np.sqrt(np.mean(train[fit_idx].std(0) ** 2 * 20 / 21))
    assert std[-1] == pytest.approx(STD_FLOOR * scale, rel=1e-3)  # the floor, not 1e-4
    np.testing.assert_allclose(std[:-1], train[fit_idx].std(0), rtol=1e-5)  # the rest as before
    sizes = [2, 3, 4]
    plain = fit_autoencoders(train, test, sizes, CFG, **QUIET)
    spiked = fit_autoencoders(with_spike, test_spike, sizes, CFG, **QUIET)
    for k in sizes:
        assert spiked[k].r2_validation == pytest.approx(plain[k].r2_validation, abs=0.05), k
    # without the floor the same data give a held-out R2 below zero (measured: -1.07 at k=3)
    import neuralhull.learn.autoencoder as autoencoder

    monkeypatch.setattr(autoencoder, "STD_FLOOR", 1e-9)
    unfloored = fit_autoencoders(with_spike, test_spike, [3], CFG, **QUIET)
    assert unfloored[3].r2_validation < 0.5 < spiked[3].r2_validation


def test_a_code_as_wide_as_the_layer_loses_nothing():
    """A full-rank layer (8 independent Gaussian units): a narrower code loses variance, a
    code of the layer's width reconstructs it (the sweep's last size)."""
    x = np.random.default_rng(0).normal(size=(2000, 8)).astype(np.float32)
    fits = fit_autoencoders(x[:1700], x[1700:], [2, 4, 7, 8], CFG, **QUIET)
    assert fits[8].r2_validation > 0.98 and fits[8].r2_test > 0.98
    assert max(fits[k].r2_validation for k in (2, 4, 7)) < 0.9
