r"""Samplers of diffusion models: the reverse SDE and the probability-flow ODE, discretised.

For the forward SDE :math:`dx = f(x, t)\,dt + g(t)\,dB` with marginals :math:`p_t`, the
reverse-time SDE (Anderson 1982)

.. math::
    dx = \big[f(x, t) - g(t)^2 \nabla\log p_t(x)\big]\,dt + g(t)\, d\bar B_t
    \qquad (t \text{ running from } T \text{ down to } 0)

and the probability-flow ODE (Song et al. 2021, eq. 13)

.. math::
    \frac{dx}{dt} = f(x, t) - \tfrac12 g(t)^2 \nabla\log p_t(x)

both carry :math:`p_T` to :math:`p_0`. In the reverse time :math:`s = T - t` their drifts are
:math:`-f + g^2\nabla\log p_t` and :math:`-f + \tfrac{g^2}{2}\nabla\log p_t`; for the
Ornstein–Uhlenbeck process :math:`dx = -x\,dt + \sqrt2\,dB` the reverse SDE reads
:math:`dx = [x + 2\nabla\log p_t(x)]\,ds + \sqrt 2\, d\bar B_s` and the ODE
:math:`dx/ds = x + \nabla\log p_t(x)`.

On a decreasing time grid :math:`T = t_0 > t_1 > \dots > t_N = t_{\min}`, with
:math:`h_k = t_k - t_{k+1}`, :math:`F_{\rm sde} = -f + g^2 s_\theta` and
:math:`F_{\rm ode} = -f + \tfrac{g^2}{2} s_\theta`:

* Euler–Maruyama (reverse SDE): :math:`x_{k+1} = x_k + h_k F_{\rm sde}(x_k, t_k) +
  g(t_k)\sqrt{h_k}\,\xi_k`, :math:`\xi_k \sim \mathcal N(0, I)` — weak order 1;
* Euler (ODE): :math:`x_{k+1} = x_k + h_k F_{\rm ode}(x_k, t_k)` — order 1;
* Heun (ODE, explicit trapezoidal): :math:`\tilde x = x_k + h_k F_{\rm ode}(x_k, t_k)`,
  :math:`x_{k+1} = x_k + \tfrac{h_k}{2}[F_{\rm ode}(x_k, t_k) + F_{\rm ode}(\tilde x, t_{k+1})]`
  — order 2.

References:
    B. D. O. Anderson, "Reverse-time diffusion equation models", Stoch. Proc. Appl. 12 (1982)
    313-326; Y. Song et al., "Score-based generative modeling through stochastic differential
    equations", ICLR 2021 (eqs. 6, 13); P. E. Kloeden & E. Platen, *Numerical Solution of
    Stochastic Differential Equations*, Springer 1992, Thm 14.5.2 (weak order 1 of
    Euler–Maruyama); E. Hairer, S. P. Nørsett, G. Wanner, *Solving Ordinary Differential
    Equations I*, 2nd ed., Springer 1993, §II.1 (Heun's method, order 2); T. Karras, M. Aittala,
    T. Aila, S. Laine, "Elucidating the design space of diffusion-based generative models",
    NeurIPS 2022 (Heun sampling).
"""

from __future__ import annotations

import enum
import math

import torch
from torch import Tensor

from mathdl.generative._mixtures import ScoreFunction, _psd_sqrt
from mathdl.generative._processes import ForwardProcess, _check_process, check_time

__all__ = ["Sampler", "TimeSpacing", "gaussian_sampler_law", "probability_flow_drift",
           "reverse_sde_drift", "sample", "sampler_step", "time_grid"]


class Sampler(enum.Enum):
    """The discretisation of the reverse dynamics.

    ``EULER_MARUYAMA``: the reverse SDE by Euler–Maruyama (stochastic, weak order 1).
    ``EULER``: the probability-flow ODE by the explicit Euler method (order 1).
    ``HEUN``: the probability-flow ODE by Heun's method (order 2, two score calls a step).
    """

    EULER_MARUYAMA = "euler_maruyama"
    EULER = "euler"
    HEUN = "heun"

    @property
    def is_stochastic(self) -> bool:
        return self is Sampler.EULER_MARUYAMA

    @property
    def order(self) -> int:
        """The (weak, for the SDE) order of convergence in the step size."""
        return 2 if self is Sampler.HEUN else 1


class TimeSpacing(enum.Enum):
    r"""How the grid :math:`t_{\max} = t_0 > \dots > t_N = t_{\min}` is spaced.

    ``UNIFORM``: :math:`t_k = t_{\max} - k (t_{\max} - t_{\min})/N`.
    ``GEOMETRIC``: :math:`t_k = t_{\max} (t_{\min}/t_{\max})^{k/N}` (needs :math:`t_{\min} > 0`;
    refines near :math:`t = 0`, where the score of concentrated data varies fastest).
    """

    UNIFORM = "uniform"
    GEOMETRIC = "geometric"


