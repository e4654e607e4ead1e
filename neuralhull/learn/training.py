"""Seeded, deterministic training of the classifiers, and extraction of their last hidden layer.

Determinism: on the CPU, the same seed, data, torch build and thread count give bitwise
identical weights (``torch.use_deterministic_algorithms(True)``; batches are drawn from a
seeded ``torch.Generator``). On a GPU the run is reproducible in distribution, not bitwise,
unless cuBLAS is configured for determinism (``CUBLAS_WORKSPACE_CONFIG=:4096:8``, which
:func:`seed_everything` sets).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from neuralhull.io import atomic_path
from neuralhull.learn.models import Classifier, ModelSpec, SharedTrunk, build_model, settings_of


class TrainingDiverged(RuntimeError):
    """Raised when the training loss stops being a finite number."""


class ModelFileError(ValueError):
    """Raised when a saved model's bytes do not match the digest recorded when it was
    written, or no digest is known to check them against."""


# A model's metrics file, beside its ``model.pt``: it records the weights' sha256.
METRICS_FILE = "train_metrics.json"


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of one model (see ``config/config.yaml``)."""

    epochs: int = 2
    lr: float = 1e-3
    batch_size: int = 128
    seed: int = 0
    label_noise: float = 0.0
    weight_decay: float = 0.0
    # Stop after this many optimiser steps (None: train for ``epochs`` full epochs). The
    # batches are the same seeded sequence as a full run's, so a ``steps`` model is a
    # snapshot of the same run early in training: the "training length" lever of the zoo.
    steps: int | None = None
    # "adam" or "adadelta" (the PyTorch MNIST example's), the learning rate multiplied by
    # lr_decay after every epoch (that example's StepLR(step_size=1, gamma=0.7)).
    optimizer: str = "adam"
    lr_decay: float = 1.0
    # Warm-up: over the first warmup_steps optimiser steps (0: none) the rate is scaled by
    # (step + 1) / warmup_steps, so in epoch e step s (both counted from the run's start)
    # it is lr * lr_decay^(e - 1) * min(1, (s + 1) / warmup_steps). Big first steps of Adam
    # can silence every unit of a narrow ReLU layer for good. Keep it within the first
    # epoch to reach lr before the first decay.
    warmup_steps: int = 0

    @classmethod
    def from_config(cls, entry: dict) -> TrainConfig:
        """The settings of a model's entry of the config with its ``seed`` (the workflow's
        ``model_params``); the entry's architecture keys are the :class:`ModelSpec`'s."""
        return cls(**settings_of(cls, entry))


@dataclass
class TrainResult:
    """Per-epoch history and final accuracies of one training run."""

    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0
    device: str = "cpu"
    n_noisy_labels: int = 0
    # The final epoch's passes over the training and test sets (last hidden layer and
    # predictions included when ``train_classifier(extract=...)``); not checkpointed.
    final_train: Pass | None = None
    final_test: Pass | None = None


def device_note(prefer: str, device: torch.device) -> str:
    """Why a job runs where it does, for its log: ``cuda (auto: a GPU is visible, ...)``."""
    if prefer == "auto":
        if device.type == "cuda":
            return f"cuda (auto: a GPU is visible: {torch.cuda.get_device_name(device)})"
        return "cpu (auto: no GPU visible)"
    return f"{device.type} (config: device {prefer})"


def pick_device(prefer: str = "auto") -> torch.device:
    """``cuda`` when asked for (or ``auto``) and available, else ``cpu``."""
    if prefer not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {prefer!r}")
    if prefer == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but torch sees no GPU")
    if prefer in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed torch and ask it for deterministic kernels."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.manual_seed(seed)
    # ``torch.use_deterministic_algorithms`` also imports the compiler stack (torch._dynamo
    # and torch._inductor, about 1 s per job) only to set the compiler's own flag; nothing
    # here compiles, so where torch exposes it the kernels' flag is set alone.
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None:
        torch.use_deterministic_algorithms(True, warn_only=False)
    else:
        setter(True, warn_only=False)


