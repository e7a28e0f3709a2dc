"""Diagonal linear networks: the gradient is the network's, the flow's invariant, and the limit
is the minimiser of Woodworth et al.'s potential Q_alpha (to O(eta) for gradient descent)."""

from __future__ import annotations

import pytest
import torch

from mathdl.training import (
    diagonal_network_gradient_descent,
    diagonal_network_step_size,
    min_l2_interpolant,
    min_woodworth_interpolant,
)

DT = torch.float64


def problem(n: int = 8, p: int = 20, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, p, generator=g, dtype=DT)
    beta = torch.zeros(p, dtype=DT)
    beta[:2] = torch.tensor([1.0, -1.0], dtype=DT)
    return x, x @ beta, beta


def test_one_step_is_the_gradient_step_of_the_network_loss():
    x, y, _ = problem()
    alpha, eta = 0.7, 1e-3
    w = torch.full((2, x.shape[1]), alpha, dtype=DT, requires_grad=True)
    loss = 0.5 * ((x @ (w[0] ** 2 - w[1] ** 2) - y) ** 2).sum() / x.shape[0]
    (grad,) = torch.autograd.grad(loss, w)
    expected = (w - eta * grad).detach()
    one = diagonal_network_gradient_descent(x, y, alpha=alpha, learning_rate=eta, max_steps=1)
    assert one.steps == 1 and not one.converged
    torch.testing.assert_close(one.w_plus, expected[0], rtol=0, atol=1e-15)
    torch.testing.assert_close(one.w_minus, expected[1], rtol=0, atol=1e-15)
    assert one.loss[0] == pytest.approx(float(loss.detach()), rel=1e-14)


def test_the_product_of_the_weights_is_conserved_up_to_order_eta_squared():
    # w+ w- is invariant under the flow; one GD step multiplies it by 1 - 4 eta^2 g^2
    x, y, _ = problem()
    alpha = 0.3
    eta = diagonal_network_step_size(x, alpha, 1.0)
    fit = diagonal_network_gradient_descent(x, y, alpha=alpha, learning_rate=eta, max_steps=20_000)
    drift = (fit.w_plus * fit.w_minus / alpha**2 - 1).abs().max()
    assert fit.converged and 0 < drift < 0.05


@pytest.mark.parametrize("alpha", [0.1, 0.5, 2.0])
def test_the_limit_is_the_q_alpha_minimiser_with_an_order_one_error_in_the_step(alpha):
    x, y, _ = problem()
    target = min_woodworth_interpolant(x, y, alpha)
    scale = float(target.abs().max())
    errors = []
    for safety in (0.2, 0.1):
        eta = diagonal_network_step_size(x, alpha, scale, safety=safety)
        fit = diagonal_network_gradient_descent(x, y, alpha=alpha, learning_rate=eta,
                                                max_steps=500_000, tol=1e-12)
        assert fit.converged
        errors.append(float((fit.beta - target).norm() / target.norm()))
    assert errors[1] < 1e-2
    # halving the step halves the distance to the flow's limit (first order), within 25%
    assert errors[0] / errors[1] == pytest.approx(2.0, rel=0.25)


def test_large_alpha_gives_the_minimum_l2_interpolant_and_small_alpha_the_sparse_one():
    x, y, planted = problem(n=12, p=30)

    def fit(alpha: float) -> torch.Tensor:
        eta = diagonal_network_step_size(x, alpha, 1.0)
        result = diagonal_network_gradient_descent(x, y, alpha=alpha, learning_rate=eta,
                                                   max_steps=200_000)
        assert result.converged
        return result.beta

    l2 = min_l2_interpolant(x, y)
    assert float((fit(5.0) - l2).norm() / l2.norm()) < 1e-4
    # rich regime: the planted 2-sparse vector is approached as alpha decreases, and the two
    # largest entries already sit on its support; the minimum-l2 interpolant is far from it
    fits = [fit(a) for a in (0.5, 0.15, 0.05)]
    errors = [float((b - planted).norm() / planted.norm()) for b in fits]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.15
    assert set(torch.topk(fits[-1].abs(), 2).indices.tolist()) == {0, 1}
    assert float((l2 - planted).norm() / planted.norm()) > 0.5


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"alpha": 0.0}, "alpha"),
    ({"learning_rate": -1.0}, "learning_rate"),
    ({"max_steps": 0}, "max_steps"),
    ({"y": torch.zeros(3)}, "y: expected"),
    ({"learning_rate": 1e3}, "too large"),
])
def test_bad_input_is_one_clear_error(kwargs, message):
    x, y, _ = problem()
    args = {"alpha": 1.0, "learning_rate": 1e-3, "max_steps": 100, "y": y} | kwargs
    with pytest.raises(ValueError, match=message):
        diagonal_network_gradient_descent(x, **args)
