"""Experiments of the theory branch: random samples, real data in growing dimension, embeddings.

Balestriero, Pesenti & LeCun (2021, "Learning in high dimension always amounts to
extrapolation") ask how often a new sample falls inside the convex hull of a training set.
This module holds the measurements the workflow's theory branch makes:

1. :func:`hull_probability_table`: Monte-Carlo P(new sample inside the hull of N samples)
   over a grid of N and d for one kind of random sample, beside the exact value where a
   theorem gives it (their Fig. 1).
2. :func:`reduce_dimension`: a real image data set seen in about ``k`` dimensions, by its
   first ``k`` principal components, by a centred crop of about ``k`` pixels, or by smoothing
   and subsampling to about ``k`` pixels (their Fig. 3); :func:`hull_counts` then counts the
   test samples inside the training set's hull, with undecided answers counted, never
   guessed.
3. :func:`bottleneck_spec`, :func:`train_bottleneck`: a CNN whose last hidden layer (the
   embedding) has ``k`` units, and the embeddings of the training and test images (their
   embedding table).

The torch-dependent functions import torch lazily, so the module also loads in an
environment without it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from neuralhull import theory

__all__ = [
    "HULL_PROBABILITY_COLUMNS",
    "REAL_DIMENSION_METHODS",
    "SAMPLE_KINDS",
    "BottleneckResult",
    "affine_rank",
    "bottleneck_spec",
    "centre_crop",
    "collect_parts",
    "grid_side",
    "hull_counts",
    "hull_probability_cell",
    "hull_probability_outliers",
    "hull_probability_table",
    "reduce_dimension",
    "smooth_subsample",
    "smoothing_matrix",
    "train_bottleneck",
]

SAMPLE_KINDS = ("gaussian", "curve", "low-rank-gaussian")
"""Kinds of random samples, in a fixed order (the order seeds the Monte Carlo cells)."""

REAL_DIMENSION_METHODS = ("pca", "crop", "smooth")
"""Ways of seeing images in about k dimensions: principal components, a centred crop of
about k pixels, smoothing then subsampling to about k pixels."""

HULL_PROBABILITY_COLUMNS = (
    "kind",
    "d",
    "N",
    "trials",
    "queries_per_set",
    "undecided",
    "p_inside",
    "stderr",
    "theory",
    "upper_bound",
    "z",
)


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_seed(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


# ---------------------------------------------------------------------------------------------
# 1. Random samples
# ---------------------------------------------------------------------------------------------


def _hull_status(points: np.ndarray, queries: np.ndarray, *, tol: float) -> np.ndarray:
    from neuralhull import hull

    # one process: Monte-Carlo calls are small and many, and the job holds one core
    return hull.membership(points, queries, tol=tol, n_jobs=1).status


def hull_probability_cell(
    sampler: Callable[[int, int, np.random.Generator], np.ndarray],
    N: int,
    d: int,
    trials: int,
    rng: np.random.Generator,
    *,
    queries_per_set: int = 1,
    membership: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> dict[str, float]:
    """Monte-Carlo P(a new sample lies inside the hull of N samples), undecided answers kept.

    Draws like :func:`neuralhull.theory.hull_probability_mc` (each trial one call
    ``sampler(N + q, d, rng)``, the first N rows the training set, the rest the new
    samples), but asks a membership oracle that may answer "undecided" and counts those
    answers instead of guessing them. The estimate is the ratio estimator
    ``sum_t inside_t / sum_t decided_t`` over independent training sets t, its standard
    error the cluster (linearisation) formula
    ``sqrt(sum_t (inside_t - p decided_t)^2 / (T (T - 1))) / mean_t decided_t``. With nothing
    undecided both equal those of :func:`~neuralhull.theory.hull_probability_mc` on the same
    random stream (mean and ``sd / sqrt(T)`` of the per-trial fractions).

    Parameters
    ----------
    sampler : callable
        ``sampler(n, d, rng) -> (n, d)``.
    N, d, trials : int
        Training-set size, dimension, number of training sets (>= 2).
    rng : numpy.random.Generator
    queries_per_set : int
    membership : callable
        ``membership(points (n, d), queries (m, d)) -> (m,) int`` status codes of
        :mod:`neuralhull.hull` (``INSIDE`` 1, ``OUTSIDE`` 2, ``UNDECIDED`` 0).

    Returns
    -------
    dict
        ``p_inside``, ``stderr`` (NaN if nothing was decided), ``undecided`` (count).
    """
    from neuralhull.hull import INSIDE, OUTSIDE, UNDECIDED

    trials = _check_positive_int(trials, "trials")
    if trials < 2:
        raise ValueError(f"trials must be >= 2, got {trials}")
    queries_per_set = _check_positive_int(queries_per_set, "queries_per_set")
    inside = np.empty(trials)
    decided = np.empty(trials)
    for t in range(trials):
        samples = np.asarray(sampler(N + queries_per_set, d, rng), dtype=float)
        status = np.asarray(membership(samples[:N], samples[N:]))
        if (
            status.shape != (queries_per_set,)
            or not np.isin(status, [INSIDE, OUTSIDE, UNDECIDED]).all()
        ):
            raise ValueError(f"membership returned {status!r}, expected {queries_per_set} codes")
        inside[t] = np.sum(status == INSIDE)
        decided[t] = np.sum(status != UNDECIDED)
    undecided = int(trials * queries_per_set - decided.sum())
    if decided.sum() == 0:
        return {"p_inside": float("nan"), "stderr": float("nan"), "undecided": undecided}
    p = inside.sum() / decided.sum()
    residual = inside - p * decided
    stderr = np.sqrt(np.sum(residual**2) / (trials * (trials - 1))) / decided.mean()
    return {"p_inside": float(p), "stderr": float(stderr), "undecided": undecided}


def hull_probability_table(
    kind: str,
    dimensions: Sequence[int],
    sizes: Sequence[int],
    trials: int,
    seed: int,
    *,
    queries_per_set: int = 1,
    rank: int = 4,
    map_seed: int = 0,
    curve_seed: int = 0,
    curve_frequencies: Sequence[float] = theory.CURVE_FREQUENCIES,
    tol: float = 1e-7,
    membership: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Monte-Carlo and exact P(a new sample lies inside the hull of N samples), on a grid.

    Every cell (d, N) draws ``trials`` independent training sets of N samples of ``kind``
    in R^d and ``queries_per_set`` new samples per set, from
    ``numpy.random.default_rng([seed, SAMPLE_KINDS.index(kind), d, N])``: a cell is
    reproducible on its own, whatever else the grid holds. Estimate and standard error:
    :func:`hull_probability_cell`.

    The hull oracle is :func:`neuralhull.hull.membership`: every answer is certified, and
    a query it can certify neither inside nor outside is counted in the ``undecided``
    column and left out of the estimate, never guessed.

    For ``"low-rank-gaussian"``, dimensions d < ``rank`` are skipped (no rows; ``progress``
    is told which): there the samples are simply a full-rank Gaussian in R^d and the
    probability moves with d, whereas for every d >= ``rank`` it is that of N(0, I_rank) in
    R^rank, one curve whatever d. At least one dimension must be >= ``rank``.

    Parameters
    ----------
    kind : one of :data:`SAMPLE_KINDS`
        ``"gaussian"``: N(0, I_d); ``"curve"``: a fixed one-dimensional curve in R^d;
        ``"low-rank-gaussian"``: a ``rank``-dimensional Gaussian mapped linearly into R^d.
    dimensions : sequence of int
        Dimensions d >= 1.
    sizes : sequence of int
        Training-set sizes N >= 1 (the grid of the x-axis, usually logarithmic).
    trials : int
        Training sets per cell, >= 2.
    seed : int
        Seed of the whole grid (>= 0).
    queries_per_set : int
        New samples scored per training set.
    rank : int
        Rank of the low-rank Gaussian (ignored by the other kinds).
    map_seed : int
        Seed of the low-rank Gaussian's linear map into R^d
        (:func:`neuralhull.theory.low_rank_gaussian_samples`; ignored by the other kinds).
    curve_seed : int
        Seed of the curve's frequencies and phases (:func:`neuralhull.theory.curve_samples`;
        ignored by the other kinds).
    curve_frequencies : (low, high)
        Range of the curve's frequencies (ignored by the other kinds).
    tol : float
        Relative tolerance of the hull oracle.
    membership : callable, optional
        ``membership(points (n, d), queries (m, d)) -> (m,) int`` status codes replacing
        the oracle (tests use an independent LP); see :func:`hull_probability_cell`.
    progress : callable(str), optional
        Called with a line per finished cell.

    Returns
    -------
    pandas.DataFrame
        One row per (d, N) (d >= rank only for ``"low-rank-gaussian"``), columns
        :data:`HULL_PROBABILITY_COLUMNS`. ``theory`` is the exact probability
        (``"gaussian"``: 1 - KZ(N, d, 1), Kabluchko & Zaporozhets 2020;
        ``"low-rank-gaussian"``: the same in dimension rank, whatever d; ``"curve"``:
        ``(N - 1) / (N + 1)`` in d = 1, NaN in d >= 2, where no closed form is known).
        ``upper_bound`` is ``(N - 1) / (N + 1)``, a rigorous bound for every kind and d
        (:func:`neuralhull.theory.inside_probability_bound`). ``z = (p_inside - theory) /
        stderr``, NaN where there is no theory or the standard error is 0 (every answer of
        the cell agreed).
    """
    if kind not in SAMPLE_KINDS:
        raise ValueError(f"unknown sample kind {kind!r}; expected one of {list(SAMPLE_KINDS)}")
    dimensions = [_check_positive_int(d, "dimension") for d in dimensions]
    sizes = [_check_positive_int(n, "training-set size N") for n in sizes]
    if not dimensions or not sizes:
        raise ValueError("dimensions and sizes must each hold at least one value")
    seed = _check_seed(seed, "seed")
    rank = _check_positive_int(rank, "rank")
    map_seed = _check_seed(map_seed, "map_seed")
    curve_seed = _check_seed(curve_seed, "curve_seed")
    if kind == "low-rank-gaussian":
        sampler = partial(theory.low_rank_gaussian_samples, rank=rank, map_seed=map_seed)
        skipped = [d for d in dimensions if d < rank]
        dimensions = [d for d in dimensions if d >= rank]
        if not dimensions:
            raise ValueError(f"low-rank-gaussian needs a dimension d >= rank {rank}; got {skipped}")
        if skipped and progress is not None:
            progress(
                f"{kind}: skipping d = {', '.join(map(str, skipped))} (< rank {rank}): there "
                "the samples are a full-rank Gaussian in R^d and the probability moves with d"
            )
    elif kind == "curve":
        theory._curve_parameters(1, curve_seed, curve_frequencies)  # checks the range
        sampler = partial(
            theory.curve_samples, curve_seed=curve_seed, frequencies=curve_frequencies
        )
    else:
        sampler = theory.SAMPLERS[kind]
    if membership is None:
        membership = partial(_hull_status, tol=tol)
    rows = []
    for d in dimensions:
        for N in sizes:
            rng = np.random.default_rng([seed, SAMPLE_KINDS.index(kind), d, N])
            cell = hull_probability_cell(
                sampler,
                N,
                d,
                trials,
                rng,
                queries_per_set=queries_per_set,
                membership=membership,
            )
            p_inside, stderr = cell["p_inside"], cell["stderr"]
            exact = theory.inside_probability_theory(kind, N, d, rank=rank)
            z = (p_inside - exact) / stderr if stderr > 0 and np.isfinite(exact) else np.nan
            rows.append(
                dict(
                    kind=kind,
                    d=d,
                    N=N,
                    trials=trials,
                    queries_per_set=queries_per_set,
                    undecided=cell["undecided"],
                    p_inside=p_inside,
                    stderr=stderr,
                    theory=exact,
                    upper_bound=theory.inside_probability_bound(N),
                    z=z,
                )
            )
            if progress is not None:
                progress(
                    f"{kind} d={d} N={N}: p_inside {p_inside:.4f} +- {stderr:.4f}, "
                    f"theory {exact:.4f}, undecided {cell['undecided']}"
                )
    return pd.DataFrame(rows, columns=list(HULL_PROBABILITY_COLUMNS))


