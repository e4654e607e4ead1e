"""Autoencoders that find the low-dimensional space of a network's activations.

One fully connected autoencoder per latent size ``k``: ``d -> hidden -> k -> hidden -> d``
(ReLU between, linear code and output), fitted by Adam on mean squared error of
standardised activations. Its quality is the reconstruction on held-out activations,
measured in the original activation units:

    R^2 = 1 - sum ||x - x_hat||^2 / sum ||x - mean_train||^2 ,   MSE = mean (x - x_hat)^2 .

The intrinsic dimension is chosen from these fits by
:func:`neuralhull.learn.intrinsic.choose_latent_size`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from neuralhull.learn.models import settings_of
from neuralhull.learn.training import TrainingDiverged, seed_everything


@dataclass(frozen=True)
class AutoencoderConfig:
    """How the autoencoders are fitted (``autoencoder:`` in the config)."""

    hidden: int = 256
    epochs: int = 20
    lr: float = 1e-3
    batch_size: int = 256
    validation_fraction: float = 0.1
    seed: int = 0

    @classmethod
    def from_config(cls, section: dict) -> AutoencoderConfig:
        """The fit settings of the config's ``autoencoder:`` section; its other keys (the
        latent sizes, the R^2 thresholds) choose and score the fits, not fit them."""
        return cls(**settings_of(cls, section))


@dataclass
class AutoencoderFit:
    """Codes and held-out reconstruction quality of one fitted autoencoder.

    Attributes
    ----------
    codes_train : (n_train, k) float32 codes of every training activation.
    codes_test : (n_test, k) float32 codes of every test activation.
    r2_validation, mse_validation : on the held-out part of the training activations
        (not used for fitting; this is what chooses the latent size).
    r2_test, mse_test : on the test activations.
    loss : training loss per epoch (standardised units).
    """

    latent_size: int
    codes_train: np.ndarray
    codes_test: np.ndarray
    r2_validation: float
    mse_validation: float
    r2_test: float
    mse_test: float
    loss: list[float]
    seconds: float


# Smallest divisor of the standardisation, relative to the layer's RMS unit standard
# deviation (see _validation_split).
STD_FLOOR = 0.01


def _network(d: int, hidden: int, k: int) -> tuple[nn.Module, nn.Module]:
    encoder = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, k))
    decoder = nn.Sequential(nn.Linear(k, hidden), nn.ReLU(), nn.Linear(hidden, d))
    return encoder, decoder


def _validation_split(train: np.ndarray, test: np.ndarray, cfg: AutoencoderConfig):
    """Check the activations, then the seeded held-out split of ``train (n, d)`` and the
    standardisation fitted on the rest: ``val_idx``, ``fit_idx`` (sorted indices), and
    ``standardise(a) -> float32 tensor``, ``mean (d,)``, ``std (d,)`` (float64)."""
    if train.ndim != 2 or test.ndim != 2 or train.shape[1] != test.shape[1]:
        raise ValueError(
            f"activations must be (n, d) with equal d, got {train.shape}, {test.shape}"
        )
    if not (np.isfinite(train).all() and np.isfinite(test).all()):
        raise ValueError("activations contain NaN or inf")
    n = len(train)
    perm = np.random.default_rng(cfg.seed).permutation(n)
    n_val = max(1, int(round(cfg.validation_fraction * n)))
    val_idx, fit_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    mean = train[fit_idx].mean(0).astype(np.float64)
    std = train[fit_idx].std(0).astype(np.float64)
    # Units are scaled to unit variance, but never divided by less than STD_FLOOR times the
    # layer's RMS unit scale: a ReLU unit that fires for one or two training samples has a
    # standard deviation of 1e-5, and one validation sample where it fires would then enter
    # the network 1,000 standard deviations out and dominate the held-out error (seen on a
    # trained CNN: validation R2 -0.44 at every size while the test R2 was 0.97). Constant
    # units (dead ReLUs) stay constant.
    scale = float(np.sqrt(np.mean(std**2)))
    std = np.maximum(std, STD_FLOOR * scale) if scale > 0 else np.ones_like(std)

    def standardise(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(((a - mean) / std).astype(np.float32))

    return val_idx, fit_idx, standardise, mean, std


def reconstruction_scores(
    x: np.ndarray, x_hat: np.ndarray, mean: np.ndarray
) -> tuple[float, float]:
    """R^2 (against the training mean ``mean (d,)``) and MSE of ``x_hat`` for ``x (n, d)``."""
    x = x.astype(np.float64)
    sse = float(((x - x_hat) ** 2).sum())
    sst = float(((x - mean) ** 2).sum())
    r2 = 1.0 - sse / sst if sst > 0 else (1.0 if sse == 0 else -math.inf)
    return r2, sse / x.size


def fit_autoencoder(
    train: np.ndarray,
    test: np.ndarray,
    latent_size: int,
    cfg: AutoencoderConfig = AutoencoderConfig(),
    *,
    device: str = "cpu",
    log: Callable[[str], None] = print,
) -> AutoencoderFit:
    """Fit an autoencoder with code size ``latent_size`` on training activations.

    Parameters
    ----------
    train : (n_train, d) activations; a seeded ``cfg.validation_fraction`` of them is held
        out for validation, the rest fits the network.
    test : (n_test, d) activations, only encoded and scored.
    device : where the networks are fitted (``"cpu"``, ``"cuda"``, ...); the codes come back
        as NumPy arrays on the host either way.

    Raises
    ------
    TrainingDiverged
        When the loss becomes NaN or infinite.
    """
    seed_everything(cfg.seed)
    t0 = time.perf_counter()
    val_idx, fit_idx, z, mean, std = _validation_split(train, test, cfg)
    dev = torch.device(device)
    x_fit = z(train[fit_idx]).to(dev)
    encoder, decoder = _network(train.shape[1], cfg.hidden, latent_size)
    encoder.to(dev)
    decoder.to(dev)
    losses = _fit_network(encoder, decoder, x_fit, cfg, log, t0)
    codes_train, _ = _encode_decode(encoder, decoder, z(train), mean, std)
    _, rec_val = _encode_decode(encoder, decoder, z(train[val_idx]), mean, std)
    codes_test, rec_test = _encode_decode(encoder, decoder, z(test), mean, std)
    r2_val, mse_val = reconstruction_scores(train[val_idx], rec_val, mean)
    r2_test, mse_test = reconstruction_scores(test, rec_test, mean)
    log(f"autoencoder k={latent_size}: validation R2 {r2_val:.4f}, test R2 {r2_test:.4f}")
    return AutoencoderFit(
        latent_size=latent_size,
        codes_train=codes_train,
        codes_test=codes_test,
        r2_validation=r2_val,
        mse_validation=mse_val,
        r2_test=r2_test,
        mse_test=mse_test,
        loss=losses,
        seconds=time.perf_counter() - t0,
    )


def _fit_network(encoder, decoder, x_fit: torch.Tensor, cfg, log, t0: float) -> list[float]:
    """Adam on the mean squared error of ``x_fit`` (standardised, on the networks' device),
    in seeded minibatches; the loss per epoch."""
    latent_size = encoder[-1].out_features
    dev = x_fit.device
    params = list(encoder.parameters()) + list(decoder.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    n_batches = math.ceil(len(x_fit) / cfg.batch_size)
    losses = []
    for epoch in range(1, cfg.epochs + 1):
        order = torch.randperm(len(x_fit), generator=gen).to(dev)
        total = 0.0
        for b in range(n_batches):
            xb = x_fit[order[b * cfg.batch_size : (b + 1) * cfg.batch_size]]
            loss = nn.functional.mse_loss(decoder(encoder(xb)), xb)
            if not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"autoencoder k={latent_size}: loss became {loss.item()} at epoch {epoch}; "
                    "lower autoencoder.lr in the config"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        losses.append(total / len(x_fit))
        if epoch == 1 or epoch == cfg.epochs or epoch % max(1, cfg.epochs // 5) == 0:
            log(
                f"autoencoder k={latent_size} epoch {epoch}/{cfg.epochs} loss {losses[-1]:.5f} "
                f"[{time.perf_counter() - t0:.1f} s]"
            )
    return losses


@torch.no_grad()
def _encode_decode(encoder, decoder, xa: torch.Tensor, mean, std) -> tuple[np.ndarray, np.ndarray]:
    """Codes (float32) and reconstructions in activation units (float64) of the
    standardised ``xa``, in blocks of 4,096 rows on the networks' device."""
    dev = next(encoder.parameters()).device
    codes, recon = [], []
    for i in range(0, len(xa), 4096):
        c = encoder(xa[i : i + 4096].to(dev))
        codes.append(c.cpu().numpy())
        recon.append(decoder(c).cpu().numpy().astype(np.float64) * std + mean)
    return np.concatenate(codes).astype(np.float32), np.concatenate(recon)


# --------------------------------------------------------------------------------------------
# Several latent sizes fitted together
# --------------------------------------------------------------------------------------------
#
# ``fit_autoencoders`` fits one autoencoder per latent size in a single pass over the data per
# epoch. The G = len(sizes) networks are stacked on a leading group axis and applied with
# ``torch.baddbmm`` to the same minibatch. Group g has a code of ``kmax`` units (the largest
# size in its chunk, below) of which it uses the first ``k_g``: the code is multiplied by a
# fixed 0/1 mask, so the masked weights (encoder output rows, code biases, decoder input rows)
# get exactly zero gradient, stay at their initial zero under Adam and never reach a
# reconstruction. Each group therefore *is* a ``k_g``-unit autoencoder. The loss is the sum
# over groups of each group's own mean squared error, so a group's gradient is its own loss's
# gradient, and since Adam is elementwise each group's update is independent of the others.
#
# Each group starts from exactly the weights ``fit_autoencoder`` would draw for its size (the
# same ``nn.Linear`` layers built after ``torch.manual_seed(cfg.seed)``, in a forked RNG), and
# the minibatches come from the same seeded permutation, so a batched fit follows the separate
# fit up to floating-point rounding, and the fit for size k does not depend on which other
# sizes are fitted with it.
#
# Speed (CPU): the step is written out by hand (forward, backward and gradients into
# preallocated buffers, checked against autograd in the tests): autograd would allocate a fresh
# (G, batch, hidden) tensor for every intermediate. On the CPU the groups are processed in
# chunks whose hidden activations fit in the L2 cache (~1 MiB), sorted by latent size so each
# chunk's code is only as wide as its largest size; on a GPU all groups form one chunk.

_CHUNK_BYTES = 1 << 20
_threshold_backward = torch.ops.aten.threshold_backward.grad_input


def _initial_network(d: int, hidden: int, k: int, seed: int) -> tuple[nn.Module, nn.Module]:
    """The initial weights ``fit_autoencoder`` draws for size ``k``; the global RNG is kept."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _network(d, hidden, k)


class _Workspace:
    """Reusable buffers for the intermediates of a step (no allocation per step): one flat
    buffer per name, shared by the chunks, viewed with the shape each needs."""

    def __init__(self, device: torch.device):
        self.device = device
        self._flat: dict[str, torch.Tensor] = {}
        self._views: dict[tuple[str, tuple[int, ...]], torch.Tensor] = {}

    def get(self, name: str, *shape: int) -> torch.Tensor:
        view = self._views.get((name, shape))
        if view is None:
            n = math.prod(shape)
            flat = self._flat.get(name)
            if flat is None or flat.numel() < n:
                flat = self._flat[name] = torch.empty(n, device=self.device)
            view = self._views[(name, shape)] = flat[:n].view(shape)
        return view


class _GroupChunk(nn.Module):
    """``c`` autoencoders with code sizes ``ks`` stacked on a leading group axis.

    Weights are ``(c, in, out)`` (the transpose of ``nn.Linear.weight``) except the encoder's
    code layer ``w2 (c, kc, hidden)``, stored like ``nn.Linear.weight`` because its gradient
    product is several times faster that way round; biases are ``(c, 1, out)``. The code has
    ``kc = max(ks)`` units and ``mask (c, 1, kc)`` keeps the first ``ks[g]``.
    """

    def __init__(self, d: int, hidden: int, ks: tuple[int, ...], seed: int):
        super().__init__()
        c, kc = len(ks), max(ks)
        self.ks = ks
        shapes = [(d, hidden), (kc, hidden), (kc, hidden), (hidden, d)]
        for i, shape in enumerate(shapes, 1):
            n_out = shape[0] if i == 2 else shape[1]
            self.register_parameter(f"w{i}", nn.Parameter(torch.zeros(c, *shape)))
            self.register_parameter(f"b{i}", nn.Parameter(torch.zeros(c, 1, n_out)))
        self.register_buffer("mask", torch.zeros(c, 1, kc))
        with torch.no_grad():
            for g, k in enumerate(ks):
                self.mask[g, 0, :k] = 1.0
                enc, dec = _initial_network(d, hidden, k, seed)
                for i, layer in enumerate([enc[0], enc[2], dec[0], dec[2]], 1):
                    w, b = getattr(self, f"w{i}"), getattr(self, f"b{i}")
                    n_in, n_out = layer.in_features, layer.out_features
                    if i == 2:
                        w[g, :n_out, :n_in] = layer.weight
                    else:
                        w[g, :n_in, :n_out] = layer.weight.T
                    b[g, 0, :n_out] = layer.bias

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Masked codes ``(c, n, kc)`` of ``x (n, d)``."""
        xe = x.expand(len(self.ks), *x.shape)
        h = torch.baddbmm(self.b1, xe, self.w1).relu_()  # baddbmm's backward needs no output
        return torch.baddbmm(self.b2, h, self.w2.transpose(1, 2)) * self.mask

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """Reconstructions ``(c, n, d)`` of codes ``(c, n, kc)``."""
        h = torch.baddbmm(self.b3, code, self.w3).relu_()
        return torch.baddbmm(self.b4, h, self.w4)

    @torch.no_grad()
    def backprop(self, x: torch.Tensor, work: _Workspace, sse: torch.Tensor) -> None:
        """Gradients of ``sum_g mean((x_hat_g - x)^2)`` into the parameters' ``.grad``
        (overwritten, not accumulated) and each group's sum of squared errors into ``sse (c,)``.
        """
        c, kc = self.mask.shape[0], self.mask.shape[2]
        n, d = x.shape
        hidden = self.w1.shape[2]
        xe = x.expand(c, n, d)
        a1 = torch.baddbmm(self.b1, xe, self.w1, out=work.get("a1", c, n, hidden)).relu_()
        w2t = self.w2.transpose(1, 2)
        code = torch.baddbmm(self.b2, a1, w2t, out=work.get("code", c, n, kc))
        code.mul_(self.mask)
        a2 = torch.baddbmm(self.b3, code, self.w3, out=work.get("a2", c, n, hidden)).relu_()
        diff = torch.baddbmm(self.b4, a2, self.w4, out=work.get("diff", c, n, d)).sub_(x)
        torch.linalg.vector_norm(diff.view(c, n * d), dim=1, out=sse).square_()
        dout = diff.mul_(2.0 / (n * d))  # d loss / d x_hat; the residual is no longer needed
        torch.bmm(a2.transpose(1, 2), dout, out=self.w4.grad)
        torch.sum(dout, 1, keepdim=True, out=self.b4.grad)
        da2 = torch.bmm(dout, self.w4.transpose(1, 2), out=work.get("da2", c, n, hidden))
        _threshold_backward(da2, a2, 0, grad_input=da2)
        torch.bmm(code.transpose(1, 2), da2, out=self.w3.grad)
        torch.sum(da2, 1, keepdim=True, out=self.b3.grad)
        dcode = torch.bmm(da2, self.w3.transpose(1, 2), out=work.get("dcode", c, n, kc))
        dcode.mul_(self.mask)
        torch.bmm(dcode.transpose(1, 2), a1, out=self.w2.grad)
        torch.sum(dcode, 1, keepdim=True, out=self.b2.grad)
        da1 = torch.bmm(dcode, self.w2, out=work.get("da1", c, n, hidden))
        _threshold_backward(da1, a1, 0, grad_input=da1)
        torch.bmm(xe.transpose(1, 2), da1, out=self.w1.grad)
        torch.sum(da1, 1, keepdim=True, out=self.b1.grad)


class BatchedAutoencoder(nn.Module):
    """One autoencoder ``d -> hidden -> k -> hidden -> d`` per size in ``sizes``, evaluated
    together; groups are ordered by ascending size (``self.sizes``) and split in chunks of at
    most ``chunk`` groups (see the notes above :class:`_GroupChunk`)."""

    def __init__(self, d: int, hidden: int, sizes: list[int], seed: int, chunk: int):
        super().__init__()
        self.sizes = tuple(sorted(sizes))
        self.chunks = nn.ModuleList(
            _GroupChunk(d, hidden, self.sizes[i : i + chunk], seed)
            for i in range(0, len(self.sizes), chunk)
        )

    def forward(
        self, x: torch.Tensor, decode: bool = True
    ) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """Codes of ``x (n, d)``, one ``(n, k)`` tensor per size, and (unless not ``decode``)
        reconstructions ``(G, n, d)``, both in standardised units."""
        codes, recon = [], []
        for chunk in self.chunks:
            code = chunk.encode(x)
            codes += [code[g, :, :k] for g, k in enumerate(chunk.ks)]
            if decode:
                recon.append(chunk.decode(code))
        return codes, (torch.cat(recon) if decode else None)

    def backprop(self, x: torch.Tensor, work: _Workspace, sse: torch.Tensor) -> None:
        """Every group's gradient into ``.grad`` and sum of squared errors into ``sse (G,)``."""
        start = 0
        for chunk in self.chunks:
            chunk.backprop(x, work, sse[start : start + len(chunk.ks)])
            start += len(chunk.ks)


@dataclass
class BatchedAutoencoderFit:
    """The fitted networks of :func:`fit_batched_autoencoder` and their per-size results."""

    fits: dict[int, AutoencoderFit]
    model: BatchedAutoencoder
    mean: np.ndarray
    std: np.ndarray

    @torch.no_grad()
    def reconstruct(self, a: np.ndarray) -> np.ndarray:
        """Reconstructions ``(G, n, d)`` of activations ``a (n, d)`` in activation units, for
        the sizes ``self.model.sizes`` in that order."""
        dev = next(self.model.parameters()).device
        x = torch.from_numpy(((a - self.mean) / self.std).astype(np.float32)).to(dev)
        return self.model(x)[1].cpu().numpy().astype(np.float64) * self.std + self.mean


def _total_sum_of_squares(x: np.ndarray, mean: np.ndarray) -> float:
    return float(((x.astype(np.float64) - mean) ** 2).sum())


def _scores(sse: float, sst: float, size: int) -> tuple[float, float]:
    """:func:`reconstruction_scores` from the sums of squares it computes."""
    r2 = 1.0 - sse / sst if sst > 0 else (1.0 if sse == 0 else -math.inf)
    return r2, sse / size


def _default_chunk(device: torch.device, batch_size: int, hidden: int, n_groups: int) -> int:
    if device.type != "cpu":
        return n_groups  # one chunk: fewest kernel launches
    return max(1, min(n_groups, _CHUNK_BYTES // (4 * batch_size * hidden)))


def fit_autoencoders(
    train: np.ndarray,
    test: np.ndarray,
    sizes: list[int],
    cfg: AutoencoderConfig = AutoencoderConfig(),
    *,
    device: str | torch.device = "cpu",
    log: Callable[[str], None] = print,
    chunk: int | None = None,
) -> dict[int, AutoencoderFit]:
    """Fit one autoencoder per latent size in ``sizes`` together, in one pass over the data
    per epoch; the same results, per size, as :func:`fit_autoencoder` up to floating-point
    rounding (same initial weights, validation split, standardisation, minibatch order, loss
    and scores). See :func:`fit_batched_autoencoder`; this returns its ``fits``.
    """
    return fit_batched_autoencoder(
        train, test, sizes, cfg, device=device, log=log, chunk=chunk
    ).fits


def fit_batched_autoencoder(
    train: np.ndarray,
    test: np.ndarray,
    sizes: list[int],
    cfg: AutoencoderConfig = AutoencoderConfig(),
    *,
    device: str | torch.device = "cpu",
    log: Callable[[str], None] = print,
    chunk: int | None = None,
) -> BatchedAutoencoderFit:
    """Fit autoencoders of every latent size in ``sizes`` as one batched model.

    Parameters
    ----------
    train, test, cfg, device : as for :func:`fit_autoencoder`.
    sizes : distinct positive latent sizes.
    chunk : at most this many groups per batched matrix product (a speed setting that leaves
        the results unchanged up to rounding); by default sized for the CPU's cache, or all
        groups at once on a GPU.

    Returns
    -------
    :class:`BatchedAutoencoderFit` whose ``fits[k]`` is an :class:`AutoencoderFit` with codes
    of exactly ``k`` columns, its own per-epoch training loss, and as ``seconds`` the shared
    wall time divided by ``len(sizes)``.

    Raises
    ------
    ValueError
        For malformed or non-finite activations or invalid sizes.
    TrainingDiverged
        When the loss of any size becomes NaN or infinite (naming those sizes).
    """
    sizes = [int(k) for k in sizes]
    if not sizes or min(sizes) < 1 or len(set(sizes)) != len(sizes):
        raise ValueError(f"sizes must be distinct positive integers, got {sizes}")
    seed_everything(cfg.seed)
    t0 = time.perf_counter()
    # the same validation split and standardisation as fit_autoencoder
    val_idx, fit_idx, z, mean, std = _validation_split(train, test, cfg)
    dev = torch.device(device)
    x_fit = z(train[fit_idx]).to(dev)
    if chunk is None:
        chunk = _default_chunk(dev, cfg.batch_size, cfg.hidden, len(sizes))
    model = BatchedAutoencoder(train.shape[1], cfg.hidden, sizes, cfg.seed, max(1, chunk)).to(dev)
    losses = _fit_batched(model, x_fit, cfg, log, t0)
    scorer = _BatchedScorer(model, z, mean, std)
    codes_train, _ = scorer.evaluate(train, score=False)
    _, sse_val = scorer.evaluate(train[val_idx], score=True)
    codes_test, sse_test = scorer.evaluate(test, score=True)
    sst_val = _total_sum_of_squares(train[val_idx], mean)
    sst_test = _total_sum_of_squares(test, mean)
    seconds = (time.perf_counter() - t0) / len(sizes)
    fits = {}
    for g, k in enumerate(model.sizes):
        r2_val, mse_val = _scores(sse_val[g], sst_val, train[val_idx].size)
        r2_test, mse_test = _scores(sse_test[g], sst_test, test.size)
        log(f"autoencoder k={k}: validation R2 {r2_val:.4f}, test R2 {r2_test:.4f}")
        fits[k] = AutoencoderFit(
            latent_size=k,
            codes_train=codes_train[g],
            codes_test=codes_test[g],
            r2_validation=r2_val,
            mse_validation=mse_val,
            r2_test=r2_test,
            mse_test=mse_test,
            loss=losses[g],
            seconds=seconds,
        )
    return BatchedAutoencoderFit(fits={k: fits[k] for k in sizes}, model=model, mean=mean, std=std)


def _fit_batched(
    model: BatchedAutoencoder, x_fit: torch.Tensor, cfg: AutoencoderConfig, log, t0: float
) -> list[list[float]]:
    """Adam on every group's mean squared error of ``x_fit`` at once, with the hand-written
    step of :meth:`BatchedAutoencoder.backprop`; each group's loss per epoch."""
    dev = x_fit.device
    n_fit, d = x_fit.shape
    sizes = model.sizes  # group order inside the model
    params = list(model.parameters())
    for p in params:
        p.grad = torch.zeros_like(p)  # backprop overwrites these in place
    opt = torch.optim.Adam(params, lr=cfg.lr, fused=dev.type in ("cpu", "cuda"))
    work = _Workspace(dev)
    gen = torch.Generator().manual_seed(cfg.seed)
    n_batches = math.ceil(n_fit / cfg.batch_size)
    sse = torch.empty(len(sizes), device=dev)
    losses: list[list[float]] = [[] for _ in sizes]
    for epoch in range(1, cfg.epochs + 1):
        t_epoch = time.perf_counter()
        order = torch.randperm(n_fit, generator=gen).to(dev)
        total = torch.zeros(len(sizes), dtype=torch.float64, device=dev)
        for b in range(n_batches):
            xb = torch.index_select(x_fit, 0, order[b * cfg.batch_size : (b + 1) * cfg.batch_size])
            model.backprop(xb, work, sse)
            total += sse
            if dev.type == "cpu":  # free there; on a GPU it would sync every step
                _check_finite(total, epoch, sizes, cfg.lr)
            opt.step()
        _check_finite(total, epoch, sizes, cfg.lr)
        epoch_loss = (total / (n_fit * d)).tolist()
        for g, value in enumerate(epoch_loss):
            losses[g].append(value)
        seconds = time.perf_counter() - t_epoch
        log(
            f"autoencoders k={','.join(map(str, sizes))} epoch {epoch}/{cfg.epochs} loss "
            + " ".join(f"{k}:{v:.4f}" for k, v in zip(sizes, epoch_loss, strict=True))
            + f" | {n_fit / seconds:.0f} samples/s through {len(sizes)} networks "
            f"[{time.perf_counter() - t0:.1f} s]"
        )
    return losses


def _check_finite(total: torch.Tensor, epoch: int, sizes, lr: float) -> None:
    """TrainingDiverged naming the sizes whose summed loss ``total (G,)`` is not finite."""
    bad = ~torch.isfinite(total)
    if bad.any():
        which = {sizes[g]: float(total[g]) for g in torch.nonzero(bad).flatten().tolist()}
        raise TrainingDiverged(
            f"autoencoders k={','.join(map(str, which))}: loss became "
            f"{', '.join(str(v) for v in which.values())} at epoch {epoch} with "
            f"lr={lr}; lower autoencoder.lr in the config"
        )


class _BatchedScorer:
    """Codes and reconstruction errors of a fitted :class:`BatchedAutoencoder`, with the
    standardisation ``z`` it was fitted under and its inverse (``mean``, ``std``)."""

    def __init__(self, model: BatchedAutoencoder, z, mean: np.ndarray, std: np.ndarray):
        self.model, self.z = model, z
        self.dev = next(model.parameters()).device
        self.mean_t = torch.from_numpy(mean).to(self.dev)
        self.std_t = torch.from_numpy(std).to(self.dev)

    @torch.no_grad()
    def evaluate(self, a: np.ndarray, score: bool) -> tuple[list[np.ndarray], list[float]]:
        """Codes of ``a`` per size and (if ``score``) the sums of squared reconstruction
        errors in activation units, computed in float64 as in ``reconstruction_scores``."""
        dev, sizes = self.dev, self.model.sizes
        codes = [np.empty((len(a), k), dtype=np.float32) for k in sizes]
        err = torch.zeros(len(sizes), dtype=torch.float64, device=dev)
        for i in range(0, len(a), 4096):
            rows = a[i : i + 4096]
            c, r = self.model(self.z(rows).to(dev), decode=score)
            for g, cg in enumerate(c):
                codes[g][i : i + len(rows)] = cg.contiguous().cpu().numpy()
            if r is not None:
                x = torch.from_numpy(rows.astype(np.float64)).to(dev)
                err += (x - (r.double() * self.std_t + self.mean_t)).square_().sum((1, 2))
        return codes, err.tolist()
