"""Coverage study: how often each interval method covers the truth, on data with the
workflow's structure (:mod:`neuralhull.stats.simulate`).

    python -m neuralhull.stats.coverage [--sims 1000] [--boot 1000] [--images 1000] [--seed 0]

prints one Markdown table: per scenario and method, the fraction of simulated datasets
whose 95 % interval covers the true value, the binomial band within which a method with
exactly 95 % coverage lands 95 % of the time at this number of simulations, and the mean
width.  The scenarios mirror the findings: a model's fraction of test images inside the
hull (seeds x shared images; once with the images dominating the uncertainty, once with
the seeds mattering), the zoo's fraction (models x seeds x shared images), paired AUROC
differences per model and over the zoo, and model-level means over 8 and 24 models (t, BCa
and the plain percentile bootstrap).  Beside the two-way methods it runs the naive ones the
findings used (Wilson on pooled counts; images alone), which the study shows too narrow.
The test suite runs a small version (tests/unit/test_stats_intervals.py).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps
from threadpoolctl import threadpool_limits

from neuralhull.stats import intervals as iv
from neuralhull.stats import simulate as sim

LEVEL = 0.95


@dataclass(frozen=True)
class Scenario:
    """A data-generating process with its truth, and the interval methods to run on it.

    ``simulate(rng)`` returns one dataset; ``methods[name](data, rng)`` an Interval.
    """

    name: str
    simulate: Callable
    truth: float
    methods: dict
    share: float = 1.0  # of the study's simulations this (slow) scenario runs


def _pooled_wilson(outcomes: np.ndarray, rng) -> iv.Interval:
    """The naive interval: Wilson on the count over all runs and images, as if independent."""
    k, n = int(outcomes.sum()), int(outcomes.size)
    low, high = iv.wilson_interval(k, n, LEVEL)
    return iv.Interval(k / n, low, high, LEVEL, "Wilson on pooled counts")


def _percentile_over_units(values: np.ndarray, rng, n_boot: int) -> iv.Interval:
    idx = rng.integers(0, values.size, size=(n_boot, values.size))
    reps = values[idx].mean(axis=1)
    low, high = np.quantile(reps, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return iv.Interval(float(values.mean()), float(low), float(high), LEVEL, "percentile")


def scenarios(n_images: int, n_boot: int, truth_rng: np.random.Generator) -> list[Scenario]:
    """The study's scenarios at ``n_images`` test images and ``n_boot`` replicates.

    ``truth_rng`` draws the Monte Carlo truths of the AUROC differences.
    """
    return [
        *_fraction_scenarios(n_images, n_boot),
        *_auroc_scenarios(n_images, n_boot, truth_rng),
        *_model_level_scenarios(n_boot),
    ]


COMPONENTS = ("t", "resample", "pigeonhole")  # the two-way intervals' unit parts


def _fraction_scenarios(n_images: int, n_boot: int) -> list[Scenario]:
    """A model's fraction of images inside (one model, its term fixed, 3 seeds), once with
    the images dominating and once with the seeds mattering; then the zoo's fraction (8
    models drawn afresh each time)."""
    out = []
    for label, sd_seed in (("images dominate", 0.1), ("seeds matter", 0.4)):
        design = sim.CrossedDesign(n_models=1, n_seeds=3, n_images=n_images, sd_seed=sd_seed)
        model = np.zeros(1)
        methods = {
            f"two-way, {c} seed part": (
                lambda d, r, c=c: iv.model_mean_interval(
                    d[0], rng=r, n_boot=n_boot, unit_component=c
                )
            )
            for c in COMPONENTS
        }
        methods["images only (seeds fixed)"] = lambda d, r: iv.model_mean_interval(
            d[0], rng=r, n_boot=n_boot, unit_component="none"
        )
        methods["Wilson on pooled counts"] = _pooled_wilson
        out.append(
            Scenario(
                f"fraction, 1 model x 3 seeds x {n_images} images ({label})",
                lambda r, design=design, model=model: sim.simulate_outcomes(r, design, model),
                sim.true_model_mean(design, 0.0),
                methods,
            )
        )

    design = sim.CrossedDesign(n_models=8, n_seeds=3, n_images=n_images)
    methods = {
        f"two-way, {c} model part": (
            lambda d, r, c=c: iv.zoo_mean_interval(d, rng=r, n_boot=n_boot, unit_component=c)
        )
        for c in COMPONENTS
    }
    methods["Wilson on pooled counts"] = _pooled_wilson
    out.append(
        Scenario(
            f"fraction, zoo of 8 models x 3 seeds x {n_images} images",
            lambda r, design=design: sim.simulate_outcomes(r, design),
            sim.true_zoo_mean(design),
            methods,
        )
    )
    return out


def _auroc_scenarios(n_images: int, n_boot: int, truth_rng) -> list[Scenario]:
    """Paired AUROC differences of one model and of the zoo; their truths are Monte Carlo
    draws from ``truth_rng``."""
    out = []
    design = sim.CrossedDesign(n_models=1, n_seeds=3, n_images=n_images, sd_seed=0.3)
    truth, _ = sim.true_auroc_difference(truth_rng, design, 0.0)
    methods = {
        f"two-way, {c} seed part": (
            lambda d, r, c=c: iv.model_auroc_difference_interval(
                d[0][0], d[1][0], d[2][0], rng=r, n_boot=n_boot, unit_component=c
            )
        )
        for c in (*COMPONENTS, "none")
    }
    out.append(
        Scenario(
            f"AUROC(a) - AUROC(b), 1 model x 3 seeds x {n_images} images",
            lambda r, design=design: sim.simulate_auroc_runs(r, design, np.zeros(1)),
            truth,
            methods,
        )
    )
    design = sim.CrossedDesign(n_models=8, n_seeds=3, n_images=n_images)
    truth, _ = sim.true_auroc_difference(truth_rng, design, None)
    methods = {
        f"two-way, {c} model part": (
            lambda d, r, c=c: iv.zoo_auroc_difference_interval(
                *d, rng=r, n_boot=n_boot, unit_component=c
            )
        )
        for c in ("t", "pigeonhole")
    }
    out.append(
        Scenario(
            f"AUROC(a) - AUROC(b), zoo of 8 models x 3 seeds x {n_images} images",
            lambda r, design=design: sim.simulate_auroc_runs(r, design),
            truth,
            methods,
            share=0.25,
        )
    )
    return out


def _model_level_scenarios(n_boot: int) -> list[Scenario]:
    """Means of one value per model (e.g. intrinsic dimension / width), normal and skewed."""
    out = []
    for label, n_models, sigma in (
        ("normal", 8, 0.0),
        ("skewed: lognormal(0, 0.5)", 8, 0.5),
        ("skewed: lognormal(0, 0.5)", 24, 0.5),
    ):
        if sigma == 0.0:
            draw, truth = (lambda r, n=n_models: r.normal(0.0, 1.0, n)), 0.0
        else:
            draw = lambda r, n=n_models, s=sigma: r.lognormal(0.0, s, n)  # noqa: E731
            truth = float(np.exp(sigma**2 / 2))
        out.append(
            Scenario(
                f"mean of {n_models} model-level values ({label})",
                draw,
                truth,
                {
                    "t interval": lambda d, r: iv.t_interval(d, LEVEL),
                    "BCa": lambda d, r: iv.bca_interval(
                        (d,), np.mean, rng=r, n_resamples=n_boot, level=LEVEL
                    ),
                    "percentile bootstrap": lambda d, r: _percentile_over_units(d, r, n_boot),
                },
            )
        )
    return out


def binomial_band(n_sims: int, coverage: float = LEVEL, mass: float = 0.95) -> tuple:
    """Central ``mass`` range of the observed coverage of a method whose true coverage is
    ``coverage``, over ``n_sims`` simulations (binomial quantiles, as fractions)."""
    lo, hi = sps.binom.ppf([(1 - mass) / 2, (1 + mass) / 2], n_sims, coverage)
    return float(lo) / n_sims, float(hi) / n_sims


def run_scenario(scenario: Scenario, n_sims: int, rng: np.random.Generator) -> dict:
    """``{method: {"coverage", "width", "n"}}`` over ``n_sims`` simulated datasets; every
    method sees the same datasets."""
    hits = {m: 0 for m in scenario.methods}
    widths = {m: [] for m in scenario.methods}
    for _ in range(n_sims):
        data = scenario.simulate(rng)
        for name, method in scenario.methods.items():
            interval = method(data, rng)
            hits[name] += interval.covers(scenario.truth)
            widths[name].append(interval.width)
    return {
        m: {"coverage": hits[m] / n_sims, "width": float(np.mean(widths[m])), "n": n_sims}
        for m in scenario.methods
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m neuralhull.stats.coverage",
        description="Coverage of every interval method on data with the workflow's structure.",
    )
    parser.add_argument("--sims", type=int, default=1000, help="datasets per scenario")
    parser.add_argument("--boot", type=int, default=1000, help="bootstrap replicates")
    parser.add_argument("--images", type=int, default=1000, help="test images per run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generator")
    parser.add_argument(
        "--only", default="", help="run only the scenarios whose name contains this text"
    )
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    threadpool_limits(1)  # small matrix products: threads cost more than they give
    band = binomial_band(args.sims)
    small = binomial_band(max(1, round(args.sims / 4)))
    print(
        f"Coverage of nominal 95 % intervals, {args.sims} simulated datasets per scenario "
        f"(a quarter of them for the slow zoo AUROC scenario), {args.boot} bootstrap "
        f"replicates, {args.images} test images per run, seed {args.seed}.  A method with "
        f"exactly 95 % coverage lands in [{band[0]:.3f}, {band[1]:.3f}] 95 % of the time "
        f"([{small[0]:.3f}, {small[1]:.3f}] with a quarter of the simulations).\n"
    )
    print("| scenario | method | sims | coverage | mean width |")
    print("|---|---|---|---|---|")
    for scenario in scenarios(args.images, args.boot, rng):
        if args.only not in scenario.name:
            continue
        start = time.perf_counter()
        n_sims = max(1, round(args.sims * scenario.share))
        result = run_scenario(scenario, n_sims, rng)
        for name, r in result.items():
            print(
                f"| {scenario.name} | {name} | {n_sims} | {r['coverage']:.3f} | {r['width']:.4f} |"
            )
        print(
            f"<!-- {scenario.name}: truth {scenario.truth:.4f}, "
            f"{time.perf_counter() - start:.0f} s -->",
            flush=True,
        )


if __name__ == "__main__":
    main()
