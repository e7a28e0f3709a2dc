r"""The collapse (memorisation) transition of diffusion models driven by the empirical score.

With the exact score of the empirical measure of :math:`n` training points
(:func:`mathdl.generative.empirical_score`) the reverse dynamics ends on a training point. Along
the way, the posterior weights

.. math::
    r_i(x, t) = \operatorname{softmax}_i\Big(-\frac{|x - a(t)\, y_i|^2}{2\sigma(t)^2}\Big)

(:func:`posterior_weights`; :math:`a, \sigma` the forward process's mean scale and std) go from
spread over many points (the empirical noised law looks like the population one) to concentrated
on one (the trajectory has *collapsed* onto its training point).

Biroli, Bonnaire, de Bortoli & Mézard (2024, §3) locate the transition, for :math:`n = e^{\alpha d}`
and :math:`d\to\infty`, where the number of points stops covering the noised law: the planted
term :math:`r_{i^*}` competes with the sum over the other points, whose size is
:math:`n\,e^{-d f(t)}` relative to it, with the *excess entropy* density

.. math::
    f(t) = \frac1d\Big(H(p_t) - H\big(\mathcal N(0, \sigma(t)^2 I)\big)\Big)
         = \frac1{2d}\sum_k \log\Big(1 + \frac{a(t)^2 \lambda_k}{\sigma(t)^2}\Big)

for Gaussian data with covariance eigenvalues :math:`\lambda_k` (:func:`excess_entropy`). The
collapse time :math:`t_C` solves :math:`f(t_C) = \log(n)/d` (:func:`collapse_time`); for the
Ornstein–Uhlenbeck process and isotropic data :math:`\mathcal N(0, s^2 I)`,

.. math::
    t_C = \tfrac12 \log\Big(1 + \frac{s^2}{n^{2/d} - 1}\Big),

which shrinks as :math:`n` grows relative to :math:`e^{d}`: the curse of dimensionality of
memorisation. At finite :math:`d` the transition has width :math:`O(d^{-1/2})` and the bulk of
other points fluctuates below its annealed size, so measured times sit slightly above
:math:`t_C` and approach it as :math:`d` grows.
"""

from __future__ import annotations

import math

import torch
from scipy import optimize
from torch import Tensor

from mathdl._validation import check_positive_int, check_real
from mathdl.generative._processes import ForwardProcess, _check_process, check_time

__all__ = ["collapse_time", "excess_entropy", "posterior_weights"]


def _check_eigenvalues(eigenvalues: object) -> Tensor:
    if (not isinstance(eigenvalues, Tensor) or eigenvalues.ndim != 1
            or not eigenvalues.is_floating_point() or eigenvalues.numel() < 1):
        raise ValueError("eigenvalues: expected a non-empty floating 1-D tensor")
    if not bool(torch.all(torch.isfinite(eigenvalues) & (eigenvalues >= 0))):
        raise ValueError("eigenvalues: expected finite non-negative covariance eigenvalues")
    return eigenvalues


def excess_entropy(eigenvalues: Tensor, process: ForwardProcess, t: float) -> float:
    r"""The excess entropy density :math:`f(t) = \frac1{2d}\sum_k \log(1 + a(t)^2\lambda_k /
    \sigma(t)^2)` of Gaussian data with covariance eigenvalues ``eigenvalues: (d,)`` under
    ``process`` at time ``t > 0`` (module docstring). Decreasing in ``t`` for the OU and heat
    processes; :math:`+\infty` as :math:`t \to 0`.
    """
    lam = _check_eigenvalues(eigenvalues)
    _check_process(process)
    t = check_time(t)
    if isinstance(t, Tensor) or t <= 0:
        raise ValueError(f"t: expected a float > 0, got {t!r}")
    snr = float(process.mean_scale(t)) ** 2 / float(process.std(t)) ** 2
    return float(torch.log1p(lam.double() * snr).sum()) / (2 * lam.numel())


def collapse_time(eigenvalues: Tensor, n: int, process: ForwardProcess, *,
                  t_max: float = 50.0) -> float:
    r"""The collapse time :math:`t_C`: the solution of :math:`f(t_C) = \log(n)/d`
    (:func:`excess_entropy`; Biroli, Bonnaire, de Bortoli & Mézard 2024, §3).

    Args:
        eigenvalues: ``(d,)`` covariance eigenvalues of the (Gaussian) data.
        n: number of training points, ``n >= 2``.
        process: the forward process.
        t_max: upper end of the search bracket.

    Returns:
        :math:`t_C > 0`; below it (later in the reverse dynamics) trajectories collapse.

    Raises:
        ValueError: on bad input, or if :math:`f(t_{\max}) > \log(n)/d` (no collapse before
            ``t_max``: ``n`` is tiny for this data).
    """
    lam = _check_eigenvalues(eigenvalues)
    n = check_positive_int(n, "n", minimum=2)
    t_max = check_real(t_max, "t_max", positive=True)
    level = math.log(n) / lam.numel()
    if excess_entropy(lam, process, t_max) > level:
        raise ValueError(f"n: {n} points collapse already before t_max = {t_max}")
    t_low = t_max
    while excess_entropy(lam, process, t_low) <= level:
        t_low /= 2
        if t_low < 1e-12:
            raise ValueError("eigenvalues: the excess entropy never reaches log(n)/d")
    return float(optimize.brentq(lambda t: excess_entropy(lam, process, t) - level,
                                 t_low, t_max, xtol=1e-12, rtol=1e-12))


def posterior_weights(points: Tensor, process: ForwardProcess, x: Tensor, t: float) -> Tensor:
    r"""The posterior weights :math:`r_i(x, t)` of the training points given :math:`x_t = x`
    (module docstring): ``(m, n)``, rows summing to 1.

    Args:
        points: ``(n, d)`` training points :math:`y_i`.
        process: the forward process.
        x: ``(m, d)`` states at time ``t``.
        t: time ``> 0``.
    """
    _check_process(process)
    if not isinstance(points, Tensor) or points.ndim != 2 or not points.is_floating_point():
        raise ValueError("points: expected a floating (n, d) tensor")
    if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != points.shape[1]:
        raise ValueError(f"x: expected an (m, {points.shape[1]}) tensor")
    t = check_time(t)
    if isinstance(t, Tensor) or t <= 0:
        raise ValueError(f"t: expected a float > 0, got {t!r}")
    a, s = float(process.mean_scale(t)), float(process.std(t))
    centred = x.to(points.dtype)
    logits = -torch.cdist(centred, a * points).square() / (2 * s * s)
    return torch.softmax(logits, dim=1)
