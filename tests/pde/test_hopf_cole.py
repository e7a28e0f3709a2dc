"""The Hopf–Cole reference of the HJB equation: exact Gaussian cases, λ → 0, honest standard errors,
and the chi-square quadrature against Monte Carlo."""

from __future__ import annotations

import math

import pytest
import torch

from mathdl.pde import (
    hjb_terminal,
    hopf_cole_radial_value,
    hopf_cole_value,
    lqg_profile,
    quadratic_hjb_value,
)

F64 = torch.float64


def quadratic(a: float):
    return lambda x: a * x.square().sum(dim=-1)


@pytest.mark.parametrize("lam", [0.0, 0.5, 2.0, -0.3])
@pytest.mark.parametrize("d", [1, 5])
def test_quadratic_terminal_matches_the_gaussian_integral(lam, d):
    # g = a|x|^2: u = d/(2λ) ln(1 + 4λaτ) + a|x|^2/(1 + 4λaτ); a wrong factor (√2, 1/2) in the
    # noise or in λ moves u by many standard errors.
    a, tau = 0.3, 0.7
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, d, generator=gen, dtype=F64)
    est = hopf_cole_value(quadratic(a), x, time_to_maturity=tau, lam=lam, n_samples=200_000,
                          generator=gen, chunk_size=30_000)
    exact = quadratic_hjb_value(x, time_to_maturity=tau, lam=lam, curvature=a)
    assert est.value.shape == (3,) and est.std_error.shape == (3,)
    assert torch.all((est.value - exact).abs() <= 5 * est.std_error)


def test_quadratic_value_solves_the_hjb_equation():
    # u_t + Δu - λ|∇u|^2 = 0 for the closed form, by autograd in float64
    lam, a, d, horizon = 1.7, 0.4, 3, 1.0
    x = torch.randn(4, d, generator=torch.Generator().manual_seed(1), dtype=F64)
    for t in (0.0, 0.3, 0.9):
        xs = x.clone().requires_grad_(True)
        u = quadratic_hjb_value(xs, time_to_maturity=horizon - t, lam=lam, curvature=a)
        grad = torch.autograd.grad(u.sum(), xs, create_graph=True)[0]
        lap = sum(torch.autograd.grad(grad[:, k].sum(), xs, retain_graph=True)[0][:, k]
                  for k in range(d))
        h = 1e-6
        u_t = (quadratic_hjb_value(x, time_to_maturity=horizon - t - h, lam=lam, curvature=a)
               - quadratic_hjb_value(x, time_to_maturity=horizon - t + h, lam=lam,
                                     curvature=a)) / (2 * h)
        residual = u_t + lap - lam * grad.square().sum(dim=1)
        assert residual.abs().max() < 1e-7


def test_lambda_to_zero_is_continuous():
    # same samples: u_λ - u_0 = -(λ/2) Var g + O(λ^2), so the gap shrinks linearly
    x = torch.zeros(4, dtype=F64)
    values = []
    for lam in (0.0, 1e-3, 1e-6):
        est = hopf_cole_value(hjb_terminal, x, time_to_maturity=1.0, lam=lam, n_samples=20_000,
                              generator=torch.Generator().manual_seed(3))
        values.append(float(est.value))
    u0, u3, u6 = values
    assert 0 < u0 - u3 < 1e-2 and 0 < u0 - u6 < 1e-5
    assert (u0 - u3) / (u0 - u6) == pytest.approx(1e3, rel=0.01)


def test_standard_error_is_honest():
    # coverage of value ± 2 se over independent replicates (nominal 95.4%)
    lam, a, tau, d = 1.5, 0.5, 1.0, 2
    x = torch.zeros(d, dtype=F64)
    exact = float(quadratic_hjb_value(x, time_to_maturity=tau, lam=lam, curvature=a))
    gen = torch.Generator().manual_seed(7)
    hits = 0
    reps = 300
    for _ in range(reps):
        est = hopf_cole_value(quadratic(a), x, time_to_maturity=tau, lam=lam, n_samples=400,
                              generator=gen)
        hits += abs(float(est.value) - exact) <= 2 * float(est.std_error)
    # binomial(300, 0.954): sd 3.6 hits; a standard error off by a factor 1.5 gives ~82%
    assert 0.90 * reps <= hits <= 0.99 * reps


def test_chunking_does_not_change_the_estimate():
    x = torch.zeros(3, dtype=F64)
    kw = dict(time_to_maturity=1.0, lam=4.0, n_samples=10_000)
    one = hopf_cole_value(hjb_terminal, x, generator=torch.Generator().manual_seed(5),
                          chunk_size=10_000, **kw)
    many = hopf_cole_value(hjb_terminal, x, generator=torch.Generator().manual_seed(5),
                           chunk_size=10_000, **kw)
    assert float(one.value) == float(many.value)
    split = hopf_cole_value(hjb_terminal, x, generator=torch.Generator().manual_seed(5),
                            chunk_size=2_500, **kw)
    assert float(split.value) == pytest.approx(float(one.value), abs=5 * float(one.std_error))