def time_grid(t_max: float, t_min: float, steps: int, *,
              spacing: TimeSpacing = TimeSpacing.UNIFORM) -> tuple[float, ...]:
    r"""The decreasing grid :math:`t_0 = t_{\max} > t_1 > \dots > t_N = t_{\min}`, ``N = steps``.

    Raises:
        ValueError: unless ``t_max > t_min >= 0`` (``> 0`` for geometric spacing) and
            ``steps >= 1``.
    """
    t_max, t_min = check_time(t_max, "t_max"), check_time(t_min, "t_min")
    if isinstance(t_max, Tensor) or isinstance(t_min, Tensor):
        raise ValueError("t_max, t_min: expected floats")
    if not t_max > t_min:
        raise ValueError(f"t_max: expected t_max > t_min = {t_min}, got {t_max}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: expected a positive integer, got {steps!r}")
    if not isinstance(spacing, TimeSpacing):
        raise ValueError(f"spacing: expected a TimeSpacing, got {spacing!r}")
    if spacing is TimeSpacing.UNIFORM:
        h = (t_max - t_min) / steps
        inner = [t_max - k * h for k in range(1, steps)]
    else:
        if t_min <= 0:
            raise ValueError("t_min: expected t_min > 0 for geometric spacing")
        ratio = math.log(t_min / t_max) / steps
        inner = [t_max * math.exp(k * ratio) for k in range(1, steps)]
    return (t_max, *inner, t_min)


def reverse_sde_drift(score: ScoreFunction, process: ForwardProcess, x: Tensor, t: float
                      ) -> Tensor:
    r"""Drift of the reverse SDE in reverse time, :math:`-f(x, t) + g(t)^2\, s(x, t)`."""
    return -process.drift(x, t) + process.diffusion(t) ** 2 * score(x, t)


def probability_flow_drift(score: ScoreFunction, process: ForwardProcess, x: Tensor, t: float
                           ) -> Tensor:
    r"""Drift of the probability-flow ODE in reverse time,
    :math:`-f(x, t) + \tfrac12 g(t)^2\, s(x, t)`."""
    return -process.drift(x, t) + 0.5 * process.diffusion(t) ** 2 * score(x, t)


def _check_sampler(sampler: Sampler) -> Sampler:
    if not isinstance(sampler, Sampler):
        raise ValueError(f"sampler: expected a Sampler, got {sampler!r}")
    return sampler


def sampler_step(sampler: Sampler, score: ScoreFunction, process: ForwardProcess, x: Tensor,
                 t: float, t_next: float, *, noise: Tensor | None = None) -> Tensor:
    r"""One step of ``sampler`` from time ``t`` down to ``t_next < t`` (formulas in the module
    docstring).

    Args:
        sampler: the discretisation.
        score: ``score(x, t) -> (n, d)``.
        process: the forward process.
        x: ``(n, d)`` states at time ``t``.
        t, t_next: times, ``t > t_next >= 0``.
        noise: ``(n, d)`` standard normal draws :math:`\xi_k`, required by
            ``Sampler.EULER_MARUYAMA`` (ignored otherwise).

    Returns:
        ``(n, d)`` states at time ``t_next``.

    Raises:
        ValueError: on bad times, or a missing/mis-shaped ``noise`` for the SDE.
    """
    _check_sampler(sampler)
    h = float(t) - float(t_next)
    if not h > 0:
        raise ValueError(f"t_next: expected t_next < t = {t}, got {t_next}")
    if sampler is Sampler.EULER_MARUYAMA:
        if not isinstance(noise, Tensor) or noise.shape != x.shape:
            raise ValueError(f"noise: expected standard normal draws of shape {tuple(x.shape)}")
        return (x + h * reverse_sde_drift(score, process, x, t)
                + process.diffusion(t) * math.sqrt(h) * noise)
    k1 = probability_flow_drift(score, process, x, t)
    if sampler is Sampler.EULER:
        return x + h * k1
    k2 = probability_flow_drift(score, process, x + h * k1, t_next)
    return x + 0.5 * h * (k1 + k2)


