r"""Polynomial interpolation on [-1, 1]: barycentric evaluation and potential-theoretic rates.

Interpolating :math:`f` at :math:`n + 1` nodes whose counting measure tends to :math:`\mu`
gives, for :math:`f` analytic except at a pole :math:`z_0`, an error
:math:`|f(x) - p_n(x)| \approx C \exp(n\,(U_\mu(x) - U_\mu(z_0)))`, where
:math:`U_\mu(z) = \int \log|z - t|\,d\mu(t)` is the logarithmic potential of the node
measure (Hermite's contour-integral formula). For Chebyshev points :math:`U_\mu` is constant on
:math:`[-1, 1]` and the error decays like :math:`\rho^{-n}`, with :math:`\rho` the parameter of
the Bernstein ellipse through the pole; for equispaced points :math:`U_\mu` is largest at
:math:`\pm 1` and for the Runge function :math:`1/(1 + 25 x^2)` the error grows like
:math:`1.49^n` (the Runge phenomenon).

References:
    L. N. Trefethen, *Approximation Theory and Approximation Practice*, SIAM 2013 (ATAP):
    ch. 5 (barycentric formula), ch. 8 (Bernstein ellipse, convergence for analytic functions),
    ch. 11 (Hermite integral formula), chs. 12-13 (potential theory, equispaced points and the
    Runge phenomenon);
    J.-P. Berrut & L. N. Trefethen, "Barycentric Lagrange interpolation", SIAM Review 46 (2004)
    501-517; C. Runge, "Über empirische Funktionen und die Interpolation zwischen äquidistanten
    Ordinaten", Z. Math. Phys. 46 (1901) 224-243.
"""

from __future__ import annotations

import cmath
import enum
import math

import torch
from torch import Tensor

__all__ = [
    "NodeFamily",
    "barycentric_interpolate",
    "barycentric_weights",
    "bernstein_ellipse_rho",
    "chebyshev_nodes",
    "equispaced_nodes",
    "interpolation_error_rate",
    "log_potential",
    "runge_function",
]


class NodeFamily(enum.Enum):
    r"""Families of interpolation nodes on :math:`[-1, 1]`.

    ``EQUISPACED``: :math:`x_j = -1 + 2j/n`; limiting measure uniform, density :math:`1/2`.
    ``CHEBYSHEV``: Chebyshev-Lobatto points :math:`x_j = \cos(j\pi/n)`; limiting measure the
    arcsine (equilibrium) measure, density :math:`1/(\pi\sqrt{1 - x^2})`.
    """

    EQUISPACED = "equispaced"
    CHEBYSHEV = "chebyshev"


def runge_function(x: Tensor, *, a: float = 25.0) -> Tensor:
    r"""Runge's function :math:`f(x) = 1/(1 + a x^2)`.

    Analytic on :math:`[-1, 1]` with poles at :math:`\pm i/\sqrt{a}` (Runge 1901; ATAP ch. 13).

    Args:
        x: tensor of any shape; dtype and device are kept.
        a: :math:`a > 0`.

    Returns:
        Tensor of the shape of ``x``.

    Raises:
        ValueError: if ``a`` is not a finite positive number.
    """
    if not (math.isfinite(a) and a > 0):
        raise ValueError(f"a: expected a finite positive number, got {a!r}")
    return 1.0 / (1.0 + a * x.square())


def _check_degree(degree: int) -> None:
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 1:
        raise ValueError(f"degree: expected a positive integer, got {degree!r}")


