r"""Integration on the unit cube: a tensor-product rule against plain Monte Carlo.

The test integrand is the Gaussian product

.. math::
    f_s(x) = \exp\Big(-s \sum_{i=1}^d (x_i - \tfrac12)^2\Big), \qquad x \in [0, 1]^d,

whose integral and variance under the uniform law factorise into one-dimensional closed forms.
The midpoint rule with :math:`n` points per axis (:math:`m = n^d` nodes) has error
:math:`O(n^{-2}) = O(m^{-2/d})` (curse of dimensionality), while Monte Carlo with :math:`m`
uniform points has root-mean-square error :math:`\sqrt{\operatorname{Var} f / m}` in every
dimension.

References:
    P. J. Davis & P. Rabinowitz, *Methods of Numerical Integration*, 2nd ed., Academic Press 1984,
    §2.6 and §5.6 (product rules); E. Novak, *Deterministic and Stochastic Error Bounds in
    Numerical Analysis*, LNM 1349, Springer 1988 (the curse of dimensionality for quadrature);
    R. E. Caflisch, "Monte Carlo and quasi-Monte Carlo methods", Acta Numerica 7 (1998) 1-49.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

import torch
from torch import Tensor

from mathdl._validation import check_positive_int

__all__ = [
    "gaussian_product",
    "gaussian_product_integral",
    "gaussian_product_variance",
    "midpoint_rule",
    "monte_carlo_integral",
]

Integrand = Callable[[Tensor], Tensor]


def _check_sharpness(sharpness: float) -> float:
    s = float(sharpness)
    if not (math.isfinite(s) and s > 0.0):
        raise ValueError(f"sharpness: expected a finite positive number, got {sharpness!r}")
    return s


_check_positive_int = check_positive_int


def gaussian_product(x: Tensor, *, sharpness: float = 1.0) -> Tensor:
    r"""The Gaussian product :math:`f_s(x) = \exp(-s \sum_i (x_i - 1/2)^2)`.

    Args:
        x: ``(k, d)`` points (usually in :math:`[0, 1]^d`); dtype and device are kept.
        sharpness: :math:`s > 0`.

    Returns:
        ``(k,)`` values :math:`f_s(x_j)`.

    Raises:
        ValueError: if ``x`` is not two-dimensional or ``sharpness`` is not positive.
    """
    s = _check_sharpness(sharpness)
    if x.ndim != 2:
        raise ValueError(f"x: expected shape (k, d), got {tuple(x.shape)}")
    return torch.exp(-s * (x - 0.5).square().sum(dim=-1))


def _one_dim_integral(s: float) -> float:
    r""":math:`I_1(s) = \int_0^1 e^{-s (t - 1/2)^2} dt = \sqrt{\pi/s}\,\mathrm{erf}(\sqrt{s}/2)`."""
    return math.sqrt(math.pi / s) * math.erf(math.sqrt(s) / 2.0)


def gaussian_product_integral(d: int, *, sharpness: float = 1.0) -> float:
    r"""Closed form of :math:`\int_{[0,1]^d} f_s`.

    .. math::
        \int_{[0,1]^d} f_s(x)\,dx = I_1(s)^d, \qquad
        I_1(s) = \int_{-1/2}^{1/2} e^{-s u^2} du = \sqrt{\pi / s}\;
        \mathrm{erf}\big(\sqrt{s}/2\big).

    Args:
        d: dimension :math:`d \ge 1`.
        sharpness: :math:`s > 0`.

    Returns:
        The integral as a Python float.

    Raises:
        ValueError: if ``d`` is not a positive integer or ``sharpness`` is not positive.
    """
    _check_positive_int(d, "d")
    s = _check_sharpness(sharpness)
    return _one_dim_integral(s) ** d


def _variance_series_coefficients(terms: int) -> tuple[float, ...]:
    r"""Coefficients :math:`c_k` of :math:`\operatorname{Var} e^{-s q} = \sum_k (-s)^k c_k / k!`.

    With :math:`q = u^2`, :math:`u \sim \mathcal U[-1/2, 1/2]`, the moments are
    :math:`m_k = \mathbb E q^k = 4^{-k} / (2k + 1)` and
    :math:`c_k = 2^k m_k - \sum_{i=0}^k \binom{k}{i} m_i m_{k-i}` (from
    :math:`\mathbb E e^{-2sq} - (\mathbb E e^{-sq})^2`), computed exactly in rationals.
    """
    m = [Fraction(1, 4**k * (2 * k + 1)) for k in range(terms)]
    return tuple(
        float(2**k * m[k] - sum(math.comb(k, i) * m[i] * m[k - i] for i in range(k + 1)))
        for k in range(terms)
    )


# c_0 = c_1 = 0 and |c_k| <= 2^-k: 30 terms leave a remainder below 1e-33 for s <= 1.
_VARIANCE_SERIES = _variance_series_coefficients(30)


def _one_dim_variance(s: float) -> float:
    r"""Variance of :math:`e^{-s (U - 1/2)^2}`, :math:`U \sim \mathcal U[0, 1]`, no cancellation."""
    if s <= 1.0:
        return sum(c * (-s) ** k / math.factorial(k) for k, c in enumerate(_VARIANCE_SERIES))
    return _one_dim_integral(2.0 * s) - _one_dim_integral(s) ** 2


def gaussian_product_variance(d: int, *, sharpness: float = 1.0) -> float:
    r"""Closed form of :math:`\operatorname{Var}_{U \sim \mathcal U[0,1]^d} f_s(U)`.

    Since :math:`f_s^2 = f_{2s}`,

    .. math::
        \operatorname{Var} f_s = I_1(2s)^d - I_1(s)^{2d}
        = I_1(s)^{2d} \,\Big(\exp\big(d \log(1 + v_1(s) / I_1(s)^2)\big) - 1\Big),

    with :math:`v_1(s) = I_1(2s) - I_1(s)^2` the one-dimensional variance. The second form is
    evaluated with ``expm1``/``log1p``, and for :math:`s \le 1` :math:`v_1` is summed from its
    Taylor series :math:`\sum_{k \ge 2} (-s)^k c_k / k!` (:math:`v_1 = s^2/180 + O(s^3)`), so
    the result keeps full relative accuracy for small :math:`s` and large :math:`d`, where the
    difference of the first form cancels. This is the per-sample variance of plain Monte Carlo.

    Args:
        d: dimension :math:`d \ge 1`.
        sharpness: :math:`s > 0`.

    Returns:
        The variance as a Python float.

    Raises:
        ValueError: if ``d`` is not a positive integer or ``sharpness`` is not positive.
    """
    _check_positive_int(d, "d")
    s = _check_sharpness(sharpness)
    i1_squared = _one_dim_integral(s) ** 2
    return i1_squared**d * math.expm1(d * math.log1p(_one_dim_variance(s) / i1_squared))


def _evaluate(f: Integrand, x: Tensor) -> Tensor:
    values = f(x)
    if not isinstance(values, Tensor) or values.shape != (x.shape[0],):
        shape = tuple(values.shape) if isinstance(values, Tensor) else type(values).__name__
        raise ValueError(f"f: expected to map (k, d) points to a (k,) tensor, got {shape}")
    return values


def midpoint_rule(
    f: Integrand,
    d: int,
    n: int,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    chunk_size: int = 2**18,
    max_points: int = 2**26,
) -> Tensor:
    r"""Tensor-product midpoint rule on :math:`[0, 1]^d`.

    .. math::
        M_n f = \frac{1}{n^d} \sum_{i \in \{0, \dots, n-1\}^d}
        f\Big(\frac{i + 1/2}{n}\Big),

    with error, for :math:`f \in C^4`,
    :math:`\int f - M_n f = \frac{h^2}{24} \sum_{k=1}^d \int \partial_{kk} f + O(h^4)`,
    :math:`h = 1/n` (Euler-Maclaurin per axis, Davis & Rabinowitz 1984 §2.9), i.e.
    :math:`O(m^{-2/d})` in the number :math:`m = n^d` of nodes.

    The nodes are enumerated in C order (last axis fastest) in chunks of at most ``chunk_size``
    points, so memory stays :math:`O(\text{chunk\_size} \cdot d)` whatever :math:`n^d` is.

    Args:
        f: integrand mapping ``(k, d)`` points to ``(k,)`` values.
        d: dimension :math:`d \ge 1`.
        n: points per axis :math:`n \ge 1`.
        dtype: dtype of the nodes and of the accumulated sum (float64 by default).
        device: device of the nodes.
        chunk_size: largest number of nodes passed to ``f`` at once.
        max_points: refuse rules with more than this many nodes (default :math:`2^{26}`).

    Returns:
        0-dim tensor :math:`M_n f`.

    Raises:
        ValueError: on non-positive ``d``, ``n``, ``chunk_size`` or ``max_points``, if
            :math:`n^d` exceeds ``max_points``, or if ``f`` does not return a ``(k,)`` tensor.
    """
    _check_positive_int(d, "d")
    _check_positive_int(n, "n")
    _check_positive_int(chunk_size, "chunk_size")
    _check_positive_int(max_points, "max_points")
    m = n**d
    if m > max_points:
        raise ValueError(
            f"n, d: the rule has n**d = {n}**{d} = {m} nodes, which exceeds "
            f"max_points = {max_points}; lower n or d, or raise max_points"
        )
    centres = (torch.arange(n, dtype=dtype, device=device) + 0.5) / n
    # Split the axes into `outer` (slow) and `inner` (fast) ones with n**inner <= chunk_size. The
    # inner block of nodes is built once; a chunk is `group` consecutive outer indices, each
    # followed by the whole inner block, so the enumeration is still C order.
    inner = 0
    while inner < d and n ** (inner + 1) <= chunk_size:
        inner += 1
    outer = d - inner
    block = n**inner
    if inner > 0:
        grids = torch.meshgrid(*([centres] * inner), indexing="ij")
        inner_nodes = torch.stack(grids, dim=-1).reshape(block, inner)
    else:
        inner_nodes = torch.empty(1, 0, dtype=dtype, device=device)
    outer_strides = torch.tensor(
        [n ** (outer - 1 - j) for j in range(outer)], dtype=torch.int64, device=device
    )
    group = max(1, chunk_size // block)
    total = torch.zeros((), dtype=dtype, device=device)
    for start in range(0, n**outer, group):
        stop = min(start + group, n**outer)
        index = torch.arange(start, stop, dtype=torch.int64, device=device)
        digits = torch.div(index[:, None], outer_strides, rounding_mode="floor") % n
        outer_nodes = centres[digits].repeat_interleave(block, dim=0)
        nodes = torch.cat([outer_nodes, inner_nodes.repeat(stop - start, 1)], dim=1)
        total = total + _evaluate(f, nodes).to(dtype).sum()
    return total / m


def monte_carlo_integral(
    f: Integrand,
    d: int,
    m: int,
    *,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    repeats: int = 1,
) -> Tensor:
    r"""Plain Monte Carlo estimates of :math:`\int_{[0,1]^d} f`.

    .. math::
        Q_m f = \frac1m \sum_{j=1}^m f(U_j), \qquad U_j \overset{iid}{\sim} \mathcal U[0,1]^d,
        \qquad \mathbb E\,(Q_m f - \textstyle\int f)^2 = \operatorname{Var} f(U) / m .

    The ``repeats`` estimates are independent: repeat :math:`r` draws its own ``(m, d)`` sample
    from ``generator`` after repeat :math:`r - 1`, so memory is :math:`O(m d)` and the same
    generator state gives the same numbers (Caflisch 1998, §2).

    Args:
        f: integrand mapping ``(m, d)`` points to ``(m,)`` values.
        d: dimension :math:`d \ge 1`.
        m: sample size per estimate, :math:`m \ge 1`.
        generator: the source of randomness (its state advances).
        dtype: dtype of the sample (float64 by default).
        device: device of the sample; defaults to the generator's device. If it differs, the
            sample is drawn on the generator's device and moved, so results do not depend on it.
        repeats: number of independent estimates.

    Returns:
        ``(repeats,)`` tensor of estimates.

    Raises:
        ValueError: on non-positive ``d``, ``m`` or ``repeats``, a missing ``generator``, or an
            ``f`` that does not return an ``(m,)`` tensor.
    """
    _check_positive_int(d, "d")
    _check_positive_int(m, "m")
    _check_positive_int(repeats, "repeats")
    if not isinstance(generator, torch.Generator):
        raise ValueError("generator: expected a torch.Generator")
    target = generator.device if device is None else torch.device(device)
    estimates = []
    for _ in range(repeats):
        u = torch.rand(m, d, generator=generator, dtype=dtype, device=generator.device)
        estimates.append(_evaluate(f, u.to(target)).to(dtype).mean())
    return torch.stack(estimates)
