"""How often a new sample falls inside the hull of N random samples, by Monte Carlo.

Estimates on a grid of N and d, beside the exact value where a theorem gives it
(Balestriero et al. 2021, Fig. 1).

The estimators ask a hull oracle (:mod:`neuralhull.hull` by default) that never guesses:
:func:`hull_probability_mc` stops where it cannot decide, :func:`hull_probability_table`
counts those answers as undecided.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from functools import partial

import numpy as np
import pandas as pd

from neuralhull.checks import check_count
from neuralhull.theory.formulas import inside_probability_bound, kz_outside_probability
from neuralhull.theory.samplers import (
    CURVE_FREQUENCIES,
    SAMPLERS,
    _curve_parameters,
    curve_samples,
    low_rank_gaussian_samples,
)

__all__ = [
    "HULL_PROBABILITY_COLUMNS",
    "SAMPLE_KINDS",
    "HullProbabilityGrid",
    "SampleKind",
    "hull_probability_cell",
    "hull_probability_mc",
    "hull_probability_outliers",
    "hull_probability_table",
    "inside_probability_theory",
]


SAMPLE_KINDS = ("gaussian", "curve", "low-rank-gaussian")
"""Kinds of random samples, in a fixed order (the order seeds the Monte Carlo cells)."""


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


def inside_probability_theory(kind: str, N: int, d: int, *, rank: int = 4) -> float:
    """Exact P(a new sample lies inside the hull of N samples), where a theorem gives it.

    ``"gaussian"``: 1 - KZ(N, d, s=1). ``"low-rank-gaussian"``: 1 - KZ(N, min(d, rank), 1)
    (see :func:`~neuralhull.theory.samplers.low_rank_gaussian_samples`; independent of d
    only for d >= rank). ``"curve"``: in d = 1 its coordinate ``cos(w t + phi)`` has a
    continuous distribution, so the probability is exactly ``(N - 1) / (N + 1)``
    (:func:`~neuralhull.theory.formulas.inside_probability_bound`); in d >= 2 no closed form
    is known for this curve: NaN (the bound still holds).
    """
    if kind == "gaussian":
        return 1.0 - kz_outside_probability(N, d, 1.0)
    if kind == "low-rank-gaussian":
        return 1.0 - kz_outside_probability(N, min(d, rank), 1.0)
    if kind == "curve":
        return inside_probability_bound(N) if d == 1 else float("nan")
    raise ValueError(f"unknown sample kind {kind!r}; expected one of {sorted(SAMPLERS)}")


def _default_membership(points: np.ndarray, queries: np.ndarray) -> np.ndarray:
    from neuralhull import hull  # lazy: theory imports without the hull engine

    return np.asarray(hull.in_hull(points, queries, n_jobs=1), dtype=bool)


def _draw_trial(sampler, N: int, d: int, queries: int, rng: np.random.Generator):
    """One trial's training set (N, d) and new samples (queries, d), from one sampler call."""
    samples = np.asarray(sampler(N + queries, d, rng), dtype=float)
    if samples.shape != (N + queries, d):
        raise ValueError(f"sampler returned shape {samples.shape}, expected {(N + queries, d)}")
    return samples[:N], samples[N:]


