"""Barycentric interpolation, Bernstein ellipses and potential-theoretic rates (Trefethen, ATAP)."""

from __future__ import annotations

import cmath
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.polynomial import chebyshev as npcheb
from scipy import integrate

from mathdl.approximation import (
    NodeFamily,
    barycentric_interpolate,
    barycentric_weights,
    bernstein_ellipse_rho,
    chebyshev_nodes,
    equispaced_nodes,
    interpolation_error_rate,
    log_potential,
    runge_function,
)
from mathdl.stats import fit_exponential_rate

EPS = float(np.finfo(np.float64).eps)
RUNGE_POLE = 0.2j
FINE = torch.linspace(-1, 1, 4001, dtype=torch.float64)


def _max_error(nodes: torch.Tensor) -> float:
    approx = barycentric_interpolate(nodes, runge_function(nodes), FINE)
    return (approx - runge_function(FINE)).abs().max().item()


# ----------------------------------------------------------------------------- nodes


@pytest.mark.parametrize("degree", [1, 2, 7, 64])
def test_nodes(degree: int) -> None:
    j = torch.arange(degree + 1, dtype=torch.float64)
    eq = equispaced_nodes(degree)
    torch.testing.assert_close(eq, -1 + 2 * j / degree, rtol=0, atol=4 * EPS)
    torch.testing.assert_close(eq, -eq.flip(0), rtol=0, atol=0)  # exactly symmetric
    ch = chebyshev_nodes(degree)
    torch.testing.assert_close(ch, torch.cos(j * math.pi / degree), rtol=0, atol=4 * EPS)
    torch.testing.assert_close(ch, -ch.flip(0), rtol=0, atol=0)
    assert ch[0].item() == 1.0 and ch[-1].item() == -1.0
    assert chebyshev_nodes(degree, dtype=torch.float32).dtype == torch.float32


@pytest.mark.parametrize("make", [equispaced_nodes, chebyshev_nodes])
def test_nodes_validation(make) -> None:
    with pytest.raises(ValueError, match="degree"):
        make(0)


# ----------------------------------------------------------------------------- weights


@pytest.mark.parametrize("degree", [1, 5, 50, 1000])
def test_chebyshev_lobatto_weights_closed_form(degree: int) -> None:
    # w_j = (-1)^j delta_j, delta_0 = delta_n = 1/2 (Berrut & Trefethen 2004, §5; ATAP
    # ch. 5), rescaled to max |w| = 1. Each log-weight sums n logs with absolute rounding
    # <= eps |log|x_j - x_k|| <= 12 eps, hence a relative error <= 12 n eps; we allow 50 n eps.
    w = barycentric_weights(chebyshev_nodes(degree))
    j = torch.arange(degree + 1)
    closed = (-1.0) ** j.double()
    closed[0] *= 0.5
    closed[-1] *= 0.5
    closed = closed / closed.abs().max()
    torch.testing.assert_close(w, closed, rtol=0, atol=50 * degree * EPS)


@pytest.mark.parametrize("degree", [10, 40, 1000])
def test_equispaced_weights_closed_form_without_overflow(degree: int) -> None:
    # w_j = (-1)^(n-j) binom(n, j) up to a positive factor (ATAP ch. 5); binom(1000, 500) ~ 1e299
    # would overflow any product formula but not the log-domain one.
    w = barycentric_weights(equispaced_nodes(degree))
    assert torch.isfinite(w).all()
    assert w.abs().max().item() == 1.0
    j = np.arange(degree + 1)
    log_binom = np.array(
        [math.lgamma(degree + 1) - math.lgamma(k + 1) - math.lgamma(degree - k + 1) for k in j]
    )
    np.testing.assert_allclose(
        np.log(w.abs().numpy()), log_binom - log_binom.max(), rtol=0, atol=50 * degree * EPS
    )
    np.testing.assert_array_equal(np.sign(w.numpy()), (-1.0) ** (degree - j))


