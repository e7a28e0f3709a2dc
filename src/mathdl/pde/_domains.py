r"""Domains of elliptic problems and uniform samplers of their interiors and boundaries.

Monte Carlo estimates of integrals over a domain :math:`\Omega\subset\mathbb R^d` and over its
boundary,

.. math::
    \int_\Omega h\,dx \approx \frac{|\Omega|}{n}\sum_{i=1}^n h(x_i),\quad x_i\sim U(\Omega),
    \qquad
    \int_{\partial\Omega} h\,ds \approx \frac{|\partial\Omega|}{m}\sum_{j=1}^m h(y_j),\quad
    y_j\sim U(\partial\Omega),

need points drawn uniformly with respect to volume (area) and to surface measure (length); that
is what every domain here provides (``sample_interior``, ``sample_boundary``), with its
``volume`` :math:`|\Omega|`, ``boundary_measure`` :math:`|\partial\Omega|` and a membership test
``contains``. Randomness enters only through an explicit ``torch.Generator``.

* :class:`Box`: :math:`\prod_i [a_i, b_i]` in any dimension; boundary faces are chosen with
  probability proportional to their :math:`(d-1)`-volume.
* :class:`Ball`: :math:`\{|x - c| \le R\}`; interior radius :math:`R\,U^{1/d}` times a uniform
  direction (Muller 1959), boundary the uniform direction.
* :class:`LShape`: :math:`(-1,1)^2\setminus[0,1)\times(-1,0]`, the re-entrant corner of angle
  :math:`3\pi/2` at the origin (the removed quadrant is :math:`x>0,\ y<0`).
* :class:`SlitDisk`, :class:`SlitSquare`: the unit disk / :math:`(-1,1)^2` cut along the slit
  :math:`[0,1)\times\{0\}` (a crack: an interior angle :math:`2\pi` at the origin). The slit has
  measure zero in the interior and counts once (its length, 1) in the boundary.

The boxes and balls also provide ``boundary_factor`` :math:`\varphi\ge 0`, smooth, vanishing
exactly on :math:`\partial\Omega`, for the exactly-satisfying ansatz :math:`u=\tilde g+\varphi N`
(Lagaris, Likas, Fotiadis 1998; Sukumar & Srivastava 2022).

References:
    M. E. Muller, "A note on a method for generating points uniformly on n-dimensional
    spheres", Comm. ACM 2 (1959); I. E. Lagaris, A. Likas, D. I. Fotiadis, "Artificial neural
    networks for solving ordinary and partial differential equations", IEEE TNN 9 (1998).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from mathdl._validation import check_positive_int, check_real

__all__ = ["Ball", "Box", "Domain", "LShape", "SlitDisk", "SlitSquare"]


def _check_generator(generator: object) -> torch.Generator:
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator: expected a torch.Generator, got {type(generator).__name__}")
    return generator


def _check_points(x: object, dim: int, name: str = "x") -> Tensor:
    if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != dim:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name}: expected a tensor of shape (n, {dim}), got {shape}")
    return x


def _uniform(n: int, d: int, generator: torch.Generator, dtype: torch.dtype | None,
             device: torch.device | str | None) -> Tensor:
    dtype = dtype or torch.get_default_dtype()
    return torch.rand(n, d, generator=generator, dtype=dtype).to(device)


def _choice(n: int, weights: Sequence[float], generator: torch.Generator) -> Tensor:
    """Indices in range(len(weights)) drawn with probabilities proportional to weights."""
    w = torch.tensor(list(weights), dtype=torch.float64)
    return torch.multinomial(w, n, replacement=True, generator=generator)


class Domain(abc.ABC):
    """A bounded domain in :math:`\\mathbb R^d` with uniform interior and boundary samplers."""

    dim: int

    @property
    @abc.abstractmethod
    def volume(self) -> float:
        """:math:`|\\Omega|`, the d-dimensional volume (area in 2-D)."""

    @property
    @abc.abstractmethod
    def boundary_measure(self) -> float:
        """:math:`|\\partial\\Omega|`, the (d-1)-dimensional measure (length in 2-D)."""

    @abc.abstractmethod
    def contains(self, x: Tensor, *, tol: float = 0.0) -> Tensor:
        """Boolean ``(n,)``: whether each row of ``x: (n, d)`` lies in the closed domain (up to
        ``tol``)."""

    @abc.abstractmethod
    def _interior(self, n: int, generator: torch.Generator, dtype, device) -> Tensor: ...

    @abc.abstractmethod
    def _boundary(self, n: int, generator: torch.Generator, dtype, device) -> Tensor: ...

    def sample_interior(self, n: int, *, generator: torch.Generator,
                        dtype: torch.dtype | None = None,
                        device: torch.device | str | None = None) -> Tensor:
        """``n`` points ``(n, d)`` i.i.d. uniform on the domain (w.r.t. Lebesgue measure).

        Raises:
            ValueError: ``n`` is not a positive integer or ``generator`` is not a Generator.
        """
        check_positive_int(n, "n")
        return self._interior(n, _check_generator(generator), dtype, device)

    def sample_boundary(self, n: int, *, generator: torch.Generator,
                        dtype: torch.dtype | None = None,
                        device: torch.device | str | None = None) -> Tensor:
        """``n`` points ``(n, d)`` i.i.d. uniform on the boundary (w.r.t. surface measure).

        Raises:
            ValueError: ``n`` is not a positive integer or ``generator`` is not a Generator.
        """
        check_positive_int(n, "n")
        return self._boundary(n, _check_generator(generator), dtype, device)


class Box(Domain):
    r"""The box :math:`\prod_{i=1}^d [a_i, b_i]`.

    Args:
        low, high: the corners :math:`a, b` (sequences of d floats with :math:`a_i < b_i`).

    ``boundary_factor`` is :math:`\varphi(x)=\prod_i 4(x_i-a_i)(b_i-x_i)/(b_i-a_i)^2`, which is
    1 at the centre and vanishes exactly on the faces.

    Raises:
        ValueError: ``low``/``high`` are empty, of different lengths, or not ``low < high``.
    """

    def __init__(self, low: Sequence[float], high: Sequence[float]) -> None:
        low, high = list(low), list(high)
        if not low or len(low) != len(high):
            raise ValueError(f"high: expected as many coordinates as low ({len(low)}), "
                             f"got {len(high)}")
        self.low = tuple(check_real(v, "low") for v in low)
        self.high = tuple(check_real(v, "high") for v in high)
        if any(a >= b for a, b in zip(self.low, self.high, strict=True)):
            raise ValueError(f"high: expected high > low in every coordinate, got low={self.low}, "
                             f"high={self.high}")
        self.dim = len(self.low)

    @classmethod
    def cube(cls, dim: int, low: float = 0.0, high: float = 1.0) -> Box:
        """The cube :math:`[low, high]^d`."""
        check_positive_int(dim, "dim")
        return cls([low] * dim, [high] * dim)

    def __repr__(self) -> str:
        return f"Box(low={self.low}, high={self.high})"

    @property
    def _sides(self) -> list[float]:
        return [b - a for a, b in zip(self.low, self.high, strict=True)]

    @property
    def volume(self) -> float:
        return math.prod(self._sides)

    def _face_areas(self) -> list[float]:
        sides = self._sides
        return [math.prod(s for j, s in enumerate(sides) if j != i) for i in range(self.dim)]

    @property
    def boundary_measure(self) -> float:
        return 2.0 * sum(self._face_areas()) if self.dim > 1 else 2.0

    def _tensors(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return (torch.tensor(self.low, dtype=x.dtype, device=x.device),
                torch.tensor(self.high, dtype=x.dtype, device=x.device))

    def contains(self, x: Tensor, *, tol: float = 0.0) -> Tensor:
        x = _check_points(x, self.dim)
        a, b = self._tensors(x)
        return ((x >= a - tol) & (x <= b + tol)).all(dim=1)

    def _interior(self, n, generator, dtype, device):
        u = _uniform(n, self.dim, generator, dtype, device)
        a, b = self._tensors(u)
        return a + (b - a) * u

    def _boundary(self, n, generator, dtype, device):
        face = _choice(n, self._face_areas(), generator)   # coordinate held fixed
        side = torch.randint(0, 2, (n,), generator=generator)   # low or high face
        x = self._interior(n, generator, dtype, device)
        a, b = self._tensors(x)
        face, side = face.to(x.device), side.to(x.device)
        fixed = torch.where(side == 0, a[face], b[face])
        return x.scatter(1, face[:, None], fixed[:, None])

    def boundary_factor(self, x: Tensor) -> Tensor:
        """:math:`\\varphi(x)=\\prod_i 4(x_i-a_i)(b_i-x_i)/(b_i-a_i)^2`, shape ``(n,)``."""
        x = _check_points(x, self.dim)
        a, b = self._tensors(x)
        return (4 * (x - a) * (b - x) / (b - a) ** 2).prod(dim=1)


class Ball(Domain):
    r"""The closed ball :math:`\{x\in\mathbb R^d: |x-c|\le R\}`.

    Args:
        dim: d.
        radius: R > 0.
        center: c (d floats), default the origin.

    ``boundary_factor`` is :math:`\varphi(x) = 1 - |x-c|^2/R^2`.
    """

    def __init__(self, dim: int, radius: float = 1.0, center: Sequence[float] | None = None
                 ) -> None:
        self.dim = check_positive_int(dim, "dim")
        self.radius = check_real(radius, "radius", positive=True)
        center = [0.0] * dim if center is None else list(center)
        if len(center) != dim:
            raise ValueError(f"center: expected {dim} coordinates, got {len(center)}")
        self.center = tuple(check_real(v, "center") for v in center)

    def __repr__(self) -> str:
        return f"Ball(dim={self.dim}, radius={self.radius}, center={self.center})"

    @property
    def volume(self) -> float:
        d = self.dim
        return math.pi ** (d / 2) / math.gamma(d / 2 + 1) * self.radius**d

    @property
    def boundary_measure(self) -> float:
        d = self.dim
        return 2 * math.pi ** (d / 2) / math.gamma(d / 2) * self.radius ** (d - 1)

    def _c(self, x: Tensor) -> Tensor:
        return torch.tensor(self.center, dtype=x.dtype, device=x.device)

    def contains(self, x: Tensor, *, tol: float = 0.0) -> Tensor:
        x = _check_points(x, self.dim)
        return (x - self._c(x)).norm(dim=1) <= self.radius + tol

    def _directions(self, n, generator, dtype, device) -> Tensor:
        dtype = dtype or torch.get_default_dtype()
        z = torch.randn(n, self.dim, generator=generator, dtype=dtype).to(device)
        return z / z.norm(dim=1, keepdim=True)

    def _interior(self, n, generator, dtype, device):
        direction = self._directions(n, generator, dtype, device)
        u = _uniform(n, 1, generator, dtype, device)
        return self._c(direction) + self.radius * u ** (1.0 / self.dim) * direction

    def _boundary(self, n, generator, dtype, device):
        direction = self._directions(n, generator, dtype, device)
        return self._c(direction) + self.radius * direction

    def boundary_factor(self, x: Tensor) -> Tensor:
        """:math:`\\varphi(x) = 1 - |x-c|^2/R^2`, shape ``(n,)``."""
        x = _check_points(x, self.dim)
        return 1 - (x - self._c(x)).square().sum(dim=1) / self.radius**2


def _segments(n: int, segments: Sequence[tuple[tuple[float, float], tuple[float, float]]],
              generator: torch.Generator, dtype, device) -> Tensor:
    """Uniform points on a union of segments (p, q), each chosen in proportion to its length."""
    lengths = [math.dist(p, q) for p, q in segments]
    k = _choice(n, lengths, generator)
    s = _uniform(n, 1, generator, dtype, device)
    p = torch.tensor([seg[0] for seg in segments], dtype=s.dtype, device=s.device)
    q = torch.tensor([seg[1] for seg in segments], dtype=s.dtype, device=s.device)
    k = k.to(s.device)
    return p[k] + s * (q[k] - p[k])


class LShape(Domain):
    r"""The L-shaped domain :math:`(-1,1)^2\setminus[0,1)\times(-1,0]` (area 3, perimeter 8).

    In polar coordinates about the re-entrant corner (the origin) the domain near 0 is
    :math:`0\le\theta\le 3\pi/2`, so :math:`r^{2/3}\sin(2\theta/3)` is harmonic in it and vanishes
    on the two edges that meet at the corner.
    """

    dim = 2
    _edges = (((-1.0, -1.0), (0.0, -1.0)), ((0.0, -1.0), (0.0, 0.0)), ((0.0, 0.0), (1.0, 0.0)),
              ((1.0, 0.0), (1.0, 1.0)), ((1.0, 1.0), (-1.0, 1.0)), ((-1.0, 1.0), (-1.0, -1.0)))

    def __repr__(self) -> str:
        return "LShape()"

    @property
    def volume(self) -> float:
        return 3.0

    @property
    def boundary_measure(self) -> float:
        return 8.0

    def contains(self, x: Tensor, *, tol: float = 0.0) -> Tensor:
        x = _check_points(x, 2)
        in_square = (x.abs() <= 1 + tol).all(dim=1)
        removed = (x[:, 0] > tol) & (x[:, 1] < -tol)
        return in_square & ~removed

    def _interior(self, n, generator, dtype, device):
        # three unit squares of equal area: [-1,0]x[-1,0], [-1,0]x[0,1], [0,1]x[0,1]
        k = torch.randint(0, 3, (n,), generator=generator)
        u = _uniform(n, 2, generator, dtype, device)
        corner = torch.tensor([[-1.0, -1.0], [-1.0, 0.0], [0.0, 0.0]], dtype=u.dtype,
                              device=u.device)
        return corner[k.to(u.device)] + u

    def _boundary(self, n, generator, dtype, device):
        return _segments(n, self._edges, generator, dtype, device)


class SlitDisk(Domain):
    r"""The unit disk cut along the slit :math:`[0,1)\times\{0\}`: area :math:`\pi`, boundary the
    circle plus the slit, measure :math:`2\pi+1`.

    In polar coordinates :math:`0<\theta<2\pi`; :math:`r^{1/2}\sin(\theta/2)` is harmonic in it and
    vanishes on both sides of the slit.
    """

    dim = 2

    def __repr__(self) -> str:
        return "SlitDisk()"

    @property
    def volume(self) -> float:
        return math.pi

    @property
    def boundary_measure(self) -> float:
        return 2 * math.pi + 1.0

    def contains(self, x: Tensor, *, tol: float = 0.0) -> Tensor:
        return _check_points(x, 2).norm(dim=1) <= 1 + tol

    def _interior(self, n, generator, dtype, device):
        return Ball(2)._interior(n, generator, dtype, device)

    def _boundary(self, n, generator, dtype, device):
        on_slit = torch.rand(n, generator=generator, dtype=torch.float64) < 1 / (2 * math.pi + 1)
        circle = Ball(2)._boundary(n, generator, dtype, device)
        u = _uniform(n, 1, generator, dtype, device)
        slit = torch.cat([u, torch.zeros_like(u)], dim=1)
        return torch.where(on_slit.to(circle.device)[:, None], slit, circle)


class SlitSquare(Domain):
    r"""The square :math:`(-1,1)^2` cut along the slit :math:`[0,1)\times\{0\}` (the domain of
    E & Yu 2018, §3.1): area 4, boundary the square's edges plus the slit, measure 9."""

    dim = 2
    _edges = (((-1.0, -1.0), (1.0, -1.0)), ((1.0, -1.0), (1.0, 1.0)), ((1.0, 1.0), (-1.0, 1.0)),
              ((-1.0, 1.0), (-1.0, -1.0)), ((0.0, 0.0), (1.0, 0.0)))

    def __repr__(self) -> str:
        return "SlitSquare()"

    @property
    def volume(self) -> float:
        return 4.0

    @property
    def boundary_measure(self) -> float:
        return 9.0

    def contains(self, x: Tensor, *, tol: float = 0.0) -> Tensor:
        return (_check_points(x, 2).abs() <= 1 + tol).all(dim=1)

    def _interior(self, n, generator, dtype, device):
        return 2 * _uniform(n, 2, generator, dtype, device) - 1

    def _boundary(self, n, generator, dtype, device):
        return _segments(n, self._edges, generator, dtype, device)
