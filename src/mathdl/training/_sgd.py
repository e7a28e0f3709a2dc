r"""Stochastic gradient descent on a strongly convex problem with exact theory: online least
squares (the LMS algorithm) with Gaussian inputs.

At step :math:`k` a fresh sample :math:`x_k \sim \mathcal N(0, H)`,
:math:`y_k = x_k\cdot w^* + \sigma\xi_k` arrives and

.. math::
    w_{k+1} = w_k - \eta_k\, x_k (x_k\cdot w_k - y_k),

an unbiased stochastic gradient of the population risk
:math:`R(w) = \tfrac12 (w - w^*)^\top H (w - w^*) + \tfrac{\sigma^2}2`, strongly convex with
modulus :math:`\mu = \lambda_{\min}(H)`. The excess risk is
:math:`\mathcal E(w) = \tfrac12 (w - w^*)^\top H (w - w^*)`.

Theory (the Gaussian fourth moment :math:`\mathbb E[xx^\top A xx^\top] = 2HAH +
\operatorname{tr}(AH) H` closes the second-moment recursion exactly):

* constant step :math:`\eta < 1/\lambda_{\max}`: :math:`\mathbb E\,\mathcal E(w_k)` converges
  geometrically to the noise floor
  :math:`\mathcal E_\infty(\eta) = \frac{\sigma^2}2\,\frac{A}{1 - A}`,
  :math:`A = \sum_i \frac{\eta h_i}{2(1 - \eta h_i)}` (:func:`lms_noise_floor`), which is
  :math:`\frac{\eta\sigma^2}4\operatorname{tr} H\,(1 + O(\eta))`: proportional to the step.
* decaying step :math:`\eta_k = c/(k + k_0)` with :math:`2 c h_{\min} > 1`:
  :math:`\mathbb E\,\mathcal E(w_k) \sim \frac{c^2\sigma^2}{2k}\sum_i \frac{h_i^2}{2ch_i - 1}`,
  the :math:`O(1/k)` rate (:func:`lms_decaying_step_constant`).

References: Robbins & Monro 1951; Bach & Moulines, NeurIPS 2011 and 2013 (least-squares SGD);
Défossez & Bach, AISTATS 2015 (exact second moments of LMS); Moulines & Bach 2011 for the
:math:`c/k` condition.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from mathdl._validation import check_positive_int, check_real

__all__ = [
    "SGDTrajectory",
    "StepSchedule",
    "least_squares_sgd",
    "lms_decaying_step_constant",
    "lms_noise_floor",
]


class StepSchedule(enum.Enum):
    r"""``CONSTANT``: :math:`\eta_k = \eta`. ``INVERSE_TIME``: :math:`\eta_k = c / (k + k_0)`."""

    CONSTANT = "constant"
    INVERSE_TIME = "inverse_time"


@dataclass(frozen=True)
class SGDTrajectory:
    """What :func:`least_squares_sgd` recorded.

    Attributes:
        steps: the recorded step numbers :math:`k`.
        excess_risk: ``(T,)`` the mean over runs of the excess risk at those steps.
        standard_error: ``(T,)`` its standard error over runs.
        runs: number of independent runs averaged.
    """

    steps: tuple[int, ...]
    excess_risk: Tensor
    standard_error: Tensor
    runs: int


def _check_spectrum(h: object) -> Tensor:
    if not isinstance(h, Tensor) or h.ndim != 1 or not h.is_floating_point() or h.numel() < 1:
        raise ValueError("h: expected a non-empty floating 1-D tensor of eigenvalues")
    if not bool(torch.all(torch.isfinite(h) & (h > 0))):
        raise ValueError("h: expected finite positive eigenvalues")
    return h


def lms_noise_floor(h: Tensor, step: float, noise_var: float) -> float:
    r"""The stationary excess risk of constant-step LMS with Gaussian inputs (module docstring):
    :math:`\frac{\sigma^2}2 \frac{A}{1-A}`, :math:`A = \sum_i \frac{\eta h_i}{2(1-\eta h_i)}`.

    Args:
        h: ``(d,)`` eigenvalues of the input covariance :math:`H`.
        step: :math:`\eta > 0`.
        noise_var: :math:`\sigma^2 \ge 0`.

    Raises:
        ValueError: on bad input, or when :math:`A \ge 1` (the step is too large for a finite
            stationary risk: the second moments diverge).
    """
    h = _check_spectrum(h)
    eta = check_real(step, "step", positive=True)
    sigma2 = check_real(noise_var, "noise_var", nonnegative=True)
    eh = eta * h.double()
    if bool(torch.any(eh >= 1)):
        raise ValueError(f"step: expected eta < 1 / max(h) = {1 / float(h.max()):.4g}")
    a = float(torch.sum(eh / (2 * (1 - eh))))
    if a >= 1:
        raise ValueError(f"step: {eta:g} is too large: the second moments diverge (A = {a:.3g})")
    return 0.5 * sigma2 * a / (1 - a)


def lms_decaying_step_constant(h: Tensor, c: float, noise_var: float) -> float:
    r"""The constant :math:`C` of :math:`\mathbb E\,\mathcal E(w_k) \sim C/k` for
    :math:`\eta_k = c/(k + k_0)`: :math:`C = \frac{c^2\sigma^2}2 \sum_i \frac{h_i^2}{2ch_i - 1}`.

    Raises:
        ValueError: on bad input or when :math:`2 c h_{\min} \le 1` (then the rate is slower
            than :math:`1/k`).
    """
    h = _check_spectrum(h)
    c = check_real(c, "c", positive=True)
    sigma2 = check_real(noise_var, "noise_var", nonnegative=True)
    if 2 * c * float(h.min()) <= 1:
        raise ValueError(f"c: expected 2 c min(h) > 1, got 2 * {c:g} * {float(h.min()):.4g}")
    hd = h.double()
    return 0.5 * c**2 * sigma2 * float(torch.sum(hd**2 / (2 * c * hd - 1)))


def least_squares_sgd(
    h: Tensor,
    w_star: Tensor,
    *,
    noise_std: float,
    schedule: StepSchedule,
    step: float,
    steps: int,
    record_steps: Sequence[int],
    runs: int,
    generator: torch.Generator,
    offset: float = 1.0,
    w0: Tensor | None = None,
) -> SGDTrajectory:
    r"""``runs`` independent runs of online least-squares SGD (module docstring), in parallel.

    The covariance is diagonal, :math:`H = \operatorname{diag}(h)` (any covariance reduces to it
    by a rotation, which leaves SGD equivariant). One fresh sample per step and run.

    Args:
        h: ``(d,)`` positive eigenvalues of :math:`H`.
        w_star: ``(d,)`` the minimiser :math:`w^*`.
        noise_std: :math:`\sigma \ge 0`.
        schedule: :class:`StepSchedule`.
        step: :math:`\eta` (``CONSTANT``) or :math:`c` (``INVERSE_TIME``, :math:`\eta_k =
            c/(k + k_0)`).
        steps: number of steps :math:`K \ge 1`.
        record_steps: increasing steps in :math:`[0, K]` at which the excess risk is recorded.
        runs: independent runs :math:`R \ge 2` (the mean and its standard error are over runs).
        generator: the source of every random draw.
        offset: :math:`k_0 \ge 1` of ``INVERSE_TIME``.
        w0: ``(d,)`` initial point (default :math:`0`).

    Returns:
        An :class:`SGDTrajectory`.

    Raises:
        ValueError: on malformed inputs or when the iterates diverge (step too large).
    """
    h = _check_spectrum(h)
    d = h.numel()
    if not isinstance(w_star, Tensor) or w_star.shape != (d,) or w_star.dtype != h.dtype:
        raise ValueError(f"w_star: expected a ({d},) tensor of dtype {h.dtype}")
    sigma = check_real(noise_std, "noise_std", nonnegative=True)
    if not isinstance(schedule, StepSchedule):
        raise ValueError(f"schedule: expected a StepSchedule, got {schedule!r}")
    eta = check_real(step, "step", positive=True)
    steps = check_positive_int(steps, "steps")
    runs = check_positive_int(runs, "runs", minimum=2)
    k0 = check_real(offset, "offset", positive=True)
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator: expected a torch.Generator, got {type(generator).__name__}")
    record = [int(k) for k in record_steps]
    if not record or record != sorted(set(record)) or record[0] < 0 or record[-1] > steps:
        raise ValueError(f"record_steps: expected increasing integers in [0, {steps}]")
    if w0 is None:
        w = torch.zeros(runs, d, dtype=h.dtype, device=h.device)
    elif isinstance(w0, Tensor) and w0.shape == (d,):
        w = w0.to(h).expand(runs, d).clone()
    else:
        raise ValueError(f"w0: expected a ({d},) tensor or None")
    sqrt_h = h.sqrt()
    wanted = set(record)
    risks, errors = [], []

    def log() -> None:
        diff = w - w_star
        excess = 0.5 * (diff * diff * h).sum(dim=1)
        if not bool(torch.isfinite(excess).all()):
            raise ValueError(f"step: {eta:g} is too large, the iterates diverged")
        risks.append(excess.mean())
        errors.append(excess.std() / runs**0.5)

    if 0 in wanted:
        log()
    x = torch.empty(runs, d, dtype=h.dtype, device=h.device)
    noise = torch.empty(runs, dtype=h.dtype, device=h.device)
    for k in range(steps):
        x.normal_(generator=generator).mul_(sqrt_h)
        noise.normal_(generator=generator)
        lr = eta if schedule is StepSchedule.CONSTANT else eta / (k + k0)
        residual = ((w - w_star) * x).sum(dim=1) - sigma * noise
        w.addcmul_(x, residual[:, None], value=-lr)
        if k + 1 in wanted:
            log()
    return SGDTrajectory(steps=tuple(record), excess_risk=torch.stack(risks),
                         standard_error=torch.stack(errors), runs=runs)
