"""The Mei-Montanari asymptotic risk of random-features ridge regression: activation constants
against quadrature, the fixed point against Definition 1, the kernel, ridgeless, zeta -> 0 and
interpolation-threshold limits against independent closed forms, and agreement with the
simulator of the same setting."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, special

from mathdl.generalization import (
    ActivationConstants,
    FeatureKind,
    RandomFeatureModel,
    activation_constants,
    random_features,
    random_features_asymptotic_risk,
    random_features_bias_variance,
    ridge_asymptotic_risk,
    sample_sphere,
    simulate_random_features_risk,
)
from mathdl.generalization._rf_asymptotics import _chi
from mathdl.stats import fit_power_law

F64 = torch.float64
ACTIVATIONS = [FeatureKind.RELU, FeatureKind.SIGMOID]
RELU_ZETA = activation_constants(FeatureKind.RELU).zeta


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _np_activation(kind):
    return (lambda t: np.maximum(t, 0.0)) if kind is FeatureKind.RELU else special.ndtr


# ------------------------------------------------------------------ activation constants


@pytest.mark.parametrize("kind", ACTIVATIONS)
def test_activation_constants_are_the_gaussian_moments(kind):
    """mu0 = E s(G), mu1 = E G s(G), mu0^2 + mu1^2 + mu*^2 = E s(G)^2, by adaptive quadrature
    (accurate to ~1e-12 for these smooth or piecewise-linear integrands)."""
    s = _np_activation(kind)
    density = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731

    def moment(f):
        return (integrate.quad(lambda z: f(z) * density(z), -40, 0, epsabs=1e-14)[0]
                + integrate.quad(lambda z: f(z) * density(z), 0, 40, epsabs=1e-14)[0])

    c = activation_constants(kind)
    assert isinstance(c, ActivationConstants)
    assert c.mu0 == pytest.approx(moment(s), abs=1e-11)
    assert c.mu1 == pytest.approx(moment(lambda z: z * s(z)), abs=1e-11)
    assert c.mu0**2 + c.mu1**2 + c.mu_star**2 == pytest.approx(moment(lambda z: s(z) ** 2),
                                                               abs=1e-11)
    assert c.zeta == pytest.approx(c.mu1 / c.mu_star)


def test_fourier_is_not_an_activation():
    with pytest.raises(ValueError, match="activation"):
        activation_constants(FeatureKind.FOURIER)


# ------------------------------------------------------------------ the fixed point


@pytest.mark.parametrize(("psi1", "psi2", "ridge", "zeta"), [
    (0.5, 3.0, 0.1, RELU_ZETA), (3.0, 0.5, 0.1, RELU_ZETA), (2.0, 2.0, 1e-6, 0.7),
    (10.0, 1.5, 2.0, 4.6), (1.0, 1.0, 1.0, 1e-3),
])
def test_chi_solves_definition_one(psi1, psi2, ridge, zeta):
    """nu_k = i a_k with a_k = (psi_k - t) / xi_0 solves the complex equations of Definition 1 at
    xi = i xi_0 to rounding, lies in the upper half plane with |nu_k| <= psi_k / Im xi (the
    branch Definition 1 selects), and chi = nu_1 nu_2 is symmetric in (psi_1, psi_2)."""
    xi0 = math.sqrt(psi1 * psi2 * ridge)
    chi = _chi(psi1, psi2, ridge, zeta)
    p = -chi
    t = p + zeta**2 * p / (1 + zeta**2 * p)
    nu1, nu2 = 1j * (psi1 - t) / xi0, 1j * (psi2 - t) / xi0
    xi = 1j * xi0
    z2 = zeta**2
    denominator = 1 - z2 * nu1 * nu2
    res1 = nu1 - psi1 / (-xi - nu2 - z2 * nu2 / denominator)
    res2 = nu2 - psi2 / (-xi - nu1 - z2 * nu1 / denominator)
    assert abs(res1) <= 1e-12 * abs(nu1) and abs(res2) <= 1e-12 * abs(nu2)
    assert nu1.imag > 0 and nu2.imag > 0
    assert abs(nu1) <= psi1 / xi0 and abs(nu2) <= psi2 / xi0
    assert _chi(psi2, psi1, ridge, zeta) == pytest.approx(chi, rel=1e-13)


# ------------------------------------------------------------------ limits with closed forms


@pytest.mark.parametrize("kind", ACTIVATIONS)
@pytest.mark.parametrize("psi2", [0.5, 3.0])
@pytest.mark.parametrize("lam", [0.0, 0.01, 1.0])
def test_infinitely_many_features_is_linearised_kernel_ridge(kind, psi2, lam):
    """psi_1 -> infinity: kernel ridge with ridge psi_2 lambda on K = mu0^2 11^T + mu1^2 XX^T/d +
    mu*^2 I, i.e. linear ridge (HMRT) at gamma = 1/psi_2 with penalty (mu*^2 + psi_2 lambda) /
    (psi_2 mu1^2), the nonlinear target acting as noise. The gap closes like 1/psi_1 (fitted
    slope -1 +- 0.05 between psi_1 = 1e3 and 1e5), and at psi_1 = 1e7 it is below 1e-5."""
    c = activation_constants(kind)
    f1, fs, tau = 1.0, 0.6, 0.4
    penalty = (c.mu_star**2 + psi2 * lam) / (psi2 * c.mu1**2)
    kernel = ridge_asymptotic_risk(1 / psi2, penalty, signal=f1,
                                   noise=math.sqrt(tau**2 + fs**2)) + fs**2

    def gap(psi1: float) -> float:
        risk = random_features_asymptotic_risk(psi1, psi2, lam, activation=kind, signal=f1,
                                               noise=tau, nonlinear_signal=fs)
        return abs(risk - kernel)

    assert gap(1e7) < 1e-5 * kernel
    widths = [1e3, 1e4, 1e5]
    assert fit_power_law(widths, [gap(w) for w in widths]).slope == pytest.approx(-1.0, abs=0.05)


def test_nearly_linear_activation_is_plain_ridge():
    """zeta -> infinity (mu* -> 0, sigma linear) and psi_1 -> infinity: plain ridge regression
    on x with the penalty lambda / mu1^2 = lambda_bar / zeta^2; its bias (r = 1, sigma = 0) and
    variance (r = 0, sigma = 1) are HMRT's. The 1/(psi_2 zeta^2) = 5e-7 left of the mu*^2 term
    and the 1/psi_1 gap are below the tolerance 1e-4."""
    psi2, zeta, lam_prime = 2.0, 1e3, 0.3
    ridge_bar = lam_prime * zeta**2  # lambda / mu*^2 with lambda / mu1^2 = lam_prime
    b, v = random_features_bias_variance(1e8, psi2, ridge_bar, zeta=zeta)
    # bias and variance of ridge: r = 1, sigma = 0 and r = 0, sigma = 1
    bias = ridge_asymptotic_risk(1 / psi2, lam_prime, signal=1.0, noise=0.0)
    variance = ridge_asymptotic_risk(1 / psi2, lam_prime, signal=0.0, noise=1.0)
    assert b == pytest.approx(bias, rel=1e-4)
    assert v == pytest.approx(variance, rel=1e-4)


@pytest.mark.parametrize(("psi1", "psi2", "ridge"), [(0.7, 2.0, 0.05), (5.0, 1.2, 0.0),
                                                     (1.5, 1.5, 0.3)])
def test_purely_nonlinear_features_learn_nothing_linear(psi1, psi2, ridge):
    """zeta -> 0 (mu1 = 0): the features carry no linear information, so the linear part of the
    target is indistinguishable from F*: F1^2 B must equal F1^2 (1 + V), i.e. B = 1 + V."""
    b, v = random_features_bias_variance(psi1, psi2, ridge, zeta=1e-7)
    assert b == pytest.approx(1 + v, rel=1e-9)


@pytest.mark.parametrize("zeta", [0.3, RELU_ZETA, 4.6])
@pytest.mark.parametrize(("psi1", "psi2"), [(0.5, 3.0), (1.0, 2.0), (2.5, 3.0)])
def test_ridgeless_underparameterized_variance_is_least_squares(zeta, psi1, psi2):
    """lambda -> 0, N < n: least squares on N features has variance tau^2 N / (n - N - 1) for
    Gaussian(-equivalent) features (inverse-Wishart mean), so V = psi_1 / (psi_2 - psi_1),
    whatever zeta."""
    _, v = random_features_bias_variance(psi1, psi2, 0.0, zeta=zeta)
    assert v == pytest.approx(psi1 / (psi2 - psi1), rel=1e-10)


@pytest.mark.parametrize(("psi1", "psi2"), [(0.5, 3.0), (4.0, 1.0), (2.0, 2.5)])
def test_ridgeless_limit_is_continuous(psi1, psi2):
    """The closed-form chi of the ridgeless limit is the lambda -> 0 limit of the fixed point:
    the difference is O(sqrt(lambda_bar)) away from psi_1 = psi_2."""
    at_zero = random_features_bias_variance(psi1, psi2, 0.0, zeta=RELU_ZETA)
    near = random_features_bias_variance(psi1, psi2, 1e-12, zeta=RELU_ZETA)
    assert near == pytest.approx(at_zero, rel=1e-5)


def test_risk_blows_up_at_the_interpolation_threshold():
    """At psi_1 = psi_2 the ridgeless risk is infinite and B + V grows like lambda_bar^(-1/2) as
    lambda -> 0 (the density of the squared singular values of a square random matrix behaves
    like s^(-1/2) at 0, so tr S (S + lambda)^(-2) ~ lambda^(-1/2)); off the threshold it stays
    bounded."""
    assert random_features_bias_variance(2.0, 2.0, 0.0, zeta=RELU_ZETA) == (math.inf, math.inf)
    assert math.isinf(random_features_asymptotic_risk(2.0, 2.0, 0.0, activation=FeatureKind.RELU,
                                                      signal=1.0, noise=0.5))
    ridges = [1e-6, 1e-7, 1e-8, 1e-9, 1e-10]
    totals = [sum(random_features_bias_variance(2.0, 2.0, r, zeta=RELU_ZETA)) for r in ridges]
    assert fit_power_law(ridges, totals).slope == pytest.approx(-0.5, abs=0.01)
    off = [sum(random_features_bias_variance(2.2, 2.0, r, zeta=RELU_ZETA)) for r in ridges]
    assert max(off) < 50 and max(off) / min(off) < 1.001


def test_double_descent_shape():
    """Ridgeless, psi_2 = 3, noise: the risk against N/n rises to the threshold and descends
    after it; a larger penalty lowers the risk at N = n."""
    ratios = [0.2, 0.5, 0.8, 0.95, 1.05, 1.25, 2.0, 5.0, 20.0]
    risks = [random_features_asymptotic_risk(3.0 * r, 3.0, 0.0, activation=FeatureKind.RELU,
                                             signal=1.0, noise=0.7) for r in ratios]
    below, above = risks[:4], risks[4:]
    assert all(a < b for a, b in zip(below[1:], below[2:], strict=False))
    assert all(a > b for a, b in zip(above, above[1:], strict=False))
    small = random_features_asymptotic_risk(3.0, 3.0, 1e-4, activation=FeatureKind.RELU,
                                            signal=1.0, noise=0.7)
    large = random_features_asymptotic_risk(3.0, 3.0, 1e-1, activation=FeatureKind.RELU,
                                            signal=1.0, noise=0.7)
    assert large < small / 5


# ------------------------------------------------------------------ the simulator


def test_sample_sphere_radius_and_covariance():
    d, n = 4, 100_000
    x = sample_sphere(n, d, generator=_gen(0))
    torch.testing.assert_close(x.norm(dim=1), torch.full((n,), 2.0, dtype=F64))
    # E xx^T = I on S^{d-1}(sqrt d); entries of the sample covariance have s.e. <= sqrt(2/n)
    assert float((x.T @ x / n - torch.eye(d, dtype=F64)).abs().max()) < 5 * math.sqrt(2 / n)
    unit = sample_sphere(5, 3, generator=_gen(1), radius=1.0, dtype=torch.float32)
    assert unit.dtype == torch.float32
    torch.testing.assert_close(unit.norm(dim=1), torch.ones(5))


def test_random_feature_model_with_ridge_over_d_is_the_mei_montanari_estimator():
    """With w = theta / sqrt(d) and ridge = lambda / d, a = coefficients_ / N is the stationary
    point of (1/n)|y - Phi a|^2 + (N lambda / d)|a|^2 (Phi_ij = relu(<theta_j, x_i> / sqrt d))."""
    n, big_n, d, lam = 40, 25, 10, 0.3
    x = sample_sphere(n, d, generator=_gen(2))
    theta = sample_sphere(big_n, d, generator=_gen(3))
    y = torch.randn(n, generator=_gen(4), dtype=F64)
    model = RandomFeatureModel(big_n, ridge=lam / d).fit(x, y, weights=theta / math.sqrt(d))
    a = model.coefficients_ / big_n
    phi = random_features(x, theta / math.sqrt(d), kind=FeatureKind.RELU)
    gradient = -2 / n * phi.T @ (y - phi @ a) + 2 * big_n * lam / d * a
    assert float(gradient.abs().max()) < 1e-10


@pytest.mark.parametrize(("signal", "nonlinear"), [(1.3, 0.0), (0.0, 0.8)])
def test_null_fit_risk_is_the_target_norm(signal, nonlinear):
    """An infinite penalty fits f = 0 (|f| = O(1/lambda)), so the test error is E f_d(x)^2 =
    F1^2 + F*^2: |beta|^2 (E xx^T = I) and the normalised degree-2 harmonic. The test mean of
    (F* c (<u,x>^2 - 1))^2 has relative standard deviation <= sqrt(14 / T) (fourth moment of a
    Hermite-2 variable, 15), that of <beta, x>^2 sqrt(2 / T); 4 of them are allowed."""
    risk = simulate_random_features_risk(20, 30, 50, ridge=1e12, activation=FeatureKind.RELU,
                                         signal=signal, noise=0.0, nonlinear_signal=nonlinear,
                                         test_points=200_000, generator=_gen(5))
    expected = signal**2 + nonlinear**2
    assert risk == pytest.approx(expected, rel=4 * math.sqrt((14 if nonlinear else 2) / 200_000))


def _simulated(kind, psi1, psi2, d, lam, f1, fs, tau, draws, seed):
    g = _gen(seed)
    risks = torch.tensor([simulate_random_features_risk(
        round(psi1 * d), round(psi2 * d), d, ridge=lam, activation=kind, signal=f1, noise=tau,
        nonlinear_signal=fs, test_points=1000, generator=g) for _ in range(draws)])
    return float(risks.mean()), float(risks.std()) / math.sqrt(draws)


@pytest.mark.parametrize(("kind", "psi1", "lam", "fs"), [
    (FeatureKind.RELU, 1.0, 0.05, 0.5), (FeatureKind.RELU, 4.0, 1e-3, 0.0),
    (FeatureKind.RELU, 2.0, 1e-3, 0.0), (FeatureKind.SIGMOID, 1.0, 0.05, 0.5),
    (FeatureKind.SIGMOID, 4.0, 1e-3, 0.5),
])
def test_simulation_matches_the_asymptotic_risk(kind, psi1, lam, fs):
    """d = 80, psi_2 = 2, 24 draws: the mean test error is within 3 standard errors plus 5% of the
    limit. The 5% is the finite-d bias: calibration runs at d = 50 ... 400 deviate by at most
    3-5% (shrinking with d), well inside what distinguishes the theory from a wrong variant
    (see test_simulation_rejects_swapped_ratios). psi_1 = psi_2 = 2 is the threshold, lambda =
    1e-3 keeps it finite (risk ~ 3x its neighbours)."""
    d, psi2, f1, tau = 80, 2.0, 1.0, 0.5
    mean, se = _simulated(kind, psi1, psi2, d, lam, f1, fs, tau, draws=24, seed=6)
    theory = random_features_asymptotic_risk(psi1, psi2, lam, activation=kind, signal=f1,
                                             noise=tau, nonlinear_signal=fs)
    assert abs(mean - theory) <= 3 * se + 0.05 * theory


def test_simulation_rejects_wrong_variants():
    """The tolerance of test_simulation_matches_the_asymptotic_risk is tight enough to reject
    plausible mistakes: bias and variance swapped (F1^2 V + tau^2 B), or the penalty not
    normalised by mu*^2 (lambda_bar = lambda); at psi = (1, 2), lambda = 0.05 they are 26% and
    38% away from the theory."""
    d, psi1, psi2, lam, f1, tau = 80, 1.0, 2.0, 0.05, 1.0, 0.5
    c = activation_constants(FeatureKind.RELU)
    right = random_features_asymptotic_risk(psi1, psi2, lam, activation=FeatureKind.RELU,
                                            signal=f1, noise=tau)
    b, v = random_features_bias_variance(psi1, psi2, lam / c.mu_star**2, zeta=c.zeta)
    swapped = f1**2 * v + tau**2 * b
    b, v = random_features_bias_variance(psi1, psi2, lam, zeta=c.zeta)
    unnormalised = f1**2 * b + tau**2 * v
    mean, se = _simulated(FeatureKind.RELU, psi1, psi2, d, lam, f1, 0.0, tau, draws=24, seed=7)
    assert abs(mean - right) <= 3 * se + 0.05 * right
    for wrong in (swapped, unnormalised):
        assert abs(mean - wrong) > 3 * se + 0.05 * wrong


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(("call", "name"), [
    (lambda: random_features_bias_variance(0.0, 1.0, 0.1, zeta=1.0), "features_ratio"),
    (lambda: random_features_bias_variance(1.0, -1.0, 0.1, zeta=1.0), "samples_ratio"),
    (lambda: random_features_bias_variance(1.0, 1.0, -0.1, zeta=1.0), "ridge"),
    (lambda: random_features_bias_variance(1.0, 1.0, 0.1, zeta=0.0), "zeta"),
    (lambda: random_features_asymptotic_risk(1.0, 2.0, 0.1, activation="relu", signal=1.0,
                                             noise=0.1), "activation"),
    (lambda: random_features_asymptotic_risk(1.0, 2.0, 0.1, activation=FeatureKind.FOURIER,
                                             signal=1.0, noise=0.1), "activation"),
    (lambda: random_features_asymptotic_risk(1.0, 2.0, 0.1, activation=FeatureKind.RELU,
                                             signal=-1.0, noise=0.1), "signal"),
    (lambda: random_features_asymptotic_risk(1.0, 2.0, 0.1, activation=FeatureKind.RELU,
                                             signal=1.0, noise=0.1, nonlinear_signal=math.nan),
     "nonlinear_signal"),
    (lambda: sample_sphere(0, 3, generator=_gen(0)), "num_points"),
    (lambda: sample_sphere(3, 3, generator=_gen(0), radius=0.0), "radius"),
    (lambda: sample_sphere(3, 3, generator=None), "generator"),
    (lambda: simulate_random_features_risk(10, 10, 1, ridge=0.1, activation=FeatureKind.RELU,
                                           signal=1.0, noise=0.1, nonlinear_signal=1.0,
                                           generator=_gen(0)), "dim"),
    (lambda: simulate_random_features_risk(10, 10, 5, ridge=-0.1, activation=FeatureKind.RELU,
                                           signal=1.0, noise=0.1, generator=_gen(0)), "ridge"),
    (lambda: simulate_random_features_risk(10, 10, 5, ridge=0.1, activation=FeatureKind.SIGMOID,
                                           signal=1.0, noise=0.1, test_points=0,
                                           generator=_gen(0)), "test_points"),
])
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()
