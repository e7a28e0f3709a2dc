"""Exact Poisson solutions: gradients and sources agree with autograd, boundary data."""

import math

import pytest
import torch

from mathdl.pde import (
    Box,
    CircularHarmonic,
    CornerSingularity,
    LShape,
    PairProductSum,
    SineProduct,
    SlitDisk,
    SlitSquare,
)

F64 = torch.float64
SOLUTIONS = [SineProduct(2), SineProduct(3, 2), PairProductSum(10), PairProductSum(3),
             CornerSingularity(2 / 3), CornerSingularity(1 / 2), CircularHarmonic(1),
             CircularHarmonic(2), CircularHarmonic(5)]


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def autograd_derivatives(sol, x):
    x = x.clone().requires_grad_(True)
    u = sol.value(x)
    (g,) = torch.autograd.grad(u.sum(), x, create_graph=True)
    lap = sum(torch.autograd.grad(g[:, i].sum(), x, retain_graph=True)[0][:, i]
              for i in range(x.shape[1]))
    return g.detach(), lap.detach()


@pytest.mark.parametrize("sol", SOLUTIONS, ids=repr)
def test_gradient_and_source_match_autograd(sol):
    x = 2 * torch.rand(200, sol.dim, generator=gen(), dtype=F64) - 1
    x = x[x.norm(dim=1) > 0.05]          # away from the corner singularity
    x = x[x[:, 1].abs() > 1e-3] if sol.dim == 2 else x   # away from the branch cut theta = 0
    g, lap = autograd_derivatives(sol, x)
    assert torch.allclose(sol.gradient(x), g, rtol=1e-10, atol=1e-10)
    assert torch.allclose(sol.source(x), -lap, rtol=1e-9, atol=1e-8)


@pytest.mark.parametrize(("sol", "domain"), [
    (CornerSingularity(2 / 3), LShape()), (CornerSingularity(1 / 2), SlitDisk()),
    (CornerSingularity(1 / 2), SlitSquare())], ids=["L", "slit-disk", "slit-square"])
def test_corner_solutions_vanish_on_the_edges_that_meet_at_the_corner(sol, domain):
    y = domain.sample_boundary(20_000, generator=gen(), dtype=F64)
    # the edges through the origin: theta = 0 (positive x axis) and theta = 3 pi/2 (L) or 2 pi
    on_corner_edges = ((y[:, 1] == 0) & (y[:, 0] >= 0)) | ((y[:, 0] == 0) & (y[:, 1] <= 0))
    assert int(on_corner_edges.sum()) > 1000
    assert float(sol.value(y[on_corner_edges]).abs().max()) < 1e-14
    # and is H1 but not bounded in gradient: |grad u| = alpha r^(alpha - 1)
    r = torch.tensor([[1e-6, 1e-6]], dtype=F64)
    a = sol.exponent
    assert float(sol.gradient(r).norm()) == pytest.approx(a * (math.sqrt(2) * 1e-6) ** (a - 1))


def test_sine_product_vanishes_on_the_unit_and_symmetric_cubes():
    sol = SineProduct(3)
    for box in (Box.cube(3), Box.cube(3, -1, 1)):
        y = box.sample_boundary(1000, generator=gen(), dtype=F64)
        assert float(sol.value(y).abs().max()) < 1e-14


def test_circular_harmonic_values():
    x = torch.tensor([[0.3, -0.7]], dtype=F64)
    r, th = math.hypot(0.3, -0.7), math.atan2(-0.7, 0.3)
    assert float(CircularHarmonic(3).value(x)) == pytest.approx(r**3 * math.cos(3 * th))
    assert float(CircularHarmonic(2).value(x)) == pytest.approx(0.09 - 0.49)


def test_pair_product_sum_values():
    x = torch.arange(1.0, 11.0, dtype=F64)[None]
    assert float(PairProductSum(10).value(x)) == 1 * 2 + 3 * 4 + 5 * 6 + 7 * 8 + 9 * 10


@pytest.mark.parametrize(("make", "match"), [
    (lambda: SineProduct(0), "dim"), (lambda: SineProduct(2, 0), "frequency"),
    (lambda: PairProductSum(1), "dim"), (lambda: CornerSingularity(1.5), "exponent"),
    (lambda: CornerSingularity(0.0), "exponent"),
    (lambda: SineProduct(2).value(torch.zeros(3, 3)), "x")])
def test_bad_input(make, match):
    with pytest.raises(ValueError, match=match):
        make()
