r"""Full-batch gradient descent on linear models :math:`f(x) = w \cdot x`, recording the iterates.

.. math::
    w_{k+1} = w_k - \eta \nabla L(w_k), \qquad
    L(w) = \begin{cases}
        \frac1{2n} \sum_i (w \cdot x_i - y_i)^2 & \text{``HALF_MSE``} \\
        \frac1n \sum_i \log(1 + e^{-y_i w \cdot x_i}) & \text{``LOGISTIC``}
    \end{cases}

with closed-form gradients :math:`\frac1n X^\top(Xw - y)` and
:math:`-\frac1n \sum_i y_i x_i\, \sigma(-y_i w \cdot x_i)` (:math:`\sigma` the logistic
function). The iteration runs in float64 numpy, cheap enough for the :math:`10^5`–:math:`10^6`
steps that the :math:`O(1/\log t)` implicit-bias rates of Soudry et al. (JMLR 2018) need.

References: least squares from zero: Gunasekar, Lee, Soudry & Srebro, ICML 2018, §2; logistic
regression on separable data: Soudry, Hoffer, Nacson, Gunasekar & Srebro, JMLR 19 (2018).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import expit
from torch import Tensor

__all__ = ["LinearLoss", "LinearTrajectory", "linear_gradient_descent"]


class LinearLoss(enum.Enum):
    r"""The loss of :func:`linear_gradient_descent`: ``HALF_MSE``
    :math:`\frac1{2n}|Xw - y|^2`; ``LOGISTIC`` :math:`\frac1n\sum_i \log(1 + e^{-y_i w\cdot
    x_i})` (labels :math:`\pm 1`)."""

    HALF_MSE = "half_mse"
    LOGISTIC = "logistic"


@dataclass(frozen=True)
class LinearTrajectory:
    r"""What :func:`linear_gradient_descent` recorded.

    Attributes:
        steps: the recorded step numbers :math:`k` (increasing).
        weights: ``(T, d)`` the iterates :math:`w_k` at those steps.
        loss: the losses :math:`L(w_k)` (Python floats, computed in float64; the logistic
            loss via ``logaddexp`` so that it stays accurate when it is tiny).
        learning_rate: :math:`\eta`.
        loss_kind: the :class:`LinearLoss` minimised.
    """

    steps: tuple[int, ...]
    weights: Tensor
    loss: tuple[float, ...]
    learning_rate: float
    loss_kind: LinearLoss


def _loss(kind: LinearLoss, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    f = x @ w
    if kind is LinearLoss.HALF_MSE:
        r = f - y
        return float(r @ r) / (2 * x.shape[0])
    return float(np.mean(np.logaddexp(0.0, -y * f)))


def linear_gradient_descent(
    x: Tensor,
    y: Tensor,
    *,
    loss: LinearLoss,
    learning_rate: float,
    steps: int,
    record_steps: Sequence[int] | None = None,
    initial: Tensor | None = None,
) -> LinearTrajectory:
    r"""Gradient descent :math:`w_{k+1} = w_k - \eta \nabla L(w_k)` on a linear model (see the
    module docstring for :math:`L`), from :math:`w_0` = ``initial`` (zero by default).

    Deterministic; computed in float64, the iterates returned in the dtype of ``x``.

    Args:
        x: ``(n, d)`` inputs (rows :math:`x_i`), finite.
        y: ``(n,)`` targets (``LOGISTIC``: labels in :math:`\{-1, +1\}`).
        loss: :class:`LinearLoss`.
        learning_rate: :math:`\eta > 0`.
        steps: number of steps :math:`K \ge 0`.
        record_steps: the steps :math:`k \in [0, K]` at which to record :math:`w_k` and
            :math:`L(w_k)`; ``None``: :math:`0` and :math:`K`.
        initial: ``(d,)`` :math:`w_0`, or ``None`` for zero.

    Returns:
        :class:`LinearTrajectory`.

    Raises:
        ValueError: on malformed inputs or options, labels other than :math:`\pm 1` for the
            logistic loss, or record steps outside :math:`[0, K]`.
        RuntimeError: if an iterate becomes non-finite (the step size is too large).
    """
    if not isinstance(x, Tensor) or x.ndim != 2 or not x.is_floating_point() or x.shape[0] < 1:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x: expected a floating tensor of shape (n, d), n >= 1, got {shape}")
    n, d = x.shape
    if not isinstance(y, Tensor) or y.shape != (n,):
        shape = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
        raise ValueError(f"y: expected a tensor of shape ({n},), got {shape}")
    if not isinstance(loss, LinearLoss):
        raise ValueError(f"loss: expected a LinearLoss, got {loss!r}")
    if (isinstance(learning_rate, bool) or not isinstance(learning_rate, int | float)
            or not math.isfinite(learning_rate) or learning_rate <= 0):
        raise ValueError(f"learning_rate: expected a finite number > 0, got {learning_rate!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps: expected an integer >= 0, got {steps!r}")
    if record_steps is None:
        record = sorted({0, steps})
    else:
        if isinstance(record_steps, str) or not isinstance(record_steps, Sequence) or not all(
                isinstance(k, int) and not isinstance(k, bool) and 0 <= k <= steps
                for k in record_steps) or not record_steps:
            raise ValueError(f"record_steps: expected a non-empty sequence of integers in "
                             f"[0, {steps}], got {record_steps!r}")
        record = sorted(set(record_steps))
    xs = x.detach().to("cpu", torch.float64).numpy()
    ys = y.detach().to("cpu", torch.float64).numpy()
    if not np.all(np.isfinite(xs)):
        raise ValueError("x: expected finite entries")
    if not np.all(np.isfinite(ys)):
        raise ValueError("y: expected finite entries")
    if loss is LinearLoss.LOGISTIC and not np.all(np.abs(ys) == 1):
        raise ValueError("y: expected labels in {-1, +1} for the logistic loss")
    if initial is None:
        w = np.zeros(d)
    else:
        if not isinstance(initial, Tensor) or initial.shape != (d,):
            shape = tuple(initial.shape) if isinstance(initial, Tensor) else type(initial).__name__
            raise ValueError(f"initial: expected a tensor of shape ({d},), got {shape}")
        w = initial.detach().to("cpu", torch.float64).numpy().copy()
    eta = float(learning_rate)

    if loss is LinearLoss.HALF_MSE:
        a = eta / n
        xty = a * (xs.T @ ys)

        def step(w: np.ndarray) -> np.ndarray:
            return w - a * (xs.T @ (xs @ w)) + xty
    else:
        z = ys[:, None] * xs  # rows y_i x_i
        zt = z.T * (eta / n)

        def step(w: np.ndarray) -> np.ndarray:
            return w + zt @ expit(-(z @ w))

    weights, losses = [], []
    k = 0
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported below
        for target in record:
            while k < target:
                w = step(w)
                k += 1
                if k % 256 == 0 and not np.all(np.isfinite(w)):
                    break
            if not np.all(np.isfinite(w)):
                raise RuntimeError(f"gradient descent diverged before step {k} "
                                   f"(learning_rate={eta:g}); try a smaller learning_rate")
            weights.append(w.copy())
            losses.append(_loss(loss, xs, ys, w))
    return LinearTrajectory(
        steps=tuple(record),
        weights=torch.as_tensor(np.stack(weights), dtype=x.dtype, device=x.device),
        loss=tuple(losses),
        learning_rate=eta,
        loss_kind=loss,
    )
