r"""Semilinear parabolic PDEs as forward–backward SDEs: the problem specification of Deep BSDE.

The PDE

.. math::

    \partial_t u + \mu(t,x)\cdot\nabla u + \tfrac12 \mathrm{Tr}\big(\sigma\sigma^\top(t,x)
    \,\mathrm{Hess}\,u\big) + f\big(t, x, u, \sigma^\top(t,x)\nabla u\big) = 0,
    \qquad u(T,x) = g(x),

is, by Itô's formula along :math:`dX_t = \mu(t,X_t)\,dt + \sigma(t,X_t)\,dW_t`, :math:`X_0 = x_0`,
the BSDE :math:`dY_t = -f(t,X_t,Y_t,Z_t)\,dt + Z_t\cdot dW_t`, :math:`Y_T = g(X_T)`, with
:math:`Y_t = u(t,X_t)` and :math:`Z_t = \sigma^\top\nabla u(t,X_t)` (nonlinear Feynman–Kac;
Pardoux & Peng 1992). Reference: E, Han, Jentzen 2017 (Comm. Math. Stat. 5, eqs. (1)–(8)); Han,
Jentzen, E 2018 (PNAS 115, eqs. (1)–(5)).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from mathdl._validation import check_positive_int, check_real

Drift = Callable[[float, torch.Tensor], torch.Tensor]
Diffusion = Callable[[float, torch.Tensor, torch.Tensor], torch.Tensor]
Driver = Callable[[object, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
Terminal = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True, kw_only=True)
class SemilinearParabolicPDE:
    r"""The data of :math:`u_t + \mu\cdot\nabla u + \frac12\mathrm{Tr}(\sigma\sigma^\top
    \mathrm{Hess}\,u) + f(t,x,u,\sigma^\top\nabla u) = 0`, :math:`u(T,\cdot) = g`, solved at
    :math:`(0, x_0)`.

    Attributes:
        dim: the space dimension d.
        horizon: T > 0.
        x0: the point :math:`x_0`, ``(d,)``; its dtype and device set those of the solver.
        drift: :math:`\mu(t, x)`, ``(t: float, x: (B, d)) -> (B, d)``, or ``None`` for zero.
        diffusion: :math:`\sigma(t, x)\,v`, ``(t: float, x: (B, d), v: (B, d)) -> (B, d)``: the
            diffusion matrix applied to a vector (``v`` = a Brownian increment).
        driver: :math:`f(t, x, y, z)`, ``(t, x: (..., d), y: (...), z: (..., d)) -> (...)``, where
            ``t`` is a float or a tensor broadcastable to the batch shape ``(...)``.
        terminal: :math:`g(x)`, ``(..., d) -> (...)``.
        driver_depends_on_y: ``False`` when f does not depend on y (e.g. the HJB equation); the
            solver then evaluates f at every step in one call.
        name: a label for messages and figures.
    """

    dim: int
    horizon: float
    x0: torch.Tensor
    drift: Drift | None
    diffusion: Diffusion
    driver: Driver
    terminal: Terminal
    driver_depends_on_y: bool = True
    name: str = "semilinear parabolic PDE"

    def __post_init__(self) -> None:
        check_positive_int(self.dim, "dim")
        check_real(self.horizon, "horizon", positive=True)
        if not (isinstance(self.x0, torch.Tensor) and self.x0.is_floating_point()
                and self.x0.shape == (self.dim,)):
            raise ValueError(f"x0: expected a floating tensor of shape ({self.dim},), got "
                             f"{getattr(self.x0, 'shape', self.x0)!r}")
        for field in ("diffusion", "driver", "terminal"):
            if not callable(getattr(self, field)):
                raise ValueError(f"{field}: expected a callable, got {getattr(self, field)!r}")
        if self.drift is not None and not callable(self.drift):
            raise ValueError(f"drift: expected a callable or None, got {self.drift!r}")


def bsde_time_grid(horizon: float, n_steps: int, *, power: float = 1.0) -> tuple[float, ...]:
    r"""The grid :math:`0 = t_0 < \dots < t_N = T` of the time discretisation,
    :math:`t_n = T\,(1 - (1 - n/N)^p)`: uniform for ``power`` :math:`p = 1`, refined towards
    :math:`T` for :math:`p > 1` (the last step is :math:`T N^{-p}`), where a terminal condition
    that concentrates the controlled paths makes the solution vary fastest.

    Raises:
        ValueError: ``horizon`` not positive, ``n_steps`` not a positive integer, or
            ``power < 1``.
    """
    horizon = check_real(horizon, "horizon", positive=True)
    n = check_positive_int(n_steps, "n_steps")
    power = check_real(power, "power")
    if power < 1:
        raise ValueError(f"power: expected a number >= 1, got {power}")
    if power == 1:
        return tuple(k * horizon / n for k in range(n + 1))
    return (*(horizon * (1 - (1 - k / n) ** power) for k in range(n)), horizon)


def _grid(pde: SemilinearParabolicPDE, n: int, times: Sequence[float] | None
          ) -> tuple[float, ...]:
    if times is None:
        return bsde_time_grid(pde.horizon, n)
    times = tuple(float(t) for t in times)
    if len(times) != n + 1 or times[0] != 0 or abs(times[-1] - pde.horizon) > 1e-12 * (
            1 + pde.horizon) or any(b <= a for a, b in zip(times, times[1:], strict=False)):
        raise ValueError(f"times: expected {n + 1} increasing times from 0 to the horizon "
                         f"{pde.horizon}, got {times!r}")
    return times


def sample_forward_paths(pde: SemilinearParabolicPDE, *, n_steps: int, batch_size: int,
                         generator: torch.Generator, times: Sequence[float] | None = None
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Euler–Maruyama paths of :math:`dX = \mu\,dt + \sigma\,dW`, :math:`X_0 = x_0`:
    :math:`X_{n+1} = X_n + \mu(t_n, X_n)\Delta t_n + \sigma(t_n, X_n)\Delta W_n`,
    :math:`\Delta W_n \sim N(0, \Delta t_n\, I_d)` (exact when μ, σ are constant), on the uniform
    grid :math:`t_n = nT/N` or on given ``times``.

    Args:
        pde: the problem.
        n_steps: N >= 1.
        batch_size: number of paths B >= 1.
        generator: the source of the increments (on ``x0``'s device).
        times: the grid :math:`t_0 = 0 < \dots < t_N = T` (e.g. :func:`bsde_time_grid`), or
            ``None`` for the uniform one.

    Returns:
        ``(dw, x)``: increments ``(N, B, d)`` and states ``(N + 1, B, d)``, dtype/device of ``x0``.

    Raises:
        ValueError: ``n_steps`` or ``batch_size`` not a positive integer, or a bad grid.
    """
    n = check_positive_int(n_steps, "n_steps")
    b = check_positive_int(batch_size, "batch_size")
    grid = _grid(pde, n, times)
    x0 = pde.x0
    dw = torch.randn(n, b, pde.dim, generator=generator, dtype=x0.dtype, device=x0.device)
    if times is None:
        dw = math.sqrt(pde.horizon / n) * dw
    else:
        steps = torch.tensor([t1 - t0 for t0, t1 in zip(grid, grid[1:], strict=False)],
                             dtype=x0.dtype, device=x0.device)
        dw = steps.sqrt()[:, None, None] * dw
    return dw, sample_forward_paths_from(pde, dw, times=times)


