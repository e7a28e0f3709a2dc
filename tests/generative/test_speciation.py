"""Speciation: the time scale, the two-class agreement curve against the posterior, and cloning
with the exact score against its exact outcome."""

from __future__ import annotations

import math

import pytest
import torch

from mathdl.generative import (
    GaussianMixture,
    OrnsteinUhlenbeck,
    class_agreement,
    clone_agreement,
    exact_score,
    sample_forward,
    speciation_time,
    two_class_agreement,
)

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _two_classes(d: int, norm2: float, variance: float = 1.0) -> GaussianMixture:
    m = torch.zeros(d, dtype=F64)
    m[0] = math.sqrt(norm2)
    return GaussianMixture(torch.full((2,), 0.5, dtype=F64), torch.stack([m, -m]),
                           torch.full((2,), variance, dtype=F64))


def test_speciation_time_is_half_log_top_eigenvalue() -> None:
    q, _ = torch.linalg.qr(torch.randn(4, 4, generator=_gen(0), dtype=F64))
    cov = (q * torch.tensor([0.5, 3.0, 20.0, 1.0], dtype=F64)) @ q.T
    assert speciation_time(cov) == pytest.approx(0.5 * math.log(20.0), rel=1e-13)
    # two classes +-m with variance s^2: Lambda = s^2 + |m|^2
    assert speciation_time(_two_classes(5, 99.0).covariance()) == pytest.approx(
        0.5 * math.log(100.0), rel=1e-13)


def test_two_class_agreement_limits_and_monotonicity() -> None:
    assert two_class_agreement(0.0) == pytest.approx(0.5, abs=1e-15)
    assert two_class_agreement(400.0) == pytest.approx(1.0, abs=1e-12)
    values = [two_class_agreement(u) for u in (0.01, 0.1, 0.5, 1.0, 2.0, 5.0)]
    assert all(a < b for a, b in zip(values, values[1:], strict=False))
    # the logistic has poles at +-i pi: Gauss-Hermite converges geometrically, 5e-10 at 64 nodes
    assert two_class_agreement(1.0) == pytest.approx(two_class_agreement(1.0, nodes=200),
                                                     rel=2e-9)


@pytest.mark.parametrize(("variance", "t"), [(1.0, 1.5), (0.5, 1.0), (2.0, 2.0)])
def test_agreement_curve_is_the_posterior_agreement(variance: float, t: float) -> None:
    # E_(x_t ~ p_t) sum_k r_k(x_t)^2 = Phi(u), u = e^(-2t)|m|^2 / (1 + e^(-2t)(s^2 - 1));
    # Monte Carlo over x_t, within 4.5 standard errors.
    data, process, n = _two_classes(3, 16.0, variance), OrnsteinUhlenbeck(), 40000
    g = _gen(1)
    x_t = sample_forward(process, data.sample(n, generator=g), t, generator=g)
    agree = class_agreement(data, process, x_t, t)
    u = math.exp(-2 * t) * 16.0 / (1 + math.exp(-2 * t) * (variance - 1))
    se = float(agree.std()) / math.sqrt(n)
    assert abs(float(agree.mean()) - two_class_agreement(u)) < 4.5 * se


def test_curves_collapse_at_the_speciation_time_in_high_dimension() -> None:
    # at t = t_S = (1/2) log Lambda, u = (Lambda - 1)/Lambda -> 1: phi(t_S) = Phi(1) + O(1/Lambda)
    data, process = _two_classes(8, 1e4 - 1.0), OrnsteinUhlenbeck()
    t_s = speciation_time(data.covariance())
    g, n = _gen(2), 40000
    x_t = sample_forward(process, data.sample(n, generator=g), t_s, generator=g)
    agree = class_agreement(data, process, x_t, t_s)
    se = float(agree.std()) / math.sqrt(n)
    assert abs(float(agree.mean()) - two_class_agreement(1.0)) < 4.5 * se + 1e-3


def test_cloning_with_the_exact_score_samples_the_posterior() -> None:
    # clones continued with the exact score are independent draws of x_0 | x_t: their agreement
    # rate is the mean posterior agreement (binomial standard error; Euler-Maruyama bias with
    # h = 0.01 far below it).
    data, process, n, t = _two_classes(4, 9.0), OrnsteinUhlenbeck(), 3000, 1.1
    g = _gen(3)
    x_t = sample_forward(process, data.sample(n, generator=g), t, generator=g)
    agree = clone_agreement(exact_score(data, process), process, x_t, t,
                            lambda x: data.responsibilities(x).argmax(1), steps=110, generator=g)
    exact = float(class_agreement(data, process, x_t, t).mean())
    rate = float(agree.to(F64).mean())
    assert 0.6 < exact < 0.95  # in the transition, where the check is informative
    assert abs(rate - exact) < 4.5 * math.sqrt(exact * (1 - exact) / n) + 0.01


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: speciation_time(torch.ones(2, 3, dtype=F64)), "covariance: expected"),
        (lambda: speciation_time(-torch.eye(2, dtype=F64)), "positive top eigenvalue"),
        (lambda: two_class_agreement(-1.0), "u: expected"),
        (lambda: two_class_agreement(1.0, nodes=1), "nodes"),
        (lambda: clone_agreement(lambda x, t: -x, OrnsteinUhlenbeck(), torch.zeros(3, 2), 1.0,
                                 lambda x: x[:3, 0], steps=2, generator=_gen(0)), "classify"),
    ],
)
def test_bad_input_names_the_argument(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()
