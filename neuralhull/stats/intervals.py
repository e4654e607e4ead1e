"""Intervals for per-image outcomes of runs that score the same test images.

The data
--------
Every run of the workflow scores the same ``n_images`` test images, and runs are seeds
nested in models.  A per-image outcome (inside the hull or not, a distance, correct or not)
is indexed by (model, seed, image).  Three sources of variation lie behind a model's
fraction "inside": which images the test set happened to draw (shared by *every* run, so
runs are correlated through them), which seeds (replicates of the model), and the noise of
one run on one image.  A binomial interval on the pooled count of ``n_seeds * n_images``
outcomes treats all of them as independent and is far too narrow.

The two-way bootstrap
---------------------
Images and runs are crossed, so each bootstrap replicate resamples both (Owen 2007, "The
pigeonhole bootstrap", Annals of Applied Statistics 1(2)): the images once, with the same
draw for every run, and the *units* (the seeds of one model, or the models of the zoo)
independently.  For a statistic that is a mean over units of a per-unit statistic ``m_r``
computed on the images (a mean outcome, an AUROC difference) a replicate is

    T*_b = T_hat + (mean_r m_r(I*_b) - T_hat) + (unit part)_b

where ``m_r(I*_b)`` is unit r's statistic on the resampled images ``I*_b`` and the unit part
is the spread of the units, one of (``unit_component``):

``"pigeonhole"``
    ``mean_{r in R*_b} m_r(I*_b) - mean_r m_r(I*_b)``, units ``R*_b`` drawn with
    replacement: exactly the statistic on (units R*, images I*), Owen's bootstrap.
``"resample"``
    the same deviation scaled by ``sqrt(R / (R - 1))``: resampling R units gives their
    variance with divisor R, not R - 1 (with 3 seeds, two thirds of it); the scaling
    restores the unbiased variance.
``"t"`` (the default)
    not a resampling but variance components and a t quantile.  The units' spread over
    the data, ``s^2`` (divisor R - 1), holds their own variation *and* the noise of each
    unit on these images, which the image bootstrap already counts; that noise, ``tau^2``,
    is the bootstrap variance of a unit's deviation from the units' mean (times
    R / (R - 1)), so the units add ``max(s^2 - tau^2, 0) / R`` to the image bootstrap's
    variance ``v_img``.  The interval is ``estimate -/+ t_df * sqrt(v_img + max(s^2 - tau^2,
    0) / R)`` with Satterthwaite's degrees of freedom ``df = V^2 (R - 1) / (s^2 / R)^2``
    (V the total variance): with few units whose spread matters, df approaches R - 1 and
    the interval widens as a t interval over 3 seeds must; when the images dominate, df is
    large and the interval is the image bootstrap's.  No resampling of three seeds can
    express the uncertainty of their variance, the t quantile does: it is the method whose
    coverage the study (:mod:`neuralhull.stats.coverage`) finds within simulation error of
    nominal with 3 seeds and with 8 models, where the resampling variants fall short when
    the seeds matter.
``"none"``
    no unit part: the interval of one run (or of these exact units) over images alone.

The resampling components give the percentile interval of the replicates; every interval
is clipped to ``bounds``.  In the resampling components images and units each count the
noise of a run on an image (McCullagh 2000: no exact bootstrap exists for crossed designs),
which errs on the conservative side, and most for AUROC differences, where that noise is a
large part of the whole.

For the zoo, the units are models: a model's per-image statistic is its seeds' mean, the
"t" component uses the spread of the model means (which holds the seeds' spread, so df
comes from n_models - 1), and the two resampling components resample the seeds within
every drawn model as well.

Randomness
----------
Every function takes a ``numpy.random.Generator``.  The draws, in this order: the image
counts ``rng.multinomial(n_images, [1 / n_images] * n_images, size=n_boot)`` (replicate b
weights image i by how often it was drawn), then, for the resampling components, the unit
indices ``rng.integers(0, n_units, size=(n_boot, n_units))`` (and for the zoo the seeds
within each drawn model, ``rng.random((n_boot, n_units, max_seeds))``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import stats as sps

from neuralhull.checks import check_count, check_generator, check_level, one_of

UNIT_COMPONENTS = ("t", "resample", "pigeonhole", "none")


@dataclass(frozen=True)
class Interval:
    """An estimate with its interval.

    Attributes
    ----------
    estimate : float
        The statistic on the data.
    low, high : float
        The interval's bounds; NaN when it could not be computed.
    level : float
        Its nominal coverage.
    method : str
        How the interval was made, in words (e.g. ``"two-way bootstrap, images x seeds, t
        seed part"``).
    n_boot : int or None
        Bootstrap replicates that gave a finite value (None for formula intervals).
    se, df : float
        For intervals ``estimate -/+ t_df * se`` (the two-way bootstrap's "t" component,
        :func:`t_interval`): the standard error and the degrees of freedom (``inf``: a
        normal quantile); NaN for percentile intervals.
    score_n : int or None
        For Wilson intervals: the number of independent trials behind them.
    """

    estimate: float
    low: float
    high: float
    level: float
    method: str
    n_boot: int | None = None
    se: float = math.nan
    df: float = math.nan
    score_n: int | None = None

    def covers(self, value: float) -> bool:
        """Whether ``low <= value <= high``."""
        return bool(self.low <= value <= self.high)

    def p_value(self, value: float) -> float:
        """Two-sided p-value of the hypothesis "the statistic equals ``value``", by the test
        this interval inverts: below ``1 - level`` exactly when the unclipped interval
        excludes ``value``.

        A t interval gives ``2 P(T_df > |estimate - value| / se)``; a Wilson interval the
        score test ``2 P(Z > |p - value| / sqrt(value (1 - value) / n))``.  NaN for
        percentile intervals, which invert no test.
        """
        value = float(value)
        if self.score_n is not None:
            if not 0.0 < value < 1.0:
                return math.nan
            z = abs(self.estimate - value) / math.sqrt(value * (1.0 - value) / self.score_n)
            return float(2.0 * sps.norm.sf(z))
        if not np.isfinite(self.se):
            return math.nan
        gap = abs(self.estimate - value)
        if self.se == 0.0:
            return 0.0 if gap > 0 else 1.0
        return float(2.0 * sps.t.sf(gap / self.se, self.df))

    @property
    def width(self) -> float:
        return self.high - self.low


# ---------------------------------------------------------------------------------------------
# input checks


def _as_runs(values, name: str, n_images: int | None = None) -> np.ndarray:
    """(n_runs, n_images) finite float array, or ValueError naming ``name``."""
    try:
        values = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric") from None
    if values.ndim != 2:
        raise ValueError(
            f"{name} must have shape (n_runs, n_images): one row per run, one column per "
            f"test image; got shape {values.shape}"
        )
    if values.shape[0] == 0 or values.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {values.shape})")
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or infinite values; drop them first")
    if n_images is not None and values.shape[1] != n_images:
        raise ValueError(
            f"{name} scores {values.shape[1]} images, the others {n_images}: every run must "
            "score the same test images, in the same column order"
        )
    return values


def _as_zoo(values, name: str) -> list[np.ndarray]:
    """A list of per-model (n_seeds_k, n_images) arrays, all with the same n_images."""
    if isinstance(values, np.ndarray) and values.ndim == 3:
        models = list(values)
    elif isinstance(values, np.ndarray):
        raise ValueError(
            f"{name} must have shape (n_models, n_seeds, n_images) or be a list of "
            f"(n_seeds, n_images) arrays, got shape {values.shape}"
        )
    else:
        models = list(values)
    if len(models) == 0:
        raise ValueError(f"{name} holds no model")
    out = [_as_runs(models[0], f"{name}[0]")]
    out += [_as_runs(m, f"{name}[{k}]", out[0].shape[1]) for k, m in enumerate(models[1:], 1)]
    return out


# ---------------------------------------------------------------------------------------------
# formula intervals


def wilson_interval(successes, n, level: float = 0.95):
    """Wilson score interval for binomial proportions ``successes / n``.

    ``(p + z^2/(2n) -/+ z sqrt(p(1-p)/n + z^2/(4n^2))) / (1 + z^2/n)`` with
    ``z = norm.ppf((1 + level) / 2)``; the lower bound is exactly 0 when ``successes == 0``
    and the upper bound exactly 1 when ``successes == n``.

    Parameters
    ----------
    successes, n : int or array of int, broadcastable
        ``0 <= successes <= n``.  Only *independent* trials justify it: for outcomes of runs
        that share their test images use :func:`model_mean_interval`.
    level : float
        Coverage, in (0, 1).

    Returns
    -------
    (low, high)
        Floats for scalar input, arrays of the broadcast shape otherwise; NaN where n == 0.
    """
    level = check_level(level)
    k = np.asarray(successes)
    n_arr = np.asarray(n)
    for arr, name in ((k, "successes"), (n_arr, "n")):
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
            if not (np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr))):
                raise ValueError(f"{name} must be integer counts, got {arr!r}")
    k = k.astype(float)
    n_arr = n_arr.astype(float)
    if np.any(k < 0) or np.any(n_arr < 0) or np.any(k > n_arr):
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    z = float(sps.norm.ppf(0.5 + level / 2.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n_arr
        denom = 1.0 + z * z / n_arr
        center = (p + z * z / (2.0 * n_arr)) / denom
        half = z * np.sqrt(p * (1.0 - p) / n_arr + z * z / (4.0 * n_arr * n_arr)) / denom
    low = np.where(k == 0, 0.0, np.maximum(0.0, center - half))
    high = np.where(k == n_arr, 1.0, np.minimum(1.0, center + half))
    low = np.where(n_arr == 0, np.nan, low)
    high = np.where(n_arr == 0, np.nan, high)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def t_interval(values, level: float = 0.95) -> Interval:
    """Student-t interval of the mean of a handful of unit-level values (e.g. one value per
    model): ``mean -/+ t_{n-1, (1+level)/2} * sd / sqrt(n)``, sd with divisor n - 1.

    Parameters
    ----------
    values : (n,) float
        One value per unit, n >= 2, finite.
    """
    level = check_level(level)
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or values.shape[0] < 2 or not np.isfinite(values).all():
        raise ValueError(
            f"t_interval needs a 1-D array of at least 2 finite values, got {values!r}"
        )
    n = values.shape[0]
    mean = float(values.mean())
    se = float(values.std(ddof=1)) / math.sqrt(n)
    half = float(sps.t.ppf(0.5 + level / 2.0, n - 1)) * se
    return Interval(
        mean, mean - half, mean + half, level, f"t interval, {n} units", se=se, df=float(n - 1)
    )


def bca_interval(
    data: Sequence,
    statistic: Callable,
    *,
    rng: np.random.Generator,
    n_resamples: int = 9999,
    level: float = 0.95,
    paired: bool = False,
) -> Interval:
    """Bias-corrected and accelerated (BCa) bootstrap interval over units, by
    ``scipy.stats.bootstrap(..., method="BCa")``.

    Parameters
    ----------
    data : sequence of (n,) float arrays
        One array per sample (e.g. ``(dimension_over_width,)``, or ``(accuracy, dimension)``
        with ``paired=True``), one value per unit.
    statistic : callable
        ``statistic(*samples, axis=-1)``, vectorised along ``axis`` as scipy requires
        (e.g. ``np.mean``).
    paired : bool
        Resample the units of all samples together (for a correlation).

    Returns
    -------
    Interval
        NaN bounds when scipy cannot compute them (e.g. all bootstrap values equal).
    """
    level = check_level(level)
    check_count(n_resamples, "n_resamples")
    rng = check_generator(rng)
    data = tuple(np.asarray(d, dtype=float) for d in data)
    estimate = float(statistic(*data, axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sps.DegenerateDataWarning)
            res = sps.bootstrap(
                data,
                statistic,
                n_resamples=n_resamples,
                vectorized=True,
                paired=paired,
                confidence_level=level,
                method="BCa",
                rng=rng,
            )
    low, high = (float(v) for v in res.confidence_interval)
    return Interval(
        estimate, low, high, level, f"BCa bootstrap, {data[0].shape[0]} units", n_resamples
    )


# ---------------------------------------------------------------------------------------------
# resampling images


def image_counts(rng: np.random.Generator, n_images: int, n_boot: int) -> np.ndarray:
    """``(n_boot, n_images)`` int: how often each test image is drawn in each of ``n_boot``
    bootstrap resamples of the images (each row sums to ``n_images``)."""
    rng = check_generator(rng)
    return rng.multinomial(n_images, np.full(n_images, 1.0 / n_images), size=n_boot)


def weighted_auroc(score, is_error, weights) -> np.ndarray:
    """AUROC of ``score`` for detecting errors, with every sample counted ``weights`` times.

    The Mann-Whitney probability that an error scores higher than a correct sample, ties
    counted 1/2, over the samples replicated by their weights: for a bootstrap replicate,
    the AUROC of the resampled set.

    Parameters
    ----------
    score : (n,) float
        Larger means "more likely an error".
    is_error : (n,) bool
    weights : (b, n) non-negative
        b weightings (``image_counts`` gives bootstrap ones); ``np.ones((1, n))`` gives the
        plain AUROC.

    Returns
    -------
    (b,) float
        NaN where a weighting has no error or no correct sample.
    """
    score = np.asarray(score, dtype=float)
    is_error = np.asarray(is_error, dtype=bool)
    weights = np.asarray(weights, dtype=float)
    if score.ndim != 1 or is_error.shape != score.shape or weights.ndim != 2:
        raise ValueError(
            f"weighted_auroc needs score (n,), is_error (n,), weights (b, n); got "
            f"{score.shape}, {is_error.shape}, {weights.shape}"
        )
    if weights.shape[1] != score.shape[0]:
        raise ValueError(f"weights has {weights.shape[1]} columns for {score.shape[0]} samples")
    order = np.argsort(score, kind="stable")
    s = score[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # first sample of each tie group
    w = weights[:, order]
    err = is_error[order]
    pos = np.where(err, w, 0.0)
    neg = np.where(err, 0.0, w)
    if starts.size < s.size:  # tie groups: add up the weights within each
        pos = np.add.reduceat(pos, starts, axis=1)
        neg = np.add.reduceat(neg, starts, axis=1)
    neg_below = np.cumsum(neg, axis=1) - neg
    n_pos = pos.sum(axis=1)
    n_neg = neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (pos * (neg_below + 0.5 * neg)).sum(axis=1) / (n_pos * n_neg)
    out[(n_pos == 0) | (n_neg == 0)] = np.nan
    return out


# ---------------------------------------------------------------------------------------------
# the two-way bootstrap


def _resampled_units(
    rng: np.random.Generator,
    unit_reps: np.ndarray,
    unit_component: str,
    nested: list[np.ndarray] | None,
) -> np.ndarray:
    """(b,) deviation of the resampled units' mean from all units' mean, per replicate.

    ``unit_reps (R, b)``: each unit's statistic on each image resample; ``nested[k]
    (S_k, b)``, when given, the seeds of unit k, resampled within every drawn unit."""
    n_units, n_boot = unit_reps.shape
    drawn = rng.integers(0, n_units, size=(n_boot, n_units))  # (b, R) unit indices
    cols = np.arange(n_boot)[:, None]
    if nested is None:
        resampled = unit_reps[drawn, cols].mean(axis=1)
    else:
        n_seeds = np.array([s.shape[0] for s in nested])
        s_max = int(n_seeds.max())
        padded = np.zeros((n_units, s_max, n_boot))
        for k, s in enumerate(nested):
            padded[k, : s.shape[0]] = s
        u = rng.random((n_boot, n_units, s_max))
        s_k = n_seeds[drawn]  # (b, R) seeds of every drawn unit
        seed_idx = np.floor(u * s_k[..., None]).astype(int)  # (b, R, s_max)
        valid = np.arange(s_max)[None, None, :] < s_k[..., None]
        vals = padded[drawn[..., None], np.where(valid, seed_idx, 0), cols[..., None]]
        resampled = (np.where(valid, vals, 0.0).sum(axis=2) / s_k).mean(axis=1)
    deviation = resampled - unit_reps.mean(axis=0)
    if unit_component == "resample":
        deviation *= math.sqrt(n_units / (n_units - 1))
    return deviation


class _TwoWayData(NamedTuple):
    """What a two-way interval is built from: the estimate, each unit's statistic on the
    data, ``unit_est (R,)``, and on every image resample, ``unit_reps (R, b)`` (the same
    resample for every unit); for units made of runs (a model's seeds), each unit's runs on
    the resamples, ``nested``: R arrays ``(S_k, b)``."""

    estimate: float
    unit_est: np.ndarray
    unit_reps: np.ndarray
    nested: list[np.ndarray] | None = None


def _two_way_interval(
    rng: np.random.Generator,
    data: _TwoWayData,
    *,
    unit_component: str,
    level: float,
    bounds: tuple[float, float] | None,
    method: str,
) -> Interval:
    """The interval of ``data``'s estimate: its image part from the units' resamples, its
    unit part as ``unit_component`` says."""
    estimate, unit_est, unit_reps, nested = data
    n_units, n_boot = unit_reps.shape
    image_part = unit_reps.mean(axis=0) - estimate
    if unit_component == "none":
        return _percentile(estimate, estimate + image_part, level, bounds, method)
    if n_units < 2:
        raise ValueError(
            "the spread of the units cannot be estimated from a single unit (one seed, or one "
            'model); use unit_component="none" for an interval over images alone, which '
            "describes this run, not the model"
        )
    if unit_component in ("resample", "pigeonhole"):
        unit_part = _resampled_units(rng, unit_reps, unit_component, nested)
        return _percentile(estimate, estimate + image_part + unit_part, level, bounds, method)
    # "t": variance components and Satterthwaite's degrees of freedom
    v_images = float(image_part.var(ddof=1))
    s2 = float(unit_est.var(ddof=1))
    deviations = unit_reps - unit_reps.mean(axis=0)
    tau2 = float(deviations.var(axis=1, ddof=1).mean()) * n_units / (n_units - 1)
    v_units = max(s2 - tau2, 0.0) / n_units
    variance = v_images + v_units
    if variance <= 0:
        return Interval(estimate, estimate, estimate, level, method, n_boot, se=0.0, df=math.inf)
    df = variance**2 * (n_units - 1) / (s2 / n_units) ** 2 if s2 > 0 else math.inf
    half = float(sps.t.ppf(0.5 + level / 2.0, df)) * math.sqrt(variance)
    low, high = estimate - half, estimate + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return Interval(
        estimate,
        low,
        high,
        level,
        f"{method} (df {df:.1f})",
        n_boot,
        se=math.sqrt(variance),
        df=df,
    )


def _percentile(
    estimate: float,
    replicates: np.ndarray,
    level: float,
    bounds: tuple[float, float] | None,
    method: str,
) -> Interval:
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return Interval(estimate, math.nan, math.nan, level, method, 0)
    alpha = (1.0 - level) / 2.0
    low, high = (float(v) for v in np.quantile(finite, [alpha, 1.0 - alpha]))
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return Interval(estimate, low, high, level, method, int(finite.size))


def _is_binary(arrays: Sequence[np.ndarray]) -> bool:
    return all(np.isin(a, (0.0, 1.0)).all() for a in arrays)


def _constant_binary(arrays: Sequence[np.ndarray], level: float, label: str) -> Interval | None:
    """For binary outcomes that never vary (nothing inside in any run, or everything):
    the bootstrap has nothing to resample; the Wilson interval on the n_images distinct
    images is the honest bound (not on n_runs * n_images, which counts images again)."""
    first = float(arrays[0].flat[0])
    if not all((a == first).all() for a in arrays):
        return None
    n_images = arrays[0].shape[1]
    low, high = wilson_interval(int(first) * n_images, n_images, level)
    return Interval(
        first,
        low,
        high,
        level,
        f"Wilson on the {n_images} distinct images ({label} constant)",
        score_n=n_images,
    )


def model_mean_interval(
    outcomes,
    *,
    rng: np.random.Generator,
    n_boot: int = 2000,
    level: float = 0.95,
    unit_component: str = "t",
    bounds: tuple[float, float] | None = None,
) -> Interval:
    """Interval of one model's mean outcome, its seeds scoring the same test images.

    Parameters
    ----------
    outcomes : (n_seeds, n_images) float or bool
        Row s: seed s's outcome on every test image (1/0 for "inside the hull"), columns in
        the same image order for every seed.
    rng : numpy.random.Generator
    n_boot : int
        Bootstrap replicates.
    level : float
    unit_component : {"t", "resample", "pigeonhole", "none"}
        How the seeds' spread enters (module docstring); ``"none"`` with one seed.
    bounds : (low, high) or None
        Clip the interval to this range; for 0/1 outcomes (0, 1) by default.

    Returns
    -------
    Interval
        ``estimate`` is the mean over seeds and images.  Binary outcomes that are the same
        in every run and image get the Wilson interval on the distinct images.
    """
    level = check_level(level)
    n_boot = check_count(n_boot, "n_boot")
    rng = check_generator(rng)
    one_of(unit_component, UNIT_COMPONENTS, "unit_component")
    y = _as_runs(outcomes, "outcomes")
    binary = _is_binary([y])
    if binary:
        constant = _constant_binary([y], level, "every seed and image")
        if constant is not None:
            return constant
        bounds = (0.0, 1.0) if bounds is None else bounds
    n_seeds, n_images = y.shape
    estimate = float(y.mean())
    counts = image_counts(rng, n_images, n_boot)
    seed_reps = y @ counts.T / n_images  # (S, b): each seed's mean on each image resample
    method = f"two-way bootstrap, {n_images} images x {n_seeds} seeds, {unit_component} seed part"
    return _two_way_interval(
        rng,
        _TwoWayData(estimate, y.mean(axis=1), seed_reps),
        unit_component=unit_component,
        level=level,
        bounds=bounds,
        method=method,
    )


def zoo_mean_interval(
    outcomes,
    *,
    rng: np.random.Generator,
    n_boot: int = 2000,
    level: float = 0.95,
    unit_component: str = "t",
    bounds: tuple[float, float] | None = None,
) -> Interval:
    """Interval of the zoo's mean outcome: the mean over models of each model's mean over
    its seeds and the test images, the images shared by every run of every model.

    Parameters
    ----------
    outcomes : (n_models, n_seeds, n_images) array, or a list of (n_seeds_k, n_images)
        One block per model (models may have different numbers of seeds).
    unit_component : {"t", "resample", "pigeonhole", "none"}
        How the models' spread enters: "t" from the spread of the model means (t with
        n_models - 1 degrees of freedom); the resampling ones draw models with replacement
        and each drawn model's seeds with replacement.

    Other parameters and the result as in :func:`model_mean_interval`; the models, not the
    runs, are the units.
    """
    level = check_level(level)
    n_boot = check_count(n_boot, "n_boot")
    rng = check_generator(rng)
    one_of(unit_component, UNIT_COMPONENTS, "unit_component")
    models = _as_zoo(outcomes, "outcomes")
    if _is_binary(models):
        constant = _constant_binary(models, level, "every run and image")
        if constant is not None:
            return constant
        bounds = (0.0, 1.0) if bounds is None else bounds
    n_images = models[0].shape[1]
    estimate = float(np.mean([m.mean() for m in models]))
    counts = image_counts(rng, n_images, n_boot)
    run_reps = [m @ counts.T / n_images for m in models]  # per model (S_k, b)
    model_reps = np.stack([r.mean(axis=0) for r in run_reps])  # (K, b)
    method = (
        f"two-way bootstrap, {n_images} images x {len(models)} models (seeds within), "
        f"{unit_component} model part"
    )
    return _two_way_interval(
        rng,
        _TwoWayData(estimate, np.array([m.mean() for m in models]), model_reps, run_reps),
        unit_component=unit_component,
        level=level,
        bounds=bounds,
        method=method,
    )


def _auroc_difference_reps(score_a, score_b, is_error, counts, names):
    """Per-run AUROC(a) - AUROC(b): ``(estimates (R,), replicates (R, b))``."""
    a = _as_runs(score_a, names[0])
    b = _as_runs(score_b, names[1], a.shape[1])
    err = _as_runs(is_error, names[2], a.shape[1])
    if a.shape != b.shape or a.shape != err.shape:
        raise ValueError(
            f"{names[0]}, {names[1]} and {names[2]} must have the same shape "
            f"(n_runs, n_images), got {a.shape}, {b.shape}, {err.shape}"
        )
    if not np.isin(err, (0.0, 1.0)).all():
        raise ValueError(f"{names[2]} must be 0/1 (or bool)")
    err = err.astype(bool)
    ones = np.ones((1, a.shape[1]))
    est, reps = [], []
    for r in range(a.shape[0]):
        d0 = weighted_auroc(a[r], err[r], ones)[0] - weighted_auroc(b[r], err[r], ones)[0]
        if not np.isfinite(d0):
            raise ValueError(
                f"run {r} of {names[2]} has no error or no correct prediction: its AUROC is "
                "undefined; leave the run out and say so"
            )
        est.append(d0)
        reps.append(weighted_auroc(a[r], err[r], counts) - weighted_auroc(b[r], err[r], counts))
    return np.array(est), np.stack(reps)


def _drop_nan_columns(*arrays):
    keep = np.all([np.isfinite(a).all(axis=0) for a in arrays], axis=0)
    return [a[:, keep] for a in arrays]


def model_auroc_difference_interval(
    score_a,
    score_b,
    is_error,
    *,
    rng: np.random.Generator,
    n_boot: int = 2000,
    level: float = 0.95,
    unit_component: str = "t",
) -> Interval:
    """Interval of AUROC(a) - AUROC(b) for one model: measures a and b scored on the same
    test images, the difference averaged over the model's seeds.

    Parameters
    ----------
    score_a, score_b : (n_seeds, n_images) float
        Each run's score of every test image by measure a and by measure b (larger: more
        likely an error).
    is_error : (n_seeds, n_images) bool
        Whether the run got the image wrong.
    unit_component : {"t", "resample", "pigeonhole", "none"}
        How the seeds' spread enters (module docstring).

    Each replicate resamples the images once, the same draw for every run and both
    measures (the pairing), and recomputes every run's two AUROCs on it.  Replicates in
    which some run has no error or no correct image are dropped (``n_boot`` counts those
    kept).
    """
    level = check_level(level)
    n_boot = check_count(n_boot, "n_boot")
    rng = check_generator(rng)
    one_of(unit_component, UNIT_COMPONENTS, "unit_component")
    n_images = np.shape(score_a)[-1]
    counts = image_counts(rng, n_images, n_boot)
    est, reps = _auroc_difference_reps(
        score_a, score_b, is_error, counts, ("score_a", "score_b", "is_error")
    )
    (reps,) = _drop_nan_columns(reps)
    estimate = float(est.mean())
    method = (
        f"two-way bootstrap, {n_images} images x {est.shape[0]} seeds, paired, "
        f"{unit_component} seed part"
    )
    return _two_way_interval(
        rng,
        _TwoWayData(estimate, est, reps),
        unit_component=unit_component,
        level=level,
        bounds=(-1.0, 1.0),
        method=method,
    )


def zoo_auroc_difference_interval(
    score_a,
    score_b,
    is_error,
    *,
    rng: np.random.Generator,
    n_boot: int = 2000,
    level: float = 0.95,
    unit_component: str = "t",
) -> Interval:
    """Interval of the zoo's AUROC(a) - AUROC(b): the mean over models of each model's
    seed-mean difference, the images shared by every run.

    Parameters
    ----------
    score_a, score_b, is_error : (n_models, n_seeds, n_images), or lists of
        (n_seeds_k, n_images) arrays, one per model.

    Models are the units (as in :func:`zoo_mean_interval`); images are resampled once per
    replicate for every run of every model.
    """
    level = check_level(level)
    n_boot = check_count(n_boot, "n_boot")
    rng = check_generator(rng)
    one_of(unit_component, UNIT_COMPONENTS, "unit_component")
    a = _as_zoo(score_a, "score_a")
    b = _as_zoo(score_b, "score_b")
    e = _as_zoo(is_error, "is_error")
    if not len(a) == len(b) == len(e):
        raise ValueError(
            f"score_a, score_b and is_error hold {len(a)}, {len(b)} and {len(e)} models"
        )
    n_images = a[0].shape[1]
    counts = image_counts(rng, n_images, n_boot)
    ests, reps = [], []
    for k in range(len(a)):
        est_k, reps_k = _auroc_difference_reps(
            a[k], b[k], e[k], counts, (f"score_a[{k}]", f"score_b[{k}]", f"is_error[{k}]")
        )
        ests.append(est_k)
        reps.append(reps_k)
    sizes = [r.shape[0] for r in reps]
    stacked = _drop_nan_columns(np.concatenate(reps))[0]
    run_reps = np.split(stacked, np.cumsum(sizes)[:-1])
    model_reps = np.stack([r.mean(axis=0) for r in run_reps])
    model_est = np.array([x.mean() for x in ests])
    estimate = float(model_est.mean())
    method = (
        f"two-way bootstrap, {n_images} images x {len(a)} models (seeds within), paired, "
        f"{unit_component} model part"
    )
    return _two_way_interval(
        rng,
        _TwoWayData(estimate, model_est, model_reps, run_reps),
        unit_component=unit_component,
        level=level,
        bounds=(-1.0, 1.0),
        method=method,
    )