def sample_forward_paths_from(pde: SemilinearParabolicPDE, dw: torch.Tensor, *,
                              times: Sequence[float] | None = None) -> torch.Tensor:
    """The Euler–Maruyama states ``(N + 1, B, d)`` driven by given increments ``dw: (N, B, d)``
    (see :func:`sample_forward_paths`) on the uniform grid or on given ``times``."""
    n, b, _ = dw.shape
    grid = _grid(pde, n, times)
    states = [pde.x0.expand(b, pde.dim)]
    for k in range(n):
        t, x = grid[k], states[-1]
        step = pde.diffusion(t, x, dw[k])
        if pde.drift is not None:
            step = step + pde.drift(t, x) * (grid[k + 1] - t)
        states.append(x + step)
    return torch.stack(states)


def semilinear_residual(pde: SemilinearParabolicPDE, u: Callable[[torch.Tensor, torch.Tensor],
                        torch.Tensor], t: float, x: torch.Tensor) -> torch.Tensor:
    r"""The PDE residual :math:`\partial_t u + \mu\cdot\nabla u + \frac12\mathrm{Tr}(\sigma
    \sigma^\top\mathrm{Hess}\,u) + f(t, x, u, \sigma^\top\nabla u)` of a candidate solution, by
    automatic differentiation (the generator of X applied to u, plus the driver): zero for an exact
    solution. :math:`\mathrm{Tr}(\sigma\sigma^\top H) = \sum_k (\sigma e_k)^\top H (\sigma e_k)`
    costs d Hessian–vector products; :math:`\sigma^\top\nabla u` is read off the same columns.

    Args:
        pde: the problem.
        u: ``u(t, x)``, ``(t: (m,), x: (m, d)) -> (m,)``, twice differentiable.
        t: the time.
        x: points ``(m, d)``.

    Returns:
        the residual, ``(m,)``.

    Raises:
        ValueError: ``x`` not of shape ``(m, d)``.
    """
    if not (isinstance(x, torch.Tensor) and x.dim() == 2 and x.shape[1] == pde.dim):
        raise ValueError(f"x: expected a tensor of shape (m, {pde.dim}), got "
                         f"{getattr(x, 'shape', x)!r}")
    m, d = x.shape
    t_tensor = torch.full((m,), float(t), dtype=x.dtype, device=x.device, requires_grad=True)
    x = x.detach().clone().requires_grad_(True)
    value = u(t_tensor, x)
    u_t, grad = torch.autograd.grad(value.sum(), (t_tensor, x), create_graph=True,
                                    allow_unused=True, materialize_grads=True)
    eye = torch.eye(d, dtype=x.dtype, device=x.device)
    # columns sigma e_k of the diffusion matrix at every point: (d, m, d)
    columns = torch.stack([pde.diffusion(float(t), x.detach(), eye[k].expand(m, d))
                           for k in range(d)])
    trace = torch.zeros(m, dtype=x.dtype, device=x.device)
    for k in range(d):
        hv = torch.autograd.grad((grad * columns[k]).sum(), x, retain_graph=True)[0]
        trace = trace + (hv * columns[k]).sum(dim=1)
    z = torch.einsum("kmd,md->mk", columns, grad)  # sigma^T grad u
    residual = u_t + 0.5 * trace + pde.driver(float(t), x, value, z)
    if pde.drift is not None:
        residual = residual + (pde.drift(float(t), x) * grad).sum(dim=1)
    return residual.detach()


