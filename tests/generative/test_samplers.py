"""Samplers: the step formulas written out by hand, the exact law of the discretised samplers
against Monte Carlo, and their orders of convergence with the exact score."""

from __future__ import annotations

import math

import pytest
import torch

from mathdl.generative import (
    GaussianMixture,
    HeatFlow,
    OrnsteinUhlenbeck,
    Sampler,
    TimeSpacing,
    VariancePreserving,
    exact_score,
    forward_marginal,
    gaussian_sampler_law,
    gaussian_w2,
    probability_flow_drift,
    reverse_sde_drift,
    sample,
    sampler_step,
    time_grid,
)
from mathdl.stats import fit_power_law

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _gaussian_data() -> GaussianMixture:
    return GaussianMixture.gaussian(torch.tensor([1.0, -0.5], dtype=F64),
                                    torch.tensor([[0.5, 0.2], [0.2, 0.3]], dtype=F64))


def test_time_grids() -> None:
    grid = time_grid(2.0, 0.5, 6)
    assert grid[0] == 2.0 and grid[-1] == 0.5 and len(grid) == 7
    steps = [a - b for a, b in zip(grid[:-1], grid[1:], strict=True)]
    assert max(steps) - min(steps) < 1e-15
    geo = time_grid(1.0, 1e-3, 3, spacing=TimeSpacing.GEOMETRIC)
    assert geo == pytest.approx((1.0, 0.1, 0.01, 1e-3), rel=1e-14)


def test_reverse_drifts_of_the_ornstein_uhlenbeck_process() -> None:
    # OU: reverse SDE drift x + 2 s, probability-flow drift x + s (reverse time)
    x = torch.randn(4, 2, generator=_gen(0), dtype=F64)

    def score(y, t):
        return torch.sin(y) * t

    process = OrnsteinUhlenbeck()
    torch.testing.assert_close(reverse_sde_drift(score, process, x, 0.7),
                               x + 2 * score(x, 0.7), rtol=1e-15, atol=1e-15)
    torch.testing.assert_close(probability_flow_drift(score, process, x, 0.7),
                               x + score(x, 0.7), rtol=1e-15, atol=1e-15)


def _scalar_recursion(sampler: Sampler, steps: int, t_max: float, mu: float, s2: float
                      ) -> tuple[float, float]:
    """Mean and variance of the 1-D OU samplers for data N(mu, s2), written out by hand.

    p_t = N(m_t, v_t), m_t = e^(-t) mu, v_t = e^(-2t) s2 + 1 - e^(-2t); score -(x - m_t)/v_t.
    Reverse SDE step: x' = x + h (x - 2 (x - m_t)/v_t) + sqrt(2h) xi;
    ODE drift F(x, t) = x - (x - m_t)/v_t; Heun: x + h/2 (F(x, t) + F(x + h F(x, t), t - h)).
    """
    def mv(t):
        return math.exp(-t) * mu, math.exp(-2 * t) * s2 + 1 - math.exp(-2 * t)

    m, v = mv(t_max)
    h = t_max / steps
    for k in range(steps):
        t = t_max - k * h
        mt, vt = mv(t)
        if sampler is Sampler.EULER_MARUYAMA:
            a, b = 1 + h * (1 - 2 / vt), 2 * h * mt / vt
            m, v = a * m + b, a * a * v + 2 * h
        else:
            a1, b1 = 1 - 1 / vt, mt / vt  # F(x, t) = a1 x + b1
            if sampler is Sampler.EULER:
                a, b = 1 + h * a1, h * b1
            else:
                mn, vn = mv(t - h)
                a2, b2 = 1 - 1 / vn, mn / vn
                # x + h/2 (a1 x + b1 + a2 (x + h (a1 x + b1)) + b2)
                a = 1 + 0.5 * h * (a1 + a2 + h * a2 * a1)
                b = 0.5 * h * (b1 + a2 * h * b1 + b2)
            m, v = a * m + b, a * a * v
    return m, v


