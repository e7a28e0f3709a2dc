r"""Finite fully-connected networks whose infinite-width limits are the kernels of ``_analytic``.

:class:`FullyConnectedNetwork` with ``depth`` :math:`= L` hidden layers of width :math:`n`
computes :math:`f(x) = h^{L+1}(x)` with :math:`a^0 = x \in \mathbb R^{d}`,
:math:`a^l = \phi(h^l)` and, for :math:`l = 0, \dots, L`,

.. math::
    \text{NTK:}\quad h^{l+1} = \frac{\sigma_w}{\sqrt{n_l}} W^{l+1} a^{l} + \sigma_b b^{l+1},
    \quad W^{l+1}_{ij}, b^{l+1}_i \sim \mathcal N(0, 1);
    \qquad
    \text{standard:}\quad h^{l+1} = W^{l+1} a^{l} + b^{l+1},
    \quad W^{l+1}_{ij} \sim \mathcal N(0, \sigma_w^2/n_l),\
    b^{l+1}_i \sim \mathcal N(0, \sigma_b^2),

with :math:`n_0 = d` (so the first layer sees :math:`\sigma_w^2\, x \cdot x'/d`, the input
kernel of :func:`mathdl.kernels._analytic.kernel_fn`) and :math:`n_1 = \dots = n_L = n`.
As :math:`n \to \infty`:

* each output is, at initialisation, a centred Gaussian process with covariance
  :func:`~mathdl.kernels._analytic.nngp_kernel` (outputs independent; Neal 1996; Lee et al. 2018;
  Matthews et al. 2018) in both parameterisations;
* the empirical NTK :math:`\sum_p s_p\, \partial_{\theta_p} f(x)\, \partial_{\theta_p} f(x')`
  with the factors :math:`s_p` of :meth:`FullyConnectedNetwork.ntk_scales` converges to
  :func:`~mathdl.kernels._analytic.ntk_kernel` times the identity on outputs (Jacot et al. 2018),
  with fluctuations :math:`O(n^{-1/2})`. In NTK parameterisation :math:`s_p = 1` (the plain
  empirical NTK); in standard parameterisation :math:`s_p = 1/n_{l-1}` for :math:`W^l` and
  :math:`1` for :math:`b^l`, without which the kernel grows linearly in :math:`n`
  (Sohl-Dickstein et al. 2020).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from mathdl._validation import check_positive_int
from mathdl.kernels._analytic import (
    Activation,
    ActivationKind,
    Erf,
    Parameterization,
    ReLU,
    Serial,
    fully_connected,
)

__all__ = ["FullyConnectedNetwork"]


_check_positive_int = check_positive_int


def _nonlinearity(activation: ActivationKind | ReLU | Erf | Activation) -> Callable[[Tensor],
                                                                                    Tensor]:
    if activation is ActivationKind.RELU or isinstance(activation, ReLU):
        return torch.relu
    if activation is ActivationKind.ERF or isinstance(activation, Erf):
        return torch.erf
    if isinstance(activation, Activation):
        return activation.fn
    raise ValueError(
        f"activation: expected an ActivationKind or an Activation, got {activation!r}"
    )


class FullyConnectedNetwork(nn.Module):
    r"""Fully-connected network ``in_features -> width (x depth) -> out_features``.

    See the module docstring for the layer equations of both parameterisations. Parameters are
    ``weights.l`` of shape ``(n_{l+1}, n_l)`` and ``biases.l`` of shape ``(n_{l+1},)``,
    :math:`l = 0, \dots, L`; biases are always present (zero when :math:`\sigma_b = 0`).

    Args:
        in_features: input dimension :math:`d \ge 1`.
        width: hidden width :math:`n \ge 1`.
        depth: number of hidden layers :math:`L \ge 1`.
        out_features: number of outputs :math:`\ge 1`.
        activation: :class:`ActivationKind` or an activation layer (``ReLU()``, ``Erf()``,
            ``Activation(fn)``, whose ``fn`` is applied).
        weight_var: :math:`\sigma_w^2 \ge 0`.
        bias_var: :math:`\sigma_b^2 \ge 0`.
        parameterization: :class:`Parameterization`.
        generator: source of the initial parameters; ``None``: a new generator seeded 0 (the
            global RNG is never used).
        dtype: floating dtype of the parameters.
        device: device of the parameters.

    Raises:
        ValueError: on non-positive sizes, an unknown activation or parameterisation, negative
            variances or a non-floating dtype.
    """

    def __init__(
        self,
        in_features: int,
        width: int,
        depth: int,
        *,
        out_features: int = 1,
        activation: ActivationKind | ReLU | Erf | Activation = ActivationKind.RELU,
        weight_var: float = 2.0,
        bias_var: float = 0.0,
        parameterization: Parameterization = Parameterization.NTK,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        _check_positive_int(in_features, "in_features")
        _check_positive_int(width, "width")
        _check_positive_int(depth, "depth")
        _check_positive_int(out_features, "out_features")
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"dtype: expected a floating torch.dtype, got {dtype!r}")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ValueError(f"generator: expected a torch.Generator or None, got {generator!r}")
        # validates activation, variances and parameterisation
        self._layers = fully_connected(depth, activation=activation, weight_var=weight_var,
                                       bias_var=bias_var, parameterization=parameterization)
        self._phi = _nonlinearity(activation)
        self.in_features, self.width, self.depth = in_features, width, depth
        self.out_features = out_features
        self.activation = activation
        self.weight_var, self.bias_var = float(weight_var), float(bias_var)
        self.parameterization = parameterization
        self.widths = (in_features, *([width] * depth), out_features)
        self.weights = nn.ParameterList(
            nn.Parameter(torch.empty(n_out, n_in, dtype=dtype, device=device))
            for n_in, n_out in zip(self.widths[:-1], self.widths[1:], strict=True)
        )
        self.biases = nn.ParameterList(
            nn.Parameter(torch.empty(n_out, dtype=dtype, device=device))
            for n_out in self.widths[1:]
        )
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        self.reset_parameters(generator=generator)

    def reset_parameters(self, *, generator: torch.Generator) -> None:
        r"""Draw fresh initial parameters from ``generator``.

        NTK: :math:`W, b \sim \mathcal N(0, 1)`; standard: :math:`W \sim \mathcal N(0,
        \sigma_w^2/n_l)`, :math:`b \sim \mathcal N(0, \sigma_b^2)`. Samples are drawn on the
        generator's device in the parameters' dtype, layer by layer (weights then bias), and
        copied to the parameters' device.

        Args:
            generator: a ``torch.Generator``.

        Raises:
            ValueError: if ``generator`` is not a ``torch.Generator``.
        """
        if not isinstance(generator, torch.Generator):
            raise ValueError(f"generator: expected a torch.Generator, got {generator!r}")
        standard = self.parameterization is Parameterization.STANDARD
        with torch.no_grad():
            for w, b in zip(self.weights, self.biases, strict=True):
                for p, std in ((w, math.sqrt(self.weight_var / w.shape[1])),
                               (b, math.sqrt(self.bias_var))):
                    z = torch.randn(p.shape, generator=generator, dtype=p.dtype,
                                    device=generator.device)
                    p.copy_(z * std if standard else z)

    def forward(self, x: Tensor) -> Tensor:
        r"""Network output.

        Args:
            x: ``(n, in_features)`` inputs.

        Returns:
            ``(n, out_features)``.

        Raises:
            ValueError: if ``x`` is not a 2-D tensor with ``in_features`` columns.
        """
        if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != self.in_features:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x: expected shape (n, {self.in_features}), got {shape}")
        sw, sb = math.sqrt(self.weight_var), math.sqrt(self.bias_var)
        ntk = self.parameterization is Parameterization.NTK
        a = x
        last = len(self.weights) - 1
        for l, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):  # noqa: E741
            if ntk:
                h = (sw / math.sqrt(w.shape[1])) * (a @ w.T) + sb * b
            else:
                h = a @ w.T + b
            a = h if l == last else self._phi(h)
        return a

    def ntk_scales(self) -> dict[str, float]:
        r"""Per-parameter factors :math:`s_p` of the empirical NTK that converges to
        :meth:`kernel`'s NTK.

        :math:`\hat\Theta(x, x') = \sum_p s_p\, \partial_{\theta_p} f(x)\,
        \partial_{\theta_p} f(x')`. NTK parameterisation: every :math:`s_p = 1`. Standard:
        :math:`s_p = 1/n_{l}` for ``weights.l`` (its fan-in) and 1 for ``biases.l`` -- the
        layer-wise learning-rate multipliers of the gradient flow that the standard-
        parameterisation kernel describes (Sohl-Dickstein et al. 2020).

        Returns:
            ``{name: s_p}`` for every name of ``named_parameters()``.
        """
        standard = self.parameterization is Parameterization.STANDARD
        scales: dict[str, float] = {}
        for name, p in self.named_parameters():
            is_weight = name.startswith("weights.")
            scales[name] = 1.0 / p.shape[1] if (standard and is_weight) else 1.0
        return scales

    def kernel(self) -> Serial:
        r"""The infinite-width layers of this network (same depth, activation, variances and
        parameterisation), for :func:`mathdl.kernels._analytic.kernel_fn`."""
        return self._layers

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, width={self.width}, depth={self.depth}, "
                f"out_features={self.out_features}, weight_var={self.weight_var}, "
                f"bias_var={self.bias_var}, parameterization={self.parameterization.name}")
