r"""Stochastic control as a residual network (Han & E 2016), with the Riccati reference.

The linear-quadratic problem: :math:`dX = (AX + Bu)\,dt + \sigma\,dW`, :math:`X_0 = x_0`, cost

.. math::

    J(u) = \mathbb E\Big[\sum_{n=0}^{N-1}\big(X_n^\top Q X_n + u_n^\top R u_n\big)\Delta t
    + X_N^\top G X_N\Big],
    \qquad X_{n+1} = X_n + (A X_n + B u_n)\Delta t + \sigma\Delta W_n .

Han & E (2016, "Deep learning approximation for stochastic control problems", NIPS Deep RL
workshop) write the controlled Euler scheme as a deep residual network whose n-th block adds
:math:`(AX_n + B\,\mathcal N_n(X_n))\Delta t + \sigma\Delta W_n` and learn the feedback
:math:`u_n = \mathcal N_n(X_n)` by minimising the sampled cost. References: the discrete Riccati
recursion gives the exact optimum of the discretised problem; the Riccati ODE that of the
continuous one (Bertsekas 2005, §4.1; Fleming & Rishel 1975, §VI.5).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from scipy import integrate

from mathdl._validation import check_positive_int, check_positive_ints, check_real
from mathdl.pde._deep_bsde import PerStepNetworks
from mathdl.pde._training import ProgressCallback, TrainingMonitor


@dataclass(frozen=True, kw_only=True)
class LinearQuadraticProblem:
    r"""A linear-quadratic stochastic control problem on :math:`[0, T]` with N Euler steps.

    Attributes:
        a: :math:`A`, ``(m, m)``.  b: :math:`B`, ``(m, k)``.  sigma: :math:`\sigma`, ``(m, m)``.
        q: :math:`Q`, ``(m, m)`` symmetric positive semidefinite.  r: :math:`R`, ``(k, k)``
        symmetric positive definite.  g: :math:`G`, ``(m, m)`` symmetric positive semidefinite.
        x0: ``(m,)``.  horizon: T > 0.  n_steps: N >= 1.
        All tensors share one floating dtype and device (float64 recommended: the checks use it).
    """

    a: torch.Tensor
    b: torch.Tensor
    sigma: torch.Tensor
    q: torch.Tensor
    r: torch.Tensor
    g: torch.Tensor
    x0: torch.Tensor
    horizon: float = 1.0
    n_steps: int = 20

    def __post_init__(self) -> None:
        if not (isinstance(self.x0, torch.Tensor) and self.x0.is_floating_point()
                and self.x0.dim() == 1):
            raise ValueError(f"x0: expected a floating tensor of shape (m,), got "
                             f"{getattr(self.x0, 'shape', self.x0)!r}")
        m = self.x0.shape[0]
        k = self.b.shape[1] if isinstance(self.b, torch.Tensor) and self.b.dim() == 2 else -1
        for name, shape in (("a", (m, m)), ("b", (m, k)), ("sigma", (m, m)), ("q", (m, m)),
                            ("r", (k, k)), ("g", (m, m))):
            value = getattr(self, name)
            if not (isinstance(value, torch.Tensor) and value.shape == shape and k >= 1
                    and value.dtype == self.x0.dtype):
                raise ValueError(f"{name}: expected a {self.x0.dtype} tensor of shape {shape}, "
                                 f"got {getattr(value, 'shape', value)!r}")
        for name in ("q", "r", "g"):
            value = getattr(self, name)
            if not torch.allclose(value, value.T):
                raise ValueError(f"{name}: expected a symmetric matrix")
            smallest = float(torch.linalg.eigvalsh(value).min())
            scale = 1e-12 * (1.0 + float(value.abs().max()))
            if smallest < -scale or (name == "r" and smallest <= scale):
                kind = "positive definite" if name == "r" else "positive semidefinite"
                raise ValueError(f"{name}: expected a {kind} matrix, smallest eigenvalue "
                                 f"{smallest:g}")
        check_real(self.horizon, "horizon", positive=True)
        check_positive_int(self.n_steps, "n_steps")

    @property
    def dim(self) -> int:
        return self.x0.shape[0]

    @property
    def control_dim(self) -> int:
        return self.b.shape[1]

    @property
    def dt(self) -> float:
        return self.horizon / self.n_steps


class RiccatiSolution(NamedTuple):
    """``p``: :math:`P_n`, ``(N + 1, m, m)``; ``gains``: :math:`K_n` with :math:`u_n = -K_n X_n`,
    ``(N, k, m)``; ``offsets``: :math:`c_n`, ``(N + 1,)``; ``value``: the optimal cost
    :math:`x_0^\\top P_0 x_0 + c_0`."""

    p: torch.Tensor
    gains: torch.Tensor
    offsets: torch.Tensor
    value: float


def discrete_riccati(problem: LinearQuadraticProblem) -> RiccatiSolution:
    r"""Exact optimum of the Euler-discretised problem by dynamic programming:
    :math:`V_n(x) = x^\top P_n x + c_n` with :math:`\bar A = I + A\Delta t`,
    :math:`\bar B = B\Delta t`, :math:`P_N = G`, :math:`c_N = 0`,

    .. math::

        K_n = (R\Delta t + \bar B^\top P_{n+1}\bar B)^{-1}\bar B^\top P_{n+1}\bar A,\quad
        P_n = Q\Delta t + \bar A^\top P_{n+1}\bar A - \bar A^\top P_{n+1}\bar B K_n,\quad
        c_n = c_{n+1} + \mathrm{tr}(\sigma^\top P_{n+1}\sigma)\Delta t,

    optimal feedback :math:`u_n = -K_n X_n` (Bertsekas 2005, §4.1). dtype/device of the problem.
    """
    dt = problem.dt
    eye = torch.eye(problem.dim, dtype=problem.x0.dtype, device=problem.x0.device)
    a_bar, b_bar = eye + problem.a * dt, problem.b * dt
    p = problem.g
    ps, gains, offsets = [p], [], [torch.zeros((), dtype=p.dtype, device=p.device)]
    for _ in range(problem.n_steps):
        gain = torch.linalg.solve(problem.r * dt + b_bar.T @ p @ b_bar, b_bar.T @ p @ a_bar)
        offsets.append(offsets[-1] + torch.trace(problem.sigma.T @ p @ problem.sigma) * dt)
        p = problem.q * dt + a_bar.T @ p @ a_bar - a_bar.T @ p @ b_bar @ gain
        p = 0.5 * (p + p.T)
        ps.append(p)
        gains.append(gain)
    p_all = torch.stack(ps[::-1])
    offsets_all = torch.stack(offsets[::-1])
    value = float(problem.x0 @ p_all[0] @ problem.x0 + offsets_all[0])
    return RiccatiSolution(p_all, torch.stack(gains[::-1]), offsets_all, value)


def continuous_riccati_value(problem: LinearQuadraticProblem, *, rtol: float = 1e-11) -> float:
    r"""Optimal cost of the continuous-time problem, :math:`x_0^\top P(0) x_0 + \int_0^T
    \mathrm{tr}(\sigma^\top P(t)\sigma)\,dt`, with the Riccati ODE
    :math:`-\dot P = Q + A^\top P + PA - PBR^{-1}B^\top P`, :math:`P(T) = G`, integrated backward
    in float64 (``scipy.integrate.solve_ivp``, DOP853) together with the trace integral
    (Fleming & Rishel 1975, §VI.5). Independent of ``n_steps``; the discrete optimum converges to it
    at rate O(Δt).

    Raises:
        ValueError: ``rtol`` not in (0, 1).
    """
    rtol = check_real(rtol, "rtol", positive=True)
    if rtol >= 1:
        raise ValueError(f"rtol: expected a number in (0, 1), got {rtol!r}")
    a, b, s, q, r, g, x0 = (np.asarray(t.detach().cpu(), dtype=np.float64) for t in (
        problem.a, problem.b, problem.sigma, problem.q, problem.r, problem.g, problem.x0))
    m = a.shape[0]
    brb = b @ np.linalg.solve(r, b.T)
    ss = s @ s.T

    def rhs(tau: float, y: np.ndarray) -> np.ndarray:  # tau = T - t
        p = y[:-1].reshape(m, m)
        dp = q + a.T @ p + p @ a - p @ brb @ p
        return np.concatenate([dp.ravel(), [np.trace(ss @ p)]])

    y0 = np.concatenate([g.ravel(), [0.0]])
    sol = integrate.solve_ivp(rhs, (0.0, problem.horizon), y0, method="DOP853", rtol=rtol,
                              atol=1e-14)
    p0 = sol.y[:-1, -1].reshape(m, m)
    return float(x0 @ p0 @ x0 + sol.y[-1, -1])


Policy = Callable[[int, torch.Tensor], torch.Tensor]


def sampled_cost(problem: LinearQuadraticProblem, policy: Policy, dw: torch.Tensor
                 ) -> torch.Tensor:
    r"""The cost of every path, :math:`\sum_n (X_n^\top Q X_n + u_n^\top R u_n)\Delta t +
    X_N^\top G X_N`, of the feedback ``policy(n, x: (B, m)) -> u: (B, k)`` driven by
    ``dw: (N, B, m)`` (the controlled Euler scheme: a residual network). Returns ``(B,)``;
    differentiable in the policy's parameters.

    Raises:
        ValueError: ``dw`` of the wrong shape.
    """
    n, m = problem.n_steps, problem.dim
    if not (isinstance(dw, torch.Tensor) and dw.dim() == 3 and dw.shape[0] == n
            and dw.shape[2] == m):
        raise ValueError(f"dw: expected a tensor of shape ({n}, B, {m}), got "
                         f"{getattr(dw, 'shape', dw)!r}")
    dt = problem.dt
    x = problem.x0.expand(dw.shape[1], m)
    cost = torch.zeros(dw.shape[1], dtype=dw.dtype, device=dw.device)
    for k in range(n):
        u = policy(k, x)
        cost = cost + (((x @ problem.q) * x).sum(dim=1) + ((u @ problem.r) * u).sum(dim=1)) * dt
        x = x + (x @ problem.a.T + u @ problem.b.T) * dt + dw[k] @ problem.sigma.T
    return cost + ((x @ problem.g) * x).sum(dim=1)


def estimate_cost(problem: LinearQuadraticProblem, policy: Policy, *, n_paths: int,
                  generator: torch.Generator) -> tuple[float, float]:
    """Monte Carlo cost of a feedback policy and its standard error, on ``n_paths`` fresh paths.

    Raises:
        ValueError: ``n_paths < 2``.
    """
    n_paths = check_positive_int(n_paths, "n_paths", minimum=2)
    dw = math.sqrt(problem.dt) * torch.randn(problem.n_steps, n_paths, problem.dim,
                                             generator=generator, dtype=problem.x0.dtype,
                                             device=problem.x0.device)
    with torch.no_grad():
        costs = sampled_cost(problem, policy, dw)
    return float(costs.mean()), float(costs.std() / math.sqrt(n_paths))


def riccati_policy(solution: RiccatiSolution) -> Policy:
    """The optimal feedback :math:`u_n = -K_n x` of :func:`discrete_riccati` as a policy."""
    gains = solution.gains

    def policy(n: int, x: torch.Tensor) -> torch.Tensor:
        return -x @ gains[n].T
    return policy


@dataclass(frozen=True, kw_only=True)
class FeedbackControlOptions:
    """Training options of :class:`FeedbackControlSolver`: hidden widths of every per-step
    network, paths per step, Adam steps, initial and final (geometric decay) learning rates."""

    hidden: tuple[int, ...] = (32, 32)
    batch_size: int = 256
    iterations: int = 500
    learning_rate: float = 1e-2
    final_learning_rate: float = 1e-4

    def __post_init__(self) -> None:
        check_positive_ints(self.hidden, "hidden")
        check_positive_int(self.batch_size, "batch_size")
        check_positive_int(self.iterations, "iterations")
        check_real(self.learning_rate, "learning_rate", positive=True)
        check_real(self.final_learning_rate, "final_learning_rate", positive=True)


class FeedbackControlSolver:
    r"""Learn the feedback :math:`u_n = \mathcal N_n(X_n)` (one network per step, with an affine
    skip connection) by minimising the sampled cost of the controlled Euler scheme, written as a
    residual network (Han & E 2016). ``fit`` sets ``networks_`` and ``cost_history_``;
    :meth:`policy` returns the learned feedback. dtype/device are those of the problem.

    Raises:
        ValueError: arguments of the wrong type.
    """

    def __init__(self, problem: LinearQuadraticProblem,
                 options: FeedbackControlOptions | None = None) -> None:
        if not isinstance(problem, LinearQuadraticProblem):
            raise ValueError(f"problem: expected a LinearQuadraticProblem, got "
                             f"{type(problem).__name__}")
        options = FeedbackControlOptions() if options is None else options
        if not isinstance(options, FeedbackControlOptions):
            raise ValueError(f"options: expected FeedbackControlOptions, got "
                             f"{type(options).__name__}")
        self.problem = problem
        self.options = options

    def policy(self, n: int, x: torch.Tensor) -> torch.Tensor:
        """The learned control at step ``n`` for states ``x: (B, m)``; ``(B, k)``."""
        return self.networks_.forward_one(n, x)

    def fit(self, *, generator: torch.Generator, progress: ProgressCallback | None = None
            ) -> FeedbackControlSolver:
        """Train by Adam on fresh paths from ``generator``.

        Raises:
            TrainingDivergedError: the cost became NaN/inf or exploded.
        """
        pr, opt = self.problem, self.options
        self.networks_ = PerStepNetworks(pr.n_steps, pr.dim, pr.control_dim, opt.hidden,
                                         generator=generator, skip=True, dtype=pr.x0.dtype,
                                         device=pr.x0.device)
        optimiser = torch.optim.Adam(self.networks_.parameters(), lr=opt.learning_rate)
        decay = (opt.final_learning_rate / opt.learning_rate) ** (1.0 / max(opt.iterations - 1, 1))
        monitor = TrainingMonitor(opt.iterations, solver="feedback control", progress=progress)
        self.cost_history_: list[float] = []
        for it in range(opt.iterations):
            for group in optimiser.param_groups:
                group["lr"] = opt.learning_rate * decay ** it
            dw = math.sqrt(pr.dt) * torch.randn(pr.n_steps, opt.batch_size, pr.dim,
                                                generator=generator, dtype=pr.x0.dtype,
                                                device=pr.x0.device)
            loss = sampled_cost(pr, self.policy, dw).mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            self.cost_history_.append(float(loss.detach()))
            monitor.step(it + 1, self.cost_history_[-1])
        return self
