"""Deep BSDE: exact solutions recovered, the PDE specs' generators, the batched per-step networks,
the pathwise targets, divergence and bad input."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from mathdl.pde import (
    DeepBSDEOptions,
    DeepBSDESolver,
    PerStepNetworks,
    SemilinearParabolicPDE,
    TrainingDivergedError,
    allen_cahn_pde,
    black_scholes_default_risk_pde,
    hjb_lqg_pde,
    pathwise_gradient_targets,
    quadratic_hjb_value,
    sample_forward_paths,
    semilinear_residual,
)

F64 = torch.float64


def quadratic_hjb(d: int, lam: float, a: float) -> SemilinearParabolicPDE:
    """u_t + Δu - λ|∇u|^2 = 0 with g = a|x|^2: exact u = d/(2λ) ln(1 + 4λa(T-t)) + ..."""
    return dataclasses.replace(hjb_lqg_pde(dim=d, lam=lam),
                               terminal=lambda x: a * x.square().sum(dim=-1))


def test_heat_equation_with_quadratic_terminal_is_recovered():
    # λ = 0: u(0, 0) = 2 a d T exactly; Z = √2 ∇u is linear, found by the pathwise regression.
    # The residual error is Monte Carlo (the warm start's mean over 4096 paths, then Adam) + Euler's
    # O(Δt) on the stochastic integral, which does not bias the mean: ±0.5% is ~5 sd.
    d, a = 4, 0.5
    pde = quadratic_hjb(d, 0.0, a)
    opts = DeepBSDEOptions(n_steps=20, hidden=(), batch_size=256, iterations=100,
                           init_samples=4096)
    solver = DeepBSDESolver(pde, opts).fit(generator=torch.Generator().manual_seed(0))
    assert solver.y0_ == pytest.approx(2 * a * d, rel=5e-3)
    assert solver.z0_.abs().max() < 0.05  # Z0 = √2 ∇u(0, 0) = 0


def test_nonlinear_hjb_with_quadratic_terminal_is_recovered():
    # λ = 0.2: exact u(0,0) = d/(2λ) ln(1 + 4λa) = 3.3647, far from the λ = 0 value 4.0 (a
    # solver ignoring the nonlinearity is 19% off) and from the warm start 3.22 (4%); allowed:
    # 1% (the O(Δt) bias of the Euler scheme for the quadratic driver at N = 20 plus MC noise).
    d, a, lam = 4, 0.5, 0.2
    pde = quadratic_hjb(d, lam, a)
    exact = float(quadratic_hjb_value(torch.zeros(d, dtype=F64), time_to_maturity=1.0, lam=lam,
                                      curvature=a))
    opts = DeepBSDEOptions(n_steps=20, hidden=(), batch_size=128, iterations=600,
                           final_learning_rate=1e-3, init_samples=4096)
    solver = DeepBSDESolver(pde, opts).fit(generator=torch.Generator().manual_seed(0))
    assert solver.y0_ == pytest.approx(exact, rel=0.01)
    assert abs(solver.y0_history_[0] - exact) > 0.03 * exact  # training did the work


def test_same_seed_same_result_and_progress_is_reported():
    pde = hjb_lqg_pde(dim=3, lam=1.0)
    opts = DeepBSDEOptions(n_steps=5, hidden=(8,), batch_size=16, iterations=7,
                           init_samples=64)
    calls = []
    one = DeepBSDESolver(pde, opts).fit(generator=torch.Generator().manual_seed(1),
                                        progress=lambda d, t: calls.append((d, t)))
    two = DeepBSDESolver(pde, opts).fit(generator=torch.Generator().manual_seed(1))
    assert one.loss_history_ == two.loss_history_ and one.y0_ == two.y0_
    assert calls[-1] == (7, 7) and len(one.loss_history_) == 7


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_follows_the_problem(dtype):
    pde = hjb_lqg_pde(dim=3, lam=1.0, dtype=dtype)
    opts = DeepBSDEOptions(n_steps=4, hidden=(5,), batch_size=8, iterations=2, init_samples=32)
    solver = DeepBSDESolver(pde, opts).fit(generator=torch.Generator().manual_seed(0))
    assert solver.z0_.dtype == dtype
    assert all(p.dtype == dtype for p in solver.networks_.parameters())


def test_exact_solution_has_zero_residual():
    # the spec's generator: u_t + Δu - λ|∇u|^2 written as μ·∇u + ½Tr(σσ^T Hess u) + f(σ^T∇u)
    d, a, lam = 3, 0.4, 1.3
    pde = quadratic_hjb(d, lam, a)
    x = torch.randn(5, d, generator=torch.Generator().manual_seed(0), dtype=F64)

    def u(t, x):
        q = 1 + 4 * lam * a * (1.0 - t)
        return d / (2 * lam) * torch.log(q) + a * x.square().sum(dim=1) / q

    assert semilinear_residual(pde, u, 0.3, x).abs().max() < 1e-12
    wrong = dataclasses.replace(pde, driver=lambda t, x, y, z: -lam * z.square().sum(dim=-1))
    assert semilinear_residual(wrong, u, 0.3, x).abs().min() > 1e-3  # the missing 1/2 shows


def test_black_scholes_generator_is_that_of_geometric_brownian_motion():
    # for u = |x|^2: μ̄ x·∇u + ½σ̄^2 Σ x_i^2 ∂_ii u = (2μ̄ + σ̄^2)|x|^2, plus the driver
    pde = black_scholes_default_risk_pde(dim=3)
    x = 60.0 + 10 * torch.rand(4, 3, generator=torch.Generator().manual_seed(0), dtype=F64)
    res = semilinear_residual(pde, lambda t, x: x.square().sum(dim=1), 0.0, x)
    r2 = x.square().sum(dim=1)
    q = ((0.2 - 0.02) / (50.0 - 70.0) * (r2 - 50.0) + 0.2).clamp(0.02, 0.2)
    expected = (2 * 0.02 + 0.2**2) * r2 - (1 - 2 / 3) * q * r2 - 0.02 * r2
    assert torch.allclose(res, expected, rtol=1e-12)


def test_allen_cahn_driver_and_terminal():
    pde = allen_cahn_pde(dim=2)
    x = torch.tensor([[0.0, 0.0], [1.0, 2.0]], dtype=F64)
    assert torch.allclose(pde.terminal(x), torch.tensor([0.5, 1 / 4.0], dtype=F64))
    y = torch.tensor([0.5, 2.0], dtype=F64)
    assert torch.allclose(pde.driver(0.0, x, y, x), y - y**3)


def test_forward_paths_have_the_brownian_law():
    pde = hjb_lqg_pde(dim=2, lam=1.0)
    dw, x = sample_forward_paths(pde, n_steps=4, batch_size=20_000,
                                 generator=torch.Generator().manual_seed(0))
    assert dw.shape == (4, 20_000, 2) and x.shape == (5, 20_000, 2)
    assert torch.allclose(x[1:] - x[:-1], math.sqrt(2) * dw, atol=1e-14)
    assert x[-1].var(dim=0) == pytest.approx(torch.full((2,), 2.0, dtype=F64), rel=0.03)


def test_per_step_networks_equal_separate_networks():
    nets = PerStepNetworks(3, 4, 2, (5, 6), generator=torch.Generator().manual_seed(0),
                           skip=True)
    with torch.no_grad():
        for p in nets.parameters():
            p.normal_(generator=torch.Generator().manual_seed(p.numel()))
    x = torch.randn(3, 7, 4, generator=torch.Generator().manual_seed(1), dtype=F64)
    out = nets(x)
    for n in range(3):
        h = x[n]
        for i, (w, b) in enumerate(zip(nets.weights, nets.biases, strict=True)):
            h = h @ w[n] + b[n]
            h = torch.relu(h) if i < 2 else h
        h = h + x[n] @ nets.skip_weight[n] + nets.skip_bias[n]
        assert torch.allclose(out[n], h, atol=1e-12)


def test_pathwise_targets_of_the_heat_equation():
    # g = a|x|^2, X = √2 W: ζ_n = √2 · 2a X_N, whose conditional mean is √2 ∇u = √2 · 2a X_n
    a, d = 0.5, 3
    pde = quadratic_hjb(d, 0.0, a)
    dw = 0.5 * torch.randn(4, 10, d, generator=torch.Generator().manual_seed(0), dtype=F64)
    x, zeta = pathwise_gradient_targets(pde, dw)
    for n in range(4):
        assert torch.allclose(zeta[n], math.sqrt(2) * 2 * a * x[-1])


def test_divergence_is_reported():
    pde = allen_cahn_pde(dim=2)
    opts = DeepBSDEOptions(n_steps=10, hidden=(4,), batch_size=8, iterations=5,
                           warm_start=False, y0_init=1e3, init_samples=16)
    with pytest.raises(TrainingDivergedError, match="Deep BSDE diverged at step 1/5"):
        DeepBSDESolver(pde, opts).fit(generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_steps=0), "n_steps"),
    (dict(hidden=(3, 0)), "hidden"),
    (dict(hidden=[3]), "hidden"),
    (dict(batch_size=-1), "batch_size"),
    (dict(iterations=0), "iterations"),
    (dict(learning_rate=0.0), "learning_rate"),
    (dict(final_learning_rate=float("inf")), "final_learning_rate"),
    (dict(init_samples=1), "init_samples"),
])
def test_bad_options_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DeepBSDEOptions(**kwargs)


def test_bad_problems_are_refused():
    with pytest.raises(ValueError, match="x0"):
        dataclasses.replace(hjb_lqg_pde(dim=3), x0=torch.zeros(2, dtype=F64))
    with pytest.raises(ValueError, match="horizon"):
        hjb_lqg_pde(dim=3, horizon=0.0)
    with pytest.raises(ValueError, match="driver"):
        dataclasses.replace(hjb_lqg_pde(dim=3), driver=None)
    with pytest.raises(ValueError, match="dim"):
        allen_cahn_pde(dim=0)
    with pytest.raises(ValueError, match="pde"):
        DeepBSDESolver("heat")
    with pytest.raises(ValueError, match="options"):
        DeepBSDESolver(hjb_lqg_pde(dim=3), {"n_steps": 3})
    with pytest.raises(ValueError, match="x: expected"):
        semilinear_residual(hjb_lqg_pde(dim=3), lambda t, x: x.sum(1), 0.0, torch.zeros(2, 2))
