"""Simulated data with the workflow's structure and a known truth, to check the intervals.

Runs are seeds nested in models, and every run scores the same test images.  A run's
outcome on an image comes from a latent value

    z[k, s, i] = mean + model[k] + image[i] + image_model[k, i] + seed[k, s] + noise[k, s, i]

with independent normal terms of standard deviations ``sd_model``, ``sd_image``,
``sd_image_model``, ``sd_seed`` and ``sd_noise``: an image that one run finds easy (inside
the hull, or correctly classified) the others tend to find easy too (``image``), more so
within a model (``image_model``), and the seeds of one model share its ``model`` term.  A
binary outcome is ``z > 0`` (e.g. "inside the hull"); a continuous one is ``z`` itself.

The truth an interval must cover is the population value over images and seeds: for one
model with term ``model[k] = c``, ``Phi((mean + c) / s)`` for a binary outcome, with
``s^2 = sd_image^2 + sd_image_model^2 + sd_seed^2 + sd_noise^2``, and ``mean + c`` for a
continuous one; for the zoo, the same over models too (``s^2 + sd_model^2``, and ``mean``).

For AUROC differences, ``z > 0`` marks an error and two measures score the images: ``a``
sees the image's difficulty as the model sees it (``image + image_model``) through per-run
noise of SD ``sd_score_a``, scaled in each run by ``exp(signal)``, signal ~
N(0, ``sd_run_signal``) (seeds differ in how well the measure works); ``b`` sees only
``image`` through noise ``sd_score_b``.  Their true AUROC difference has no closed form;
:func:`true_auroc_difference` computes it by simulation on many fresh images and runs, with
its Monte Carlo standard error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy.stats import norm

from neuralhull.checks import check_generator
from neuralhull.stats.intervals import weighted_auroc


@dataclass(frozen=True)
class CrossedDesign:
    """Sizes and standard deviations of a simulated zoo (see the module docstring)."""

    n_models: int = 8
    n_seeds: int = 3
    n_images: int = 300
    mean: float = -0.5
    sd_model: float = 0.5
    sd_seed: float = 0.3
    sd_image: float = 1.5
    sd_image_model: float = 0.5
    sd_noise: float = 1.0
    sd_score_a: float = 1.0
    sd_score_b: float = 2.0
    sd_run_signal: float = 0.3

    def with_(self, **changes) -> CrossedDesign:
        return replace(self, **changes)

    @property
    def sd_within_model(self) -> float:
        """SD of z around a model's own mean (images, seeds and noise)."""
        return math.sqrt(
            self.sd_image**2 + self.sd_image_model**2 + self.sd_seed**2 + self.sd_noise**2
        )


def model_terms(rng: np.random.Generator, design: CrossedDesign) -> np.ndarray:
    """``(n_models,)`` draws of the models' terms."""
    return check_generator(rng).normal(0.0, design.sd_model, design.n_models)


def _latent(rng, design: CrossedDesign, models: np.ndarray):
    k, s, n = models.shape[0], design.n_seeds, design.n_images
    image = rng.normal(0.0, design.sd_image, n)
    image_model = rng.normal(0.0, design.sd_image_model, (k, n))
    seed = rng.normal(0.0, design.sd_seed, (k, s))
    noise = rng.normal(0.0, design.sd_noise, (k, s, n))
    z = (
        design.mean
        + models[:, None, None]
        + image[None, None, :]
        + image_model[:, None, :]
        + seed[:, :, None]
        + noise
    )
    return z, image, image_model


def simulate_outcomes(
    rng: np.random.Generator,
    design: CrossedDesign,
    models: np.ndarray | None = None,
    *,
    binary: bool = True,
) -> np.ndarray:
    """Per-image outcomes of every run.

    Parameters
    ----------
    models : (n_models,) float or None
        The models' terms; None draws them (:func:`model_terms`).  Fix them to check a
        per-model interval (the model is then a fixed thing, its seeds and images random).
    binary : bool
        0/1 outcomes (``z > 0``) or the latent z.

    Returns
    -------
    (n_models, n_seeds, n_images) float
    """
    rng = check_generator(rng)
    models = model_terms(rng, design) if models is None else np.asarray(models, dtype=float)
    z, _, _ = _latent(rng, design, models)
    return (z > 0).astype(float) if binary else z


def true_model_mean(design: CrossedDesign, model: float, *, binary: bool = True) -> float:
    """The population mean outcome of a model with term ``model``."""
    if binary:
        return float(norm.cdf((design.mean + model) / design.sd_within_model))
    return design.mean + model


def true_zoo_mean(design: CrossedDesign, *, binary: bool = True) -> float:
    """The population mean outcome over models drawn with SD ``sd_model``."""
    if binary:
        return float(norm.cdf(design.mean / math.hypot(design.sd_within_model, design.sd_model)))
    return design.mean


def simulate_auroc_runs(
    rng: np.random.Generator, design: CrossedDesign, models: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(score_a, score_b, is_error)``, each ``(n_models, n_seeds, n_images)``: two
    measures' scores of every run's test images, and the run's errors."""
    rng = check_generator(rng)
    models = model_terms(rng, design) if models is None else np.asarray(models, dtype=float)
    z, image, image_model = _latent(rng, design, models)
    shape = z.shape
    signal = np.exp(rng.normal(0.0, design.sd_run_signal, shape[:2]))[..., None]
    score_a = signal * (image_model[:, None, :] + image[None, None, :])
    score_a = score_a + rng.normal(0.0, design.sd_score_a, shape)
    score_b = np.broadcast_to(image, shape) + rng.normal(0.0, design.sd_score_b, shape)
    return score_a, score_b, z > 0


def true_auroc_difference(
    rng: np.random.Generator,
    design: CrossedDesign,
    model: float | None = None,
    *,
    n_runs: int = 200,
    n_images: int = 20_000,
) -> tuple[float, float]:
    """Population AUROC(a) - AUROC(b), by simulation: ``(value, Monte Carlo SE)``.

    Each of ``n_runs`` runs gets fresh images (and, when ``model`` is None, a fresh model
    term: the zoo's truth); the value is the mean of their differences on ``n_images``
    images each.
    """
    rng = check_generator(rng)
    big = design.with_(n_models=1, n_seeds=1, n_images=n_images)
    diffs = np.empty(n_runs)
    ones = np.ones((1, n_images))
    for r in range(n_runs):
        c = model_terms(rng, big) if model is None else np.array([model])
        a, b, err = simulate_auroc_runs(rng, big, c)
        diffs[r] = weighted_auroc(a[0, 0], err[0, 0], ones)[0]
        diffs[r] -= weighted_auroc(b[0, 0], err[0, 0], ones)[0]
    return float(diffs.mean()), float(diffs.std(ddof=1) / math.sqrt(n_runs))