def standardise(images: np.ndarray, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    """uint8 images ``(n, C, H, W)`` -> float32 tensor, per channel ``(x/255 - mean) / std``."""
    x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0)
    m = torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return (x - m) / s


def channel_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of ``images / 255``: two arrays ``(C,)`` (std floored at 1e-6).

    From each channel's histogram of byte values, with exact integer sums: the same numbers
    as ``(images / 255).mean / .std`` in float64 up to the last bits, without the float64
    copy of the data (2.2 s and 376 MB on MNIST's training set; this takes 0.25 s).
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        x = images.astype(np.float64) / 255.0
        return x.mean(axis=(0, 2, 3)), np.maximum(x.std(axis=(0, 2, 3)), 1e-6)
    values = np.arange(256, dtype=object)
    mean, std = [], []
    for c in range(images.shape[1]):
        flat = images[:, c].reshape(-1)
        # bincount in chunks of 1M bytes: its int64 copy of each chunk stays in cache
        counts = sum(
            np.bincount(flat[i : i + 2**20], minlength=256) for i in range(0, len(flat), 2**20)
        ).astype(object)
        n, s1, s2 = int(counts.sum()), int(counts @ values), int(counts @ values**2)
        mean.append(s1 / (255 * n))
        std.append(math.sqrt((n * s2 - s1 * s1) / (n * n)) / 255)  # exact until the sqrt
    return np.array(mean), np.maximum(np.array(std), 1e-6)


def corrupt_labels(
    labels: np.ndarray, fraction: float, n_classes: int, seed: int
) -> tuple[np.ndarray, int]:
    """Replace a seeded ``fraction`` of ``labels (n,)`` by a different random class.

    Returns the new labels and how many were changed (exactly ``round(fraction * n)``).
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"label_noise must be in [0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    n = len(labels)
    k = int(round(fraction * n))
    idx = rng.choice(n, size=k, replace=False)
    shift = rng.integers(1, n_classes, size=k)
    out = labels.copy()
    out[idx] = (labels[idx] + shift) % n_classes
    return out, k


# Inference batch: on one CPU thread a convolution's working set at 256 images stays in
# cache; at 1,024 the same network ran 2.2x slower per image (``python -m benchmarks train
# --eval-batch 1024`` measures it).
EVAL_BATCH = 256


def fast_layout(model: nn.Module) -> nn.Module:
    """Put a network with convolutions in the channels-last memory layout, in place.

    Same arithmetic, other strides: oneDNN's convolutions are 1.7x faster to train and 2 to
    4x faster to evaluate in that layout on a CPU (and cuDNN's are no slower on a GPU). A
    network without convolutions is returned as it is.
    """
    if any(isinstance(m, nn.Conv2d) for m in model.modules()):
        model.to(memory_format=torch.channels_last)
    return model


@dataclass(frozen=True)
class Split:
    """The images and labels a classifier is trained and measured on: ``x_train``,
    ``x_test`` ``(n, C, H, W)`` uint8, ``y_train``, ``y_test`` ``(n,)`` int labels (a
    :class:`neuralhull.datasets.Dataset` has the same fields and serves as one)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass
class Pass:
    """One inference pass over a data set (see :func:`forward_pass`)."""

    loss: float
    accuracy: float
    predictions: np.ndarray  # (n,) int64
    features: np.ndarray | None = None  # (n, hidden) float32 when asked for
    # the same layer before its non-linearity, when asked for (``readings=True``)
    linear_features: np.ndarray | None = None


@torch.no_grad()
def forward_pass(
    model: Classifier,
    x: torch.Tensor,
    y: torch.Tensor | None,
    device: torch.device,
    *,
    features: bool = False,
    readings: bool = False,
    batch_size: int = EVAL_BATCH,
) -> Pass:
    """Mean cross-entropy, accuracy and predicted class of ``model`` on ``x (n, C, H, W)``,
    ``y (n,)``; with ``features``, the last hidden layer of every sample too (the same
    forward pass: scoring and extraction never run the network twice). Without labels
    (``y`` None) only the predictions and features are computed; loss and accuracy are NaN.
    With ``readings``, that layer before its non-linearity too (:meth:`Classifier.readings`).

    For a :class:`neuralhull.learn.models.SharedTrunk`, loss and accuracy are lists (one per
    member), predictions are ``(n, members)`` and the features of all members are
    concatenated along axis 1, in member order; a plain classifier is the one-member case,
    given as numbers and ``(n,)`` predictions."""
    model.eval()
    shared = isinstance(model, SharedTrunk)
    m = len(model.members) if shared else 1
    loss_sum, correct = np.zeros(m), np.zeros(m, dtype=np.int64)
    preds, feats, linear = [], [], []
    for i in range(0, len(x), batch_size):
        out = _branches(model, x[i : i + batch_size].to(device), readings)
        pred = torch.stack([logits.argmax(1) for _, _, logits in out], 1)
        if y is not None:
            yb = y[i : i + batch_size].to(device)
            for j, (_, _, logits) in enumerate(out):
                loss_sum[j] += nn.functional.cross_entropy(logits, yb, reduction="sum").item()
            correct += (pred == yb[:, None]).sum(0).cpu().numpy()
        preds.append(pred.cpu().numpy())
        if features:
            feats.append(torch.cat([h for _, h, _ in out], 1).cpu().numpy().astype(np.float32))
        if readings:
            linear.append(torch.cat([p for p, _, _ in out], 1).cpu().numpy().astype(np.float32))
    loss = (loss_sum / len(x)).tolist() if y is not None else [math.nan] * m
    accuracy = (correct / len(x)).tolist() if y is not None else [math.nan] * m
    predictions = np.concatenate(preds).astype(np.int64)
    return Pass(
        loss=loss if shared else loss[0],
        accuracy=accuracy if shared else accuracy[0],
        predictions=predictions if shared else predictions[:, 0],
        features=np.concatenate(feats) if features else None,
        linear_features=np.concatenate(linear) if readings else None,
    )


def _branches(model, xb: torch.Tensor, readings: bool) -> list:
    """``[(linear, relu, logits)]`` per member of one batch: a :class:`SharedTrunk` runs
    its trunk once; a plain classifier is one member (``linear`` None unless ``readings``)."""
    if isinstance(model, SharedTrunk):
        return model.branches(xb)
    pre = None
    if readings:
        pre, h = model.readings(xb)
    else:
        h = model.features(xb)
    return [(pre, h, model.head(h))]


def _training_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy; for a :class:`SharedTrunk`'s ``(n, members, classes)`` logits,
    the sum of every member's mean cross-entropy (each member's own layers get the
    gradient they would get trained alone)."""
    if logits.dim() == 3:
        flat = logits.flatten(0, 1)
        return nn.functional.cross_entropy(
            flat, y.repeat_interleave(logits.shape[1]), reduction="sum"
        ) / len(y)
    return nn.functional.cross_entropy(logits, y)


def _show(value) -> str:
    """A loss or accuracy for the log: one number, or a SharedTrunk's range over members."""
    if isinstance(value, list):
        return f"{min(value):.4f}..{max(value):.4f}"
    return f"{value:.4f}"


# What the final evaluation keeps besides loss and accuracy (``train_classifier(extract=)``).
EXTRACT = (None, "features", "readings")


def train_classifier(
    spec: ModelSpec,
    cfg: TrainConfig,
    data: Split,
    *,
    device: str = "auto",
    log: Callable[[str], None] = print,
    checkpoint: str | None = None,
    extract: str | None = None,
    build: Callable[[], nn.Module] | None = None,
) -> tuple[Classifier, TrainResult, dict]:
    """Train a classifier from scratch with cross-entropy (Adam, or Adadelta).

    ``data`` : a :class:`Split` (or a :class:`neuralhull.datasets.Dataset`) of ``(n, C, H, W)``
    uint8 images and ``(n,)`` labels in ``[0, spec.n_classes)``. ``cfg``'s label noise
    replaces a seeded fraction of the training labels before training; accuracies are always
    measured on the true labels.

    With ``extract="features"``, the final evaluation keeps the last hidden layer and the
    predicted class of every training and test sample (``result.final_train`` /
    ``final_test``): the pass that measures the final accuracies is the extraction, not a
    second one. ``extract="readings"`` keeps that layer before its non-linearity as well
    (``linear_features``).

    With ``build``, the network trained is ``build()`` (called after seeding) instead of
    ``build_model(spec)``: a :class:`neuralhull.learn.models.SharedTrunk` trains several
    classifiers together, and its history holds one value per member (see
    :func:`forward_pass`).

    With ``checkpoint`` (a path outside the job's declared outputs, which Snakemake deletes
    before a rerun), the full training state is written there atomically after every epoch
    (:func:`save_checkpoint`). A later call with the same arguments resumes after the last
    finished epoch and ends, on the CPU, with bitwise the weights and metrics of an
    uninterrupted run. A checkpoint that is damaged, unreadable or written for other
    settings or data is deleted with a log line, and training starts from epoch 1
    (:func:`load_checkpoint`). The caller removes the checkpoint once the final outputs
    are written.

    Returns the model, its history and the normalisation ``{"mean": [...], "std": [...]}``
    of the inputs. Raises TrainingDiverged when a batch loss is NaN or infinite (lower the
    learning rate); after a resume the message names the checkpoint too.
    """
    if extract not in EXTRACT:
        raise ValueError(f"extract must be one of {EXTRACT}, got {extract!r}")
    dev = pick_device(device)
    seed_everything(cfg.seed)
    run = _start_run(spec, cfg, data, dev, build, log)
    fingerprint = run_fingerprint(
        spec, cfg, data.x_train, data.y_train, str(run.model) if build else ""
    )
    start_epoch = 1 if checkpoint is None else _resume(run, checkpoint, fingerprint)
    if cfg.steps is not None and cfg.steps < 1:
        raise ValueError(f"steps must be >= 1 or None, got {cfg.steps}")
    epochs = _epochs(cfg, len(run.xt))
    steps_left = math.inf if cfg.steps is None else cfg.steps
    steps_left -= (start_epoch - 1) * run.n_batches
    t0 = time.perf_counter()
    _log_start(run, spec, device)
    for epoch in range(start_epoch, epochs + 1):
        noisy_loss = _train_epoch(run, epoch, min(run.n_batches, steps_left))
        steps_left -= min(run.n_batches, steps_left)
        last = epoch == epochs
        _evaluate(run, extract if last else None, last)
        history = run.result
        log(
            f"epoch {epoch}/{epochs}: noisy-label loss {noisy_loss:.4f}, train loss "
            f"{_show(history.train_loss[-1])} acc {_show(history.train_accuracy[-1])}, test "
            f"loss {_show(history.test_loss[-1])} acc {_show(history.test_accuracy[-1])} "
            f"[{time.perf_counter() - t0:.1f} s]"
        )
        if checkpoint is not None and epoch < epochs:
            save_checkpoint(checkpoint, fingerprint, epoch, run.model, run.opt, run.gen, history)
    run.result.seconds = time.perf_counter() - t0
    return run.model, run.result, run.norm


@dataclass
class _Run:
    """The state one training run's steps share: the standardised data, the network, its
    optimiser and batch generator, and the history so far."""

    cfg: TrainConfig
    dev: torch.device
    log: Callable[[str], None]
    norm: dict  # {"mean": [...], "std": [...]} of the inputs
    xt: torch.Tensor  # training images, standardised
    yt: torch.Tensor  # training labels as trained on (with the label noise)
    yt_true: torch.Tensor  # training labels as measured
    xe: torch.Tensor
    ye: torch.Tensor
    model: nn.Module
    opt: torch.optim.Optimizer
    gen: torch.Generator
    result: TrainResult
    n_batches: int
    resumed: str = ""  # for the divergence message: where the weights came from


def _start_run(spec, cfg: TrainConfig, data: Split, dev, build, log) -> _Run:
    """Standardise the data, corrupt the labels, build the network and its optimiser, in
    the order that fixes the random draws (the network after the labels)."""
    mean, std = channel_stats(data.x_train)
    xt, xe = standardise(data.x_train, mean, std), standardise(data.x_test, mean, std)
    yt_true = torch.from_numpy(data.y_train.astype(np.int64))
    ye = torch.from_numpy(data.y_test.astype(np.int64))
    noisy, n_noisy = corrupt_labels(
        data.y_train.astype(np.int64), cfg.label_noise, spec.n_classes, cfg.seed
    )
    model = fast_layout((build() if build is not None else build_model(spec)).to(dev))
    return _Run(
        cfg=cfg,
        dev=dev,
        log=log,
        norm={"mean": mean.tolist(), "std": std.tolist()},
        xt=xt,
        yt=torch.from_numpy(noisy),
        yt_true=yt_true,
        xe=xe,
        ye=ye,
        model=model,
        opt=_optimizer(model, cfg),
        gen=torch.Generator().manual_seed(cfg.seed),
        result=TrainResult(device=str(dev), n_noisy_labels=n_noisy),
        n_batches=math.ceil(len(xt) / cfg.batch_size),
    )


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """``cfg``'s optimiser over ``model``'s parameters, after checking its schedule."""
    if cfg.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    elif cfg.optimizer == "adadelta":
        opt = torch.optim.Adadelta(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        raise ValueError(f"optimizer must be 'adam' or 'adadelta', got {cfg.optimizer!r}")
    if not 0 < cfg.lr_decay <= 1:
        raise ValueError(f"lr_decay must be in (0, 1], got {cfg.lr_decay}")
    if cfg.warmup_steps < 0:
        raise ValueError(f"warmup_steps must be >= 0, got {cfg.warmup_steps}")
    return opt


def _resume(run: _Run, checkpoint: str, fingerprint: str) -> int:
    """Load a trusted checkpoint into ``run``; the first epoch still to train (1 if none)."""
    state = load_checkpoint(checkpoint, fingerprint, run.log, epochs=_epochs(run.cfg, len(run.xt)))
    if state is None:
        return 1
    run.model.load_state_dict(state["model"])
    run.opt.load_state_dict(state["optimizer"])
    run.gen.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    if state.get("cuda_rng") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    for key, values in state["history"].items():
        setattr(run.result, key, list(values))
    run.log(f"resumed from checkpoint {checkpoint} after epoch {state['epoch']}")
    run.resumed = (
        f"; training had resumed from checkpoint {checkpoint} after epoch "
        f"{state['epoch']} (its content matched the sha256 it was saved with: the "
        "state a run with these settings wrote; delete it to train from epoch 1)"
    )
    return state["epoch"] + 1


def _log_start(run: _Run, spec: ModelSpec, device: str) -> None:
    cfg = run.cfg
    length = f"{cfg.epochs} epochs" if cfg.steps is None else f"{cfg.steps} steps"
    run.log(
        f"training {spec.arch} width={spec.width} depth={spec.depth} on {len(run.xt)} samples, "
        f"{length}, {run.n_batches} batches/epoch, device={device_note(device, run.dev)}, "
        f"label noise {cfg.label_noise} ({run.result.n_noisy_labels} labels changed)"
    )


def _set_lr(run: _Run, epoch: int, step: int) -> None:
    """The rate of step ``step`` of ``epoch``: a function of the two alone, so a resumed run
    continues the schedule exactly (:class:`TrainConfig` gives the formula)."""
    cfg = run.cfg
    lr = cfg.lr * cfg.lr_decay ** (epoch - 1)
    done = (epoch - 1) * run.n_batches + step  # optimiser steps before this one
    if done < cfg.warmup_steps:
        lr *= (done + 1) / cfg.warmup_steps
    for group in run.opt.param_groups:
        group["lr"] = lr


def _train_epoch(run: _Run, epoch: int, n_steps: int) -> float:
    """``n_steps`` optimiser steps of ``epoch`` (fewer than a full epoch at the end of a step
    budget); the mean loss on the labels trained on."""
    cfg, model, opt = run.cfg, run.model, run.opt
    model.train()
    t_epoch = time.perf_counter()
    perm = torch.randperm(len(run.xt), generator=run.gen)
    loss_sum, seen = 0.0, 0
    for b in range(n_steps):
        idx = perm[b * cfg.batch_size : (b + 1) * cfg.batch_size]
        xb, yb = run.xt[idx].to(run.dev), run.yt[idx].to(run.dev)
        _set_lr(run, epoch, b)
        loss = _training_loss(model(xb), yb)
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"training loss became {loss.item()} at epoch {epoch}, batch {b + 1}/"
                f"{run.n_batches} (lr={opt.param_groups[0]['lr']:.3g}, configured {cfg.lr}); "
                f"lower the learning rate in the config{run.resumed}"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_sum += loss.item() * len(idx)
        seen += len(idx)
        if (b + 1) % max(1, run.n_batches // 4) == 0 and b + 1 < run.n_batches:
            rate = (b + 1) * cfg.batch_size / (time.perf_counter() - t_epoch + 1e-9)
            run.log(
                f"  epoch {epoch} batch {b + 1}/{run.n_batches} loss {loss.item():.4f} "
                f"({rate:.0f} samples/s)"
            )
    return loss_sum / seen


def _evaluate(run: _Run, extract: str | None, last: bool) -> None:
    """Measure loss and accuracy on the training (true labels) and test sets into the
    history; after the last epoch keep both passes, with what ``extract`` asks for."""
    keep, both = extract is not None, extract == "readings"
    tr = forward_pass(run.model, run.xt, run.yt_true, run.dev, features=keep, readings=both)
    te = forward_pass(run.model, run.xe, run.ye, run.dev, features=keep, readings=both)
    result = run.result
    result.train_loss.append(tr.loss)
    result.test_loss.append(te.loss)
    result.train_accuracy.append(tr.accuracy)
    result.test_accuracy.append(te.accuracy)
    if last:
        result.final_train, result.final_test = tr, te


def _epochs(cfg: TrainConfig, n: int) -> int:
    """How many epochs a run over ``n`` samples has: ``cfg.epochs``, or with a step budget
    as many as the steps need, the last one cut short."""
    if cfg.steps is None:
        return cfg.epochs
    return math.ceil(cfg.steps / math.ceil(n / cfg.batch_size))


_HISTORY = ("train_loss", "test_loss", "train_accuracy", "test_accuracy")


def run_fingerprint(spec: ModelSpec, cfg: TrainConfig, x_train, y_train, network: str = "") -> str:
    """What a checkpoint must match to be resumed: the model, its settings, the data (a
    hash of the training images and labels) and the torch build."""
    h = hashlib.sha256()
    h.update(json.dumps([spec.to_dict(), cfg.__dict__, torch.__version__], sort_keys=True).encode())
    h.update(network.encode())  # a network not built from spec alone (train_classifier build)
    h.update(np.ascontiguousarray(x_train).tobytes())
    h.update(np.ascontiguousarray(y_train).tobytes())
    return h.hexdigest()


def torch_bytes(obj) -> bytes:
    """``torch.save(obj)`` as bytes. Written to a buffer, the archive's inner folder has a
    fixed name (saved to a file, torch names it after the file, and a temporary file's name
    is random): the same object gives the same bytes on every run."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _write_bytes(path, data: bytes) -> None:
    """``data`` to ``path`` atomically (a kill never leaves half a file)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


# A checkpoint is this line, the sha256 of the rest of the file and a newline, then the
# torch archive of the state: every byte of the state (weights, optimiser moments, generator
# states, history) is covered, and the file stays one file, written atomically.
_CHECKPOINT_HEADER = b"neuralhull checkpoint sha256="


def save_checkpoint(path, fingerprint, epoch, model, opt, gen, result: TrainResult) -> None:
    """Write the state after ``epoch`` atomically, with the sha256 of its content."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    state = {
        "fingerprint": fingerprint,
        "epoch": epoch,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": opt.state_dict(),
        "generator": gen.get_state(),
        # torch's global generator draws the dropout masks (convnet): resuming needs it too
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "history": {key: list(getattr(result, key)) for key in _HISTORY},
    }
    payload = torch_bytes(state)
    digest = hashlib.sha256(payload).hexdigest().encode()
    _write_bytes(path, _CHECKPOINT_HEADER + digest + b"\n" + payload)


def _read_checkpoint(path, fingerprint: str, epochs: int | None) -> dict:
    """The verified state in ``path``; ValueError saying why it cannot be trusted."""
    with open(path, "rb") as fh:
        data = fh.read()
    head, newline, payload = data.partition(b"\n")
    if not head.startswith(_CHECKPOINT_HEADER) or not newline:
        raise ValueError(
            "unreadable: it does not start with the sha256 of its content (written by an "
            "older version, or its first bytes are damaged)"
        )
    recorded = head[len(_CHECKPOINT_HEADER) :].decode("ascii", "replace")
    actual = hashlib.sha256(payload).hexdigest()
    if actual != recorded:
        raise ValueError(
            "damaged: its content does not match the sha256 it was saved with (bytes changed "
            "or cut off on disk)"
        )
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as exc:  # verified yet unreadable: never trusted either
        raise ValueError(f"unreadable ({type(exc).__name__}: {exc})") from exc
    keys = {"fingerprint", "epoch", "model", "optimizer", "generator", "torch_rng", "history"}
    if not isinstance(state, dict) or not keys <= set(state):
        missing = sorted(keys - set(state)) if isinstance(state, dict) else sorted(keys)
        raise ValueError(f"unreadable: it lacks {missing}")
    if state["fingerprint"] != fingerprint:
        raise ValueError("it was written for other settings or data")
    epoch = state["epoch"]
    if not (
        isinstance(epoch, int)
        and 1 <= epoch < (epochs if epochs is not None else epoch + 1)
        and all(len(state["history"].get(key, ())) == epoch for key in _HISTORY)
    ):
        raise ValueError(f"inconsistent: epoch {epoch!r} does not fit its history or the run")
    if not all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point()):
        raise ValueError("its weights hold NaN or inf")
    return state


def load_checkpoint(
    path, fingerprint: str, log: Callable[[str], None], epochs: int | None = None
) -> dict | None:
    """The state saved at ``path`` if it exists, its content matches the sha256 saved with
    it, it matches ``fingerprint`` (same settings and data) and its epoch is before the
    run's last (``epochs``); else None. A checkpoint that is not resumed is deleted, with a
    log line naming it and saying why: it can never be resumed, and the run starts again
    from epoch 1."""
    if not os.path.exists(path):
        return None
    try:
        return _read_checkpoint(path, fingerprint, epochs)
    except ValueError as exc:
        why = str(exc)
    except Exception as exc:  # a folder, no permission, a state of the wrong shape
        why = f"unreadable ({type(exc).__name__}: {exc})"
    try:
        os.remove(path)
        done = "deleted it"
    except OSError as exc:
        done = f"could not delete it ({exc}); delete it by hand"
    log(f"ignoring checkpoint {path}: {why}; {done}, training starts from epoch 1")
    return None


def save_model(model: Classifier, spec: ModelSpec, norm: dict, path: str) -> str:
    """Write the weights and everything needed to rebuild the model (plain tensors, no code),
    atomically; the same model gives the same bytes. Returns the file's sha256 (hex), which
    the caller records as ``model_sha256`` in the :data:`METRICS_FILE` beside it, where
    :func:`load_model` checks it."""
    state = {
        "spec": spec.to_dict(),
        "norm": norm,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    data = torch_bytes(state)
    _write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def _retrain_hint(path) -> str:
    return (
        f"retrain it with `snakemake --force {path}` (with the run's --configfile), "
        "which rewrites the weights and the digest"
    )


def recorded_model_digest(path) -> str:
    """The sha256 recorded for the ``model.pt`` at ``path``: ``model_sha256`` in the
    :data:`METRICS_FILE` of its folder. ModelFileError, naming both files, if none is."""
    metrics = os.path.join(os.path.dirname(os.fspath(path)), METRICS_FILE)
    try:
        with open(metrics) as fh:
            digest = json.load(fh).get("model_sha256")
    except (OSError, ValueError, AttributeError) as exc:
        raise ModelFileError(
            f"{path}: no digest to check it against, {metrics} cannot be read ({exc}); "
            f"{_retrain_hint(path)}, or pass the expected sha256 to load_model"
        ) from exc
    if not isinstance(digest, str):
        raise ModelFileError(
            f"{path}: no digest to check it against, {metrics} records no model_sha256 "
            f"(written by an older version of the workflow); {_retrain_hint(path)}"
        )
    return digest


def load_model(
    path: str, device: str = "cpu", *, sha256: str | None = None
) -> tuple[Classifier, ModelSpec, dict]:
    """Rebuild a model saved by :func:`save_model`, after checking the file's bytes.

    The file's sha256 must equal ``sha256``, or when that is not given the ``model_sha256``
    recorded in the :data:`METRICS_FILE` beside it; else ModelFileError names the file and
    how to remake it. Loading uses ``weights_only=True``: a weights file can hold tensors
    and plain containers only, never pickled code.
    """
    expected = sha256 if sha256 is not None else recorded_model_digest(path)
    with open(path, "rb") as fh:
        data = fh.read()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ModelFileError(
            f"{path} is damaged or was changed after training: its sha256 is {actual}, but "
            f"{expected} was recorded when it was written; {_retrain_hint(path)}"
        )
    state = torch.load(io.BytesIO(data), map_location=device, weights_only=True)
    spec = ModelSpec.from_dict(state["spec"])
    model = build_model(spec)
    model.load_state_dict(state["state_dict"])
    model.to(device).eval()
    return model, spec, state["norm"]


@torch.no_grad()
def extract_activations(
    model: Classifier,
    images: np.ndarray,
    norm: dict,
    *,
    batch_size: int = EVAL_BATCH,
    device: str = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Last hidden layer and predicted class of every image (of a saved model; training
    with ``extract="features"`` hands them over without a second pass).

    Parameters
    ----------
    images : (n, C, H, W) uint8.

    Returns
    -------
    activations : (n, hidden_size) float32.
    predictions : (n,) int64.
    """
    x = standardise(images, np.asarray(norm["mean"]), np.asarray(norm["std"]))
    out = forward_pass(fast_layout(model), x, None, device, features=True, batch_size=batch_size)
    return out.features, out.predictions


def history_json(result: TrainResult, spec: ModelSpec, cfg: TrainConfig) -> str:
    """The metrics file of one trained model, as JSON text."""
    return json.dumps(
        {
            "spec": spec.to_dict(),
            "train": cfg.__dict__,
            "device": result.device,
            "seconds": round(result.seconds, 3),
            "n_noisy_labels": result.n_noisy_labels,
            "final_train_accuracy": result.train_accuracy[-1],
            "final_test_accuracy": result.test_accuracy[-1],
            "per_epoch": {
                "train_loss": result.train_loss,
                "test_loss": result.test_loss,
                "train_accuracy": result.train_accuracy,
                "test_accuracy": result.test_accuracy,
            },
        },
        indent=2,
    )
