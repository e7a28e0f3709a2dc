"""Distances: closed forms against independent formulas, identities, stability near equality,
and the unbiasedness of the MMD estimator against the exact mixture MMD."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from mathdl.generative import (
    GaussianMixture,
    gaussian_kl,
    gaussian_w2,
    mixture_kl,
    mixture_mmd2,
    mmd2_unbiased,
    sliced_w2,
)

F64 = torch.float64
EPS = float(np.finfo(np.float64).eps)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _spd(d: int, g: torch.Generator, low: float = 0.2, high: float = 3.0) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=F64))
    lam = low + (high - low) * torch.rand(d, generator=g, dtype=F64)
    return (q * lam) @ q.T


def _gaussians(d: int, seed: int):
    g = _gen(seed)
    return (torch.randn(d, generator=g, dtype=F64), _spd(d, g),
            torch.randn(d, generator=g, dtype=F64), _spd(d, g))


# ------------------------------------------------------------------------------- Gaussian KL


@pytest.mark.parametrize("d", [1, 2, 5])
def test_gaussian_kl_matches_the_textbook_formula(d: int) -> None:
    m1, c1, m2, c2 = _gaussians(d, seed=d)
    inv2 = torch.linalg.inv(c2)
    dm = m2 - m1
    naive = 0.5 * (torch.trace(inv2 @ c1) - d + torch.logdet(c2) - torch.logdet(c1)
                   + dm @ inv2 @ dm)
    assert float(gaussian_kl(m1, c1, m2, c2)) == pytest.approx(float(naive), rel=1e-12)


def test_gaussian_kl_one_dimensional() -> None:
    s1, s2, mu = 0.7, 1.3, 0.4
    expected = math.log(s2 / s1) + (s1**2 + mu**2) / (2 * s2**2) - 0.5
    got = gaussian_kl(torch.zeros(1, dtype=F64), torch.tensor([[s1**2]], dtype=F64),
                      torch.tensor([mu], dtype=F64), torch.tensor([[s2**2]], dtype=F64))
    assert float(got) == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("eps", [1e-4, 1e-7, 1e-10])
def test_gaussian_kl_is_accurate_for_nearby_laws(eps: float) -> None:
    # KL(N(0, I + eps A) || N(0, I)) = (1/4) eps^2 ||A||_F^2 (1 + O(eps)); the textbook formula
    # tr - d - logdet loses everything at eps = 1e-7 (the result ~1e-14 is below its rounding).
    a = _spd(3, _gen(0), -1.0, 1.0)
    eye = torch.eye(3, dtype=F64)
    got = float(gaussian_kl(torch.zeros(3, dtype=F64), eye + eps * a, torch.zeros(3, dtype=F64),
                            eye))
    expected = 0.25 * eps**2 * float(a.square().sum())
    assert got == pytest.approx(expected, rel=2 * eps + 1e-6)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(0, 10_000))
def test_gaussian_kl_is_non_negative_zero_on_the_diagonal_and_affine_invariant(d, seed) -> None:
    m1, c1, m2, c2 = _gaussians(d, seed)
    kl = float(gaussian_kl(m1, c1, m2, c2))
    assert kl >= 0
    assert abs(float(gaussian_kl(m1, c1, m1, c1))) <= 1e-14
    # invariance under x -> A x + b (A invertible)
    g = _gen(seed + 1)
    a = torch.randn(d, d, generator=g, dtype=F64) + 2 * torch.eye(d, dtype=F64)
    b = torch.randn(d, generator=g, dtype=F64)
    moved = float(gaussian_kl(a @ m1 + b, a @ c1 @ a.T, a @ m2 + b, a @ c2 @ a.T))
    assert moved == pytest.approx(kl, rel=1e-8, abs=1e-12)


def test_gaussian_kl_broadcasts_over_batches() -> None:
    m1, c1, m2, c2 = _gaussians(2, seed=3)
    batch = gaussian_kl(torch.stack([m1, m2]), torch.stack([c1, c2]), m2, c2)
    assert batch.shape == (2,)
    assert float(batch[0]) == pytest.approx(float(gaussian_kl(m1, c1, m2, c2)), rel=1e-14)
    assert abs(float(batch[1])) < 1e-14


# ------------------------------------------------------------------------------- Gaussian W2


def test_gaussian_w2_one_dimensional_and_commuting() -> None:
    # 1-D: W2^2 = (m1 - m2)^2 + (s1 - s2)^2; commuting: sum (sqrt(l1) - sqrt(l2))^2
    w = gaussian_w2(torch.tensor([0.5], dtype=F64), torch.tensor([[4.0]], dtype=F64),
                    torch.tensor([-1.0], dtype=F64), torch.tensor([[0.25]], dtype=F64))
    assert float(w) == pytest.approx(math.sqrt(1.5**2 + 1.5**2), rel=1e-14)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=_gen(4), dtype=F64))
    l1 = torch.tensor([0.1, 1.0, 4.0], dtype=F64)
    l2 = torch.tensor([2.0, 1.0, 0.5], dtype=F64)
    w = gaussian_w2(torch.zeros(3, dtype=F64), (q * l1) @ q.T, torch.zeros(3, dtype=F64),
                    (q * l2) @ q.T)
    assert float(w) == pytest.approx(float((l1.sqrt() - l2.sqrt()).square().sum().sqrt()),
                                     rel=1e-12)


@pytest.mark.parametrize("d", [2, 4])
def test_gaussian_w2_matches_the_trace_formula(d: int) -> None:
    m1, c1, m2, c2 = _gaussians(d, seed=10 + d)
    r1 = scipy.linalg.sqrtm(c1.numpy())
    cross = scipy.linalg.sqrtm(r1 @ c2.numpy() @ r1)
    w2sq = float((m1 - m2).square().sum()) + np.trace(c1.numpy()) + np.trace(c2.numpy()) - (
        2 * np.trace(cross).real)
    assert float(gaussian_w2(m1, c1, m2, c2)) == pytest.approx(math.sqrt(w2sq), rel=1e-10)


@pytest.mark.parametrize("eps", [1e-6, 1e-9])
def test_gaussian_w2_is_accurate_for_nearby_laws(eps: float) -> None:
    # W2(N(0, I + eps A), N(0, I)) = ||(I + eps A)^(1/2) - I||_F = (eps/2)||A||_F (1 + O(eps));
    # the trace formula has absolute error ~sqrt(machine eps) = 1e-8, larger than the answer at
    # eps = 1e-9. The Procrustes form is accurate to O(machine eps).
    a = _spd(3, _gen(5), -1.0, 1.0)
    eye = torch.eye(3, dtype=F64)
    got = float(gaussian_w2(torch.zeros(3, dtype=F64), eye + eps * a, torch.zeros(3, dtype=F64),
                            eye))
    assert got == pytest.approx(0.5 * eps * float(a.square().sum().sqrt()), rel=1e-5)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(0, 10_000))
def test_gaussian_w2_metric_identities(d: int, seed: int) -> None:
    m1, c1, m2, c2 = _gaussians(d, seed)
    g = _gen(seed + 7)
    m3, c3 = torch.randn(d, generator=g, dtype=F64), _spd(d, g)
    w12 = float(gaussian_w2(m1, c1, m2, c2))
    assert float(gaussian_w2(m1, c1, m1, c1)) <= 1e-7 * math.sqrt(float(torch.trace(c1)))
    assert w12 == pytest.approx(float(gaussian_w2(m2, c2, m1, c1)), rel=1e-10)
    assert w12 <= float(gaussian_w2(m1, c1, m3, c3)) + float(gaussian_w2(m3, c3, m2, c2)) + 1e-12
    assert w12 >= float((m1 - m2).norm()) - 1e-12
    # rotation invariance
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=F64))
    rot = float(gaussian_w2(q @ m1, q @ c1 @ q.T, q @ m2, q @ c2 @ q.T))
    assert rot == pytest.approx(w12, rel=1e-9, abs=1e-12)


def test_gaussian_w2_with_a_point_mass() -> None:
    # W2(delta_a, N(b, S))^2 = |a - b|^2 + tr S (every coupling is the product)
    _, c, b, _ = _gaussians(3, seed=6)
    a = torch.ones(3, dtype=F64)
    w = gaussian_w2(a, torch.zeros(3, 3, dtype=F64), b, c)
    assert float(w) ** 2 == pytest.approx(float((a - b).square().sum() + torch.trace(c)),
                                          rel=1e-12)


# ------------------------------------------------------------------------------- mixture KL


def test_mixture_kl_of_single_gaussians_is_the_closed_form() -> None:
    m1, c1, m2, c2 = _gaussians(2, seed=7)
    p, q = GaussianMixture.gaussian(m1, c1), GaussianMixture.gaussian(m2, c2)
    # log p - log q is a quadratic: Gauss-Hermite with >= 2 nodes is exact up to rounding
    assert mixture_kl(p, q, nodes=4) == pytest.approx(float(gaussian_kl(m1, c1, m2, c2)),
                                                      rel=1e-12)


def test_mixture_kl_matches_adaptive_quadrature_in_one_dimension() -> None:
    p = GaussianMixture(torch.tensor([0.3, 0.7], dtype=F64), torch.tensor([[-1.0], [1.5]],
                        dtype=F64), torch.tensor([0.2, 0.6], dtype=F64))
    q = GaussianMixture(torch.tensor([0.5, 0.5], dtype=F64), torch.tensor([[0.0], [1.0]],
                        dtype=F64), torch.tensor([1.0, 0.3], dtype=F64))

    def integrand(x: float) -> float:
        t = torch.tensor([[x]], dtype=F64)
        lp, lq = float(p.log_prob(t)), float(q.log_prob(t))
        return math.exp(lp) * (lp - lq)

    expected, _ = integrate.quad(integrand, -12, 14, epsabs=1e-13, epsrel=1e-12, limit=200)
    # log p - log q has complex singularities (zeros of p, q) near the real axis, so the
    # Gauss-Hermite error decays geometrically but slowly: 1.5e-5 at 48 nodes, 6e-9 at 200.
    assert mixture_kl(p, q, nodes=200) == pytest.approx(expected, rel=2e-8)
    assert mixture_kl(p, q, nodes=48) == pytest.approx(expected, rel=1e-4)
    assert abs(mixture_kl(p, p, nodes=48)) < 1e-14


# ------------------------------------------------------------------------------- sliced W2


def test_sliced_w2_identities() -> None:
    g = _gen(8)
    x = torch.randn(200, 3, generator=g, dtype=F64)
    y = 0.5 * torch.randn(150, 3, generator=g, dtype=F64) + 1.0
    assert float(sliced_w2(x, x, projections=10, generator=_gen(0))) == 0.0
    c = torch.tensor([5.0, 0.0, 0.0], dtype=F64)
    a = sliced_w2(x, y, projections=50, generator=_gen(1))
    b = sliced_w2(x + c, y + c, projections=50, generator=_gen(1))
    assert float(a) == pytest.approx(float(b), rel=1e-12)  # translation invariance
    assert float(a) == pytest.approx(float(sliced_w2(y, x, projections=50, generator=_gen(1))),
                                     rel=1e-12)


def test_sliced_w2_in_one_dimension_is_the_sorted_matching() -> None:
    g = _gen(9)
    x, y = torch.randn(40, 1, generator=g, dtype=F64), torch.randn(40, 1, generator=g, dtype=F64)
    exact = (torch.sort(x[:, 0]).values - torch.sort(y[:, 0]).values).square().mean().sqrt()
    assert float(sliced_w2(x, y, projections=3, generator=g)) == pytest.approx(float(exact),
                                                                               rel=1e-14)


def test_sliced_w2_with_unequal_sizes_equals_the_replicated_samples() -> None:
    # the empirical measure of x (n points) is that of x repeated m times: with n = 6, m = 4,
    # replicating to 12 points each gives the same measures and the equal-size formula.
    g = _gen(10)
    x, y = torch.randn(6, 2, generator=g, dtype=F64), torch.randn(4, 2, generator=g, dtype=F64)
    a = sliced_w2(x, y, projections=20, generator=_gen(2))
    b = sliced_w2(x.repeat(2, 1), y.repeat(3, 1), projections=20, generator=_gen(2))
    assert float(a) == pytest.approx(float(b), rel=1e-13)


def test_sliced_w2_of_a_translation_is_norm_over_root_d() -> None:
    # W2^2(theta#mu, theta#(mu + c)) = (theta.c)^2 exactly; its mean over P uniform directions
    # estimates |c|^2/d with variance (3/(d(d+2)) - 1/d^2)|c|^4 / P.
    d, projections = 3, 4000
    x = torch.randn(50, d, generator=_gen(11), dtype=F64)
    c = torch.tensor([1.0, 2.0, -2.0], dtype=F64)
    sw = float(sliced_w2(x, x + c, projections=projections, generator=_gen(12)))
    se = math.sqrt((3 / (d * (d + 2)) - 1 / d**2) / projections) * 9.0
    assert abs(sw**2 - 9.0 / d) < 4.5 * se


# ------------------------------------------------------------------------------- MMD


def test_mmd2_unbiased_matches_the_definition() -> None:
    g = _gen(13)
    x, y = torch.randn(5, 2, generator=g, dtype=F64), torch.randn(4, 2, generator=g, dtype=F64)
    h = 0.8

    def k(a, b):
        return math.exp(-float((a - b).square().sum()) / (2 * h * h))

    sxx = sum(k(x[i], x[j]) for i in range(5) for j in range(5) if i != j) / 20
    syy = sum(k(y[i], y[j]) for i in range(4) for j in range(4) if i != j) / 12
    sxy = sum(k(x[i], y[j]) for i in range(5) for j in range(4)) / 20
    assert float(mmd2_unbiased(x, y, bandwidth=h)) == pytest.approx(sxx + syy - 2 * sxy,
                                                                    rel=1e-12)


def _two_mixtures():
    p = GaussianMixture(torch.tensor([0.4, 0.6], dtype=F64),
                        torch.tensor([[0.0, 0.0], [2.0, 1.0]], dtype=F64),
                        torch.tensor([0.5, 0.3], dtype=F64))
    q = GaussianMixture(torch.tensor([0.5, 0.5], dtype=F64),
                        torch.tensor([[0.2, 0.0], [2.0, 1.5]], dtype=F64),
                        torch.stack([torch.eye(2, dtype=F64) * 0.5,
                                     torch.tensor([[0.3, 0.1], [0.1, 0.4]], dtype=F64)]))
    return p, q


@pytest.mark.parametrize("same", [False, True])
def test_mmd2_unbiased_has_the_exact_mixture_mmd_as_mean(same: bool) -> None:
    # mean of R independent estimates vs the closed form: within 4.5 standard errors of the mean
    p, q = _two_mixtures()
    q = p if same else q
    h, n, reps = 1.0, 200, 200
    g = _gen(14)
    est = torch.stack([mmd2_unbiased(p.sample(n, generator=g), q.sample(n, generator=g),
                                     bandwidth=h) for _ in range(reps)])
    exact = float(mixture_mmd2(p, q, bandwidth=h))
    se = float(est.std()) / math.sqrt(reps)
    assert abs(float(est.mean()) - exact) < 4.5 * se
    if same:
        assert abs(exact) < 1e-15
    else:
        assert exact > 10 * se  # the test distinguishes the two laws


def test_mixture_mmd2_kernel_expectation_in_one_dimension() -> None:
    # E k(X, Y) for X ~ N(a, A), Y ~ N(b, B) against a double integral
    a, va, b, vb, h = 0.3, 0.5, -0.4, 0.2, 0.7
    p = GaussianMixture.gaussian(torch.tensor([a], dtype=F64), torch.tensor([[va]], dtype=F64))
    q = GaussianMixture.gaussian(torch.tensor([b], dtype=F64), torch.tensor([[vb]], dtype=F64))

    def density(x, m, v):
        return math.exp(-(x - m) ** 2 / (2 * v)) / math.sqrt(2 * math.pi * v)

    def cross(m1, v1, m2, v2):
        val, _ = integrate.dblquad(
            lambda y, x: density(x, m1, v1) * density(y, m2, v2) * math.exp(
                -(x - y) ** 2 / (2 * h * h)), -10, 10, -10, 10, epsabs=1e-13, epsrel=1e-12)
        return val

    expected = cross(a, va, a, va) + cross(b, vb, b, vb) - 2 * cross(a, va, b, vb)
    assert float(mixture_mmd2(p, q, bandwidth=h)) == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: gaussian_kl(torch.zeros(2), torch.eye(3), torch.zeros(2), torch.eye(2)),
         "mean1, cov1: expected a covariance of shape"),
        (lambda: gaussian_kl(torch.zeros(2), torch.eye(2), torch.zeros(2), -torch.eye(2)),
         "cov2: expected positive-definite"),
        (lambda: gaussian_kl(torch.zeros(2), -torch.eye(2), torch.zeros(2), torch.eye(2)),
         "cov1: expected positive-definite"),
        (lambda: gaussian_w2(torch.zeros(2), torch.eye(2) * float("nan"), torch.zeros(2),
                             torch.eye(2)), "expected finite values"),
        (lambda: sliced_w2(torch.zeros(3, 2), torch.zeros(3, 3), projections=2,
                           generator=_gen(0)), "x, y: expected samples of one dimension"),
        (lambda: sliced_w2(torch.zeros(3, 2), torch.zeros(3, 2), projections=0,
                           generator=_gen(0)), "projections"),
        (lambda: mmd2_unbiased(torch.zeros(3, 2), torch.zeros(3, 2), bandwidth=0.0),
         "bandwidth"),
        (lambda: mmd2_unbiased(torch.zeros(1, 2), torch.zeros(3, 2), bandwidth=1.0),
         "at least 2 points"),
        (lambda: mixture_kl(*_two_mixtures(), nodes=0), "nodes"),
        (lambda: mixture_kl(GaussianMixture.standard_normal(8), GaussianMixture.standard_normal(8),
                            nodes=32), "nodes: nodes\\*\\*d"),
    ],
)
def test_bad_input_names_the_argument(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()
