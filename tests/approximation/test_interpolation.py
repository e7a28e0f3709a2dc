"""Piecewise-linear interpolation on uniform grids: exactness, the maximum principle and rates."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from mathdl.approximation import (
    PiecewiseLinearScheme,
    gaussian_product,
    grid_values,
    piecewise_linear_interpolate,
    uniform_grid,
)
from mathdl.stats import fit_power_law

SCHEMES = list(PiecewiseLinearScheme)
# Affine and multilinear reproduction is exact in exact arithmetic; in float64 the weights carry
# ~1e-16 relative error and the values here are O(10), so 1e-12 absolute leaves a wide margin
# while any wrong weight (errors of order h ~ 0.1-1) fails.
EXACT = 1e-12


def _points(k: int, d: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(k, d, generator=gen, dtype=torch.float64)


def test_uniform_grid_is_c_ordered() -> None:
    grid = uniform_grid(3, 2)
    expected = torch.tensor(
        [[0, 0], [0, 0.5], [0, 1], [0.5, 0], [0.5, 0.5], [0.5, 1], [1, 0], [1, 0.5], [1, 1]],
        dtype=torch.float64,
    )
    torch.testing.assert_close(grid, expected, rtol=0, atol=0)
    assert uniform_grid(4, 3, dtype=torch.float32).shape == (64, 3)
    assert uniform_grid(4, 3, dtype=torch.float32).dtype == torch.float32


def test_grid_values_layout() -> None:
    values = grid_values(lambda x: x[:, 0] + 10 * x[:, 1] + 100 * x[:, 2], 3, 3)
    assert values.shape == (3, 3, 3)
    i, j, k = 2, 0, 1
    assert values[i, j, k].item() == pytest.approx(i / 2 + 10 * j / 2 + 100 * k / 2, abs=1e-13)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize(("n", "d"), [(2, 1), (7, 1), (5, 2), (4, 3), (3, 4)])
def test_exact_at_nodes(scheme: PiecewiseLinearScheme, n: int, d: int) -> None:
    gen = torch.Generator().manual_seed(n * 10 + d)
    values = torch.randn((n,) * d, generator=gen, dtype=torch.float64)
    out = piecewise_linear_interpolate(values, uniform_grid(n, d), scheme=scheme)
    # at a node t is 0 or 1 in every coordinate, so one weight is 1 and the others 0 (up to the
    # rounding of i/(n-1) * (n-1), a few ulp)
    torch.testing.assert_close(out, values.reshape(-1), rtol=0, atol=1e-14)


@settings(max_examples=40, deadline=None)
@given(
    d=st.integers(1, 5),
    n=st.integers(2, 4),
    seed=st.integers(0, 2**16),
    scheme=st.sampled_from(SCHEMES),
)
def test_exact_for_affine_functions(
    d: int, n: int, seed: int, scheme: PiecewiseLinearScheme
) -> None:
    gen = torch.Generator().manual_seed(seed)
    coef = 10 * torch.rand(d, generator=gen, dtype=torch.float64) - 5
    bias = float(torch.randn((), generator=gen, dtype=torch.float64))

    def affine(x: torch.Tensor) -> torch.Tensor:
        return x @ coef + bias

    x = torch.rand(50, d, generator=gen, dtype=torch.float64)
    out = piecewise_linear_interpolate(grid_values(affine, n, d), x, scheme=scheme)
    torch.testing.assert_close(out, affine(x), rtol=0, atol=EXACT)


@pytest.mark.parametrize(("n", "d"), [(2, 2), (4, 2), (3, 3), (2, 4)])
def test_multilinear_exact_for_multilinear_functions(n: int, d: int) -> None:
    gen = torch.Generator().manual_seed(n + 7 * d)
    a = torch.randn(3, d, generator=gen, dtype=torch.float64)
    b = torch.randn(3, d, generator=gen, dtype=torch.float64)

    def multilinear(x: torch.Tensor) -> torch.Tensor:
        # sum of three products of affine factors: degree <= 1 in each variable separately
        return (a[None] + b[None] * x[:, None, :]).prod(dim=-1).sum(dim=-1)

    x = _points(200, d, seed=3)
    values = grid_values(multilinear, n, d)
    out = piecewise_linear_interpolate(values, x, scheme=PiecewiseLinearScheme.MULTILINEAR)
    torch.testing.assert_close(out, multilinear(x), rtol=0, atol=EXACT)


def test_simplicial_hand_computed_and_not_multilinear() -> None:
    # one cell (n = 2, d = 2), x = (0.7, 0.2): t sorted is (0.7, 0.2) along axes (0, 1), so the
    # simplex is v0 = (0,0), v1 = (1,0), v2 = (1,1) with weights (0.3, 0.5, 0.2).
    values = torch.tensor([[1.0, 2.0], [3.0, 5.0]], dtype=torch.float64)  # f(0,0), f(0,1), ...
    x = torch.tensor([[0.7, 0.2]], dtype=torch.float64)
    simplicial = piecewise_linear_interpolate(values, x)
    assert simplicial.item() == pytest.approx(0.3 * 1.0 + 0.5 * 3.0 + 0.2 * 5.0, abs=1e-15)
    # multilinear: bilinear weights (0.3*0.8, 0.3*0.2, 0.7*0.8, 0.7*0.2)
    bilinear = piecewise_linear_interpolate(values, x, scheme=PiecewiseLinearScheme.MULTILINEAR)
    assert bilinear.item() == pytest.approx(0.24 * 1 + 0.06 * 2 + 0.56 * 3 + 0.14 * 5, abs=1e-15)
    # f = x0 * x1 is multilinear but not affine: the P1 interpolant differs from it inside
    product = torch.tensor([[0.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    p1 = piecewise_linear_interpolate(product, x)
    assert p1.item() == pytest.approx(0.2, abs=1e-15)  # vs 0.14 = 0.7 * 0.2


def test_simplicial_is_continuous_across_simplex_faces() -> None:
    # points approaching the diagonal t0 = t1 from both sides agree to first order
    gen = torch.Generator().manual_seed(0)
    values = torch.randn(4, 4, dtype=torch.float64, generator=gen)
    base = torch.tensor([[0.45, 0.45]], dtype=torch.float64)
    eps = torch.tensor([[1e-9, -1e-9]], dtype=torch.float64)
    above = piecewise_linear_interpolate(values, base + eps)
    below = piecewise_linear_interpolate(values, base - eps)
    # the gradient is O(|values| (n-1)) ~ 10, so a jump-free interpolant moves by < 1e-7
    assert abs(above.item() - below.item()) < 1e-7


@pytest.mark.parametrize("n", [2, 5, 17])
def test_schemes_agree_in_one_dimension(n: int) -> None:
    gen = torch.Generator().manual_seed(n)
    values = torch.randn(n, generator=gen, dtype=torch.float64)
    x = _points(300, 1, seed=n)
    simplicial = piecewise_linear_interpolate(values, x)
    multilinear = piecewise_linear_interpolate(values, x, scheme=PiecewiseLinearScheme.MULTILINEAR)
    torch.testing.assert_close(simplicial, multilinear, rtol=0, atol=1e-15)
    # and both equal numpy's 1-D linear interpolation
    grid = torch.linspace(0, 1, n, dtype=torch.float64).numpy()
    reference = torch.from_numpy(np.interp(x[:, 0].numpy(), grid, values.numpy()))
    torch.testing.assert_close(simplicial, reference, rtol=0, atol=1e-14)


@settings(max_examples=30, deadline=None)
@given(
    d=st.integers(1, 4),
    n=st.integers(2, 5),
    seed=st.integers(0, 2**16),
    scheme=st.sampled_from(SCHEMES),
)
def test_maximum_principle(d: int, n: int, seed: int, scheme: PiecewiseLinearScheme) -> None:
    # both schemes are convex combinations of nodal values (non-negative weights summing to 1)
    gen = torch.Generator().manual_seed(seed)
    values = torch.randn((n,) * d, generator=gen, dtype=torch.float64)
    out = piecewise_linear_interpolate(
        values, torch.rand(64, d, generator=gen).double(), scheme=scheme
    )
    assert out.shape == (64,)
    assert float(out.min()) >= float(values.min()) - 1e-14
    assert float(out.max()) <= float(values.max()) + 1e-14
    # constants are reproduced
    ones = piecewise_linear_interpolate(
        torch.ones_like(values), torch.rand(8, d).double(), scheme=scheme
    )
    torch.testing.assert_close(ones, torch.ones(8, dtype=torch.float64), rtol=0, atol=1e-15)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_upper_boundary_and_corners(scheme: PiecewiseLinearScheme) -> None:
    values = grid_values(lambda x: 1 + x[:, 0] - 2 * x[:, 1] + 3 * x[:, 2], 4, 3)
    x = torch.tensor(
        [[1.0, 1.0, 1.0], [1.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.0, 0.0, 0.0]], dtype=torch.float64
    )
    expected = 1 + x[:, 0] - 2 * x[:, 1] + 3 * x[:, 2]
    out = piecewise_linear_interpolate(values, x, scheme=scheme)
    torch.testing.assert_close(out, expected, rtol=0, atol=EXACT)


@pytest.mark.parametrize("bad", [[[1.0 + 1e-12, 0.5]], [[-1e-12, 0.5]], [[float("nan"), 0.5]]])
def test_points_outside_the_cube_are_rejected(bad: list[list[float]]) -> None:
    with pytest.raises(ValueError, match="x"):
        piecewise_linear_interpolate(
            torch.zeros(3, 3, dtype=torch.float64), torch.tensor(bad, dtype=torch.float64)
        )


def test_validation() -> None:
    values = torch.zeros(3, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="x"):
        piecewise_linear_interpolate(values, torch.zeros(4, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="values"):
        piecewise_linear_interpolate(torch.zeros(3, 4), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="values"):
        piecewise_linear_interpolate(torch.zeros(1), torch.zeros(1, 1))
    with pytest.raises(ValueError, match="scheme"):
        piecewise_linear_interpolate(values, torch.zeros(1, 2), scheme="simplicial")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n"):
        uniform_grid(1, 2)
    with pytest.raises(ValueError, match="d"):
        uniform_grid(3, 0)
    with pytest.raises(ValueError, match="f"):
        grid_values(lambda x: x, 3, 2)


def test_gradients_with_respect_to_values() -> None:
    # the interpolant is linear in the nodal values: gradcheck in float64
    values = torch.randn(4, 4, dtype=torch.float64, requires_grad=True)
    x = _points(10, 2, seed=1)
    for scheme in SCHEMES:
        assert torch.autograd.gradcheck(
            lambda v, s=scheme: piecewise_linear_interpolate(v, x, scheme=s), (values,)
        )


def _sharp_gaussian(x: torch.Tensor) -> torch.Tensor:
    return gaussian_product(x, sharpness=5.0)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize(
    ("d", "ns", "tolerance"),
    [
        (1, [33, 65, 129, 257], 0.03),
        (2, [17, 25, 33, 49, 65], 0.06),
        (3, [9, 13, 17, 25, 33], 0.10),
    ],
)
def test_l2_error_rate_in_number_of_nodes(
    scheme: PiecewiseLinearScheme, d: int, ns: list[int], tolerance: float
) -> None:
    # ||f - I f||_{L2} = C h^2 (1 + o(1)) with h = 1/(n - 1) (Ciarlet 1978, Thm. 3.1.6), so in
    # N = n^d the slope is -2/d. Since N^{1/d} = n, not n - 1 = 1/h, the finite-n fit is steeper
    # by a factor ~ 1 + 1/(n log n); measured -1.4% (d=1), -2.7% (d=2), -5% (d=3) at these n.
    # Tolerances 3/6/10%; zeroth-order (nearest-node) interpolation would give -1/d.
    x = _points(20_000, d, seed=100 + d)
    fx = _sharp_gaussian(x)
    errors = []
    for n in ns:
        values = grid_values(_sharp_gaussian, n, d)
        residual = piecewise_linear_interpolate(values, x, scheme=scheme) - fx
        errors.append(residual.square().mean().sqrt().item())
    fit = fit_power_law([n**d for n in ns], errors)
    assert fit.slope == pytest.approx(-2 / d, rel=tolerance)
    # in the mesh size itself the rate is 2 up to the higher-order terms (measured 0.1-0.9%)
    fit_h = fit_power_law([1 / (n - 1) for n in ns], errors)
    assert fit_h.slope == pytest.approx(2.0, rel=0.01 if d < 3 else 0.025)


def test_l2_error_constant_in_one_dimension() -> None:
    # On a cell, f - I f = -(h^2/2) t (1 - t) f''(x) + O(h^3); since int_0^1 t^2 (1-t)^2 dt = 1/30,
    # ||f - I f||_{L2}^2 = (h^4 / 120) int_0^1 f''^2 + O(h^5). With n = 257 the relative O(h)
    # correction is < 1%; the L2 norm is computed with 40 Gauss-Legendre points per cell.
    def f(t: torch.Tensor) -> torch.Tensor:
        return torch.exp(torch.sin(math.pi * t))

    def f2(t: float) -> float:
        s, c = math.sin(math.pi * t), math.cos(math.pi * t)
        return (math.pi**2 * (c**2 - s) * math.exp(s)) ** 2

    n = 257
    h = 1 / (n - 1)
    nodes, weights = (torch.from_numpy(a) for a in np.polynomial.legendre.leggauss(40))
    left = torch.arange(n - 1, dtype=torch.float64)[:, None] * h
    x = (left + (nodes[None, :] + 1) * h / 2).reshape(-1, 1).clamp(0, 1)
    w = (weights[None, :] * h / 2).expand(n - 1, -1).reshape(-1)
    residual = piecewise_linear_interpolate(grid_values(lambda p: f(p[:, 0]), n, 1), x) - f(x[:, 0])
    l2 = math.sqrt(float((w * residual.square()).sum()))
    curvature, _ = integrate.quad(f2, 0, 1, epsabs=0, epsrel=1e-12)
    assert l2 == pytest.approx(h**2 * math.sqrt(curvature / 120), rel=0.01)
