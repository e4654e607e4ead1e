"""Closed-form results: hull probabilities of random samples and the ridgeless risk.

1. How likely is a new sample to lie inside the convex hull of N training samples in R^d?
   (Balestriero, Pesenti & LeCun 2021, "Learning in high dimension always amounts to
   extrapolation", Fig. 1.) Exact formulas: Wendel (1962) for the origin and symmetric
   samples, Kabluchko & Zaporozhets (2020) for a Gaussian query against Gaussian samples,
   and a bound for any continuous distribution.
2. The test risk of minimum-norm ("ridgeless") least squares as a function of
   gamma = p / n (Hastie, Montanari, Rosset & Tibshirani 2019): the double-descent curve,
   for isotropic Gaussian features and for random ReLU features phi(W z).
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
from scipy import integrate, optimize, special

from neuralhull.checks import check_count, check_positive

__all__ = [
    "RELU_MU0",
    "RELU_MU1",
    "RELU_MU_STAR2",
    "inside_probability_bound",
    "kz_g",
    "kz_outside_probability",
    "relu_features_risk_theory",
    "ridgeless_risk_finite_n",
    "ridgeless_risk_theory",
    "wendel_outside_probability",
]


_LOG2 = np.log(2.0)


_SQRT2PI = np.sqrt(2.0 * np.pi)


def _log_binom(n: int, k: np.ndarray) -> np.ndarray:
    return special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)


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
    N = check_count(N, "N", 1)
    d = check_count(d, "d", 1)
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
    n = check_count(n, "n", 0)
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
    N = check_count(N, "N", 1)
    d = check_count(d, "d", 1)
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


def inside_probability_bound(N: int) -> float:
    """``(N - 1) / (N + 1)``: an upper bound on P(a new sample lies inside the hull of N
    samples) for any distribution in any dimension whose first coordinate is continuous.

    Inside the hull implies inside the range of the first coordinate, and for N + 1
    exchangeable samples without ties the new one is the smallest or the largest with
    probability ``2 / (N + 1)``. In d = 1 the bound is the exact probability.
    """
    N = check_count(N, "N", 1)
    return (N - 1) / (N + 1)


def _checked_gamma(gamma) -> np.ndarray:
    return np.asarray(check_positive(gamma, "gamma"))


def _check_variances(r2, sigma2) -> None:
    """The signal's and the noise's variances: finite and >= 0."""
    check_positive(r2, "r2", zero=True)
    check_positive(sigma2, "sigma2", zero=True)


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
    g = _checked_gamma(gamma)
    _check_variances(r2, sigma2)
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
    (:func:`~neuralhull.theory.double_descent.ridgeless_risk_simulation`,
    ``features="isotropic"``) estimates without bias.

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
    n = check_count(n, "n", 1)
    p = check_count(p, "p", 1)
    _check_variances(r2, sigma2)
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

    The model of :func:`~neuralhull.theory.double_descent.ridgeless_risk_simulation` with
    ``features="relu"``: z ~ N(0, I_d), features x = phi(W z) with W (p x d) i.i.d.
    N(0, 1/d), target y = z^T theta + eps with ||theta||^2 = r2 and eps ~ N(0, sigma2);
    n, p, d -> inf with p / n -> gamma and d / n -> psi. This is the nonlinear model of
    Hastie, Montanari, Rosset & Tibshirani (2019, Sec. 5; the random-features model of
    Mei & Montanari 2019). The risk is E[(x^T beta_hat - z^T theta)^2] for a fresh z,
    without the test label's noise.

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
    and with simulation at n = 1,000 (both tested); at smaller n the simulated risk lies
    above it at large gamma (docs/theory.md).

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
    g = _checked_gamma(gamma)
    _check_relu_model(psi, r2, sigma2, mu1, mu_star2)
    risk = np.array(
        [_relu_risk_one(float(x), float(psi), r2, sigma2, mu1, mu_star2) for x in g.ravel()]
    )
    risk = risk.reshape(g.shape)
    return float(risk) if risk.ndim == 0 else risk


def _check_relu_model(psi, r2, sigma2, mu1, mu_star2) -> None:
    check_positive(psi, "psi")
    _check_variances(r2, sigma2)
    check_positive(mu1, "mu1", zero=True)
    check_positive(mu_star2, "mu_star2", zero=True)
    if mu1 == 0 and mu_star2 == 0:
        raise ValueError("mu1 and mu_star2 are both 0: the features are constant")


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