# --------------------------------------------------------------------------------------------
# Ready-made problems


def _brownian_diffusion(scale: float) -> Diffusion:
    def diffusion(t: float, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return scale * v
    return diffusion


def hjb_lqg_pde(*, dim: int = 100, lam: float = 1.0, horizon: float = 1.0,
                dtype: torch.dtype = torch.float64,
                device: torch.device | str | None = None) -> SemilinearParabolicPDE:
    r"""The HJB equation of the linear-quadratic-Gaussian control problem,
    :math:`u_t + \Delta u - \lambda|\nabla u|^2 = 0`, :math:`g(x) = \ln\frac{1 + |x|^2}{2}`,
    :math:`x_0 = 0`: :math:`X = \sqrt2\, W` (σ = √2 I) so :math:`Z = \sqrt2\nabla u` and the
    driver is :math:`f(z) = -\lambda|z|^2/2` (the factor 1/2:
    :math:`\lambda|\nabla u|^2 = \lambda|Z|^2/2`). Reference: E, Han, Jentzen 2017
    (Comm. Math. Stat. 5, §4.3); Han, Jentzen, E 2018 (PNAS 115):
    u(0, 0) ≈ 4.5901 at λ = 1, d = 100 (Hopf–Cole, :func:`hopf_cole_value`).

    Raises:
        ValueError: ``dim`` not a positive integer, ``lam`` or ``horizon`` invalid.
    """
    check_positive_int(dim, "dim")
    lam = check_real(lam, "lam")

    def driver(t: object, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return -0.5 * lam * z.square().sum(dim=-1)

    return SemilinearParabolicPDE(
        dim=dim, horizon=horizon, x0=torch.zeros(dim, dtype=dtype, device=device), drift=None,
        diffusion=_brownian_diffusion(math.sqrt(2.0)), driver=driver, terminal=hjb_terminal,
        driver_depends_on_y=False, name=f"HJB (LQG), d={dim}, lambda={lam:g}")


def hjb_terminal(x: torch.Tensor) -> torch.Tensor:
    r""":math:`g(x) = \ln\big((1 + |x|^2)/2\big)`, ``(..., d) -> (...)``: the terminal cost of the
    LQG example (E, Han, Jentzen 2017, §4.3)."""
    return torch.log((1.0 + x.square().sum(dim=-1)) / 2.0)


def allen_cahn_pde(*, dim: int = 100, horizon: float = 0.3, dtype: torch.dtype = torch.float64,
                   device: torch.device | str | None = None) -> SemilinearParabolicPDE:
    r"""The Allen–Cahn equation :math:`u_t + \Delta u + u - u^3 = 0`,
    :math:`g(x) = 1/(2 + 0.4|x|^2)`, :math:`x_0 = 0`, T = 0.3: :math:`X = \sqrt2 W`,
    :math:`f(y) = y - y^3`. Reference: Han, Jentzen, E 2018 (PNAS 115, "Allen–Cahn equation"):
    u(0, 0) ≈ 0.052802 in d = 100 (branching diffusion), Deep BSDE relative error 0.30%.

    Raises:
        ValueError: ``dim`` not a positive integer or ``horizon`` not > 0.
    """
    check_positive_int(dim, "dim")

    def driver(t: object, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return y - y.pow(3)

    def terminal(x: torch.Tensor) -> torch.Tensor:
        return 1.0 / (2.0 + 0.4 * x.square().sum(dim=-1))

    return SemilinearParabolicPDE(
        dim=dim, horizon=horizon, x0=torch.zeros(dim, dtype=dtype, device=device), drift=None,
        diffusion=_brownian_diffusion(math.sqrt(2.0)), driver=driver, terminal=terminal,
        name=f"Allen-Cahn, d={dim}")


def black_scholes_default_risk_pde(*, dim: int = 100, dtype: torch.dtype = torch.float64,
                                   device: torch.device | str | None = None
                                   ) -> SemilinearParabolicPDE:
    r"""The nonlinear Black–Scholes equation with default risk (Duffie, Schroder, Skiadas 1996;
    Han, Jentzen, E 2018, PNAS 115):

    .. math::

        u_t + \bar\mu x\cdot\nabla u + \tfrac{\bar\sigma^2}{2}\sum_i x_i^2 \partial_{ii} u
        - (1 - \delta) Q(u)\, u - R u = 0, \qquad u(T, x) = \min_i x_i,

    with :math:`Q(y) = \gamma^h` for :math:`y < v^h`, :math:`\gamma^l` for :math:`y \ge v^l`, linear
    in between; :math:`\bar\mu = 0.02`, :math:`\bar\sigma = 0.2`, δ = 2/3, R = 0.02,
    :math:`\gamma^h = 0.2`, :math:`\gamma^l = 0.02`, :math:`v^h = 50`, :math:`v^l = 70`, T = 1,
    :math:`x_0 = (100, \dots, 100)`. X is geometric Brownian motion :math:`dX = \bar\mu X dt +
    \bar\sigma\,\mathrm{diag}(X) dW` (Euler steps, as in the paper). Reference value
    u(0, x0) ≈ 57.300 in d = 100 (multilevel Picard), Deep BSDE relative error 0.46%.

    Raises:
        ValueError: ``dim`` not a positive integer.
    """
    check_positive_int(dim, "dim")
    mu_bar, sigma_bar, delta, rate = 0.02, 0.2, 2.0 / 3.0, 0.02
    gamma_h, gamma_l, v_h, v_l = 0.2, 0.02, 50.0, 70.0
    slope = (gamma_h - gamma_l) / (v_h - v_l)

    def drift(t: float, x: torch.Tensor) -> torch.Tensor:
        return mu_bar * x

    def diffusion(t: float, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return sigma_bar * x * v

    def driver(t: object, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        q = (slope * (y - v_h) + gamma_h).clamp(min=gamma_l, max=gamma_h)
        return -(1.0 - delta) * q * y - rate * y

    def terminal(x: torch.Tensor) -> torch.Tensor:
        return x.min(dim=-1).values

    return SemilinearParabolicPDE(
        dim=dim, horizon=1.0, x0=torch.full((dim,), 100.0, dtype=dtype, device=device),
        drift=drift, diffusion=diffusion, driver=driver, terminal=terminal,
        name=f"Black-Scholes with default risk, d={dim}")
