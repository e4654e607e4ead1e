"""Power of the central claim's tests: the better the model, the lower its intrinsic dimension.

    python -m neuralhull.stats.power --design config/config.yaml [--dataset mnist] \\
        --noise results/mnist/summary/models.tsv [--sims 1000] [--perms 2000] [--seed 0]

simulates the zoo that config file declares for the dataset (its models, its ``levers:``
with their levels, its ``seeds:``) at the noise a finished run's ``models.tsv`` shows, and
prints Markdown tables:

1. **The noise and the run's levers**: the between-model and between-seed SDs of test
   accuracy and dimension (``--dimension``, default ``latent_dim``), and each lever of the
   run with its models' seed-mean accuracy and dimension and the size of its trend.
2. **Across the zoo**: the power of the permutation test of Spearman's rho between the
   models' seed-mean accuracy and dimension (significant at 0.05 *and* rho < 0, the
   findings' rule) when the models' true values have a rank correlation of ``--rho``
   (-0.6), and at rho = 0 (the test's level).
3. **Within levers**: the power of each lever's Jonckheere-Terpstra test (decreasing, on
   its levels' seed means) and of the stratified test over all levers (each lever's
   standardised J, summed over levers / sqrt(n_levers), permuted within levers, as
   :func:`neuralhull.stats.trend.stratified_trend_test`), for a trend of the size the run
   observed, of a standard size (``--standard-trend`` between-model SDs over a lever) and
   of none (the tests' level).  When levers share a model (the reference), the stratified
   test is run twice: permuting each lever whole, as if the levers were independent (they
   are not: the shared model's value enters each, and this version rejects too often when
   there is no trend), and permuting each lever around the shared model, which stays in
   place (valid given its value).
4. **At the findings' rule**: the same tests two-sided with the estimate falling, at the
   Bonferroni bound of the findings' Holm adjustment (alpha / ``--primary-tests`` across
   the zoo, alpha / number of levers per lever); a last column repeats the standard trend
   with each lever's scatter around its best monotone fit instead of its line.

What the simulation assumes:

* Across the zoo, the models are exchangeable: a model's true (accuracy, dimension) is
  bivariate normal with the between-model SDs and Pearson correlation
  ``2 sin(pi rho / 6)``, which gives Spearman's rho in the population.  The levers'
  structure does not enter this test.
* Along a lever, the true dimension is linear in the level's position (equally spaced,
  worst model first) and changes by ``delta`` from the first level to the last, whatever
  the number of levels; each model departs from the line by its own normal ``scatter``.
  A model listed in several levers (the reference) is one model with one set of runs,
  seen by each lever; the levers' lines meet at it.
* The observed size of a lever's trend is the least-squares line through its models'
  seed means in the run (models in the config's order when the config lists that lever
  with all of them, else by mean test accuracy; a lever's models are those whose ``lever``
  is its name plus those marked ``reference``).  It is simulated falling (the claim's
  direction) at its observed magnitude over the design's lever of that name, which may
  have more levels; the design's levers the run lacks have no observed size.
* The noise: each seed adds independent normal noise with the within-model SD; the
  between-model SD is the method-of-moments component (the spread of model means less
  the seeds' share); the scatter around a lever's line is the levers' pooled residual SD
  less the seeds' share (each observed lever also has its own, around its line and around
  its best monotone fit: :meth:`ObservedNoise.lever_noise`).  A whole-number dimension (as
  the autoencoder's) is rounded after the noise (at least 1), so the estimated seed SD
  first loses the rounding's 1/12 (Sheppard's correction).  Accuracy and dimension noise
  of a run are independent.
* Every p-value is a Monte Carlo permutation p-value ``(1 + count) / (1 + perms)``; one set
  of permutations serves a block of simulated datasets and a fresh one the next.

Without ``--design`` it prints the generic tables: K = 8 ... 28 models of 3 seeds, 8 models
with 10 seeds and with a continuous dimension; ``--levers`` levers of 8 or 10 models whose
levels shift the dimension (SD ``--lever-shift``), pooled Spearman against the stratified
test; one lever of L levels with true change ``delta`` and model scatter
``--lever-scatter``, on level means and on the runs (seeds as observations, which with
scatter between models rejects far more often than 5 % when there is no trend).  The
noise is then the ``--sd-*`` options' (defaults from one earlier run of 8 models) or
``--noise``'s.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, replace

import numpy as np
from scipy.stats import rankdata
from threadpoolctl import threadpool_limits

from neuralhull.checks import one_of
from neuralhull.stats.trend import jt_null_moments

ALPHA = 0.05


@dataclass(frozen=True)
class Noise:
    """Standard deviations of the models' and seeds' accuracy and dimension."""

    sd_model_accuracy: float = 0.074
    sd_model_dimension: float = 1.51
    sd_seed_accuracy: float = 0.015
    sd_seed_dimension: float = 0.49
    mean_accuracy: float = 0.9
    mean_dimension: float = 6.0


@dataclass(frozen=True)
class Simulation:
    """What the power estimates of one report share: the generator (a seed reproduces the
    whole report, its draws taken in the report's order), the simulated datasets per
    estimate, the permutations per test, and whether the dimension is a whole number (as
    the autoencoder's: rounded after the noise, at least 1)."""

    rng: np.random.Generator
    n_sims: int
    n_perms: int = 2000
    integer_dimension: bool = True
    seed: int | None = None  # the generator's seed, for a report's header

    @classmethod
    def from_seed(cls, seed: int, n_sims: int, n_perms: int, integer_dimension: bool = True):
        return cls(np.random.default_rng(seed), n_sims, n_perms, integer_dimension, seed)


def pearson_for_spearman(rho: float) -> float:
    """Pearson correlation of a bivariate normal whose Spearman correlation is ``rho``."""
    return 2.0 * math.sin(math.pi * rho / 6.0)


def simulate_zoo(
    rng: np.random.Generator,
    n_sims: int,
    n_models: int,
    n_seeds: int,
    rho: float,
    noise: Noise,
    *,
    integer_dimension: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Seed-mean accuracy and dimension of every model: two ``(n_sims, n_models)`` arrays."""
    r = pearson_for_spearman(rho)
    z1 = rng.standard_normal((n_sims, n_models))
    z2 = r * z1 + math.sqrt(1 - r * r) * rng.standard_normal((n_sims, n_models))
    acc = noise.mean_accuracy + noise.sd_model_accuracy * z1
    dim = noise.mean_dimension + noise.sd_model_dimension * z2
    shape = (n_sims, n_models, n_seeds)
    acc_runs = acc[..., None] + rng.normal(0.0, noise.sd_seed_accuracy, shape)
    dim_runs = dim[..., None] + rng.normal(0.0, noise.sd_seed_dimension, shape)
    if integer_dimension:
        dim_runs = np.maximum(np.rint(dim_runs), 1.0)
    return acc_runs.mean(axis=2), dim_runs.mean(axis=2)


def _permutations(rng: np.random.Generator, n_perms: int, n: int, held: tuple = ()) -> np.ndarray:
    """(n_perms, n) random orderings of 0..n-1 that leave the positions ``held`` in place."""
    out = np.tile(np.arange(n), (n_perms, 1))
    free = np.setdiff1d(np.arange(n), np.asarray(held, dtype=int))
    out[:, free] = rng.permuted(np.tile(free, (n_perms, 1)), axis=1)
    return out


def spearman_permutation(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, n_perms: int
) -> tuple[np.ndarray, np.ndarray]:
    """Spearman's rho of every row of ``x, y (m, n)`` and its two-sided Monte Carlo
    permutation p-value (y permuted against x; one set of ``n_perms`` permutations for a
    block of rows, a fresh one for the next): two ``(m,)`` arrays."""
    rx = rankdata(x, axis=1)
    ry = rankdata(y, axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    norm = np.sqrt((rx * rx).sum(axis=1) * (ry * ry).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (rx * ry).sum(axis=1) / norm
    count = np.zeros(x.shape[0])
    step = max(1, 2**22 // (n_perms * x.shape[1]))
    for s in range(0, x.shape[0], step):
        perms = _permutations(rng, n_perms, x.shape[1])  # fresh for every block of rows
        ryp = ry[s : s + step][:, perms]  # (m', P, n)
        with np.errstate(invalid="ignore", divide="ignore"):
            rho_p = np.einsum("mn,mpn->mp", rx[s : s + step], ryp) / norm[s : s + step, None]
        count[s : s + step] = (np.abs(rho_p) >= np.abs(rho[s : s + step, None]) - 1e-12).sum(1)
    return rho, (1 + count) / (1 + n_perms)


def _jt_rows(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    a, b = y[..., lo], y[..., hi]
    return (a < b).sum(axis=-1) + 0.5 * (a == b).sum(axis=-1)


def stratified_jt_permutation(
    strata: list[tuple[np.ndarray, np.ndarray]],
    rng: np.random.Generator,
    n_perms: int,
    alternative: str = "two-sided",
) -> tuple[np.ndarray, np.ndarray]:
    """The stratified Jonckheere-Terpstra test of many datasets at once.

    Parameters
    ----------
    strata : list of (labels (n_l,) int, values (m, n_l) float[, held])
        One entry per lever: the ordered level of each of its observations, and their values
        in m simulated datasets; optionally the positions ``held`` (a sequence of int) that
        the permutations leave in place (a model shared with other levers: permuting the
        rest around it keeps the levers' permutations independent given its value).

    Returns
    -------
    (z, p) : two (m,) arrays
        The combined statistic ``sum_l z_l / sqrt(n_levers)`` of
        :func:`neuralhull.stats.trend.stratified_trend_test`, and its Monte Carlo p-value
        for ``alternative`` ("two-sided", "increasing" or "decreasing"), permuting within
        levers (one set of permutations for a block of datasets, a fresh one for the
        next).
    """
    if alternative not in ("two-sided", "increasing", "decreasing"):
        raise ValueError(
            f"alternative must be 'two-sided', 'increasing' or 'decreasing', got {alternative!r}"
        )
    m = strata[0][1].shape[0]
    z_obs = np.zeros(m)
    null = np.zeros((m, n_perms))
    for labels, y, *held in strata:
        held = tuple(held[0]) if held else ()
        lo, hi = np.nonzero(labels[:, None] < labels[None, :])
        moments = np.array([jt_null_moments(np.bincount(labels), row) for row in y])
        mean, sd = moments[:, 0], np.sqrt(moments[:, 1])
        sd[sd == 0] = np.inf
        z_obs += (_jt_rows(y, lo, hi) - mean) / sd
        step = max(1, 2**22 // (n_perms * max(1, lo.size)))
        for s in range(0, m, step):
            perms = _permutations(rng, n_perms, y.shape[1], held)
            j = _jt_rows(y[s : s + step][:, perms], lo, hi)  # (m', P)
            null[s : s + step] += (j - mean[s : s + step, None]) / sd[s : s + step, None]
    n_lev = math.sqrt(len(strata))
    z_obs /= n_lev
    null /= n_lev
    below = (1 + (null <= z_obs[:, None] + 1e-9).sum(axis=1)) / (1 + n_perms)
    above = (1 + (null >= z_obs[:, None] - 1e-9).sum(axis=1)) / (1 + n_perms)
    if alternative == "decreasing":
        return z_obs, below
    if alternative == "increasing":
        return z_obs, above
    if any(len(stratum) > 2 and len(stratum[2]) for stratum in strata):
        # held levels: the null is no longer centred on 0, so double the smaller tail
        return z_obs, np.minimum(1.0, 2.0 * np.minimum(below, above))
    count = (np.abs(null) >= np.abs(z_obs)[:, None] - 1e-9).sum(axis=1)
    return z_obs, (1 + count) / (1 + n_perms)


def zoo_power(sim: Simulation, n_models, n_seeds, rho, noise, alpha=ALPHA) -> float:
    """Power of "rho < 0 and two-sided p < alpha" for Spearman's rho across the zoo."""
    acc, dim = simulate_zoo(
        sim.rng, sim.n_sims, n_models, n_seeds, rho, noise, integer_dimension=sim.integer_dimension
    )
    r, p = spearman_permutation(acc, dim, sim.rng, sim.n_perms)
    return float(np.mean((p < alpha) & (r < 0)))


def lever_power(sim: Simulation, levels, n_seeds, rho, noise, lever_shift):
    """Power of the pooled Spearman and of the stratified trend test on a zoo of levers
    with ``levels[l]`` models each; returns ``(pooled, stratified)``."""
    accs, dims = [], []
    for n_l in levels:
        acc, dim = simulate_zoo(
            sim.rng, sim.n_sims, n_l, n_seeds, rho, noise, integer_dimension=sim.integer_dimension
        )
        dims.append(dim + sim.rng.normal(0.0, lever_shift, (sim.n_sims, 1)))
        accs.append(acc)
    r, p = spearman_permutation(np.hstack(accs), np.hstack(dims), sim.rng, sim.n_perms)
    pooled = float(np.mean((p < ALPHA) & (r < 0)))
    strata = []
    for acc, dim in zip(accs, dims, strict=True):
        order = np.argsort(acc, axis=1, kind="stable")  # the lever's models by accuracy
        strata.append((np.arange(acc.shape[1]), np.take_along_axis(dim, order, axis=1)))
    z, p = stratified_jt_permutation(strata, sim.rng, sim.n_perms)
    return pooled, float(np.mean((p < ALPHA) & (z < 0)))


def trend_power(sim: Simulation, n_levels, n_seeds, delta, scatter, noise):
    """Power of Jonckheere-Terpstra along one lever whose true dimension changes by
    ``delta`` over its levels; returns ``(on level means, on runs)``."""
    n_sims = sim.n_sims
    line = noise.mean_dimension + delta * np.linspace(0.0, 1.0, n_levels)
    true = line + sim.rng.normal(0.0, scatter, (n_sims, n_levels))
    runs = true[..., None] + sim.rng.normal(
        0.0, noise.sd_seed_dimension, (n_sims, n_levels, n_seeds)
    )
    if sim.integer_dimension:
        runs = np.maximum(np.rint(runs), 1.0)
    out = []
    for labels, values in (
        (np.arange(n_levels), runs.mean(axis=2)),
        (np.repeat(np.arange(n_levels), n_seeds), runs.reshape(n_sims, -1)),
    ):
        z, p = stratified_jt_permutation([(labels, values)], sim.rng, sim.n_perms)
        right_way = np.sign(z) == np.sign(delta) if delta else True  # delta 0: any rejection
        out.append(float(np.mean((p < ALPHA) & right_way)))
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# a config's own design, at the noise of a finished run


@dataclass(frozen=True)
class Design:
    """A config's zoo on one dataset, as the power simulation sees it.

    Attributes
    ----------
    dataset : str
    models : tuple of str
        The dataset's models (``datasets[].models``).
    levers : dict of str to tuple of str
        Each lever's models from the expected worst to the expected best (``levers:``, a
        list of ``{name, models}`` or a mapping name -> models),
        restricted to the dataset's models; a lever left with fewer than 2 is dropped.
    n_seeds : int
        Replicates of every model (``seeds:``).
    dropped : tuple of str
        The levers of ``levers:`` with fewer than 2 of the dataset's models.
    source : str
        The config file.
    """

    dataset: str
    models: tuple
    levers: dict
    n_seeds: int
    dropped: tuple = ()
    source: str = ""

    def shared(self) -> set:
        """Models that are a level of more than one lever (the reference)."""
        seen: dict = {}
        for models in self.levers.values():
            for m in models:
                seen[m] = seen.get(m, 0) + 1
        return {m for m, n in seen.items() if n > 1}


def read_design(path, dataset: str | None = None) -> Design:
    """The design of ``dataset`` (default: the config's first dataset) in config file ``path``.

    Raises
    ------
    neuralhull.config_checks.ConfigError
        naming the file and the key when the config has no ``levers:``, the dataset is not
        in ``datasets:``, or a lever names a model that ``models:`` does not define.
    """
    from neuralhull.config_checks import ConfigError, load_config_file

    path = str(path)
    cfg = load_config_file(path)
    datasets = cfg.get("datasets") or []
    names = [d.get("name") for d in datasets if isinstance(d, dict)]
    if not names:
        raise ConfigError(f"{path}: no datasets: entry; the power tool needs a dataset's models")
    if dataset is None:
        dataset = names[0]
    if dataset not in names:
        raise ConfigError(
            f"{path}: dataset {dataset!r} is not in datasets: ({', '.join(names)}); pass one "
            "of these to --dataset"
        )
    ds_models = tuple(datasets[names.index(dataset)].get("models") or [])
    levers_cfg = cfg.get("levers")
    if isinstance(levers_cfg, list):  # a list of {name, models}, as config/config.yaml has
        entries = [e for e in levers_cfg if isinstance(e, dict) and "name" in e]
        if len(entries) != len(levers_cfg):
            raise ConfigError(
                f"{path}: levers: every entry needs a name: and its models: (worst first)"
            )
        levers_cfg = {e["name"]: e.get("models") for e in entries}
    if not isinstance(levers_cfg, dict) or not levers_cfg:
        raise ConfigError(
            f"{path}: no levers: (each lever's name and its models from the expected worst "
            "to the expected best); the power of the design's trend tests needs them: add "
            "them (docs/configuration.md)"
        )
    defined = {m.get("name") for m in cfg.get("models") or [] if isinstance(m, dict)}
    levers, dropped = {}, []
    for name, models in levers_cfg.items():
        if not isinstance(models, list):
            raise ConfigError(f"{path}: levers: {name!r} must be a list of model names")
        unknown = [m for m in models if m not in defined]
        if unknown:
            raise ConfigError(
                f"{path}: levers: {name!r} names {', '.join(map(repr, unknown))}, not defined "
                "under models:; define it or remove it from the lever"
            )
        kept = tuple(m for m in models if m in ds_models)
        if len(kept) >= 2:
            levers[str(name)] = kept
        else:
            dropped.append(str(name))
    seeds = cfg.get("seeds")
    if seeds is None:
        seeds = _schema_default("seeds")
    return Design(dataset, ds_models, levers, len(seeds), tuple(dropped), path)


def _schema_default(key: str):
    import yaml

    from neuralhull.config_doc import SCHEMA

    return yaml.safe_load(SCHEMA.read_text())["properties"][key]["default"]


@dataclass(frozen=True)
class ObservedLever:
    """A lever of a finished run: its models in order, their seed-mean dimension, and the
    least-squares line through them over equally spaced positions 0..1 (``delta``: its
    change from the first model to the last; ``p_decreasing``: the exact one-sided
    Jonckheere-Terpstra p-value on the models' means)."""

    name: str
    models: tuple
    accuracy: tuple
    dimension: tuple
    delta: float
    p_decreasing: float
    order: str  # "config" (the design's order) or "accuracy" (by mean test accuracy)
    seed_sd: float = float("nan")  # pooled within-model SD of its models' runs
    scatter: float = float("nan")  # its models' SD around its line, less the seeds' share
    # the same around its best monotone fit (NaN when that fit leaves no degree of freedom)
    monotone_scatter: float = float("nan")


@dataclass(frozen=True)
class ObservedNoise:
    """What a finished run's ``models.tsv`` says about the noise.

    ``noise``: between-model SDs are the method-of-moments components (the variance of the
    model means less the seeds' share, ``s_seed^2 / n_seeds``), between-seed SDs the pooled
    within-model SDs (less the rounding's 1/12 for a whole-number dimension: Sheppard's
    correction, since the simulation rounds again).  ``scatter``: SD of a lever's models
    around its line, pooled over levers with 3 or more models, less the seeds' share.  Each
    lever of ``levers`` also carries its own ``seed_sd`` and ``scatter`` (the same estimates
    on its models alone): levers differ in noise by an order of magnitude (a model trained
    for a few steps varies between seeds far more than a trained one), so
    :meth:`lever_noise` gives the simulation each lever's own.
    """

    noise: Noise
    scatter: float
    levers: tuple
    n_models: int
    n_seeds: int
    integer_dimension: bool
    source: str

    def lever_noise(self, around: str = "line") -> dict:
        """``{lever: (scatter, seed SD)}`` for the levers with 3 or more models (a line
        through 2 leaves no residual to estimate a scatter from).

        ``around="monotone"``: the scatter around the lever's best monotone fit instead of
        its line, the line's where that fit leaves no degree of freedom (a lever whose
        models are already in order). The trend tests rank a lever's models, so a curve
        that keeps their order (a fall, then a plateau) is trend to them, not noise; the
        line's residuals count its curvature as scatter.
        """
        one_of(around, ("line", "monotone"), "around")
        noise = {}
        for lev in self.levers:
            if len(lev.models) < 3 or not math.isfinite(lev.scatter):
                continue
            monotone = lev.monotone_scatter
            use = monotone if around == "monotone" and math.isfinite(monotone) else lev.scatter
            noise[lev.name] = (use, lev.seed_sd)
        return noise


REQUIRED_COLUMNS = ("model", "seed", "test_accuracy")


PRIMARY_DIMENSIONS = ("latent_dim_continuous", "latent_dim")


def read_noise(path, design: Design | None = None, dimension: str | None = None) -> ObservedNoise:
    """The noise of the run whose ``models.tsv`` is ``path`` (one row per run: model, seed,
    test_accuracy, the ``dimension`` column and, for the levers' trends, ``lever``).

    ``dimension`` None: the column claim 3's findings read, the continuous autoencoder
    dimension where the file has it, else the whole-number one (``PRIMARY_DIMENSIONS``).

    A lever's models are those whose ``lever`` is its name plus those marked
    ``reference``; they are taken in ``design``'s order when ``design`` lists that lever
    with all of them, else in the order of their mean test accuracy.
    """
    path = str(path)
    table, dimension = _read_models_table(path, dimension)
    by_model = table.groupby("model", sort=False)
    sizes = by_model.size()
    if len(sizes) < 2 or sizes.min() < 2:
        raise ValueError(
            f"{path}: the noise needs at least 2 models with at least 2 seeds each; it has "
            f"{len(sizes)} models with {sizes.min() if len(sizes) else 0} to "
            f"{sizes.max() if len(sizes) else 0} seeds"
        )
    n_seeds = int(round(sizes.mean()))
    dim = table[dimension].to_numpy(float)
    integer = bool(np.all(dim == np.rint(dim)))
    rounding = 1.0 / 12.0 if integer else 0.0  # Sheppard's correction of a whole number

    def components(column: str, rounding: float = 0.0) -> tuple[float, float]:
        within = float(by_model[column].var(ddof=1).mean())
        between = _beyond_seeds(float(by_model[column].mean().var(ddof=1)), within, n_seeds)
        seed = max(within - rounding, 0.0)
        return between, math.sqrt(seed)

    sd_model_acc, sd_seed_acc = components("test_accuracy")
    sd_model_dim, sd_seed_dim = components(dimension, rounding)
    noise = Noise(
        sd_model_accuracy=sd_model_acc,
        sd_model_dimension=sd_model_dim,
        sd_seed_accuracy=sd_seed_acc,
        sd_seed_dimension=sd_seed_dim,
        mean_accuracy=float(table["test_accuracy"].mean()),
        mean_dimension=float(dim.mean()),
    )
    levers = []
    if "lever" in table.columns:
        levers = _observed_levers(by_model, design, dimension, n_seeds, rounding)
    within_dim = float(by_model[dimension].var(ddof=1).mean())
    resid = [(lev, len(lev.models) - 2) for lev in levers if len(lev.models) >= 3]
    scatter = 0.0
    if resid:
        ss = sum(_residual_ss(lev) for lev, _ in resid)
        scatter = _beyond_seeds(ss / sum(d for _, d in resid), within_dim, n_seeds)
    return ObservedNoise(noise, scatter, tuple(levers), len(sizes), n_seeds, integer, path)


def _beyond_seeds(variance: float, within: float, n_seeds: int) -> float:
    """The SD left in a variance of seed means once the seeds' share (the within-model
    variance over ``n_seeds``) is taken out, at least 0: the method-of-moments component."""
    return math.sqrt(max(variance - within / n_seeds, 0.0))


def _read_models_table(path: str, dimension: str | None):
    """The rows of ``models.tsv`` with an accuracy and a dimension, and the dimension's
    column (``dimension``, or the first of ``PRIMARY_DIMENSIONS`` the file has)."""
    import pandas as pd

    try:
        table = pd.read_csv(path, sep="\t", comment="#")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path}: no such file; pass a finished run's results/{{dataset}}/summary/"
            "models.tsv to --noise"
        ) from None
    if dimension is None:
        dimension = next((c for c in PRIMARY_DIMENSIONS if c in table.columns), "latent_dim")
    missing = [c for c in (*REQUIRED_COLUMNS, dimension) if c not in table.columns]
    if missing:
        raise ValueError(
            f"{path}: no column {', '.join(missing)}; --noise needs a models.tsv with "
            f"columns {', '.join((*REQUIRED_COLUMNS, dimension))} (and lever)"
        )
    return table.dropna(subset=["test_accuracy", dimension]), dimension


def _observed_levers(by_model, design, dimension, n_seeds, rounding) -> list:
    """Each lever of the run (``lever`` column; see :func:`read_noise`) with 2 or more
    models, with its own seed SD and, from 3 models, its own scatter."""
    means = by_model[["test_accuracy", dimension]].mean()
    variances = by_model[dimension].var(ddof=1)
    lever_of = by_model["lever"].first()
    reference = [m for m, lev in lever_of.items() if lev == "reference"]
    levers = []
    for name in dict.fromkeys(lever_of.dropna()):
        if name == "reference":
            continue
        members = [m for m, lev in lever_of.items() if lev == name] + reference
        planned = design.levers.get(name, ()) if design is not None else ()
        if set(members) <= set(planned):
            models, order = [m for m in planned if m in members], "config"
        else:
            acc = means.loc[members, "test_accuracy"]
            models, order = list(acc.sort_values(kind="stable").index), "accuracy"
        if len(models) < 2:
            continue
        lever = _observed_lever(name, models, means, dimension, order)
        within = float(variances.loc[list(models)].mean())
        seed_sd = math.sqrt(max(within - rounding, 0.0))
        scatter = monotone = float("nan")
        if len(models) >= 3:
            resid = _residual_ss(lever) / (len(models) - 2)
            scatter = _beyond_seeds(resid, within, n_seeds)
            ss, df = _monotone_residual(lever.dimension)
            if df > 0:
                monotone = _beyond_seeds(ss / df, within, n_seeds)
        levers.append(replace(lever, seed_sd=seed_sd, scatter=scatter, monotone_scatter=monotone))
    return levers


def _line(n_levels: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, n_levels)


def _residual_ss(lever: ObservedLever) -> float:
    t, y = _line(len(lever.models)), np.asarray(lever.dimension)
    slope, icpt = np.polyfit(t, y, 1)
    return float(((y - icpt - slope * t) ** 2).sum())


def _monotone_residual(values) -> tuple[float, int]:
    """Residual sum of squares of ``values`` around their best monotone fit (isotonic
    regression, falling or rising, whichever fits closer) and its degrees of freedom: the
    number of values less the fit's number of distinct levels, the expected degrees of freedom
    of isotonic regression (Meyer & Woodroofe 2000)."""
    from scipy.optimize import isotonic_regression

    y = np.asarray(values, dtype=float)
    best = None
    for increasing in (True, False):
        result = isotonic_regression(y, increasing=increasing)
        ss = float(((y - result.x) ** 2).sum())
        levels = result.blocks.size - 1
        if best is None or ss < best[0]:
            best = (ss, y.size - levels)
    return best


def _observed_lever(name, models, means, dimension, order) -> ObservedLever:
    from neuralhull.stats.trend import jonckheere_terpstra

    y = means.loc[models, dimension].to_numpy(float)
    slope = float(np.polyfit(_line(len(models)), y, 1)[0])
    p = jonckheere_terpstra([[v] for v in y], alternative="decreasing", method="exact").p_value
    acc = tuple(float(a) for a in means.loc[models, "test_accuracy"])
    return ObservedLever(name, tuple(models), acc, tuple(map(float, y)), slope, p, order)


def simulate_levers(
    sim: Simulation,
    design: Design,
    deltas: dict,
    scatter: float,
    noise: Noise,
    *,
    lever_noise: dict | None = None,
) -> dict:
    """Seed-mean dimension of every lever's models in ``sim.n_sims`` simulated runs of
    ``design``.

    A model's true dimension is ``mean_dimension + delta_l (i - i_ref) / (L - 1) + e``: on
    lever l's line (its ``deltas[l]`` from the first of its L models to the last, linear in
    the position i), anchored at the model it shares with other levers (position i_ref;
    the last model when it shares none), with its own departure ``e ~ N(0, scatter)``.  A
    model in several levers is one model: one departure, one set of runs, seen by each.
    Each run adds ``N(0, sd_seed_dimension)``; a whole-number dimension
    (``sim.integer_dimension``) is rounded (at least 1).  ``lever_noise`` (``{lever:
    (scatter, seed SD)}``, e.g. :meth:`ObservedNoise.lever_noise`) gives a lever's own
    models their lever's scatter and seed SD; a lever it does not name keeps ``scatter``
    and ``noise.sd_seed_dimension``.  A
    shared model (the fully trained reference) takes the smallest scatter and seed SD of the
    levers it is in: each lever's line passes near it, and the pooled values would give it
    the noise of the noisiest lever (the early training-length snapshots).  Returns
    ``{lever: (n_sims, L) array}``, the models in the lever's order.
    """
    rng, n_sims = sim.rng, sim.n_sims
    shared = design.shared()
    lever_noise = lever_noise or {}
    true: dict = {}
    seed_sd: dict = {}
    default = (scatter, noise.sd_seed_dimension)
    shared_noise = {
        m: tuple(
            min(vals)
            for vals in zip(
                *(lever_noise.get(k, default) for k, ms in design.levers.items() if m in ms),
                strict=True,
            )
        )
        for m in shared
    }
    for name, models in design.levers.items():
        own_scatter, own_seed = lever_noise.get(name, (scatter, noise.sd_seed_dimension))
        n_lev = len(models)
        anchor = next((i for i, m in enumerate(models) if m in shared), n_lev - 1)
        for i, m in enumerate(models):
            offset = deltas.get(name, 0.0) * (i - anchor) / (n_lev - 1)
            if m in shared and m in true:
                continue  # the shared model sits at every lever's anchor: offset 0
            m_scatter, seed_sd[m] = shared_noise[m] if m in shared else (own_scatter, own_seed)
            true[m] = noise.mean_dimension + offset + rng.normal(0.0, m_scatter, n_sims)
    seed_means = {}
    for m, t in true.items():
        runs = t[:, None] + rng.normal(0.0, seed_sd[m], (n_sims, design.n_seeds))
        if sim.integer_dimension:
            runs = np.maximum(np.rint(runs), 1.0)
        seed_means[m] = runs.mean(axis=1)
    return {
        name: np.stack([seed_means[m] for m in models], axis=1)
        for name, models in design.levers.items()
    }


def design_trend_power(
    sim: Simulation,
    design,
    deltas,
    scatter,
    noise,
    *,
    rule=("decreasing", ALPHA, ALPHA),
    lever_noise=None,
) -> tuple[dict, float, float | None]:
    """Power of each lever's Jonckheere-Terpstra test (decreasing, on its models' seed
    means) and of the stratified test over all levers, at ``deltas`` (lever -> change over
    the lever; absent: 0), one simulation of ``design`` for all.

    ``rule``: (alternative, alpha of a lever's test, alpha of the combined test); with
    "two-sided" a test counts when its two-sided p-value is below alpha and its trend
    falls (the findings' rule, with a Bonferroni alpha bounding their Holm adjustment).
    ``lever_noise``: each lever's own (scatter, seed SD), as :func:`simulate_levers`.

    Returns ``({lever: power}, combined, combined_held)``: the stratified test permuting
    each lever whole, and (None when the levers share no model) permuting each lever
    around the models it shares with others, which stay in place.  Permuting a shared
    model in every lever independently treats the levers as independent when they are
    not (the shared model's value enters each), which makes the first test reject too
    often when there is no trend.
    """
    values = simulate_levers(sim, design, deltas, scatter, noise, lever_noise=lever_noise)
    alternative, alpha_lever, alpha_combined = rule

    def power_of(strata, alpha):
        z, p = stratified_jt_permutation(strata, sim.rng, sim.n_perms, alternative)
        return float(np.mean((p < alpha) & (z < 0)))

    strata = [(np.arange(v.shape[1]), v) for v in values.values()]
    per_lever = {
        name: power_of([stratum], alpha_lever) for name, stratum in zip(values, strata, strict=True)
    }
    combined = power_of(strata, alpha_combined)
    shared = design.shared()
    if not shared:
        return per_lever, combined, None
    held = [
        (*stratum, [i for i, m in enumerate(design.levers[name]) if m in shared])
        for name, stratum in zip(values, strata, strict=True)
    ]
    return per_lever, combined, power_of(held, alpha_combined)


@dataclass(frozen=True)
class ReportSettings:
    """The effects the ``--design`` report simulates and the findings' families it bounds.

    ``rho``: the true Spearman rho across the zoo; ``standard``: the standard trend, the
    dimension's change over a lever in between-model SDs; ``primary_tests`` and
    ``secondary_tests``: the sizes of claim 3's two findings families (their Holm
    adjustment is bounded by Bonferroni).
    """

    rho: float = -0.6
    standard: float = 1.0
    primary_tests: int = 1
    secondary_tests: int = 2


def print_design_report(
    design: Design,
    observed: ObservedNoise | None,
    noise: Noise,
    scatter: float,
    sim: Simulation,
    settings: ReportSettings = ReportSettings(),
) -> None:
    """The Markdown tables of ``--design`` (see the module docstring); every power estimate
    draws from ``sim.rng`` in the order the tables print."""
    _print_design_header(design, observed, noise, scatter, sim)
    observed_delta = _print_observed_levers(observed)
    _print_zoo_power(design, noise, sim, settings.rho)

    def trend(deltas, rule=("decreasing", ALPHA, ALPHA), around="line"):
        lever_noise = observed.lever_noise(around) if observed is not None else {}
        return design_trend_power(
            sim, design, deltas, scatter, noise, rule=rule, lever_noise=lever_noise
        )

    matched = {k: observed_delta[k] for k in design.levers if k in observed_delta}
    std_delta = -abs(settings.standard) * noise.sd_model_dimension
    deltas = {
        "observed": {k: -abs(v) for k, v in matched.items()},
        "standard": dict.fromkeys(design.levers, std_delta),
        "none": {},
    }
    _print_lever_power(design, noise, settings.standard, matched, deltas, trend)
    _print_findings_rule_power(design, noise, sim, settings, deltas, trend)


def _print_design_header(design, observed, noise, scatter, sim) -> None:
    se = 0.5 / math.sqrt(sim.n_sims)
    shared = sorted(design.shared())
    print(
        f"Design: {design.source}, dataset {design.dataset}: {len(design.models)} models x "
        f"{design.n_seeds} seeds, {len(design.levers)} levers "
        f"({', '.join(f'{k}: {len(v)} levels' for k, v in design.levers.items())})"
        + (f", sharing {', '.join(shared)}" if shared else "")
        + (
            f"; levers with fewer than 2 of its models left out: {', '.join(design.dropped)}"
            if design.dropped
            else ""
        )
        + ".\n"
    )
    source = observed.source if observed is not None else "the --sd-* options"
    kind = "whole-number" if sim.integer_dimension else "continuous"
    own_noise = observed is not None and observed.lever_noise()
    print(
        f"Noise from {source}: between models SD {noise.sd_model_accuracy:.4f} accuracy, "
        f"{noise.sd_model_dimension:.3f} dimension; between seeds SD "
        f"{noise.sd_seed_accuracy:.4f}, {noise.sd_seed_dimension:.3f}; a lever's models "
        f"scatter around its line with SD {scatter:.3f} (pooled over levers"
        + ("; each lever of the run below has its own seed SD and scatter" if own_noise else "")
        + f"); mean dimension "
        f"{noise.mean_dimension:.2f} ({kind}).  Power at alpha {ALPHA}, {sim.n_sims} simulated "
        f"runs per row (standard error at most {se:.3f}), {sim.n_perms} permutations, "
        f"seed {sim.seed}.\n"
    )


def _print_observed_levers(observed) -> dict:
    """The run's levers as a table; returns each one's observed change ``{lever: delta}``."""
    if observed is None or not observed.levers:
        return {}
    print(f"Levers of {observed.source} (models in order, seed-mean accuracy, dimension):\n")
    print(
        "| lever | order | models | accuracy | dimension | change over the lever | "
        "p (decreasing) | seed SD | scatter: line | scatter: monotone |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for lev in observed.levers:
        print(
            f"| {lev.name} | {lev.order} | {', '.join(lev.models)} | "
            f"{', '.join(f'{a:.3f}' for a in lev.accuracy)} | "
            f"{', '.join(f'{d:.2f}' for d in lev.dimension)} | {lev.delta:+.2f} | "
            f"{lev.p_decreasing:.3f} | {lev.seed_sd:.3f} | {lev.scatter:.3f} | "
            f"{lev.monotone_scatter:.3f} |"
        )
    print()
    return {lev.name: lev.delta for lev in observed.levers}


def _print_zoo_power(design, noise, sim, rho) -> None:
    print(
        f"Across the zoo: Spearman's rho over the {len(design.models)} models' seed means, "
        "permutation test (significant at 0.05 and rho < 0):\n"
    )
    print("| true rho | power |")
    print("|---|---|")
    for r in (rho, 0.0):
        power = zoo_power(sim, len(design.models), design.n_seeds, r, noise)
        print(f"| {r:g} | {power:.2f} |", flush=True)


def _print_lever_power(design, noise, standard, matched, deltas, trend) -> None:
    """The within-lever table, one-sided (decreasing) at ``ALPHA``; ``matched``: the run's
    observed changes with their signs, ``deltas``: the simulated changes of each column."""
    std_delta = -abs(standard) * noise.sd_model_dimension
    print(
        f"\nWithin levers: Jonckheere-Terpstra on the levels' seed means, decreasing; the "
        f"dimension falls linearly over the lever by the lever's observed change (its size, "
        f"in the claim's direction), by the standard change ({standard:g} between-model SD "
        f"= {std_delta:.2f}), or not at all (the test's level); combined: the stratified "
        f"test over all levers:\n"
    )
    print(
        "| lever | levels | observed change | power, observed size | power, standard size "
        "| no trend (level) |"
    )
    print("|---|---|---|---|---|---|")
    results = {key: trend(lever_deltas) for key, lever_deltas in deltas.items()}
    signed = trend(matched) if matched and any(v > 0 for v in matched.values()) else None
    for name, models in design.levers.items():
        obs = f"{matched[name]:+.2f}" if name in matched else "not in the run"
        pw_obs = f"{results['observed'][0][name]:.2f}" if name in matched else "-"
        print(
            f"| {name} | {len(models)} | {obs} | {pw_obs} | "
            f"{results['standard'][0][name]:.2f} | {results['none'][0][name]:.2f} |"
        )
    for col, label in ((1, "levers permuted whole"), (2, "shared models held in place")):
        if results["none"][col] is None:
            continue
        obs_comb = f"{results['observed'][col]:.2f}" if matched else "-"
        print(
            f"| combined ({len(design.levers)} levers, {label}) | | | {obs_comb} | "
            f"{results['standard'][col]:.2f} | {results['none'][col]:.2f} |"
        )
    if matched:
        print(
            "\nObserved size: the levers of the run that the design has, each at the size of "
            "its observed change, falling; the design's other levers without a trend."
        )
    if signed is not None:
        held = "" if signed[2] is None else f" ({signed[2]:.2f} with shared models held)"
        print(
            f"With each observed change's own sign (rising where the run's dimension rose), "
            f"the combined test's power is {signed[1]:.2f}{held}."
        )


def _print_findings_rule_power(design, noise, sim, settings, deltas, trend) -> None:
    """The table at the findings' rule: two-sided, at the Bonferroni bound of each family's
    Holm adjustment."""
    matched = deltas["observed"]  # the levers of the run that the design has
    primary, secondary = settings.primary_tests, settings.secondary_tests
    a_zoo, a_lever = ALPHA / primary, ALPHA / len(design.levers)
    a_combined = ALPHA / secondary
    print(
        f"\nAt the findings' rule: two-sided p-values, Holm-adjusted within each family, "
        f"bounded here by Bonferroni (power under Holm is at least this): the across-zoo "
        f"Spearman in a family of {primary} (p < {a_zoo:.4g}), the combined trend in "
        f"one of {secondary} (p < {a_combined:.4g}), each lever in a family of "
        f"{len(design.levers)} (p < {a_lever:.4g}); a test counts when its estimate falls:\n"
    )
    print(
        "| test | power: rho = " + f"{settings.rho:g}" + " / standard trend | power, observed "
        "size | no effect (level) | standard trend, scatter around a monotone fit |"
    )
    print("|---|---|---|---|---|")
    zoo = [
        zoo_power(sim, len(design.models), design.n_seeds, r, noise, a_zoo)
        for r in (settings.rho, 0.0)
    ]
    print(f"| across the zoo (Spearman) | {zoo[0]:.2f} | - | {zoo[1]:.2f} | - |")
    rule = ("two-sided", a_lever, a_combined)
    strict = {key: trend(deltas[key], rule) for key in ("standard", "observed", "none")}
    strict["monotone"] = trend(deltas["standard"], rule, around="monotone")  # drawn last
    for name in design.levers:
        pw_obs = f"{strict['observed'][0][name]:.2f}" if name in matched else "-"
        print(
            f"| lever {name} | {strict['standard'][0][name]:.2f} | {pw_obs} | "
            f"{strict['none'][0][name]:.2f} | {strict['monotone'][0][name]:.2f} |"
        )
    for col, label in ((1, "levers permuted whole"), (2, "shared models held in place")):
        if strict["none"][col] is not None:
            pw_obs = f"{strict['observed'][col]:.2f}" if matched else "-"
            print(
                f"| combined ({label}) | {strict['standard'][col]:.2f} | {pw_obs} | "
                f"{strict['none'][col]:.2f} | {strict['monotone'][col]:.2f} |"
            )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m neuralhull.stats.power",
        description="Power of the across-zoo and within-lever tests of the central claim.",
    )
    parser.add_argument("--sims", type=int, default=1000, help="datasets per design")
    parser.add_argument("--perms", type=int, default=2000, help="permutations per test")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rho", type=float, default=-0.6, help="true Spearman rho")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per model")
    parser.add_argument("--levers", type=int, default=3)
    parser.add_argument("--lever-shift", type=float, default=1.51, help="SD of lever levels")
    parser.add_argument("--lever-scatter", type=float, default=0.5, help="SD around a trend")
    parser.add_argument("--sd-model-accuracy", type=float, default=Noise.sd_model_accuracy)
    parser.add_argument("--sd-model-dimension", type=float, default=Noise.sd_model_dimension)
    parser.add_argument("--sd-seed-accuracy", type=float, default=Noise.sd_seed_accuracy)
    parser.add_argument("--sd-seed-dimension", type=float, default=Noise.sd_seed_dimension)
    parser.add_argument(
        "--design", help="a config file: simulate its zoo (levers:, seeds:) on --dataset"
    )
    parser.add_argument("--dataset", help="the dataset of --design (default: its first)")
    parser.add_argument(
        "--noise",
        help="a finished run's models.tsv: the noise and the levers' trends come from it "
        "(instead of the --sd-* options and --lever-scatter)",
    )
    parser.add_argument(
        "--dimension",
        help="the dimension's column in --noise (default: the one claim 3's findings read, "
        "latent_dim_continuous where the file has it, else latent_dim)",
    )
    parser.add_argument(
        "--standard-trend",
        type=float,
        default=1.0,
        help="the standard trend with --design: the dimension's change over a lever, in "
        "between-model SDs",
    )
    parser.add_argument(
        "--primary-tests",
        type=int,
        default=1,
        help="with --design: tests in the findings' primary family of claim 3 (the "
        "across-zoo Spearman alone), for the Bonferroni bound of their Holm adjustment",
    )
    parser.add_argument(
        "--secondary-tests",
        type=int,
        default=2,
        help="with --design: tests in the findings' secondary family of claim 3 (the slope "
        "and the combined trend)",
    )
    return parser


def main(argv=None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    threadpool_limits(1)
    noise = replace(
        Noise(),
        sd_model_accuracy=args.sd_model_accuracy,
        sd_model_dimension=args.sd_model_dimension,
        sd_seed_accuracy=args.sd_seed_accuracy,
        sd_seed_dimension=args.sd_seed_dimension,
    )
    if args.dataset and not args.design:
        parser.error("--dataset needs --design")
    observed = None
    scatter, integer = args.lever_scatter, True
    try:  # a bad file: its message (it names the file and the fix), not a traceback
        design = read_design(args.design, args.dataset) if args.design else None
        if args.noise:
            observed = read_noise(args.noise, design, args.dimension)
    except (OSError, ValueError) as err:  # ConfigError is a ValueError
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    if observed is not None:
        noise, scatter, integer = observed.noise, observed.scatter, observed.integer_dimension
    sim = Simulation.from_seed(args.seed, args.sims, args.perms, integer)
    if design is None:
        print_generic_report(sim, noise, args)
        return
    settings = ReportSettings(
        args.rho, args.standard_trend, args.primary_tests, args.secondary_tests
    )
    print_design_report(design, observed, noise, scatter, sim, settings)


def print_generic_report(sim: Simulation, noise: Noise, args: argparse.Namespace) -> None:
    """The tables without ``--design`` (see the module docstring); ``args``: the command's
    options (``rho``, ``seeds``, ``levers``, ``lever_shift``, ``lever_scatter``)."""
    se = 0.5 / math.sqrt(sim.n_sims)
    print(
        f"Power at alpha {ALPHA}, {sim.n_sims} simulated datasets per design (standard error "
        f"at most {se:.3f}), {sim.n_perms} permutations, seed {sim.seed}; noise: between "
        f"models SD {noise.sd_model_accuracy} accuracy, {noise.sd_model_dimension} dimension;"
        f" between seeds {noise.sd_seed_accuracy}, {noise.sd_seed_dimension}.\n"
    )
    print(f"Across the zoo, true Spearman rho = {args.rho}:\n")
    print("| design | power |")
    print("|---|---|")
    for k in (8, 12, 16, 20, 24, 28):
        power = zoo_power(sim, k, args.seeds, args.rho, noise)
        print(f"| {k} models x {args.seeds} seeds | {power:.2f} |", flush=True)
    power = zoo_power(sim, 8, 10, args.rho, noise)
    print(f"| 8 models x 10 seeds | {power:.2f} |")
    power = zoo_power(replace(sim, integer_dimension=False), 8, args.seeds, args.rho, noise)
    print(f"| 8 models x {args.seeds} seeds, continuous dimension | {power:.2f} |\n", flush=True)

    print(
        f"Levers, true Spearman rho = {args.rho} within each, lever levels shifted with SD "
        f"{args.lever_shift}:\n"
    )
    print("| design | pooled Spearman | stratified trend test |")
    print("|---|---|---|")
    for n_l in (8, 10):
        levels = [n_l] * args.levers
        pooled, strat = lever_power(sim, levels, args.seeds, args.rho, noise, args.lever_shift)
        print(f"| {args.levers} levers x {n_l} models | {pooled:.2f} | {strat:.2f} |", flush=True)

    print(
        f"\nOne lever's ordered trend (Jonckheere-Terpstra, two-sided), true dimension "
        f"changing by delta over the lever, scatter SD {args.lever_scatter} around it, "
        f"{args.seeds} seeds:\n"
    )
    print("| levels | delta | on level means | on runs (seeds as observations) |")
    print("|---|---|---|---|")
    for n_levels in (6, 8, 10):
        for delta in (0.0, -1.0, -2.0):
            means, runs = trend_power(sim, n_levels, args.seeds, delta, args.lever_scatter, noise)
            print(f"| {n_levels} | {delta:g} | {means:.2f} | {runs:.2f} |", flush=True)


if __name__ == "__main__":
    main()