def hull_probability_mc(
    sampler: str | Callable[[int, int, np.random.Generator], np.ndarray],
    N: int,
    d: int,
    trials: int,
    rng: np.random.Generator,
    *,
    queries_per_set: int = 1,
    query_scale: float = 1.0,
    membership: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> tuple[float, float]:
    """Monte-Carlo P(a new sample lies inside the convex hull of N samples).

    Each trial draws a fresh training set of N samples and ``queries_per_set`` new samples
    (one call ``sampler(N + q, d, rng)``, split), scales the new samples by ``query_scale``
    and asks the hull oracle which lie inside.

    Independence and standard error. Training sets are independent across trials, so the
    per-trial fractions f_t are i.i.d. with mean p; the estimate is their mean and the
    standard error is the cluster (between-trial) formula sd(f_t) / sqrt(trials). Queries
    that share a training set are conditionally independent but correlated through the
    set; the cluster formula accounts for that. With queries_per_set = 1 (the default) this
    is the binomial standard error sqrt(p (1 - p) / (trials - 1)). Several queries per set
    cost less per query (the hull engine re-uses one LP model) and reduce the within-set
    part of the variance, not the between-set part. When every answer agrees (p = 0 or 1)
    the standard error is 0; report the number of trials alongside.

    Parameters
    ----------
    sampler : str or callable
        A key of :data:`SAMPLERS` or a callable ``sampler(n, d, rng) -> (n, d)``.
    N : int
        Training-set size, N >= 1.
    d : int
        Dimension, d >= 1.
    trials : int
        Number of independent training sets, >= 2.
    rng : numpy.random.Generator
        Source of all randomness.
    queries_per_set : int
        New samples per training set, >= 1.
    query_scale : float
        The query is ``query_scale`` times a fresh sample: 1 is a new sample from the same
        distribution; s gives the KZ setting N(0, s^2 I) for the Gaussian sampler; 0 is the
        origin (Wendel's setting for symmetric samplers).
    membership : callable, optional
        ``membership(points (n, d), queries (m, d)) -> bool (m,)``. Defaults to
        :func:`neuralhull.hull.in_hull`, which raises rather than guess when it cannot decide.

    Returns
    -------
    p_inside : float
        Estimated probability that the query lies inside the hull.
    stderr : float
        Its standard error (cluster formula over trials).
    """
    if isinstance(sampler, str):
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler!r}; expected one of {sorted(SAMPLERS)}")
        sampler = SAMPLERS[sampler]
    N = check_count(N, "N", 1)
    d = check_count(d, "d", 1)
    trials = check_count(trials, "trials", 2)
    queries_per_set = check_count(queries_per_set, "queries_per_set", 1)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    membership = _default_membership if membership is None else membership
    fractions = np.empty(trials)
    for t in range(trials):
        points, queries = _draw_trial(sampler, N, d, queries_per_set, rng)
        inside = np.asarray(membership(points, query_scale * queries), dtype=bool)
        if inside.shape != (queries_per_set,):
            raise ValueError(
                f"membership returned shape {inside.shape}, expected {(queries_per_set,)}"
            )
        fractions[t] = inside.mean()
    p_inside = float(fractions.mean())
    stderr = float(fractions.std(ddof=1) / np.sqrt(trials))
    return p_inside, stderr


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

    Draws like :func:`hull_probability_mc` (each trial one call
    ``sampler(N + q, d, rng)``, the first N rows the training set, the rest the new
    samples), but asks a membership oracle that may answer "undecided" and counts those
    answers instead of guessing them. The estimate is the ratio estimator
    ``sum_t inside_t / sum_t decided_t`` over independent training sets t, its standard
    error the cluster (linearisation) formula
    ``sqrt(sum_t (inside_t - p decided_t)^2 / (T (T - 1))) / mean_t decided_t``. With nothing
    undecided both equal those of :func:`hull_probability_mc` on the same
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

    trials = check_count(trials, "trials")
    if trials < 2:
        raise ValueError(f"trials must be >= 2, got {trials}")
    queries_per_set = check_count(queries_per_set, "queries_per_set")
    inside = np.empty(trials)
    decided = np.empty(trials)
    for t in range(trials):
        status = np.asarray(membership(*_draw_trial(sampler, N, d, queries_per_set, rng)))
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


@dataclass(frozen=True)
class SampleKind:
    """A kind of random sample and the settings of its sampler.

    ``name``, one of :data:`SAMPLE_KINDS`: ``"gaussian"``, N(0, I_d); ``"curve"``, a fixed
    one-dimensional curve in R^d (:func:`~neuralhull.theory.samplers.curve_samples`, its
    frequencies and phases fixed by ``curve_seed``, the frequencies' range
    ``curve_frequencies = (low, high)``); ``"low-rank-gaussian"``, a ``rank``-dimensional
    Gaussian mapped into R^d by a linear map fixed by ``map_seed``
    (:func:`~neuralhull.theory.samplers.low_rank_gaussian_samples`). Each kind ignores the
    other kinds' settings, but all are checked.
    """

    name: str
    rank: int = 4
    map_seed: int = 0
    curve_seed: int = 0
    curve_frequencies: Sequence[float] = CURVE_FREQUENCIES

    def __post_init__(self):
        if self.name not in SAMPLE_KINDS:
            raise ValueError(
                f"unknown sample kind {self.name!r}; expected one of {list(SAMPLE_KINDS)}"
            )
        object.__setattr__(self, "rank", check_count(self.rank, "rank"))
        object.__setattr__(self, "map_seed", check_count(self.map_seed, "map_seed", 0))
        object.__setattr__(self, "curve_seed", check_count(self.curve_seed, "curve_seed", 0))
        if self.name == "curve":
            _curve_parameters(1, self.curve_seed, self.curve_frequencies)  # checks the range

    @classmethod
    def from_config(cls, name: str, settings: Mapping) -> SampleKind:
        """The kind ``name`` with the workflow's sampler settings (``grid["sampler"]``)."""
        return cls(name, **settings)

    def sampler(self) -> Callable[[int, int, np.random.Generator], np.ndarray]:
        """``sampler(n, d, rng) -> (n, d)`` with this kind's settings bound."""
        if self.name == "low-rank-gaussian":
            return partial(low_rank_gaussian_samples, rank=self.rank, map_seed=self.map_seed)
        if self.name == "curve":
            return partial(
                curve_samples, curve_seed=self.curve_seed, frequencies=self.curve_frequencies
            )
        return SAMPLERS[self.name]


