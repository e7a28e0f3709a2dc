r"""Forward (noising) processes of diffusion models, with their Gaussian transition laws.

Every process here is a linear SDE in :math:`\mathbb R^d`

.. math::
    dx_t = -b(t)\, x_t\, dt + g(t)\, dB_t ,

whose transition law is Gaussian and isotropic:

.. math::
    x_t \mid x_0 \sim \mathcal N\big(a(t)\, x_0,\ \sigma(t)^2 I\big), \qquad
    a(t) = e^{-\int_0^t b}, \qquad \sigma(t)^2 = \int_0^t a(t)^2 a(s)^{-2} g(s)^2\, ds .

So the marginal :math:`p_t` of any initial law :math:`p_0` is :math:`p_0` scaled by :math:`a(t)`
and convolved with :math:`\mathcal N(0, \sigma(t)^2 I)`; it solves the Fokker–Planck equation
:math:`\partial_t p = \nabla\cdot(b x p) + \tfrac{g^2}{2}\Delta p`.

* :class:`OrnsteinUhlenbeck` (variance preserving): :math:`dx = -x\,dt + \sqrt 2\, dB`,
  :math:`x_t = e^{-t} x_0 + \sqrt{1 - e^{-2t}}\, z`; equilibrium :math:`\mathcal N(0, I)`.
* :class:`HeatFlow` (variance exploding): :math:`dx = \sqrt 2\, dB`,
  :math:`x_t = x_0 + \sqrt{2t}\, z`; :math:`p_t = e^{t\Delta} p_0` solves the heat equation
  :math:`\partial_t p = \Delta p`.
* :class:`VariancePreserving` (the general :math:`\beta`-schedule of Song et al. 2021, eq. 11):
  :math:`dx = -\tfrac12\beta(t) x\,dt + \sqrt{\beta(t)}\, dB` with
  :math:`\beta(t) = \beta_{\min} + (\beta_{\max} - \beta_{\min}) t`, so
  :math:`a(t) = e^{-B(t)/2}`, :math:`\sigma(t)^2 = 1 - e^{-B(t)}`,
  :math:`B(t) = \int_0^t\beta = \beta_{\min} t + \tfrac12(\beta_{\max} - \beta_{\min}) t^2`.
  The Ornstein–Uhlenbeck process is :math:`\beta \equiv 2`.

References:
    Y. Song, J. Sohl-Dickstein, D. P. Kingma, A. Kumar, S. Ermon, B. Poole, "Score-based
    generative modeling through stochastic differential equations", ICLR 2021 (eqs. 9, 11,
    29); B. Øksendal, *Stochastic Differential Equations*, 6th ed., Springer 2003, §5.1
    (the Ornstein–Uhlenbeck process).
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "ForwardProcess",
    "HeatFlow",
    "OrnsteinUhlenbeck",
    "VariancePreserving",
    "sample_forward",
    "sample_prior",
]

Time = float | Tensor


def check_time(t: Time, name: str = "t") -> Time:
    """Validate a time (a float, or a tensor of times): finite and >= 0."""
    if isinstance(t, Tensor):
        if not torch.is_floating_point(t):
            raise ValueError(f"{name}: expected a floating-point tensor of times, got {t.dtype}")
        if not bool(torch.all(torch.isfinite(t) & (t >= 0))):
            raise ValueError(f"{name}: expected finite times >= 0")
        return t
    if isinstance(t, bool) or not isinstance(t, int | float):
        raise ValueError(f"{name}: expected a float or a tensor of times, got {t!r}")
    t = float(t)
    if not (math.isfinite(t) and t >= 0):
        raise ValueError(f"{name}: expected a finite time >= 0, got {t!r}")
    return t


def _exp(t: Time) -> Time:
    return torch.exp(t) if isinstance(t, Tensor) else math.exp(t)


def _sqrt(t: Time) -> Time:
    return torch.sqrt(t) if isinstance(t, Tensor) else math.sqrt(t)


def _one_minus_exp_neg(u: Time) -> Time:
    r""":math:`1 - e^{-u}` without cancellation at small :math:`u`."""
    return -torch.expm1(-u) if isinstance(u, Tensor) else -math.expm1(-u)


class ForwardProcess(abc.ABC):
    r"""A linear forward SDE :math:`dx = -b(t) x\,dt + g(t)\,dB` with Gaussian transitions.

    Subclasses give :math:`b(t)` (:meth:`drift_rate`), :math:`g(t)` (:meth:`diffusion`),
    :math:`a(t)` (:meth:`mean_scale`) and :math:`\sigma(t)` (:meth:`std`); times are floats
    (or, for :meth:`mean_scale` and :meth:`std`, tensors of times) with :math:`t \ge 0`.
    """

    @abc.abstractmethod
    def drift_rate(self, t: float) -> float:
        r""":math:`b(t)`: the drift is :math:`f(x, t) = -b(t) x`."""

    @abc.abstractmethod
    def diffusion(self, t: float) -> float:
        r""":math:`g(t)`, the diffusion coefficient."""

    @abc.abstractmethod
    def mean_scale(self, t: Time) -> Time:
        r""":math:`a(t)` in :math:`\mathbb E[x_t \mid x_0] = a(t) x_0`."""

    @abc.abstractmethod
    def std(self, t: Time) -> Time:
        r""":math:`\sigma(t)`: :math:`\operatorname{Cov}(x_t \mid x_0) = \sigma(t)^2 I`."""

    def drift(self, x: Tensor, t: float) -> Tensor:
        r"""The drift :math:`f(x, t) = -b(t)\, x`; ``x: (n, d)``."""
        return -self.drift_rate(check_time(t)) * x

    def marginal_mean(self, x0: Tensor, t: Time) -> Tensor:
        r""":math:`\mathbb E[x_t \mid x_0] = a(t)\, x_0`.

        Args:
            x0: ``(n, d)`` initial points.
            t: a time, or ``(n,)`` times (one per row).
        """
        return _broadcast_time(self.mean_scale(check_time(t)), x0) * x0

    def marginal_std(self, t: Time) -> Time:
        r""":math:`\sigma(t)`, the standard deviation of :math:`x_t` given :math:`x_0` (per
        coordinate)."""
        return self.std(check_time(t))


@dataclass(frozen=True)
class OrnsteinUhlenbeck(ForwardProcess):
    r"""The Ornstein–Uhlenbeck process :math:`dx = -x\,dt + \sqrt 2\, dB` (variance preserving).

    .. math::
        x_t = e^{-t} x_0 + \sqrt{1 - e^{-2t}}\, z, \qquad z \sim \mathcal N(0, I);

    its generator is :math:`L = \Delta - x\cdot\nabla`, its equilibrium the standard Gaussian
    :math:`\gamma = \mathcal N(0, I)`, which satisfies the log-Sobolev inequality with constant 1,
    so :math:`\mathrm{KL}(p_t \,\|\, \gamma) \le e^{-2t}\, \mathrm{KL}(p_0 \,\|\, \gamma)`
    (Bakry, Gentil, Ledoux, *Analysis and Geometry of Markov Diffusion Operators*, 2014, Thm
    5.2.1). The forward process of Biroli, Bonnaire, de Bortoli & Mézard (2024).
    """

    def drift_rate(self, t: float) -> float:
        check_time(t)
        return 1.0

    def diffusion(self, t: float) -> float:
        check_time(t)
        return math.sqrt(2.0)

    def mean_scale(self, t: Time) -> Time:
        return _exp(-check_time(t))

    def std(self, t: Time) -> Time:
        return _sqrt(_one_minus_exp_neg(2 * check_time(t)))


@dataclass(frozen=True)
class HeatFlow(ForwardProcess):
    r"""Brownian motion at speed 2, :math:`dx = \sqrt 2\, dB` (variance exploding).

    .. math::
        x_t = x_0 + \sqrt{2t}\, z, \qquad p_t = p_0 * \mathcal N(0, 2t I) = e^{t\Delta} p_0,

    so :math:`p_t` solves the heat equation :math:`\partial_t p = \Delta p` with the heat kernel
    :math:`(4\pi t)^{-d/2} e^{-|x|^2/(4t)}` (the normalisation of Li & Yau 1986).
    """

    def drift_rate(self, t: float) -> float:
        check_time(t)
        return 0.0

    def diffusion(self, t: float) -> float:
        check_time(t)
        return math.sqrt(2.0)

    def mean_scale(self, t: Time) -> Time:
        t = check_time(t)
        return torch.ones_like(t) if isinstance(t, Tensor) else 1.0

    def std(self, t: Time) -> Time:
        return _sqrt(2 * check_time(t))


@dataclass(frozen=True)
class VariancePreserving(ForwardProcess):
    r"""The variance-preserving SDE with a linear :math:`\beta`-schedule (Song et al. 2021, eq. 11).

    .. math::
        dx = -\tfrac12 \beta(t)\, x\, dt + \sqrt{\beta(t)}\, dB, \qquad
        \beta(t) = \beta_{\min} + (\beta_{\max} - \beta_{\min})\, t,

    .. math::
        x_t = e^{-B(t)/2} x_0 + \sqrt{1 - e^{-B(t)}}\, z, \qquad
        B(t) = \beta_{\min} t + \tfrac12 (\beta_{\max} - \beta_{\min}) t^2 .

    ``VariancePreserving(2, 2)`` is :class:`OrnsteinUhlenbeck`. Song et al. use
    :math:`t \in [0, 1]`, :math:`\beta_{\min} = 0.1`, :math:`\beta_{\max} = 20`; any
    :math:`t \ge 0` is accepted here.

    Raises:
        ValueError: if ``beta_min`` or ``beta_max`` is not finite and positive.
    """

    beta_min: float = 0.1
    beta_max: float = 20.0

    def __post_init__(self) -> None:
        for name in ("beta_min", "beta_max"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not (
                    math.isfinite(value) and value > 0):
                raise ValueError(f"{name}: expected a finite number > 0, got {value!r}")

    def beta(self, t: float) -> float:
        r""":math:`\beta(t) = \beta_{\min} + (\beta_{\max} - \beta_{\min}) t`."""
        return self.beta_min + (self.beta_max - self.beta_min) * check_time(t)

    def integrated_beta(self, t: Time) -> Time:
        r""":math:`B(t) = \int_0^t \beta(s)\, ds`."""
        t = check_time(t)
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t

    def drift_rate(self, t: float) -> float:
        return 0.5 * self.beta(t)

    def diffusion(self, t: float) -> float:
        return math.sqrt(self.beta(t))

    def mean_scale(self, t: Time) -> Time:
        return _exp(-0.5 * self.integrated_beta(t))

    def std(self, t: Time) -> Time:
        return _sqrt(_one_minus_exp_neg(self.integrated_beta(t)))


def _broadcast_time(value: Time, x: Tensor) -> Time:
    """Reshape a per-row tensor of times' coefficients to broadcast against ``x: (n, d)``."""
    if not isinstance(value, Tensor):
        return value
    if value.ndim == 0:
        return value.to(dtype=x.dtype, device=x.device)
    if value.shape != x.shape[:1]:
        raise ValueError(f"t: expected a scalar or one time per row, shape ({x.shape[0]},), "
                         f"got {tuple(value.shape)}")
    return value.to(dtype=x.dtype, device=x.device)[:, None]


