"""Gradient descent on linear models: least squares and logistic regression."""

from __future__ import annotations

import math

import pytest
import torch

from mathdl.training import (
    LinearLoss,
    LinearTrajectory,
    linear_gradient_descent,
    logistic_gd_offset,
    max_margin_classifier,
    min_l2_interpolant,
)

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _least_squares(n=10, p=30, seed=0):
    g = _gen(seed)
    return torch.randn(n, p, generator=g, dtype=F64), torch.randn(n, generator=g, dtype=F64)


def test_least_squares_matches_the_closed_form_iteration():
    # w_k - w* = (I - eta H)^k (w_0 - w*) exactly on the row space, H = X^T X / n.
    x, y = _least_squares()
    n = x.shape[0]
    h = x.T @ x / n
    eta = 1.0 / float(torch.linalg.eigvalsh(h)[-1])
    w_star = min_l2_interpolant(x, y)
    traj = linear_gradient_descent(x, y, loss=LinearLoss.HALF_MSE, learning_rate=eta,
                                   steps=50, record_steps=[0, 1, 7, 50])
    assert isinstance(traj, LinearTrajectory) and traj.steps == (0, 1, 7, 50)
    a = torch.eye(x.shape[1], dtype=F64) - eta * h
    for k, w in zip(traj.steps, traj.weights, strict=True):
        torch.testing.assert_close(w - w_star, torch.linalg.matrix_power(a, k) @ (-w_star),
                                   atol=1e-12, rtol=0)
    for k, w, loss in zip(traj.steps, traj.weights, traj.loss, strict=True):
        assert loss == pytest.approx(float(((x @ w - y) ** 2).sum()) / (2 * n), rel=1e-12), k


def test_least_squares_from_zero_reaches_the_min_norm_interpolant():
    x, y = _least_squares(seed=3)
    eta = x.shape[0] / float(torch.linalg.eigvalsh(x.T @ x)[-1])
    traj = linear_gradient_descent(x, y, loss=LinearLoss.HALF_MSE, learning_rate=eta,
                                   steps=3000)
    w_star = min_l2_interpolant(x, y)
    assert float((traj.weights[-1] - w_star).norm() / w_star.norm()) < 1e-12
    # from a non-zero start the null-space component of w_0 is never touched
    w0 = torch.randn(x.shape[1], generator=_gen(9), dtype=F64)
    shifted = linear_gradient_descent(x, y, loss=LinearLoss.HALF_MSE, learning_rate=eta,
                                      steps=3000, initial=w0)
    perp = w0 - torch.linalg.pinv(x) @ (x @ w0)
    torch.testing.assert_close(shifted.weights[-1], w_star + perp, atol=1e-10, rtol=0)


def test_logistic_gradient_matches_autograd():
    g = _gen(1)
    x = torch.randn(7, 3, generator=g, dtype=F64)
    y = torch.where(torch.randn(7, generator=g) > 0, 1.0, -1.0).to(F64)
    w0 = torch.randn(3, generator=g, dtype=F64)
    eta = 0.37
    traj = linear_gradient_descent(x, y, loss=LinearLoss.LOGISTIC, learning_rate=eta, steps=1,
                                   initial=w0)
    w = w0.clone().requires_grad_(True)
    loss = torch.nn.functional.softplus(-y * (x @ w)).mean()
    (grad,) = torch.autograd.grad(loss, w)
    torch.testing.assert_close(traj.weights[1], w0 - eta * grad, atol=1e-14, rtol=0)
    assert traj.loss[0] == pytest.approx(float(loss.detach()), rel=1e-13)


def test_logistic_on_separable_data_follows_soudry_asymptotics():
    # Two support vectors u + 2v, u - v/2 (u = e1): w_hat = e1, and
    # w_k = w_hat log k + w_tilde + O(log k / k) (Soudry et al. 2018, Thm 3).
    z = torch.tensor([[1.0, 2.0], [1.0, -0.5], [2.5, 1.0], [3.0, -1.5]], dtype=F64)
    y = torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=F64)
    x = y[:, None] * z
    sol = max_margin_classifier(x, y)
    torch.testing.assert_close(sol.weight, torch.tensor([1.0, 0.0], dtype=F64), atol=1e-12,
                               rtol=0)
    eta = 0.5
    w_tilde = logistic_gd_offset(x, y, sol, learning_rate=eta)
    steps = 100_000
    traj = linear_gradient_descent(x, y, loss=LinearLoss.LOGISTIC, learning_rate=eta,
                                   steps=steps, record_steps=[steps // 10, steps])
    for k, w in zip(traj.steps, traj.weights, strict=True):
        residual = float((w - sol.weight * math.log(k) - w_tilde).norm())
        assert residual < 20 * math.log(k) / k
    # k L(w_k) -> sum alpha / eta = |w_hat|^2 / eta
    assert steps * traj.loss[-1] == pytest.approx(1.0 / eta, rel=2e-3)


def test_divergence_raises():
    x, y = _least_squares()
    eta = 3 * x.shape[0] / float(torch.linalg.eigvalsh(x.T @ x)[-1])
    with pytest.raises(RuntimeError, match="diverged"):
        linear_gradient_descent(x, y, loss=LinearLoss.HALF_MSE, learning_rate=eta, steps=5000)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"loss": "logistic"}, "loss"),
    ({"learning_rate": 0.0}, "learning_rate"),
    ({"learning_rate": math.inf}, "learning_rate"),
    ({"steps": -1}, "steps"),
    ({"record_steps": [11]}, "record_steps"),
    ({"record_steps": []}, "record_steps"),
    ({"initial": torch.zeros(4, dtype=F64)}, "initial"),
])
def test_bad_arguments(kwargs, match):
    x, y = _least_squares(n=4, p=6)
    args = {"loss": LinearLoss.HALF_MSE, "learning_rate": 0.1, "steps": 10, **kwargs}
    with pytest.raises(ValueError, match=match):
        linear_gradient_descent(x, y, **args)


def test_bad_data():
    x, y = _least_squares(n=4, p=6)
    with pytest.raises(ValueError, match="x:"):
        linear_gradient_descent(x[0], y, loss=LinearLoss.HALF_MSE, learning_rate=0.1, steps=1)
    with pytest.raises(ValueError, match="y:"):
        linear_gradient_descent(x, y[:3], loss=LinearLoss.HALF_MSE, learning_rate=0.1, steps=1)
    with pytest.raises(ValueError, match="labels"):
        linear_gradient_descent(x, y, loss=LinearLoss.LOGISTIC, learning_rate=0.1, steps=1)
