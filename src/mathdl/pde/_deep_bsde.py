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

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from mathdl._validation import check_positive_int, check_positive_ints, check_real
from mathdl.pde._bsde_equations import (
    SemilinearParabolicPDE,
    sample_forward_paths,
    sample_forward_paths_from,
)
from mathdl.pde._training import ProgressCallback, TrainingMonitor


def pathwise_gradient_targets(pde: SemilinearParabolicPDE, dw: torch.Tensor,
                              z_model: Callable[[torch.Tensor], torch.Tensor] | None = None
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

    Returns:
        ``(x, zeta)``: states ``(N + 1, B, d)`` (detached) and targets ``(N, B, d)``.
    """
    n, b, d = dw.shape
    dt = pde.horizon / n
    with torch.enable_grad():
        states = [pde.x0.expand(b, d).clone().requires_grad_(True)]
        for k in range(n):
            x = states[-1]
            step = pde.diffusion(k * dt, x, dw[k])
            if pde.drift is not None:
                step = step + pde.drift(k * dt, x) * dt
            states.append(x + step)
            states[-1].retain_grad()
        objective = pde.terminal(states[-1]).sum()
        if z_model is not None and not pde.driver_depends_on_y:
            x_all = torch.stack(states[:n])
            times = (torch.arange(n, dtype=dw.dtype, device=dw.device) * dt)[:, None]
            f = pde.driver(times, x_all, torch.zeros(n, b, dtype=dw.dtype, device=dw.device),
                           z_model(x_all))
            objective = objective + f.sum() * dt
        objective.backward(inputs=states)
        targets = []
        for k in range(n):
            v = torch.zeros_like(dw[k], requires_grad=True)
            sv = pde.diffusion(k * dt, states[k].detach(), v)
            targets.append(torch.autograd.grad((states[k].grad * sv).sum(), v)[0])
    return torch.stack([s.detach() for s in states]), torch.stack(targets)


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

    def affine_part(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The parameters ``(weight (count, in, out), bias (count, 1, out))`` of the affine map
        (the skip connection, or the only layer of affine networks)."""
        if self.skip_weight is not None:
            return self.skip_weight, self.skip_bias
        if len(self.weights) == 1:
            return self.weights[0], self.biases[0]
        raise ValueError("networks: no affine part (built with hidden layers and skip=False)")


@dataclass(frozen=True, kw_only=True)
class DeepBSDEOptions:
    """Training options of :class:`DeepBSDESolver`.

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
            squares on the pathwise gradient targets :math:`\\sigma^\top(X_n)\nabla_{X_n}
            g(X_N)` of ``init_samples`` paths (:func:`pathwise_gradient_targets`), i.e. start from
            the Z of the linear equation; needs g differentiable (a.e.). With ``warm_start``.
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


class DeepBSDESolver:
    r"""Deep BSDE solver of a :class:`SemilinearParabolicPDE` at :math:`(0, x_0)`.

    The constructor stores; :meth:`fit` trains and sets ``y0_`` (the estimate of
    :math:`u(0, x_0)`), ``z0_`` (of :math:`\sigma^\top\nabla u(0, x_0)`), ``networks_``,
    ``loss_history_`` and ``y0_history_`` (one entry per iteration). dtype and device are those of
    ``pde.x0``.

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
        dt = pde.horizon / n
        dw = math.sqrt(dt) * torch.randn(n, opt.init_samples, d, generator=generator,
                                         dtype=dtype, device=device)
        if opt.warm_start and opt.skip_regression:
            x, zeta = pathwise_gradient_targets(pde, dw)
        else:
            x, zeta = sample_forward_paths_from(pde, dw), None
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
                    y = y + pde.driver(k * dt, x[k], y.expand(x.shape[1]), zero_z).mean() * dt
                self._y0.fill_(float(y))
            else:  # on fresh paths: the regression's own sample would bias the mean
                dw, x = sample_forward_paths(pde, n_steps=n, batch_size=opt.init_samples,
                                             generator=generator)
                self._y0.zero_()
                self._y0 -= self.terminal_mismatch(dw, x).mean()

    def _z_all(self, x: torch.Tensor) -> torch.Tensor:
        """Z_n(X_n) for every step, ``x: (N, B, d)`` (states at t_0 .. t_{N-1})."""
        n = x.shape[0]
        z_rest = self.networks_((x[1:n] - self._mean) / self._std) if n > 1 else x[1:1]
        return self._z_scale * torch.cat([self._z0.expand(1, *x.shape[1:]), z_rest], dim=0)

    def terminal_mismatch(self, dw: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        r""":math:`Y_N - g(X_N)` for the current parameters on given paths ``dw: (N, B, d)``,
        ``x: (N + 1, B, d)``; shape ``(B,)``. Requires :meth:`fit` to have initialised the
        parameters."""
        pde = self.pde
        n, b, d = dw.shape
        dt = pde.horizon / n
        z = self._z_all(x[:n])
        zdw = (z * dw).sum(dim=-1)  # (N, B)
        if not pde.driver_depends_on_y:
            times = (torch.arange(n, dtype=dw.dtype, device=dw.device) * dt)[:, None]
            f = pde.driver(times, x[:n], torch.zeros_like(zdw), z)
            y_final = self._y0 + (zdw - f * dt).sum(dim=0)
        else:
            y = self._y0.expand(b)
            for k in range(n):
                y = y - pde.driver(k * dt, x[k], y, z[k]) * dt + zdw[k]
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
        hidden = opt.hidden if opt.hidden is not None else (d + 10, d + 10)
        self._y0 = torch.nn.Parameter(torch.zeros((), dtype=dtype, device=device))
        self._z0 = torch.nn.Parameter(torch.zeros(d, dtype=dtype, device=device))
        self.networks_ = PerStepNetworks(max(opt.n_steps - 1, 1), d, d, hidden,
                                         generator=generator, skip=opt.skip_regression,
                                         dtype=dtype, device=device)
        self._warm_start(generator)
        params = [self._y0, self._z0, *self.networks_.parameters()]
        optimiser = torch.optim.Adam(params, lr=opt.learning_rate)
        decay = (opt.final_learning_rate / opt.learning_rate) ** (1.0 / max(opt.iterations - 1, 1))
        monitor = TrainingMonitor(opt.iterations, solver="Deep BSDE", progress=progress)
        losses, y0s = [], []
        for it in range(opt.iterations):
            for group in optimiser.param_groups:
                group["lr"] = opt.learning_rate * decay ** it
            dw, x = sample_forward_paths(pde, n_steps=opt.n_steps, batch_size=opt.batch_size,
                                         generator=generator)
            loss = self.terminal_mismatch(dw, x).square().mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            value = float(loss.detach())
            losses.append(value)
            y0s.append(float(self._y0.detach()))
            monitor.step(it + 1, value)
        self.y0_ = float(self._y0.detach())
        self.z0_ = (self._z_scale * self._z0).detach().clone()
        self.loss_history_ = losses
        self.y0_history_ = y0s
        return self
