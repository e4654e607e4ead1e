"""Classifiers whose last hidden layer the workflow studies.

Every model is a :class:`torch.nn.Module` with two parts:

- ``features(x) -> (n, h)``: the last hidden layer (after its non-linearity), the
  representation whose convex hull and neighbourhoods the workflow measures
  (``readings(x)`` gives that layer both before and after its non-linearity);
- ``head``: a linear read-out from that layer to the class logits.

``forward(x) = head(features(x))``. Inputs are float tensors ``(n, C, H, W)``, already
scaled by :func:`neuralhull.learn.training.standardise`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

ARCHITECTURES = ("mlp", "cnn", "convnet", "resnet18")


def settings_of(cls, entry: dict) -> dict:
    """The keys of a config ``entry`` that are fields of the dataclass ``cls``: a model's
    entry holds its architecture and its training settings side by side, and each
    dataclass takes its own (the schema has already rejected unknown keys)."""
    names = {f.name for f in fields(cls)}
    return {key: value for key, value in entry.items() if key in names}


@dataclass(frozen=True)
class ModelSpec:
    """What a model is, enough to rebuild it before loading its weights.

    Attributes
    ----------
    arch : one of ``ARCHITECTURES``.
    in_shape : (C, H, W) of the inputs.
    n_classes : number of classes.
    width : size of the last hidden layer (``resnet18``: fixed at 512, ignored).
    depth : number of hidden layers (``mlp``) or convolution blocks (``cnn``; ``convnet``
        has two convolutions, whatever ``depth`` says).
    channels : channels of the first convolution (``cnn``, ``convnet``; doubled per block).

    ``convnet`` is the network of the PyTorch MNIST example (``channels=32``: two unpadded
    3x3 convolutions of 32 and 64 channels with ReLU, a 2x2 max-pool, dropout 0.25, a
    fully connected layer of ``width`` units with ReLU, dropout 0.5, the linear head),
    the architecture of the public reproductions of the bottleneck experiment.
    """

    arch: str
    in_shape: tuple[int, int, int]
    n_classes: int
    width: int = 128
    depth: int = 2
    channels: int = 16

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_config(cls, entry: dict, in_shape, n_classes: int) -> ModelSpec:
        """The spec of a model's entry of the config (``models:``, defaults filled in) for a
        dataset of images ``in_shape`` ``(C, H, W)`` and ``n_classes`` classes, which the
        dataset decides, not the entry."""
        own = {
            k: v for k, v in settings_of(cls, entry).items() if k not in ("in_shape", "n_classes")
        }
        return cls(in_shape=tuple(in_shape), n_classes=int(n_classes), **own)

    @classmethod
    def from_dict(cls, d: dict) -> ModelSpec:
        d = dict(d)
        d["in_shape"] = tuple(d["in_shape"])
        return cls(**d)


class Classifier(nn.Module):
    """A feature extractor followed by a linear head; see the module docstring."""

    def __init__(self, body: nn.Module, hidden: int, n_classes: int):
        super().__init__()
        self.body = body
        self.hidden_size = hidden
        self.head = nn.Linear(hidden, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Last hidden layer, ``(n, hidden_size)``."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def readings(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The last hidden layer read two ways: ``(linear, relu)``.

        ``linear`` is the output of the body's last fully connected layer before its
        non-linearity, ``relu`` the same layer after it (what :meth:`features` returns), from
        one forward pass. Only for bodies that end in a fully connected layer (``mlp``,
        ``cnn``, ``convnet``).
        """
        body = self.body
        i = _last_linear(body)
        linear = body[: i + 1](x)
        return linear, body[i + 1 :](linear)


def _mlp_body(spec: ModelSpec) -> nn.Module:
    c, h, w = spec.in_shape
    layers: list[nn.Module] = [nn.Flatten()]
    size = c * h * w
    for _ in range(spec.depth):
        layers += [nn.Linear(size, spec.width), nn.ReLU()]
        size = spec.width
    return nn.Sequential(*layers)