def equispaced_nodes(
    degree: int, *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> Tensor:
    r"""The :math:`n + 1` equispaced nodes :math:`x_j = -1 + 2j/n = (2j - n)/n`, :math:`j = 0..n`.

    Computed as :math:`(2j - n)/n`, so the set is exactly symmetric about 0.

    Args:
        degree: polynomial degree :math:`n \ge 1`.
        dtype: dtype (float64 by default).
        device: device.

    Returns:
        ``(degree + 1,)`` increasing nodes from -1 to 1.

    Raises:
        ValueError: if ``degree < 1``.
    """
    _check_degree(degree)
    j = torch.arange(degree + 1, dtype=dtype, device=device)
    return (2.0 * j - degree) / degree


def chebyshev_nodes(
    degree: int, *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> Tensor:
    r"""The :math:`n + 1` Chebyshev-Lobatto points :math:`x_j = \cos(j\pi/n)`, :math:`j = 0..n`.

    Evaluated as :math:`\sin(\pi (n - 2j) / (2n))`, which equals :math:`\cos(j\pi/n)` and is
    exactly antisymmetric in :math:`j \mapsto n - j` (ATAP ch. 2).

    Args:
        degree: polynomial degree :math:`n \ge 1`.
        dtype: dtype (float64 by default).
        device: device.

    Returns:
        ``(degree + 1,)`` decreasing nodes from 1 to -1.

    Raises:
        ValueError: if ``degree < 1``.
    """
    _check_degree(degree)
    j = torch.arange(degree + 1, dtype=torch.float64, device=device)
    return torch.sin(math.pi * (degree - 2.0 * j) / (2.0 * degree)).to(dtype)


def barycentric_weights(nodes: Tensor) -> Tensor:
    r"""Barycentric weights :math:`w_j \propto 1/\prod_{k \ne j}(x_j - x_k)`.

    .. math::
        \log|w_j| = -\sum_{k \ne j} \log|x_j - x_k|, \qquad
        \operatorname{sign} w_j = \prod_{k \ne j} \operatorname{sign}(x_j - x_k),

    evaluated in the log domain and normalised so that :math:`\max_j |w_j| = 1` (a common factor
    cancels in :func:`barycentric_interpolate`), so that no overflow occurs even for degree 1000
    equispaced nodes, whose weights span :math:`\binom{n}{n/2}` (Berrut & Trefethen 2004, §3;
    ATAP ch. 5). For Chebyshev-Lobatto points this gives :math:`(-1)^j \delta_j`,
    :math:`\delta_0 = \delta_n = 1/2`, else 1.

    Args:
        nodes: ``(n + 1,)`` distinct real nodes, floating dtype (float64 recommended).

    Returns:
        ``(n + 1,)`` weights, dtype and device of ``nodes``.

    Raises:
        ValueError: if ``nodes`` is not a non-empty 1-D floating tensor of finite, distinct values.
    """
    if nodes.ndim != 1 or nodes.shape[0] < 1:
        raise ValueError(f"nodes: expected a non-empty 1-D tensor, got shape {tuple(nodes.shape)}")
    if not nodes.is_floating_point():
        raise ValueError(f"nodes: expected a floating dtype, got {nodes.dtype}")
    if not bool(torch.isfinite(nodes).all()):
        raise ValueError("nodes: expected finite values")
    if nodes.shape[0] > 1 and bool((torch.sort(nodes).values.diff() == 0).any()):
        raise ValueError("nodes: expected distinct nodes, found a repeated node")
    diff = nodes[:, None] - nodes[None, :]
    diff.fill_diagonal_(1.0)
    log_abs = -torch.log(diff.abs()).sum(dim=1)
    negatives = (diff < 0).sum(dim=1)
    sign = 1.0 - 2.0 * (negatives % 2).to(nodes.dtype)
    return sign * torch.exp(log_abs - log_abs.max())


def barycentric_interpolate(
    nodes: Tensor, values: Tensor, x: Tensor, *, weights: Tensor | None = None
) -> Tensor:
    r"""Evaluate the interpolating polynomial by the second (true) barycentric formula.

    .. math::
        p(x) = \frac{\sum_{j=0}^n \frac{w_j}{x - x_j} f_j}{\sum_{j=0}^n \frac{w_j}{x - x_j}},
        \qquad p(x_j) = f_j,

    (Berrut & Trefethen 2004, §4; ATAP Thm. 5.1). It is forward stable for point sets with
    small Lebesgue constant such as Chebyshev points (N. J. Higham, "The numerical stability of
    barycentric Lagrange interpolation", IMA J. Numer. Anal. 24 (2004) 547-556). Where ``x``
    coincides with a node the value :math:`f_j` is returned exactly.

    Caveat (ill-conditioned nodes): for equispaced nodes the denominator, which equals
    :math:`1/\ell(x)` up to a constant, cancels by a factor :math:`\approx 2^{-n}` near
    :math:`\pm 1`, so in float64 the result departs from the exact interpolant beyond degree
    :math:`\approx 45` (relative error :math:`> 10^{-3}` from degree 49 for the Runge function,
    ``inf`` at degree 60 where the computed denominator vanishes). Chebyshev points are unaffected.

    Args:
        nodes: ``(n + 1,)`` distinct nodes.
        values: ``(n + 1, *batch)`` samples :math:`f(x_j)` (trailing batch dims are interpolated
            independently).
        x: evaluation points of any shape ``S``.
        weights: ``(n + 1,)`` barycentric weights of ``nodes``; computed with
            :func:`barycentric_weights` when omitted.

    Returns:
        Tensor of shape ``(*S, *batch)`` in the promoted dtype of the inputs.

    Raises:
        ValueError: on mismatched lengths of ``nodes``, ``values`` and ``weights``, or invalid
            ``nodes`` (see :func:`barycentric_weights`).
    """
    if nodes.ndim != 1:
        raise ValueError(f"nodes: expected a 1-D tensor, got shape {tuple(nodes.shape)}")
    if values.ndim < 1 or values.shape[0] != nodes.shape[0]:
        raise ValueError(
            f"values: expected shape ({nodes.shape[0]}, ...) matching nodes, "
            f"got {tuple(values.shape)}"
        )
    if weights is None:
        weights = barycentric_weights(nodes)
    elif weights.shape != nodes.shape:
        raise ValueError(
            f"weights: expected shape {tuple(nodes.shape)} matching nodes, "
            f"got {tuple(weights.shape)}"
        )
    dtype = torch.promote_types(torch.promote_types(nodes.dtype, values.dtype), x.dtype)
    batch = values.shape[1:]
    f = values.to(dtype).reshape(nodes.shape[0], -1)  # (n + 1, B)
    xs = x.to(dtype).reshape(-1, 1)  # (K, 1)
    diff = xs - nodes.to(dtype)  # (K, n + 1)
    rows, cols = torch.nonzero(diff == 0, as_tuple=True)  # x_k coinciding with node j
    diff[rows, cols] = 1.0
    c = weights.to(dtype) / diff
    p = (c @ f) / c.sum(dim=1, keepdim=True)  # (K, B)
    if rows.numel() > 0:
        p = p.index_put((rows,), f[cols])
    return p.reshape(*x.shape, *batch)


def _principal_branch_joukowski(z: complex) -> complex:
    r""":math:`z + \sqrt{z - 1}\sqrt{z + 1}`, the inverse Joukowski map, outside the unit disc."""
    w = z + cmath.sqrt(z - 1) * cmath.sqrt(z + 1)
    return w if abs(w) >= 1.0 else 1.0 / w


def bernstein_ellipse_rho(z: complex) -> float:
    r"""Parameter :math:`\rho \ge 1` of the Bernstein ellipse :math:`E_\rho` through :math:`z`.

    .. math::
        \rho(z) = \big|z + \sqrt{z - 1}\,\sqrt{z + 1}\big|,

    the branch with :math:`\rho \ge 1`; :math:`E_\rho` has foci :math:`\pm 1` and semi-axis
    sum :math:`\rho` (ATAP ch. 8). :math:`\rho = 1` exactly on :math:`[-1, 1]`. For the Runge
    pole :math:`z = i/5`, :math:`\rho = 1/5 + \sqrt{1 + 1/25} \approx 1.2198`.

    Args:
        z: a complex (or real) number.

    Returns:
        :math:`\rho` as a Python float.

    Raises:
        ValueError: if ``z`` is not a finite number.
    """
    zc = _as_complex(z, "z")
    return abs(_principal_branch_joukowski(zc))


def _as_complex(z: complex, name: str) -> complex:
    try:
        zc = complex(z)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected a complex number, got {z!r}") from exc
    if not (math.isfinite(zc.real) and math.isfinite(zc.imag)):
        raise ValueError(f"{name}: expected a finite complex number, got {z!r}")
    return zc


def _xlogx(w: complex) -> complex:
    return 0j if w == 0 else w * cmath.log(w)


def log_potential(z: complex, family: NodeFamily) -> float:
    r"""Logarithmic potential :math:`U_\mu(z) = \int \log|z - t|\,d\mu(t)` of a node measure.

    ``EQUISPACED`` (:math:`d\mu = dt/2` on :math:`[-1, 1]`), integrating :math:`\log(z - t)`
    along the horizontal segment :math:`z - [-1, 1]` (which avoids the principal branch cut unless
    :math:`z` is real, where the real part is unaffected):

    .. math::
        U(z) = \tfrac12 \operatorname{Re}\big[(z + 1)\log(z + 1) - (z - 1)\log(z - 1)\big] - 1,

    so :math:`U(\pm 1) = \log 2 - 1` and :math:`U(0) = -1` (ATAP ch. 12).

    ``CHEBYSHEV`` (arcsine measure :math:`d\mu = dt/(\pi\sqrt{1 - t^2})`, the equilibrium
    measure of :math:`[-1, 1]`):

    .. math::
        U(z) = \log\big|z + \sqrt{z - 1}\sqrt{z + 1}\big| - \log 2 = \log\rho(z) - \log 2,

    constant :math:`-\log 2` (minus the log-capacity 1/2) on :math:`[-1, 1]`.
    Both satisfy :math:`U(z) = \log|z| + o(1)` as :math:`|z| \to \infty`.

    Args:
        z: a complex (or real) number.
        family: :class:`NodeFamily` whose limiting node measure is integrated.

    Returns:
        :math:`U_\mu(z)` as a Python float (``-inf`` never occurs: the potentials are finite on
        :math:`\mathbb C`).

    Raises:
        ValueError: if ``z`` is not finite or ``family`` is not a :class:`NodeFamily`.
    """
    zc = _as_complex(z, "z")
    if family is NodeFamily.EQUISPACED:
        return 0.5 * (_xlogx(zc + 1) - _xlogx(zc - 1)).real - 1.0
    if family is NodeFamily.CHEBYSHEV:
        return math.log(bernstein_ellipse_rho(zc)) - math.log(2.0)
    raise ValueError(f"family: expected a NodeFamily, got {family!r}")


def interpolation_error_rate(pole: complex, family: NodeFamily) -> float:
    r"""Asymptotic per-degree factor of the max interpolation error for a function with a pole.

    For :math:`f` analytic in a neighbourhood of :math:`[-1, 1]` except a pole at :math:`z_0`,
    Hermite's formula gives :math:`f(x) - p_n(x) = \frac{\ell(x)}{\ell(z_0)}\,
    \frac{r}{z_0 - x}` up to terms from farther singularities, with
    :math:`\ell(z) = \prod_j (z - x_j)` and :math:`|\ell(z)|^{1/n} \to e^{U_\mu(z)}`, hence

    .. math::
        \lim_{n\to\infty} \|f - p_n\|_{[-1,1]}^{1/n}
        = \exp\Big(\max_{x\in[-1,1]} U_\mu(x) - U_\mu(z_0)\Big)

    (ATAP ch. 11 for Hermite's formula, chs. 12-13 for the potentials). The maximum is
    :math:`\log 2 - 1` at :math:`x = \pm 1` for ``EQUISPACED`` and
    :math:`-\log 2` everywhere for ``CHEBYSHEV``, where the rate is
    :math:`1/\rho(z_0)` (ATAP Thm. 8.2). A rate above 1 means divergence (Runge phenomenon):
    for :math:`z_0 = i/5` it is :math:`\approx 1.490` (equispaced) and :math:`\approx 0.8198`
    (Chebyshev). A conjugate pole (real :math:`f`) gives the same rate.

    Args:
        pole: location :math:`z_0` of the pole, not in :math:`[-1, 1]`.
        family: :class:`NodeFamily` of the interpolation nodes.

    Returns:
        The factor :math:`\limsup \|f - p_n\|^{1/n}` as a Python float.

    Raises:
        ValueError: if ``pole`` lies on :math:`[-1, 1]` or is not finite, or ``family`` is not a
            :class:`NodeFamily`.
    """
    z0 = _as_complex(pole, "pole")
    if z0.imag == 0 and -1.0 <= z0.real <= 1.0:
        raise ValueError(f"pole: expected a point off the interval [-1, 1], got {pole!r}")
    if family is NodeFamily.EQUISPACED:
        max_on_interval = math.log(2.0) - 1.0
    elif family is NodeFamily.CHEBYSHEV:
        max_on_interval = -math.log(2.0)
    else:
        raise ValueError(f"family: expected a NodeFamily, got {family!r}")
    return math.exp(max_on_interval - log_potential(z0, family))
