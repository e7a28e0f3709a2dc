"""Approximation: quadrature, piecewise-linear and polynomial interpolation, and their rates."""

from mathdl.approximation._interpolation import (
    PiecewiseLinearScheme,
    grid_values,
    piecewise_linear_interpolate,
    uniform_grid,
)
from mathdl.approximation._polynomial import (
    NodeFamily,
    barycentric_interpolate,
    barycentric_weights,
    bernstein_ellipse_rho,
    chebyshev_nodes,
    equispaced_nodes,
    interpolation_error_rate,
    log_potential,
    runge_function,
)
from mathdl.approximation._quadrature import (
    gaussian_product,
    gaussian_product_integral,
    gaussian_product_variance,
    midpoint_rule,
    monte_carlo_integral,
)

__all__ = [
    "NodeFamily",
    "PiecewiseLinearScheme",
    "barycentric_interpolate",
    "barycentric_weights",
    "bernstein_ellipse_rho",
    "chebyshev_nodes",
    "equispaced_nodes",
    "gaussian_product",
    "gaussian_product_integral",
    "gaussian_product_variance",
    "grid_values",
    "interpolation_error_rate",
    "log_potential",
    "midpoint_rule",
    "monte_carlo_integral",
    "piecewise_linear_interpolate",
    "runge_function",
    "uniform_grid",
]
