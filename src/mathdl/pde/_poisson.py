r"""Exact solutions of the Poisson equation :math:`-\Delta u = f` (manufactured or harmonic).

Each solution provides its value :math:`u`, gradient :math:`\nabla u`, and source
:math:`f=-\Delta u` in closed form, so that the Dirichlet problem :math:`-\Delta u=f` in
:math:`\Omega`, :math:`u=g` on :math:`\partial\Omega` with :math:`g=u|_{\partial\Omega}` has it as
its unique solution, and errors of a numerical solution in :math:`L^2` and in the :math:`H^1`
seminorm can be measured exactly (up to Monte Carlo quadrature).

* :class:`SineProduct`: :math:`u=\prod_{i=1}^d\sin(k\pi x_i)`, :math:`f=d k^2\pi^2 u`; it vanishes
  on the boundary of :math:`[0,1]^d` and of :math:`[-1,1]^d` (smooth manufactured solution).
* :class:`PairProductSum`: :math:`u=\sum_{k=1}^{\lfloor d/2\rfloor}x_{2k-1}x_{2k}`, harmonic
  (:math:`f=0`): the d = 10 example of E & Yu 2018, §3.2, on :math:`[0,1]^{10}`.
* :class:`CircularHarmonic`: :math:`u=r^k\cos k\theta=\operatorname{Re}(x+iy)^k`, harmonic; on the
  unit disk its penalised Ritz minimiser is explicit (:func:`mathdl.pde.robin_relative_error`).
* :class:`CornerSingularity`: :math:`u=r^\alpha\sin(\alpha\theta)`, :math:`\theta\in[0,2\pi)`,
  harmonic away from 0; :math:`\alpha=2/3` on the L-shape (re-entrant angle :math:`3\pi/2`),
  :math:`\alpha=1/2` on a slit domain (angle :math:`2\pi`). :math:`u\in H^1` but
  :math:`u\notin H^2`: :math:`|\nabla u|=\alpha r^{\alpha-1}` blows up at the corner, the
  singularity that limits the convergence of every method near re-entrant corners
  (Grisvard 1985, Thm 4.4.4.13).

References:
    W. E, B. Yu, "The Deep Ritz method: a deep learning-based numerical algorithm for solving
    variational problems", Commun. Math. Stat. 6 (2018) 1–12; P. Grisvard, *Elliptic Problems in
    Nonsmooth Domains*, Pitman 1985.
"""

from __future__ import annotations

import abc
import math

import torch
from torch import Tensor

from mathdl._validation import check_positive_int, check_real
from mathdl.pde._domains import _check_points

__all__ = ["CircularHarmonic", "CornerSingularity", "PairProductSum", "PoissonSolution",
           "SineProduct"]


class PoissonSolution(abc.ABC):
    """An exact solution of :math:`-\\Delta u = f` in :math:`\\mathbb R^d` (or a domain of it).

    Methods take ``x: (n, d)`` and return ``value: (n,)``, ``gradient: (n, d)``,
    ``source: (n,)`` in the dtype/device of ``x``; the Dirichlet data is ``value`` on the
    boundary.
    """

    dim: int

    @abc.abstractmethod
    def value(self, x: Tensor) -> Tensor:
        """:math:`u(x)`, shape ``(n,)``."""

    @abc.abstractmethod
    def gradient(self, x: Tensor) -> Tensor:
        """:math:`\\nabla u(x)`, shape ``(n, d)``."""

    @abc.abstractmethod
    def source(self, x: Tensor) -> Tensor:
        """:math:`f(x) = -\\Delta u(x)`, shape ``(n,)``."""

    def __call__(self, x: Tensor) -> Tensor:
        return self.value(x)


class SineProduct(PoissonSolution):
    r""":math:`u(x)=\prod_{i=1}^d \sin(k\pi x_i)`, :math:`f = d\,k^2\pi^2\,u`.

    Args:
        dim: d >= 1.
        frequency: the integer k >= 1 (u vanishes on every hyperplane :math:`x_i\in\mathbb Z/k`).
    """

    def __init__(self, dim: int = 2, frequency: int = 1) -> None:
        self.dim = check_positive_int(dim, "dim")
        self.frequency = check_positive_int(frequency, "frequency")

    def __repr__(self) -> str:
        return f"SineProduct(dim={self.dim}, frequency={self.frequency})"

    def value(self, x: Tensor) -> Tensor:
        x = _check_points(x, self.dim)
        return torch.sin(self.frequency * math.pi * x).prod(dim=1)

    def gradient(self, x: Tensor) -> Tensor:
        x = _check_points(x, self.dim)
        w = self.frequency * math.pi
        s, c = torch.sin(w * x), torch.cos(w * x)
        cols = []
        for i in range(self.dim):
            others = torch.cat([s[:, :i], s[:, i + 1:]], dim=1).prod(dim=1)
            cols.append(w * c[:, i] * others)
        return torch.stack(cols, dim=1)

    def source(self, x: Tensor) -> Tensor:
        return self.dim * (self.frequency * math.pi) ** 2 * self.value(x)