def _cnn_body(spec: ModelSpec) -> nn.Module:
    c, h, w = spec.in_shape
    layers: list[nn.Module] = []
    ch_in, ch = c, spec.channels
    for _ in range(spec.depth):
        layers += [nn.Conv2d(ch_in, ch, 3, padding=1), nn.ReLU()]
        if min(h, w) >= 4:
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
        ch_in, ch = ch, ch * 2
    layers += [nn.Flatten(), nn.Linear(ch_in * h * w, spec.width), nn.ReLU()]
    return nn.Sequential(*layers)


def _convnet_body(spec: ModelSpec) -> nn.Module:
    c, h, w = spec.in_shape
    if min(h, w) < 6:
        raise ValueError(f"convnet needs images of at least 6 x 6 pixels, got {h} x {w}")
    ch = spec.channels
    flat = 2 * ch * ((h - 4) // 2) * ((w - 4) // 2)
    return nn.Sequential(
        nn.Conv2d(c, ch, 3),
        nn.ReLU(),
        nn.Conv2d(ch, 2 * ch, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Flatten(),
        nn.Linear(flat, spec.width),
        nn.ReLU(),
        nn.Dropout(0.5),
    )


def _resnet18_body(spec: ModelSpec) -> nn.Module:
    from torchvision.models import resnet18

    net = resnet18(weights=None, num_classes=spec.n_classes)
    # Small images (32x32): a 3x3 stem without the max-pool, as is usual for CIFAR.
    net.conv1 = nn.Conv2d(spec.in_shape[0], 64, 3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    net.fc = nn.Identity()  # the body ends at the pooled 512-d layer
    return net


def build_model(spec: ModelSpec) -> Classifier:
    """A freshly initialised classifier for ``spec`` (seed torch before calling)."""
    if spec.arch == "mlp":
        return Classifier(_mlp_body(spec), spec.width, spec.n_classes)
    if spec.arch == "cnn":
        return Classifier(_cnn_body(spec), spec.width, spec.n_classes)
    if spec.arch == "convnet":
        return Classifier(_convnet_body(spec), spec.width, spec.n_classes)
    if spec.arch == "resnet18":
        if spec.in_shape[0] != 3:
            raise ValueError(
                f"resnet18 expects 3-channel images, got in_shape={spec.in_shape}; "
                "use 'mlp' or 'cnn' for grey-scale datasets"
            )
        return Classifier(_resnet18_body(spec), 512, spec.n_classes)
    raise ValueError(f"unknown architecture {spec.arch!r}; expected one of {ARCHITECTURES}")


def _last_linear(body: nn.Module) -> int:
    """Index of the last fully connected layer of a sequential body."""
    at = (
        [i for i, m in enumerate(body) if isinstance(m, nn.Linear)]
        if isinstance(body, nn.Sequential)
        else []
    )
    if not at:
        raise ValueError("this architecture has no fully connected last hidden layer")
    return at[-1]


class SharedTrunk(nn.Module):
    """Classifiers that differ only from their last fully connected layer on, trained
    together on one shared trunk (every layer before that one).

    ``members`` are ordinary :class:`Classifier` objects of one architecture and different
    widths; each member's body is rebuilt from the shared trunk modules plus its own last
    layer, so a member saved alone (:func:`neuralhull.learn.training.save_model`) is a standalone
    classifier of its width. One pass of the trunk per batch serves every member:
    ``forward(x)`` returns the logits of all members, ``(n, members, classes)``, and
    :meth:`branches` every member's last hidden layer before and after its non-linearity.
    """

    def __init__(self, members: list[Classifier]):
        super().__init__()
        if not members:
            raise ValueError("SharedTrunk needs at least one member")
        cut = _last_linear(members[0].body)
        self.cut = cut
        self.trunk = members[0].body[:cut]
        shape = [type(m) for m in self.trunk]
        for m in members:
            if _last_linear(m.body) != cut or [type(x) for x in m.body[:cut]] != shape:
                raise ValueError("SharedTrunk members must share the layers before the last one")
            m.body = nn.Sequential(*self.trunk, *m.body[cut:])
        self.members = nn.ModuleList(members)

    def branches(self, x: torch.Tensor):
        """``[(linear, relu, logits)]`` per member, from one pass of the trunk."""
        z = self.trunk(x)
        out = []
        for m in self.members:
            pre = m.body[self.cut](z)
            h = m.body[self.cut + 1 :](pre)
            out.append((pre, h, m.head(h)))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([logits for _, _, logits in self.branches(x)], 1)
