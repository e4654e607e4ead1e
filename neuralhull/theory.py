"""Theory: hull probabilities of random samples and ridgeless double descent.

Two reference results the workflow plots next to its measurements.

1. How likely is a new sample to lie inside the convex hull of N training samples in R^d?
   (Balestriero, Pesenti & LeCun 2021, "Learning in high dimension always amounts to
   extrapolation", Fig. 1.) Exact formulas: Wendel (1962) for the origin and symmetric
   samples, Kabluchko & Zaporozhets (2020) for a Gaussian query against Gaussian samples;
   a Monte-Carlo estimator for any sampler, using :mod:`neuralhull.hull` as the oracle.
2. The test risk of minimum-norm ("ridgeless") least squares as a function of
   gamma = p / n (Hastie, Montanari, Rosset & Tibshirani 2019): the double-descent curve,
   for isotropic Gaussian features and for random ReLU features phi(W z).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import integrate, linalg, optimize, special

__all__ = [
    "CURVE_FREQUENCIES",
    "SAMPLERS",
    "curve_samples",
    "double_descent_table",
    "gaussian_samples",
    "hull_probability_mc",
    "inside_probability_bound",
    "inside_probability_theory",
    "kz_g",
    "kz_outside_probability",
    "low_rank_gaussian_samples",
    "relu_features_risk_theory",
    "ridgeless_risk_finite_n",
    "ridgeless_risk_simulation",
    "ridgeless_risk_theory",
    "wendel_outside_probability",
]

_LOG2 = np.log(2.0)
_SQRT2PI = np.sqrt(2.0 * np.pi)


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _log_binom(n: int, k: np.ndarray) -> np.ndarray:
    return special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)


# ---------------------------------------------------------------------------------------------
# 1. Hull probabilities: exact formulas
# ---------------------------------------------------------------------------------------------


def wendel_outside_probability(N: int, d: int) -> float:
    """Probability that the origin lies outside the convex hull of N random points in R^d.

    Wendel (1962): for X_1, ..., X_N i.i.d. with a distribution symmetric about the origin
    and in general position almost surely,

        P(0 not in conv(X_1, ..., X_N)) = 2^-(N-1) * sum_{k=0}^{d-1} C(N-1, k),

    i.e. P(Binomial(N-1, 1/2) <= d-1). Evaluated in log space (log-sum-exp of log binomial
    coefficients), so it stays finite for large N (it underflows to 0.0 only when the true
    value is below ~1e-308).

    Parameters
    ----------
    N : int
        Number of points, N >= 1. For N <= d the hull has dimension < d and the result is 1.
    d : int
        Dimension, d >= 1.

    Returns
    -------
    float
        The probability, in [0, 1].
    """
    N = _check_int(N, "N", 1)
    d = _check_int(d, "d", 1)
    if N <= d:
        return 1.0
    k = np.arange(d)
    log_p = special.logsumexp(_log_binom(N - 1, k)) - (N - 1) * _LOG2
    return float(min(1.0, np.exp(log_p)))


def _log_g_positive(n: int, r: float) -> tuple[float, float]:
    """log g_n(r) for r > 0 and its relative error estimate.

    g_n(r) = E[Phi(sqrt(r) Z)^n], Z ~ N(0, 1). The log-integrand
    f(x) = n log Phi(sqrt(r) x) - x^2 / 2 is strictly concave (log Phi is concave) with
    f'' <= -1, so exp(f - f_max) <= exp(-(x - x_max)^2 / 2): integrating over
    x_max +- 40 loses less than 1e-300, however large n is.
    """
    sr = np.sqrt(r)

    def slope(x: float) -> float:  # f'(x)
        u = sr * x
        return n * sr * np.exp(-0.5 * u * u - special.log_ndtr(u)) / _SQRT2PI - x

    hi = 1.0
    while slope(hi) > 0:
        hi *= 2.0
    x_max = optimize.brentq(slope, 0.0, hi, xtol=1e-12)
    f_max = n * special.log_ndtr(sr * x_max) - 0.5 * x_max**2

    def integrand(x: float) -> float:
        return np.exp(n * special.log_ndtr(sr * x) - 0.5 * x * x - f_max)

    value, abserr = integrate.quad(
        integrand, x_max - 40.0, x_max + 40.0, points=[x_max], limit=200, epsabs=0.0, epsrel=1e-12
    )
    return float(f_max + np.log(value / _SQRT2PI)), float(abserr / value)


def _g_negative(n: int, r: float) -> tuple[float, float]:
    """g_n(r) for -1/n < r < 0 and an absolute error bound; see :func:`kz_g`."""
    c = np.sqrt(-r)
    # The integrand decays like exp(-(1 - n c^2) x^2 / 2) up to polynomial factors.
    upper = np.sqrt(2.0 * 120.0 / (1.0 - n * c * c)) + 10.0

    def half_line_integrals(panels: int) -> tuple[float, float]:
        # Composite 20-point Gauss-Legendre on [0, upper]: signed and absolute integrals.
        nodes, weights = np.polynomial.legendre.leggauss(20)
        edges = np.linspace(0.0, upper, panels + 1)
        half = 0.5 * np.diff(edges)
        x = ((edges[:-1] + half)[:, None] + half[:, None] * nodes).ravel()
        w = (half[:, None] * weights).ravel()
        # a = erfi(z) with z = c x / sqrt 2, as (2 / sqrt pi) exp(z^2) D(z), D = Dawson's.
        z = c * x / np.sqrt(2.0)
        log_a = np.log(2.0 / np.sqrt(np.pi)) + z * z + np.log(special.dawsn(z))
        angle = np.where(
            log_a <= 0.0,
            np.arctan(np.exp(np.minimum(log_a, 0.0))),
            0.5 * np.pi - np.arctan(np.exp(-np.maximum(log_a, 0.0))),
        )
        weight = np.exp(0.5 * n * np.logaddexp(0.0, 2.0 * log_a) - 0.5 * x * x - n * _LOG2)
        values = weight * np.cos(n * angle)
        return float(w @ values), float(w @ np.abs(values))

    coarse, _ = half_line_integrals(200)
    fine, total = half_line_integrals(400)
    # Even integrand: twice the half line; divide by sqrt(2 pi) for the Gaussian density.
    g = 2.0 * fine / _SQRT2PI
    error = 2.0 * (abs(fine - coarse) + 64.0 * np.finfo(float).eps * total) / _SQRT2PI
    return float(g), float(error)


def kz_g(n: int, r: float, *, return_error: bool = False):
    """The function g_n(r) of Kabluchko & Zaporozhets (2020).

    Definition: g_n(r) = (2 pi)^-1/2 Int Phi^n(sqrt(r) x) exp(-x^2 / 2) dx, for r >= 0 and,
    with sqrt(r) = i sqrt(-r) and Phi continued analytically, for -1/n < r < 0.

    Probabilistic meaning: g_n(r) = P(Y_1 <= 0, ..., Y_n <= 0) for standard Gaussians Y_i with
    common correlation rho = r / (1 + r). For r >= 0 this is Y_i ~ Z_i - sqrt(r) X scaled; for
    r < 0 (rho in (-1/(n-1), 0)) both sides are analytic in r, so the identity persists; the
    tests check it against the closed forms for n = 2, 3 (1/4 + arcsin(rho) / (2 pi),
    1/8 + 3 arcsin(rho) / (4 pi)) and against Genz's algorithm for larger n.

    Evaluation.

    * r = 0: g_n(0) = 2^-n exactly.
    * r > 0: the integrand is positive and log-concave; integrated around its maximum in log
      space (stable for n in the tens of thousands).
    * r < 0: with c = sqrt(-r), Phi(i c x) = 1/2 + (i/2) erfi(c x / sqrt 2), so the integrand
      is 2^-n (1 + i a)^n phi(x) with a(x) = erfi(c x / sqrt 2), an odd real function. The
      imaginary part of (1 + i a)^n = (1 + a^2)^(n/2) exp(i n arctan a) is odd in x and
      integrates to zero, which leaves the real representation

          g_n(r) = 2 Int_0^inf 2^-n (1 + a^2)^(n/2) cos(n arctan a) phi(x) dx.

      For large x, (1 + a^2)^(n/2) ~ exp(n c^2 x^2 / 2) / poly(x), so the integral converges
      exactly when n c^2 < 1, i.e. r > -1/n. erfi is computed as (2 / sqrt pi) e^{z^2} D(z)
      with Dawson's D, in log space. The integrand oscillates in sign; the error bound adds
      the quadrature estimate and 64 eps * Int |integrand| (cancellation). It is reliable for
      the small n (= k <= d - 1) where the KZ formula needs negative r; for large n with r
      near -1/n the cancellation grows and the reported error says so.

    Parameters
    ----------
    n : int
        n >= 0 (g_0 = 1).
    r : float
        r > -1/n (any r for n = 0).
    return_error : bool
        Also return an absolute error bound.

    Returns
    -------
    float, or (float, float)
        g_n(r), optionally with its absolute error bound.
    """
    n = _check_int(n, "n", 0)
    r = float(r)
    if not np.isfinite(r):
        raise ValueError(f"r must be finite, got {r}")
    if n == 0:
        value, error = 1.0, 0.0
    elif r == 0.0:
        value, error = 2.0**-n, 0.0
    elif r > 0.0:
        log_g, rel = _log_g_positive(n, r)
        value = float(np.exp(log_g))
        error = value * rel
    else:
        if n * r <= -1.0:
            raise ValueError(f"g_n(r) needs r > -1/n; got n={n}, r={r}")
        value, error = _g_negative(n, r)
    return (value, error) if return_error else value


def kz_outside_probability(
    N: int, d: int, s: float, *, rtol: float = 1e-6, return_error: bool = False
):
    """P(a Gaussian query lies outside the hull of N Gaussian samples in R^d).

    Kabluchko & Zaporozhets (2020, "Absorption probabilities for Gaussian polytopes and
    regular spherical simplices"): for X_1, ..., X_N i.i.d. N(0, I_d), N >= d + 1, and an
    independent x ~ N(0, s^2 I_d),

        P(x not in conv(X_1, ..., X_N)) = 2 (b_{N,d-1} + b_{N,d-3} + ...),
        b_{n,k} = C(n, k) g_k(-s^2 / (1 + k s^2)) g_{n-k}(s^2 / (1 + k s^2)),

    with g from :func:`kz_g` (the sum runs over k = d-1, d-3, ... >= 0). Each b is computed
    in log space (C(N, k) and g_{N-k} are huge and tiny for large N). All terms are
    non-negative, so the sum has no cancellation.

    s = 0 gives Wendel's formula (Pascal's rule turns sum_{k = d-1, d-3, ...} C(N, k) into
    sum_{k <= d-1} C(N-1, k)). s = 1 is a new sample from the same distribution:
    P(inside) = 1 - kz_outside_probability(N, d, 1).

    Parameters
    ----------
    N : int
        Number of samples, N >= 1. For N <= d the hull is lower-dimensional and the result
        is 1.
    d : int
        Dimension, d >= 1.
    s : float
        Standard deviation of the query, s >= 0.
    rtol : float
        If the propagated error bound exceeds ``rtol`` times the result (only possible
        through cancellation in g_k at negative argument: large d together with large s),
        the result is NaN and a RuntimeWarning names the bound, instead of a wrong number.
    return_error : bool
        Also return the absolute error bound.

    Returns
    -------
    float, or (float, float)
        The probability, optionally with its absolute error bound.
    """
    N = _check_int(N, "N", 1)
    d = _check_int(d, "d", 1)
    s = float(s)
    if not np.isfinite(s) or s < 0:
        raise ValueError(f"s must be a finite number >= 0, got {s}")
    if N <= d:
        return (1.0, 0.0) if return_error else 1.0
    s2 = s * s
    total = 0.0
    error = 0.0
    for k in range(d - 1, -1, -2):
        r = s2 / (1.0 + k * s2)
        g_neg, g_neg_err = kz_g(k, -r, return_error=True)
        if r == 0.0:
            log_g_pos, rel_pos = -(N - k) * _LOG2, 0.0
        else:
            log_g_pos, rel_pos = _log_g_positive(N - k, r)
        log_scale = _log_binom(N, np.array(k)) + log_g_pos
        scale = float(np.exp(log_scale))
        term = 2.0 * scale * g_neg
        total += term
        error += 2.0 * scale * g_neg_err + abs(term) * rel_pos
    if error > rtol * abs(total):
        warnings.warn(
            f"kz_outside_probability(N={N}, d={d}, s={s}): error bound {error:.2e} exceeds "
            f"rtol * value ({rtol:g} * {total:.3e}); returning NaN",
            RuntimeWarning,
            stacklevel=2,
        )
        total = float("nan")
    else:
        total = min(1.0, max(0.0, total))
    return (total, error) if return_error else total


# ---------------------------------------------------------------------------------------------
# 1. Hull probabilities: samplers and Monte Carlo
# ---------------------------------------------------------------------------------------------


def gaussian_samples(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """n i.i.d. samples of N(0, I_d).

    Returns
    -------
    samples : (n, d) float
    """
    n = _check_int(n, "n", 0)
    d = _check_int(d, "d", 1)
    return rng.standard_normal((n, d))


CURVE_FREQUENCIES = (4.0, 24.0)
"""Default range (low, high) of the curve's frequencies (see :func:`curve_samples`)."""