def test_log_mean_exp_is_stable_for_huge_exponents():
    # λ g ≈ 1800: a naive mean of exp(-λ g) underflows to 0 and gives inf (the tilt of the
    # sampling law, |x| 4λaτ ≈ 0.02, stays within one noise sd √(2τ) ≈ 0.014, so Monte Carlo is
    # accurate)
    x = torch.full((2,), 30.0, dtype=F64)
    est = hopf_cole_value(quadratic(1.0), x, time_to_maturity=1e-4, lam=1.0, n_samples=20_000,
                          generator=torch.Generator().manual_seed(0))
    exact = quadratic_hjb_value(x, time_to_maturity=1e-4, lam=1.0, curvature=1.0)
    assert math.isfinite(float(est.value))
    assert abs(float(est.value) - float(exact)) <= 5 * float(est.std_error) + 1e-9


@pytest.mark.parametrize("lam", [0.0, 1.0, 10.0])
def test_radial_quadrature_matches_monte_carlo(lam):
    d = 100
    exact = hopf_cole_radial_value(lqg_profile, dim=d, time_to_maturity=1.0, lam=lam)
    est = hopf_cole_value(hjb_terminal, torch.zeros(d, dtype=F64), time_to_maturity=1.0,
                          lam=lam, n_samples=100_000, generator=torch.Generator().manual_seed(2))
    assert abs(float(est.value) - exact) <= 4 * float(est.std_error)


def test_radial_quadrature_known_values():
    # λ = 1, d = 100: 4.5901617 (the published ≈ 4.5901); quadratic profile: closed form
    assert hopf_cole_radial_value(lqg_profile, dim=100, time_to_maturity=1.0,
                                  lam=1.0) == pytest.approx(4.5901617, abs=1e-6)
    for lam in (0.0, 0.7, 3.0):
        exact = float(quadratic_hjb_value(torch.zeros(4, dtype=F64), time_to_maturity=0.5,
                                          lam=lam, curvature=0.2))
        assert hopf_cole_radial_value(lambda r: 0.2 * r, dim=4, time_to_maturity=0.5,
                                      lam=lam) == pytest.approx(exact, rel=1e-9)


def test_large_lambda_monte_carlo_misses_the_rare_paths():
    # λ = 50, d = 100: the exact value 3.724 is set by paths with |W_1|^2 ≈ 6 (probability
    # ~e^-90); Monte Carlo gives ≈ 4.10, many standard errors away
    exact = hopf_cole_radial_value(lqg_profile, dim=100, time_to_maturity=1.0, lam=50.0)
    assert exact == pytest.approx(3.7242, abs=1e-3)
    est = hopf_cole_value(hjb_terminal, torch.zeros(100, dtype=F64), time_to_maturity=1.0,
                          lam=50.0, n_samples=20_000, generator=torch.Generator().manual_seed(0))
    assert float(est.value) - exact > 5 * float(est.std_error)


@pytest.mark.parametrize("kwargs, match", [
    (dict(x=torch.zeros(2, 2, 2, dtype=F64)), "x: expected"),
    (dict(x=torch.zeros(3, dtype=torch.int64)), "x: expected"),
    (dict(time_to_maturity=-1.0), "time_to_maturity"),
    (dict(lam=float("nan")), "lam"),
    (dict(n_samples=1), "n_samples"),
    (dict(chunk_size=0), "chunk_size"),
    (dict(terminal=lambda x: x), "terminal: expected"),
])
def test_bad_input_is_refused(kwargs, match):
    args = dict(terminal=hjb_terminal, x=torch.zeros(3, dtype=F64), time_to_maturity=1.0,
                lam=1.0, n_samples=10, generator=torch.Generator())
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        hopf_cole_value(args.pop("terminal"), args.pop("x"), **args)


def test_bad_input_is_refused_by_the_closed_forms():
    with pytest.raises(ValueError, match="curvature"):
        quadratic_hjb_value(torch.zeros(2, dtype=F64), time_to_maturity=1.0, lam=-1.0,
                            curvature=1.0)
    with pytest.raises(ValueError, match="dim"):
        hopf_cole_radial_value(lqg_profile, dim=0, time_to_maturity=1.0, lam=1.0)
    with pytest.raises(ValueError, match="time_to_maturity"):
        hopf_cole_radial_value(lqg_profile, dim=3, time_to_maturity=0.0, lam=1.0)
