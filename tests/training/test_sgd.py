"""Least-squares SGD: the exact noise floor, its first-order limit, the c/k constant, inputs."""

from __future__ import annotations

import pytest
import torch

from mathdl.training import (
    StepSchedule,
    least_squares_sgd,
    lms_decaying_step_constant,
    lms_noise_floor,
)

DT = torch.float64
H = torch.tensor([0.5, 1.0, 2.0], dtype=DT)
W = torch.tensor([1.0, -1.0, 0.5], dtype=DT)


def test_noise_floor_closed_forms():
    # one dimension: A = eta h / (2 (1 - eta h)), floor = sigma^2 eta h / (2 (2 - 3 eta h))
    h, eta = torch.tensor([1.5], dtype=DT), 0.1
    assert lms_noise_floor(h, eta, 2.0) == pytest.approx(2.0 * eta * 1.5 / (2 * (2 - 3 * 0.15)))
    # eta -> 0: eta sigma^2 tr(H) / 4
    assert lms_noise_floor(H, 1e-6, 1.0) / 1e-6 == pytest.approx(float(H.sum()) / 4, rel=1e-5)
    assert lms_noise_floor(H, 0.1, 0.0) == 0.0
    c = 2.0
    expected = 0.5 * c**2 * sum(h**2 / (2 * c * h - 1) for h in (0.5, 1.0, 2.0))
    assert lms_decaying_step_constant(H, c, 1.0) == pytest.approx(expected)


def test_the_simulated_floor_matches_the_exact_formula():
    g = torch.Generator().manual_seed(0)
    eta = 0.1
    traj = least_squares_sgd(H, W, noise_std=1.0, schedule=StepSchedule.CONSTANT, step=eta,
                             steps=1500, record_steps=list(range(500, 1501, 50)), runs=3000,
                             generator=g)
    measured = float(traj.excess_risk.mean())
    # the first-order value eta tr(H) / 4 = 0.0875 is 15% off at this step: the test separates
    stderr = float(traj.standard_error.mean()) / len(traj.steps) ** 0.5
    assert measured == pytest.approx(lms_noise_floor(H, eta, 1.0), abs=6 * stderr + 1e-3)
    assert abs(measured - eta * float(H.sum()) / 4) > 0.01


def test_the_inverse_time_step_reaches_the_asymptotic_constant():
    g = torch.Generator().manual_seed(1)
    traj = least_squares_sgd(H, W, noise_std=1.0, schedule=StepSchedule.INVERSE_TIME, step=2.0,
                             offset=10.0, steps=8000, record_steps=[2000, 4000, 8000],
                             runs=2000, generator=g)
    scaled = [k * float(e) for k, e in zip(traj.steps, traj.excess_risk, strict=True)]
    assert sum(scaled) / 3 == pytest.approx(lms_decaying_step_constant(H, 2.0, 1.0), rel=0.06)


def test_same_seed_same_numbers_and_zero_noise_converges():
    kwargs = dict(noise_std=0.3, schedule=StepSchedule.CONSTANT, step=0.1, steps=50,
                  record_steps=[0, 50], runs=4)
    a = least_squares_sgd(H, W, generator=torch.Generator().manual_seed(3), **kwargs)
    b = least_squares_sgd(H, W, generator=torch.Generator().manual_seed(3), **kwargs)
    assert torch.equal(a.excess_risk, b.excess_risk)
    quiet = least_squares_sgd(H, W, noise_std=0.0, schedule=StepSchedule.CONSTANT, step=0.2,
                              steps=2000, record_steps=[2000], runs=4,
                              generator=torch.Generator().manual_seed(3))
    assert float(quiet.excess_risk[-1]) < 1e-20


@pytest.mark.parametrize(("call", "message"), [
    (lambda: lms_noise_floor(H, 0.6, 1.0), "step: expected eta < 1 / max"),
    (lambda: lms_noise_floor(H, 0.45, 1.0), "second moments diverge"),
    (lambda: lms_decaying_step_constant(H, 0.5, 1.0), "2 c min"),
    (lambda: lms_noise_floor(torch.tensor([0.0, 1.0], dtype=DT), 0.1, 1.0), "h: expected"),
    (lambda: least_squares_sgd(H, W, noise_std=1.0, schedule="constant", step=0.1, steps=10,
                               record_steps=[10], runs=2, generator=torch.Generator()),
     "schedule"),
    (lambda: least_squares_sgd(H, W, noise_std=1.0, schedule=StepSchedule.CONSTANT, step=0.1,
                               steps=10, record_steps=[11], runs=2, generator=torch.Generator()),
     "record_steps"),
    (lambda: least_squares_sgd(H, W, noise_std=1.0, schedule=StepSchedule.CONSTANT, step=5.0,
                               steps=400, record_steps=[400], runs=2,
                               generator=torch.Generator()), "diverged"),
])
def test_bad_input_is_one_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
