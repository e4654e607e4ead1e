"""Power of the central claim's tests: the better the model, the lower its intrinsic dimension.

    python -m neuralhull.stats.power [--sims 1000] [--perms 2000] [--seed 0]

prints three Markdown tables.

1. **Across the zoo**: the power of the two-sided permutation test of Spearman's rho
   between the models' seed-mean accuracy and seed-mean dimension (significant at 0.05
   *and* rho < 0, the findings' rule) when the models' true values have a rank correlation
   of ``--rho`` (-0.6), for K = 8 ... 28 models of 3 seeds, and for 8 models with 10 seeds
   and with a continuous (unrounded) dimension.
2. **Levers**: the same zoo built as ``--levers`` levers of 8 or 10 models each, every
   lever shifting the dimension's level by a random amount (SD ``--lever-shift``): the
   pooled Spearman test against the stratified one (each lever's models in the order of
   their accuracy, Jonckheere-Terpstra per lever, combined by
   :func:`neuralhull.stats.trend.stratified_trend_test`'s statistic and permuted within
   levers).
3. **One lever's ordered trend**: the power of Jonckheere-Terpstra along a lever of L
   levels whose true dimension changes by ``delta`` from the first level to the last
   (linearly, with model-to-model scatter of SD ``--lever-scatter`` around the line), on
   the levels' seed means and on the runs themselves (seeds as observations).  The rows
   with ``delta = 0`` give the tests' false-positive rates: with scatter between models,
   treating seeds as observations rejects far more often than 5 %, since the seeds of one
   model share its departure from the trend; the test on level means holds its level.

The noise is the default run's (``--sd-*``): between models SD 0.074 in accuracy and 1.51
in dimension, between seeds of a model 0.015 and 0.49.  A model's true (accuracy,
dimension) are bivariate normal with Pearson correlation ``2 sin(pi rho / 6)``, which
gives Spearman's rho in the population; each seed adds its noise, and the autoencoder's
dimension is a whole number (rounded) unless stated.  Every p-value is a Monte Carlo
permutation p-value ``(1 + count) / (1 + perms)``; the permutations are shared by the
simulated datasets of one design (valid for each dataset).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, replace

import numpy as np
from scipy.stats import rankdata
from threadpoolctl import threadpool_limits

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


def _permutations(rng: np.random.Generator, n_perms: int, n: int) -> np.ndarray:
    return rng.permuted(np.tile(np.arange(n), (n_perms, 1)), axis=1)


def spearman_permutation(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, n_perms: int
) -> tuple[np.ndarray, np.ndarray]:
    """Spearman's rho of every row of ``x, y (m, n)`` and its two-sided Monte Carlo
    permutation p-value (y permuted against x, the same ``n_perms`` permutations for every
    row): two ``(m,)`` arrays."""
    rx = rankdata(x, axis=1)
    ry = rankdata(y, axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    norm = np.sqrt((rx * rx).sum(axis=1) * (ry * ry).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (rx * ry).sum(axis=1) / norm
    perms = _permutations(rng, n_perms, x.shape[1])
    count = np.zeros(x.shape[0])
    step = max(1, 2**22 // (n_perms * x.shape[1]))
    for s in range(0, x.shape[0], step):
        ryp = ry[s : s + step][:, perms]  # (m', P, n)
        with np.errstate(invalid="ignore", divide="ignore"):
            rho_p = np.einsum("mn,mpn->mp", rx[s : s + step], ryp) / norm[s : s + step, None]
        count[s : s + step] = (np.abs(rho_p) >= np.abs(rho[s : s + step, None]) - 1e-12).sum(1)
    return rho, (1 + count) / (1 + n_perms)


def _jt_rows(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    a, b = y[..., lo], y[..., hi]
    return (a < b).sum(axis=-1) + 0.5 * (a == b).sum(axis=-1)


def stratified_jt_permutation(
    strata: list[tuple[np.ndarray, np.ndarray]], rng: np.random.Generator, n_perms: int
) -> tuple[np.ndarray, np.ndarray]:
    """The stratified Jonckheere-Terpstra test of many datasets at once.

    Parameters
    ----------
    strata : list of (labels (n_l,) int, values (m, n_l) float)
        One entry per lever: the ordered level of each of its observations, and their values
        in m simulated datasets.

    Returns
    -------
    (z, p) : two (m,) arrays
        The combined statistic ``sum_l z_l / sqrt(n_levers)`` of
        :func:`neuralhull.stats.trend.stratified_trend_test`, and its two-sided Monte Carlo
        p-value, permuting within levers (the same permutations for every dataset).
    """
    m = strata[0][1].shape[0]
    z_obs = np.zeros(m)
    null = np.zeros((m, n_perms))
    for labels, y in strata:
        lo, hi = np.nonzero(labels[:, None] < labels[None, :])
        moments = np.array([jt_null_moments(np.bincount(labels), row) for row in y])
        mean, sd = moments[:, 0], np.sqrt(moments[:, 1])
        sd[sd == 0] = np.inf
        z_obs += (_jt_rows(y, lo, hi) - mean) / sd
        perms = _permutations(rng, n_perms, y.shape[1])
        step = max(1, 2**22 // (n_perms * max(1, lo.size)))
        for s in range(0, m, step):
            j = _jt_rows(y[s : s + step][:, perms], lo, hi)  # (m', P)
            null[s : s + step] += (j - mean[s : s + step, None]) / sd[s : s + step, None]
    n_lev = math.sqrt(len(strata))
    z_obs /= n_lev
    null /= n_lev
    count = (np.abs(null) >= np.abs(z_obs)[:, None] - 1e-9).sum(axis=1)
    return z_obs, (1 + count) / (1 + n_perms)


def zoo_power(rng, n_sims, n_models, n_seeds, rho, noise, n_perms, integer_dimension=True):
    acc, dim = simulate_zoo(
        rng, n_sims, n_models, n_seeds, rho, noise, integer_dimension=integer_dimension
    )
    r, p = spearman_permutation(acc, dim, rng, n_perms)
    return float(np.mean((p < ALPHA) & (r < 0)))


def lever_power(rng, n_sims, levels, n_seeds, rho, noise, n_perms, lever_shift):
    """Power of the pooled Spearman and of the stratified trend test on a zoo of levers
    with ``levels[l]`` models each; returns ``(pooled, stratified)``."""
    accs, dims = [], []
    for n_l in levels:
        acc, dim = simulate_zoo(rng, n_sims, n_l, n_seeds, rho, noise)
        dims.append(dim + rng.normal(0.0, lever_shift, (n_sims, 1)))
        accs.append(acc)
    r, p = spearman_permutation(np.hstack(accs), np.hstack(dims), rng, n_perms)
    pooled = float(np.mean((p < ALPHA) & (r < 0)))
    strata = []
    for acc, dim in zip(accs, dims, strict=True):
        order = np.argsort(acc, axis=1, kind="stable")  # the lever's models by accuracy
        strata.append((np.arange(acc.shape[1]), np.take_along_axis(dim, order, axis=1)))
    z, p = stratified_jt_permutation(strata, rng, n_perms)
    return pooled, float(np.mean((p < ALPHA) & (z < 0)))


def trend_power(rng, n_sims, n_levels, n_seeds, delta, scatter, noise, n_perms):
    """Power of Jonckheere-Terpstra along one lever whose true dimension changes by
    ``delta`` over its levels; returns ``(on level means, on runs)``."""
    line = noise.mean_dimension + delta * np.linspace(0.0, 1.0, n_levels)
    true = line + rng.normal(0.0, scatter, (n_sims, n_levels))
    runs = true[..., None] + rng.normal(0.0, noise.sd_seed_dimension, (n_sims, n_levels, n_seeds))
    runs = np.maximum(np.rint(runs), 1.0)
    out = []
    for labels, values in (
        (np.arange(n_levels), runs.mean(axis=2)),
        (np.repeat(np.arange(n_levels), n_seeds), runs.reshape(n_sims, -1)),
    ):
        z, p = stratified_jt_permutation([(labels, values)], rng, n_perms)
        right_way = np.sign(z) == np.sign(delta) if delta else True  # delta 0: any rejection
        out.append(float(np.mean((p < ALPHA) & right_way)))
    return tuple(out)


def main(argv=None) -> None:
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
    args = parser.parse_args(argv)
    threadpool_limits(1)
    noise = replace(
        Noise(),
        sd_model_accuracy=args.sd_model_accuracy,
        sd_model_dimension=args.sd_model_dimension,
        sd_seed_accuracy=args.sd_seed_accuracy,
        sd_seed_dimension=args.sd_seed_dimension,
    )
    rng = np.random.default_rng(args.seed)
    se = 0.5 / math.sqrt(args.sims)
    print(
        f"Power at alpha {ALPHA}, {args.sims} simulated datasets per design (standard error "
        f"at most {se:.3f}), {args.perms} permutations, seed {args.seed}; noise: between "
        f"models SD {noise.sd_model_accuracy} accuracy, {noise.sd_model_dimension} dimension;"
        f" between seeds {noise.sd_seed_accuracy}, {noise.sd_seed_dimension}.\n"
    )
    print(f"Across the zoo, true Spearman rho = {args.rho}:\n")
    print("| design | power |")
    print("|---|---|")
    for k in (8, 12, 16, 20, 24, 28):
        power = zoo_power(rng, args.sims, k, args.seeds, args.rho, noise, args.perms)
        print(f"| {k} models x {args.seeds} seeds | {power:.2f} |", flush=True)
    power = zoo_power(rng, args.sims, 8, 10, args.rho, noise, args.perms)
    print(f"| 8 models x 10 seeds | {power:.2f} |")
    power = zoo_power(rng, args.sims, 8, args.seeds, args.rho, noise, args.perms, False)
    print(f"| 8 models x {args.seeds} seeds, continuous dimension | {power:.2f} |\n", flush=True)

    print(
        f"Levers, true Spearman rho = {args.rho} within each, lever levels shifted with SD "
        f"{args.lever_shift}:\n"
    )
    print("| design | pooled Spearman | stratified trend test |")
    print("|---|---|---|")
    for n_l in (8, 10):
        levels = [n_l] * args.levers
        pooled, strat = lever_power(
            rng, args.sims, levels, args.seeds, args.rho, noise, args.perms, args.lever_shift
        )
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
            means, runs = trend_power(
                rng,
                args.sims,
                n_levels,
                args.seeds,
                delta,
                args.lever_scatter,
                noise,
                args.perms,
            )
            print(f"| {n_levels} | {delta:g} | {means:.2f} | {runs:.2f} |", flush=True)


if __name__ == "__main__":
    main()
