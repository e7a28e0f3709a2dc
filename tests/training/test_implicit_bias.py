"""Reference solutions of implicit-bias theorems: hard-margin SVM, minimum-norm interpolants."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mathdl.training import (
    MaxMarginSolution,
    logistic_gd_offset,
    max_margin_classifier,
    min_l1_interpolant,
    min_l2_interpolant,
    min_woodworth_interpolant,
    woodworth_potential,
)

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _separable(n: int, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = _gen(seed)
    u = torch.randn(d, generator=g, dtype=F64)
    u = u / u.norm()
    x = torch.randn(n, d, generator=g, dtype=F64)
    y = torch.sign(x @ u)
    x = x + 0.3 * y[:, None] * u  # margin at least 0.3 along u
    return x, y


# ---------------------------------------------------------------------------------------------
# Hard-margin SVM


def test_svm_closed_form_two_points():
    # z1 = u + a v, z2 = u - b v: the min-norm point of the segment is u, alpha = (b, a)/(a+b).
    a, b = 2.0, 0.5
    x = torch.tensor([[1.0, a], [-1.0, b]], dtype=F64)  # second point has label -1
    y = torch.tensor([1.0, -1.0], dtype=F64)
    sol = max_margin_classifier(x, y)
    assert isinstance(sol, MaxMarginSolution)
    torch.testing.assert_close(sol.weight, torch.tensor([1.0, 0.0], dtype=F64), atol=1e-12,
                               rtol=0)
    torch.testing.assert_close(sol.dual, torch.tensor([b, a], dtype=F64) / (a + b), atol=1e-12,
                               rtol=0)
    assert sol.margin == pytest.approx(1.0, abs=1e-12)
    assert sol.support.tolist() == [True, True]


@settings(max_examples=15, deadline=None)
@given(n=st.integers(3, 25), d=st.integers(2, 6), seed=st.integers(0, 2**16))
def test_svm_kkt_conditions(n, d, seed):
    x, y = _separable(n, d, seed)
    sol = max_margin_classifier(x, y)
    z = y[:, None] * x
    margins = z @ sol.weight
    # primal feasibility, stationarity, complementary slackness, dual feasibility
    assert float(margins.min()) == pytest.approx(1.0, abs=1e-9)
    torch.testing.assert_close(sol.weight, z.T @ sol.dual, atol=1e-10, rtol=0)
    assert float(torch.max(sol.dual * (margins - 1)).abs()) < 1e-9
    assert bool(torch.all(sol.dual >= 0))
    assert bool(torch.all(torch.abs(margins[sol.support] - 1) < 1e-9))


def test_svm_beats_random_feasible_directions():
    # The max-margin direction has the largest normalised margin min_i y_i w.x_i / |w|.
    x, y = _separable(30, 3, 7)
    sol = max_margin_classifier(x, y)
    z = y[:, None] * x
    best = float((z @ sol.weight).min() / sol.weight.norm())
    assert best == pytest.approx(sol.margin, rel=1e-10)
    w = torch.randn(5000, 3, generator=_gen(1), dtype=F64)
    w = w / w.norm(dim=1, keepdim=True)
    assert float((z @ w.T).min(dim=0).values.max()) <= best + 1e-12


def test_svm_is_invariant_under_rotations():
    x, y = _separable(12, 3, 3)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=_gen(2), dtype=F64))
    w = max_margin_classifier(x, y).weight
    wr = max_margin_classifier(x @ q.T, y).weight
    torch.testing.assert_close(wr, q @ w, atol=1e-9, rtol=0)


def test_svm_rejects_non_separable_and_bad_labels():
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0]], dtype=F64)
    with pytest.raises(ValueError, match="separable"):
        max_margin_classifier(x, torch.tensor([1.0, -1.0], dtype=F64))
    with pytest.raises(ValueError, match="y: expected labels"):
        max_margin_classifier(x, torch.tensor([1.0, 0.5], dtype=F64))
    with pytest.raises(ValueError, match="x:"):
        max_margin_classifier(torch.ones(3), torch.ones(3))
    with pytest.raises(ValueError, match="y:"):
        max_margin_classifier(x, torch.ones(3, dtype=F64))
    with pytest.raises(ValueError, match="tol"):
        max_margin_classifier(x, torch.tensor([1.0, 1.0], dtype=F64), tol=0.0)


def test_logistic_offset_solves_its_equation():
    x, y = _separable(20, 2, 5)
    sol = max_margin_classifier(x, y)
    eta = 0.3
    w_tilde = logistic_gd_offset(x, y, sol, learning_rate=eta)
    z = (y[:, None] * x)[sol.support]
    if int(sol.support.sum()) == 2:  # spanning support: the equation fixes w_tilde
        lhs = eta / x.shape[0] * torch.exp(-(z @ w_tilde))
        torch.testing.assert_close(lhs, sol.dual[sol.support], rtol=1e-10, atol=0)
    with pytest.raises(ValueError, match="learning_rate"):
        logistic_gd_offset(x, y, sol, learning_rate=-1.0)
    with pytest.raises(ValueError, match="solution"):
        logistic_gd_offset(x, y, "svm", learning_rate=1.0)


# ---------------------------------------------------------------------------------------------
# Minimum-norm interpolants


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 8), extra=st.integers(1, 10), seed=st.integers(0, 2**16))
def test_min_l2_interpolant_is_the_interpolant_in_the_row_space(n, extra, seed):
    g = _gen(seed)
    x = torch.randn(n, n + extra, generator=g, dtype=F64)
    y = torch.randn(n, generator=g, dtype=F64)
    beta = min_l2_interpolant(x, y)
    torch.testing.assert_close(x @ beta, y, atol=1e-9, rtol=0)
    # orthogonal to the null space: beta = X^T c for c = (X X^T)^{-1} y
    c = torch.linalg.solve(x @ x.T, y)
    torch.testing.assert_close(beta, x.T @ c, atol=1e-8, rtol=1e-8)
    # any other interpolant beta + null-space vector is longer
    null = torch.randn(n + extra, generator=g, dtype=F64)
    null = null - torch.linalg.pinv(x) @ (x @ null)
    assert float((beta + null).norm()) >= float(beta.norm())


def test_min_l1_interpolant_recovers_a_sparse_vector():
    # Gaussian design, n = 40 measurements of a 4-sparse vector in R^100: basis pursuit
    # recovers it exactly (Candes & Tao 2005; Donoho 2006); min-l2 does not.
    g = _gen(0)
    x = torch.randn(40, 100, generator=g, dtype=F64)
    beta = torch.zeros(100, dtype=F64)
    beta[[3, 17, 50, 91]] = torch.tensor([1.5, -2.0, 0.7, 1.0], dtype=F64)
    y = x @ beta
    l1 = min_l1_interpolant(x, y)
    torch.testing.assert_close(l1, beta, atol=1e-7, rtol=0)
    l2 = min_l2_interpolant(x, y)
    assert float((l2 - beta).norm()) > 0.5
    assert float(l1.abs().sum()) <= float(l2.abs().sum()) + 1e-9


def test_min_l1_interpolant_one_equation():
    # min |b|_1 s.t. a . b = c puts all mass on the largest |a_j|: b = c / a_j* e_j*.
    x = torch.tensor([[1.0, -4.0, 2.0]], dtype=F64)
    b = min_l1_interpolant(x, torch.tensor([2.0], dtype=F64))
    torch.testing.assert_close(b, torch.tensor([0.0, -0.5, 0.0], dtype=F64), atol=1e-12,
                               rtol=0)


def test_min_l1_rejects_inconsistent_systems():
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0]], dtype=F64)
    with pytest.raises(ValueError, match="no solution"):
        min_l1_interpolant(x, torch.tensor([1.0, 2.0], dtype=F64))
    with pytest.raises(ValueError, match="y:"):
        min_l2_interpolant(x, torch.tensor([1.0, math.nan], dtype=F64))


def test_dtype_follows_input():
    x = torch.randn(3, 5, generator=_gen(0), dtype=torch.float32)
    y = torch.randn(3, generator=_gen(1), dtype=torch.float32)
    assert min_l2_interpolant(x, y).dtype == torch.float32
    assert min_l1_interpolant(x, y).dtype == torch.float32
    np.testing.assert_allclose((x.double() @ min_l2_interpolant(x, y).double()).numpy(),
                               y.double().numpy(), atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Woodworth et al. potential


def test_woodworth_potential_closed_forms():
    z = torch.tensor([0.0, 1e-4, 3.0, -3.0], dtype=F64)
    q = [float(woodworth_potential(v.reshape(1), 1.0)) for v in z]
    assert q[0] == 0.0
    assert q[1] == pytest.approx(1e-8 / 4, rel=1e-6)  # q(z) ~ z^2 / 4
    assert q[2] == pytest.approx(2 - math.sqrt(13) + 3 * math.asinh(1.5), rel=1e-14)
    assert q[3] == pytest.approx(q[2], rel=1e-14)  # even
    # Q_alpha(beta) ~ |beta|^2 / (4 alpha^2) for alpha -> infinity
    beta = torch.tensor([0.3, -1.2, 0.5], dtype=F64)
    assert float(woodworth_potential(beta, 100.0)) == pytest.approx(
        float(beta @ beta) / (4 * 100.0**2), rel=1e-6)
    # gradient: arcsinh(beta / (2 alpha^2))
    b = beta.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(woodworth_potential(b, 0.7), b)
    torch.testing.assert_close(grad, torch.asinh(beta / (2 * 0.49)), atol=1e-14, rtol=0)
    with pytest.raises(ValueError, match="alpha"):
        woodworth_potential(beta, 0.0)


@pytest.mark.parametrize("alpha", [0.05, 1.0, 10.0])
def test_min_woodworth_interpolant_is_the_constrained_minimiser(alpha):
    g = _gen(4)
    x = torch.randn(5, 12, generator=g, dtype=F64)
    y = torch.randn(5, generator=g, dtype=F64)
    beta = min_woodworth_interpolant(x, y, alpha)
    torch.testing.assert_close(x @ beta, y, atol=1e-10, rtol=0)
    q = float(woodworth_potential(beta, alpha))
    pinv = torch.linalg.pinv(x)
    for _ in range(20):  # feasible perturbations along the null space never decrease Q
        d = torch.randn(12, generator=g, dtype=F64)
        d = 0.1 * (d - pinv @ (x @ d))
        assert float(woodworth_potential(beta + d, alpha)) >= q - 1e-12


def test_min_woodworth_interpolant_interpolates_between_l2_and_l1():
    # alpha -> infinity: the minimum-l2 interpolant; alpha -> 0: the minimum-l1 one (sparse
    # recovery), Woodworth et al. 2020, Thm 2.
    g = _gen(0)
    x = torch.randn(15, 40, generator=g, dtype=F64)
    beta = torch.zeros(40, dtype=F64)
    beta[[2, 11, 30]] = torch.tensor([1.0, -1.5, 0.8], dtype=F64)
    y = x @ beta
    big = min_woodworth_interpolant(x, y, 100.0)
    torch.testing.assert_close(big, min_l2_interpolant(x, y), atol=1e-5, rtol=0)
    small = min_woodworth_interpolant(x, y, 1e-3)
    l1 = min_l1_interpolant(x, y)
    torch.testing.assert_close(l1, beta, atol=1e-7, rtol=0)
    assert float((small - l1).norm()) < 0.02
    assert float((big - beta).norm()) > 0.5


def test_min_woodworth_interpolant_converges_at_every_scale():
    # Regression: near the dual optimum the decrease of phi falls below its rounding error and
    # Armijo's test could not be decided; Newton then stalled (here at alpha ~ 0.03).
    g = _gen(0)
    x = torch.randn(20, 60, generator=g, dtype=F64)
    beta = torch.zeros(60, dtype=F64)
    beta[:3] = torch.tensor([1.0, -1.0, 1.0], dtype=F64)
    y = x @ beta
    for alpha in torch.logspace(-5, 1, 25, dtype=F64).tolist():
        fit = min_woodworth_interpolant(x, y, alpha)
        assert float((x @ fit - y).abs().max()) <= 1e-11