@settings(max_examples=30, deadline=None)
@given(
    count=st.integers(2, 40),
    seed=st.integers(0, 2**16),
    scale=st.floats(0.1, 10.0),
    shift=st.floats(-5.0, 5.0),
)
def test_weights_are_invariant_under_increasing_affine_maps(
    count: int, seed: int, scale: float, shift: float
) -> None:
    # w_j(a x + b) = a^{-n} w_j(x): the normalised weights do not change for a > 0.
    gen = torch.Generator().manual_seed(seed)
    nodes = torch.sort(torch.rand(count, generator=gen, dtype=torch.float64) * 2 - 1).values
    if bool((nodes.diff() < 1e-6).any()):
        return
    # relative error per log term ~ eps / (relative gap >= 1e-6): at most 40 * 1e-10
    torch.testing.assert_close(
        barycentric_weights(scale * nodes + shift), barycentric_weights(nodes), rtol=1e-8, atol=0
    )


def test_weights_validation() -> None:
    with pytest.raises(ValueError, match="nodes"):
        barycentric_weights(torch.tensor([0.0, 0.5, 0.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="nodes"):
        barycentric_weights(torch.zeros(2, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="nodes"):
        barycentric_weights(torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="nodes"):
        barycentric_weights(torch.tensor([0.0, float("inf")], dtype=torch.float64))


# ----------------------------------------------------------------------------- interpolation


@pytest.mark.parametrize(
    ("family", "degree", "tolerance"),
    [
        # Higham (2004): the second barycentric formula has forward error
        # <~ (3n + 4) eps Lebesgue(n) max|f|. Chebyshev: Lebesgue(30) ~ 3.2 -> 7e-14 |f|;
        # equispaced: Lebesgue(10) ~ 30 -> 2.3e-13 |f|. We allow ~10x that.
        ("chebyshev", 30, 1e-12),
        ("equispaced", 10, 3e-12),
    ],
)
@pytest.mark.parametrize("poly_degree_offset", [0, 3, 10])
def test_reproduces_polynomials(
    family: str, degree: int, tolerance: float, poly_degree_offset: int
) -> None:
    poly_degree = max(degree - poly_degree_offset, 0)
    rng = np.random.default_rng(degree + poly_degree)
    coefficients = rng.standard_normal(poly_degree + 1)
    nodes = chebyshev_nodes(degree) if family == "chebyshev" else equispaced_nodes(degree)
    values = torch.from_numpy(npcheb.chebval(nodes.numpy(), coefficients))
    x = torch.from_numpy(rng.uniform(-1, 1, 500))
    expected = torch.from_numpy(npcheb.chebval(x.numpy(), coefficients))
    out = barycentric_interpolate(nodes, values, x)
    scale = expected.abs().max().item()
    torch.testing.assert_close(out, expected, rtol=0, atol=tolerance * scale)


def test_exact_at_nodes_and_shapes() -> None:
    nodes = chebyshev_nodes(12)
    values = torch.stack([runge_function(nodes), torch.cos(nodes)], dim=1)  # batch of 2
    out = barycentric_interpolate(nodes, values, nodes.reshape(13, 1))
    assert out.shape == (13, 1, 2)
    torch.testing.assert_close(out.reshape(13, 2), values, rtol=0, atol=0)
    mixed = torch.tensor([[nodes[3].item(), 0.123], [0.5, nodes[0].item()]], dtype=torch.float64)
    single = barycentric_interpolate(nodes, values[:, 0], mixed)
    assert single.shape == (2, 2)
    assert single[0, 0].item() == values[3, 0].item()
    assert single[1, 1].item() == values[0, 0].item()
    torch.testing.assert_close(
        barycentric_interpolate(nodes, values[:, 0], mixed, weights=barycentric_weights(nodes)),
        single,
        rtol=0,
        atol=0,
    )


def test_interpolate_validation() -> None:
    nodes = chebyshev_nodes(4)
    with pytest.raises(ValueError, match="values"):
        barycentric_interpolate(nodes, torch.zeros(4, dtype=torch.float64), nodes)
    with pytest.raises(ValueError, match="weights"):
        barycentric_interpolate(
            nodes,
            torch.zeros(5, dtype=torch.float64),
            nodes,
            weights=torch.ones(4, dtype=torch.float64),
        )


# ----------------------------------------------------------------------------- potential theory


def test_bernstein_ellipse_rho() -> None:
    assert bernstein_ellipse_rho(0.2j) == pytest.approx(0.2 + math.sqrt(1.04), rel=1e-15)
    assert bernstein_ellipse_rho(2.0) == pytest.approx(2 + math.sqrt(3), rel=1e-15)
    assert bernstein_ellipse_rho(-2.0) == pytest.approx(2 + math.sqrt(3), rel=1e-15)
    for x in (-1.0, -0.3, 0.0, 0.99, 1.0):
        assert bernstein_ellipse_rho(x) == pytest.approx(1.0, abs=1e-15)


@settings(max_examples=50, deadline=None)
@given(rho=st.floats(1.0001, 20.0), theta=st.floats(0.0, 2 * math.pi))
def test_bernstein_ellipse_parameterisation(rho: float, theta: float) -> None:
    # E_rho = image of the circle |w| = rho under the Joukowski map (w + 1/w) / 2 (ATAP ch. 8)
    w = rho * cmath.exp(1j * theta)
    z = (w + 1 / w) / 2
    assert bernstein_ellipse_rho(z) == pytest.approx(rho, rel=1e-9)
    assert bernstein_ellipse_rho(z.conjugate()) == pytest.approx(rho, rel=1e-9)


def test_equispaced_log_potential_special_values() -> None:
    assert log_potential(1.0, NodeFamily.EQUISPACED) == pytest.approx(math.log(2) - 1, abs=1e-15)
    assert log_potential(-1.0, NodeFamily.EQUISPACED) == pytest.approx(math.log(2) - 1, abs=1e-15)
    assert log_potential(0.0, NodeFamily.EQUISPACED) == pytest.approx(-1.0, abs=1e-15)
    # the Runge pole: exp(log 2 - 1 - U(i/5)) = 1.490
    assert log_potential(0.2j, NodeFamily.EQUISPACED) == pytest.approx(-0.70571, abs=1e-5)


@pytest.mark.parametrize("z", [0.2j, 0.3 + 0.5j, -0.7 + 0.05j, 2.0, -1.5, 3 + 4j, 0.5])
def test_equispaced_log_potential_matches_quadrature(z: complex) -> None:
    # U(z) = (1/2) int_{-1}^{1} log|z - t| dt; quad is asked for 1e-12 and handles the integrable
    # log singularity at t = z for real z in [-1, 1] via the `points` hint
    points = [complex(z).real] if complex(z).imag == 0 and abs(complex(z).real) < 1 else None
    value, _ = integrate.quad(
        lambda t: math.log(abs(z - t)), -1, 1, points=points, epsabs=1e-13, epsrel=1e-12, limit=200
    )
    assert log_potential(z, NodeFamily.EQUISPACED) == pytest.approx(value / 2, abs=1e-10)


@pytest.mark.parametrize("z", [0.2j, 0.3 + 0.5j, -0.7 + 0.05j, 2.0, -1.5, 3 + 4j])
def test_chebyshev_log_potential_matches_quadrature(z: complex) -> None:
    # arcsine measure: t = cos(theta), theta uniform on [0, pi]
    value, _ = integrate.quad(
        lambda th: math.log(abs(z - math.cos(th))),
        0,
        math.pi,
        epsabs=1e-13,
        epsrel=1e-12,
        limit=200,
    )
    assert log_potential(z, NodeFamily.CHEBYSHEV) == pytest.approx(value / math.pi, abs=1e-10)


@pytest.mark.parametrize("x", [-1.0, -0.9, -0.2, 0.0, 0.4, 0.77, 1.0])
def test_chebyshev_log_potential_is_constant_on_the_interval(x: float) -> None:
    # the equilibrium measure of [-1, 1] has constant potential log(capacity) = -log 2 there
    assert log_potential(x, NodeFamily.CHEBYSHEV) == pytest.approx(-math.log(2), abs=1e-15)


@pytest.mark.parametrize("family", list(NodeFamily))
def test_log_potential_grows_like_log_modulus(family: NodeFamily) -> None:
    # a probability measure on [-1, 1] has U(z) = log|z| + O(1/|z|^2) (the mean is 0)
    for z in (1e3, 1e3j, -7e2 + 7e2j):
        assert log_potential(z, family) == pytest.approx(math.log(abs(z)), abs=1e-5)


def test_interpolation_error_rates_for_the_runge_pole() -> None:
    equispaced = interpolation_error_rate(RUNGE_POLE, NodeFamily.EQUISPACED)
    chebyshev = interpolation_error_rate(RUNGE_POLE, NodeFamily.CHEBYSHEV)
    # on the imaginary axis (1/4) int_{-1}^{1} log(t^2 + y^2) dt = (1/2) log(1 + y^2)
    # + y arctan(1/y) - 1, so U(i/5) = log(1.04)/2 + arctan(5)/5 - 1 = -0.70571
    u_pole = 0.5 * math.log(1.04) + math.atan(5.0) / 5 - 1
    assert log_potential(RUNGE_POLE, NodeFamily.EQUISPACED) == pytest.approx(u_pole, rel=1e-14)
    assert equispaced == pytest.approx(math.exp(math.log(2) - 1 - u_pole), rel=1e-13)
    assert equispaced == pytest.approx(1.4901, abs=1e-4)
    assert chebyshev == pytest.approx(1 / (0.2 + math.sqrt(1.04)), rel=1e-14)
    assert chebyshev == pytest.approx(0.8198, abs=1e-4)
    # a conjugate pole (real f) has the same rate
    assert interpolation_error_rate(-0.2j, NodeFamily.EQUISPACED) == pytest.approx(equispaced)


def test_interpolation_error_rate_validation() -> None:
    with pytest.raises(ValueError, match="pole"):
        interpolation_error_rate(0.5, NodeFamily.CHEBYSHEV)
    with pytest.raises(ValueError, match="family"):
        interpolation_error_rate(2.0, "chebyshev")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="z"):
        log_potential(complex("nan"), NodeFamily.CHEBYSHEV)
    with pytest.raises(ValueError, match="a"):
        runge_function(FINE, a=0.0)


# ----------------------------------------------------------------------------- measured rates


@pytest.mark.parametrize(
    ("pole", "a", "degrees"),
    [(RUNGE_POLE, 25.0, range(20, 101, 2)), (0.5j, 4.0, range(10, 51, 2))],
)
def test_chebyshev_interpolation_converges_at_the_bernstein_rate(
    pole: complex, a: float, degrees: range
) -> None:
    # ||f - p_n|| ~ C rho^{-n} (ATAP Thm. 8.2 and ch. 12). On even degrees where the error stays
    # far above rounding (> 1e-12), the fitted rate is within 0.1% of -log rho (measured); 1%
    # tolerance. Degrees of one parity avoid the small even/odd alternation of the constant.
    def error(n: int) -> float:
        nodes = chebyshev_nodes(n)
        approx = barycentric_interpolate(nodes, runge_function(nodes, a=a), FINE)
        return (approx - runge_function(FINE, a=a)).abs().max().item()

    errors = [error(n) for n in degrees]
    assert min(errors) > 1e-12
    fit = fit_exponential_rate(list(degrees), errors)
    predicted = math.log(interpolation_error_rate(pole, NodeFamily.CHEBYSHEV))
    assert predicted == pytest.approx(-math.log(bernstein_ellipse_rho(pole)), rel=1e-14)
    assert fit.slope == pytest.approx(predicted, rel=0.01)


def test_equispaced_interpolation_diverges_at_the_potential_rate() -> None:
    # Runge phenomenon: ||f - p_n|| ~ C n^alpha exp(n (U(1) - U(i/5))) = C n^alpha 1.490^n.
    # A plain exponential fit on even n in [20, 48] absorbs the algebraic factor (alpha ~ -0.8)
    # as a bias alpha / mean(n) ~ -0.024, i.e. -6%: tolerance 10%. Fitting
    # log e = c0 + lambda n + alpha log n removes it: measured 0.4%, tolerance 2%. Beyond n ~ 48
    # the second barycentric formula loses accuracy for equispaced nodes (cancellation in the
    # denominator ~ 2^-n), so the window stops there.
    degrees = np.arange(20, 49, 2)
    errors = np.array([_max_error(equispaced_nodes(int(n))) for n in degrees])
    predicted = math.log(interpolation_error_rate(RUNGE_POLE, NodeFamily.EQUISPACED))
    assert fit_exponential_rate(degrees, errors).slope == pytest.approx(predicted, rel=0.10)
    design = np.stack([np.ones(len(degrees)), degrees, np.log(degrees)], axis=1)
    _, rate, alpha = np.linalg.lstsq(design, np.log(errors), rcond=None)[0]
    assert rate == pytest.approx(predicted, rel=0.02)
    assert -1.5 < alpha < 0.0