def _curve_parameters(
    d: int, curve_seed: int, frequencies: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    low, high = (float(f) for f in frequencies)
    if not (np.isfinite(low) and np.isfinite(high) and 0.0 < low < high):
        raise ValueError(
            f"curve frequencies must be (low, high) with 0 < low < high, got {frequencies!r}"
        )
    # Separate streams for frequencies and phases, so the curve in R^d is the first d
    # coordinates of the curve in any higher dimension.
    omega = np.random.default_rng([curve_seed, 0]).uniform(low, high, size=d)
    phases = np.random.default_rng([curve_seed, 1]).uniform(0.0, 2.0 * np.pi, size=d)
    return omega, phases


def curve_samples(
    n: int,
    d: int,
    rng: np.random.Generator,
    *,
    curve_seed: int = 0,
    frequencies: Sequence[float] = CURVE_FREQUENCIES,
) -> np.ndarray:
    """n samples on a fixed one-dimensional curve in R^d (intrinsic dimension 1).

    x_j = cos(w_j t + phi_j), j = 1..d, with t ~ Uniform(0, 2 pi) drawn from ``rng`` and
    frequencies w_j ~ Uniform(low, high) (``frequencies = (low, high)``, default
    :data:`CURVE_FREQUENCIES` = (4, 24)), phases phi_j ~ Uniform(0, 2 pi), both fixed by
    ``curve_seed``. Distinct frequencies make the cosines and the constant affinely
    independent functions, so the hull is full-dimensional although the data are a curve.
    Slow curves (a trigonometric moment curve, or frequencies around 1) are in or near
    convex position, so new samples essentially never fall inside their hull for d >= 4;
    with several oscillations per coordinate the curve winds through its hull and the
    probability is measurable on the workflow's grid (d = 2..8, N up to 10^4). The curve in
    R^d is a coordinate projection of the curve in any higher dimension (same seed and
    frequency range).

    Returns
    -------
    samples : (n, d) float
    """
    n = _check_int(n, "n", 0)
    d = _check_int(d, "d", 1)
    curve_seed = _check_int(curve_seed, "curve_seed", 0)
    omega, phases = _curve_parameters(d, curve_seed, frequencies)
    t = rng.uniform(0.0, 2.0 * np.pi, size=n)
    return np.cos(np.outer(t, omega) + phases)


def low_rank_gaussian_samples(
    n: int, d: int, rng: np.random.Generator, rank: int = 4, map_seed: int = 0
) -> np.ndarray:
    """n samples of a rank-dimensional standard Gaussian through a fixed linear map to R^d.

    x = z A with z ~ N(0, I_rank) from ``rng`` and A: (rank, d) with i.i.d. N(0, 1 / rank)
    entries fixed by (map_seed, rank, d). For d >= rank the samples span a rank-dimensional
    subspace; hull membership is invariant under the injective map, so the probability that a
    new sample lies in the hull equals that of N(0, I_rank) in R^rank, whatever d. For
    d < rank the samples are a full-rank Gaussian in R^d (affinely equivalent to N(0, I_d)),
    so the probability does move with d there; the workflow's grid leaves those cells out
    (:func:`neuralhull.theory_experiments.hull_probability_table`).

    Returns
    -------
    samples : (n, d) float
    """
    n = _check_int(n, "n", 0)
    d = _check_int(d, "d", 1)
    rank = _check_int(rank, "rank", 1)
    map_seed = _check_int(map_seed, "map_seed", 0)
    linear_map = np.random.default_rng([map_seed, rank, d]).standard_normal((rank, d))
    linear_map /= np.sqrt(rank)
    return rng.standard_normal((n, rank)) @ linear_map


SAMPLERS: dict[str, Callable[[int, int, np.random.Generator], np.ndarray]] = {
    "gaussian": gaussian_samples,
    "curve": curve_samples,
    "low-rank-gaussian": low_rank_gaussian_samples,
}
"""Sample kinds by name (Balestriero et al. 2021, Fig. 1): sampler(n, d, rng) -> (n, d)."""


def inside_probability_bound(N: int) -> float:
    """``(N - 1) / (N + 1)``: an upper bound on P(a new sample lies inside the hull of N
    samples) for any distribution in any dimension whose first coordinate is continuous.

    Inside the hull implies inside the range of the first coordinate, and for N + 1
    exchangeable samples without ties the new one is the smallest or the largest with
    probability ``2 / (N + 1)``. In d = 1 the bound is the exact probability.
    """
    N = _check_int(N, "N", 1)
    return (N - 1) / (N + 1)


def inside_probability_theory(kind: str, N: int, d: int, *, rank: int = 4) -> float:
    """Exact P(a new sample lies inside the hull of N samples), where a theorem gives it.

    ``"gaussian"``: 1 - KZ(N, d, s=1). ``"low-rank-gaussian"``: 1 - KZ(N, min(d, rank), 1)
    (see :func:`low_rank_gaussian_samples`; independent of d only for d >= rank).
    ``"curve"``: in d = 1 its coordinate ``cos(w t + phi)`` has a continuous distribution,
    so the probability is exactly ``(N - 1) / (N + 1)`` (:func:`inside_probability_bound`);
    in d >= 2 no closed form is known for this curve: NaN (the bound still holds).
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
    N = _check_int(N, "N", 1)
    d = _check_int(d, "d", 1)
    trials = _check_int(trials, "trials", 2)
    queries_per_set = _check_int(queries_per_set, "queries_per_set", 1)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if membership is None:
        membership = _default_membership
    fractions = np.empty(trials)
    for t in range(trials):
        samples = np.asarray(sampler(N + queries_per_set, d, rng), dtype=float)
        if samples.shape != (N + queries_per_set, d):
            raise ValueError(
                f"sampler returned shape {samples.shape}, expected {(N + queries_per_set, d)}"
            )
        inside = np.asarray(membership(samples[:N], query_scale * samples[N:]), dtype=bool)
        if inside.shape != (queries_per_set,):
            raise ValueError(
                f"membership returned shape {inside.shape}, expected {(queries_per_set,)}"
            )
        fractions[t] = inside.mean()
    p_inside = float(fractions.mean())
    stderr = float(fractions.std(ddof=1) / np.sqrt(trials))
    return p_inside, stderr


# ---------------------------------------------------------------------------------------------
# 2. Ridgeless least squares (Hastie, Montanari, Rosset & Tibshirani 2019)
# ---------------------------------------------------------------------------------------------


def ridgeless_risk_theory(gamma, r2: float, sigma2: float):
    """Asymptotic excess test risk of min-norm least squares, isotropic features.

    Hastie et al. (2019), Theorem 1 (isotropic Gaussian features, ||beta||^2 = r^2, noise
    variance sigma^2, n, p -> inf with p / n -> gamma):

        R(gamma) = sigma^2 gamma / (1 - gamma)                          gamma < 1
                 = r^2 (1 - 1/gamma) + sigma^2 / (gamma - 1)            gamma > 1
                 = inf                                                  gamma = 1

    R = E[(x^T (beta_hat - beta))^2] for a fresh x: the excess risk, without the irreducible
    noise sigma^2 of a test label.

    Parameters
    ----------
    gamma : float or (k,) float
        Over-parametrisation ratio p / n, > 0.
    r2, sigma2 : float
        Signal strength ||beta||^2 >= 0 and noise variance >= 0.

    Returns
    -------
    float or (k,) float
    """
    g = np.asarray(gamma, dtype=float)
    if np.any(~np.isfinite(g)) or np.any(g <= 0):
        raise ValueError(f"gamma must be finite and > 0, got {gamma!r}")
    if r2 < 0 or sigma2 < 0:
        raise ValueError(f"r2 and sigma2 must be >= 0, got r2={r2}, sigma2={sigma2}")
    with np.errstate(divide="ignore", invalid="ignore"):
        under = sigma2 * g / (1.0 - g)
        over = r2 * (1.0 - 1.0 / g) + sigma2 / (g - 1.0)
    risk = np.where(g < 1.0, under, np.where(g > 1.0, over, np.inf))
    return float(risk) if risk.ndim == 0 else risk


def ridgeless_risk_finite_n(n: int, p: int, r2: float, sigma2: float) -> float:
    """Exact expected excess risk of min-norm least squares at finite n, isotropic features.

    For X with i.i.d. N(0, 1) entries (n x p), y = X beta + eps, eps ~ N(0, sigma^2 I_n),
    ||beta||^2 = r^2 (any fixed beta, or beta uniform on that sphere) and
    beta_hat = pinv(X) y, the expectation over X and eps of ||beta_hat - beta||^2 is

        sigma^2 p / (n - p - 1)                                   p < n - 1
        r^2 (p - n) / p + sigma^2 n / (p - n - 1)                 p > n + 1
        inf                                                       n - 1 <= p <= n + 1

    Under-parametrised: beta_hat - beta = (X^T X)^-1 X^T eps, whose expected squared norm is
    sigma^2 E tr (X^T X)^-1 = sigma^2 p / (n - p - 1) (mean of an inverse Wishart).
    Over-parametrised: the bias is beta's component outside the row space of X, a uniformly
    random n-dimensional subspace, E = r^2 (p - n) / p; the variance is
    sigma^2 E tr (X X^T)^-1 = sigma^2 n / (p - n - 1). For n - 1 <= p <= n + 1 the inverse
    Wishart has no mean and the expected risk is infinite. As n, p -> inf with p / n ->
    gamma this tends to :func:`ridgeless_risk_theory`. It is what a finite simulation
    (:func:`ridgeless_risk_simulation`, ``features="isotropic"``) estimates without bias.

    Parameters
    ----------
    n, p : int
        Training samples and features (>= 1).
    r2, sigma2 : float
        Signal strength ||beta||^2 >= 0 and noise variance >= 0.

    Returns
    -------
    float
        The expected excess risk (inf where it diverges).
    """
    n = _check_int(n, "n", 1)
    p = _check_int(p, "p", 1)
    if r2 < 0 or sigma2 < 0:
        raise ValueError(f"r2 and sigma2 must be >= 0, got r2={r2}, sigma2={sigma2}")
    if p < n - 1:
        return float(sigma2 * p / (n - p - 1))
    if p > n + 1:
        return float(r2 * (p - n) / p + sigma2 * n / (p - n - 1))
    return float("inf")


RELU_MU0 = 1.0 / np.sqrt(2.0 * np.pi)
"""E relu(G) for G ~ N(0, 1)."""
RELU_MU1 = 0.5
"""E[G relu(G)] for G ~ N(0, 1): the linear part of relu in the Hermite expansion."""
RELU_MU_STAR2 = 0.25 - 1.0 / (2.0 * np.pi)
"""E relu(G)^2 - mu0^2 - mu1^2 = 1/2 - 1/(2 pi) - 1/4: the variance of relu's nonlinear part."""


@functools.lru_cache(maxsize=4)
def _legendre(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(nodes)


def _marchenko_pastur_nodes(ratio: float, nodes: int = 400) -> tuple[np.ndarray, np.ndarray]:
    # Quadrature for E f(lambda), lambda ~ Marchenko-Pastur with aspect ratio c = ratio <= 1
    # and unit variance (the law of the eigenvalues of G^T G / M, G: M x m standard Gaussian,
    # c = m / M): density sqrt((b - x)(x - a)) / (2 pi c x) on [a, b], a, b = (1 -+ sqrt c)^2.
    # With x = (a + b)/2 + (b - a)/2 cos t the square root cancels against dx and the
    # integrand is smooth on t in [0, pi], also for c = 1 where a = 0 (sin^2 t / x stays
    # bounded), so Gauss-Legendre in t converges fast. Weights sum to 1 (tested).
    c = float(ratio)
    a, b = (1.0 - np.sqrt(c)) ** 2, (1.0 + np.sqrt(c)) ** 2
    u, w = _legendre(nodes)  # the same nodes for every ratio: computed once
    t = 0.5 * np.pi * (u + 1.0)
    x = 0.5 * (a + b) + 0.5 * (b - a) * np.cos(t)
    weights = 0.5 * np.pi * w * (b - a) ** 2 * np.sin(t) ** 2 / (8.0 * np.pi * c * x)
    return x, weights


def relu_features_risk_theory(
    gamma,
    psi: float,
    r2: float,
    sigma2: float,
    *,
    mu1: float = RELU_MU1,
    mu_star2: float = RELU_MU_STAR2,
):
    """Asymptotic excess risk of min-norm least squares on random ReLU features.

    The model of :func:`ridgeless_risk_simulation` with ``features="relu"``: z ~ N(0, I_d),
    features x = phi(W z) with W (p x d) i.i.d. N(0, 1/d), target y = z^T theta + eps with
    ||theta||^2 = r2 and eps ~ N(0, sigma2); n, p, d -> inf with p / n -> gamma and
    d / n -> psi. This is the nonlinear model of Hastie, Montanari, Rosset & Tibshirani
    (2019, Sec. 5; the random-features model of Mei & Montanari 2019). The risk is
    E[(x^T beta_hat - z^T theta)^2] for a fresh z, without the test label's noise.

    How it is computed (each step a theorem of those papers or of random-matrix theory):

    1. Gaussian equivalence: in the limit the risk equals that of the features
       x = mu0 1 + mu1 W z + mu_star g, g ~ N(0, I_p) independent of z, with the activation's
       constants mu0 = E phi(G), mu1 = E[G phi(G)], mu_star^2 = E phi(G)^2 - mu0^2 - mu1^2.
       For phi = relu: mu0 = 1/sqrt(2 pi) (a single spike along 1, which does not change
       the limit), mu1 = 1/2, mu_star^2 = 1/4 - 1/(2 pi) (about 0.0908).
    2. Given W, (x, y) is then a Gaussian linear model with second-moment matrix
       Sigma = mu1^2 W W^T + mu_star^2 I, best linear coefficients
       theta_x = Sigma^-1 mu1 W theta, an approximation error A = r2 - theta_x^T Sigma theta_x
       the features cannot explain, and noise sigma_e^2 = sigma2 + A independent of x.
    3. Min-norm least squares with general covariance (Hastie et al. 2019, Sec. 3, the
       ridgeless limit of the ridge deterministic equivalent): for gamma < 1 the excess over
       the best linear predictor is sigma_e^2 gamma / (1 - gamma); for gamma > 1, with
       kappa > 0 the root of the fixed-point equation (1/n) tr Sigma (Sigma + kappa)^-1 = 1
       and D = (1/n) tr Sigma^2 (Sigma + kappa)^-2,
           bias = kappa^2 theta_x^T Sigma (Sigma + kappa)^-2 theta_x / (1 - D),
           variance = sigma_e^2 D / (1 - D).
       The risk is A + bias + variance.
    4. The spectrum of W^T W: its min(p, d) non-zero eigenvalues follow the Marchenko-Pastur
       law of aspect min(p, d) / max(p, d), scaled by max(p, d) / d; theta's weight spreads
       evenly over W's right singular vectors. Every trace is an integral against that law
       (Gauss-Legendre quadrature) and kappa is found by bracketing root search.

    Reductions (tested): with mu1 = 0 the features carry no signal and the risk is
    r2 + the isotropic risk of :func:`ridgeless_risk_theory` with signal 0 and noise
    sigma2 + r2; as psi -> 0 (a latent dimension small against n) the signal is learnt
    exactly and the risk tends to the isotropic risk with signal 0 and noise sigma2; with a
    linear activation (mu_star = 0) it is the linear model of covariance mu1^2 W W^T. The
    result agrees to 1e-9 with the ridgeless closed form of Mei & Montanari (2019,
    Theorem 3: psi1 = p / d, psi2 = n / d, zeta = mu1 / mu_star), reached by another route,
    and with simulation at n = 1,000 (both tested). At small n the simulated risk lies
    above it at large gamma (n = 200, gamma = 5: 0.68 against 0.54; n = 1,600: 0.56), a
    finite-size effect.

    Parameters
    ----------
    gamma : float or (k,) float
        p / n, > 0.
    psi : float
        d / n, > 0.
    r2, sigma2 : float
        ||theta||^2 >= 0 and the noise variance >= 0.
    mu1, mu_star2 : float
        The activation's linear coefficient and nonlinear variance (relu's by default).

    Returns
    -------
    float or (k,) float
        The asymptotic excess risk (inf at gamma = 1).
    """
    g = np.asarray(gamma, dtype=float)
    if np.any(~np.isfinite(g)) or np.any(g <= 0):
        raise ValueError(f"gamma must be finite and > 0, got {gamma!r}")
    if not (np.isfinite(psi) and psi > 0):
        raise ValueError(f"psi must be finite and > 0, got {psi!r}")
    if r2 < 0 or sigma2 < 0 or mu1 < 0 or mu_star2 < 0:
        raise ValueError("r2, sigma2, mu1 and mu_star2 must be >= 0")
    if mu1 == 0 and mu_star2 == 0:
        raise ValueError("mu1 and mu_star2 are both 0: the features are constant")
    risk = np.array(
        [_relu_risk_one(float(x), float(psi), r2, sigma2, mu1, mu_star2) for x in g.ravel()]
    )
    risk = risk.reshape(g.shape)
    return float(risk) if risk.ndim == 0 else risk


def _relu_risk_one(gamma, psi, r2, sigma2, mu1, mu_star2) -> float:
    # All traces per n. Eigenvalues of Sigma: s_j = mu1^2 lambda_j + mu_star^2 on the
    # m = min(p, d) directions W spans (lambda_j those of W^T W), mu_star^2 on the other
    # p - m. theta's weight per spanned direction is r2 / d.
    m = min(gamma, psi)  # m / n
    big = max(gamma, psi)
    lam, w = _marchenko_pastur_nodes(m / big)
    lam = lam * big / psi  # eigenvalues of W^T W = (1/d) G^T G
    s = mu1**2 * lam + mu_star2
    signal = mu1**2 * lam  # mu1^2 lambda_j: (theta_x's weight) * s_j^2 / (r2 / d)
    # (p - m) / n directions with eigenvalue mu_star^2 and no signal (null for a linear
    # activation, mu_star = 0)
    rest = gamma - m if mu_star2 > 0 else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        explained = r2 * (m / psi) * np.sum(w * np.where(s > 0, signal / s, 0.0))
    approx = max(r2 - explained, 0.0)
    noise = sigma2 + approx
    rank = m * np.sum(w * (s > 0)) + rest  # rank(Sigma) / n
    if abs(rank - 1.0) < 1e-12:
        return float("inf")
    if rank < 1.0:
        return float(approx + noise * rank / (1.0 - rank))

    def excess_rank(kappa: float) -> float:
        spanned = m * np.sum(w * np.where(s > 0, s / (s + kappa), 0.0))
        return spanned + (rest * mu_star2 / (mu_star2 + kappa) if rest else 0.0) - 1.0

    hi = 1.0
    while excess_rank(hi) > 0:
        hi *= 4.0
    kappa = optimize.brentq(excess_rank, 0.0, hi, xtol=1e-14, rtol=1e-13, maxiter=500)
    d2 = m * np.sum(w * (s / (s + kappa)) ** 2)
    if rest:
        d2 += rest * (mu_star2 / (mu_star2 + kappa)) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = r2 * (m / psi) * np.sum(w * np.where(s > 0, signal / (s * (s + kappa) ** 2), 0.0))
    bias = kappa**2 * weight / (1.0 - d2)
    variance = noise * d2 / (1.0 - d2)
    return float(approx + bias + variance)


def _min_norm_least_squares(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    # pinv(X) y through a complete orthogonal decomposition (LAPACK gelsy): the minimum-norm
    # least-squares solution, rank-revealing near gamma = 1, ~4x faster than the SVD (gelsd).
    return linalg.lstsq(X, y, lapack_driver="gelsy")[0]


def _unit_direction(p: int, rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal(p)
    return v / np.linalg.norm(v)


def ridgeless_risk_simulation(
    n: int,
    p: int,
    r2: float,
    sigma2: float,
    rng: np.random.Generator,
    *,
    n_test: int = 2000,
    features: str = "isotropic",
    n_latent: int | None = None,
) -> float:
    """Excess test risk of min-norm least squares on one simulated data set.

    beta_hat = pinv(X) y, the minimum-norm least-squares solution (LAPACK ``gelsy``).

    ``features="isotropic"``: rows of X i.i.d. N(0, I_p), beta uniform on the sphere of
    radius sqrt(r2), y = X beta + eps, eps ~ N(0, sigma2). The risk is computed exactly as
    ||beta_hat - beta||^2 = E_x[(x^T (beta_hat - beta))^2] (no test sample needed); this is
    the quantity :func:`ridgeless_risk_theory` describes asymptotically and
    :func:`ridgeless_risk_finite_n` gives exactly in expectation.

    ``features="relu"``: a random-features model. Latent z ~ N(0, I_{n_latent}), features
    x = relu(W z) with W: (p, n_latent) i.i.d. N(0, 1 / n_latent) drawn once per call,
    target y = z^T theta + eps with ||theta||^2 = r2. The risk is the mean over ``n_test``
    fresh samples of (x^T beta_hat - z^T theta)^2 (again without the label noise); its
    limit is :func:`relu_features_risk_theory` at psi = n_latent / n. ``n_latent``
    defaults to n // 4.

    Parameters
    ----------
    n, p : int
        Training samples and features (>= 1).
    r2, sigma2 : float
        Signal strength and noise variance (>= 0).
    rng : numpy.random.Generator
    n_test : int
        Test samples for the relu model (unused for isotropic features).
    features : {"isotropic", "relu"}
    n_latent : int, optional
        Latent dimension of the relu model.

    Returns
    -------
    float
        The excess test risk.
    """
    n = _check_int(n, "n", 1)
    p = _check_int(p, "p", 1)
    if r2 < 0 or sigma2 < 0:
        raise ValueError(f"r2 and sigma2 must be >= 0, got r2={r2}, sigma2={sigma2}")
    if features == "isotropic":
        beta = np.sqrt(r2) * _unit_direction(p, rng)
        X = rng.standard_normal((n, p))
        y = X @ beta + np.sqrt(sigma2) * rng.standard_normal(n)
        beta_hat = _min_norm_least_squares(X, y)
        return float(np.sum((beta_hat - beta) ** 2))
    if features == "relu":
        n_latent = max(1, n // 4) if n_latent is None else _check_int(n_latent, "n_latent", 1)
        n_test = _check_int(n_test, "n_test", 1)
        theta = np.sqrt(r2) * _unit_direction(n_latent, rng)
        W = rng.standard_normal((p, n_latent)) / np.sqrt(n_latent)
        Z = rng.standard_normal((n, n_latent))
        y = Z @ theta + np.sqrt(sigma2) * rng.standard_normal(n)
        beta_hat = _min_norm_least_squares(np.maximum(Z @ W.T, 0.0), y)
        Z_test = rng.standard_normal((n_test, n_latent))
        residual = np.maximum(Z_test @ W.T, 0.0) @ beta_hat - Z_test @ theta
        return float(np.mean(residual**2))
    raise ValueError(f"features must be 'isotropic' or 'relu', got {features!r}")


def double_descent_table(
    n: int,
    gammas: Sequence[float],
    snrs: Sequence[float],
    seeds: Sequence[int],
    *,
    models: Sequence[str] = ("isotropic", "relu"),
    sigma2: float = 1.0,
    n_test: int = 2000,
    n_latent: int | None = None,
) -> pd.DataFrame:
    """Simulated and theoretical ridgeless risk over a grid of gamma, SNR, seed and model.

    For each cell p = round(gamma * n) (at least 1), r2 = snr * sigma2, and the data come
    from ``numpy.random.default_rng([seed, model index, gamma index, snr index])``, so every
    cell is reproducible on its own and independent of the others.

    Returns
    -------
    pandas.DataFrame
        One row per (model, gamma, snr, seed), columns ``model, gamma, snr, r2, sigma2,
        seed, n, p, n_latent, risk, theory, theory_finite_n`` (``n_latent`` NaN for
        isotropic features). ``gamma`` is the realised p / n;
        ``theory`` is the asymptotic risk :func:`ridgeless_risk_theory` at that gamma and
        ``theory_finite_n`` the exact expected risk at this (n, p),
        :func:`ridgeless_risk_finite_n` (inf for n - 1 <= p <= n + 1, where it diverges),
        both for the isotropic model. For relu, ``theory`` is
        :func:`relu_features_risk_theory` at (p / n, n_latent / n) and ``theory_finite_n``
        is NaN (no exact finite-n value is known).
    """
    n = _check_int(n, "n", 1)
    for model in models:
        if model not in ("isotropic", "relu"):
            raise ValueError(f"unknown model {model!r}; expected 'isotropic' or 'relu'")
    if any(s < 0 for s in snrs):
        raise ValueError(f"snrs must be >= 0, got {list(snrs)}")
    rows = []
    for i_model, model in enumerate(models):
        for i_gamma, gamma in enumerate(gammas):
            if not gamma > 0:
                raise ValueError(f"gammas must be > 0, got {gamma}")
            p = max(1, round(gamma * n))
            for i_snr, snr in enumerate(snrs):
                r2 = float(snr) * sigma2
                for seed in seeds:
                    rng = np.random.default_rng([int(seed), i_model, i_gamma, i_snr])
                    risk = ridgeless_risk_simulation(
                        n, p, r2, sigma2, rng, n_test=n_test, features=model, n_latent=n_latent
                    )
                    if model == "isotropic":
                        theory = ridgeless_risk_theory(p / n, r2, sigma2)
                        finite_n = ridgeless_risk_finite_n(n, p, r2, sigma2)
                        latent = float("nan")
                    else:
                        latent = max(1, n // 4) if n_latent is None else int(n_latent)
                        theory = relu_features_risk_theory(p / n, latent / n, r2, sigma2)
                        finite_n = float("nan")
                    rows.append(
                        dict(
                            model=model,
                            gamma=p / n,
                            snr=float(snr),
                            r2=r2,
                            sigma2=float(sigma2),
                            seed=int(seed),
                            n=n,
                            p=p,
                            n_latent=latent,
                            risk=risk,
                            theory=theory,
                            theory_finite_n=finite_n,
                        )
                    )
    return pd.DataFrame(rows)
