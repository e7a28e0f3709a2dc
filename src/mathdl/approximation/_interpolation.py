r"""Piecewise-linear interpolation on uniform grids of the unit cube.

A grid with :math:`n` nodes per axis, :math:`x_i = i/(n-1)`, has :math:`N = n^d` nodes and mesh
size :math:`h = 1/(n-1)`. Both schemes below reproduce affine functions, so for
:math:`f \in C^2` their error is :math:`O(h^2) = O(N^{-2/d})`: the rate degrades with the
dimension (the curse of dimensionality for linear approximation from point samples).

* ``SIMPLICIAL``: the continuous P1 interpolant on the Kuhn (Freudenthal) triangulation, which cuts
  every cube cell into :math:`d!` simplices, one per ordering of the fractional coordinates.
  Evaluation touches :math:`d + 1` nodes and costs :math:`O(d \log d)` per point.
* ``MULTILINEAR``: the tensor product of 1-D hat functions (Q1), touching the :math:`2^d` corners
  of the cell; exact for every multilinear function.

References:
    H. Freudenthal, "Simplizialzerlegungen von beschränkter Flachheit", Annals of Mathematics
    43 (1942) 580-582; H. W. Kuhn, "Some combinatorial lemmas in topology", IBM J. Res. Dev. 4
    (1960) 518-524; P. G. Ciarlet, *The Finite Element Method for Elliptic Problems*,
    North-Holland 1978, Thm. 3.1.6 (interpolation error :math:`O(h^2)` in :math:`L^2`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = [
    "PiecewiseLinearScheme",
    "grid_values",
    "piecewise_linear_interpolate",
    "uniform_grid",
]


class PiecewiseLinearScheme(enum.Enum):
    """How a cell of the uniform grid is interpolated.

    ``SIMPLICIAL``: P1 on the Kuhn-Freudenthal triangulation (:math:`d + 1` nodes per point).
    ``MULTILINEAR``: tensor-product hat functions (:math:`2^d` nodes per point).
    """

    SIMPLICIAL = "simplicial"
    MULTILINEAR = "multilinear"


def _check_grid(n: int, d: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n: expected an integer >= 2 (nodes per axis), got {n!r}")
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise ValueError(f"d: expected a positive integer, got {d!r}")


def uniform_grid(
    n: int,
    d: int,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> Tensor:
    r"""The :math:`n^d` nodes :math:`(i_1, \dots, i_d)/(n-1)` of the uniform grid of the cube.

    Args:
        n: nodes per axis, :math:`n \ge 2`.
        d: dimension :math:`d \ge 1`.
        dtype: dtype of the nodes (float64 by default).
        device: device of the nodes.

    Returns:
        ``(n**d, d)`` tensor in C order: row :math:`\sum_j i_j n^{d-1-j}` is the node
        :math:`i/(n-1)` (last axis fastest), matching ``values.reshape(-1)`` for ``values`` of
        shape ``(n,) * d``.

    Raises:
        ValueError: if ``n < 2`` or ``d < 1``.
    """
    _check_grid(n, d)
    axis = torch.arange(n, dtype=dtype, device=device) / (n - 1)
    mesh = torch.meshgrid(*([axis] * d), indexing="ij")
    return torch.stack(mesh, dim=-1).reshape(n**d, d)


def grid_values(
    f: Callable[[Tensor], Tensor],
    n: int,
    d: int,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> Tensor:
    r"""Samples of ``f`` at the nodes of :func:`uniform_grid`.

    Args:
        f: function mapping ``(k, d)`` points to ``(k,)`` values.
        n: nodes per axis, :math:`n \ge 2`.
        d: dimension :math:`d \ge 1`.
        dtype: dtype of the nodes (float64 by default).
        device: device of the nodes.

    Returns:
        Tensor of shape ``(n,) * d`` whose entry ``[i_1, ..., i_d]`` is :math:`f(i/(n-1))`.

    Raises:
        ValueError: if ``n < 2``, ``d < 1`` or ``f`` does not return ``n**d`` values.
    """
    nodes = uniform_grid(n, d, dtype=dtype, device=device)
    values = f(nodes)
    if not isinstance(values, Tensor) or values.shape != (nodes.shape[0],):
        shape = tuple(values.shape) if isinstance(values, Tensor) else type(values).__name__
        raise ValueError(f"f: expected to map (k, d) points to a (k,) tensor, got {shape}")
    return values.reshape((n,) * d)


def piecewise_linear_interpolate(
    values: Tensor,
    x: Tensor,
    *,
    scheme: PiecewiseLinearScheme = PiecewiseLinearScheme.SIMPLICIAL,
) -> Tensor:
    r"""Evaluate the piecewise-linear interpolant of grid samples at arbitrary points.

    Write :math:`u = (n - 1) x`, :math:`v_0 = \min(\lfloor u \rfloor, n - 2)` (the lower corner
    of the cell, so that points with a coordinate equal to 1 fall in the last cell) and
    :math:`t = u - v_0 \in [0, 1]^d`.

    ``SIMPLICIAL`` (Freudenthal 1942; Kuhn 1960): sort :math:`t_{\pi_1} \ge \dots \ge
    t_{\pi_d}`, set :math:`v_k = v_{k-1} + e_{\pi_k}`; then

    .. math::
        I f(x) = (1 - t_{\pi_1}) f(v_0) + \sum_{k=1}^{d-1} (t_{\pi_k} - t_{\pi_{k+1}}) f(v_k)
        + t_{\pi_d} f(v_d),

    the barycentric coordinates of :math:`x` in the simplex :math:`[v_0, \dots, v_d]`; the
    interpolant is continuous and exact for every affine :math:`f`.

    ``MULTILINEAR``:

    .. math::
        I f(x) = \sum_{c \in \{0,1\}^d} f(v_0 + c) \prod_{j=1}^d t_j^{c_j} (1 - t_j)^{1 - c_j},

    exact for every multilinear :math:`f`.

    Args:
        values: ``(n,) * d`` samples :math:`f(i/(n-1))` (e.g. from :func:`grid_values`),
            :math:`n \ge 2`, floating dtype.
        x: ``(k, d)`` evaluation points in :math:`[0, 1]^d`, floating dtype.
        scheme: :class:`PiecewiseLinearScheme`.

    Returns:
        ``(k,)`` interpolated values, in the promoted dtype of ``values`` and ``x``. Differentiable
        in ``values`` and (almost everywhere) in ``x``.

    Raises:
        ValueError: if ``values`` is not a cube of side >= 2, ``x`` is not ``(k, d)``, a dtype is
            not floating, ``x`` has points outside :math:`[0, 1]^d` (or NaN), or ``scheme`` is not
            a :class:`PiecewiseLinearScheme`.
    """
    if not isinstance(scheme, PiecewiseLinearScheme):
        raise ValueError(f"scheme: expected a PiecewiseLinearScheme, got {scheme!r}")
    d = values.ndim
    if d < 1:
        raise ValueError("values: expected at least one dimension, got a 0-dim tensor")
    n = values.shape[0]
    if n < 2 or any(size != n for size in values.shape):
        raise ValueError(f"values: expected shape (n,)*d with n >= 2, got {tuple(values.shape)}")
    if not values.is_floating_point():
        raise ValueError(f"values: expected a floating dtype, got {values.dtype}")
    if x.ndim != 2 or x.shape[1] != d:
        raise ValueError(f"x: expected shape (k, {d}), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"x: expected a floating dtype, got {x.dtype}")
    if not bool(((x >= 0) & (x <= 1)).all()):
        raise ValueError("x: expected points in the closed unit cube [0, 1]^d")

    dtype = torch.promote_types(values.dtype, x.dtype)
    flat_values = values.to(dtype).reshape(-1)
    u = x.to(dtype) * (n - 1)
    corner = torch.clamp(torch.floor(u.detach()), max=n - 2).to(torch.int64)
    t = u - corner.to(dtype)
    strides = torch.tensor(
        [n ** (d - 1 - j) for j in range(d)], dtype=torch.int64, device=values.device
    )
    base = (corner * strides).sum(dim=-1)  # (k,) flat index of the lower corner v_0

    if scheme is PiecewiseLinearScheme.SIMPLICIAL:
        t_sorted, order = torch.sort(t, dim=-1, descending=True)
        # v_k = v_0 + e_{pi_1} + ... + e_{pi_k}: cumulative strides along the sorted axes.
        steps = torch.cumsum(strides[order], dim=-1)
        index = torch.cat([base[:, None], base[:, None] + steps], dim=-1)  # (k, d + 1)
        one = torch.ones_like(t_sorted[:, :1])
        bounds = torch.cat([one, t_sorted, torch.zeros_like(one)], dim=-1)  # 1, t_pi..., 0
        weights = bounds[:, :-1] - bounds[:, 1:]  # (k, d + 1), barycentric coordinates
        return (weights * flat_values[index]).sum(dim=-1)

    result = torch.zeros(x.shape[0], dtype=dtype, device=values.device)
    for c in range(2**d):
        bits = [(c >> (d - 1 - j)) & 1 for j in range(d)]
        offset = sum(b * n ** (d - 1 - j) for j, b in enumerate(bits))
        weight = torch.ones_like(result)
        for j, b in enumerate(bits):
            weight = weight * (t[:, j] if b else 1 - t[:, j])
        result = result + weight * flat_values[base + offset]
    return result
