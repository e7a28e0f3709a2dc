"""Gaussian mixtures: densities against scipy, scores and their divergence against autograd, the
forward marginals against Monte Carlo and the Fokker-Planck equation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

import mathdl.generative._mixtures as mixtures_module
from mathdl.generative import (
    GaussianMixture,
    HeatFlow,
    OrnsteinUhlenbeck,
    VariancePreserving,
    empirical_score,
    exact_score,
    forward_marginal,
    sample_forward,
)

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _spd(d: int, g: torch.Generator, low: float = 0.2, high: float = 2.0) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=F64))
    lam = low + (high - low) * torch.rand(d, generator=g, dtype=F64)
    return (q * lam) @ q.T


def _mixture(d: int, k: int, seed: int, *, isotropic: bool = False) -> GaussianMixture:
    g = _gen(seed)
    w = 0.5 + torch.rand(k, generator=g, dtype=F64)
    means = 1.5 * torch.randn(k, d, generator=g, dtype=F64)
    if isotropic:
        cov = 0.2 + torch.rand(k, generator=g, dtype=F64)
    else:
        cov = torch.stack([_spd(d, g) for _ in range(k)])
    return GaussianMixture(w / w.sum(), means, cov)


CASES = [(1, 1, False), (1, 3, True), (2, 3, False), (3, 4, True), (5, 2, False)]
CASE_IDS = [f"d{d}-k{k}-{'iso' if iso else 'full'}" for d, k, iso in CASES]


@pytest.mark.parametrize(("d", "k", "iso"), CASES, ids=CASE_IDS)
def test_log_prob_matches_scipy(d: int, k: int, iso: bool) -> None:
    mix = _mixture(d, k, seed=d + k, isotropic=iso)
    x = 2 * torch.randn(20, d, generator=_gen(0), dtype=F64)
    covs = mix.full_covariances().numpy()
    dens = sum(float(mix.weights[j]) * scipy_stats.multivariate_normal(
        mix.means[j].numpy(), covs[j]).pdf(x.numpy()) for j in range(k))
    torch.testing.assert_close(mix.log_prob(x), torch.as_tensor(np.log(dens)).reshape(-1),
                               rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(mix.responsibilities(x).sum(1), torch.ones(20, dtype=F64))


@pytest.mark.parametrize(("d", "k", "iso"), CASES, ids=CASE_IDS)
def test_score_and_divergence_match_autograd(d: int, k: int, iso: bool) -> None:
    mix = _mixture(d, k, seed=10 + d + k, isotropic=iso)
    x = (2 * torch.randn(15, d, generator=_gen(1), dtype=F64)).requires_grad_(True)
    (grad,) = torch.autograd.grad(mix.log_prob(x).sum(), x, create_graph=True)
    laplacian = sum(torch.autograd.grad(grad[:, i].sum(), x, retain_graph=True)[0][:, i]
                    for i in range(d))
    # both sides are float64 evaluations of the same function: agreement to ~1e-12 relative
    torch.testing.assert_close(mix.score(x.detach()), grad.detach(), rtol=1e-11, atol=1e-11)
    torch.testing.assert_close(mix.score_divergence(x.detach()), laplacian.detach(), rtol=1e-10,
                               atol=1e-10)


def test_single_gaussian_score_is_affine() -> None:
    g = _gen(2)
    mean, cov = torch.randn(3, generator=g, dtype=F64), _spd(3, g)
    mix = GaussianMixture.gaussian(mean, cov)
    x = torch.randn(7, 3, generator=g, dtype=F64)
    expected = -torch.linalg.solve(cov, (x - mean).T).T
    torch.testing.assert_close(mix.score(x), expected, rtol=1e-12, atol=1e-12)
    trace = -torch.trace(torch.linalg.inv(cov))
    torch.testing.assert_close(mix.score_divergence(x), trace.expand(7), rtol=1e-12, atol=1e-12)


def test_chunked_evaluation_equals_one_block(monkeypatch) -> None:
    points = torch.randn(600, 4, generator=_gen(3), dtype=F64)
    mix = forward_marginal(GaussianMixture.empirical(points), HeatFlow(), 0.05)
    x = torch.randn(300, 4, generator=_gen(4), dtype=F64)
    monkeypatch.setattr(mixtures_module, "_CHUNK_ELEMENTS", 4 * 600 * 7)  # 7 rows per block
    chunked = (mix.log_prob(x), mix.score(x), mix.score_divergence(x))
    monkeypatch.setattr(mixtures_module, "_CHUNK_ELEMENTS", 2**30)
    whole = (mix.log_prob(x), mix.score(x), mix.score_divergence(x))
    for a, b in zip(chunked, whole, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("iso", [False, True])
def test_sampling_moments(iso: bool) -> None:
    mix = _mixture(2, 3, seed=5, isotropic=iso)
    n = 60000
    x, labels = mix.sample_labeled(n, generator=_gen(6))
    cov = mix.covariance()
    # sample mean: standard error sqrt(diag(cov)/n); label frequencies: binomial
    assert torch.all((x.mean(0) - mix.mean()).abs() < 4.5 * torch.sqrt(torch.diagonal(cov) / n))
    freq = torch.bincount(labels, minlength=3).to(F64) / n
    w = mix.weights
    assert torch.all((freq - w).abs() < 4.5 * torch.sqrt(w * (1 - w) / n))
    # sample covariance: Var(S_ij) = (C_ii C_jj + C_ij^2)/n for Gaussian data; the mixture is
    # not Gaussian, so allow twice that standard error.
    se = torch.sqrt((torch.diagonal(cov)[:, None] * torch.diagonal(cov)[None] + cov**2) / n)
    assert torch.all((torch.cov(x.T) - cov).abs() < 9 * se)


@pytest.mark.parametrize("process", [OrnsteinUhlenbeck(), HeatFlow(), VariancePreserving(0.5, 4)],
                         ids=["ou", "heat", "vp"])
def test_forward_marginal_matches_monte_carlo(process) -> None:
    mix = _mixture(2, 3, seed=7)
    t, n = 0.4, 60000
    g = _gen(8)
    xt = sample_forward(process, mix.sample(n, generator=g), t, generator=g)
    p_t = forward_marginal(mix, process, t)
    cov = p_t.covariance()
    assert torch.all((xt.mean(0) - p_t.mean()).abs() < 4.5 * torch.sqrt(torch.diagonal(cov) / n))
    se = torch.sqrt((torch.diagonal(cov)[:, None] * torch.diagonal(cov)[None] + cov**2) / n)
    assert torch.all((torch.cov(xt.T) - cov).abs() < 9 * se)


def test_forward_marginal_closed_forms() -> None:
    mix = _mixture(3, 2, seed=9)
    t = 0.7
    ou = forward_marginal(mix, OrnsteinUhlenbeck(), t)
    eye = torch.eye(3, dtype=F64)
    torch.testing.assert_close(ou.means, math.exp(-t) * mix.means)
    torch.testing.assert_close(ou.covariances, math.exp(-2 * t) * mix.covariances
                               + (1 - math.exp(-2 * t)) * eye)
    heat = forward_marginal(mix, HeatFlow(), t)
    torch.testing.assert_close(heat.covariances, mix.covariances + 2 * t * eye)
    same = forward_marginal(mix, OrnsteinUhlenbeck(), 0.0)
    assert torch.equal(same.means, mix.means) and torch.equal(same.covariances, mix.covariances)


@pytest.mark.parametrize("process", [OrnsteinUhlenbeck(), HeatFlow(), VariancePreserving(0.5, 4)],
                         ids=["ou", "heat", "vp"])
@pytest.mark.parametrize("iso", [False, True])
def test_forward_marginal_solves_fokker_planck(process, iso: bool) -> None:
    # d/dt p = div(b x p) + (g^2/2) Lap p, divided by p:
    # d/dt log p = d b + b x.s + (g^2/2)(div s + |s|^2), s = grad log p.
    # Left side by a central difference in t (step 1e-4: truncation ~1e-8 relative, rounding
    # ~1e-16/1e-4); the right side from the closed-form score and divergence.
    mix = _mixture(2, 3, seed=11, isotropic=iso)
    t, dt = 0.3, 1e-4
    x = 1.5 * torch.randn(12, 2, generator=_gen(12), dtype=F64)
    lhs = (forward_marginal(mix, process, t + dt).log_prob(x)
           - forward_marginal(mix, process, t - dt).log_prob(x)) / (2 * dt)
    p_t = forward_marginal(mix, process, t)
    s, div = p_t.score(x), p_t.score_divergence(x)
    b, g2 = process.drift_rate(t), process.diffusion(t) ** 2
    rhs = mix.dim * b + b * (x * s).sum(1) + 0.5 * g2 * (div + s.square().sum(1))
    torch.testing.assert_close(lhs, rhs, rtol=1e-6, atol=1e-6)


def test_exact_score_is_the_marginal_score() -> None:
    mix = _mixture(2, 2, seed=13)
    x = torch.randn(5, 2, generator=_gen(14), dtype=F64)
    score = exact_score(mix, OrnsteinUhlenbeck())
    torch.testing.assert_close(score(x, 0.8),
                               forward_marginal(mix, OrnsteinUhlenbeck(), 0.8).score(x))


def test_empirical_score_is_tweedies_formula() -> None:
    # grad log p_t(x) = (a E[y | x_t = x] - x) / sigma^2 with posterior weights
    # softmax(-|x - a y_i|^2 / (2 sigma^2)): written out independently here.
    y = torch.randn(30, 3, generator=_gen(15), dtype=F64)
    x = torch.randn(8, 3, generator=_gen(16), dtype=F64)
    process, t = OrnsteinUhlenbeck(), 0.2
    a, s2 = math.exp(-t), 1 - math.exp(-2 * t)
    logits = -((x[:, None] - a * y[None]) ** 2).sum(-1) / (2 * s2)
    post = torch.softmax(logits, dim=1)
    expected = (a * post @ y - x) / s2
    torch.testing.assert_close(empirical_score(y, process)(x, t), expected, rtol=1e-12,
                               atol=1e-12)


def test_empirical_score_at_small_time_points_to_the_nearest_training_point() -> None:
    y = torch.tensor([[0.0, 0.0], [3.0, 0.0]], dtype=F64)
    x = torch.tensor([[0.1, 0.2], [2.5, -0.1]], dtype=F64)
    t = 1e-3
    s = empirical_score(y, HeatFlow())(x, t)
    nearest = torch.stack([y[0], y[1]])
    torch.testing.assert_close(s, (nearest - x) / (2 * t), rtol=1e-12, atol=0)


def test_point_mass_needs_noise_for_a_density() -> None:
    emp = GaussianMixture.empirical(torch.zeros(2, 2, dtype=F64))
    with pytest.raises(ValueError, match="covariances: the density needs positive variances"):
        emp.log_prob(torch.zeros(1, 2, dtype=F64))
    singular = GaussianMixture.gaussian(torch.zeros(2, dtype=F64),
                                        torch.tensor([[1.0, 1.0], [1.0, 1.0]], dtype=F64))
    with pytest.raises(ValueError, match="positive-definite"):
        singular.score(torch.zeros(1, 2, dtype=F64))
    noised = forward_marginal(singular, HeatFlow(), 0.1)
    assert torch.isfinite(noised.score_divergence(torch.zeros(1, 2, dtype=F64))).all()
    # a singular covariance can still be sampled: points lie on the line x1 = x2
    x = singular.sample(10, generator=_gen(17))
    torch.testing.assert_close(x[:, 0], x[:, 1], rtol=1e-12, atol=1e-12)


def test_float32_follows_inputs() -> None:
    mix = GaussianMixture(torch.tensor([0.5, 0.5]), torch.tensor([[0.0], [1.0]]),
                          torch.tensor([0.3, 0.4]))
    x = mix.sample(4, generator=_gen(18))
    assert x.dtype == torch.float32 and mix.score_divergence(x).dtype == torch.float32


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(0, 10_000))
def test_divergence_is_at_least_minus_the_mean_precision_trace(d: int, k: int, seed: int) -> None:
    # Delta log p = -sum_k r_k tr(P_k) + (a variance >= 0): the structure behind Li-Yau.
    mix = _mixture(d, k, seed=seed)
    x = 3 * torch.randn(10, d, generator=_gen(seed), dtype=F64)
    trace = torch.linalg.inv(mix.full_covariances()).diagonal(dim1=-2, dim2=-1).sum(-1)
    floor = -(mix.responsibilities(x) * trace[None]).sum(1)
    assert torch.all(mix.score_divergence(x) >= floor - 1e-12 * floor.abs())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(weights=torch.tensor([0.5, 0.6], dtype=F64)), "weights: expected weights summing"),
        (dict(weights=torch.tensor([1.5, -0.5], dtype=F64)), "weights: expected finite positive"),
        (dict(weights=torch.tensor([1.0], dtype=F64)), "weights: expected shape"),
        (dict(covariances=torch.tensor([1.0, -1.0], dtype=F64)), "covariances: expected isotropic"),
        (dict(covariances=torch.tensor([[[1.0, 0.5], [0.0, 1.0]]] * 2, dtype=F64)),
         "covariances: expected symmetric"),
        (dict(covariances=torch.tensor([[[1.0, 2.0], [2.0, 1.0]]] * 2, dtype=F64)),
         "covariances: expected positive semi-definite"),
        (dict(covariances=torch.ones(2, 3, 3, dtype=F64)), "covariances: expected shape"),
        (dict(means=torch.zeros(2, 2, dtype=torch.float32)), "one dtype"),
        (dict(means=torch.zeros(2, dtype=F64)), "means: expected shape"),
    ],
)
def test_bad_mixtures_name_the_argument(kwargs, match: str) -> None:
    args = dict(weights=torch.tensor([0.5, 0.5], dtype=F64), means=torch.zeros(2, 2, dtype=F64),
                covariances=torch.ones(2, dtype=F64))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        GaussianMixture(**args)


def test_bad_points_name_the_argument() -> None:
    mix = _mixture(2, 2, seed=19)
    with pytest.raises(ValueError, match=r"x: expected a tensor of shape \(n, 2\)"):
        mix.score(torch.zeros(3, 3, dtype=F64))
    with pytest.raises(ValueError, match="x: expected dtype"):
        mix.score(torch.zeros(3, 2, dtype=torch.float32))
    with pytest.raises(ValueError, match="n: expected a positive integer"):
        mix.sample(0, generator=_gen(0))
    with pytest.raises(ValueError, match="mixture: expected a GaussianMixture"):
        forward_marginal("mixture", HeatFlow(), 1.0)
    with pytest.raises(ValueError, match="t: expected a finite time"):
        forward_marginal(mix, HeatFlow(), -1.0)
