"""CNNs whose last hidden layer (the embedding) has k units, and their embeddings.

The embeddings of the training and test images (Balestriero et al. 2021, their embedding
table).

Torch is imported inside the functions, so the module loads in an environment without it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np

from neuralhull.checks import check_count

if TYPE_CHECKING:  # torch-dependent: imported where it is used
    from neuralhull.learn.training import TrainConfig

__all__ = ["BottleneckNetworks", "BottleneckResult", "bottleneck_spec", "train_bottlenecks"]


def bottleneck_spec(
    k: int,
    image_shape: tuple[int, int, int],
    n_classes: int,
    *,
    channels: int = 4,
    depth: int = 2,
    arch: str = "cnn",
):
    """A CNN whose last hidden layer (the embedding) has ``k`` units.

    :class:`neuralhull.learn.models.ModelSpec` with ``width=k``. ``arch="cnn"``: ``depth``
    convolution blocks from ``channels`` channels, then a k-unit fully connected layer with
    ReLU and the linear head. ``arch="convnet"``: the PyTorch MNIST example network
    (``channels=32`` for its 32 and 64 channels) with its 128-unit layer replaced by k.
    """
    from neuralhull.learn.models import ModelSpec

    if arch not in ("cnn", "convnet"):
        raise ValueError(f"bottleneck arch must be 'cnn' or 'convnet', got {arch!r}")
    return ModelSpec(
        arch=arch,
        in_shape=tuple(int(s) for s in image_shape),
        n_classes=check_count(n_classes, "n_classes"),
        width=check_count(k, "bottleneck size k"),
        depth=check_count(depth, "depth"),
        channels=check_count(channels, "channels"),
    )


@dataclass
class BottleneckResult:
    """A trained bottleneck classifier and its embeddings.

    Attributes
    ----------
    model : neuralhull.learn.models.Classifier
    spec : neuralhull.learn.models.ModelSpec
    history : neuralhull.learn.training.TrainResult
    norm : dict
        Input normalisation (``mean``, ``std``).
    train_embeddings : (n, k) float32
        Last hidden layer of every training image, after its ReLU.
    test_embeddings : (m, k) float32
    train_linear, test_linear : (n, k), (m, k) float32
        The same layer before its ReLU (the bottleneck layer's linear output).
    test_predictions : (m,) int64
    test_accuracy : float
    train_config : neuralhull.learn.training.TrainConfig
    """

    model: object
    spec: object
    history: object
    norm: dict
    train_embeddings: np.ndarray
    test_embeddings: np.ndarray
    test_predictions: np.ndarray
    test_accuracy: float
    train_config: object = None
    train_linear: np.ndarray | None = None
    test_linear: np.ndarray | None = None


@dataclass(frozen=True)
class BottleneckNetworks:
    """The embedding experiment's networks, all but their bottleneck size k.

    ``arch``, ``channels`` and ``depth`` as in :func:`bottleneck_spec`, ``n_classes`` the
    classes of the data; ``training`` how each network is trained
    (:class:`neuralhull.learn.training.TrainConfig`: seeded, deterministic on the CPU).
    """

    n_classes: int
    training: TrainConfig
    arch: str = "cnn"
    channels: int = 4
    depth: int = 2

    @classmethod
    def from_config(cls, params: Mapping, n_classes: int) -> BottleneckNetworks:
        """The networks of the workflow's ``theory.embedding`` settings: its keys that are
        fields of :class:`~neuralhull.learn.training.TrainConfig` make the training settings."""
        from neuralhull.learn.training import TrainConfig

        names = {f.name for f in fields(TrainConfig)} & set(params)
        training = TrainConfig(**{name: params[name] for name in sorted(names)})
        return cls(
            n_classes,
            training,
            arch=params["arch"],
            channels=params["channels"],
            depth=params["depth"],
        )

    def spec(self, k: int, image_shape: tuple[int, int, int]):
        """The :class:`~neuralhull.learn.models.ModelSpec` of the k-unit bottleneck network."""
        return bottleneck_spec(
            k,
            image_shape,
            self.n_classes,
            channels=self.channels,
            depth=self.depth,
            arch=self.arch,
        )


def train_bottlenecks(
    ks,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    networks: BottleneckNetworks,
    *,
    device: str = "auto",
    log: Callable[[str], None] = print,
    checkpoint: str | None = None,
) -> list[BottleneckResult]:
    """Train one bottleneck CNN per distinct size in ``ks`` and embed every image.

    Training is :func:`neuralhull.learn.training.train_classifier` (``device``, ``log`` and the
    per-epoch ``checkpoint`` that a killed run resumes from go to it); the embeddings come
    from its final evaluation pass. One size gives a plain network. Several sizes share the
    convolutions (a :class:`neuralhull.learn.models.SharedTrunk`), trained on the sum of the
    networks' losses, so one pass of the convolutions per batch serves every k (the sweep
    costs about one network instead of ``len(ks)``); each k keeps its own bottleneck layer
    and classifier, and each returned model is a standalone classifier of width k. What is
    traded: the convolutions are fitted to all bottlenecks at once, so the embeddings of
    different k are not independent trainings (the workflow's
    ``theory.embedding.shared_trunk: false`` calls this once per k instead).

    ``data`` is ``(x_train (n, C, H, W), y_train (n,), x_test (m, C, H, W), y_test (m,))``:
    uint8 images and int labels in ``[0, n_classes)``. Returns one
    :class:`BottleneckResult` per k, in the order of ``ks``.
    """
    from neuralhull.learn.models import SharedTrunk, build_model
    from neuralhull.learn.training import Split, train_classifier

    ks = [int(k) for k in ks]
    if not ks or len(set(ks)) != len(ks):
        raise ValueError(f"bottleneck sizes must be distinct and at least one, got {ks}")
    x_train, y_train, x_test, y_test = data
    specs = [networks.spec(k, tuple(x_train.shape[1:])) for k in ks]
    net, history, norm = train_classifier(
        specs[-1],
        networks.training,
        Split(x_train, y_train, x_test, y_test),
        device=device,
        log=log,
        extract="readings",
        checkpoint=checkpoint,
        build=(lambda: SharedTrunk([build_model(s) for s in specs])) if len(ks) > 1 else None,
    )
    single = len(ks) == 1  # a plain Classifier: its history and passes are its own
    members = [net] if single else list(net.members)
    ends = np.cumsum([0] + ks)
    results = []
    for j, (spec, member) in enumerate(zip(specs, members, strict=True)):
        cols = slice(ends[j], ends[j + 1])
        predictions = history.final_test.predictions
        predictions = predictions if single else predictions[:, j]
        results.append(
            BottleneckResult(
                model=member,
                spec=spec,
                history=_member_history(history, None if single else j),
                norm=norm,
                train_embeddings=history.final_train.features[:, cols],
                test_embeddings=history.final_test.features[:, cols],
                test_predictions=predictions,
                test_accuracy=float(np.mean(predictions == np.asarray(y_test))),
                train_config=networks.training,
                train_linear=history.final_train.linear_features[:, cols],
                test_linear=history.final_test.linear_features[:, cols],
            )
        )
    return results


def _member_history(history, j: int | None):
    """The per-epoch history of member ``j`` of a shared trunk (``None``: a plain network,
    whose history is its own); the trunk records every member's value per epoch."""
    from neuralhull.learn.training import TrainResult

    own = TrainResult(device=history.device, n_noisy_labels=history.n_noisy_labels)
    for key in ("train_loss", "test_loss", "train_accuracy", "test_accuracy"):
        values = getattr(history, key)
        setattr(own, key, list(values) if j is None else [v[j] for v in values])
    own.seconds = history.seconds
    return own
