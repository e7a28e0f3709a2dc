"""Forward processes: closed-form transition laws against their SDE coefficients and Monte Carlo."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import integrate

from mathdl.generative import (
    HeatFlow,
    OrnsteinUhlenbeck,
    VariancePreserving,
    sample_forward,
    sample_prior,
)

F64 = torch.float64
PROCESSES = [OrnsteinUhlenbeck(), HeatFlow(), VariancePreserving(0.1, 20.0),
             VariancePreserving(1.0, 3.0)]
IDS = ["ou", "heat", "vp-song", "vp-mild"]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("t", [1e-9, 1e-3, 0.3, 1.0, 4.0])
def test_ornstein_uhlenbeck_closed_form(t: float) -> None:
    p = OrnsteinUhlenbeck()
    assert p.mean_scale(t) == pytest.approx(math.exp(-t), rel=1e-15)
    # sqrt(1 - e^(-2t)) computed via expm1: full relative accuracy even at t = 1e-9
    assert p.std(t) == pytest.approx(math.sqrt(-math.expm1(-2 * t)), rel=1e-15)
    if t <= 1e-3:  # Taylor: 1 - e^(-2t) = 2t (1 - t + 2t^2/3) + O(t^4), relative error < t^3
        assert p.std(t) ** 2 == pytest.approx(2 * t * (1 - t + 2 * t * t / 3), rel=t**3 + 1e-15)
    assert p.drift_rate(t) == 1.0 and p.diffusion(t) == pytest.approx(math.sqrt(2))


@pytest.mark.parametrize("t", [0.0, 1e-6, 0.5, 7.0])
def test_heat_flow_closed_form(t: float) -> None:
    p = HeatFlow()
    assert p.mean_scale(t) == 1.0
    assert p.std(t) == pytest.approx(math.sqrt(2 * t), rel=1e-15, abs=0)
    x = torch.ones(3, 2, dtype=F64)
    assert torch.equal(p.drift(x, t), torch.zeros_like(x))


@pytest.mark.parametrize("t", [0.0, 0.1, 0.7, 2.5])
def test_variance_preserving_with_constant_beta_two_is_ornstein_uhlenbeck(t: float) -> None:
    vp, ou = VariancePreserving(2.0, 2.0), OrnsteinUhlenbeck()
    assert vp.mean_scale(t) == pytest.approx(ou.mean_scale(t), rel=1e-15)
    assert vp.std(t) == pytest.approx(ou.std(t), rel=1e-14, abs=0)
    assert vp.drift_rate(t) == ou.drift_rate(t) and vp.diffusion(t) == ou.diffusion(t)


@pytest.mark.parametrize("process", PROCESSES, ids=IDS)
@pytest.mark.parametrize("t", [0.05, 0.4, 1.0])
def test_marginal_coefficients_solve_the_linear_sde(process, t: float) -> None:
    # a(t) = exp(-int_0^t b), sigma(t)^2 = int_0^t (a(t)/a(s))^2 g(s)^2 ds: the closed forms
    # agree with the drift and diffusion coefficients (quadrature to 1e-12).
    log_a, _ = integrate.quad(lambda s: -process.drift_rate(s), 0, t, epsabs=0, epsrel=1e-13)
    var, _ = integrate.quad(
        lambda s: (process.mean_scale(t) / process.mean_scale(s)) ** 2 * process.diffusion(s) ** 2,
        0, t, epsabs=0, epsrel=1e-13)
    assert process.mean_scale(t) == pytest.approx(math.exp(log_a), rel=1e-12)
    assert process.std(t) ** 2 == pytest.approx(var, rel=1e-10)


@pytest.mark.parametrize("process", PROCESSES, ids=IDS)
def test_sample_forward_moments_match_the_transition_law(process) -> None:
    n, t = 40000, 0.6
    x0 = torch.tensor([[1.5, -2.0]], dtype=F64).expand(n, 2)
    xt = sample_forward(process, x0, t, generator=_gen(0))
    a, s = process.mean_scale(t), process.std(t)
    # mean: standard error s / sqrt(n); variance: s^2 sqrt(2 / n) (Gaussian)
    assert torch.all((xt.mean(0) - a * x0[0]).abs() < 4.5 * s / math.sqrt(n))
    assert torch.all((xt.var(0) - s * s).abs() < 4.5 * s * s * math.sqrt(2 / n))


@pytest.mark.parametrize("process", PROCESSES[:3], ids=IDS[:3])
def test_euler_maruyama_simulation_of_the_sde_has_the_closed_form_marginal(process) -> None:
    # Simulating dx = -b x dt + g dB by Euler-Maruyama with 400 steps: mean and variance agree
    # with a(t) x0, sigma(t)^2 within Monte Carlo error + the O(h) weak error (h = 1/400).
    n, steps, t = 20000, 400, 1.0
    g = _gen(1)
    x0 = 0.8
    x = torch.full((n, 1), x0, dtype=F64)
    h = t / steps
    for k in range(steps):
        s = k * h
        x = x + h * process.drift(x, s) + process.diffusion(s) * math.sqrt(h) * torch.randn(
            n, 1, generator=g, dtype=F64)
    a, sd = process.mean_scale(t), process.std(t)
    bias = 10 * h * max(1.0, sd * sd)
    assert abs(float(x.mean()) - a * x0) < 4.5 * sd / math.sqrt(n) + bias
    assert abs(float(x.var()) - sd * sd) < 4.5 * sd * sd * math.sqrt(2 / n) + bias


def test_per_row_times() -> None:
    p = OrnsteinUhlenbeck()
    x0 = torch.ones(3, 2, dtype=F64)
    t = torch.tensor([0.0, 1.0, 2.0], dtype=F64)
    torch.testing.assert_close(p.marginal_mean(x0, t),
                               torch.exp(-t)[:, None].expand(3, 2), rtol=1e-15, atol=0)
    xt = sample_forward(p, x0, t, generator=_gen(2))
    assert torch.equal(xt[0], x0[0])  # t = 0: no noise
    torch.testing.assert_close(p.std(t), torch.sqrt(-torch.expm1(-2 * t)))


def test_sampling_is_reproducible_and_follows_dtype() -> None:
    p = HeatFlow()
    x0 = torch.zeros(5, 3, dtype=torch.float32)
    a = sample_forward(p, x0, 0.5, generator=_gen(3))
    b = sample_forward(p, x0, 0.5, generator=_gen(3))
    assert a.dtype == torch.float32 and torch.equal(a, b)
    prior = sample_prior(OrnsteinUhlenbeck(), 20000, 2, 3.0, generator=_gen(4))
    sd = OrnsteinUhlenbeck().std(3.0)
    assert prior.dtype == F64 and prior.shape == (20000, 2)
    assert torch.all((prior.var(0) - sd**2).abs() < 4.5 * sd**2 * math.sqrt(2 / 20000))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: OrnsteinUhlenbeck().std(-1.0), "t: expected a finite time >= 0"),
        (lambda: HeatFlow().mean_scale(float("nan")), "t: expected"),
        (lambda: VariancePreserving(-1.0, 2.0), "beta_min"),
        (lambda: VariancePreserving(1.0, float("inf")), "beta_max"),
        (lambda: sample_forward(HeatFlow(), torch.zeros(3), 1.0, generator=_gen(0)), "x0"),
        (lambda: sample_forward("ou", torch.zeros(3, 1), 1.0, generator=_gen(0)), "process"),
        (lambda: sample_forward(HeatFlow(), torch.zeros(3, 1), torch.ones(2), generator=_gen(0)),
         "t: expected a scalar or one time per row"),
        (lambda: sample_prior(HeatFlow(), 0, 2, 1.0, generator=_gen(0)), "n: expected"),
    ],
)
def test_bad_input_names_the_argument(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()
