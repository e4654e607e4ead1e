"""The representations in which test samples are compared with the training set.

A space is named by a string:

- ``input``: pixels, ``x / 255`` flattened;
- ``input-pca{k}``: the first ``k`` principal components of the training pixels;
- ``activation``: the model's last hidden layer;
- ``activation-pca{k}``: its first ``k`` principal components (the linear baseline of
  the autoencoder);
- ``latent{k}``: the code of the autoencoder with latent size ``k``;
- ``intrinsic``: the code at the model's chosen latent size (its intrinsic dimension,
  read from ``intrinsic_dimension.json``), the space where Bonnasse-Gahot (2022) finds
  most test samples inside the training hull.
"""

from __future__ import annotations

import re

import numpy as np

from neuralhull.io import load_arrays, load_json

_SPACE = re.compile(r"^(input|activation)(?:-pca(\d+))?$|^latent(\d+)$|^(intrinsic)$")


def parse_space(space: str) -> tuple[str, int | None]:
    """Split a space name: ``"input-pca8" -> ("input-pca", 8)``, ``"input" -> ("input", None)``."""
    m = _SPACE.match(space)
    if not m:
        raise ValueError(
            f"unknown space {space!r}: expected input, input-pca<k>, activation, "
            "activation-pca<k>, latent<k> or intrinsic"
        )
    base, pca_k, latent_k, intrinsic = m.groups()
    if intrinsic is not None:
        return "intrinsic", None
    if latent_k is not None:
        return "latent", int(latent_k)
    if pca_k is not None:
        return f"{base}-pca", int(pca_k)
    return base, None


def flatten_images(images: np.ndarray) -> np.ndarray:
    """uint8 images ``(n, C, H, W)`` -> float64 ``(n, C*H*W)`` in [0, 1]."""
    return images.reshape(len(images), -1).astype(np.float64) / 255.0


def pca_fit(train: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Principal axes of ``train (n, d)`` from the eigen-decomposition of its covariance.

    Returns ``mean (d,)``, ``components (k, d)`` (orthonormal rows, sign fixed so that the
    largest-magnitude entry of each is positive: deterministic) and explained variances (k,).
    """
    if not 1 <= k <= train.shape[1]:
        raise ValueError(f"PCA size k={k} must be between 1 and the dimension {train.shape[1]}")
    x = np.asarray(train, dtype=np.float64)
    if not np.isfinite(x).all():
        raise ValueError("PCA needs finite points: the training points hold NaN or inf")
    mean = x.mean(0)
    xc = x - mean
    cov = xc.T @ xc / max(1, len(x) - 1)
    vals, vecs = np.linalg.eigh(cov)
    order = np.argsort(vals)[::-1][:k]
    comps = vecs[:, order].T
    sign = np.sign(comps[np.arange(k), np.abs(comps).argmax(1)])
    comps *= np.where(sign == 0, 1.0, sign)[:, None]
    return mean, comps, vals[order]


def pca_project(train: np.ndarray, test: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Project ``train (n, d)`` and ``test (m, d)`` on the first ``k`` principal axes of train."""
    mean, comps, _ = pca_fit(train, k)
    return (train - mean) @ comps.T, (test - mean) @ comps.T


def query_subsample(n_test: int, cap: int | None, seed: int) -> np.ndarray:
    """Sorted indices of the test samples scored: all of them, or a seeded subset of ``cap``."""
    if cap is None or cap >= n_test:
        return np.arange(n_test)
    return np.sort(np.random.default_rng(seed).choice(n_test, size=cap, replace=False))


def load_space(
    space: str,
    *,
    data: str | None = None,
    activations: str | None = None,
    codes: str | None = None,
    intrinsic: str | None = None,
    dataset=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Training and test points of ``space`` from the workflow's files.

    Parameters
    ----------
    data : canonical dataset ``.npz`` (needed for ``input`` spaces).
    activations : ``activations.npz`` of a model (``activation`` spaces).
    codes : ``latent/codes.npz`` of a model, arrays ``train{k}``, ``test{k}`` per latent
        size (``latent`` and ``intrinsic`` spaces).
    intrinsic : ``intrinsic_dimension.json`` of a model (``intrinsic``: its chosen size).
    dataset : the :class:`neuralhull.datasets.Dataset` already loaded from ``data``, for a
        caller that needs its labels too (the file is then not read again).

    Returns
    -------
    train : (n, d) float64; test : (m, d) float64.
    """
    kind, k = parse_space(space)
    if kind.startswith("input"):
        from neuralhull.datasets import load

        ds = dataset if dataset is not None else load(data)
        train, test = flatten_images(ds.x_train), flatten_images(ds.x_test)
    elif kind.startswith("activation"):
        f = load_arrays(activations, ["train", "test"])
        train, test = f["train"].astype(np.float64), f["test"].astype(np.float64)
    else:
        if kind == "intrinsic":
            k = load_json(intrinsic)["chosen_latent_size"]
            if k is None:
                raise ValueError(f"{intrinsic} chose no latent size: no intrinsic space")
        f = load_arrays(codes, [f"train{k}", f"test{k}"])
        train, test = f[f"train{k}"].astype(np.float64), f[f"test{k}"].astype(np.float64)
    if kind.endswith("-pca"):
        train, test = pca_project(train, test, k)
    return train, test
