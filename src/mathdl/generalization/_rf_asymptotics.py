r"""Random-features ridge regression in proportional asymptotics: the Mei-Montanari test error
(double descent in :math:`N/n`) and a simulator of the same setting.

**Setting** (Mei & Montanari 2022, §2). Inputs :math:`x_1, \dots, x_n` and first-layer weights
:math:`\theta_1, \dots, \theta_N` i.i.d. uniform on the sphere :math:`S^{d-1}(\sqrt d)` of radius
:math:`\sqrt d`; features :math:`\sigma(\langle\theta_j, x\rangle/\sqrt d)`; responses
:math:`y_i = f_d(x_i) + \varepsilon_i` with :math:`\mathbb E\varepsilon_i = 0`,
:math:`\mathbb E\varepsilon_i^2 = \tau^2`, and the target

.. math::
    f_d(x) = \langle\beta_1, x\rangle + f_d^{\mathrm{NL}}(x), \qquad |\beta_1|^2 = F_1^2, \qquad
    \|f_d^{\mathrm{NL}}\|_{L^2}^2 = F_\star^2,

:math:`f_d^{\mathrm{NL}}` orthogonal to the polynomials of degree :math:`\le 1` (MM also allow a
constant :math:`\beta_0`; it is 0 here). The ridge estimator and its test error are

.. math::
    \hat a(\lambda) = \arg\min_a \frac1n\sum_{i=1}^n\Big(y_i - \sum_{j=1}^N a_j
        \sigma(\langle\theta_j, x_i\rangle/\sqrt d)\Big)^2 + \frac{N\lambda}{d}|a|^2,
    \qquad R = \mathbb E_x\big(f_d(x) - f(x; \hat a(\lambda))\big)^2 .

With :math:`w_j = \theta_j/\sqrt d` on the unit sphere (the ReLU :math:`\pi_0` of
:func:`~mathdl.generalization.sample_feature_weights`) and :math:`f = \frac1N\sum_j a'_j
\varphi(x; w_j)`, :math:`a' = N a`, this is
:class:`~mathdl.generalization.RandomFeatureModel` with ``ridge`` :math:`= \lambda/d`.

**Activation constants.** For :math:`G \sim \mathcal N(0, 1)`,
:math:`\mu_0 = \mathbb E\sigma(G)`, :math:`\mu_1 = \mathbb E[G\sigma(G)]`,
:math:`\mu_\star^2 = \mathbb E\sigma(G)^2 - \mu_0^2 - \mu_1^2`, :math:`\zeta = \mu_1/\mu_\star`,
:math:`\bar\lambda = \lambda/\mu_\star^2` (:func:`activation_constants`). The pre-activation
:math:`\langle\theta, x\rangle/\sqrt d` tends to :math:`\mathcal N(0, 1)`, and the feature
decomposes into a constant :math:`\mu_0`, a linear part :math:`\mu_1\langle\theta, x\rangle/\sqrt
d` and a part of variance :math:`\mu_\star^2` that acts like independent noise features.

**Theorem** (Mei & Montanari 2022, Thm 1). For :math:`N/d \to \psi_1`, :math:`n/d \to \psi_2`,
:math:`d \to \infty`, :math:`\lambda > 0`, and :math:`\sigma` as in MM's assumptions (weakly
differentiable, :math:`\sigma` and :math:`\sigma'` exponentially bounded, :math:`\mu_1,
\mu_\star \ne 0`),

.. math::
    R = F_1^2\,\mathcal B(\zeta, \psi_1, \psi_2, \bar\lambda)
        + (\tau^2 + F_\star^2)\,\mathcal V(\zeta, \psi_1, \psi_2, \bar\lambda) + F_\star^2
        + o_d(1)

in expectation. **Definition 1** (ibid.): :math:`\nu_1, \nu_2` are the analytic maps of the upper
half plane into itself with :math:`|\nu_k(\xi)| \le \psi_k/\operatorname{Im}\xi` for large
:math:`\operatorname{Im}\xi` solving

.. math::
    \nu_1 = \psi_1\Big(-\xi - \nu_2 - \frac{\zeta^2\nu_2}{1 - \zeta^2\nu_1\nu_2}\Big)^{-1},
    \qquad
    \nu_2 = \psi_2\Big(-\xi - \nu_1 - \frac{\zeta^2\nu_1}{1 - \zeta^2\nu_1\nu_2}\Big)^{-1},

:math:`\chi = \nu_1(\mathrm i\xi_0)\,\nu_2(\mathrm i\xi_0)` with
:math:`\xi_0 = (\psi_1\psi_2\bar\lambda)^{1/2}`, and

.. math::
    E_0 &= -\chi^5\zeta^6 + 3\chi^4\zeta^4 + (\psi_1\psi_2 - \psi_2 - \psi_1 + 1)\chi^3\zeta^6
        - 2\chi^3\zeta^4 - 3\chi^3\zeta^2 \\
        &\quad + (\psi_1 + \psi_2 - 3\psi_1\psi_2 + 1)\chi^2\zeta^4 + 2\chi^2\zeta^2 + \chi^2
        + 3\psi_1\psi_2\chi\zeta^2 - \psi_1\psi_2, \\
    E_1 &= \psi_2\chi^3\zeta^4 - \psi_2\chi^2\zeta^2 + \psi_1\psi_2\chi\zeta^2 - \psi_1\psi_2, \\
    E_2 &= \chi^5\zeta^6 - 3\chi^4\zeta^4 + (\psi_1 - 1)\chi^3\zeta^6 + 2\chi^3\zeta^4
        + 3\chi^3\zeta^2 - (\psi_1 + 1)\chi^2\zeta^4 - 2\chi^2\zeta^2 - \chi^2,

:math:`\mathcal B = E_1/E_0` (bias: the part of the linear signal not learnt) and
:math:`\mathcal V = E_2/E_0` (variance). The system is symmetric under
:math:`(\nu_1, \psi_1) \leftrightarrow (\nu_2, \psi_2)`, so :math:`\chi` and :math:`E_0` are
symmetric in :math:`(\psi_1, \psi_2)`; :math:`E_1, E_2` are not.

*Solving for* :math:`\chi`. On the imaginary axis the solution is
:math:`\nu_k = \mathrm i a_k` with :math:`a_k > 0`. With :math:`p = a_1a_2 = -\chi` and
:math:`t(p) = p + \zeta^2 p/(1 + \zeta^2 p)` the equations read
:math:`a_k\xi_0 + t(p) = \psi_k`, so :math:`a_k = (\psi_k - t)/\xi_0` and :math:`p` solves

.. math::
    \xi_0^2\, p = (\psi_1 - t(p))(\psi_2 - t(p)), \qquad 0 < t(p) < \min(\psi_1, \psi_2):

the left side increases and the right side decreases in :math:`p`, so the root is unique; it is
found by Brent's method to relative accuracy :math:`\approx 10^{-15}`.

**Ridgeless limit** (:math:`\lambda \to 0^+`, the min-norm interpolator when :math:`N > n`;
derived here from the scalar equation, as in MM 2022's ridgeless formulas). As
:math:`\xi_0 \to 0` the root tends to :math:`t(p) = \psi := \min(\psi_1,
\psi_2)`, a quadratic in :math:`p`:

.. math::
    \chi = -\frac{(\psi\zeta^2 - \zeta^2 - 1)
        + \sqrt{(\psi\zeta^2 - \zeta^2 - 1)^2 + 4\zeta^2\psi}}{2\zeta^2},

with the same :math:`\mathcal B, \mathcal V`. Two consequences checked in the tests: for
:math:`\psi_1 < \psi_2` the variance is :math:`\mathcal V = \psi_1/(\psi_2 - \psi_1)`, the
least-squares variance :math:`N/(n - N)` of :math:`N < n` features, and at :math:`\psi_1 = \psi_2`
:math:`E_0 = 0`: the risk diverges at the interpolation threshold :math:`N = n`, like
:math:`\bar\lambda^{-1/2}` as :math:`\lambda \to 0` (the square-root hard edge of the spectrum of
a square random matrix).

**Kernel limit** (:math:`\psi_1 \to \infty`, derived here). The random features become kernel
ridge regression with the kernel :math:`\mathbb E_\theta\sigma\sigma`, ridge :math:`\psi_2\lambda`;
in this regime the kernel matrix is :math:`\mu_0^2 \mathbf 1\mathbf 1^\top + \mu_1^2 XX^\top/d +
\mu_\star^2 I + o(1)` (El Karoui 2010), i.e. linear ridge regression on :math:`x` with the penalty
:math:`\lambda' = (\mu_\star^2 + \psi_2\lambda)/(\psi_2\mu_1^2) = (1 + \psi_2\bar\lambda)/
(\psi_2\zeta^2)` and :math:`f^{\mathrm{NL}}` acting as noise, so the risk tends to the
Hastie-Montanari-Rosset-Tibshirani ridge risk
(:func:`~mathdl.generalization.ridge_asymptotic_risk`) at :math:`\gamma = 1/\psi_2`, signal
:math:`F_1`, noise :math:`(\tau^2 + F_\star^2)^{1/2}`, plus :math:`F_\star^2`. For a linear
activation (:math:`\mu_\star \to 0`) the penalty is :math:`\lambda/\mu_1^2`: plain ridge.

References:
    S. Mei & A. Montanari, "The generalization error of random features regression: precise
    asymptotics and the double descent curve", Comm. Pure Appl. Math. 75 (2022)
    (arXiv:1908.05355), Thm 1 and Definition 1;
    N. El Karoui, "The spectrum of kernel random matrices", Ann. Statist. 38 (2010) 1-50;
    T. Hastie, A. Montanari, S. Rosset & R. J. Tibshirani, "Surprises in high-dimensional
    ridgeless least squares interpolation", Ann. Statist. 50 (2022) 949-986.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from scipy import optimize
from torch import Tensor

from mathdl.generalization._checks import (
    check_enum,
    check_generator,
    check_positive_int,
    check_real,
)
from mathdl.generalization._random_features import FeatureKind, RandomFeatureModel

__all__ = [
    "ActivationConstants",
    "activation_constants",
    "random_features_asymptotic_risk",
    "random_features_bias_variance",
    "sample_sphere",
    "simulate_random_features_risk",
]

_ACTIVATIONS = (FeatureKind.RELU, FeatureKind.SIGMOID)


@dataclass(frozen=True)
class ActivationConstants:
    r"""The Gaussian moments of an activation that enter the Mei-Montanari risk.

    Attributes:
        mu0: :math:`\mu_0 = \mathbb E\sigma(G)`.
        mu1: :math:`\mu_1 = \mathbb E[G\sigma(G)]`.
        mu_star: :math:`\mu_\star = (\mathbb E\sigma(G)^2 - \mu_0^2 - \mu_1^2)^{1/2}`.
    """

    mu0: float
    mu1: float
    mu_star: float

    @property
    def zeta(self) -> float:
        r""":math:`\zeta = \mu_1/\mu_\star`."""
        return self.mu1 / self.mu_star


def _check_activation(activation: object) -> FeatureKind:
    check_enum(activation, FeatureKind, "activation")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation: expected FeatureKind.RELU or FeatureKind.SIGMOID (a "
                         f"function of <theta, x>), got {activation!r}")
    return activation


def activation_constants(activation: FeatureKind) -> ActivationConstants:
    r"""The constants :math:`\mu_0, \mu_1, \mu_\star` of an activation, in closed form.

    ReLU, :math:`\sigma(t) = \max(t, 0)`: :math:`\mu_0 = (2\pi)^{-1/2}`, :math:`\mu_1 = 1/2`,
    :math:`\mathbb E\sigma(G)^2 = 1/2`, so :math:`\mu_\star^2 = 1/4 - 1/(2\pi)`.
    Sigmoid, :math:`\sigma = \Phi` (the Gaussian distribution function of
    :class:`~mathdl.generalization.FeatureKind`): :math:`\mu_0 = 1/2`;
    :math:`\mu_1 = \mathbb E[G\Phi(G)] = \mathbb E\Phi'(G) = \int\phi^2 = 1/(2\sqrt\pi)`
    (Stein's lemma); :math:`\mathbb E\Phi(G)^2 = \mathbb P(Z_1 \le G, Z_2 \le G) = \frac14 +
    \frac1{2\pi}\arcsin\frac12 = \frac13` (Sheppard, correlation 1/2), so
    :math:`\mu_\star^2 = 1/12 - 1/(4\pi)`.

    Args:
        activation: ``FeatureKind.RELU`` or ``FeatureKind.SIGMOID``.

    Returns:
        :class:`ActivationConstants`.

    Raises:
        ValueError: for ``FeatureKind.FOURIER`` (not an activation of one projection) or a
            non-:class:`FeatureKind`.
    """
    activation = _check_activation(activation)
    if activation is FeatureKind.RELU:
        return ActivationConstants(mu0=1.0 / math.sqrt(2.0 * math.pi), mu1=0.5,
                                   mu_star=math.sqrt(0.25 - 1.0 / (2.0 * math.pi)))
    return ActivationConstants(mu0=0.5, mu1=1.0 / (2.0 * math.sqrt(math.pi)),
                               mu_star=math.sqrt(1.0 / 12.0 - 1.0 / (4.0 * math.pi)))


def _chi(psi1: float, psi2: float, ridge: float, zeta: float) -> float:
    r""":math:`\chi = \nu_1\nu_2` at :math:`\xi = \mathrm i(\psi_1\psi_2\bar\lambda)^{1/2}`."""
    z2 = zeta * zeta
    psi = min(psi1, psi2)
    # p_max: t(p_max) = psi, i.e. z2 p^2 + (1 + z2 - psi z2) p - psi = 0 (stable root)
    b = 1.0 + z2 - psi * z2
    root = math.sqrt(b * b + 4.0 * z2 * psi)
    p_max = 2.0 * psi / (b + root) if b > 0 else (root - b) / (2.0 * z2)
    if ridge == 0.0:
        return -p_max
    y2 = psi1 * psi2 * ridge

    def excess(p: float) -> float:
        t = p + z2 * p / (1.0 + z2 * p)
        return y2 * p - (psi1 - t) * (psi2 - t)

    p = optimize.brentq(excess, 0.0, p_max, xtol=1e-300, rtol=4 * 2.0**-52, maxiter=1000)
    return -p


def random_features_bias_variance(
    features_ratio: float, samples_ratio: float, ridge: float, *, zeta: float
) -> tuple[float, float]:
    r"""The Mei-Montanari bias and variance :math:`(\mathcal B, \mathcal V)(\zeta, \psi_1,
    \psi_2, \bar\lambda) = (E_1/E_0, E_2/E_0)` of Definition 1 (formulas in the module
    docstring; MM 2022, Thm 1).

    Args:
        features_ratio: :math:`\psi_1 = N/d > 0`.
        samples_ratio: :math:`\psi_2 = n/d > 0`.
        ridge: the normalised penalty :math:`\bar\lambda = \lambda/\mu_\star^2 \ge 0`; 0 is the
            ridgeless limit (closed-form :math:`\chi`).
        zeta: :math:`\zeta = \mu_1/\mu_\star > 0`.

    Returns:
        ``(bias, variance)``; both :math:`+\infty` at :math:`\bar\lambda = 0`,
        :math:`\psi_1 = \psi_2` (the interpolation threshold).

    Raises:
        ValueError: on a non-positive ratio or ``zeta``, or a negative ``ridge``.
    """
    psi1 = check_real(features_ratio, "features_ratio", positive=True)
    psi2 = check_real(samples_ratio, "samples_ratio", positive=True)
    lam = check_real(ridge, "ridge", nonnegative=True)
    z = check_real(zeta, "zeta", positive=True)
    if lam == 0.0 and psi1 == psi2:
        return math.inf, math.inf
    chi = _chi(psi1, psi2, lam, z)
    z2, z4, z6 = z**2, z**4, z**6
    c2, c3, c4, c5 = chi**2, chi**3, chi**4, chi**5
    pp = psi1 * psi2
    e0 = (-c5 * z6 + 3.0 * c4 * z4 + (pp - psi2 - psi1 + 1.0) * c3 * z6 - 2.0 * c3 * z4
          - 3.0 * c3 * z2 + (psi1 + psi2 - 3.0 * pp + 1.0) * c2 * z4 + 2.0 * c2 * z2 + c2
          + 3.0 * pp * chi * z2 - pp)
    e1 = psi2 * c3 * z4 - psi2 * c2 * z2 + pp * chi * z2 - pp
    e2 = (c5 * z6 - 3.0 * c4 * z4 + (psi1 - 1.0) * c3 * z6 + 2.0 * c3 * z4 + 3.0 * c3 * z2
          - (psi1 + 1.0) * c2 * z4 - 2.0 * c2 * z2 - c2)
    return e1 / e0, e2 / e0


def random_features_asymptotic_risk(
    features_ratio: float,
    samples_ratio: float,
    ridge: float,
    *,
    activation: FeatureKind,
    signal: float,
    noise: float,
    nonlinear_signal: float = 0.0,
) -> float:
    r"""Mei & Montanari (2022, Thm 1) limit test error of random-features ridge regression,

    .. math::
        R = F_1^2\,\mathcal B(\zeta, \psi_1, \psi_2, \lambda/\mu_\star^2)
            + (\tau^2 + F_\star^2)\,\mathcal V(\zeta, \psi_1, \psi_2, \lambda/\mu_\star^2)
            + F_\star^2,

    with the ridge penalty :math:`\frac{N\lambda}{d}|a|^2` of the module docstring and the
    constants of :func:`activation_constants`.

    Args:
        features_ratio: :math:`\psi_1 = N/d > 0`.
        samples_ratio: :math:`\psi_2 = n/d > 0`.
        ridge: :math:`\lambda \ge 0` (0: the ridgeless limit).
        activation: ``FeatureKind.RELU`` or ``FeatureKind.SIGMOID``.
        signal: :math:`F_1 = |\beta_1| \ge 0`.
        noise: :math:`\tau \ge 0`.
        nonlinear_signal: :math:`F_\star = \|f^{\mathrm{NL}}\|_{L^2} \ge 0`.

    Returns:
        The limit test error; :math:`+\infty` at :math:`\lambda = 0`, :math:`\psi_1 = \psi_2`
        (unless the target and the noise vanish).
    """
    constants = activation_constants(activation)
    lam = check_real(ridge, "ridge", nonnegative=True)
    f1 = check_real(signal, "signal", nonnegative=True)
    tau = check_real(noise, "noise", nonnegative=True)
    fs = check_real(nonlinear_signal, "nonlinear_signal", nonnegative=True)
    bias, variance = random_features_bias_variance(
        features_ratio, samples_ratio, lam / constants.mu_star**2, zeta=constants.zeta)
    weight_b, weight_v = f1 * f1, tau * tau + fs * fs
    risk = fs * fs
    if weight_b > 0:
        risk += weight_b * bias
    if weight_v > 0:
        risk += weight_v * variance
    return risk


def sample_sphere(
    num_points: int,
    dim: int,
    *,
    generator: torch.Generator,
    radius: float | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> Tensor:
    r"""Points uniform on the sphere :math:`S^{d-1}(r)`: :math:`x = r\,g/|g|`,
    :math:`g \sim \mathcal N(0, I_d)`.

    Args:
        num_points: :math:`n \ge 1`; dim: :math:`d \ge 1`.
        generator: the only source of randomness (drawn on its device, then moved).
        radius: :math:`r > 0`; ``None`` means :math:`\sqrt d` (then
            :math:`\mathbb E[xx^\top] = I_d`, the normalisation of Mei & Montanari).
        dtype, device: of the result (device defaults to the generator's).

    Returns:
        ``(n, d)`` points.
    """
    check_positive_int(num_points, "num_points")
    check_positive_int(dim, "dim")
    check_generator(generator)
    r = math.sqrt(dim) if radius is None else check_real(radius, "radius", positive=True)
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(f"dtype: expected a floating torch.dtype, got {dtype!r}")
    target = generator.device if device is None else torch.device(device)
    g = torch.randn(num_points, dim, generator=generator, dtype=dtype, device=generator.device)
    return (r * g / torch.linalg.vector_norm(g, dim=1, keepdim=True)).to(target)


def simulate_random_features_risk(
    num_features: int,
    num_samples: int,
    dim: int,
    *,
    ridge: float,
    activation: FeatureKind,
    signal: float,
    noise: float,
    generator: torch.Generator,
    nonlinear_signal: float = 0.0,
    test_points: int = 1000,
    dtype: torch.dtype = torch.float64,
) -> float:
    r"""One draw of the Mei-Montanari setting: the test error of random-features ridge
    regression, estimated on fresh test points.

    Draws :math:`x_i`, :math:`\theta_j` uniform on :math:`S^{d-1}(\sqrt d)`
    (:func:`sample_sphere`; the theorem's spherical weights for both activations),
    :math:`\beta_1 = F_1 g/|g|`, a unit vector :math:`u`, the target

    .. math::
        f_d(x) = \langle\beta_1, x\rangle + F_\star\sqrt{\frac{d + 2}{2(d - 1)}}
            \big(\langle u, x\rangle^2 - 1\big),

    whose second part is a degree-2 (zonal) spherical harmonic of norm :math:`F_\star`
    (:math:`\mathbb E\langle u, x\rangle^4 = 3d/(d + 2)`), orthogonal to constants and linear
    functions (MM state the theorem for a random, Gaussian-process :math:`f^{\mathrm{NL}}`; a
    fixed one of degree 2 cannot be learnt from :math:`n, N = O(d)` either), and
    :math:`y_i = f_d(x_i) + \tau\xi_i`, :math:`\xi_i \sim \mathcal N(0, 1)`. Fits
    :class:`~mathdl.generalization.RandomFeatureModel` (``ridge`` :math:`= \lambda/d`,
    weights :math:`\theta_j/\sqrt d`; module docstring) and returns
    :math:`\frac1{T}\sum_{t\le T}(f_d(x_t) - \hat f(x_t))^2` over ``test_points`` fresh
    inputs. :math:`\lambda = 0` gives the min-norm least-squares fit.

    Args:
        num_features: :math:`N`; num_samples: :math:`n`; dim: :math:`d` (:math:`\ge 2` when
            ``nonlinear_signal > 0``).
        ridge: :math:`\lambda \ge 0` in the normalisation :math:`\frac{N\lambda}{d}|a|^2`.
        activation: ``FeatureKind.RELU`` or ``FeatureKind.SIGMOID``.
        signal: :math:`F_1`; noise: :math:`\tau`; nonlinear_signal: :math:`F_\star`.
        generator: the only source of randomness.
        test_points: :math:`T \ge 1`.
        dtype: computation dtype (float64 by default).

    Returns:
        The test error of this draw (an unbiased estimate of :math:`R` given the training draw).

    Raises:
        ValueError: on bad sizes, a negative ``ridge``, ``signal``, ``noise`` or
            ``nonlinear_signal``, a non-activation ``activation`` or a bad ``generator``.
    """
    n_feat = check_positive_int(num_features, "num_features")
    n = check_positive_int(num_samples, "num_samples")
    d = check_positive_int(dim, "dim")
    lam = check_real(ridge, "ridge", nonnegative=True)
    activation = _check_activation(activation)
    f1 = check_real(signal, "signal", nonnegative=True)
    tau = check_real(noise, "noise", nonnegative=True)
    fs = check_real(nonlinear_signal, "nonlinear_signal", nonnegative=True)
    check_positive_int(test_points, "test_points")
    check_generator(generator)
    if fs > 0 and d < 2:
        raise ValueError(f"dim: expected d >= 2 for a nonlinear target, got {dim!r}")
    x = sample_sphere(n, d, generator=generator, dtype=dtype)
    weights = sample_sphere(n_feat, d, generator=generator, radius=1.0, dtype=dtype)
    beta = sample_sphere(1, d, generator=generator, radius=1.0, dtype=dtype)[0] * f1
    u = sample_sphere(1, d, generator=generator, radius=1.0, dtype=dtype)[0]
    scale = fs * math.sqrt((d + 2) / (2 * (d - 1))) if fs > 0 else 0.0

    def target(z: Tensor) -> Tensor:
        return z @ beta + scale * ((z @ u) ** 2 - 1.0)

    y = target(x) + tau * torch.randn(n, generator=generator, dtype=dtype,
                                      device=generator.device).to(x.device)
    model = RandomFeatureModel(n_feat, kind=activation, ridge=lam / d).fit(x, y, weights=weights)
    x_test = sample_sphere(test_points, d, generator=generator, dtype=dtype)
    return float(torch.mean((model.predict(x_test) - target(x_test)) ** 2))