def hull_probability_outliers(table: pd.DataFrame, threshold: float = 3.0) -> tuple[int, int]:
    """How many cells of a hull-probability table have |z| > ``threshold``, out of how many.

    Only cells with a finite z count (an exact value exists and the standard error is
    positive). With correct formulas and estimators about 0.27% of cells exceed |z| = 3.

    Returns
    -------
    (outliers, cells with a finite z)
    """
    z = pd.to_numeric(table["z"], errors="coerce").to_numpy(dtype=float)
    finite = np.isfinite(z)
    return int(np.sum(np.abs(z[finite]) > threshold)), int(finite.sum())


# ---------------------------------------------------------------------------------------------
# 2. Real data in growing dimension
# ---------------------------------------------------------------------------------------------


def _check_images(images, name: str) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"{name} must be images (n, C, H, W), got shape {images.shape}")
    return images


def grid_side(k: int, image_shape: tuple[int, int, int]) -> int:
    """Side s of the square s x s pixel grid whose C s^2 values come closest to ``k``.

    ``s = round(sqrt(k / C))``, clipped to ``[1, min(H, W)]``.

    Parameters
    ----------
    k : int
        Target dimension, >= 1.
    image_shape : (C, H, W)
    """
    k = _check_positive_int(k, "target dimension k")
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
    images = _check_images(images, "images")
    _, _, h, w = images.shape
    side = _check_positive_int(side, "crop side")
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
    size = _check_positive_int(size, "size")
    side = _check_positive_int(side, "side")
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
    images = _check_images(images, "images")
    n, c, h, w = images.shape
    side = _check_positive_int(side, "grid side")
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
    x_train, x_test = _check_images(x_train, "x_train"), _check_images(x_test, "x_test")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise ValueError(
            f"training and test images differ in shape: {x_train.shape[1:]} vs {x_test.shape[1:]}"
        )
    if method not in REAL_DIMENSION_METHODS:
        raise ValueError(
            f"unknown method {method!r}; expected one of {list(REAL_DIMENSION_METHODS)}"
        )
    ks = [_check_positive_int(k, "target dimension k") for k in ks]
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


