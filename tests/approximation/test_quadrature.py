"""Midpoint rule and Monte Carlo on the unit cube against the Gaussian product's closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from mathdl.approximation import (
    gaussian_product,
    gaussian_product_integral,
    gaussian_product_variance,
    midpoint_rule,
    monte_carlo_integral,
)
from mathdl.stats import fit_power_law

# scipy's adaptive quadrature is asked for 1e-13 relative accuracy on smooth integrands; the
# closed forms are evaluated with math.erf (correctly rounded to a few ulp), so 1e-11 is safe.
QUAD_RTOL = 1e-11


def _i1(s: float) -> float:
    return math.sqrt(math.pi / s) * math.erf(math.sqrt(s) / 2)


@pytest.mark.parametrize("sharpness", [0.5, 1.0, 5.0, 20.0])
def test_gaussian_product_values(sharpness: float) -> None:
    x = torch.tensor([[0.5, 0.5, 0.5], [0.0, 1.0, 0.5], [1.0, 1.0, 1.0]], dtype=torch.float64)
    expected = torch.tensor(
        [1.0, math.exp(-sharpness / 2), math.exp(-3 * sharpness / 4)], dtype=torch.float64
    )
    torch.testing.assert_close(
        gaussian_product(x, sharpness=sharpness), expected, rtol=1e-15, atol=0
    )


@pytest.mark.parametrize("sharpness", [0.5, 1.0, 5.0, 20.0])
def test_integral_closed_form_d1(sharpness: float) -> None:
    value, _ = integrate.quad(
        lambda t: math.exp(-sharpness * (t - 0.5) ** 2), 0, 1, epsabs=0, epsrel=1e-13
    )
    assert gaussian_product_integral(1, sharpness=sharpness) == pytest.approx(value, rel=QUAD_RTOL)


@pytest.mark.parametrize("sharpness", [1.0, 5.0])
def test_integral_and_variance_closed_forms_d2(sharpness: float) -> None:
    def f(y: float, x: float) -> float:
        return math.exp(-sharpness * ((x - 0.5) ** 2 + (y - 0.5) ** 2))

    first, _ = integrate.dblquad(f, 0, 1, 0, 1, epsabs=0, epsrel=1e-13)
    second, _ = integrate.dblquad(lambda y, x: f(y, x) ** 2, 0, 1, 0, 1, epsabs=0, epsrel=1e-13)
    assert gaussian_product_integral(2, sharpness=sharpness) == pytest.approx(first, rel=QUAD_RTOL)
    # Var = E f^2 - (E f)^2 has no catastrophic cancellation at these s (ratio ~ 0.1-0.5)
    assert gaussian_product_variance(2, sharpness=sharpness) == pytest.approx(
        second - first**2, rel=1e-9
    )


@pytest.mark.parametrize(
    ("d", "sharpness"), [(1, 0.3), (1, 1.0), (1, 1.5), (1, 20.0), (5, 1.0), (20, 1.0), (20, 0.5)]
)
def test_variance_matches_definition(d: int, sharpness: float) -> None:
    naive = _i1(2 * sharpness) ** d - _i1(sharpness) ** (2 * d)
    # here E f^2 / Var f < 300, so the naive difference keeps ~13 correct digits
    assert gaussian_product_variance(d, sharpness=sharpness) == pytest.approx(
        naive, rel=1e-11, abs=0
    )


@pytest.mark.parametrize("s", [1e-8, 1e-6, 1e-4])
@pytest.mark.parametrize("d", [1, 3, 50])
def test_variance_small_sharpness_has_no_cancellation(s: float, d: int) -> None:
    # For s -> 0, f = prod_i (1 - s q_i + ...) with q_i = (x_i - 1/2)^2, so Var f = d s^2 Var q
    # + O(s^3), Var q = 1/80 - 1/144 = 1/180; the relative O(s) remainder is < 0.25 s (measured
    # -0.214 s for d = 1), we allow 0.3 d s + 1e-12. The naive difference I_1(2s)^d - I_1(s)^(2d)
    # of two numbers ~1 is off by 2% at s = 1e-6 and by 100% at s = 1e-8.
    expected = d * s**2 / 180
    assert gaussian_product_variance(d, sharpness=s) == pytest.approx(
        expected, rel=0.3 * d * s + 1e-12, abs=0
    )


def test_variance_is_continuous_where_the_evaluation_switches() -> None:
    # series for s <= 1, difference of closed forms above (which loses ~2 digits at s = 1, so
    # agreement to ~2e-14 is expected; the true change over one ulp of s is ~1e-15)
    below = gaussian_product_variance(4, sharpness=1.0)
    above = gaussian_product_variance(4, sharpness=math.nextafter(1.0, 2.0))
    assert above == pytest.approx(below, rel=1e-13, abs=0)


def _affine(coef: torch.Tensor, bias: float):
    return lambda x: x @ coef + bias


@pytest.mark.parametrize("d", [1, 2, 3, 4])
@pytest.mark.parametrize("n", [1, 2, 5])
def test_midpoint_exact_for_multilinear_functions(d: int, n: int) -> None:
    # The 1-D midpoint rule integrates affine functions exactly on each cell, so the product rule
    # integrates every product of affine factors (and sums thereof) exactly: rounding only.
    gen = torch.Generator().manual_seed(d * 10 + n)
    coef = torch.randn(d, generator=gen, dtype=torch.float64)
    a = torch.randn(d, generator=gen, dtype=torch.float64)
    b = torch.randn(d, generator=gen, dtype=torch.float64)
    affine = midpoint_rule(_affine(coef, 0.7), d, n)
    torch.testing.assert_close(affine, coef.sum() / 2 + 0.7, rtol=1e-14, atol=1e-14)
    product = midpoint_rule(lambda x: (a + b * x).prod(dim=1), d, n)
    torch.testing.assert_close(product, (a + b / 2).prod(), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("sharpness", [1.0, 5.0])
def test_midpoint_leading_error_constant(d: int, sharpness: float) -> None:
    # Euler-Maclaurin per axis: int f - M_n f = h^2/24 sum_k int d_kk f + O(h^4). For the
    # Gaussian product, int_0^1 g'' = g'(1) - g'(0) = -2 s e^{-s/4}, so
    # n^2 (I - M_n) -> -(d/12) s e^{-s/4} I_1(s)^{d-1}. The O(h^4) term is a relative
    # correction ~ 0.2/n^2 (1e-3 at n = 16, measured 0.6e-3..1.3e-3); tolerance 3e-3. A rule with
    # nodes at i/n (left endpoints) has an O(h) error and fails by orders of magnitude.
    n = 16
    constant = -(d / 12) * sharpness * math.exp(-sharpness / 4) * _i1(sharpness) ** (d - 1)
    estimate = midpoint_rule(lambda x: gaussian_product(x, sharpness=sharpness), d, n)
    error = gaussian_product_integral(d, sharpness=sharpness) - estimate.item()
    assert error * n**2 == pytest.approx(constant, rel=3e-3)


@pytest.mark.parametrize(
    ("d", "ns"), [(1, [8, 16, 32, 64, 128]), (2, [8, 12, 16, 24, 32]), (3, [6, 8, 10, 12, 16])]
)
def test_midpoint_rate_in_number_of_nodes(d: int, ns: list[int]) -> None:
    # error ~ C n^-2 (1 + O(n^-2)), i.e. slope -2/d in m = n^d; the O(n^-2) correction biases the
    # fitted slope by < 0.5% at these n (measured), tolerance 2%.
    exact = gaussian_product_integral(d)
    errors = [abs(midpoint_rule(gaussian_product, d, n).item() - exact) for n in ns]
    fit = fit_power_law([n**d for n in ns], errors)
    assert fit.slope == pytest.approx(-2 / d, rel=0.02)


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 125, 10**6])
def test_midpoint_chunking_does_not_change_the_result(chunk_size: int) -> None:
    calls: list[int] = []

    def f(x: torch.Tensor) -> torch.Tensor:
        calls.append(x.shape[0])
        return gaussian_product(x, sharpness=3.0)

    d, n = 3, 5
    reference = midpoint_rule(lambda x: gaussian_product(x, sharpness=3.0), d, n, chunk_size=n**d)
    value = midpoint_rule(f, d, n, chunk_size=chunk_size)
    # only the summation order differs: 125 terms of size <= 1, rounding < 125 * 2^-53
    torch.testing.assert_close(value, reference, rtol=0, atol=1e-14)
    assert max(calls) <= chunk_size
    assert sum(calls) == n**d


def test_midpoint_nodes_are_cell_centres_in_c_order() -> None:
    seen: list[torch.Tensor] = []

    def record(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.clone())
        return torch.zeros(x.shape[0], dtype=x.dtype)

    midpoint_rule(record, 2, 3, chunk_size=4)
    nodes = torch.cat(seen)
    centres = (torch.arange(3, dtype=torch.float64) + 0.5) / 3
    expected = torch.stack(torch.meshgrid(centres, centres, indexing="ij"), dim=-1).reshape(9, 2)
    torch.testing.assert_close(nodes, expected, rtol=0, atol=0)


def test_midpoint_many_nodes_in_high_dimension() -> None:
    # n = 2: every node has coordinates in {1/4, 3/4}, so f = exp(-s d / 16) at all 2^20 nodes.
    value = midpoint_rule(gaussian_product, 20, 2)
    assert value.item() == pytest.approx(math.exp(-20 / 16), rel=1e-13)


def test_midpoint_many_nodes_in_one_dimension() -> None:
    n = 10**5
    error = gaussian_product_integral(1) - midpoint_rule(gaussian_product, 1, n).item()
    constant = -(1 / 12) * math.exp(-1 / 4)
    # the O(h^2) error is 6.5e-12 here; rounding in the sum of 1e5 terms is ~1e-15
    assert error * n**2 == pytest.approx(constant, rel=1e-3)


def test_midpoint_follows_dtype() -> None:
    value = midpoint_rule(gaussian_product, 2, 8, dtype=torch.float32)
    assert value.dtype == torch.float32
    assert value.shape == ()


def test_midpoint_validation() -> None:
    with pytest.raises(ValueError, match="max_points"):
        midpoint_rule(gaussian_product, 10, 10)
    with pytest.raises(ValueError, match="max_points"):
        midpoint_rule(gaussian_product, 2, 10, max_points=99)
    with pytest.raises(ValueError, match="n"):
        midpoint_rule(gaussian_product, 2, 0)
    with pytest.raises(ValueError, match="d"):
        midpoint_rule(gaussian_product, 0, 3)
    with pytest.raises(ValueError, match="chunk_size"):
        midpoint_rule(gaussian_product, 2, 3, chunk_size=0)
    with pytest.raises(ValueError, match="f"):
        midpoint_rule(lambda x: x, 2, 3)


@pytest.mark.parametrize(("d", "sharpness"), [(1, 1.0), (3, 5.0), (10, 1.0)])
def test_monte_carlo_mean_and_rms_error(d: int, sharpness: float) -> None:
    # R independent estimates with m points each. Their mean has s.e. sigma / sqrt(m R): it must
    # lie within 4 s.e. of the truth. The empirical RMS error estimates sqrt(sigma^2 / m); for
    # (nearly Gaussian, m = 2000) estimates its relative s.d. is about 1/sqrt(2R) = 2.5%, we allow
    # 4 of those (10%). A biased sampler (e.g. on [0, 1/2]^d) or a wrong 1/m fails both.
    m, repeats = 2000, 400
    gen = torch.Generator().manual_seed(123 + d)

    def f(x: torch.Tensor) -> torch.Tensor:
        return gaussian_product(x, sharpness=sharpness)

    estimates = monte_carlo_integral(f, d, m, generator=gen, repeats=repeats)
    assert estimates.shape == (repeats,)
    exact = gaussian_product_integral(d, sharpness=sharpness)
    sigma2 = gaussian_product_variance(d, sharpness=sharpness)
    standard_error = math.sqrt(sigma2 / (m * repeats))
    assert abs(estimates.mean().item() - exact) < 4 * standard_error
    rms = math.sqrt(((estimates - exact) ** 2).mean().item())
    assert rms == pytest.approx(math.sqrt(sigma2 / m), rel=0.10)


def test_monte_carlo_is_reproducible_and_advances_the_generator() -> None:
    first = monte_carlo_integral(
        gaussian_product, 4, 100, generator=torch.Generator().manual_seed(5), repeats=3
    )
    again = monte_carlo_integral(
        gaussian_product, 4, 100, generator=torch.Generator().manual_seed(5), repeats=3
    )
    other = monte_carlo_integral(
        gaussian_product, 4, 100, generator=torch.Generator().manual_seed(6), repeats=3
    )
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert not torch.equal(first, other)
    assert len(set(first.tolist())) == 3  # the repeats use different samples
    # drawing repeat by repeat: the second repeat equals a single estimate after one draw
    gen = torch.Generator().manual_seed(5)
    monte_carlo_integral(gaussian_product, 4, 100, generator=gen)
    second = monte_carlo_integral(gaussian_product, 4, 100, generator=gen)
    torch.testing.assert_close(second[0], first[1], rtol=0, atol=0)


def test_monte_carlo_uses_uniform_points_in_the_cube() -> None:
    gen = torch.Generator().manual_seed(0)
    seen: list[torch.Tensor] = []

    def record(x: torch.Tensor) -> torch.Tensor:
        seen.append(x)
        return x[:, 0]

    estimate = monte_carlo_integral(record, 2, 10_000, generator=gen, dtype=torch.float32)
    assert estimate.dtype == torch.float32
    x = seen[0]
    assert x.shape == (10_000, 2) and x.dtype == torch.float32
    assert float(x.min()) >= 0.0 and float(x.max()) < 1.0
    # mean of U[0,1] with s.e. sqrt(1/12 / 1e4) = 2.9e-3: 4 s.e. = 0.012
    np.testing.assert_allclose(x.mean(dim=0).numpy(), [0.5, 0.5], atol=0.012)


def test_monte_carlo_validation() -> None:
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="m"):
        monte_carlo_integral(gaussian_product, 2, 0, generator=gen)
    with pytest.raises(ValueError, match="repeats"):
        monte_carlo_integral(gaussian_product, 2, 10, generator=gen, repeats=0)
    with pytest.raises(ValueError, match="generator"):
        monte_carlo_integral(gaussian_product, 2, 10, generator=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="f"):
        monte_carlo_integral(lambda x: x.sum(), 2, 10, generator=gen)


def test_closed_form_validation() -> None:
    with pytest.raises(ValueError, match="sharpness"):
        gaussian_product_integral(2, sharpness=0.0)
    with pytest.raises(ValueError, match="d"):
        gaussian_product_variance(0)
    with pytest.raises(ValueError, match="x"):
        gaussian_product(torch.zeros(3))