@dataclass(frozen=True)
class HullProbabilityGrid:
    """The Monte-Carlo grid of the hull-probability experiment.

    Every cell (d, N), d in ``dimensions`` (>= 1) and N in ``sizes`` (>= 1, the x-axis,
    usually logarithmic), draws ``trials`` (>= 2) training sets and ``queries_per_set`` new
    samples per set from a generator seeded by ``seed`` (>= 0) and the cell; ``tol`` is the
    hull oracle's relative tolerance.
    """

    dimensions: Sequence[int]
    sizes: Sequence[int]
    trials: int
    seed: int
    queries_per_set: int = 1
    tol: float = 1e-7

    def __post_init__(self):
        dimensions = tuple(check_count(d, "dimension") for d in self.dimensions)
        sizes = tuple(check_count(n, "training-set size N") for n in self.sizes)
        if not dimensions or not sizes:
            raise ValueError("dimensions and sizes must each hold at least one value")
        object.__setattr__(self, "dimensions", dimensions)
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "seed", check_count(self.seed, "seed", 0))

    @classmethod
    def from_config(cls, grid: Mapping) -> HullProbabilityGrid:
        """The grid of the workflow's params (``theory.hull_probability``'s grid keys)."""
        return cls(**{f.name: grid[f.name] for f in fields(cls)})


def hull_probability_table(
    kind: str | SampleKind,
    grid: HullProbabilityGrid,
    *,
    membership: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Monte-Carlo and exact P(a new sample lies inside the hull of N samples), on a grid.

    Every cell (d, N) of ``grid`` draws its samples of ``kind`` in R^d from
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
    kind : :class:`SampleKind`, or the name of one with default settings
    grid : :class:`HullProbabilityGrid`
    membership : callable, optional
        ``membership(points (n, d), queries (m, d)) -> (m,) int`` status codes replacing
        the oracle (tests use an independent LP); see :func:`hull_probability_cell`.
    progress : callable(str), optional
        Called with a line per finished cell.

    Returns
    -------
    pandas.DataFrame
        One row per (d, N), columns :data:`HULL_PROBABILITY_COLUMNS`. ``theory`` is the
        exact probability (:func:`inside_probability_theory`; NaN for the curve in d >= 2,
        where no closed form is known), ``upper_bound`` ``(N - 1) / (N + 1)``, a rigorous
        bound for every kind and d
        (:func:`~neuralhull.theory.formulas.inside_probability_bound`).
        ``z = (p_inside - theory) / stderr``, NaN where there is no theory or the standard
        error is 0 (every answer of the cell agreed).
    """
    kind = kind if isinstance(kind, SampleKind) else SampleKind(kind)
    dimensions = _dimensions_of(kind, grid.dimensions, progress)
    sampler = kind.sampler()
    if membership is None:
        membership = partial(_hull_status, tol=grid.tol)
    rows = []
    for d in dimensions:
        for N in grid.sizes:
            rng = np.random.default_rng([grid.seed, SAMPLE_KINDS.index(kind.name), d, N])
            cell = hull_probability_cell(
                sampler,
                N,
                d,
                grid.trials,
                rng,
                queries_per_set=grid.queries_per_set,
                membership=membership,
            )
            row = _table_row(kind, grid, d, N, cell)
            rows.append(row)
            if progress is not None:
                progress(
                    f"{kind.name} d={d} N={N}: p_inside {row['p_inside']:.4f} "
                    f"+- {row['stderr']:.4f}, theory {row['theory']:.4f}, "
                    f"undecided {row['undecided']}"
                )
    return pd.DataFrame(rows, columns=list(HULL_PROBABILITY_COLUMNS))


def _dimensions_of(kind: SampleKind, dimensions, progress) -> list[int]:
    """The grid's dimensions this kind is measured in: the low-rank Gaussian needs d >= rank
    (below it the samples are a full-rank Gaussian whose probability moves with d)."""
    if kind.name != "low-rank-gaussian":
        return list(dimensions)
    skipped = [d for d in dimensions if d < kind.rank]
    kept = [d for d in dimensions if d >= kind.rank]
    if not kept:
        raise ValueError(
            f"low-rank-gaussian needs a dimension d >= rank {kind.rank}; got {skipped}"
        )
    if skipped and progress is not None:
        progress(
            f"{kind.name}: skipping d = {', '.join(map(str, skipped))} (< rank {kind.rank}): "
            "there the samples are a full-rank Gaussian in R^d and the probability moves with d"
        )
    return kept


def _table_row(kind: SampleKind, grid: HullProbabilityGrid, d: int, N: int, cell: dict) -> dict:
    """One cell's row of :func:`hull_probability_table`: the estimate beside the exact value."""
    p_inside, stderr = cell["p_inside"], cell["stderr"]
    exact = inside_probability_theory(kind.name, N, d, rank=kind.rank)
    z = (p_inside - exact) / stderr if stderr > 0 and np.isfinite(exact) else np.nan
    return dict(
        kind=kind.name,
        d=d,
        N=N,
        trials=grid.trials,
        queries_per_set=grid.queries_per_set,
        undecided=cell["undecided"],
        p_inside=p_inside,
        stderr=stderr,
        theory=exact,
        upper_bound=inside_probability_bound(N),
        z=z,
    )


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
