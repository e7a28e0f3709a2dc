r"""The Deep BSDE method (E, Han, Jentzen 2017; Han, Jentzen, E 2018).

For the PDE of :class:`SemilinearParabolicPDE`, on the grid :math:`t_n = nT/N` the BSDE is
discretised forward in time,

.. math::

    Y_{n+1} = Y_n - f(t_n, X_n, Y_n, Z_n)\,\Delta t + Z_n\cdot\Delta W_n,\qquad
    Z_n = \mathcal{N}_n(X_n)\ (n \ge 1),

with learned :math:`Y_0 \approx u(0, x_0)`, :math:`Z_0 \approx \sigma^\top\nabla u(0, x_0)` and one
network :math:`\mathcal N_n` per step, all trained by minimising
:math:`\mathbb E|Y_N - g(X_N)|^2` (E, Han, Jentzen 2017, Comm. Math. Stat. 5, eqs. (9)–(12); Han,
Jentzen, E 2018, PNAS 115, eq. (5)).

What makes this implementation fast: the forward paths X do not depend on the networks, so all
N - 1 per-step networks are evaluated in **one batched matrix product per layer**
(:class:`PerStepNetworks`, ``torch.baddbmm`` over stacked weights) instead of N - 1 small sequential
networks; only an elementwise scan for Y remains (a single sum when f does not depend on y). Y0 and
Z0 start from a Monte Carlo estimate (a warm start), and the learning rate decays geometrically.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch

from mathdl._validation import check_positive_int, check_positive_ints, check_real
from mathdl.pde._bsde_equations import (
    SemilinearParabolicPDE,
    _grid,
    bsde_time_grid,
    sample_forward_paths,
    sample_forward_paths_from,
)
from mathdl.pde._training import ProgressCallback, TrainingMonitor


def pathwise_gradient_targets(pde: SemilinearParabolicPDE, dw: torch.Tensor,
                              z_model: Callable[[torch.Tensor], torch.Tensor] | None = None, *,
                              times: Sequence[float] | None = None
                              ) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The forward paths of ``dw`` and pathwise (tangent-process) targets for :math:`Z_n`,

    .. math::

        \zeta_n = \sigma(t_n, X_n)^\top \nabla_{X_n}\Big[g(X_N) + \sum_{m=n}^{N-1}
        f\big(t_m, X_m, 0, Z_m(X_m)\big)\Delta t\Big],

    by automatic differentiation through the Euler scheme (Fournié et al. 1999; Giles &
    Glasserman 2006). Since :math:`u(t_n, X_n) = \mathbb E[g(X_N) + \sum_{m \ge n} f_m \Delta t
    \mid X_n]`, :math:`\mathbb E[\zeta_n \mid X_n] = \sigma^\top\nabla u(t_n, X_n)` when the
    :math:`Z_m` inside are exact (and, for f = 0, exactly for the discretised dynamics), with a
    conditional variance far below that of the likelihood-ratio signal
    :math:`g(X_N)\Delta W_n/\Delta t` that the BSDE loss's gradient carries. The driver terms are
    used only when f does not depend on y (y = 0 is passed); otherwise the targets are those of the
    linear part.

    Args:
        pde: the problem (g, f differentiable almost everywhere).
        dw: Brownian increments ``(N, B, d)``.
        z_model: ``z_model(x: (N, B, d)) -> (N, B, d)``, the current :math:`Z_n(X_n)` for every step
            (``x[n]`` are the states at :math:`t_n`), or ``None`` to omit the driver terms.
        times: the time grid (:func:`bsde_time_grid`), or ``None`` for the uniform one.

    Returns:
        ``(x, zeta)``: states ``(N + 1, B, d)`` (detached) and targets ``(N, B, d)``.
    """
    n, b, d = dw.shape
    grid = _grid(pde, n, times)
    t_col, dt_col = _grid_tensors(grid, dw)
    with torch.enable_grad():
        states = [pde.x0.expand(b, d).clone().requires_grad_(True)]
        for k in range(n):
            x = states[-1]
            step = pde.diffusion(grid[k], x, dw[k])
            if pde.drift is not None:
                step = step + pde.drift(grid[k], x) * (grid[k + 1] - grid[k])
            states.append(x + step)
            states[-1].retain_grad()
        objective = pde.terminal(states[-1]).sum()
        if z_model is not None and not pde.driver_depends_on_y:
            x_all = torch.stack(states[:n])
            f = pde.driver(t_col, x_all, torch.zeros(n, b, dtype=dw.dtype, device=dw.device),
                           z_model(x_all))
            objective = objective + (f * dt_col).sum()
        objective.backward(inputs=states)
        targets = []
        for k in range(n):
            v = torch.zeros_like(dw[k], requires_grad=True)
            sv = pde.diffusion(grid[k], states[k].detach(), v)
            targets.append(torch.autograd.grad((states[k].grad * sv).sum(), v)[0])
    return torch.stack([s.detach() for s in states]), torch.stack(targets)