class PairProductSum(PoissonSolution):
    r"""The harmonic polynomial :math:`u(x)=\sum_{k=1}^{\lfloor d/2\rfloor}x_{2k-1}x_{2k}`
    (:math:`f=0`), E & Yu 2018, §3.2 (d = 10 on :math:`[0,1]^{10}`).

    Args:
        dim: d >= 2.
    """

    def __init__(self, dim: int = 10) -> None:
        self.dim = check_positive_int(dim, "dim", minimum=2)

    def __repr__(self) -> str:
        return f"PairProductSum(dim={self.dim})"

    def value(self, x: Tensor) -> Tensor:
        x = _check_points(x, self.dim)
        m = 2 * (self.dim // 2)
        return (x[:, 0:m:2] * x[:, 1:m:2]).sum(dim=1)

    def gradient(self, x: Tensor) -> Tensor:
        x = _check_points(x, self.dim)
        m = 2 * (self.dim // 2)
        g = torch.zeros_like(x)
        g[:, 0:m:2] = x[:, 1:m:2]
        g[:, 1:m:2] = x[:, 0:m:2]
        return g

    def source(self, x: Tensor) -> Tensor:
        return torch.zeros(_check_points(x, self.dim).shape[0], dtype=x.dtype, device=x.device)


class CornerSingularity(PoissonSolution):
    r"""The corner singularity :math:`u = r^\alpha\sin(\alpha\theta)` in 2-D, harmonic
    (:math:`f = 0`), with :math:`\theta=\operatorname{atan2}(y,x)\in[0,2\pi)`.

    Its gradient is :math:`\nabla u=\alpha r^{\alpha-1}(\sin((\alpha-1)\theta),
    \cos((\alpha-1)\theta))` (infinite at the origin for :math:`\alpha<1`, where it is set to 0).

    Args:
        exponent: :math:`\alpha\in(0,1]`: ``2/3`` for the L-shape (:class:`LShape`), ``1/2``
            for the slit domains (:class:`SlitDisk`, :class:`SlitSquare`).
    """

    dim = 2

    def __init__(self, exponent: float = 2.0 / 3.0) -> None:
        self.exponent = check_real(exponent, "exponent", positive=True)
        if self.exponent > 1:
            raise ValueError(f"exponent: expected a number in (0, 1], got {exponent!r}")

    def __repr__(self) -> str:
        return f"CornerSingularity(exponent={self.exponent:.6g})"

    @staticmethod
    def _polar(x: Tensor) -> tuple[Tensor, Tensor]:
        r = x.norm(dim=1)
        theta = torch.remainder(torch.atan2(x[:, 1], x[:, 0]), 2 * math.pi)
        return r, theta

    def value(self, x: Tensor) -> Tensor:
        r, theta = self._polar(_check_points(x, 2))
        return r**self.exponent * torch.sin(self.exponent * theta)

    def gradient(self, x: Tensor) -> Tensor:
        r, theta = self._polar(_check_points(x, 2))
        a = self.exponent
        scale = torch.where(r > 0, a * r.clamp_min(torch.finfo(r.dtype).tiny) ** (a - 1),
                            torch.zeros_like(r))
        return scale[:, None] * torch.stack([torch.sin((a - 1) * theta),
                                             torch.cos((a - 1) * theta)], dim=1)

    def source(self, x: Tensor) -> Tensor:
        return torch.zeros(_check_points(x, 2).shape[0], dtype=x.dtype, device=x.device)


class CircularHarmonic(PoissonSolution):
    r"""The harmonic polynomial :math:`u=r^k\cos(k\theta)=\operatorname{Re}(x+iy)^k` in 2-D
    (:math:`f=0`), with :math:`\nabla u=k r^{k-1}(\cos((k-1)\theta), -\sin((k-1)\theta))`.

    Args:
        frequency: k >= 1 (k = 2: :math:`x^2-y^2`).
    """

    dim = 2

    def __init__(self, frequency: int = 2) -> None:
        self.frequency = check_positive_int(frequency, "frequency")

    def __repr__(self) -> str:
        return f"CircularHarmonic(frequency={self.frequency})"

    def value(self, x: Tensor) -> Tensor:
        x = _check_points(x, 2)
        return torch.view_as_complex(torch.stack([x[:, 0], x[:, 1]], 1).contiguous()
                                     ).pow(self.frequency).real

    def gradient(self, x: Tensor) -> Tensor:
        x = _check_points(x, 2)
        k = self.frequency
        w = torch.view_as_complex(torch.stack([x[:, 0], x[:, 1]], 1).contiguous())
        d = k * w.pow(k - 1)      # d/dz of z^k; grad Re z^k = (Re d, -Im d)
        return torch.stack([d.real, -d.imag], dim=1)

    def source(self, x: Tensor) -> Tensor:
        return torch.zeros(_check_points(x, 2).shape[0], dtype=x.dtype, device=x.device)