@pytest.mark.parametrize("sampler", list(Sampler), ids=lambda s: s.value)
def test_gaussian_law_matches_the_hand_written_recursion(sampler: Sampler) -> None:
    mu, s2, t_max, steps = 0.7, 0.4, 1.5, 9
    data = GaussianMixture.gaussian(torch.tensor([mu], dtype=F64), torch.tensor([[s2]], dtype=F64))
    process = OrnsteinUhlenbeck()
    start = forward_marginal(data, process, t_max)
    m, c = gaussian_sampler_law(exact_score(data, process), process, start.means[0],
                                start.full_covariances()[0], sampler=sampler, t_max=t_max,
                                t_min=0.0, steps=steps)
    em, ev = _scalar_recursion(sampler, steps, t_max, mu, s2)
    assert float(m[0]) == pytest.approx(em, rel=1e-13)
    assert float(c[0, 0]) == pytest.approx(ev, rel=1e-12)


@pytest.mark.parametrize("sampler", list(Sampler), ids=lambda s: s.value)
def test_gaussian_law_matches_monte_carlo_of_the_sampler(sampler: Sampler) -> None:
    # 4 coarse steps: the output law differs visibly from the data law; sample() and the
    # propagated law must agree within Monte Carlo error (4.5 standard errors).
    data, process, n = _gaussian_data(), OrnsteinUhlenbeck(), 40000
    start = forward_marginal(data, process, 1.0)
    score = exact_score(data, process)
    g = _gen(1)
    x = start.sample(n, generator=g)
    out = sample(score, process, x, sampler=sampler, t_max=1.0, t_min=0.0, steps=4, generator=g)
    m, c = gaussian_sampler_law(score, process, start.means[0], start.full_covariances()[0],
                                sampler=sampler, t_max=1.0, t_min=0.0, steps=4)
    diag = torch.diagonal(c)
    assert torch.all((out.mean(0) - m).abs() < 4.5 * torch.sqrt(diag / n))
    se = torch.sqrt((diag[:, None] * diag[None] + c**2) / n)
    assert torch.all((torch.cov(out.T) - c).abs() < 4.5 * se)
    # and the discretisation error is far above that noise, so the test has teeth
    target = forward_marginal(data, process, 0.0)
    assert float((c - target.full_covariances()[0]).abs().max()) > 10 * float(se.max())


PROCESSES = [(OrnsteinUhlenbeck(), 1.0, 0.0), (HeatFlow(), 1.0, 0.0),
             (VariancePreserving(0.1, 20.0), 1.0, 0.0)]


@pytest.mark.parametrize(("process", "t_max", "t_min"), PROCESSES, ids=["ou", "heat", "vp"])
@pytest.mark.parametrize("sampler", list(Sampler), ids=lambda s: s.value)
def test_order_of_convergence_with_the_exact_score(process, t_max, t_min, sampler) -> None:
    # Gaussian data: W2(exact law of the output, p_(t_min)) = C h^p (1 + O(h)); the fitted
    # slope over N = 32..256 is within 0.1 of p (1 for Euler-Maruyama and Euler, 2 for Heun).
    data = _gaussian_data()
    start, target = forward_marginal(data, process, t_max), forward_marginal(data, process, t_min)
    score = exact_score(data, process)
    steps = (32, 64, 128, 256)
    errors = []
    for n in steps:
        m, c = gaussian_sampler_law(score, process, start.means[0], start.full_covariances()[0],
                                    sampler=sampler, t_max=t_max, t_min=t_min, steps=n)
        errors.append(float(gaussian_w2(m, c, target.means[0], target.full_covariances()[0])))
    slope = fit_power_law([1 / n for n in steps], errors).slope
    assert abs(slope - sampler.order) < 0.1


