"""Claims on a sweep's aggregated curve: grouping of observations and the experiments' hooks.

The hooks are fed synthetic observations whose metrics follow (or break) the theory, so each test
shows that a right curve passes and a wrong one fails.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from mathdl.approximation import NodeFamily, interpolation_error_rate
from mathdl.atlas import SweepObservation, get_experiment, group_observations

RUNGE = get_experiment("approximation/runge")
NTK = get_experiment("kernels/ntk-convergence")


def _runge_obs(a: float, factor: float = 1.0, seed: int = 0) -> SweepObservation:
    rate = math.log(interpolation_error_rate(complex(0.0, a ** -0.5), NodeFamily.CHEBYSHEV))
    return SweepObservation(config=replace(RUNGE.quick, a=a), seed=seed,
                            metrics={"chebyshev_rate_measured": factor * rate})


def test_groups_pool_seeds_and_name_only_the_varying_fields():
    obs = [SweepObservation(config=replace(NTK.quick, depth=d), seed=s, metrics={"slope": -0.5})
           for d in (1, 2) for s in range(3)]
    groups = group_observations(obs)
    assert [v for v, _ in groups] == [{"depth": 1}, {"depth": 2}]
    assert [len(m) for _, m in groups] == [3, 3]
    assert group_observations(obs, ignore=["depth"])[0][0] == {}
    assert len(group_observations(obs, ignore=["depth"])) == 1


def test_runge_curve_claims_hold_on_the_theory_and_fail_off_it():
    exact = RUNGE.sweep_claims([_runge_obs(a) for a in (16.0, 64.0, 256.0)])
    assert [c.name for c in exact] == ["chebyshev-rate-curve", "chebyshev-rate-slope-in-a"]
    assert all(c.holds for c in exact)
    assert exact[0].measured == pytest.approx(0.0, abs=1e-12)
    assert exact[1].measured == pytest.approx(exact[1].predicted, abs=1e-12)
    # rates 15-20% off at the ends, in opposite directions, tilt the curve: both claims fail
    bent = RUNGE.sweep_claims([_runge_obs(16.0, 0.85), _runge_obs(64.0),
                               _runge_obs(256.0, 1.2)])
    assert not bent[0].holds and not bent[1].holds


def test_runge_curve_claims_need_a_range_of_a():
    assert RUNGE.sweep_claims([_runge_obs(16.0), _runge_obs(25.0), _runge_obs(36.0)]) == ()
    assert RUNGE.sweep_claims([_runge_obs(16.0, seed=s) for s in range(5)]) == ()


def test_ntk_claims_average_the_slope_over_seeds_per_config():
    obs = [SweepObservation(config=replace(NTK.quick, depth=d), seed=s,
                            metrics={"slope": -0.5 + shift + noise})
           for d, shift in ((1, 0.0), (3, -0.3)) for s, noise in enumerate((-0.02, 0.02))]
    claims = NTK.sweep_claims(obs)
    assert [c.name for c in claims] == ["ntk-error-slope-seed-mean[depth=1]",
                                        "ntk-error-slope-seed-mean[depth=3]"]
    assert claims[0].measured == pytest.approx(-0.5) and claims[0].holds
    assert claims[1].measured == pytest.approx(-0.8) and not claims[1].holds
    assert "standard error 0.02" in claims[0].statement
