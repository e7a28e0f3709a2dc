"""Interpolation primitives against SciPy, on the same inputs, in one run.

* multilinear interpolation on a uniform grid of [0,1]^3 vs
  ``scipy.interpolate.RegularGridInterpolator`` (method="linear": the same tensor-product
  interpolant);
* barycentric polynomial interpolation at Chebyshev points vs
  ``scipy.interpolate.BarycentricInterpolator``.

Prints median wall times over repeats, the ratio (SciPy / mathdl) and the max difference of the
two results. Asserts nothing timed; run with ``python benchmarks/approximation_interpolation.py``.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch
from scipy.interpolate import BarycentricInterpolator, RegularGridInterpolator

from mathdl.approximation import (
    PiecewiseLinearScheme,
    barycentric_interpolate,
    chebyshev_nodes,
    gaussian_product,
    grid_values,
    piecewise_linear_interpolate,
    runge_function,
)


def median_time(fn, repeats: int = 7) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def report(name: str, ours, theirs, t_ours: float, t_theirs: float) -> None:
    diff = float(np.max(np.abs(np.asarray(ours) - np.asarray(theirs))))
    print(f"{name:<44} mathdl {1e3 * t_ours:9.2f} ms   scipy {1e3 * t_theirs:9.2f} ms   "
          f"scipy/mathdl {t_theirs / t_ours:6.2f}x   max |diff| {diff:.1e}")


def bench_multilinear(n: int = 64, d: int = 3, k: int = 200_000) -> None:
    f = lambda x: gaussian_product(x, sharpness=5.0)  # noqa: E731
    values = grid_values(f, n, d)
    x = torch.rand(k, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    axes = [np.linspace(0.0, 1.0, n)] * d
    scipy_interp = RegularGridInterpolator(axes, values.numpy(), method="linear")
    xn = x.numpy()

    def ours():
        return piecewise_linear_interpolate(values, x, scheme=PiecewiseLinearScheme.MULTILINEAR)

    report(f"multilinear d={d}, n={n}, {k} points", ours(), scipy_interp(xn),
           median_time(ours), median_time(lambda: scipy_interp(xn)))

    def simplicial():
        return piecewise_linear_interpolate(values, x, scheme=PiecewiseLinearScheme.SIMPLICIAL)

    t = median_time(simplicial)
    print(f"{'simplicial (Kuhn) d=3, same points':<44} mathdl {1e3 * t:9.2f} ms   "
          "(no SciPy counterpart on this triangulation)")


def bench_barycentric(degree: int = 200, k: int = 200_000) -> None:
    nodes = chebyshev_nodes(degree)
    values = runge_function(nodes)
    x = torch.linspace(-1.0, 1.0, k, dtype=torch.float64)
    scipy_interp = BarycentricInterpolator(nodes.numpy(), values.numpy())
    xn = x.numpy()

    def ours():
        return barycentric_interpolate(nodes, values, x)

    report(f"barycentric Chebyshev degree {degree}, {k} points", ours(), scipy_interp(xn),
           median_time(ours), median_time(lambda: scipy_interp(xn)))


if __name__ == "__main__":
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
    bench_multilinear()
    bench_barycentric()