def test_mixture_samples_reproduce_the_data_law() -> None:
    # Heun with the exact score from exact draws of p_T: the sample mean and covariance of the
    # output match those of the data mixture within Monte Carlo error (discretisation bias
    # O(h^2) = 1e-4 at 100 steps is far below).
    mix = GaussianMixture(torch.tensor([0.3, 0.7], dtype=F64),
                          torch.tensor([[-2.0, 0.0], [1.0, 1.0]], dtype=F64),
                          torch.tensor([0.3, 0.5], dtype=F64))
    process, n, g = OrnsteinUhlenbeck(), 20000, _gen(2)
    x = forward_marginal(mix, process, 2.0).sample(n, generator=g)
    out = sample(exact_score(mix, process), process, x, sampler=Sampler.HEUN, t_max=2.0,
                 t_min=0.0, steps=100)
    cov = mix.covariance()
    assert torch.all((out.mean(0) - mix.mean()).abs() < 4.5 * torch.sqrt(torch.diagonal(cov) / n))
    frac = float((out[:, 0] < -0.5).to(F64).mean())  # mass of the left component
    assert abs(frac - 0.3) < 4.5 * math.sqrt(0.3 * 0.7 / n) + 2e-3


def test_sampling_is_deterministic_for_a_seed_and_follows_dtype() -> None:
    data, process = _gaussian_data(), OrnsteinUhlenbeck()
    score = exact_score(data, process)
    x = torch.zeros(5, 2, dtype=F64)
    a = sample(score, process, x, sampler=Sampler.EULER_MARUYAMA, t_max=1.0, t_min=0.0,
               steps=10, generator=_gen(3))
    b = sample(score, process, x, sampler=Sampler.EULER_MARUYAMA, t_max=1.0, t_min=0.0,
               steps=10, generator=_gen(3))
    assert torch.equal(a, b)
    mix32 = GaussianMixture(torch.tensor([1.0]), torch.zeros(1, 2), torch.ones(1))
    out = sample(exact_score(mix32, process), process, torch.zeros(3, 2), sampler=Sampler.HEUN,
                 t_max=1.0, t_min=0.1, steps=5, spacing=TimeSpacing.GEOMETRIC)
    assert out.dtype == torch.float32


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: time_grid(1.0, 1.0, 4), "t_max: expected t_max > t_min"),
        (lambda: time_grid(1.0, 0.0, 0), "steps: expected a positive integer"),
        (lambda: time_grid(1.0, 0.0, 4, spacing=TimeSpacing.GEOMETRIC),
         "t_min: expected t_min > 0"),
        (lambda: time_grid(1.0, -0.1, 4), "t_min: expected a finite time"),
        (lambda: time_grid(1.0, 0.0, 4, spacing="uniform"), "spacing: expected a TimeSpacing"),
        (lambda: sample(lambda x, t: x, HeatFlow(), torch.zeros(2, 1),
                        sampler=Sampler.EULER_MARUYAMA, t_max=1.0, t_min=0.0, steps=2),
         "generator: Sampler.EULER_MARUYAMA needs"),
        (lambda: sample(lambda x, t: x, HeatFlow(), torch.zeros(2, 1), sampler="heun",
                        t_max=1.0, t_min=0.0, steps=2), "sampler: expected a Sampler"),
        (lambda: sample(lambda x, t: x, HeatFlow(), torch.zeros(2), sampler=Sampler.HEUN,
                        t_max=1.0, t_min=0.0, steps=2), "x: expected"),
        (lambda: sampler_step(Sampler.EULER_MARUYAMA, lambda x, t: x, HeatFlow(),
                              torch.zeros(2, 1), 1.0, 0.5), "noise: expected"),
        (lambda: sampler_step(Sampler.EULER, lambda x, t: x, HeatFlow(), torch.zeros(2, 1),
                              0.5, 1.0), "t_next: expected t_next < t"),
        (lambda: gaussian_sampler_law(lambda x, t: x, HeatFlow(), torch.zeros(2, dtype=F64),
                                      torch.eye(3, dtype=F64), sampler=Sampler.EULER, t_max=1.0,
                                      t_min=0.0, steps=2), "covariance: expected"),
    ],
)
def test_bad_input_names_the_argument(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()
