"""Domains: uniform interior/boundary sampling, membership, measures."""

import math

import pytest
import torch

from mathdl.pde import Ball, Box, Domain, LShape, SlitDisk, SlitSquare

N = 40_000
DOMAINS = [Box([0.0, -1.0], [2.0, 1.0]), Box.cube(3), Box.cube(10), Ball(2),
           Ball(3, 2.0, (1, 0, 0)), LShape(), SlitDisk(), SlitSquare()]
IDS = [repr(d) for d in DOMAINS]


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("domain", DOMAINS, ids=IDS)
def test_samples_lie_in_the_domain_and_boundary_points_on_its_boundary(domain: Domain):
    x = domain.sample_interior(N, generator=gen(), dtype=torch.float64)
    y = domain.sample_boundary(N, generator=gen(1), dtype=torch.float64)
    assert x.shape == (N, domain.dim) and y.shape == (N, domain.dim)
    assert x.dtype == torch.float64
    assert bool(domain.contains(x).all()) and bool(domain.contains(y, tol=1e-12).all())
    # boundary points: pushing them by 1e-3 in some coordinate direction leaves the domain, or
    # they lie on a slit (a segment of the boundary inside the closure)
    eps = 1e-3
    outside = torch.zeros(N, dtype=torch.bool)
    for i in range(domain.dim):
        e = torch.zeros(domain.dim, dtype=torch.float64)
        e[i] = eps
        outside |= ~domain.contains(y + e) | ~domain.contains(y - e)
    on_slit = (y[:, 1].abs() < 1e-12) & (y[:, 0] >= 0) if isinstance(
        domain, SlitDisk | SlitSquare) else torch.zeros(N, dtype=torch.bool)
    assert bool((outside | on_slit).all())
    # interior points are (almost surely) not on the boundary
    inner = domain.contains(x + eps) & domain.contains(x - eps)
    assert float(inner.double().mean()) > 0.5


@pytest.mark.parametrize("domain", DOMAINS, ids=IDS)
def test_volume_by_hit_or_miss(domain: Domain):
    """The fraction of uniform points of a bounding box that the domain contains is
    volume / box volume (binomial standard error, 5 sigma)."""
    x = domain.sample_interior(2000, generator=gen(), dtype=torch.float64)
    low, high = x.min(0).values - 0.05, x.max(0).values + 0.05
    if isinstance(domain, Ball):
        c = torch.tensor(domain.center, dtype=torch.float64)
        low, high = c - domain.radius, c + domain.radius
    if isinstance(domain, Box):
        low = torch.tensor(domain.low, dtype=torch.float64)
        high = torch.tensor(domain.high, dtype=torch.float64)
    u = low + (high - low) * torch.rand(N, domain.dim, generator=gen(2), dtype=torch.float64)
    p = domain.volume / float((high - low).prod())
    assert p <= 1 + 1e-12
    frac = float(domain.contains(u).double().mean())
    assert abs(frac - p) <= 5 * math.sqrt(max(p * (1 - p), 1e-12) / N) + 1e-12


def test_interior_is_uniform_moments_and_subregions():
    # L-shape: each of its three unit squares holds 1/3 of the points; mean (-1/6, 1/6)
    x = LShape().sample_interior(N, generator=gen(), dtype=torch.float64)
    for lo in ([-1, -1], [-1, 0], [0, 0]):
        inside = ((x[:, 0] >= lo[0]) & (x[:, 0] <= lo[0] + 1) & (x[:, 1] >= lo[1])
                  & (x[:, 1] <= lo[1] + 1))
        assert abs(float(inside.double().mean()) - 1 / 3) < 5 * math.sqrt(2 / 9 / N)
    mean = x.mean(0)
    se = x.std(0) / math.sqrt(N)
    assert bool(((mean - torch.tensor([-1 / 6, 1 / 6], dtype=torch.float64)).abs() < 5 * se).all())
    # ball in d = 3: P(|x| < 1/2) = 1/8, E|x|^2 = 3/5 R^2
    b = Ball(3).sample_interior(N, generator=gen(), dtype=torch.float64)
    r = b.norm(dim=1)
    assert abs(float((r < 0.5).double().mean()) - 1 / 8) < 5 * math.sqrt(7 / 64 / N)
    assert abs(float(r.square().mean()) - 0.6) < 5 * float(r.square().std()) / math.sqrt(N)


