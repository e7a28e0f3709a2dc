r"""Convergence rates fitted by ordinary least squares on logarithmic data.

A rate claim ("the error decays like :math:`m^{-2/d}`", "the error grows like :math:`1.49^n`")
is checked by fitting a straight line to the logarithm of the measurements:

* power law, :math:`y \approx C x^{p}`: regress :math:`\log y` on :math:`\log x`;
* exponential, :math:`y \approx C e^{\lambda x}`: regress :math:`\log y` on :math:`x`.

The slope is the fitted order :math:`p` (or rate :math:`\lambda`) and the intercept is
:math:`\log C`. Everything is computed in float64 with numpy and returned as Python floats.

Reference: the ordinary-least-squares formulas and the standard error of the slope are the
classical ones, e.g. Seber & Lee, *Linear Regression Analysis*, 2nd ed., Wiley 2003, §3 and §4.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["RateFit", "RateModel", "fit_exponential_rate", "fit_power_law"]


class RateModel(enum.Enum):
    r"""Which straight line a :class:`RateFit` describes.

    ``POWER_LAW``: :math:`\log y = a + b \log x`, i.e. :math:`y = e^{a} x^{b}`.
    ``EXPONENTIAL``: :math:`\log y = a + b x`, i.e. :math:`y = e^{a + b x}`.
    """

    POWER_LAW = "power_law"
    EXPONENTIAL = "exponential"


@dataclass(frozen=True)
class RateFit:
    r"""A least-squares line through logarithmic data.

    Attributes:
        slope: fitted slope :math:`b` (the order of a power law or the rate of an exponential).
        intercept: fitted intercept :math:`a` (the logarithm of the prefactor).
        slope_stderr: classical OLS standard error of the slope,
            :math:`\sqrt{\hat\sigma^2 / S_{XX}}` with
            :math:`\hat\sigma^2 = \mathrm{SSE}/(n-2)`; ``nan`` when only two points were given.
        r_squared: coefficient of determination :math:`1 - \mathrm{SSE}/\mathrm{SST}` of the
            log-scale fit (1.0 when the logged responses are all equal and the fit is exact).
        model: which line was fitted (:class:`RateModel`); decides how :meth:`predict` maps back.
        power: the algebraic prefactor's exponent :math:`\alpha` of an exponential fit with
            ``power_correction=True`` (:math:`y = e^{a + b x} x^{\alpha}`); 0 otherwise.
    """

    slope: float
    intercept: float
    slope_stderr: float
    r_squared: float
    model: RateModel = RateModel.POWER_LAW
    power: float = 0.0

    def predict(self, x: float | Sequence[float] | np.ndarray | torch.Tensor) -> np.ndarray | float:
        """The fitted model in the original (not logarithmic) scale.

        Args:
            x: a scalar or an array of abscissae (strictly positive for a power law).

        Returns:
            :math:`e^{a} x^{b}` (power law) or :math:`e^{a + b x}` (exponential); a float for a
            scalar ``x``, otherwise a float64 numpy array of the same shape.

        Raises:
            ValueError: if ``x`` is not strictly positive for a power-law fit.
        """
        arr = _as_float64(x, "x", allow_scalar=True)
        scalar = arr.ndim == 0
        xs = np.atleast_1d(arr)
        if self.model is RateModel.POWER_LAW:
            if np.any(xs <= 0):
                raise ValueError("x: expected strictly positive values for a power-law prediction")
            out = np.exp(self.intercept + self.slope * np.log(xs))
        else:
            out = np.exp(self.intercept + self.slope * xs)
            if self.power != 0.0:
                out = out * xs**self.power
        return float(out[0]) if scalar else out


def _as_float64(
    a: float | Sequence[float] | np.ndarray | torch.Tensor, name: str, *, allow_scalar: bool = False
) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().to("cpu", torch.float64).numpy()
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected a sequence of real numbers") from exc
    if not allow_scalar and arr.ndim != 1:
        raise ValueError(f"{name}: expected a one-dimensional sequence, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: expected finite values")
    return arr


def _ols(x: np.ndarray, y: np.ndarray, *, x_name: str, model: RateModel) -> RateFit:
    """Ordinary least squares of ``y`` on ``x`` (both already transformed)."""
    n = x.shape[0]
    x_mean = x.mean()
    y_mean = y.mean()
    dx = x - x_mean
    dy = y - y_mean
    sxx = float(dx @ dx)
    if sxx == 0.0:
        raise ValueError(f"{x_name}: expected at least two distinct values")
    slope = float(dx @ dy) / sxx
    intercept = float(y_mean - slope * x_mean)
    residuals = dy - slope * dx
    sse = float(residuals @ residuals)
    sst = float(dy @ dy)
    r_squared = 1.0 - sse / sst if sst > 0.0 else 1.0
    slope_stderr = math.sqrt(sse / (n - 2) / sxx) if n >= 3 else math.nan
    return RateFit(
        slope=slope,
        intercept=intercept,
        slope_stderr=slope_stderr,
        r_squared=r_squared,
        model=model,
    )


def _validate_pair(
    x: Sequence[float] | np.ndarray | torch.Tensor,
    y: Sequence[float] | np.ndarray | torch.Tensor,
) -> tuple[np.ndarray, np.ndarray]:
    xs = _as_float64(x, "x")
    ys = _as_float64(y, "y")
    if xs.shape != ys.shape:
        raise ValueError(f"x, y: expected equal lengths, got {xs.shape[0]} and {ys.shape[0]}")
    if xs.shape[0] < 2:
        raise ValueError(f"x: expected at least 2 points, got {xs.shape[0]}")
    if np.any(ys <= 0):
        raise ValueError("y: expected strictly positive values (the fit takes log y)")
    return xs, ys


def fit_power_law(
    x: Sequence[float] | np.ndarray | torch.Tensor,
    y: Sequence[float] | np.ndarray | torch.Tensor,
) -> RateFit:
    r"""Fit :math:`y \approx e^{a} x^{b}` by least squares of :math:`\log y` on :math:`\log x`.

    .. math::
        (a, b) = \arg\min_{a, b} \sum_i (\log y_i - a - b \log x_i)^2 .

    The slope :math:`b` is the empirical order, e.g. :math:`-2/d` for the midpoint rule in
    :math:`m = n^d` points. Computed in float64.

    Args:
        x: ``(n,)`` strictly positive, finite abscissae (sequence, numpy array or tensor),
            ``n >= 2`` with at least two distinct values.
        y: ``(n,)`` strictly positive, finite responses.

    Returns:
        :class:`RateFit` with ``model=RateModel.POWER_LAW``; ``slope_stderr`` is ``nan`` if
        ``n == 2``.

    Raises:
        ValueError: on mismatched lengths, fewer than two points, non-finite values, a
            non-positive ``x`` or ``y``, or all ``x`` equal.
    """
    xs, ys = _validate_pair(x, y)
    if np.any(xs <= 0):
        raise ValueError("x: expected strictly positive values (the power-law fit takes log x)")
    return _ols(np.log(xs), np.log(ys), x_name="x", model=RateModel.POWER_LAW)


def fit_exponential_rate(
    x: Sequence[float] | np.ndarray | torch.Tensor,
    y: Sequence[float] | np.ndarray | torch.Tensor,
    *,
    power_correction: bool = False,
) -> RateFit:
    r"""Fit :math:`y \approx e^{a + b x}` by least squares of :math:`\log y` on :math:`x`.

    .. math::
        (a, b) = \arg\min_{a, b} \sum_i (\log y_i - a - b x_i)^2 .

    The slope :math:`b` is the exponential rate, e.g. :math:`-\log\rho` for Chebyshev
    interpolation of a function analytic inside the Bernstein ellipse :math:`E_\rho`.
    Computed in float64.

    With ``power_correction=True`` the model is :math:`y \approx e^{a + b x} x^{\alpha}`,
    fitted by least squares of :math:`\log y` on :math:`(1, x, \log x)`. Asymptotic error laws
    often carry such an algebraic prefactor (equispaced interpolation of a meromorphic function:
    :math:`n^{\alpha} e^{\lambda n}`); a plain exponential fit absorbs it and biases the rate by
    about :math:`\alpha / \bar x`. ``slope_stderr`` is then the OLS standard error of
    :math:`b` in the three-parameter fit (``nan`` with fewer than four points).

    Args:
        x: ``(n,)`` finite abscissae, ``n >= 2`` with at least two distinct values
            (``power_correction``: strictly positive, at least three distinct values).
        y: ``(n,)`` strictly positive, finite responses.
        power_correction: also fit the algebraic prefactor :math:`x^{\alpha}`.

    Returns:
        :class:`RateFit` with ``model=RateModel.EXPONENTIAL`` (and ``power`` = :math:`\alpha`);
        ``slope_stderr`` is ``nan`` if there are no residual degrees of freedom.

    Raises:
        ValueError: on mismatched lengths, fewer than two points, non-finite values, a
            non-positive ``y``, or all ``x`` equal.
    """
    xs, ys = _validate_pair(x, y)
    if not power_correction:
        return _ols(xs, np.log(ys), x_name="x", model=RateModel.EXPONENTIAL)
    if np.any(xs <= 0):
        raise ValueError("x: expected strictly positive values with power_correction (log x)")
    if np.unique(xs).shape[0] < 3:
        raise ValueError("x: expected at least three distinct values with power_correction")
    design = np.stack([np.ones_like(xs), xs, np.log(xs)], axis=1)
    logy = np.log(ys)
    coef, *_ = np.linalg.lstsq(design, logy, rcond=None)
    residuals = logy - design @ coef
    sse = float(residuals @ residuals)
    dy = logy - logy.mean()
    sst = float(dy @ dy)
    dof = xs.shape[0] - 3
    if dof > 0:
        covariance = sse / dof * np.linalg.inv(design.T @ design)
        slope_stderr = math.sqrt(max(float(covariance[1, 1]), 0.0))
    else:
        slope_stderr = math.nan
    return RateFit(
        slope=float(coef[1]),
        intercept=float(coef[0]),
        slope_stderr=slope_stderr,
        r_squared=1.0 - sse / sst if sst > 0.0 else 1.0,
        model=RateModel.EXPONENTIAL,
        power=float(coef[2]),
    )
