r"""Diagonal linear networks: the simplest model whose implicit bias depends on the scale of its
initialisation (Woodworth, Gunasekar, Lee, Moroshko, Savarese, Golan, Soudry & Srebro, "Kernel
and rich regimes in overparametrized models", COLT 2020).

The network computes :math:`f(x) = \langle \beta, x\rangle` with
:math:`\beta = w_+^{\odot 2} - w_-^{\odot 2}` and is trained from :math:`w_\pm(0) = \alpha\mathbf 1`
by full-batch gradient descent on

.. math::
    L(w_+, w_-) = \frac1{2n}\,|X\beta - y|^2, \qquad
    \nabla_{w_\pm} L = \pm 2\, w_\pm \odot g, \quad g = \tfrac1n X^\top (X\beta - y).

Along the gradient flow :math:`w_+ \odot w_- = \alpha^2` is conserved and
:math:`\beta(t) = 2\alpha^2 \sinh(X^\top \nu(t))` for some :math:`\nu(t)\in\mathbb R^n`, so the
flow's limit is the minimiser of the potential :math:`Q_\alpha` under :math:`X\beta = y`
(:func:`mathdl.training.min_woodworth_interpolant`, Thm 1): the minimum-:math:`\ell_2` interpolant
as :math:`\alpha\to\infty` (kernel regime), the minimum-:math:`\ell_1` one as :math:`\alpha\to 0`
(rich regime). Gradient descent with a small step follows the flow up to :math:`O(\eta)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from mathdl._validation import check_positive_int, check_real

CHECK_EVERY = 16  # steps between two evaluations of the stopping test

__all__ = ["DiagonalTrajectory", "diagonal_network_gradient_descent", "diagonal_network_step_size"]


@dataclass(frozen=True)
class DiagonalTrajectory:
    r"""What :func:`diagonal_network_gradient_descent` returns.

    Attributes:
        beta: ``(p,)`` the final linear predictor :math:`\beta = w_+^2 - w_-^2`.
        w_plus, w_minus: ``(p,)`` the final weights.
        steps: gradient steps taken (the stopping test runs every 16 steps).
        converged: whether :math:`|X\beta - y|_\infty \le` ``tol`` :math:`\max(1, |y|_\infty)`
            was reached within ``max_steps``.
        recorded_steps, loss: the loss :math:`L` every ``record_every`` steps (and at the end).
        learning_rate: :math:`\eta`.
    """

    beta: Tensor
    w_plus: Tensor
    w_minus: Tensor
    steps: int
    converged: bool
    recorded_steps: tuple[int, ...]
    loss: tuple[float, ...]
    learning_rate: float


def _check_matrix(x: object) -> Tensor:
    if not isinstance(x, Tensor) or x.ndim != 2 or not x.is_floating_point() or x.shape[0] < 1:
        raise ValueError("x: expected a floating (n, p) tensor with n >= 1")
    return x


def _check_design(x: object, y: object) -> tuple[Tensor, Tensor]:
    x = _check_matrix(x)
    if not isinstance(y, Tensor) or y.shape != (x.shape[0],) or y.dtype != x.dtype:
        raise ValueError(f"y: expected a ({x.shape[0]},) tensor of dtype {x.dtype}")
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        raise ValueError("x, y: expected finite values")
    return x, y


def diagonal_network_step_size(x: Tensor, alpha: float, beta_scale: float, *,
                               safety: float = 0.25) -> float:
    r"""A stable step for :func:`diagonal_network_gradient_descent`.

    The Hessian of :math:`L` in :math:`(w_+, w_-)` is bounded by
    :math:`4\lambda_{\max}(X^\top X/n)\max_i (w_{+,i}^2 + w_{-,i}^2)` near the path, and along the
    flow :math:`w_{+,i}^2 + w_{-,i}^2 = \sqrt{\beta_i^2 + 4\alpha^4} \le |\beta_i| + 2\alpha^2`.
    With ``beta_scale`` :math:`\ge |\beta|_\infty` on the path, this returns
    :math:`\eta = \text{safety}\cdot 2 / (4\lambda_{\max}(|\beta|_\infty + 2\alpha^2))`, a
    fraction ``safety`` of the stability limit :math:`2/\text{curvature}`.
    """
    x = _check_matrix(x)
    alpha = check_real(alpha, "alpha", positive=True)
    beta_scale = check_real(beta_scale, "beta_scale", nonnegative=True)
    safety = check_real(safety, "safety", positive=True)
    lam = float(torch.linalg.matrix_norm(x, ord=2)) ** 2 / x.shape[0]
    return safety * 2.0 / (4.0 * lam * (beta_scale + 2.0 * alpha**2))


def diagonal_network_gradient_descent(
    x: Tensor,
    y: Tensor,
    *,
    alpha: float,
    learning_rate: float,
    max_steps: int,
    tol: float = 1e-10,
    record_every: int = 100,
) -> DiagonalTrajectory:
    r"""Full-batch gradient descent on the diagonal linear network :math:`\beta = w_+^2 - w_-^2`
    from :math:`w_\pm(0) = \alpha\mathbf 1` (module docstring), until the data are fitted.

    Deterministic (no randomness). Runs in the dtype and on the device of ``x``; use float64 to
    compare with :func:`mathdl.training.min_woodworth_interpolant`.

    Args:
        x: ``(n, p)`` design.
        y: ``(n,)`` targets (same dtype).
        alpha: initialisation scale :math:`\alpha > 0`.
        learning_rate: :math:`\eta > 0` (:func:`diagonal_network_step_size` gives a stable one).
        max_steps: at most this many steps.
        tol: stop once :math:`|X\beta - y|_\infty \le` ``tol`` :math:`\cdot\max(1, |y|_\infty)`.
        record_every: record the loss every this many steps.

    Returns:
        A :class:`DiagonalTrajectory`.

    Raises:
        ValueError: on malformed inputs, or when the iterates become non-finite (step too large).
    """
    x, y = _check_design(x, y)
    alpha = check_real(alpha, "alpha", positive=True)
    eta = check_real(learning_rate, "learning_rate", positive=True)
    max_steps = check_positive_int(max_steps, "max_steps")
    tol = check_real(tol, "tol", positive=True)
    record_every = check_positive_int(record_every, "record_every")
    n, p = x.shape
    w_plus = torch.full((p,), alpha, dtype=x.dtype, device=x.device)
    w_minus = w_plus.clone()
    beta = torch.zeros_like(w_plus)
    residual, g = torch.empty_like(y), torch.empty_like(w_plus)
    xt, neg_y, c = x.T.contiguous(), -y, 2.0 * eta / n
    target = tol * max(1.0, float(y.abs().max()))
    recorded: list[int] = []
    losses: list[float] = []
    steps, converged = 0, False
    # In-place updates, no allocation per step: w_+- <- w_+- (1 -+ 2 eta g) is the gradient step
    # of the module docstring. The stopping test reads the residual every CHECK_EVERY steps.
    while True:
        torch.addmv(neg_y, x, beta, out=residual)
        if steps % record_every == 0:
            recorded.append(steps)
            losses.append(0.5 * float(residual @ residual) / n)
        if steps % CHECK_EVERY == 0 or steps == max_steps:
            size = float(residual.abs().max())
            if not math.isfinite(size):
                raise ValueError(f"learning_rate: {eta:g} is too large, the iterates diverged "
                                 f"at step {steps}")
            if size <= target:
                converged = True
                break
            if steps == max_steps:
                break
        torch.mv(xt, residual, out=g)
        g.mul_(c)
        w_plus.addcmul_(w_plus, g, value=-1.0)
        w_minus.addcmul_(w_minus, g, value=1.0)
        torch.mul(w_plus, w_plus, out=beta)
        beta.addcmul_(w_minus, w_minus, value=-1.0)
        steps += 1
    if recorded[-1] != steps:
        recorded.append(steps)
        losses.append(0.5 * float(residual @ residual) / n)
    return DiagonalTrajectory(beta=beta, w_plus=w_plus, w_minus=w_minus,
                              steps=steps, converged=converged, recorded_steps=tuple(recorded),
                              loss=tuple(losses), learning_rate=eta)