def _check_points(x: Tensor, name: str) -> Tensor:
    if not isinstance(x, Tensor) or x.ndim != 2 or not torch.is_floating_point(x):
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name}: expected a floating-point tensor of shape (n, d), got {shape}")
    return x


def _check_process(process: ForwardProcess) -> ForwardProcess:
    if not isinstance(process, ForwardProcess):
        raise ValueError(f"process: expected a ForwardProcess, got {type(process).__name__}")
    return process


def sample_forward(process: ForwardProcess, x0: Tensor, t: Time, *,
                   generator: torch.Generator) -> Tensor:
    r"""Draw :math:`x_t = a(t)\, x_0 + \sigma(t)\, z`, :math:`z \sim \mathcal N(0, I)`.

    This is an exact draw from the transition law of the forward SDE (no time stepping): with
    :math:`x_0 \sim p_0`, the result is distributed as :math:`p_t`.

    Args:
        process: the forward process.
        x0: ``(n, d)`` initial points; dtype and device are kept.
        t: a time :math:`t \ge 0`, or ``(n,)`` times (one per row).
        generator: the source of randomness.

    Returns:
        ``(n, d)`` noised points.

    Raises:
        ValueError: on a bad process, shape or time.
    """
    _check_process(process)
    _check_points(x0, "x0")
    t = check_time(t)
    z = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
    return process.marginal_mean(x0, t) + _broadcast_time(process.std(t), x0) * z


def sample_prior(process: ForwardProcess, n: int, d: int, t: float, *,
                 generator: torch.Generator, dtype: torch.dtype = torch.float64,
                 device: torch.device | str | None = None) -> Tensor:
    r"""Draw ``n`` points of the usual starting law of the samplers, :math:`\mathcal N(0,
    \sigma(t)^2 I)` (the forward marginal at time ``t`` of the point mass at 0).

    For :class:`OrnsteinUhlenbeck` at large :math:`t` this is the equilibrium
    :math:`\mathcal N(0, I)`; the gap to the true :math:`p_t` is what
    ``generative/forward-convergence`` measures.

    Raises:
        ValueError: on a bad process, size or time.
    """
    _check_process(process)
    for name, value in (("n", n), ("d", d)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    t = check_time(t)
    if isinstance(t, Tensor):
        raise ValueError("t: expected a single time (a float)")
    z = torch.randn(n, d, generator=generator, dtype=dtype, device=device)
    return process.std(t) * z