def test_boundary_is_uniform_by_length():
    # L-shape: 6 edges of lengths 1, 1, 1, 1, 2, 2 (total 8)
    y = LShape().sample_boundary(N, generator=gen(), dtype=torch.float64)
    top = (y[:, 1] - 1).abs() < 1e-12
    assert abs(float(top.double().mean()) - 2 / 8) < 5 * math.sqrt(0.25 * 0.75 / N)
    # slit disk: the slit carries 1 / (2 pi + 1) of the boundary measure
    s = SlitDisk().sample_boundary(N, generator=gen(), dtype=torch.float64)
    p = 1 / (2 * math.pi + 1)
    slit = (s.norm(dim=1) < 1 - 1e-12)
    assert abs(float(slit.double().mean()) - p) < 5 * math.sqrt(p * (1 - p) / N)
    # sphere: E x = 0, E x x^T = I / d
    z = Ball(3).sample_boundary(N, generator=gen(), dtype=torch.float64)
    assert torch.allclose(z.T @ z / N, torch.eye(3, dtype=torch.float64) / 3, atol=0.02)
    # box [0,2] x [-1,1]: every face has length 2, so each gets 1/4
    q = Box([0.0, -1.0], [2.0, 1.0]).sample_boundary(N, generator=gen(), dtype=torch.float64)
    assert abs(float((q[:, 0] == 0).double().mean()) - 0.25) < 5 * math.sqrt(3 / 16 / N)


@pytest.mark.parametrize(("domain", "volume", "boundary"), [
    (Box([0, 0], [2, 3]), 6.0, 10.0), (Box.cube(3), 1.0, 6.0),
    (Ball(2, 2.0), 4 * math.pi, 4 * math.pi),
    (Ball(3), 4 * math.pi / 3, 4 * math.pi), (LShape(), 3.0, 8.0),
    (SlitDisk(), math.pi, 2 * math.pi + 1), (SlitSquare(), 4.0, 9.0)])
def test_measures(domain, volume, boundary):
    assert domain.volume == pytest.approx(volume)
    assert domain.boundary_measure == pytest.approx(boundary)


def test_same_generator_state_same_points_and_dtype_follows():
    a = LShape().sample_boundary(10, generator=gen(3))
    b = LShape().sample_boundary(10, generator=gen(3))
    assert torch.equal(a, b) and a.dtype == torch.get_default_dtype()


@pytest.mark.parametrize("domain", [Box.cube(2, -1, 1), Ball(2, 1.5)], ids=["box", "ball"])
def test_boundary_factor_vanishes_exactly_on_the_boundary(domain):
    y = domain.sample_boundary(1000, generator=gen(), dtype=torch.float64)
    x = domain.sample_interior(1000, generator=gen(), dtype=torch.float64)
    assert float(domain.boundary_factor(y).abs().max()) < 1e-12
    assert bool((domain.boundary_factor(x) > 0).all())


@pytest.mark.parametrize(("make", "match"), [
    (lambda: Box([0, 0], [1]), "high"), (lambda: Box([0, 1], [1, 1]), "high"),
    (lambda: Ball(0), "dim"), (lambda: Ball(2, -1.0), "radius"),
    (lambda: Ball(2, center=(0, 0, 0)), "center"),
    (lambda: Box.cube(2).sample_interior(0, generator=gen()), "n"),
    (lambda: Box.cube(2).sample_boundary(3, generator=0), "generator"),
    (lambda: Box.cube(2).contains(torch.zeros(3, 3)), "x")])
def test_bad_input(make, match):
    with pytest.raises(ValueError, match=match):
        make()
