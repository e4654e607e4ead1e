"""Real images seen in about k dimensions (Balestriero et al. 2021, Fig. 3).

Their first k principal components, a centred crop of about k pixels, or smoothing and
subsampling to about k pixels.
"""

from __future__ import annotations

import numpy as np

from neuralhull.checks import as_images, check_count

__all__ = [
    "REAL_DIMENSION_METHODS",
    "centre_crop",
    "grid_side",
    "reduce_dimension",
    "reduce_dimensions",
    "smooth_subsample",
    "smoothing_matrix",
]


REAL_DIMENSION_METHODS = ("pca", "crop", "smooth")
"""Ways of seeing images in about k dimensions: principal components, a centred crop of
about k pixels, smoothing then subsampling to about k pixels."""


def grid_side(k: int, image_shape: tuple[int, int, int]) -> int:
    """Side s of the square s x s pixel grid whose C s^2 values come closest to ``k``.

    ``s = round(sqrt(k / C))``, clipped to ``[1, min(H, W)]``.

    Parameters
    ----------
    k : int
        Target dimension, >= 1.
    image_shape : (C, H, W)
    """
    k = check_count(k, "target dimension k")
    c, h, w = image_shape
    return int(np.clip(round(np.sqrt(k / c)), 1, min(h, w)))


def centre_crop(images: np.ndarray, side: int) -> np.ndarray:
    """The centred ``side x side`` window of every image.

    The window starts at row ``(H - side) // 2`` and column ``(W - side) // 2``: its centre
    is the image's centre, or half a pixel above / left of it when ``H - side`` (``W - side``)
    is odd.

    Parameters
    ----------
    images : (n, C, H, W) array
    side : int
        1 <= side <= min(H, W).

    Returns
    -------
    (n, C, side, side) array, same dtype
    """
    images = as_images(images, "images")
    _, _, h, w = images.shape
    side = check_count(side, "crop side")
    if side > min(h, w):
        raise ValueError(f"crop side {side} exceeds the image size {h}x{w}")
    top, left = (h - side) // 2, (w - side) // 2
    return images[:, :, top : top + side, left : left + side]


def smoothing_matrix(size: int, side: int) -> np.ndarray:
    """Linear map from ``size`` pixels along one axis to ``side`` smoothed samples.

    Gaussian smoothing with sigma = max(0, (f - 1) / 2), f = size / side the subsampling
    factor (the usual anti-aliasing choice), kernel truncated at 4 sigma and normalised,
    edge pixels repeated beyond the border; then
    linear interpolation at the centres of ``side`` equal cells, positions
    ``(i + 1/2) f - 1/2``. Every row is non-negative and sums to 1, so a constant signal
    stays constant and values stay in the range of the input.

    Parameters
    ----------
    size : int
        Pixels along the axis.
    side : int
        Samples kept, 1 <= side <= size.

    Returns
    -------
    (side, size) float64
    """
    size = check_count(size, "size")
    side = check_count(side, "side")
    if side > size:
        raise ValueError(f"cannot subsample {size} pixels to more samples ({side})")
    factor = size / side
    sigma = max(0.0, (factor - 1.0) / 2.0)
    if sigma > 0:
        radius = int(4.0 * sigma + 0.5)  # the kernel truncated at 4 sigma
        offsets = np.arange(-radius, radius + 1)
        kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
        kernel /= kernel.sum()
        smooth = np.zeros((size, size))
        for i in range(size):
            np.add.at(smooth[i], np.clip(i + offsets, 0, size - 1), kernel)
    else:
        smooth = np.eye(size)
    positions = (np.arange(side) + 0.5) * factor - 0.5
    lower = np.clip(np.floor(positions).astype(int), 0, size - 1)
    upper = np.minimum(lower + 1, size - 1)
    frac = np.clip(positions - lower, 0.0, 1.0)
    interpolate = np.zeros((side, size))
    np.add.at(interpolate, (np.arange(side), lower), 1.0 - frac)
    np.add.at(interpolate, (np.arange(side), upper), frac)
    return interpolate @ smooth


