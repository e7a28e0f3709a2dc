r"""Two-layer networks with an explicit output scaling, and full-batch gradient descent.

:class:`TwoLayerNetwork` with width :math:`m` computes

.. math::
    f(x) = \alpha\, c_m \sum_{k=1}^{m} a_k\, \sigma(w_k \cdot x + b_k),
    \qquad
    c_m = \begin{cases} 1 & \text{standard ("conventional") scaling} \\
                        m^{-1/2} & \text{NTK scaling} \\
                        m^{-1} & \text{mean-field scaling,} \end{cases}

with first-layer weights :math:`w_k \in \mathbb R^d` (parameter ``weight``, shape ``(m, d)``),
optional biases :math:`b_k` (``bias``, shape ``(m,)``) and output weights :math:`a_k`
(``output``, shape ``(m,)``). :math:`c_m` fixes how the function scales with the width at a
fixed distribution of the parameters:

* ``STANDARD``, :math:`c_m = 1`: the "conventional scaling" of E, Ma & Wu (2019/2020),
  :math:`f(x; a, B) = \sum_k a_k \sigma(b_k^\top x)`, usually with :math:`a(0) = 0` and
  :math:`b_k(0) \sim \pi_0`, the uniform distribution on :math:`S^{d-1}`
  (``output_init=OutputInit.ZERO``, ``first_layer_init=FirstLayerInit.SPHERE``);
* ``NTK``, :math:`c_m = m^{-1/2}`: with :math:`a_k \sim \mathcal N(0, 1)` the output at
  initialisation is :math:`O(1)` and Gaussian as :math:`m \to \infty` (Jacot et al. 2018);
* ``MEAN_FIELD``, :math:`c_m = m^{-1}`: :math:`f` is the integral of
  :math:`a\,\sigma(w \cdot x + b)` against the empirical measure of the neurons (Mei, Montanari &
  Nguyen 2018; Chizat & Bach 2018; Rotskoff & Vanden-Eijnden 2018).

The extra factor :math:`\alpha` is the scale of Chizat, Oyallon & Bach (2019): training
:math:`\alpha f` with the loss divided by :math:`\alpha^2` is "lazy" as :math:`\alpha \to \infty`.

:func:`train_gradient_descent` runs plain full-batch gradient descent
:math:`\theta_{k+1} = \theta_k - \eta \nabla_\theta R(\theta_k)` on a subset of the parameters,
e.g. ``trainable=["output"]``: the random feature model with the first layer frozen.

References:
    W. E, C. Ma & L. Wu, "A comparative analysis of optimization and generalization properties
    of two-layer neural network and random feature models under gradient descent dynamics",
    Sci. China Math. 63 (2020), arXiv:1904.04326;
    A. Jacot, F. Gabriel & C. Hongler, "Neural tangent kernel", NeurIPS 2018;
    S. Mei, A. Montanari & P.-M. Nguyen, "A mean field view of the landscape of two-layer neural
    networks", PNAS 2018;
    L. Chizat, E. Oyallon & F. Bach, "On lazy training in differentiable programming",
    NeurIPS 2019.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mathdl._validation import check_positive_int, check_real

__all__ = [
    "FirstLayerInit",
    "Loss",
    "Nonlinearity",
    "OutputInit",
    "Scaling",
    "TrainingRecord",
    "TwoLayerNetwork",
    "train_gradient_descent",
]


class Scaling(enum.Enum):
    r"""The width normalisation :math:`c_m` of the output: :meth:`factor`.

    ``STANDARD``: :math:`1` (E, Ma & Wu's conventional scaling). ``NTK``: :math:`m^{-1/2}`.
    ``MEAN_FIELD``: :math:`m^{-1}`.
    """

    STANDARD = "standard"
    NTK = "ntk"
    MEAN_FIELD = "mean_field"

    def factor(self, width: int) -> float:
        r""":math:`c_m` for width :math:`m` = ``width`` (a positive integer)."""
        _check_positive_int(width, "width")
        if self is Scaling.STANDARD:
            return 1.0
        if self is Scaling.NTK:
            return 1.0 / math.sqrt(width)
        return 1.0 / width


class Nonlinearity(enum.Enum):
    r"""The activation :math:`\sigma`: ``RELU`` :math:`\max(z, 0)`, ``TANH``, ``ERF``,
    ``IDENTITY`` :math:`z` (a linear network, for tests and linear-model checks)."""

    RELU = "relu"
    TANH = "tanh"
    ERF = "erf"
    IDENTITY = "identity"

    def __call__(self, z: Tensor) -> Tensor:
        if self is Nonlinearity.RELU:
            return torch.relu(z)
        if self is Nonlinearity.TANH:
            return torch.tanh(z)
        if self is Nonlinearity.ERF:
            return torch.erf(z)
        return z


class OutputInit(enum.Enum):
    r"""Initial output weights: ``GAUSSIAN`` :math:`a_k \sim \mathcal N(0, s^2)` with
    :math:`s` = ``output_std``; ``ZERO`` :math:`a_k = 0` (so :math:`f \equiv 0` at
    initialisation, E, Ma & Wu 2019)."""

    GAUSSIAN = "gaussian"
    ZERO = "zero"


class FirstLayerInit(enum.Enum):
    r"""Initial first-layer weights, :math:`s` = ``first_layer_std``: ``GAUSSIAN``
    :math:`w_k \sim \mathcal N(0, s^2 I_d / d)` (so :math:`\mathbb E|w_k|^2 = s^2`); ``SPHERE``
    :math:`w_k = s\, u_k` with :math:`u_k` uniform on :math:`S^{d-1}` (:math:`\pi_0` of E, Ma &
    Wu for :math:`s = 1`)."""

    GAUSSIAN = "gaussian"
    SPHERE = "sphere"


class Loss(enum.Enum):
    r"""The training loss of :func:`train_gradient_descent` for outputs :math:`f_i`, targets
    :math:`y_i`, :math:`i = 1..n`.

    ``HALF_MSE``: :math:`R = \frac{1}{2n} \sum_i (f_i - y_i)^2` (the empirical risk of E, Ma &
    Wu). ``HALF_SSE``: :math:`L = \frac12 \sum_i (f_i - y_i)^2` (Jacot et al.; Lee et al. 2019).
    """

    HALF_MSE = "half_mse"
    HALF_SSE = "half_sse"

    def __call__(self, f: Tensor, y: Tensor) -> Tensor:
        squared = torch.sum((f - y) ** 2)
        if self is Loss.HALF_MSE:
            return squared / (2 * f.shape[0])
        return squared / 2


_check_positive_int = check_positive_int


_check_finite_real = check_real


def _check_enum(value: object, cls: type[enum.Enum], name: str) -> None:
    if not isinstance(value, cls):
        raise ValueError(f"{name}: expected a {cls.__name__}, got {value!r}")


def _check_matrix(x: object, name: str, columns: int | None = None) -> None:
    if not isinstance(x, Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 2 or (columns is not None and x.shape[1] != columns):
        cols = "d" if columns is None else str(columns)
        raise ValueError(f"{name}: expected shape (n, {cols}), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name}: expected a floating dtype, got {x.dtype}")


class TwoLayerNetwork(nn.Module):
    r"""Two-layer network :math:`f(x) = \alpha c_m \sum_{k=1}^m a_k \sigma(w_k \cdot x + b_k)`.

    See the module docstring for the scalings. Parameters: ``weight`` :math:`W` of shape
    ``(width, in_features)`` (rows :math:`w_k`), ``bias`` of shape ``(width,)`` when
    ``bias=True`` (otherwise the attribute is ``None``), and ``output`` :math:`a` of shape
    ``(width,)``.

    Args:
        in_features: input dimension :math:`d \ge 1`.
        width: number of neurons :math:`m \ge 1`.
        scaling: :class:`Scaling`, the factor :math:`c_m`.
        alpha: the extra output scale :math:`\alpha > 0`.
        activation: :class:`Nonlinearity` :math:`\sigma`.
        output_init: :class:`OutputInit`.
        output_std: standard deviation of Gaussian output weights, :math:`\ge 0`.
        first_layer_init: :class:`FirstLayerInit`.
        first_layer_std: scale :math:`s \ge 0` of the first-layer weights.
        bias: whether the neurons have biases :math:`b_k`.
        bias_std: biases start at :math:`b_k \sim \mathcal N(0,` ``bias_std``:math:`^2)`
            (zero by default).
        generator: source of the initial parameters; ``None``: a new generator seeded 0 (the
            global random state is never used).
        dtype: floating dtype of the parameters.
        device: device of the parameters.

    Raises:
        ValueError: on a non-positive size, an option of the wrong type, a negative scale, a
            non-positive ``alpha``, a non-floating dtype or a generator that is not a
            ``torch.Generator``.
    """

    def __init__(
        self,
        in_features: int,
        width: int,
        *,
        scaling: Scaling = Scaling.NTK,
        alpha: float = 1.0,
        activation: Nonlinearity = Nonlinearity.RELU,
        output_init: OutputInit = OutputInit.GAUSSIAN,
        output_std: float = 1.0,
        first_layer_init: FirstLayerInit = FirstLayerInit.GAUSSIAN,
        first_layer_std: float = 1.0,
        bias: bool = False,
        bias_std: float = 0.0,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        _check_positive_int(in_features, "in_features")
        _check_positive_int(width, "width")
        _check_enum(scaling, Scaling, "scaling")
        _check_finite_real(alpha, "alpha", positive=True)
        _check_enum(activation, Nonlinearity, "activation")
        _check_enum(output_init, OutputInit, "output_init")
        _check_finite_real(output_std, "output_std", nonnegative=True)
        _check_enum(first_layer_init, FirstLayerInit, "first_layer_init")
        _check_finite_real(first_layer_std, "first_layer_std", nonnegative=True)
        if not isinstance(bias, bool):
            raise ValueError(f"bias: expected a bool, got {bias!r}")
        _check_finite_real(bias_std, "bias_std", nonnegative=True)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"dtype: expected a floating torch.dtype, got {dtype!r}")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ValueError(f"generator: expected a torch.Generator or None, got {generator!r}")
        self.in_features, self.width = in_features, width
        self.scaling, self.alpha, self.activation = scaling, float(alpha), activation
        self.output_init, self.output_std = output_init, float(output_std)
        self.first_layer_init, self.first_layer_std = first_layer_init, float(first_layer_std)
        self.bias_std = float(bias_std)
        self.weight = nn.Parameter(torch.empty(width, in_features, dtype=dtype, device=device))
        if bias:
            self.bias = nn.Parameter(torch.empty(width, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.output = nn.Parameter(torch.empty(width, dtype=dtype, device=device))
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        self.reset_parameters(generator=generator)

    @property
    def output_scale(self) -> float:
        r""":math:`\alpha\, c_m`, the factor in front of :math:`\sum_k a_k \sigma(\cdot)`."""
        return self.alpha * self.scaling.factor(self.width)

    def reset_parameters(self, *, generator: torch.Generator) -> None:
        r"""Draw fresh initial parameters from ``generator``: first-layer weights, then biases
        (if any), then output weights (nothing is drawn for ``OutputInit.ZERO``). Samples are
        drawn on the generator's device in the parameters' dtype and copied to their device.

        Raises:
            ValueError: if ``generator`` is not a ``torch.Generator``.
        """
        if not isinstance(generator, torch.Generator):
            raise ValueError(f"generator: expected a torch.Generator, got {generator!r}")

        def normal(shape: tuple[int, ...]) -> Tensor:
            return torch.randn(shape, generator=generator, dtype=self.weight.dtype,
                               device=generator.device)

        m, d = self.width, self.in_features
        with torch.no_grad():
            w = normal((m, d))
            if self.first_layer_init is FirstLayerInit.SPHERE:
                w = w / w.norm(dim=1, keepdim=True)  # uniform on S^{d-1}
            else:
                w = w / math.sqrt(d)
            self.weight.copy_(self.first_layer_std * w)
            if self.bias is not None:
                self.bias.copy_(self.bias_std * normal((m,)))
            if self.output_init is OutputInit.ZERO:
                self.output.zero_()
            else:
                self.output.copy_(self.output_std * normal((m,)))

    def _check_input(self, x: object) -> None:
        _check_matrix(x, "x", self.in_features)
        if x.dtype != self.weight.dtype:  # type: ignore[union-attr]
            raise ValueError(f"x: expected dtype {self.weight.dtype} like the parameters, got "
                             f"{x.dtype}")  # type: ignore[union-attr]

    def features(self, x: Tensor) -> Tensor:
        r"""The random-feature map at the current first layer, :math:`\sigma(W x + b)`.

        Args:
            x: ``(n, in_features)`` inputs.

        Returns:
            ``(n, width)``: entry :math:`(i, k)` is :math:`\sigma(w_k \cdot x_i + b_k)`, so
            ``forward(x) == output_scale * features(x) @ output``.

        Raises:
            ValueError: if ``x`` is not a floating ``(n, in_features)`` tensor of the
                parameters' dtype.
        """
        self._check_input(x)
        z = x @ self.weight.T
        if self.bias is not None:
            z = z + self.bias
        return self.activation(z)

    def forward(self, x: Tensor) -> Tensor:
        r"""Network output :math:`f(x_i) = \alpha c_m \sum_k a_k \sigma(w_k \cdot x_i + b_k)`.

        Args:
            x: ``(n, in_features)`` inputs.

        Returns:
            ``(n,)``.

        Raises:
            ValueError: as :meth:`features`.
        """
        return self.output_scale * (self.features(x) @ self.output)


@dataclass(frozen=True)
class TrainingRecord:
    r"""What :func:`train_gradient_descent` recorded.

    Attributes:
        steps: the recorded step numbers :math:`k` (0, ``record_every``, ..., and always the
            last step).
        train_loss: the loss :math:`R(\theta_k)` at each recorded step.
        train_outputs: ``(T, n)`` outputs on the training inputs at the recorded steps.
        eval_outputs: ``(T, n_eval)`` outputs on ``x_eval`` at the recorded steps, or ``None``.
        parameter_distance: :math:`|\theta_K - \theta_0|_F` of every named parameter after the
            last step (0 for frozen ones).
        initial_norm: :math:`|\theta_0|_F` of every named parameter.
        learning_rate: the step size :math:`\eta`.
        loss: the :class:`Loss` minimised.
    """

    steps: tuple[int, ...]
    train_loss: tuple[float, ...]
    train_outputs: Tensor
    eval_outputs: Tensor | None
    parameter_distance: Mapping[str, float]
    initial_norm: Mapping[str, float]
    learning_rate: float
    loss: Loss

    def relative_distance(self, name: str) -> float:
        r""":math:`|\theta_K - \theta_0|_F / |\theta_0|_F` of parameter ``name``.

        Raises:
            ValueError: if there is no such parameter or it started at zero.
        """
        if name not in self.initial_norm:
            raise ValueError(f"name: expected one of {sorted(self.initial_norm)}, got {name!r}")
        norm = self.initial_norm[name]
        if norm == 0:
            raise ValueError(f"name: parameter {name!r} started at zero; its relative distance "
                             "is undefined (use parameter_distance)")
        return self.parameter_distance[name] / norm


def _outputs(model: nn.Module, x: Tensor) -> Tensor:
    out = model(x)
    if not isinstance(out, Tensor) or out.shape not in ((x.shape[0],), (x.shape[0], 1)):
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"model: expected outputs of shape ({x.shape[0]},) or "
                         f"({x.shape[0]}, 1), got {shape}")
    return out.reshape(-1)


def _check_loss(value: Tensor, step: int, lr: float) -> None:
    if not torch.isfinite(value):
        raise RuntimeError(
            f"gradient descent diverged: the loss is {float(value.detach())} at step {step} "
            f"(learning_rate={lr:g}); try a smaller learning_rate"
        )


def train_gradient_descent(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    learning_rate: float,
    steps: int,
    record_every: int = 1,
    x_eval: Tensor | None = None,
    trainable: Sequence[str] | None = None,
    loss: Loss = Loss.HALF_MSE,
    batch_size: int | None = None,
    generator: torch.Generator | None = None,
) -> TrainingRecord:
    r"""Full-batch gradient descent :math:`\theta_{k+1} = \theta_k - \eta \nabla_\theta
    R(\theta_k)`, :math:`k = 0, \dots, K-1`, on the parameters named in ``trainable``.

    The model is updated in place; the other parameters stay fixed, e.g.
    ``trainable=["output"]`` on a :class:`TwoLayerNetwork` trains the random feature model
    :math:`\alpha c_m \sum_k a_k \sigma(w_k(0) \cdot x + b_k(0))`. With ``Loss.HALF_MSE``
    :math:`R = \frac1{2n}\sum_i (f(x_i) - y_i)^2`, and step :math:`k` is the gradient-flow time
    :math:`t = k\eta`. Deterministic: no randomness is used.

    Args:
        model: a module mapping ``(n, d)`` inputs to ``(n,)`` (or ``(n, 1)``) outputs.
        x: ``(n, d)`` training inputs, ``n >= 1``.
        y: ``(n,)`` targets, same dtype and device as ``x``.
        learning_rate: :math:`\eta > 0`.
        steps: number of steps :math:`K \ge 0`.
        record_every: record the loss and outputs every this many steps (and at step
            :math:`K`).
        x_eval: ``(n_eval, d)`` inputs whose outputs are recorded, or ``None``.
        trainable: names (as in ``model.named_parameters()``) of the parameters to train;
            ``None``: all of them.
        loss: :class:`Loss`.
        batch_size: ``None`` for full-batch gradient descent; else stochastic gradient descent:
            each step draws ``batch_size`` of the ``n`` samples without replacement (from
            ``generator``) and steps along the gradient of the loss on them, an unbiased
            estimate of the full gradient (Robbins & Monro 1951). The recorded losses and
            outputs stay full-batch.
        generator: the source of the minibatches (required with ``batch_size``).

    Returns:
        :class:`TrainingRecord`.

    Raises:
        ValueError: on malformed inputs or options, unknown or repeated parameter names, or a
            model whose output is not ``(n,)``.
        RuntimeError: if the loss becomes NaN or infinite (gradient descent diverged); the
            message names the step.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    _check_matrix(x, "x")
    n, d = x.shape
    if n < 1:
        raise ValueError(f"x: expected at least one row, got shape {tuple(x.shape)}")
    if not isinstance(y, Tensor) or y.shape != (n,):
        shape = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
        raise ValueError(f"y: expected a tensor of shape ({n},), got {shape}")
    if y.dtype != x.dtype or y.device != x.device:
        raise ValueError(f"y: expected dtype {x.dtype} on {x.device} like x, got {y.dtype} on "
                         f"{y.device}")
    if x_eval is not None:
        _check_matrix(x_eval, "x_eval", d)
        if x_eval.dtype != x.dtype or x_eval.device != x.device:
            raise ValueError(f"x_eval: expected dtype {x.dtype} on {x.device} like x, got "
                             f"{x_eval.dtype} on {x_eval.device}")
    _check_finite_real(learning_rate, "learning_rate", positive=True)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps: expected an integer >= 0, got {steps!r}")
    _check_positive_int(record_every, "record_every")
    _check_enum(loss, Loss, "loss")
    if batch_size is not None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not (
                1 <= batch_size <= n):
            raise ValueError(f"batch_size: expected an integer in [1, {n}] or None, got "
                             f"{batch_size!r}")
        if not isinstance(generator, torch.Generator):
            raise ValueError("generator: stochastic gradient descent (batch_size) needs a "
                             "torch.Generator")
    named = dict(model.named_parameters())
    if trainable is None:
        names = list(named)
    else:
        if isinstance(trainable, str) or not isinstance(trainable, Sequence):
            raise ValueError(f"trainable: expected a sequence of parameter names, got "
                             f"{trainable!r}")
        names = list(trainable)
        unknown = [name for name in names if name not in named]
        if unknown:
            raise ValueError(f"trainable: unknown parameter {unknown[0]!r}; the model has "
                             f"{sorted(named)}")
        if len(set(names)) != len(names):
            raise ValueError(f"trainable: expected distinct names, got {names}")
    if not names:
        raise ValueError("trainable: expected at least one parameter to train")
    frozen = [name for name in names if not named[name].requires_grad]
    if frozen:
        raise ValueError(f"trainable: parameter {frozen[0]!r} has requires_grad=False")
    params = [named[name] for name in names]
    start = {name: p.detach().clone() for name, p in named.items()}
    lr = float(learning_rate)

    recorded: list[int] = []
    losses: list[float] = []
    train_out: list[Tensor] = []
    eval_out: list[Tensor] = []
    full_batch = batch_size is None
    for step in range(steps + 1):
        record = step % record_every == 0 or step == steps
        last = step == steps
        if full_batch or record:
            with torch.set_grad_enabled(full_batch and not last):
                out = _outputs(model, x)
                value = loss(out, y)
            _check_loss(value, step, lr)
        if record:
            recorded.append(step)
            losses.append(float(value.detach()))
            train_out.append(out.detach().clone())
            if x_eval is not None:
                with torch.no_grad():
                    eval_out.append(_outputs(model, x_eval).clone())
        if last:
            break
        if not full_batch:
            batch = torch.randperm(n, generator=generator)[:batch_size].to(x.device)
            value = loss(_outputs(model, x[batch]), y[batch])
            _check_loss(value, step, lr)
        grads = torch.autograd.grad(value, params, allow_unused=True)
        with torch.no_grad():
            for p, g in zip(params, grads, strict=True):
                if g is not None:
                    p.sub_(g, alpha=lr)
    distance = {name: float(torch.linalg.norm(p.detach() - start[name]))
                for name, p in named.items()}
    norms = {name: float(torch.linalg.norm(s)) for name, s in start.items()}
    return TrainingRecord(
        steps=tuple(recorded),
        train_loss=tuple(losses),
        train_outputs=torch.stack(train_out),
        eval_outputs=torch.stack(eval_out) if x_eval is not None else None,
        parameter_distance=distance,
        initial_norm=norms,
        learning_rate=lr,
        loss=loss,
    )
