r"""Physics-informed neural networks (PINNs) for forward and inverse problems.

A PDE :math:`\mathcal N[u;\lambda](z) = 0` for :math:`u:\mathbb R^d\to\mathbb R` is given as a
residual function of the inputs :math:`z`, of :math:`u` and its derivatives, and of coefficients
:math:`\lambda`. A network :math:`u_\theta` is trained on the loss of Raissi, Perdikaris &
Karniadakis (2019, eq. 4 and §4)

.. math::
    \mathrm{MSE} = \frac1{N_u}\sum_{i=1}^{N_u}|u_\theta(z_u^i) - u^i|^2
                 + \frac1{N_f}\sum_{j=1}^{N_f}|\mathcal N[u_\theta;\lambda](z_f^j)|^2 ,

with initial/boundary (forward problem) or interior observations (inverse problem) :math:`(z_u^i,
u^i)` and collocation points :math:`z_f^j`. In the inverse problem unknown coefficients are
trained with :math:`\theta`; they are positive and learned through their logarithm (as in the
authors' code for the viscosity). Training is Adam, then L-BFGS (strong-Wolfe line search).

Derivatives of the network with respect to its inputs (:class:`Derivatives`: :math:`u`,
:math:`\nabla u`, and the pure second derivatives :math:`\partial_{ii}u`) are computed by
:func:`input_derivatives` in one of two ways (:class:`DerivativeMethod`):

* ``TAYLOR``: forward-mode (Taylor-mode) propagation through a :class:`MultilayerPerceptron`: each
  layer maps :math:`(h, \partial_j h, \partial_{jj}h)` by
  :math:`z=Wh+b,\ \partial_j z = W\partial_j h,\ \partial_{jj}z = W\partial_{jj}h` and
  :math:`\sigma(z),\ \sigma'(z)\partial_j z,\ \sigma''(z)(\partial_j z)^2+\sigma'(z)\partial_{jj}z`
  in one stacked matrix product: :math:`1+d+k` streams (k second derivatives requested), no
  double backward graph; by default with the hand-written adjoint of :mod:`mathdl.pde._taylor`.
* ``TORCH_FUNC``: any scalar network, by ``torch.func.vmap`` of ``jacrev`` (twice for the
  Hessian).

References:
    M. Raissi, P. Perdikaris, G. E. Karniadakis, "Physics-informed neural networks: a deep
    learning framework for solving forward and inverse problems involving nonlinear partial
    differential equations", J. Comput. Phys. 378 (2019) 686–707; X. Glorot, Y. Bengio,
    "Understanding the difficulty of training deep feedforward neural networks", AISTATS 2010
    (the initialisation).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mathdl._validation import check_positive_int, check_real
from mathdl.pde._taylor import taylor_derivatives
from mathdl.pde._training import ProgressCallback, TrainingMonitor

__all__ = [
    "PINN",
    "DerivativeMethod",
    "Derivatives",
    "MultilayerPerceptron",
    "PINNActivation",
    "Residual",
    "input_derivatives",
    "pinn_residual",
]


@dataclass(frozen=True)
class Derivatives:
    """A scalar function and its input derivatives at n points.

    Attributes:
        u: ``(n,)`` values.
        gradient: ``(n, d)``, :math:`\\partial u/\\partial z_i`.
        second: ``(n, d)``, the pure second derivatives :math:`\\partial^2 u/\\partial z_i^2`
            (the Hessian's diagonal; :math:`\\Delta u` is ``second.sum(1)``).
    """

    u: Tensor
    gradient: Tensor
    second: Tensor


Residual = Callable[[Tensor, Derivatives, Mapping[str, Tensor]], Tensor]
"""``residual(inputs (n, d), derivatives, coefficients) -> (n,)``: the PDE's residual."""


class PINNActivation(enum.Enum):
    """Activation of :class:`MultilayerPerceptron` (smooth: PINNs need second derivatives).

    ``TANH``: :math:`\\tanh` (Raissi et al. 2019). ``SINE``: :math:`\\sin`.
    """

    TANH = "tanh"
    SINE = "sine"


def _activation(kind: PINNActivation, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """sigma(z), sigma'(z), sigma''(z)."""
    if kind is PINNActivation.TANH:
        a = torch.tanh(z)
        d1 = 1 - a * a
        return a, d1, -2 * a * d1
    a = torch.sin(z)
    return a, torch.cos(z), -a


class MultilayerPerceptron(nn.Module):
    r"""The fully connected network of PINNs: :math:`u(z) = W_L\sigma(\cdots\sigma(W_1z+b_1)
    \cdots)+b_L`, Glorot-normal weights and zero biases (Raissi et al. 2019).

    Args:
        in_features: input dimension d.
        width: neurons per hidden layer.
        hidden_layers: number of hidden layers (Raissi's Burgers network: 8 hidden layers of 20,
            "9 layers" counting the output).
        activation: :class:`PINNActivation` (default tanh).
        lower, upper: if given (d floats each), inputs are first mapped affinely from
            :math:`[lower, upper]` to :math:`[-1,1]^d`, as in the authors' code.
        generator: the initialisation's randomness.
        dtype: parameter dtype (default ``torch.get_default_dtype()``).

    ``forward(z: (n, d)) -> (n,)``; ``derivatives(z)`` returns :class:`Derivatives` by Taylor-mode
    propagation (module docstring).
    """

    def __init__(self, in_features: int, width: int, hidden_layers: int, *,
                 activation: PINNActivation = PINNActivation.TANH,
                 lower: tuple[float, ...] | None = None, upper: tuple[float, ...] | None = None,
                 generator: torch.Generator, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features")
        check_positive_int(width, "width")
        check_positive_int(hidden_layers, "hidden_layers")
        if not isinstance(activation, PINNActivation):
            raise ValueError(f"activation: expected a PINNActivation, got {activation!r}")
        if not isinstance(generator, torch.Generator):
            raise ValueError("generator: expected a torch.Generator")
        self.activation = activation
        dtype = dtype or torch.get_default_dtype()
        if (lower is None) != (upper is None):
            raise ValueError("upper: give both lower and upper, or neither")
        if lower is not None:
            if len(lower) != in_features or len(upper) != in_features:
                raise ValueError(f"lower, upper: expected {in_features} values each")
            lo = torch.tensor([float(v) for v in lower], dtype=dtype)
            hi = torch.tensor([float(v) for v in upper], dtype=dtype)
            if not bool((hi > lo).all()):
                raise ValueError("upper: expected upper > lower in every coordinate")
            scale, shift = 2 / (hi - lo), -(hi + lo) / (hi - lo)
        else:
            scale, shift = torch.ones(in_features, dtype=dtype), torch.zeros(in_features,
                                                                             dtype=dtype)
        self.register_buffer("input_scale", scale)
        self.register_buffer("input_shift", shift)
        sizes = [in_features] + [width] * hidden_layers + [1]
        self.layers = nn.ModuleList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            layer = nn.Linear(fan_in, fan_out, dtype=dtype)
            std = math.sqrt(2.0 / (fan_in + fan_out))
            with torch.no_grad():
                layer.weight.copy_(std * torch.randn(fan_out, fan_in, generator=generator,
                                                     dtype=dtype))
                layer.bias.zero_()
            self.layers.append(layer)

    def forward(self, z: Tensor) -> Tensor:
        h = z * self.input_scale + self.input_shift
        for layer in self.layers[:-1]:
            h = _activation(self.activation, layer(h))[0]
        return self.layers[-1](h).squeeze(-1)

    def derivatives(self, z: Tensor, second: tuple[int, ...] | None = None, *,
                    fused: bool = True) -> Derivatives:
        """u, its gradient and pure second derivatives at ``z: (n, d)``, by Taylor-mode
        propagation (1 + d + k streams per layer, k = the number of second derivatives).
        ``second``: the coordinates whose second derivative is needed (default all); the other
        columns of ``Derivatives.second`` are NaN.

        ``fused`` (default): one stacked matrix product per layer and a hand-written backward
        pass (:mod:`mathdl.pde._taylor`), differentiable once with respect to the parameters
        and ``z``. ``fused=False`` records the same computation on the autograd tape: slower,
        but differentiable any number of times (Hessian-vector products of a loss)."""
        n, d = z.shape
        idx = list(range(d)) if second is None else _check_indices(second, d)
        if fused:
            u, grad, sec = taylor_derivatives(
                z, self.input_scale, self.input_shift, [x.weight for x in self.layers],
                [x.bias for x in self.layers], idx,
                tanh=self.activation is PINNActivation.TANH)
            return Derivatives(u=u, gradient=grad, second=_second_columns(sec, idx, d))
        tanh = self.activation is PINNActivation.TANH
        h = z * self.input_scale + self.input_shift
        first = self.layers[0]
        zz = first(h)                                                  # (n, w)
        dz = (first.weight.T * self.input_scale[:, None])[:, None, :]  # (d, 1, w): no n
        d2z = None
        for layer in self.layers[1:]:
            # activation: sigma(z), sigma'(z) dz, sigma''(z) dz^2 + sigma'(z) d2z; for tanh
            # sigma' = 1 - a^2, sigma'' = -2 a sigma', so the last is sigma' (d2z - 2 a dz^2)
            dzi = dz if idx == list(range(d)) else dz[idx]
            if tanh:
                a = torch.tanh(zz)
                s1 = 1 - a * a
                inner = -2 * a * dzi.square() if d2z is None else torch.addcmul(
                    d2z, a, dzi.square(), value=-2.0)
                g, s = s1 * dz, s1 * inner
            else:
                a, s1 = torch.sin(zz), torch.cos(zz)
                g = s1 * dz
                s = -a * dzi.square() if d2z is None else s1 * d2z - a * dzi.square()
            h = a
            wt = layer.weight.T
            w = wt.shape[1]
            zz = torch.addmm(layer.bias, h, wt)
            dz = (g.reshape(-1, g.shape[-1]) @ wt).reshape(d, n, w)
            d2z = (s.reshape(-1, s.shape[-1]) @ wt).reshape(len(idx), n, w)
        return Derivatives(u=zz[:, 0], gradient=dz[..., 0].T,
                           second=_second_columns(d2z[..., 0].T, idx, d))


def _second_columns(values: Tensor, idx: list[int], d: int) -> Tensor:
    """``(n, k)`` second derivatives in the coordinates ``idx`` -> ``(n, d)``, NaN elsewhere."""
    if idx == list(range(d)):
        return values
    out = torch.full((values.shape[0], d), math.nan, dtype=values.dtype, device=values.device)
    return out.index_copy(1, torch.tensor(idx, device=values.device), values)


def _check_indices(second: object, d: int) -> list[int]:
    if (not isinstance(second, tuple) or not second
            or not all(isinstance(i, int) and 0 <= i < d for i in second)
            or len(set(second)) != len(second)):
        raise ValueError(f"second: expected a non-empty tuple of distinct coordinates in "
                         f"[0, {d}), got {second!r}")
    return list(second)


class DerivativeMethod(enum.Enum):
    """How :func:`input_derivatives` differentiates the network with respect to its inputs.

    ``AUTO``: ``TAYLOR`` for a :class:`MultilayerPerceptron`, ``TORCH_FUNC`` otherwise.
    ``TAYLOR``: forward-mode propagation (only :class:`MultilayerPerceptron`).
    ``TORCH_FUNC``: ``torch.func.vmap(jacrev)`` and ``vmap(jacrev(jacrev))``, any scalar
    network.
    """

    AUTO = "auto"
    TAYLOR = "taylor"
    TORCH_FUNC = "torch_func"


def input_derivatives(model: nn.Module, z: Tensor,
                      method: DerivativeMethod = DerivativeMethod.AUTO, *,
                      second: tuple[int, ...] | None = None) -> Derivatives:
    r""":math:`u`, :math:`\nabla u` and :math:`\partial_{ii}u` of a scalar network at ``z``.

    Args:
        model: maps ``(n, d)`` to ``(n,)`` (or ``(n, 1)``).
        z: ``(n, d)`` inputs.
        method: :class:`DerivativeMethod`.
        second: coordinates whose pure second derivative is needed (default all); with
            ``TAYLOR`` the others are NaN (and cost nothing), ``TORCH_FUNC`` computes all.

    Returns:
        :class:`Derivatives`, differentiable with respect to the model's parameters.

    Raises:
        ValueError: ``z`` is not ``(n, d)``, or ``TAYLOR`` for a model that is not a
            :class:`MultilayerPerceptron`.
    """
    if not isinstance(z, Tensor) or z.ndim != 2:
        raise ValueError(f"z: expected a tensor of shape (n, d), got "
                         f"{tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__}")
    if not isinstance(method, DerivativeMethod):
        raise ValueError(f"method: expected a DerivativeMethod, got {method!r}")
    taylor = isinstance(model, MultilayerPerceptron)
    if method is DerivativeMethod.TAYLOR and not taylor:
        raise ValueError("method: TAYLOR needs a MultilayerPerceptron; use TORCH_FUNC")
    if method is DerivativeMethod.TAYLOR or (method is DerivativeMethod.AUTO and taylor):
        return model.derivatives(z, second)
    if second is not None:
        _check_indices(second, z.shape[1])

    def scalar(zi: Tensor) -> Tensor:
        return model(zi[None]).reshape(())

    u = model(z).reshape(-1)
    gradient = torch.func.vmap(torch.func.jacrev(scalar))(z)
    # reverse-over-reverse: torch.func.hessian (forward-over-reverse) loads TorchScript
    # decompositions that warn on import in recent PyTorch
    hess = torch.func.vmap(torch.func.jacrev(torch.func.jacrev(scalar)))(z)
    return Derivatives(u=u, gradient=gradient, second=torch.diagonal(hess, dim1=1, dim2=2))


def pinn_residual(model: nn.Module, residual: Residual, z: Tensor,
                  coefficients: Mapping[str, Tensor | float] | None = None, *,
                  method: DerivativeMethod = DerivativeMethod.AUTO,
                  second: tuple[int, ...] | None = None) -> Tensor:
    """The PDE residual :math:`\\mathcal N[u_\\theta;\\lambda](z)` of the network at ``z: (n, d)``,
    shape ``(n,)``; ``method`` and ``second`` as in :func:`input_derivatives`."""
    return residual(z, input_derivatives(model, z, method, second=second),
                    dict(coefficients or {}))


class PINN:
    r"""Train a network on the PINN loss (module docstring) and learn unknown coefficients.

    Constructor stores; :meth:`fit` trains ``model`` in place and returns ``self``.

    Args:
        model: the network :math:`u_\theta`, ``(n, d) -> (n,)``.
        residual: the PDE residual, see :data:`Residual`.
        coefficients: known coefficients, name -> value.
        unknowns: unknown (positive) coefficients, name -> initial guess; learned as their log.
        adam_steps, adam_lr: full-batch Adam steps (may be 0) and learning rate.
        lbfgs_steps: L-BFGS iterations after Adam (may be 0); history 50, strong Wolfe line
            search, at most ``1.25 * lbfgs_steps`` loss evaluations, tolerances at machine
            epsilon (Raissi et al. used SciPy's L-BFGS-B with ``ftol = eps``).
        lbfgs_tolerance: L-BFGS stops when the loss or the step changes by less than this
            (absolute); default the dtype's machine epsilon. In float32 a loss near 1e-3 changes
            by less than that long before it has converged: pass 0 to run all the evaluations.
        data_weight: weight of the data term (1 in Raissi et al.).
        method: :class:`DerivativeMethod` for the residual.
        second: the coordinates whose second derivatives the residual uses (default all), e.g.
            ``(1,)`` for Burgers in :math:`(t, x)`.

    After :meth:`fit`: ``coefficients_`` (all coefficients, learned ones at their final value,
    floats), ``loss_`` (final loss), ``history_`` (loss after each Adam step and each L-BFGS
    evaluation), ``evaluations_`` (loss evaluations).

    Raises:
        ValueError: bad steps/rates/weights, non-positive initial unknowns, a name both known and
            unknown.
    """

    def __init__(self, model: nn.Module, residual: Residual, *,
                 coefficients: Mapping[str, float] | None = None,
                 unknowns: Mapping[str, float] | None = None,
                 adam_steps: int = 1000, adam_lr: float = 1e-3, lbfgs_steps: int = 1000,
                 data_weight: float = 1.0, lbfgs_tolerance: float | None = None,
                 method: DerivativeMethod = DerivativeMethod.AUTO,
                 second: tuple[int, ...] | None = None) -> None:
        if not isinstance(model, nn.Module):
            raise ValueError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
        if not callable(residual):
            raise ValueError("residual: expected a callable residual(z, derivatives, coeffs)")
        self.model = model
        self.residual = residual
        self.coefficients = {k: check_real(v, f"coefficients[{k!r}]")
                             for k, v in (coefficients or {}).items()}
        self.unknowns = {k: check_real(v, f"unknowns[{k!r}]", positive=True)
                         for k, v in (unknowns or {}).items()}
        both = set(self.coefficients) & set(self.unknowns)
        if both:
            raise ValueError(f"unknowns: {sorted(both)} are also given as known coefficients")
        self.adam_steps = check_positive_int(adam_steps, "adam_steps", minimum=0)
        self.adam_lr = check_real(adam_lr, "adam_lr", positive=True)
        self.lbfgs_steps = check_positive_int(lbfgs_steps, "lbfgs_steps", minimum=0)
        self.data_weight = check_real(data_weight, "data_weight", nonnegative=True)
        self.lbfgs_tolerance = (None if lbfgs_tolerance is None else
                                check_real(lbfgs_tolerance, "lbfgs_tolerance", nonnegative=True))
        if not isinstance(method, DerivativeMethod):
            raise ValueError(f"method: expected a DerivativeMethod, got {method!r}")
        self.method = method
        self.second = second

    def _parameters(self, like: Tensor) -> dict[str, nn.Parameter]:
        return {k: nn.Parameter(torch.tensor(math.log(v), dtype=like.dtype, device=like.device))
                for k, v in self.unknowns.items()}

    def _coefficients(self, logs: Mapping[str, Tensor]) -> dict[str, Tensor | float]:
        return {**self.coefficients, **{k: torch.exp(v) for k, v in logs.items()}}

    def loss(self, collocation: Tensor, observed_z: Tensor, observed_u: Tensor,
             logs: Mapping[str, Tensor] | None = None) -> Tensor:
        """The PINN loss (module docstring) at the current parameters."""
        coeffs = self._coefficients(logs if logs is not None else
                                    {k: torch.tensor(math.log(v), dtype=collocation.dtype)
                                     for k, v in self.unknowns.items()})
        f = pinn_residual(self.model, self.residual, collocation, coeffs, method=self.method,
                          second=self.second)
        misfit = self.model(observed_z).reshape(-1) - observed_u
        return self.data_weight * misfit.square().mean() + f.square().mean()

    def fit(self, collocation: Tensor, observed_z: Tensor, observed_u: Tensor, *,
            progress: ProgressCallback | None = None) -> PINN:
        """Train on collocation points ``(N_f, d)`` and observations ``observed_z: (N_u, d)``,
        ``observed_u: (N_u,)``.

        Raises:
            ValueError: shapes disagree.
            TrainingDivergedError: the loss became NaN/inf or exploded.
        """
        for name, z in (("collocation", collocation), ("observed_z", observed_z)):
            if not isinstance(z, Tensor) or z.ndim != 2:
                raise ValueError(f"{name}: expected a tensor of shape (n, d)")
        if collocation.shape[1] != observed_z.shape[1]:
            raise ValueError(f"observed_z: expected {collocation.shape[1]} columns like "
                             f"collocation, got {observed_z.shape[1]}")
        if not isinstance(observed_u, Tensor) or observed_u.shape != (observed_z.shape[0],):
            raise ValueError(f"observed_u: expected shape ({observed_z.shape[0]},)")
        logs = self._parameters(collocation)
        params = list(self.model.parameters()) + list(logs.values())
        max_eval = (self.lbfgs_steps * 5) // 4
        monitor = TrainingMonitor(self.adam_steps + max_eval, solver="PINN", progress=progress,
                                  every=10)
        history: list[float] = []

        def objective() -> Tensor:
            return self.loss(collocation, observed_z, observed_u, logs)

        if self.adam_steps:
            adam = torch.optim.Adam(params, lr=self.adam_lr)
            for step in range(1, self.adam_steps + 1):
                adam.zero_grad(set_to_none=True)
                value = objective()
                value.backward()
                adam.step()
                history.append(float(value.detach()))
                monitor.step(step, history[-1])
        if self.lbfgs_steps:
            eps = (torch.finfo(collocation.dtype).eps if self.lbfgs_tolerance is None
                   else self.lbfgs_tolerance)
            lbfgs = torch.optim.LBFGS(params, lr=1.0, max_iter=self.lbfgs_steps,
                                      max_eval=max_eval, tolerance_grad=eps,
                                      tolerance_change=eps, history_size=50,
                                      line_search_fn="strong_wolfe")

            def closure() -> Tensor:
                lbfgs.zero_grad(set_to_none=True)
                value = objective()
                value.backward()
                history.append(float(value.detach()))
                monitor.step(min(len(history), monitor.total), history[-1])
                return value

            lbfgs.step(closure)
        monitor.progress(monitor.total, monitor.total)
        with torch.no_grad():
            self.loss_ = float(objective())
        self.history_ = history
        self.evaluations_ = len(history)
        self.coefficients_ = {**self.coefficients,
                              **{k: math.exp(float(v.detach())) for k, v in logs.items()}}
        return self

    def predict(self, z: Tensor) -> Tensor:
        """:math:`u_\\theta(z)`, ``(n,)``, without gradients."""
        with torch.no_grad():
            return self.model(z).reshape(-1)