def sample(score: ScoreFunction, process: ForwardProcess, x: Tensor, *, sampler: Sampler,
           t_max: float, t_min: float, steps: int, generator: torch.Generator | None = None,
           spacing: TimeSpacing = TimeSpacing.UNIFORM) -> Tensor:
    r"""Run ``sampler`` from :math:`x_{t_{\max}} =` ``x`` down to :math:`t_{\min}`.

    With the exact score and :math:`x \sim p_{t_{\max}}` the output is distributed as
    :math:`p_{t_{\min}}` up to the discretisation error, :math:`O(h)` for Euler–Maruyama (weak)
    and Euler, :math:`O(h^2)` for Heun.

    Args:
        score: ``score(x: (n, d), t: float) -> (n, d)``, e.g. :func:`exact_score`.
        process: the forward process whose reversal is simulated.
        x: ``(n, d)`` starting points at time ``t_max``; dtype and device are kept.
        sampler: :class:`Sampler`.
        t_max, t_min: ``t_max > t_min >= 0``.
        steps: number of steps :math:`N`.
        generator: the source of the Brownian increments; required for
            ``Sampler.EULER_MARUYAMA``.
        spacing: :class:`TimeSpacing` of the grid.

    Returns:
        ``(n, d)`` samples at time ``t_min``.

    Raises:
        ValueError: on bad arguments (naming them).
    """
    _check_sampler(sampler)
    _check_process(process)
    if not isinstance(x, Tensor) or x.ndim != 2 or not torch.is_floating_point(x):
        raise ValueError("x: expected a floating-point tensor of shape (n, d)")
    if sampler.is_stochastic and not isinstance(generator, torch.Generator):
        raise ValueError("generator: Sampler.EULER_MARUYAMA needs a torch.Generator")
    grid = time_grid(t_max, t_min, steps, spacing=spacing)
    for t, t_next in zip(grid[:-1], grid[1:], strict=True):
        noise = None
        if sampler.is_stochastic:
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        x = sampler_step(sampler, score, process, x, t, t_next, noise=noise)
    return x


def gaussian_sampler_law(score: ScoreFunction, process: ForwardProcess, mean: Tensor,
                         covariance: Tensor, *, sampler: Sampler, t_max: float, t_min: float,
                         steps: int, spacing: TimeSpacing = TimeSpacing.UNIFORM
                         ) -> tuple[Tensor, Tensor]:
    r"""The exact law of the output of :func:`sample` started from
    :math:`\mathcal N(m_0, C_0)`, when ``score(·, t)`` is affine (Gaussian data).

    Each step is then an affine map of the state and of the noise,
    :math:`x_{k+1} = A_k x_k + b_k + D_k \xi_k`, so the output is Gaussian with

    .. math::
        m_{k+1} = A_k m_k + b_k, \qquad C_{k+1} = A_k C_k A_k^\top + D_k D_k^\top .

    :math:`A_k` and :math:`D_k` are read off :func:`sampler_step` itself (its response to the
    columns of :math:`C_k^{1/2}` and to unit noises), so this is the law of *this* code's sampler,
    with no Monte Carlo error: the discretisation error of the sampler can be measured exactly,
    e.g. as :func:`gaussian_w2` to the true :math:`p_{t_{\min}}`.

    Args:
        score, process, sampler, t_max, t_min, steps, spacing: as in :func:`sample`.
        mean: ``(d,)`` mean :math:`m_0` of the starting law.
        covariance: ``(d, d)`` covariance :math:`C_0`.

    Returns:
        ``(mean, covariance)`` of the output law, ``(d,)`` and ``(d, d)``.

    Raises:
        ValueError: on bad shapes or arguments.
    """
    _check_sampler(sampler)
    _check_process(process)
    if not isinstance(mean, Tensor) or mean.ndim != 1 or not torch.is_floating_point(mean):
        raise ValueError("mean: expected a floating-point tensor of shape (d,)")
    d = mean.shape[0]
    if not isinstance(covariance, Tensor) or covariance.shape != (d, d):
        raise ValueError(f"covariance: expected a tensor of shape ({d}, {d})")
    grid = time_grid(t_max, t_min, steps, spacing=spacing)
    m, c = mean, 0.5 * (covariance + covariance.T)
    eye = torch.eye(d, dtype=mean.dtype, device=mean.device)
    for t, t_next in zip(grid[:-1], grid[1:], strict=True):
        root = _psd_sqrt(c)
        states = torch.cat([m[None], m[None] + root.T])  # the mean and m + columns of C^(1/2)
        zero = torch.zeros_like(states) if sampler.is_stochastic else None
        out = sampler_step(sampler, score, process, states, t, t_next, noise=zero)
        m_next = out[0]
        a_root = (out[1:] - m_next).T  # A C^(1/2)
        c = a_root @ a_root.T
        if sampler.is_stochastic:
            noisy = sampler_step(sampler, score, process, m[None].expand(d, d), t, t_next,
                                 noise=eye)
            d_mat = (noisy - m_next).T
            c = c + d_mat @ d_mat.T
        m, c = m_next, 0.5 * (c + c.T)
    return m, c
