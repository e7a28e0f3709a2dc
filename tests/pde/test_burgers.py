"""Burgers' equation: the Cole–Hopf solution is accurate, solves the PDE, and meets the data."""

import math

import pytest
import torch

from mathdl.pde import (
    BURGERS_VISCOSITY,
    ColeHopfQuadrature,
    Derivatives,
    burgers_cole_hopf,
    burgers_initial_condition,
    burgers_reference_grid,
    burgers_residual,
    burgers_training_data,
)

F64 = torch.float64


def grid(n_t=40, n_x=101, t_max=1.0):
    t = torch.linspace(0, t_max, n_t, dtype=F64)
    x = torch.linspace(-1, 1, n_x, dtype=F64)
    return torch.meshgrid(t, x, indexing="ij")


def test_two_independent_quadratures_agree_including_the_shock():
    """Gauss-Hermite (128 nodes) and the trapezoidal rule (801 nodes) agree to 1e-13 on the
    grid of the paper's data (every other time), shock included; 64 Gauss-Hermite nodes are
    still within 1e-9."""
    t, x = grid(50, 256, 0.99)
    gh = burgers_cole_hopf(t, x)
    tr = burgers_cole_hopf(t, x, quadrature=ColeHopfQuadrature.TRAPEZOID)
    assert float((gh - tr).abs().max()) < 1e-13
    assert float((burgers_cole_hopf(t, x, nodes=64) - tr).abs().max()) < 1e-9
    # and a wrong (too coarse) rule is visibly off near the shock
    assert float((burgers_cole_hopf(t, x, nodes=8) - tr).abs().max()) > 1e-3


def test_initial_and_boundary_conditions():
    x = torch.linspace(-1, 1, 201, dtype=F64)
    u0 = burgers_cole_hopf(torch.zeros_like(x), x)
    assert torch.allclose(u0, burgers_initial_condition(x), atol=1e-14)
    t = torch.linspace(0, 1, 51, dtype=F64)
    for side in (-1.0, 1.0):
        assert float(burgers_cole_hopf(t, torch.full_like(t, side)).abs().max()) < 1e-13
    # odd symmetry u(t, -x) = -u(t, x)
    tt, xx = grid()
    assert torch.allclose(burgers_cole_hopf(tt, -xx), -burgers_cole_hopf(tt, xx), atol=1e-13)


def test_exact_solution_satisfies_the_pde_by_finite_differences():
    """Central differences (h = 1e-4 in x, 1e-5 in t: truncation ~1e-6 away from the shock) of
    the Cole-Hopf solution give u_t + u u_x - nu u_xx ~ 0 on |x| >= 0.2; a wrong viscosity does
    not."""
    t = torch.linspace(0.05, 0.95, 19, dtype=F64)
    x = torch.cat([torch.linspace(-0.9, -0.2, 15, dtype=F64), torch.linspace(0.2, 0.9, 15,
                                                                              dtype=F64)])
    tt, xx = torch.meshgrid(t, x, indexing="ij")
    hx, ht = 1e-4, 1e-5

    def residual(nu_pde):
        def u(a, b):
            return burgers_cole_hopf(a, b)
        u0 = u(tt, xx)
        ut = (u(tt + ht, xx) - u(tt - ht, xx)) / (2 * ht)
        ux = (u(tt, xx + hx) - u(tt, xx - hx)) / (2 * hx)
        uxx = (u(tt, xx + hx) - 2 * u0 + u(tt, xx - hx)) / hx**2
        return (ut + u0 * ux - nu_pde * uxx).abs().max()

    assert float(residual(BURGERS_VISCOSITY)) < 1e-4
    assert float(residual(2 * BURGERS_VISCOSITY)) > 1e-3


def test_steepest_slope_matches_basdevant_et_al():
    """max_t |u_x(t, 0)| = 152.00516 at t = 1.6037/pi (Basdevant et al. 1986), by autograd
    through the quadrature."""
    x = torch.zeros(1, dtype=F64, requires_grad=True)
    u = burgers_cole_hopf(torch.tensor([1.6037 / math.pi], dtype=F64), x)
    (slope,) = torch.autograd.grad(u.sum(), x)
    assert float(slope) == pytest.approx(-152.00516, abs=2e-4)


def test_residual_of_a_known_function():
    """u = x t: u_t + u u_x - nu u_xx = x + x t^2."""
    z = torch.rand(50, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    t, x = z[:, 0], z[:, 1]
    d = Derivatives(u=x * t, gradient=torch.stack([x, t], 1),
                    second=torch.zeros_like(z))
    r = burgers_residual(z, d, {"viscosity": 0.3})
    assert torch.allclose(r, x + x * t**2)
    r2 = burgers_residual(z, d, {"viscosity": 0.3, "convection": 2.0})
    assert torch.allclose(r2, x + 2 * x * t**2)


def test_training_data_and_reference_grid():
    col, oz, ou = burgers_training_data(10, 50, generator=torch.Generator().manual_seed(0),
                                        dtype=F64)
    assert col.shape == (60, 2) and oz.shape == (10, 2) and ou.shape == (10,)
    assert torch.equal(col[50:], oz)
    initial = oz[:, 0] == 0
    assert int(initial.sum()) == 5
    assert torch.allclose(ou[initial], -torch.sin(math.pi * oz[initial, 1]))
    assert bool((oz[~initial, 1].abs() == 1).all()) and bool((ou[~initial] == 0).all())
    assert bool(((col[:, 0] >= 0) & (col[:, 0] <= 1) & (col[:, 1].abs() <= 1)).all())
    z, u = burgers_reference_grid(3, 5)
    assert z.shape == (15, 2) and u.shape == (15,)
    assert torch.allclose(u[:5], -torch.sin(math.pi * z[:5, 1]), atol=1e-14)


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(t=torch.tensor([-1.0]), x=torch.tensor([0.0])), "t"),
    (dict(t=torch.tensor([0.5]), x=torch.tensor([math.nan])), "x"),
    (dict(t=torch.tensor([0.5]), x=torch.tensor([0.0]), viscosity=0.0), "viscosity"),
    (dict(t=torch.tensor([0.5]), x=torch.tensor([0.0]), nodes=400), "nodes"),
    (dict(t=torch.tensor([0.5]), x=torch.tensor([0.0]), quadrature="gauss"), "quadrature"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        burgers_cole_hopf(**kwargs)
