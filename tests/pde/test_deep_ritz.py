"""Deep Ritz: the network, the Monte Carlo Ritz energy, the errors, the penalty's Robin limit,
the exact boundary ansatz, and a small training run against an exact solution."""

import math

import pytest
import torch
from torch import nn

from mathdl.pde import (
    Ball,
    BoundaryAnsatz,
    Box,
    DeepRitz,
    LShape,
    RitzActivation,
    RitzResNet,
    SineProduct,
    TrainingDivergedError,
    relative_sobolev_errors,
    ritz_energy,
    robin_relative_error,
)

F64 = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


class Exact(nn.Module):
    """A fixed function as a model: c * u(x)."""

    def __init__(self, fn, c=1.0):
        super().__init__()
        self.fn, self.c = fn, c

    def forward(self, x):
        return self.c * self.fn(x)


def saddle(x):
    """r^2 cos(2 theta) = x^2 - y^2: harmonic."""
    return x[:, 0] ** 2 - x[:, 1] ** 2


def test_resnet_blocks_padding_and_activation():
    net = RitzResNet(2, width=6, blocks=2, generator=gen(), dtype=F64)
    x = torch.rand(5, 2, generator=gen(1), dtype=F64)
    s = nn.functional.pad(x, (0, 4))
    for first, second in net.blocks:
        s = s + torch.relu(second(torch.relu(first(s)) ** 3)) ** 3
    assert torch.allclose(net(x), net.readout(s)[:, 0])
    lifted = RitzResNet(10, width=4, blocks=1, activation=RitzActivation.TANH, generator=gen())
    assert lifted(torch.zeros(3, 10)).shape == (3,)
    same = RitzResNet(2, width=6, blocks=2, generator=gen(), dtype=F64)
    assert torch.equal(same(x), net(x))
    zero = RitzResNet(2, generator=gen(), zero_output=True)
    assert float(zero(x.float()).detach().abs().max()) == 0.0


def test_energy_of_the_exact_solution():
    """For u = sin(pi x) sin(pi y) on the unit square (g = 0): E(u) = -1/2 int |grad u|^2 =
    -pi^2/4 (Monte Carlo, 5 standard errors)."""
    sol, box = SineProduct(2), Box.cube(2)
    x = box.sample_interior(100_000, generator=gen(), dtype=F64)
    e = float(ritz_energy(Exact(sol.value), x, sol.source(x), volume=1.0).detach())
    integrand = 0.5 * sol.gradient(x).square().sum(1) - sol.source(x) * sol.value(x)
    se = float(integrand.std()) / math.sqrt(len(x))
    assert abs(e + math.pi**2 / 4) < 5 * se


def test_energy_with_penalty_is_the_stated_estimator():
    model = Exact(saddle)
    x = Ball(2).sample_interior(100, generator=gen(), dtype=F64)
    y = Ball(2).sample_boundary(50, generator=gen(1), dtype=F64)
    g = torch.zeros(50, dtype=F64)
    e = ritz_energy(model, x, torch.zeros(100, dtype=F64), volume=math.pi, boundary=y,
                    boundary_data=g, penalty=3.0, boundary_measure=2 * math.pi)
    grad = torch.stack([2 * x[:, 0], -2 * x[:, 1]], 1)
    expected = (math.pi * 0.5 * grad.square().sum(1).mean()
                + 3.0 * 2 * math.pi * saddle(y).square().mean())
    assert float(e.detach()) == pytest.approx(float(expected), rel=1e-12)