def affine_rank(points: np.ndarray, *, rtol: float = 1e-9) -> int:
    """Dimension of the affine hull of ``points (n, d)``.

    The number of singular values of the centred points above
    ``rtol * max(s_max, sqrt(n) * max_ij |x_ij|)``: relative to the largest singular value,
    and to the size of the points themselves, so rounding noise of identical points does
    not count (0 for a single distinct point).
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or len(points) == 0:
        raise ValueError(f"points must be a non-empty (n, d) array, got shape {points.shape}")
    centred = points - points.mean(0)
    singular = np.linalg.svd(centred, compute_uv=False)
    size = np.sqrt(len(points)) * np.abs(points).max()
    threshold = rtol * max(singular.max(initial=0.0), size)
    return int(np.sum(singular > threshold)) if threshold > 0 else 0


def hull_counts(
    train: np.ndarray,
    queries: np.ndarray,
    *,
    tol: float = 1e-7,
    n_jobs: int | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, float]:
    """How many queries lie inside / outside the convex hull of ``train``, certified.

    Parameters
    ----------
    train : (n, d) float
        Hull points (duplicates and rank deficiency allowed).
    queries : (m, d) float
    tol, n_jobs, seed, progress
        Passed to :func:`neuralhull.hull.membership`.

    Returns
    -------
    dict
        ``queries``, ``inside``, ``outside``, ``undecided`` (counts) and
        ``fraction_inside = inside / (inside + outside)``, the fraction of the decided
        queries (NaN if none was decided). Undecided queries are counted, never guessed.
    """
    from neuralhull.hull import INSIDE, OUTSIDE, UNDECIDED, membership

    train, queries = np.asarray(train), np.asarray(queries)
    if train.ndim != 2 or queries.ndim != 2 or train.shape[1] != queries.shape[1]:
        raise ValueError(
            f"train (n, d) and queries (m, d) must share d; got {train.shape}, {queries.shape}"
        )
    result = membership(train, queries, tol=tol, n_jobs=n_jobs, seed=seed, progress=progress)
    inside = int(np.sum(result.status == INSIDE))
    outside = int(np.sum(result.status == OUTSIDE))
    undecided = int(np.sum(result.status == UNDECIDED))
    decided = inside + outside
    return {
        "queries": len(queries),
        "inside": inside,
        "outside": outside,
        "undecided": undecided,
        "fraction_inside": inside / decided if decided else float("nan"),
    }


def logged_hull_counts(label: str, train, queries, params, *, n_jobs: int, log) -> dict:
    """:func:`hull_counts` at the workflow's tolerance (``params["tol"]``), its progress and
    its counts logged under ``label`` (one cell of a sweep in a job's log)."""
    from neuralhull.provenance import progress_logger

    counts = hull_counts(
        train,
        queries,
        tol=params["tol"],
        n_jobs=n_jobs,
        progress=progress_logger(log, f"{label}: hull membership queries"),
    )
    log(f"{label}: {counts}")
    return counts


def write_count_row(row: dict, path: str, params) -> None:
    """One sweep cell's table: ``row`` under the header of its query subsample."""
    import pandas as pd

    from neuralhull.io import write_table

    header = {
        "subsample_seed": params["seed"],
        "max_queries": params["max_queries"],
        "tol": params["tol"],
    }
    write_table(pd.DataFrame([row]), path, header)


# ---------------------------------------------------------------------------------------------
# 3. Embeddings of bottleneck classifiers
# ---------------------------------------------------------------------------------------------


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

    :class:`neuralhull.models.ModelSpec` with ``width=k``. ``arch="cnn"``: ``depth``
    convolution blocks from ``channels`` channels, then a k-unit fully connected layer with
    ReLU and the linear head. ``arch="convnet"``: the PyTorch MNIST example network
    (``channels=32`` for its 32 and 64 channels) with its 128-unit layer replaced by k.
    """
    from neuralhull.models import ModelSpec

    if arch not in ("cnn", "convnet"):
        raise ValueError(f"bottleneck arch must be 'cnn' or 'convnet', got {arch!r}")
    return ModelSpec(
        arch=arch,
        in_shape=tuple(int(s) for s in image_shape),
        n_classes=_check_positive_int(n_classes, "n_classes"),
        width=_check_positive_int(k, "bottleneck size k"),
        depth=_check_positive_int(depth, "depth"),
        channels=_check_positive_int(channels, "channels"),
    )


@dataclass
class BottleneckResult:
    """A trained bottleneck classifier and its embeddings.

    Attributes
    ----------
    model : neuralhull.models.Classifier
    spec : neuralhull.models.ModelSpec
    history : neuralhull.training.TrainResult
    norm : dict
        Input normalisation (``mean``, ``std``).
    train_embeddings : (n, k) float32
        Last hidden layer of every training image, after its ReLU.
    test_embeddings : (m, k) float32
    train_linear, test_linear : (n, k), (m, k) float32
        The same layer before its ReLU (the bottleneck layer's linear output).
    test_predictions : (m,) int64
    test_accuracy : float
    train_config : neuralhull.training.TrainConfig
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


def train_bottleneck(k: int, *args, **kwargs) -> BottleneckResult:
    """Train one bottleneck CNN (:func:`bottleneck_spec`) and embed every image.

    Training is :func:`neuralhull.training.train_classifier` (seeded, deterministic on the
    CPU); the embeddings come from its final evaluation pass (``features=True``).

    Parameters
    ----------
    k : int
        Bottleneck size.
    x_train, x_test : (n, C, H, W), (m, C, H, W) uint8 images
    y_train, y_test : (n,), (m,) int labels in ``[0, n_classes)``
    n_classes, channels, depth : int
    arch : {"cnn", "convnet"}
    epochs, lr, batch_size, optimizer, lr_decay, warmup_steps, seed : training settings
        (:class:`neuralhull.training.TrainConfig`)
    device : {"auto", "cpu", "cuda"}
    log : callable(str)
    checkpoint : str, optional
        Per-epoch checkpoint to resume a killed run from
        (:func:`neuralhull.training.train_classifier`).

    Returns
    -------
    BottleneckResult
    """
    return train_bottlenecks([k], *args, **kwargs)[0]


def train_bottlenecks(
    ks,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    n_classes: int,
    channels: int = 4,
    depth: int = 2,
    arch: str = "cnn",
    epochs: int = 1,
    lr: float = 1e-3,
    batch_size: int = 128,
    optimizer: str = "adam",
    lr_decay: float = 1.0,
    warmup_steps: int = 0,
    seed: int = 0,
    device: str = "auto",
    log: Callable[[str], None] = print,
    checkpoint: str | None = None,
) -> list[BottleneckResult]:
    """Train one bottleneck CNN per size in ``ks``; several sizes together, on a shared
    trunk (one size: a plain network, :func:`train_bottleneck`).

    The networks of :func:`train_bottleneck` differ only from their k-unit layer on; here
    they share the convolutions (a :class:`neuralhull.models.SharedTrunk`), trained on the
    sum of the networks' losses, so one pass of the convolutions per batch serves every k
    (the sweep costs about one network instead of ``len(ks)``). Each k keeps its own
    bottleneck layer and classifier; each returned model is a standalone classifier of
    width k. What is traded: the convolutions are fitted to all bottlenecks at once, not to
    each, so the embeddings of different k are not independent trainings (set
    ``theory.embedding.shared_trunk: false`` for one network per k).

    Parameters and training settings as :func:`train_bottleneck`; returns one
    :class:`BottleneckResult` per k, in the order of ``ks``. Without
    ``theory.embedding.shared_trunk`` the workflow calls this once per k.
    """
    from neuralhull.models import SharedTrunk, build_model
    from neuralhull.training import TrainConfig, TrainResult, train_classifier

    ks = [int(k) for k in ks]
    if not ks or len(set(ks)) != len(ks):
        raise ValueError(f"bottleneck sizes must be distinct and at least one, got {ks}")
    shape = tuple(x_train.shape[1:])
    specs = [
        bottleneck_spec(k, shape, n_classes, channels=channels, depth=depth, arch=arch) for k in ks
    ]
    cfg = TrainConfig(
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        optimizer=optimizer,
        lr_decay=lr_decay,
        warmup_steps=warmup_steps,
    )
    net, history, norm = train_classifier(
        specs[-1],
        cfg,
        x_train,
        y_train,
        x_test,
        y_test,
        device=device,
        log=log,
        features=True,
        readings=True,
        checkpoint=checkpoint,
        build=(lambda: SharedTrunk([build_model(s) for s in specs])) if len(ks) > 1 else None,
    )
    single = len(ks) == 1  # a plain Classifier: its history and passes are its own
    members = [net] if single else list(net.members)
    ends = np.cumsum([0] + ks)
    results = []
    for j, (spec, member) in enumerate(zip(specs, members, strict=True)):
        cols = slice(ends[j], ends[j + 1])
        own = TrainResult(device=history.device, n_noisy_labels=history.n_noisy_labels)
        for key in ("train_loss", "test_loss", "train_accuracy", "test_accuracy"):
            values = getattr(history, key)
            setattr(own, key, list(values) if single else [v[j] for v in values])
        own.seconds = history.seconds
        predictions = history.final_test.predictions
        predictions = predictions if single else predictions[:, j]
        results.append(
            BottleneckResult(
                model=member,
                spec=spec,
                history=own,
                norm=norm,
                train_embeddings=history.final_train.features[:, cols],
                test_embeddings=history.final_test.features[:, cols],
                test_predictions=predictions,
                test_accuracy=float(np.mean(predictions == np.asarray(y_test))),
                train_config=cfg,
                train_linear=history.final_train.linear_features[:, cols],
                test_linear=history.final_test.linear_features[:, cols],
            )
        )
    return results


# ---------------------------------------------------------------------------------------------
# Summary tables
# ---------------------------------------------------------------------------------------------

_SUMMARY_COLUMNS = {
    "hull_probability": list(HULL_PROBABILITY_COLUMNS),
    "real_dimension": [
        "dataset",
        "method",
        "k",
        "dimension",
        "rank",
        "n_train",
        "queries",
        "inside",
        "outside",
        "undecided",
        "fraction_inside",
    ],
    "embedding": [
        "dataset",
        "reading",
        "k",
        "test_accuracy",
        "train_accuracy",
        "rank",
        "dead_units",
        "n_train",
        "queries",
        "inside",
        "outside",
        "undecided",
        "fraction_inside",
    ],
    "double_descent": [
        "model",
        "gamma",
        "snr",
        "r2",
        "sigma2",
        "seed",
        "n",
        "p",
        "n_latent",
        "risk",
        "theory",
        "theory_finite_n",
    ],
}


_DATASET_ORDER = ("digits", "mnist", "fashion_mnist", "cifar10")


def _dataset_order(table: pd.DataFrame) -> pd.Series:
    # a fixed order (simplest first), then any other name alphabetically: the same rows
    # whatever the order of the parts
    others = sorted(set(table["dataset"]) - set(_DATASET_ORDER))
    rank = {d: i for i, d in enumerate((*_DATASET_ORDER, *others))}
    return table["dataset"].map(rank)


def collect_parts(experiment: str, parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """One experiment's summary table from the tables of its jobs.

    Concatenates the parts, checks the columns and orders the rows (sample kinds and
    methods in their fixed order, then numerically), so the table does not depend on the
    order in which jobs finished.

    Parameters
    ----------
    experiment : {"hull_probability", "real_dimension", "embedding", "double_descent"}
    parts : sequence of DataFrame

    Returns
    -------
    pandas.DataFrame
    """
    if experiment not in _SUMMARY_COLUMNS:
        raise ValueError(
            f"unknown theory experiment {experiment!r}; expected one of {list(_SUMMARY_COLUMNS)}"
        )
    if not parts:
        raise ValueError(f"{experiment}: no parts to collect")
    columns = _SUMMARY_COLUMNS[experiment]
    for i, part in enumerate(parts):
        missing = [c for c in columns if c not in part.columns]
        if missing:
            raise ValueError(f"{experiment}: part {i} lacks column(s) {missing}")
    table = pd.concat([part[columns] for part in parts], ignore_index=True)
    if experiment == "hull_probability":
        order = table["kind"].map({kind: i for i, kind in enumerate(SAMPLE_KINDS)})
        keys = [order, table["d"], table["N"]]
    elif experiment == "real_dimension":
        order = table["method"].map({m: i for i, m in enumerate(REAL_DIMENSION_METHODS)})
        keys = [_dataset_order(table), order, table["k"]]
    elif experiment == "embedding":
        keys = [_dataset_order(table), table["reading"].map({"linear": 0, "relu": 1}), table["k"]]
    else:
        order = table["model"].map({"isotropic": 0, "relu": 1})
        keys = [order, table["gamma"], table["snr"], table["seed"]]
    sort = pd.DataFrame({f"key{i}": key for i, key in enumerate(keys)})
    return table.loc[sort.sort_values(list(sort.columns), kind="stable").index].reset_index(
        drop=True
    )
