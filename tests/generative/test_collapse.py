"""Collapse time, excess entropy and posterior weights of the empirical-score dynamics."""

from __future__ import annotations

import math

import pytest
import torch

from mathdl.generative import (
    HeatFlow,
    OrnsteinUhlenbeck,
    collapse_time,
    excess_entropy,
    posterior_weights,
)

F64 = torch.float64
OU = OrnsteinUhlenbeck()


@pytest.mark.parametrize(("d", "n", "s2"), [(20, 55, 1.0), (30, 403, 1.0), (10, 1000, 4.0)])
def test_isotropic_ou_collapse_time_closed_form(d, n, s2):
    expected = 0.5 * math.log(1 + s2 / (n ** (2 / d) - 1))
    assert collapse_time(torch.full((d,), s2, dtype=F64), n, OU) == pytest.approx(expected,
                                                                                  rel=1e-10)


def test_excess_entropy_is_the_entropy_gap_and_decreases():
    lam = torch.tensor([0.5, 1.0, 3.0], dtype=F64)
    t = 0.7
    a2, s2 = math.exp(-2 * t), 1 - math.exp(-2 * t)
    # entropy of N(0, a^2 diag(lam) + s^2 I) minus that of N(0, s^2 I), per dimension
    gap = sum(0.5 * math.log(2 * math.pi * math.e * (a2 * v + s2)) for v in lam.tolist()) / 3
    gap -= 0.5 * math.log(2 * math.pi * math.e * s2)
    assert excess_entropy(lam, OU, t) == pytest.approx(gap, rel=1e-12)
    values = [excess_entropy(lam, OU, u) for u in (0.1, 0.3, 1.0, 3.0)]
    assert values == sorted(values, reverse=True)
    # the time solving f(t) = log(n)/d for an anisotropic spectrum, and under the heat flow
    tc = collapse_time(lam, 50, OU)
    assert excess_entropy(lam, OU, tc) == pytest.approx(math.log(50) / 3, rel=1e-9)
    th = collapse_time(lam, 50, HeatFlow())
    assert excess_entropy(lam, HeatFlow(), th) == pytest.approx(math.log(50) / 3, rel=1e-9)


def test_more_points_collapse_later_in_the_reverse_dynamics():
    # t_C shrinks as n grows relative to e^d
    times = [collapse_time(torch.ones(20, dtype=F64), n, OU) for n in (10, 100, 1000, 10_000)]
    assert times == sorted(times, reverse=True) and times[-1] > 0


def test_posterior_weights_are_the_softmax_and_concentrate_as_t_goes_to_zero():
    g = torch.Generator().manual_seed(0)
    points = torch.randn(7, 3, generator=g, dtype=F64)
    x = torch.randn(5, 3, generator=g, dtype=F64)
    t = 0.4
    a, s = math.exp(-t), math.sqrt(1 - math.exp(-2 * t))
    logits = -((x[:, None] - a * points[None]) ** 2).sum(-1) / (2 * s * s)
    w = posterior_weights(points, OU, x, t)
    torch.testing.assert_close(w, torch.softmax(logits, 1), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(w.sum(1), torch.ones(5, dtype=F64))
    # a state near a noised training point: its weight -> 1 as t -> 0
    near = (math.exp(-1e-3) * points[2] + 1e-3)[None]
    assert float(posterior_weights(points, OU, near, 1e-3)[0, 2]) > 1 - 1e-9


@pytest.mark.parametrize(("call", "message"), [
    (lambda: collapse_time(torch.ones(3, dtype=F64), 1, OU), "n: expected"),
    (lambda: collapse_time(torch.tensor([-1.0], dtype=F64), 10, OU), "eigenvalues"),
    (lambda: excess_entropy(torch.ones(3, dtype=F64), OU, 0.0), "t: expected"),
    (lambda: posterior_weights(torch.ones(4, 3, dtype=F64), OU, torch.ones(2, 2, dtype=F64),
                               0.5), "x: expected"),
])
def test_bad_input_is_one_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