@pytest.mark.parametrize("beta", [0.3, 1.0, 5.0])
def test_penalised_minimiser_on_the_disk_is_the_robin_solution(beta):
    """Among c * u, u = r^2 cos 2 theta, the Monte Carlo penalised energy is minimised at
    c = 2 beta / (k + 2 beta): the relative error of the exact penalised minimiser is
    k / (k + 2 beta) (Robin problem)."""
    disk = Ball(2)
    x = disk.sample_interior(200_000, generator=gen(), dtype=F64)
    y = disk.sample_boundary(200_000, generator=gen(1), dtype=F64)
    f = torch.zeros(len(x), dtype=F64)

    def energy(c):
        return float(ritz_energy(Exact(saddle, c), x, f, volume=math.pi, boundary=y,
                                 boundary_data=saddle(y), penalty=beta,
                                 boundary_measure=2 * math.pi).detach())

    # E(c) = p c^2 + q c + r is quadratic: its vertex from three values
    e0, e1, e2 = energy(0.0), energy(0.5), energy(1.0)
    p = 2 * (e2 - 2 * e1 + e0)
    q = e2 - e0 - p
    c_star = -q / (2 * p)
    assert 1 - c_star == pytest.approx(robin_relative_error(2, beta), abs=0.01)
    assert robin_relative_error(2, beta) == pytest.approx(2 / (2 + 2 * beta))


def test_relative_errors():
    sol = SineProduct(2)
    x = Box.cube(2).sample_interior(5000, generator=gen(), dtype=F64)
    assert relative_sobolev_errors(Exact(sol.value), sol, x) == pytest.approx((0.0, 0.0),
                                                                               abs=1e-14)
    assert relative_sobolev_errors(Exact(sol.value, 0.0), sol, x) == pytest.approx((1.0, 1.0))
    assert relative_sobolev_errors(Exact(sol.value, 1.5), sol, x) == pytest.approx((0.5, 0.5))


def test_boundary_ansatz_is_exact_on_the_boundary():
    box = Box.cube(2)
    net = RitzResNet(2, generator=gen(), dtype=F64)
    model = BoundaryAnsatz(net, box, extension=lambda x: x[:, 0] + 1)
    y = box.sample_boundary(500, generator=gen(), dtype=F64)
    assert torch.allclose(model(y), y[:, 0] + 1, atol=1e-14)
    with pytest.raises(ValueError, match="domain"):
        BoundaryAnsatz(net, LShape())


def test_deep_ritz_learns_the_sine_product_with_the_exact_ansatz():
    """300 Adam steps of a width-8 network give a few-percent L2 error (the ansatz removes the
    penalty's O(1/beta) bias)."""
    sol, box = SineProduct(2), Box.cube(2)
    model = BoundaryAnsatz(RitzResNet(2, 8, 2, generator=gen(), dtype=F64), box)
    calls = []
    DeepRitz(model, box, sol.source, penalty=0.0, steps=300, lr=1e-2, final_lr=1e-3,
             interior_points=400).fit(generator=gen(1), progress=lambda d, t: calls.append(d))
    x = box.sample_interior(10_000, generator=gen(2), dtype=F64)
    l2, h1 = relative_sobolev_errors(model, sol, x)
    assert l2 < 0.1 and h1 < 0.15
    assert calls[-1] == 300


def test_divergence_is_reported():
    box = Box.cube(2)
    model = RitzResNet(2, generator=gen(), dtype=F64)
    solver = DeepRitz(model, box, lambda x: x[:, 0] * math.nan, penalty=0.0, steps=5)
    with pytest.raises(TrainingDivergedError, match="Deep Ritz"):
        solver.fit(generator=gen())


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(penalty=-1.0), "penalty"), (dict(steps=0), "steps"), (dict(lr=0.0), "lr"),
    (dict(interior_points=0), "interior_points"), (dict(boundary_data=None), "boundary_data")])
def test_bad_solver_arguments(kwargs, match):
    args = dict(boundary_data=lambda y: y[:, 0], penalty=1.0) | kwargs
    with pytest.raises(ValueError, match=match):
        DeepRitz(RitzResNet(2, generator=gen()), Box.cube(2), lambda x: x[:, 0], **args)


def test_bad_energy_arguments():
    model = RitzResNet(2, generator=gen())
    x = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="source"):
        ritz_energy(model, x, torch.zeros(3), volume=1.0)
    with pytest.raises(ValueError, match="boundary"):
        ritz_energy(model, x, torch.zeros(4), volume=1.0, penalty=1.0)
    with pytest.raises(ValueError, match="volume"):
        ritz_energy(model, x, torch.zeros(4), volume=0.0)
    with pytest.raises(ValueError, match="activation"):
        RitzResNet(2, activation="tanh", generator=gen())