def smooth_subsample(images: np.ndarray, side: int, *, chunk: int = 8192) -> np.ndarray:
    """Smooth every image and subsample it to a ``side x side`` grid.

    Separable: ``out[c] = M_H image[c] M_W^T`` with ``M = smoothing_matrix(...)`` per axis.

    Parameters
    ----------
    images : (n, C, H, W) array (any real dtype)
    side : int
        1 <= side <= min(H, W).
    chunk : int
        Images processed at a time (bounds the memory of the float64 copy).

    Returns
    -------
    (n, C, side, side) float64, in the units of ``images``
    """
    images = as_images(images, "images")
    n, c, h, w = images.shape
    side = check_count(side, "grid side")
    if side > min(h, w):
        raise ValueError(f"grid side {side} exceeds the image size {h}x{w}")
    rows, cols = smoothing_matrix(h, side), smoothing_matrix(w, side)
    out = np.empty((n, c, side, side))
    for start in range(0, n, chunk):
        block = images[start : start + chunk].astype(np.float64)
        out[start : start + chunk] = rows @ block @ cols.T
    return out


def reduce_dimension(
    method: str, x_train: np.ndarray, x_test: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Training and test images seen in about ``k`` dimensions.

    ``"pca"``: the first ``k`` principal components of the training pixels (``x / 255``),
    exactly ``k`` dimensions (:func:`neuralhull.spaces.pca_project`). ``"crop"``: the
    centred s x s window, ``"smooth"``: smoothing and subsampling to an s x s grid, both
    with ``s = grid_side(k, (C, H, W))``, so ``C s^2`` dimensions (about ``k``).

    Parameters
    ----------
    method : one of :data:`REAL_DIMENSION_METHODS`
    x_train : (n, C, H, W) uint8 images
    x_test : (m, C, H, W) uint8 images
    k : int
        Target dimension, 1 <= k <= C H W.

    Returns
    -------
    train : (n, k') float64 and test : (m, k') float64, k' the actual dimension
    """
    ((_, train, test),) = reduce_dimensions(method, x_train, x_test, [k])
    return train, test


def reduce_dimensions(method: str, x_train: np.ndarray, x_test: np.ndarray, ks):
    """:func:`reduce_dimension` at every target dimension of ``ks``, as a generator of
    ``(k, train, test)``: the inputs are checked, and the principal axes found, once.
    Each k's arrays are those :func:`reduce_dimension` gives for it alone (PCA: the same
    axes, projected with that k's first rows)."""
    x_train, x_test = as_images(x_train, "x_train"), as_images(x_test, "x_test")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise ValueError(
            f"training and test images differ in shape: {x_train.shape[1:]} vs {x_test.shape[1:]}"
        )
    if method not in REAL_DIMENSION_METHODS:
        raise ValueError(
            f"unknown method {method!r}; expected one of {list(REAL_DIMENSION_METHODS)}"
        )
    ks = [check_count(k, "target dimension k") for k in ks]
    image_shape = tuple(x_train.shape[1:])
    total = int(np.prod(image_shape))
    for k in ks:
        if k > total:
            raise ValueError(f"target dimension k={k} exceeds the image dimension {total}")
    return _reduced(method, x_train, x_test, ks, image_shape)  # checked before the first k


def _reduced(method, x_train, x_test, ks, image_shape):
    from neuralhull.spaces import flatten_images, pca_fit

    if method == "pca":
        train, test = flatten_images(x_train), flatten_images(x_test)
        mean, comps, _ = pca_fit(train, max(ks))
        for k in ks:
            axes = comps[:k]
            yield k, (train - mean) @ axes.T, (test - mean) @ axes.T
        return
    for k in ks:
        side = grid_side(k, image_shape)
        if method == "crop":
            yield (
                k,
                flatten_images(centre_crop(x_train, side)),
                flatten_images(centre_crop(x_test, side)),
            )
        else:  # smooth
            yield (
                k,
                smooth_subsample(x_train, side).reshape(len(x_train), -1) / 255.0,
                smooth_subsample(x_test, side).reshape(len(x_test), -1) / 255.0,
            )
