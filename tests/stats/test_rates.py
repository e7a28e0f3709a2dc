"""Least-squares rate fits: exact recovery, the OLS formulas, and the calibration of the stderr."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from mathdl.stats import RateFit, RateModel, fit_exponential_rate, fit_power_law

# Noiseless data are fitted exactly up to rounding: the logs carry relative errors ~1e-16 and the
# OLS sums amplify them by at most the condition number of the 2x2 normal equations (< 1e3 for
# the abscissae used here), so 1e-10 is a safe yet sharp bound on slope and intercept.
EXACT = 1e-10


@pytest.mark.parametrize(
    ("prefactor", "order"), [(1.0, -2.0), (3.5, -0.5), (1e-3, 1.0), (7.0, 0.0)]
)
def test_power_law_recovers_exact_data(prefactor: float, order: float) -> None:
    x = np.geomspace(4.0, 4096.0, 9)
    y = prefactor * x**order
    fit = fit_power_law(x, y)
    assert fit.model is RateModel.POWER_LAW
    assert fit.slope == pytest.approx(order, abs=EXACT)
    assert fit.intercept == pytest.approx(math.log(prefactor), abs=EXACT)
    assert fit.slope_stderr < EXACT
    assert fit.r_squared == pytest.approx(1.0, abs=EXACT)
    np.testing.assert_allclose(fit.predict(x), y, rtol=1e-9)


@pytest.mark.parametrize(("log_prefactor", "rate"), [(0.0, -0.1987), (-3.0, 0.3988), (2.0, -1.5)])
def test_exponential_rate_recovers_exact_data(log_prefactor: float, rate: float) -> None:
    n = np.arange(4.0, 61.0, 4.0)
    y = np.exp(log_prefactor + rate * n)
    fit = fit_exponential_rate(n, y)
    assert fit.model is RateModel.EXPONENTIAL
    assert fit.slope == pytest.approx(rate, abs=EXACT)
    assert fit.intercept == pytest.approx(log_prefactor, abs=1e-9)
    assert fit.slope_stderr < EXACT
    np.testing.assert_allclose(fit.predict(n), y, rtol=1e-9)


@settings(max_examples=50, deadline=None)
@given(
    slope=st.floats(-4.0, 4.0),
    intercept=st.floats(-10.0, 10.0),
    x0=st.floats(0.1, 100.0),
    ratio=st.floats(1.5, 10.0),
    count=st.integers(2, 12),
)
def test_power_law_exact_recovery_property(
    slope: float, intercept: float, x0: float, ratio: float, count: int
) -> None:
    x = x0 * ratio ** np.arange(count)
    y = np.exp(intercept) * x**slope
    fit = fit_power_law(x, y)
    # log-abscissae span at least log 1.5; the intercept error is the slope error times |mean log x|
    assert fit.slope == pytest.approx(slope, abs=1e-9)
    assert fit.intercept == pytest.approx(intercept, abs=1e-8)


def test_hand_computed_ols() -> None:
    # X = 1..4, log y = (0, 1, 1, 3): Xbar = 2.5, Ybar = 1.25, Sxx = 5, Sxy = 4.5, so
    # slope = 0.9, intercept = -1.0, residuals (0.1, 0.2, -0.7, 0.4), SSE = 0.7, SST = 4.75,
    # stderr = sqrt(SSE / (n - 2) / Sxx) = sqrt(0.07), R^2 = 1 - 0.7 / 4.75.
    x = [1.0, 2.0, 3.0, 4.0]
    y = np.exp([0.0, 1.0, 1.0, 3.0])
    fit = fit_exponential_rate(x, y)
    assert fit.slope == pytest.approx(0.9, abs=1e-14)
    assert fit.intercept == pytest.approx(-1.0, abs=1e-14)
    assert fit.slope_stderr == pytest.approx(math.sqrt(0.07), rel=1e-13)
    assert fit.r_squared == pytest.approx(1.0 - 0.7 / 4.75, rel=1e-13)
    # the same numbers as a power law in exp(X)
    fit_pl = fit_power_law(np.exp(x), y)
    assert fit_pl.slope == pytest.approx(0.9, abs=1e-13)
    assert fit_pl.slope_stderr == pytest.approx(math.sqrt(0.07), rel=1e-12)


def test_matches_scipy_linregress_on_noisy_data() -> None:
    rng = np.random.default_rng(7)
    x = np.geomspace(10, 1e4, 15)
    y = 2.0 * x**-0.7 * np.exp(0.1 * rng.standard_normal(15))
    fit = fit_power_law(x, y)
    ref = scipy_stats.linregress(np.log(x), np.log(y))
    # two implementations of the same closed form: agreement to rounding
    assert fit.slope == pytest.approx(ref.slope, rel=1e-12)
    assert fit.intercept == pytest.approx(ref.intercept, rel=1e-12)
    assert fit.slope_stderr == pytest.approx(ref.stderr, rel=1e-10)
    assert fit.r_squared == pytest.approx(ref.rvalue**2, rel=1e-12)


def test_stderr_is_calibrated() -> None:
    # With Gaussian noise of s.d. sigma on log y, the OLS slope has s.d. sigma / sqrt(Sxx) and
    # E[stderr^2] equals that variance. Over R = 2000 replicates the sample s.d. has relative s.d.
    # about 1/sqrt(2R) = 1.6% and the mean of stderr^2 about sqrt(2/(R (n-2))) = 1.1%; we allow
    # ~4 of those. A stderr without the 1/(n-2) correction is off by sqrt(10/8) = 12%.
    rng = np.random.default_rng(11)
    x = np.arange(1.0, 11.0)
    sigma = 0.3
    sxx = float(((x - x.mean()) ** 2).sum())
    fits = [
        fit_exponential_rate(x, np.exp(1.0 - 0.5 * x + sigma * rng.standard_normal(10)))
        for _ in range(2000)
    ]
    slopes = np.array([f.slope for f in fits])
    stderrs = np.array([f.slope_stderr for f in fits])
    expected = sigma / math.sqrt(sxx)
    assert slopes.mean() == pytest.approx(-0.5, abs=4 * expected / math.sqrt(2000))
    assert slopes.std(ddof=1) == pytest.approx(expected, rel=0.07)
    assert (stderrs**2).mean() == pytest.approx(expected**2, rel=0.05)


def test_two_points_give_nan_stderr() -> None:
    fit = fit_power_law([2.0, 8.0], [1.0, 1.0 / 16.0])
    assert fit.slope == pytest.approx(-2.0, abs=EXACT)
    assert math.isnan(fit.slope_stderr)


def test_accepts_tensors_and_returns_python_floats() -> None:
    x = torch.tensor([1.0, 2.0, 4.0, 8.0], dtype=torch.float32)
    fit = fit_power_law(x, 3.0 * x**-1)
    for value in (fit.slope, fit.intercept, fit.slope_stderr, fit.r_squared):
        assert type(value) is float
    # float32 inputs: relative rounding 6e-8 in y, hence ~1e-7 in the slope
    assert fit.slope == pytest.approx(-1.0, abs=1e-6)


def test_predict_scalar_and_array() -> None:
    fit = RateFit(slope=-2.0, intercept=math.log(3.0), slope_stderr=0.0, r_squared=1.0)
    assert fit.model is RateModel.POWER_LAW
    value = fit.predict(2.0)
    assert isinstance(value, float)
    assert value == pytest.approx(0.75, rel=1e-15)
    arr = fit.predict([1.0, 2.0])
    assert isinstance(arr, np.ndarray)
    np.testing.assert_allclose(arr, [3.0, 0.75], rtol=1e-15)
    exp_fit = RateFit(0.5, 0.0, 0.0, 1.0, RateModel.EXPONENTIAL)
    assert exp_fit.predict(-2.0) == pytest.approx(math.exp(-1.0), rel=1e-15)
    with pytest.raises(ValueError, match="x"):
        fit.predict(-1.0)


def test_exponential_fit_allows_nonpositive_x() -> None:
    fit = fit_exponential_rate([-2.0, 0.0, 2.0], np.exp([1.0, 0.0, -1.0]))
    assert fit.slope == pytest.approx(-0.5, abs=EXACT)


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        ([1.0, 2.0, 3.0], [1.0, 2.0], "x, y"),
        ([1.0], [1.0], "x"),
        ([1.0, 2.0], [1.0, 0.0], "y"),
        ([1.0, 2.0], [1.0, -3.0], "y"),
        ([0.0, 2.0], [1.0, 2.0], "x"),
        ([1.0, float("nan")], [1.0, 2.0], "x"),
        ([1.0, 2.0], [1.0, float("inf")], "y"),
        ([2.0, 2.0, 2.0], [1.0, 2.0, 3.0], "x"),
        ([[1.0, 2.0]], [[1.0, 2.0]], "x"),
        (["a", "b"], [1.0, 2.0], "x"),
    ],
)
def test_power_law_rejects_bad_input(x: object, y: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fit_power_law(x, y)  # type: ignore[arg-type]


def test_exponential_rejects_nonpositive_y() -> None:
    with pytest.raises(ValueError, match="y"):
        fit_exponential_rate([1.0, 2.0, 3.0], [1.0, 0.0, 2.0])


@pytest.mark.parametrize(("rate", "power"), [(0.3989, -0.8), (-0.1987, 0.0), (0.05, 1.5)])
def test_power_corrected_exponential_recovers_exact_data(rate: float, power: float) -> None:
    # y = 2 e^{rate n} n^power exactly: the three-parameter fit is exact up to rounding, while the
    # plain exponential fit is biased by about power / mean(n) (that bias is what it corrects).
    n = np.arange(10.0, 50.0, 2.0)
    y = 2.0 * np.exp(rate * n) * n**power
    fit = fit_exponential_rate(n, y, power_correction=True)
    assert fit.slope == pytest.approx(rate, abs=1e-10)
    assert fit.power == pytest.approx(power, abs=1e-9)
    assert fit.intercept == pytest.approx(math.log(2.0), abs=1e-8)
    assert fit.slope_stderr < 1e-9 and fit.r_squared == pytest.approx(1.0)
    assert fit.predict(20.0) == pytest.approx(2.0 * math.exp(rate * 20.0) * 20.0**power)
    plain = fit_exponential_rate(n, y)
    if power != 0.0:
        assert abs(plain.slope - rate) > 0.1 * abs(power) / n.mean()


def test_power_correction_rejects_nonpositive_or_too_few_x() -> None:
    with pytest.raises(ValueError, match="strictly positive"):
        fit_exponential_rate([0.0, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0], power_correction=True)
    with pytest.raises(ValueError, match="three distinct"):
        fit_exponential_rate([1.0, 2.0, 2.0], [1.0, 2.0, 3.0], power_correction=True)
