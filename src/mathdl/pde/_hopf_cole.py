r"""The Hopf–Cole reference solution of the HJB equation of the LQG control problem.

The Hamilton–Jacobi–Bellman equation

.. math::

    \partial_t u + \Delta u - \lambda |\nabla u|^2 = 0, \qquad u(T, x) = g(x),

is linearised by :math:`w = e^{-\lambda u}`, which solves the backward heat equation
:math:`\partial_t w + \Delta w = 0`; the Feynman–Kac formula for the generator of
:math:`\sqrt 2 W` then gives

.. math::

    u(t, x) = -\frac{1}{\lambda} \ln \mathbb{E}\big[\exp\big(-\lambda\, g(x + \sqrt{2}\, W_{T-t})
    \big)\big], \qquad \lambda \ne 0,

and the heat-equation value :math:`u(t, x) = \mathbb{E}[g(x + \sqrt 2 W_{T-t})]` at
:math:`\lambda = 0` (the limit :math:`\lambda \to 0`). Reference: E, Han, Jentzen 2017
(Comm. Math. Stat. 5, §4.3, eq. (57)); Han, Jentzen, E 2018 (PNAS 115, eq. (9)).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from scipy import integrate, optimize, stats

from mathdl._validation import check_positive_int, check_real

Terminal = Callable[[torch.Tensor], torch.Tensor]


class HopfColeEstimate(NamedTuple):
    """A Monte Carlo value with its standard error (both of shape ``x.shape[:-1]``)."""

    value: torch.Tensor
    std_error: torch.Tensor


def hopf_cole_value(terminal: Terminal, x: torch.Tensor, *, time_to_maturity: float,
                    lam: float, n_samples: int, generator: torch.Generator,
                    chunk_size: int = 65_536) -> HopfColeEstimate:
    r"""Monte Carlo value of :math:`u(t, x) = -\lambda^{-1} \ln \mathbb{E}[e^{-\lambda g(x +
    \sqrt 2 W_{T-t})}]`, the solution of :math:`u_t + \Delta u - \lambda|\nabla u|^2 = 0`.

    With :math:`a_i = -\lambda g(x + \sqrt{2\tau} \xi_i)`, :math:`\xi_i \sim N(0, I_d)`,
    :math:`\tau = T - t`, the estimate is :math:`\hat u = -\lambda^{-1} \ln \frac1n \sum_i e^{a_i}`,
    accumulated over chunks with a running maximum (a stable log-mean-exp, exact in float64 for any
    :math:`\lambda g`), and its standard error is the delta method's
    :math:`\mathrm{se}(\hat u) = |\lambda|^{-1}\, \hat s_w / (\sqrt n\, \bar w)` with
    :math:`w_i = e^{a_i}`. At :math:`\lambda = 0` it is the sample mean of :math:`g` and its
    standard error. The bias of :math:`\hat u` (Jensen) is :math:`O(\mathrm{se}^2)`, negligible
    next to the standard error (but see :func:`hopf_cole_radial_value`: for large λ the
    expectation can be dominated by paths too rare to be sampled, and then both are wrong).
    Reference: E, Han, Jentzen 2017 (Comm. Math. Stat. 5, eq. (57)).

    Args:
        terminal: ``g``, maps ``(m, d)`` to ``(m,)``.
        x: the point(s), ``(d,)`` or ``(p, d)``; dtype and device of the result follow ``x``
            (use float64: the check needs it).
        time_to_maturity: ``T - t >= 0``.
        lam: the control cost coefficient λ (any real; λ = 0 is the heat equation).
        n_samples: Monte Carlo samples per point (>= 2).
        generator: the source of the Gaussian samples (on ``x``'s device).
        chunk_size: samples drawn at once per point (memory: ``chunk_size * d`` per point).

    Returns:
        ``HopfColeEstimate(value, std_error)``, each of shape ``x.shape[:-1]``.

    Raises:
        ValueError: ``x`` is not a floating tensor of shape ``(d,)`` or ``(p, d)``; a scalar
            argument is out of range; ``terminal`` returns the wrong shape.
    """
    if not (isinstance(x, torch.Tensor) and x.is_floating_point() and x.dim() in (1, 2)
            and x.shape[-1] >= 1):
        raise ValueError(f"x: expected a floating tensor of shape (d,) or (p, d), got "
                         f"{getattr(x, 'shape', x)!r}")
    tau = check_real(time_to_maturity, "time_to_maturity", nonnegative=True)
    lam = check_real(lam, "lam")
    n = check_positive_int(n_samples, "n_samples", minimum=2)
    chunk = check_positive_int(chunk_size, "chunk_size")
    points = x.reshape(-1, x.shape[-1])
    p, d = points.shape
    scale = math.sqrt(2.0 * tau)
    # Running log-mean-exp: shift m, s1 = sum e^(a - m), s2 = sum e^(2(a - m)); for λ = 0 the
    # plain sums of g and g^2 (shifted by the first chunk's mean for accuracy).
    shift = torch.full((p,), -math.inf, dtype=x.dtype, device=x.device)
    s1 = torch.zeros(p, dtype=x.dtype, device=x.device)
    s2 = torch.zeros(p, dtype=x.dtype, device=x.device)
    done = 0
    while done < n:
        m = min(chunk, n - done)
        xi = torch.randn(p, m, d, generator=generator, dtype=x.dtype, device=x.device)
        values = terminal((points[:, None, :] + scale * xi).reshape(p * m, d))
        if not (isinstance(values, torch.Tensor) and values.shape == (p * m,)):
            raise ValueError(f"terminal: expected a tensor of shape ({p * m},) for input of shape "
                             f"({p * m}, {d}), got {getattr(values, 'shape', values)!r}")
        values = values.reshape(p, m)
        if lam == 0.0:
            if done == 0:
                shift = values.mean(dim=1)
            centred = values - shift[:, None]
            s1 = s1 + centred.sum(dim=1)
            s2 = s2 + centred.square().sum(dim=1)
        else:
            a = -lam * values
            new_shift = torch.maximum(shift, a.max(dim=1).values)
            rescale = torch.exp(shift - new_shift)
            e = torch.exp(a - new_shift[:, None])
            s1 = s1 * rescale + e.sum(dim=1)
            s2 = s2 * rescale.square() + e.square().sum(dim=1)
            shift = new_shift
        done += m
    mean = s1 / n
    variance = (s2 / n - mean.square()).clamp_min(0.0) * (n / (n - 1))
    if lam == 0.0:
        value = shift + mean
        std_error = variance.sqrt() / math.sqrt(n)
    else:
        value = -(shift + torch.log(mean)) / lam
        std_error = variance.sqrt() / (math.sqrt(n) * mean * abs(lam))
    shape = x.shape[:-1]
    return HopfColeEstimate(value.reshape(shape), std_error.reshape(shape))


def quadratic_hjb_value(x: torch.Tensor, *, time_to_maturity: float, lam: float,
                        curvature: float) -> torch.Tensor:
    r"""Exact solution of :math:`u_t + \Delta u - \lambda|\nabla u|^2 = 0` with
    :math:`g(x) = a|x|^2`:

    .. math::

        u(t, x) = \frac{d}{2\lambda} \ln(1 + 4\lambda a \tau) + \frac{a |x|^2}{1 + 4\lambda a\tau},
        \qquad \tau = T - t,

    (the Gaussian integral in the Hopf–Cole formula), and :math:`a|x|^2 + 2 a d \tau` at
    :math:`\lambda = 0`. Needs :math:`1 + 4\lambda a\tau > 0`.

    Args:
        x: ``(d,)`` or ``(p, d)``.
        time_to_maturity: ``τ = T - t >= 0``.
        lam: λ (real).
        curvature: ``a`` (real).

    Returns:
        ``u``, shape ``x.shape[:-1]``, dtype and device of ``x``.

    Raises:
        ValueError: bad shapes, or ``1 + 4 λ a τ <= 0`` (the solution blows up before ``t``).
    """
    if not (isinstance(x, torch.Tensor) and x.is_floating_point() and x.dim() in (1, 2)):
        raise ValueError(f"x: expected a floating tensor of shape (d,) or (p, d), got "
                         f"{getattr(x, 'shape', x)!r}")
    tau = check_real(time_to_maturity, "time_to_maturity", nonnegative=True)
    lam = check_real(lam, "lam")
    a = check_real(curvature, "curvature")
    d = x.shape[-1]
    q = 1.0 + 4.0 * lam * a * tau
    if q <= 0:
        raise ValueError(f"curvature: expected 1 + 4 lam curvature time_to_maturity > 0, got "
                         f"{q!r}")
    r2 = x.square().sum(dim=-1)
    if lam == 0.0:
        return a * r2 + 2.0 * a * d * tau
    return d / (2.0 * lam) * math.log(q) + a * r2 / q


def hopf_cole_radial_value(profile: Callable[[float], float], *, dim: int,
                           time_to_maturity: float, lam: float) -> float:
    r"""The Hopf–Cole value at the origin for a radial terminal cost :math:`g(x) = h(|x|^2)`, by
    one-dimensional quadrature: :math:`|\sqrt2 W_\tau|^2 = 2\tau R` with
    :math:`R \sim \chi^2_d`, so

    .. math::

        u(T - \tau, 0) = -\frac1\lambda \ln \int_0^\infty e^{-\lambda h(2\tau r)}\,
        p_{\chi^2_d}(r)\,dr

    (and :math:`\int h(2\tau r) p_{\chi^2_d}(r)\,dr` at λ = 0), evaluated in float64 with
    adaptive quadrature (``scipy.integrate.quad``) in log space: an exact reference, independent of
    :func:`hopf_cole_value`'s Monte Carlo. For the LQG example :math:`h(r) = \ln((1 + r)/2)`.

    Args:
        profile: ``h``, a function of a float ``r = |x|^2 >= 0``, smooth on (0, ∞).
        dim: d >= 1.
        time_to_maturity: ``τ = T - t > 0``.
        lam: λ (real).

    Returns:
        ``u(T - τ, 0)`` as a float.

    Raises:
        ValueError: an argument is out of range.
    """
    d = check_positive_int(dim, "dim")
    tau = check_real(time_to_maturity, "time_to_maturity", positive=True)
    lam = check_real(lam, "lam")
    law = stats.chi2(d)
    hi = float(law.isf(1e-16)) + 1.0

    def log_integrand(r: float) -> float:
        return -lam * profile(2.0 * tau * r) + float(law.logpdf(r))

    # the integrand's peak can sit far in the chi-square's lower tail when λ is large: locate it
    # and centre the exponent there (a stable log-integral)
    peak = optimize.minimize_scalar(lambda r: -log_integrand(r), bounds=(1e-12, hi),
                                    method="bounded", options={"xatol": 1e-10}).x
    if lam == 0.0:
        value, _ = integrate.quad(lambda r: profile(2.0 * tau * r) * law.pdf(r), 0.0, hi,
                                  points=[peak], epsabs=0.0, epsrel=1e-12, limit=500)
        return float(value)
    shift = log_integrand(peak)
    value, _ = integrate.quad(lambda r: math.exp(log_integrand(r) - shift) if r > 0 else 0.0,
                              0.0, hi, points=[peak], epsabs=0.0, epsrel=1e-12, limit=500)
    return float(-(shift + math.log(value)) / lam)


def lqg_profile(r: float) -> float:
    r""":math:`h(r) = \ln((1 + r)/2)`, the radial profile of the LQG example's
    :math:`g(x) = \ln((1 + |x|^2)/2)`."""
    return math.log1p(r) - math.log(2.0)