def _grid_tensors(grid: tuple[float, ...], like: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Times :math:`t_0..t_{N-1}` and steps :math:`\Delta t_n` as ``(N, 1)`` tensors."""
    times = torch.tensor(grid[:-1], dtype=like.dtype, device=like.device)[:, None]
    steps = torch.tensor([b - a for a, b in zip(grid, grid[1:], strict=False)],
                         dtype=like.dtype, device=like.device)[:, None]
    return times, steps


class PerStepNetworks(torch.nn.Module):
    r"""``count`` independent fully connected ReLU networks
    :math:`\mathbb R^{d_{in}} \to \mathbb R^{d_{out}}` with the same widths, evaluated together:
    layer :math:`\ell` computes :math:`h^{(\ell+1)}_n = \mathrm{ReLU}(h^{(\ell)}_n W^{(\ell)}_n +
    b^{(\ell)}_n)` for all n in one ``torch.baddbmm``. Hidden weights are initialised like
    ``torch.nn.Linear`` (uniform, bound :math:`1/\sqrt{\text{fan-in}}`); the output layer is zero,
    so every network starts at :math:`\mathcal N_n \equiv 0`. With ``skip=True`` (and hidden
    layers) an affine map :math:`x A_n + c_n` (zero at first) is added to every output.

    Args:
        count: the number of networks (>= 1).
        in_features, out_features: input and output sizes.
        hidden: hidden widths (possibly empty: affine networks).
        generator: the source of the initial weights.
        skip: add an affine skip connection.
        dtype, device: of the parameters.

    Shapes: ``forward(x)``: ``(count, B, in_features) -> (count, B, out_features)``.

    Raises:
        ValueError: a size is not a positive integer.
    """

    def __init__(self, count: int, in_features: int, out_features: int, hidden: tuple[int, ...],
                 *, generator: torch.Generator, skip: bool = False,
                 dtype: torch.dtype = torch.float64,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        check_positive_int(count, "count")
        check_positive_int(in_features, "in_features")
        check_positive_int(out_features, "out_features")
        if not isinstance(hidden, tuple):
            raise ValueError(f"hidden: expected a tuple of positive integers, got {hidden!r}")
        for width in hidden:
            check_positive_int(width, "hidden")
        sizes = (in_features, *hidden, out_features)
        self.weights = torch.nn.ParameterList()
        self.biases = torch.nn.ParameterList()
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            last = i == len(sizes) - 2
            bound = 0.0 if last else 1.0 / math.sqrt(fan_in)
            w = (2 * torch.rand(count, fan_in, fan_out, generator=generator, dtype=dtype,
                                device=device) - 1) * bound
            b = (2 * torch.rand(count, 1, fan_out, generator=generator, dtype=dtype,
                                device=device) - 1) * bound
            self.weights.append(torch.nn.Parameter(w))
            self.biases.append(torch.nn.Parameter(b))
        self.skip_weight = self.skip_bias = None
        if skip and hidden:
            self.skip_weight = torch.nn.Parameter(torch.zeros(count, in_features, out_features,
                                                              dtype=dtype, device=device))
            self.skip_bias = torch.nn.Parameter(torch.zeros(count, 1, out_features, dtype=dtype,
                                                            device=device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(b, h, w)
            if i < last:
                h = torch.relu(h)
        if self.skip_weight is not None:
            h = h + torch.baddbmm(self.skip_bias, x, self.skip_weight)
        return h

    def forward_one(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """Network ``index`` alone on ``x: (B, in_features)``; ``(B, out_features)``."""
        h = x
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.addmm(b[index], h, w[index])
            if i < last:
                h = torch.relu(h)
        if self.skip_weight is not None:
            h = h + torch.addmm(self.skip_bias[index], x, self.skip_weight[index])
        return h

    def affine_part(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The parameters ``(weight (count, in, out), bias (count, 1, out))`` of the affine map
        (the skip connection, or the only layer of affine networks)."""
        if self.skip_weight is not None:
            return self.skip_weight, self.skip_bias
        if len(self.weights) == 1:
            return self.weights[0], self.biases[0]
        raise ValueError("networks: no affine part (built with hidden layers and skip=False)")


class BSDELoss(enum.Enum):
    r"""The training objective of :class:`DeepBSDESolver`.

    ``MOMENT``: :math:`\mathbb E|Y_N - g(X_N)|^2` with :math:`Y_0` learned (the published loss;
    E, Han, Jentzen 2017), on uncontrolled or controlled paths.

    ``CONTROL_COST``: for drivers :math:`f = h(t, x) - \frac\lambda2|z|^2` with a
    :class:`QuadraticControl`, the relative-entropy (free-energy) objective

    .. math::

        J(Q) = \mathbb E_Q\Big[g(X_N) + \sum_n h(t_n, X_n)\,\Delta t_n\Big]
        + \frac1\lambda \mathrm{KL}(Q\,\|\,P),\qquad
        \mathrm{KL}_n = \frac{|c_n|^2\Delta t_n}{2} + \frac d2\,(s_n^2 - 1 - 2\ln s_n),

    of the law Q of the controlled increments :math:`\xi_n = c_n\Delta t_n + s_n\Delta W_n`,
    :math:`c_n = -\lambda Z_n(X_n)` (and scales :math:`s_n = 1` unless learned), against the
    uncontrolled law P, differentiated through the paths (the relative-entropy loss of Nüsken &
    Richter 2021; control as a residual network, Han & E 2016). By the Gibbs variational
    principle (Boué & Dupuis 1998), :math:`u(0, x_0) = \min_Q J(Q)`: every J is an upper bound,
    attained by the optimal control :math:`c = -\lambda\sigma^\top\nabla u` in continuous
    time. ``y0_`` is then J of the learned control on ``init_samples`` fresh paths.
    """

    MOMENT = "moment"
    CONTROL_COST = "control_cost"


@dataclass(frozen=True, kw_only=True)
class QuadraticControl:
    r"""Controlled forward paths for drivers :math:`f(t, x, y, z) = h(t, x) - \frac\lambda2|z|^2`
    (HJB equations of control problems with quadratic cost; :math:`e^{-\lambda u}` then solves a
    linear equation, Hopf–Cole).

    The increments of the forward scheme become :math:`\xi_n = c_n\Delta t_n + s_n \Delta W_n`
    with the feedback :math:`c_n = -\lambda Z_n(X_n)`, the optimal control in Brownian
    coordinates, computed from the current Z, and :math:`X_{n+1} = X_n + \mu\Delta t_n +
    \sigma\xi_n`.

    Attributes:
        lam: λ > 0 of the driver (checked against the driver at random points when fitting).
        noise_scale: also learn a scale :math:`s_n > 0` of the noise of every step (only with
            ``BSDELoss.CONTROL_COST``). A feedback constant on a step cannot steer the noise
            of that step, which leaves an O(Δt) gap in the cost (for a quadratic terminal cost,
            exactly a right-endpoint Riemann sum); with a quadratic g the optimal transition of
            each step is Gaussian with a shifted mean *and* a shrunk variance
            :math:`\Delta t/(1 + 4\lambda p_{n+1}\Delta t)`, so the scales close that gap.
    """

    lam: float
    noise_scale: bool = False

    def __post_init__(self) -> None:
        check_real(self.lam, "lam", positive=True)
        if not isinstance(self.noise_scale, bool):
            raise ValueError(f"noise_scale: expected a bool, got {self.noise_scale!r}")


class ExponentialEstimate(NamedTuple):
    r"""The value of :meth:`DeepBSDESolver.exponential_estimate` with its delta-method standard
    error and the effective sample size :math:`(\sum w)^2/\sum w^2` of the weights."""

    value: float
    std_error: float
    effective_sample_size: float
    n_paths: int


@dataclass(frozen=True, kw_only=True)
class DeepBSDEOptions:
    r"""Training options of :class:`DeepBSDESolver`.

    Attributes:
        n_steps: time steps N (the published runs use 20 for HJB and Allen–Cahn, 40 for
            Black–Scholes).
        hidden: hidden widths of every per-step network; ``None`` means ``(d + 10, d + 10)``, the
            published architecture; ``()`` gives affine networks.
        batch_size: paths per iteration.
        iterations: optimiser steps (Adam).
        learning_rate: the initial learning rate.
        final_learning_rate: the learning rate at the last step (geometric decay in between;
            equal to ``learning_rate`` for a constant rate).
        warm_start: start Y0 and Z0 from a Monte Carlo estimate (see :meth:`DeepBSDESolver.fit`)
            instead of ``y0_init``/zero.
        y0_init: the initial Y0 when ``warm_start`` is false.
        init_samples: paths for the warm start and for the input standardisation of the networks.
        skip_regression: give every network an affine skip connection initialised by least
            squares on the pathwise gradient targets :math:`\sigma^\top(X_n)\nabla_{X_n}
            g(X_N)` of ``init_samples`` paths (:func:`pathwise_gradient_targets`), i.e. start from
            the Z of the linear equation; needs g differentiable (a.e.). With ``warm_start``.
        control: a :class:`QuadraticControl` to draw the forward paths from the controlled
            scheme (see :class:`DeepBSDESolver`), or ``None`` for the uncontrolled paths.
        loss: :class:`BSDELoss`, the training objective.
        time_grid_power: p of the grid :math:`t_n = T(1 - (1 - n/N)^p)`
            (:func:`bsde_time_grid`; 1 is uniform, p > 1 refines towards T).
    """

    n_steps: int = 20
    hidden: tuple[int, ...] | None = None
    batch_size: int = 256
    iterations: int = 1000
    learning_rate: float = 1e-2
    final_learning_rate: float = 1e-4
    warm_start: bool = True
    y0_init: float = 0.0
    init_samples: int = 8192
    skip_regression: bool = True
    control: QuadraticControl | None = None
    loss: BSDELoss = BSDELoss.MOMENT
    time_grid_power: float = 1.0

    def __post_init__(self) -> None:
        check_positive_int(self.n_steps, "n_steps")
        if self.hidden is not None:
            check_positive_ints(self.hidden, "hidden")
        check_positive_int(self.batch_size, "batch_size")
        check_positive_int(self.iterations, "iterations")
        check_real(self.learning_rate, "learning_rate", positive=True)
        check_real(self.final_learning_rate, "final_learning_rate", positive=True)
        check_real(self.y0_init, "y0_init")
        check_positive_int(self.init_samples, "init_samples", minimum=2)
        if self.control is not None and not isinstance(self.control, QuadraticControl):
            raise ValueError(f"control: expected a QuadraticControl or None, got "
                             f"{self.control!r}")
        if not isinstance(self.loss, BSDELoss):
            raise ValueError(f"loss: expected a BSDELoss, got {self.loss!r}")
        if self.loss is BSDELoss.CONTROL_COST and self.control is None:
            raise ValueError("control: BSDELoss.CONTROL_COST needs a QuadraticControl")
        if (self.loss is BSDELoss.MOMENT and self.control is not None
                and self.control.noise_scale):
            raise ValueError("control: noise_scale needs BSDELoss.CONTROL_COST (the BSDE "
                             "identity of the moment loss holds for unit noise only)")
        if check_real(self.time_grid_power, "time_grid_power") < 1:
            raise ValueError(f"time_grid_power: expected a number >= 1, got "
                             f"{self.time_grid_power}")


class DeepBSDESolver:
    r"""Deep BSDE solver of a :class:`SemilinearParabolicPDE` at :math:`(0, x_0)`.

    The constructor stores; :meth:`fit` trains and sets ``y0_`` (the estimate of
    :math:`u(0, x_0)`), ``z0_`` (of :math:`\sigma^\top\nabla u(0, x_0)`), ``networks_``,
    ``loss_history_`` and ``y0_history_`` (one entry per iteration). dtype and device are those of
    ``pde.x0``.

    **Controlled forward paths** (``options.control``). The BSDE identity
    :math:`Y_{n+1} = Y_n - f\,\Delta t + Z_n\cdot\Delta W_n`, :math:`Y_N = g(X_N)` holds along
    *every* path of the forward scheme, so the paths may be drawn from any law: with increments
    :math:`\xi_n = \Delta W_n + c_n\Delta t_n` (shifted by the feedback
    :math:`c_n = -\lambda Z_n(X_n)` of the current, detached Z), both the forward step and the
    backward recursion use :math:`\xi_n` in place of :math:`\Delta W_n`; in continuous time this
    is the BSDE of the same PDE along :math:`dX = \mu\,dt + \sigma(dW + c\,dt)` with driver
    :math:`f - c\cdot z` (Girsanov). Its point: the loss is measured where the solution matters.
    For the HJB equation :math:`u_t + \Delta u - \lambda|\nabla u|^2 = 0`,
    :math:`e^{-\lambda u}` solves the heat equation, so at large λ the value is carried by
    Brownian paths far in the tail that uncontrolled sampling never draws, and a solver trained on
    them converges to the wrong number. Along the optimally controlled paths the pathwise value
    is constant (zero variance), and :meth:`exponential_estimate` turns any control into an
    unbiased estimate of :math:`e^{-\lambda u}` (importance sampling). References: Nüsken &
    Richter 2021 (Partial Differ. Equ. Appl. 2, 48: moment, log-variance and relative-entropy
    losses on controlled paths); Hartmann & Schütte 2012 (J. Stat. Mech. P11004: optimal control
    as zero-variance importance sampling).

    Args:
        pde: the problem.
        options: the training options.

    Raises:
        ValueError: ``pde`` or ``options`` of the wrong type.
    """

    def __init__(self, pde: SemilinearParabolicPDE, options: DeepBSDEOptions | None = None
                 ) -> None:
        if not isinstance(pde, SemilinearParabolicPDE):
            raise ValueError(f"pde: expected a SemilinearParabolicPDE, got {type(pde).__name__}")
        options = DeepBSDEOptions() if options is None else options
        if not isinstance(options, DeepBSDEOptions):
            raise ValueError(f"options: expected DeepBSDEOptions, got {type(options).__name__}")
        self.pde = pde
        self.options = options

    # ----------------------------------------------------------------------------------------
    def _warm_start(self, generator: torch.Generator) -> None:
        r"""Initialise the parameters from ``init_samples`` forward paths.

        * the input standardisation: per-step mean and standard deviation of X;
        * the scale of Z, :math:`s = (\mathrm{Var}\,g(X_T) / (T d))^{1/2}` (Itô's isometry:
          :math:`\mathrm{Var}\,g(X_T) \approx \mathbb E\int_0^T |Z_t|^2 dt` for a linear
          equation), by which the networks' outputs and Z0 are multiplied so that Adam's steps
          have the size of Z (the published code divides by d for the same reason);
        * Z: with ``skip_regression``, Z0 is the mean of the pathwise targets
          :math:`\zeta_0` and every network's affine part the least-squares fit of
          :math:`\zeta_n` on :math:`(1, X_n)`: the Z of the linear equation (f = 0), learned in
          closed form instead of by thousands of noisy gradient steps; otherwise Z0 comes from the
          Bismut–Elworthy–Li weight :math:`\mathbb E[(g(X_T) - \bar g) W_T]/T` and the networks
          start at zero;
        * Y0: when f does not depend on y, the mean of :math:`g(X_N) - \sum_n (Z_n\cdot\Delta W_n
          - f_n \Delta t)` (the minimiser of the loss for these Z; for the HJB equation this
          already contains the first-order effect of λ); otherwise the Z = 0 backward recursion on
          sample means :math:`\bar y_n = \bar y_{n+1} + \overline{f(t_n, X_n, \bar y_{n+1},
          0)}\,\Delta t` from :math:`\bar y_N = \overline{g(X_N)}` (exact for the heat
          equation).
        """
        pde, opt = self.pde, self.options
        n, d = opt.n_steps, pde.dim
        dtype, device = pde.x0.dtype, pde.x0.device
        grid = self._grid
        dw, x = sample_forward_paths(pde, n_steps=n, batch_size=opt.init_samples,
                                     generator=generator, times=grid)
        if opt.warm_start and opt.skip_regression:
            x, zeta = pathwise_gradient_targets(pde, dw, times=grid)
        else:
            zeta = None
        g = pde.terminal(x[n])
        scale = float(g.var() / (pde.horizon * d)) ** 0.5
        self._z_scale = scale if scale > 0 else 1.0
        inner = x[1:n]
        self._mean = inner.mean(dim=1, keepdim=True)
        self._std = inner.std(dim=1, keepdim=True).clamp_min(
            1e-8 * (1.0 + float(self._mean.abs().max())))
        with torch.no_grad():
            if not opt.warm_start:
                self._y0.fill_(opt.y0_init)
                return
            if zeta is None:
                z0 = ((g - g.mean())[:, None] * dw.sum(dim=0)).mean(dim=0) / pde.horizon
            else:
                features = (x[1:n] - self._mean) / self._std
                f1 = torch.cat([features, torch.ones_like(features[..., :1])], dim=-1)
                gram = f1.transpose(1, 2) @ f1  # (N-1, d+1, d+1)
                ridge = 1e-6 * gram.diagonal(dim1=1, dim2=2).mean(dim=1)
                gram = gram + ridge[:, None, None] * torch.eye(d + 1, dtype=dtype, device=device)
                z0 = zeta[0].mean(dim=0)
                if n > 1:
                    weight, bias = self.networks_.affine_part()
                    beta = torch.linalg.solve(gram, f1.transpose(1, 2) @ zeta[1:n])
                    weight.copy_(beta[:, :d] / self._z_scale)
                    bias.copy_(beta[:, d:] / self._z_scale)
            self._z0.copy_(z0 / self._z_scale)
            if pde.driver_depends_on_y:
                y = g.mean()
                zero_z = torch.zeros_like(x[0])
                for k in range(n - 1, -1, -1):
                    y = y + pde.driver(grid[k], x[k], y.expand(x.shape[1]), zero_z).mean() * (
                        grid[k + 1] - grid[k])
                self._y0.fill_(float(y))
            else:  # on fresh paths: the regression's own sample would bias the mean
                dw, x = sample_forward_paths(pde, n_steps=n, batch_size=opt.init_samples,
                                             generator=generator, times=grid)
                self._y0.zero_()
                self._y0 -= self.terminal_mismatch(dw, x).mean()

    def _z_all(self, x: torch.Tensor) -> torch.Tensor:
        """Z_n(X_n) for every step, ``x: (N, B, d)`` (states at t_0 .. t_{N-1})."""
        n = x.shape[0]
        z_rest = self.networks_((x[1:n] - self._mean) / self._std) if n > 1 else x[1:1]
        return self._z_scale * torch.cat([self._z0.expand(1, *x.shape[1:]), z_rest], dim=0)

    def _z_step(self, k: int, x: torch.Tensor) -> torch.Tensor:
        """:math:`Z_k(X_k)` for states ``x: (B, d)`` at :math:`t_k`."""
        if k == 0:
            return (self._z_scale * self._z0).expand(x.shape)
        return self._z_scale * self.networks_.forward_one(
            k - 1, (x - self._mean[k - 1]) / self._std[k - 1])

    def _scales(self) -> torch.Tensor | None:
        return self._log_scales.exp() if self._log_scales is not None else None

    def controlled_paths(self, dw: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        r"""Roll the controlled forward scheme out from Brownian increments ``dw: (N, B, d)``:
        :math:`c_n = -\lambda Z_n(X_n)`, :math:`\xi_n = c_n\Delta t_n + s_n\Delta W_n`,
        :math:`X_{n+1} = X_n + \mu\,\Delta t_n + \sigma\xi_n` (``options.control`` must be
        set; gradients flow when enabled).

        Returns:
            ``(xi, x, z, log_ratio)``: increments ``(N, B, d)``, states ``(N + 1, B, d)``,
            :math:`Z_n` ``(N, B, d)``, and :math:`\ln dP/dQ` of the increments, ``(B,)``:
            :math:`\sum_n \big(|\Delta W_n|^2 - |\xi_n|^2\big)/(2\Delta t_n) + d\ln s_n`.
        """
        pde, lam, grid = self.pde, self.options.control.lam, self._grid
        n, b, d = dw.shape
        scales = self._scales()
        xis, states, zs = [], [pde.x0.expand(b, d)], []
        log_ratio = torch.zeros(b, dtype=dw.dtype, device=dw.device)
        for k in range(n):
            t, x, h = grid[k], states[-1], grid[k + 1] - grid[k]
            z = self._z_step(k, x)
            noise = dw[k] if scales is None else scales[k] * dw[k]
            xi = noise - (lam * h) * z
            log_ratio = log_ratio + (dw[k].square() - xi.square()).sum(dim=-1) / (2 * h)
            if scales is not None:
                log_ratio = log_ratio + d * self._log_scales[k]
            step = pde.diffusion(t, x, xi)
            if pde.drift is not None:
                step = step + pde.drift(t, x) * h
            xis.append(xi)
            states.append(x + step)
            zs.append(z)
        return torch.stack(xis), torch.stack(states), torch.stack(zs), log_ratio

    def _paths(self, dw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Increments and states the loss is measured on: uncontrolled, or controlled by the
        current (detached) networks."""
        if self.options.control is None:
            return dw, sample_forward_paths_from(self.pde, dw, times=self._grid)
        with torch.no_grad():
            xi, x, _, _ = self.controlled_paths(dw)
        return xi, x

    def control_cost(self, dw: torch.Tensor) -> torch.Tensor:
        r"""The pathwise cost :math:`g(X_N) + \sum_n h(t_n, X_n)\Delta t_n +
        \frac1\lambda\sum_n \mathrm{KL}_n` of the current control along the paths it drives
        from ``dw: (N, B, d)`` (:attr:`BSDELoss.CONTROL_COST`; the KL of each step in closed
        form); ``(B,)``. Its mean is an upper bound of :math:`u(0, x_0)`."""
        lam = self.options.control.lam
        _, x, z, _ = self.controlled_paths(dw)
        n, b, d = dw.shape
        times, steps = _grid_tensors(self._grid, dw)
        zero = torch.zeros(n, b, dtype=dw.dtype, device=dw.device)
        h = self.pde.driver(times, x[:n], zero, torch.zeros_like(z))
        kl = 0.5 * lam * lam * (z.square().sum(dim=-1) * steps).sum(dim=0)
        if self._log_scales is not None:
            ls = self._log_scales
            kl = kl + 0.5 * d * (torch.expm1(2 * ls) - 2 * ls).sum()
        return self.pde.terminal(x[n]) + (h * steps).sum(dim=0) + kl / lam

    def terminal_mismatch(self, dw: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        r""":math:`Y_N - g(X_N)` for the current parameters on given paths ``dw: (N, B, d)``,
        ``x: (N + 1, B, d)``; shape ``(B,)``. Requires :meth:`fit` to have initialised the
        parameters."""
        pde, grid = self.pde, self._grid
        n, b, d = dw.shape
        z = self._z_all(x[:n])
        zdw = (z * dw).sum(dim=-1)  # (N, B)
        if not pde.driver_depends_on_y:
            times, steps = _grid_tensors(grid, dw)
            f = pde.driver(times, x[:n], torch.zeros_like(zdw), z)
            y_final = self._y0 + (zdw - f * steps).sum(dim=0)
        else:
            y = self._y0.expand(b)
            for k in range(n):
                y = y - pde.driver(grid[k], x[k], y, z[k]) * (grid[k + 1] - grid[k]) + zdw[k]
            y_final = y
        return y_final - pde.terminal(x[n])

    def fit(self, *, generator: torch.Generator, progress: ProgressCallback | None = None
            ) -> DeepBSDESolver:
        """Train by Adam on fresh batches of forward paths drawn from ``generator``.

        Raises:
            TrainingDivergedError: the loss became NaN/inf or exploded (lower the learning rate).
        """
        pde, opt = self.pde, self.options
        dtype, device = pde.x0.dtype, pde.x0.device
        d = pde.dim
        if opt.control is not None:
            _check_quadratic_driver(pde, opt.control.lam, generator)
        hidden = opt.hidden if opt.hidden is not None else (d + 10, d + 10)
        self._grid = bsde_time_grid(pde.horizon, opt.n_steps, power=opt.time_grid_power)
        self._y0 = torch.nn.Parameter(torch.zeros((), dtype=dtype, device=device))
        self._z0 = torch.nn.Parameter(torch.zeros(d, dtype=dtype, device=device))
        self.networks_ = PerStepNetworks(max(opt.n_steps - 1, 1), d, d, hidden,
                                         generator=generator, skip=opt.skip_regression,
                                         dtype=dtype, device=device)
        self._log_scales = None
        if opt.control is not None and opt.control.noise_scale:
            self._log_scales = torch.nn.Parameter(torch.zeros(opt.n_steps, dtype=dtype,
                                                              device=device))
        self._warm_start(generator)
        params = [self._y0, self._z0, *self.networks_.parameters()]
        if self._log_scales is not None:
            params.append(self._log_scales)
        optimiser = torch.optim.Adam(params, lr=opt.learning_rate)
        decay = (opt.final_learning_rate / opt.learning_rate) ** (1.0 / max(opt.iterations - 1, 1))
        monitor = TrainingMonitor(opt.iterations, solver="Deep BSDE", progress=progress)
        losses, y0s = [], []
        for it in range(opt.iterations):
            for group in optimiser.param_groups:
                group["lr"] = opt.learning_rate * decay ** it
            dw, _ = sample_forward_paths(pde, n_steps=opt.n_steps, batch_size=opt.batch_size,
                                         generator=generator, times=self._grid)
            if opt.loss is BSDELoss.CONTROL_COST:
                loss = self.control_cost(dw).mean()
                estimate = float(loss.detach())
            else:
                loss = self.terminal_mismatch(*self._paths(dw)).square().mean()
                estimate = float(self._y0.detach())
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            value = float(loss.detach())
            losses.append(value)
            y0s.append(estimate)
            monitor.step(it + 1, value)
        if opt.loss is BSDELoss.CONTROL_COST:
            dw, _ = sample_forward_paths(pde, n_steps=opt.n_steps, batch_size=opt.init_samples,
                                         generator=generator, times=self._grid)
            with torch.no_grad():
                self._y0.fill_(float(self.control_cost(dw).mean()))
        self.y0_ = float(self._y0.detach())
        self.z0_ = (self._z_scale * self._z0).detach().clone()
        self.loss_history_ = losses
        self.y0_history_ = y0s
        return self

    def exponential_estimate(self, *, n_paths: int, generator: torch.Generator,
                             chunk: int = 8192) -> ExponentialEstimate:
        r"""The value :math:`u(0, x_0)` by importance sampling with the learned control, for
        drivers :math:`f = h(t, x) - \frac\lambda2|z|^2` (``options.control``):

        .. math::

            \hat u = -\frac1\lambda \ln \frac1M \sum_{m=1}^M w^{(m)},\qquad
            w = \exp\Big(-\lambda\Big[g(X_N) + \sum_n h(t_n, X_n)\Delta t_n\Big]\Big)
            \frac{dP}{dQ},

        on M paths of the controlled scheme, where :math:`dP/dQ` is the exact likelihood ratio
        of the uncontrolled to the controlled Gaussian increments. :math:`\mathbb E_Q w =
        \mathbb E_P e^{-\lambda(g + \sum h\Delta t)}`, the (Feynman–Kac) value of
        :math:`e^{-\lambda u}` for the Euler scheme — exact for X = √2 W — whatever the control,
        which only sets the spread of the weights (zero at the optimal control in continuous
        time). With unit scales, :math:`-\frac1\lambda\ln w` is the pathwise BSDE value
        :math:`g(X_N) + \sum_n f_n\Delta t_n - \sum_n Z_n\cdot\xi_n`. Unlike the cost (and the
        moment value on the same paths), which exceed u by Jensen's inequality and keep the
        O(Δt) gap of piecewise-constant controls, it has no time-discretisation bias here. The
        effective sample size :math:`(\sum w)^2/\sum w^2` says how well the control covers the
        paths that carry the value: when it is a small fraction of M the weights are
        heavy-tailed and the standard error is optimistic.

        Args:
            n_paths: number of paths M (>= 2).
            generator: the source of the increments.
            chunk: paths per batch (memory).

        Returns:
            :class:`ExponentialEstimate`: value, delta-method standard error, effective sample
            size, M.

        Raises:
            ValueError: not fitted, or fitted without ``options.control``.
        """
        if not hasattr(self, "y0_"):
            raise ValueError("exponential_estimate: the solver is not fitted; call fit first")
        if self.options.control is None:
            raise ValueError("options.control: the exponential estimate needs the solver "
                             "fitted with a QuadraticControl (uncontrolled paths would weight "
                             "by the wrong exponential)")
        n_paths = check_positive_int(n_paths, "n_paths", minimum=2)
        chunk = check_positive_int(chunk, "chunk")
        pde, opt = self.pde, self.options
        lam = opt.control.lam
        log_w = []
        with torch.no_grad():
            for start in range(0, n_paths, chunk):
                b = min(chunk, n_paths - start)
                dw, _ = sample_forward_paths(pde, n_steps=opt.n_steps, batch_size=b,
                                             generator=generator, times=self._grid)
                _, x, z, log_ratio = self.controlled_paths(dw)
                n = dw.shape[0]
                times, steps = _grid_tensors(self._grid, dw)
                h = pde.driver(times, x[:n], torch.zeros(n, b, dtype=dw.dtype,
                                                         device=dw.device), torch.zeros_like(z))
                cost = pde.terminal(x[n]) + (h * steps).sum(dim=0)
                log_w.append(-lam * cost.double() + log_ratio.double())
        log_w = torch.cat(log_w)
        top = log_w.max()
        w = (log_w - top).exp()
        mean = w.mean()
        value = -float(top + mean.log()) / lam
        std_error = float(w.std() / (mean * math.sqrt(n_paths))) / lam
        ess = float(w.sum() ** 2 / (w * w).sum())
        return ExponentialEstimate(value, std_error, ess, n_paths)


def _check_quadratic_driver(pde: SemilinearParabolicPDE, lam: float,
                            generator: torch.Generator) -> None:
    """ValueError unless f does not depend on y and f(t, x, y, z) - f(t, x, y, 0) = -λ|z|²/2, at
    a few random points (drawn from a copy of the generator's state: it is not advanced)."""
    dtype, device = pde.x0.dtype, pde.x0.device
    probe_gen = torch.Generator(device=generator.device)
    probe_gen.set_state(generator.get_state())
    probe = torch.randn(3, 4, pde.dim, generator=probe_gen, dtype=dtype, device=device)
    x, z = pde.x0 + probe[0], probe[1]
    y = probe[2, :, 0]
    t = 0.5 * pde.horizon
    f_z = pde.driver(t, x, y, z) - pde.driver(t, x, y, torch.zeros_like(z))
    f_y = pde.driver(t, x, y, z) - pde.driver(t, x, 2 * y + 1, z)
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    expected = -0.5 * lam * z.square().sum(dim=-1)
    if pde.driver_depends_on_y or not torch.allclose(f_z, expected, rtol=tol, atol=tol) or (
            f_y.abs().max() > tol):
        raise ValueError(f"control: QuadraticControl(lam={lam:g}) needs a driver h(t, x) - "
                         f"(λ/2)|z|^2 with λ = {lam:g}, independent of y; this driver is not")
