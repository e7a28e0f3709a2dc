r"""Infinite-width NNGP and NTK kernels of fully-connected networks, layer by layer.

A fully-connected network with :math:`L` hidden layers of widths :math:`n_1, \dots, n_L`,

.. math::
    h^{1} = \mathrm{Dense}^{1}(x), \qquad
    h^{l+1} = \mathrm{Dense}^{l+1}\big(\phi(h^{l})\big), \qquad f(x) = h^{L+1}(x),

is, at initialisation and as :math:`\min_l n_l \to \infty`, a Gaussian process with covariance
:math:`\Sigma^{L+1}` (the NNGP kernel; Neal 1996; Williams 1997; Lee et al. 2018; Matthews et al.
2018), and its neural tangent kernel
:math:`\hat\Theta(x, x') = \sum_p \partial_{\theta_p} f(x)\, \partial_{\theta_p} f(x')` converges
to a deterministic kernel :math:`\Theta^{L+1}` (Jacot, Gabriel & Hongler 2018; Lee et al. 2019;
Arora et al. 2019). Both are computed by propagating a :class:`Kernel`, the pair
:math:`(\Sigma, \Theta)` between two input sets together with the variances
:math:`\Sigma(x, x)`, through a sequence of layers; each layer is a frozen dataclass mapping a
:class:`Kernel` to a :class:`Kernel`, and :func:`kernel_fn` evaluates a composition on inputs.

**Input kernel.** As in neural-tangents (Novak et al. 2020), the input is treated as the
"activation" of layer 0 with the per-feature normalisation

.. math::
    \Sigma^{0}(x, x') = \frac{x \cdot x'}{d}, \qquad \Theta^{0}(x, x') = 0,
    \qquad x, x' \in \mathbb{R}^{d},

so that the first :class:`Dense` layer gives :math:`\sigma_w^2\, x \cdot x' / d + \sigma_b^2`,
matching the finite layer :math:`h^1 = (\sigma_w/\sqrt{d}) W^1 x + \sigma_b b^1`.

**Dense layer, NTK parameterisation** (Jacot et al. 2018):
:math:`h^{l+1} = (\sigma_w / \sqrt{n_l}) W^{l+1} a^{l} + \sigma_b b^{l+1}`,
:math:`W_{ij}, b_i \sim \mathcal N(0, 1)`, :math:`a^l` the previous layer's output. Then

.. math::
    \Sigma' = \sigma_w^2 \Sigma + \sigma_b^2, \qquad \Theta' = \Sigma' + \sigma_w^2 \Theta .

**Dense layer, standard parameterisation** (Sohl-Dickstein, Novak, Schoenholz & Lee 2020):
:math:`h^{l+1} = W^{l+1} a^{l} + b^{l+1}`, :math:`W_{ij} \sim \mathcal N(0, \sigma_w^2 / n_l)`,
:math:`b_i \sim \mathcal N(0, \sigma_b^2)`. The NNGP is the same as above. The plain empirical
NTK of this network diverges with the width: the weights :math:`W^{l+1}` contribute
:math:`a^l(x) \cdot a^l(x') = n_l\, \Sigma(x, x') + o(n_l)`. What is implemented is the limit of
the *fan-in normalised* empirical NTK

.. math::
    \hat\Theta_{\mathrm{std}}(x, x') = \sum_{l=1}^{L+1} \Big[
    \frac{1}{n_{l-1}} \big\langle \partial_{W^l} f(x), \partial_{W^l} f(x') \big\rangle
    + \big\langle \partial_{b^l} f(x), \partial_{b^l} f(x') \big\rangle \Big],
    \qquad n_0 = d,

i.e. the kernel of gradient flow with layer-wise learning rates :math:`\eta / n_{l-1}` on the
weights and :math:`\eta` on the biases (every bias is trainable, also when
:math:`\sigma_b = 0`). Its Dense-layer recursion is

.. math::
    \Sigma' = \sigma_w^2 \Sigma + \sigma_b^2, \qquad \Theta' = \Sigma + 1 + \sigma_w^2 \Theta,

with :math:`\Sigma` the *input* kernel of the layer: the weight term is not multiplied by
:math:`\sigma_w^2` and the bias term is 1. In the notation of Sohl-Dickstein et al. (2020), whose
layer widths are :math:`n_l = s\,\hat N_l`, this is their :math:`s \to \infty` limit with every
hidden base width :math:`\hat N_l = 1`, except that the first layer's weight term is also
divided by its fan-in :math:`d` (they keep :math:`d\,\Sigma^0 = x \cdot x'`); equivalently the
neural-tangents ``Dense(..., parameterization="standard")`` update
``ntk = input_width * nngp + 1 + W_std**2 * ntk`` with ``input_width`` replaced by 1.
Keeping :math:`n_{l-1}\,\Sigma` instead (neural-tangents with :math:`s = 1`) gives the
unnormalised kernel of one finite network, which grows linearly with the width.
:meth:`mathdl.kernels._networks.FullyConnectedNetwork.ntk_scales` returns the matching
per-parameter factors :math:`1/n_{l-1}` and 1.

**Activation layer** :math:`a = \phi(h)`: with :math:`(u, v)` centred Gaussian,
:math:`\mathbb E[u^2] = \Sigma(x, x)`, :math:`\mathbb E[uv] = \Sigma(x, x')`,
:math:`\mathbb E[v^2] = \Sigma(x', x')`,

.. math::
    \Sigma'(x, x') = \mathbb E[\phi(u)\phi(v)], \qquad
    \Theta'(x, x') = \dot\Sigma(x, x')\, \Theta(x, x'), \quad
    \dot\Sigma(x, x') = \mathbb E[\phi'(u)\phi'(v)],

and :math:`\Sigma'(x, x) = \mathbb E[\phi(u)^2]`. Combined with the next Dense layer this is the
familiar :math:`\Theta^{l+1} = \Sigma^{l+1} + \sigma_w^2\, \dot\Sigma^{l} \odot \Theta^{l}`
(NTK parameterisation). :class:`ReLU` and :class:`Erf` use closed forms; :class:`Activation`
integrates any elementwise :math:`\phi` by Gauss-Hermite quadrature.

References:
    R. M. Neal, *Bayesian Learning for Neural Networks*, Springer 1996, ch. 2;
    C. K. I. Williams, "Computing with infinite networks", NeurIPS 1997;
    Y. Cho & L. K. Saul, "Kernel methods for deep learning", NeurIPS 2009;
    J. Lee, Y. Bahri, R. Novak, S. S. Schoenholz, J. Pennington & J. Sohl-Dickstein, "Deep neural
    networks as Gaussian processes", ICLR 2018;
    A. G. de G. Matthews, M. Rowland, J. Hron, R. E. Turner & Z. Ghahramani, "Gaussian process
    behaviour in wide deep neural networks", ICLR 2018;
    A. Jacot, F. Gabriel & C. Hongler, "Neural tangent kernel: convergence and generalization in
    neural networks", NeurIPS 2018;
    J. Lee, L. Xiao, S. S. Schoenholz, Y. Bahri, R. Novak, J. Sohl-Dickstein & J. Pennington,
    "Wide neural networks of any depth evolve as linear models under gradient descent",
    NeurIPS 2019;
    S. Arora, S. S. Du, W. Hu, Z. Li, R. Salakhutdinov & R. Wang, "On exact computation with an
    infinitely wide neural net", NeurIPS 2019, eqs. (8)-(10) and appendix;
    J. Sohl-Dickstein, R. Novak, S. S. Schoenholz & J. Lee, "On the infinite width limit of
    neural networks with a standard parameterization", arXiv:2001.07301 (2020);
    R. Novak, L. Xiao, J. Hron, J. Lee, A. A. Alemi, J. Sohl-Dickstein & S. S. Schoenholz,
    "Neural Tangents: fast and easy infinite neural networks in Python", ICLR 2020.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
import torch
from torch import Tensor

__all__ = [
    "Activation",
    "ActivationKind",
    "Dense",
    "Erf",
    "Kernel",
    "Parameterization",
    "ReLU",
    "Serial",
    "fully_connected",
    "kernel_diagonal",
    "kernel_fn",
    "nngp_kernel",
    "ntk_kernel",
]


class Parameterization(enum.Enum):
    r"""How a Dense layer scales its weights (see the module docstring for both recursions).

    ``NTK``: :math:`h' = (\sigma_w/\sqrt{n}) W a + \sigma_b b`, :math:`W, b \sim \mathcal N(0,1)`
    (Jacot et al. 2018). ``STANDARD``: :math:`h' = W a + b`,
    :math:`W \sim \mathcal N(0, \sigma_w^2/n)`, :math:`b \sim \mathcal N(0, \sigma_b^2)`, with the
    NTK normalised by the fan-in (Sohl-Dickstein et al. 2020).
    """

    NTK = "ntk"
    STANDARD = "standard"


class ActivationKind(enum.Enum):
    r"""Activations with closed-form kernels: ``RELU`` (:class:`ReLU`), ``ERF`` (:class:`Erf`)."""

    RELU = "relu"
    ERF = "erf"


def _check_tensor(t: Tensor, name: str, ndim: int) -> None:
    if not isinstance(t, Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
    if t.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D tensor, got shape {tuple(t.shape)}")
    if not t.is_floating_point():
        raise ValueError(f"{name}: expected a floating dtype, got {t.dtype}")


@dataclass(frozen=True)
class Kernel:
    r"""Infinite-width kernels between input sets :math:`\{x_i\}_{i<n_1}`, :math:`\{x'_j\}_{j<n_2}`.

    Attributes:
        nngp: ``(n1, n2)`` :math:`\Sigma(x_i, x'_j)`, the NNGP (output covariance) kernel.
        ntk: ``(n1, n2)`` :math:`\Theta(x_i, x'_j)`, the neural tangent kernel.
        var1: ``(n1,)`` :math:`\Sigma(x_i, x_i)`, needed by activation layers.
        var2: ``(n2,)`` :math:`\Sigma(x'_j, x'_j)`.

    Raises:
        ValueError: if the shapes, dtypes or devices are inconsistent.
    """

    nngp: Tensor
    ntk: Tensor
    var1: Tensor
    var2: Tensor

    def __post_init__(self) -> None:
        if isinstance(self.nngp, Tensor) and self.nngp.ndim == 1:  # a diagonal kernel
            for name in ("nngp", "ntk", "var1", "var2"):
                _check_tensor(getattr(self, name), name, 1)
                if getattr(self, name).shape != self.nngp.shape:
                    raise ValueError(f"{name}: expected shape {tuple(self.nngp.shape)} like "
                                     "nngp in a diagonal kernel")
            self._check_dtypes()
            return
        _check_tensor(self.nngp, "nngp", 2)
        _check_tensor(self.ntk, "ntk", 2)
        _check_tensor(self.var1, "var1", 1)
        _check_tensor(self.var2, "var2", 1)
        n1, n2 = self.nngp.shape
        if self.ntk.shape != self.nngp.shape:
            raise ValueError(
                f"ntk: expected shape {(n1, n2)} matching nngp, got {tuple(self.ntk.shape)}"
            )
        if self.var1.shape[0] != n1:
            raise ValueError(f"var1: expected shape ({n1},), got {tuple(self.var1.shape)}")
        if self.var2.shape[0] != n2:
            raise ValueError(f"var2: expected shape ({n2},), got {tuple(self.var2.shape)}")
        self._check_dtypes()

    def _check_dtypes(self) -> None:
        for name in ("ntk", "var1", "var2"):
            t = getattr(self, name)
            if t.dtype != self.nngp.dtype or t.device != self.nngp.device:
                raise ValueError(
                    f"{name}: expected dtype {self.nngp.dtype} on {self.nngp.device} like nngp, "
                    f"got {t.dtype} on {t.device}"
                )


def _check_variance(value: float, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name}: expected a real number, got {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name}: expected a finite non-negative variance, got {value!r}")


@dataclass(frozen=True)
class Dense:
    r"""Fully-connected layer of infinite width.

    NTK parameterisation (Jacot et al. 2018; Lee et al. 2019):

    .. math::
        \Sigma' = \sigma_w^2 \Sigma + \sigma_b^2, \qquad \Theta' = \Sigma' + \sigma_w^2 \Theta.

    Standard parameterisation, fan-in normalised NTK (Sohl-Dickstein et al. 2020 with base
    widths 1; see the module docstring):

    .. math::
        \Sigma' = \sigma_w^2 \Sigma + \sigma_b^2, \qquad \Theta' = \Sigma + 1 + \sigma_w^2 \Theta.

    The variances follow :math:`\Sigma'(x, x) = \sigma_w^2 \Sigma(x, x) + \sigma_b^2`.

    Args:
        weight_var: :math:`\sigma_w^2 \ge 0`.
        bias_var: :math:`\sigma_b^2 \ge 0`.
        parameterization: :class:`Parameterization`.

    Raises:
        ValueError: on a negative or non-finite variance or an unknown parameterisation.
    """

    weight_var: float = 1.0
    bias_var: float = 0.0
    parameterization: Parameterization = Parameterization.NTK

    def __post_init__(self) -> None:
        _check_variance(self.weight_var, "weight_var")
        _check_variance(self.bias_var, "bias_var")
        if not isinstance(self.parameterization, Parameterization):
            raise ValueError(
                "parameterization: expected a Parameterization, got "
                f"{self.parameterization!r}"
            )

    def __call__(self, k: Kernel) -> Kernel:
        sw2, sb2 = float(self.weight_var), float(self.bias_var)
        nngp = torch.mul(k.nngp, sw2).add_(sb2)
        if self.parameterization is Parameterization.NTK:
            ntk = torch.add(nngp, k.ntk, alpha=sw2)
        else:
            ntk = torch.add(k.nngp, k.ntk, alpha=sw2).add_(1.0)
        return Kernel(nngp=nngp, ntk=ntk, var1=sw2 * k.var1 + sb2, var2=sw2 * k.var2 + sb2)


def _apply_pair(
    pair: Callable[[Tensor, Tensor, Tensor], tuple[Tensor, Tensor]], k: Kernel
) -> Kernel:
    """Apply an elementwise (Σ11, Σ12, Σ22) -> (E[φφ], E[φ'φ']) map to a kernel.

    The variances are the first output at (v, v, v): the same floating-point operations as for
    the cross entries, so a coincident pair keeps Σ(x, x') = Σ(x, x) exactly.
    """
    if k.nngp.ndim == 1:  # diagonal kernel: entry i pairs x_i with itself
        nngp, dot = pair(k.var1, k.nngp, k.var2)
    else:
        nngp, dot = pair(k.var1[:, None], k.nngp, k.var2[None, :])
    var1 = pair(k.var1, k.var1, k.var1)[0]
    var2 = pair(k.var2, k.var2, k.var2)[0]
    return Kernel(nngp=nngp, ntk=dot.mul_(k.ntk), var1=var1, var2=var2)


def _correlation(s11: Tensor, s12: Tensor, s22: Tensor) -> tuple[Tensor, Tensor]:
    r""":math:`\sqrt{\Sigma_{11}\Sigma_{22}}` and the correlation clamped to [-1, 1] (0 if the
    product of variances vanishes)."""
    norm = torch.mul(s11, s22).sqrt_()
    if bool((s11 > 0).all()) and bool((s22 > 0).all()):  # the usual case: no guard needed
        return norm, torch.div(s12, norm).clamp_(-1.0, 1.0)
    safe = torch.where(norm > 0, norm, torch.ones_like(norm))
    rho = torch.where(norm > 0, s12 / safe, torch.zeros_like(norm)).clamp(-1.0, 1.0)
    return norm, rho


def _relu_pair(s11: Tensor, s12: Tensor, s22: Tensor) -> tuple[Tensor, Tensor]:
    norm, rho = _correlation(s11, s12, s22)
    # In-place on fresh temporaries: the recursion is memory-bound, each pass counts.
    pi_minus = torch.arccos(rho).neg_().add_(math.pi)  # pi - theta
    sin = torch.mul(rho, rho).neg_().add_(1.0).clamp_(min=0.0).sqrt_()
    nngp = torch.mul(pi_minus, rho).add_(sin).mul_(norm).mul_(1.0 / (2.0 * math.pi))
    dot = pi_minus.mul_(1.0 / (2.0 * math.pi))
    return nngp, dot


@dataclass(frozen=True)
class ReLU:
    r""":math:`\phi(z) = \max(z, 0)`: the arc-cosine kernels of Cho & Saul (2009).

    With :math:`\cos\theta = \Sigma_{12} / \sqrt{\Sigma_{11}\Sigma_{22}}`,

    .. math::
        \mathbb E[\phi(u)\phi(v)] = \frac{\sqrt{\Sigma_{11}\Sigma_{22}}}{2\pi}
            \big(\sin\theta + (\pi - \theta)\cos\theta\big), \qquad
        \mathbb E[\phi'(u)\phi'(v)] = \frac{\pi - \theta}{2\pi},

    (arc-cosine kernels of degree 1 and 0, each divided by 2; Cho & Saul 2009, eq. (6)), and
    :math:`\mathbb E[\phi(u)^2] = \Sigma_{11}/2`. The correlation is clamped to :math:`[-1, 1]`;
    a pair with a zero variance is treated as uncorrelated.
    """

    def __call__(self, k: Kernel) -> Kernel:
        return _apply_pair(_relu_pair, k)


def _erf_pair(s11: Tensor, s12: Tensor, s22: Tensor) -> tuple[Tensor, Tensor]:
    prod = (1.0 + 2.0 * s11) * (1.0 + 2.0 * s22)
    arg = (2.0 * s12 / torch.sqrt(prod)).clamp(-1.0, 1.0)
    nngp = (2.0 / math.pi) * torch.arcsin(arg)
    det = torch.clamp(prod - 4.0 * s12 * s12, min=torch.finfo(s12.dtype).tiny)
    dot = (4.0 / math.pi) / torch.sqrt(det)
    return nngp, dot


@dataclass(frozen=True)
class Erf:
    r""":math:`\phi(z) = \operatorname{erf}(z)`: Williams' (1997) closed form.

    .. math::
        \mathbb E[\phi(u)\phi(v)] = \frac{2}{\pi} \arcsin
            \frac{2\Sigma_{12}}{\sqrt{(1 + 2\Sigma_{11})(1 + 2\Sigma_{22})}}, \qquad
        \mathbb E[\phi'(u)\phi'(v)] = \frac{4}{\pi}
            \big((1 + 2\Sigma_{11})(1 + 2\Sigma_{22}) - 4\Sigma_{12}^2\big)^{-1/2},

    the second from :math:`\phi'(z) = (2/\sqrt\pi) e^{-z^2}` and
    :math:`\mathbb E[e^{-u^2 - v^2}] = \det(I + 2\Sigma)^{-1/2}` (Williams 1997, eq. (11)).
    """

    def __call__(self, k: Kernel) -> Kernel:
        return _apply_pair(_erf_pair, k)


_QUADRATURE_CHUNK = 1 << 22


def _gauss_hermite_rule(order: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Probabilists' Gauss-Hermite rule: :math:`\int g\, d\mathcal N(0,1) \approx \sum_i w_i
    g(t_i)`, :math:`\sum_i w_i = 1`.

    Golub-Welsch: the nodes are the eigenvalues of the Jacobi matrix of the recurrence
    :math:`\mathrm{He}_{k+1} = t\,\mathrm{He}_k - k\,\mathrm{He}_{k-1}` (zero diagonal,
    off-diagonal :math:`\sqrt{k}`), the weights the squared first components of its unit
    eigenvectors (Golub & Welsch, Math. Comp. 23 (1969) 221-230). Stable for large orders, where
    the explicit weight formula overflows (numpy's ``hermegauss`` returns NaN at order 512).
    The rule is symmetrised (:math:`t_i = -t_{n-1-i}`, :math:`w_i = w_{n-1-i}`) so odd moments
    vanish exactly.
    """
    off = np.sqrt(np.arange(1, order, dtype=np.float64))
    nodes, vectors = scipy.linalg.eigh_tridiagonal(np.zeros(order), off)
    weights = vectors[0] ** 2
    nodes = 0.5 * (nodes - nodes[::-1])
    weights = 0.5 * (weights + weights[::-1])
    return nodes, weights / weights.sum()


@dataclass(frozen=True)
class Activation:
    r"""Any elementwise activation, integrated by Gauss-Hermite quadrature.

    With the Cholesky factorisation of the :math:`2 \times 2` covariance,
    :math:`u = \sqrt{\Sigma_{11}}\, z_1`, :math:`v = c z_1 + s z_2`,
    :math:`c = \Sigma_{12}/\sqrt{\Sigma_{11}}`, :math:`s = \sqrt{\Sigma_{22} - c^2}`,
    :math:`z_1, z_2 \sim \mathcal N(0, 1)` independent, the tensor-product rule with the
    ``order``-point probabilists' Gauss-Hermite nodes :math:`t_i` and weights :math:`w_i`
    (:math:`\sum_i w_i = 1`) gives

    .. math::
        \mathbb E[g(u) h(v)] \approx \sum_{i,j} w_i w_j\, g(\sqrt{\Sigma_{11}}\, t_i)\,
            h(c\, t_i + s\, t_j),

    for :math:`(g, h) = (\phi, \phi)` (NNGP) and :math:`(\phi', \phi')` (NTK). The rule is exact
    for polynomials of degree :math:`2\,\mathrm{order} - 1` in each variable; smooth activations
    (erf, tanh, GELU) converge spectrally, while a kink (ReLU) or jump (its derivative) gives
    only algebraic convergence, so compare with :class:`ReLU` at high order. Memory is
    :math:`O(\max(n_1 n_2 \cdot \mathrm{order}, 2^{22}))` per layer: several outer nodes are
    evaluated at once while that fits (use ``block_size`` in :func:`kernel_fn` for large
    :math:`n`).
    The rule is applied with :math:`x` as the first variable, so ``K(x1, x2)`` and
    ``K(x2, x1).T`` agree only up to the quadrature error.

    Args:
        fn: elementwise activation :math:`\phi`, a function of tensors preserving shape.
        derivative: :math:`\phi'`; by default computed with ``torch.autograd`` (then the NTK is
            not differentiable with respect to the inputs; pass ``derivative`` if needed).
        order: number of quadrature nodes per dimension, :math:`\ge 1` (rule computed in
            float64 by the Golub-Welsch algorithm).

    Raises:
        ValueError: if ``fn`` (or ``derivative``) is not callable or ``order`` is not a positive
            integer; at call time, if ``fn`` does not preserve shapes.
    """

    fn: Callable[[Tensor], Tensor]
    derivative: Callable[[Tensor], Tensor] | None = None
    order: int = 32
    _rule: tuple[np.ndarray, np.ndarray] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not callable(self.fn):
            raise ValueError(f"fn: expected a callable, got {self.fn!r}")
        if self.derivative is not None and not callable(self.derivative):
            raise ValueError(f"derivative: expected a callable or None, got {self.derivative!r}")
        if isinstance(self.order, bool) or not isinstance(self.order, int) or self.order < 1:
            raise ValueError(f"order: expected a positive integer, got {self.order!r}")
        object.__setattr__(self, "_rule", _gauss_hermite_rule(self.order))

    def _values(self, t: Tensor) -> tuple[Tensor, Tensor]:
        if self.derivative is not None:
            y, dy = self.fn(t), self.derivative(t)
        else:
            with torch.enable_grad():
                leaf = t.detach().requires_grad_(True)
                out = self.fn(leaf)
                if out.shape != t.shape:
                    raise ValueError(
                        f"fn: expected an elementwise function preserving shape {tuple(t.shape)},"
                        f" got {tuple(out.shape)}"
                    )
                (dy,) = torch.autograd.grad(out.sum(), leaf)
            y = self.fn(t) if t.requires_grad else out.detach()
        if y.shape != t.shape or dy.shape != t.shape:
            raise ValueError(
                f"fn: expected elementwise functions preserving shape {tuple(t.shape)}, got "
                f"{tuple(y.shape)} and {tuple(dy.shape)}"
            )
        return y, dy

    def _pair(self, s11: Tensor, s12: Tensor, s22: Tensor) -> tuple[Tensor, Tensor]:
        s11, s12, s22 = torch.broadcast_tensors(s11, s12, s22)
        nodes_np, weights_np = self._rule
        t = torch.as_tensor(nodes_np, dtype=s12.dtype, device=s12.device)
        w = torch.as_tensor(weights_np, dtype=s12.dtype, device=s12.device)
        a = torch.sqrt(torch.clamp(s11, min=0.0))
        safe = torch.where(a > 0, a, torch.ones_like(a))
        c = torch.where(a > 0, s12 / safe, torch.zeros_like(a))
        s = torch.sqrt(torch.clamp(s22 - c * c, min=0.0))
        nngp = torch.zeros_like(s12)
        dot = torch.zeros_like(s12)
        order = t.shape[0]
        # outer nodes per step: at most ~4M inner evaluations at once, at least one node
        step = max(1, min(order, _QUADRATURE_CHUNK // max(1, s12.numel() * order)))
        a, c, s = a[..., None], c[..., None, None], s[..., None, None]
        for i0 in range(0, order, step):
            ti, wi = t[i0:i0 + step], w[i0:i0 + step]
            g, dg = self._values(a * ti)  # (..., k): φ(u) at the outer nodes
            h, dh = self._values(c * ti[:, None] + s * t)  # (..., k, order): φ(v)
            nngp = nngp + (wi * g * (h @ w)).sum(-1)
            dot = dot + (wi * dg * (dh @ w)).sum(-1)
        return nngp, dot

    def __call__(self, k: Kernel) -> Kernel:
        return _apply_pair(self._pair, k)


_ACTIVATION_LAYERS = (ReLU, Erf, Activation)


@dataclass(frozen=True, init=False)
class Serial:
    r"""Composition of layers, applied left to right: ``Serial(a, b)(k) == b(a(k))``.

    Args:
        *layers: callables ``Kernel -> Kernel`` (:class:`Dense`, :class:`ReLU`, :class:`Erf`,
            :class:`Activation`, :class:`Serial`, ...).

    Raises:
        ValueError: if a layer is not callable.
    """

    layers: tuple[Callable[[Kernel], Kernel], ...]

    def __init__(self, *layers: Callable[[Kernel], Kernel]) -> None:
        for i, layer in enumerate(layers):
            if not callable(layer):
                raise ValueError(f"layers: expected callables Kernel -> Kernel, item {i} is "
                                 f"{layer!r}")
        object.__setattr__(self, "layers", tuple(layers))

    def __call__(self, k: Kernel) -> Kernel:
        for layer in self.layers:
            k = layer(k)
        return k


def _activation_layer(activation: ActivationKind | ReLU | Erf | Activation) -> object:
    if isinstance(activation, ActivationKind):
        return ReLU() if activation is ActivationKind.RELU else Erf()
    if isinstance(activation, _ACTIVATION_LAYERS):
        return activation
    raise ValueError(
        f"activation: expected an ActivationKind or an Activation, got {activation!r}"
    )


def fully_connected(
    depth: int,
    *,
    activation: ActivationKind | ReLU | Erf | Activation = ActivationKind.RELU,
    weight_var: float = 2.0,
    bias_var: float = 0.0,
    parameterization: Parameterization = Parameterization.NTK,
) -> Serial:
    r"""The layers of a fully-connected network with ``depth`` hidden layers.

    ``Serial(Dense, act, Dense, act, ..., Dense)``: :math:`L` = ``depth`` blocks
    ``[Dense, act]`` followed by the readout ``Dense``, all with the same variances and
    parameterisation. The defaults :math:`\sigma_w^2 = 2`, :math:`\sigma_b^2 = 0` with ReLU
    (He initialisation) keep :math:`\Sigma^l(x, x) = 2|x|^2/d` at every pre-activation; then in
    NTK parameterisation :math:`\Theta^{L+1}(x, x) = 2 (L + 1) |x|^2 / d`.

    Args:
        depth: number of hidden layers :math:`L \ge 1`.
        activation: :class:`ActivationKind` or an activation layer (:class:`ReLU`,
            :class:`Erf`, :class:`Activation`).
        weight_var: :math:`\sigma_w^2 \ge 0`.
        bias_var: :math:`\sigma_b^2 \ge 0`.
        parameterization: :class:`Parameterization`.

    Returns:
        :class:`Serial` of :math:`2L + 1` layers.

    Raises:
        ValueError: if ``depth < 1``, on an unknown activation or parameterisation, or a
            negative variance.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth: expected an integer >= 1 (hidden layers), got {depth!r}")
    act = _activation_layer(activation)
    dense = Dense(weight_var=weight_var, bias_var=bias_var, parameterization=parameterization)
    layers: list[Callable[[Kernel], Kernel]] = []
    for _ in range(depth):
        layers += [dense, act]  # type: ignore[list-item]
    layers.append(dense)
    return Serial(*layers)


def _input_kernel(x1: Tensor, x2: Tensor, same: bool) -> Kernel:
    d = x1.shape[1]
    var1 = x1.square().sum(dim=1) / d
    var2 = var1 if same else x2.square().sum(dim=1) / d
    nngp = (x1 @ x2.T) / d
    if same:  # exact diagonal: Σ(x, x) enters the activations as both Σ11 and Σ12
        nngp.diagonal().copy_(var1)
    else:
        # Equal (or opposite) rows of x1 and x2 must give Σ12 = ±sqrt(Σ11 Σ22) exactly, as on the
        # diagonal of the x2=None case: the matrix product and the sums of squares round
        # differently, and arccos turns an ulp of correlation into sqrt(eps) ~ 1e-8 of kernel.
        # Snapping correlations within 8 ulps of ±1 changes any other pair by at most the same
        # O(sqrt(eps)), the accuracy the recursion has there anyway.
        norm = torch.sqrt(var1[:, None] * var2[None, :])
        slack = 8.0 * torch.finfo(nngp.dtype).eps * norm
        nngp = torch.where((nngp - norm).abs() <= slack, norm, nngp)
        nngp = torch.where((nngp + norm).abs() <= slack, -norm, nngp)
    return Kernel(nngp=nngp, ntk=torch.zeros_like(nngp), var1=var1, var2=var2)


def _check_inputs(x1: Tensor, x2: Tensor | None) -> None:
    _check_tensor(x1, "x1", 2)
    if x1.shape[0] < 1 or x1.shape[1] < 1:
        raise ValueError(f"x1: expected shape (n1, d) with n1, d >= 1, got {tuple(x1.shape)}")
    if x2 is None:
        return
    _check_tensor(x2, "x2", 2)
    if x2.shape[0] < 1:
        raise ValueError(f"x2: expected at least one row, got shape {tuple(x2.shape)}")
    if x2.shape[1] != x1.shape[1]:
        raise ValueError(
            f"x2: expected feature dimension d = {x1.shape[1]} matching x1, got {x2.shape[1]}"
        )
    if x2.dtype != x1.dtype or x2.device != x1.device:
        raise ValueError(
            f"x2: expected dtype {x1.dtype} on {x1.device} like x1, got {x2.dtype} on {x2.device}"
        )


DEFAULT_BLOCK_SIZE = 512


def kernel_diagonal(layers: Callable[[Kernel], Kernel], x: Tensor) -> Kernel:
    r"""The diagonals :math:`\Sigma(x_i, x_i)` and :math:`\Theta(x_i, x_i)` in :math:`O(n)` memory.

    Propagates a *diagonal* :class:`Kernel` (1-D ``nngp``, ``ntk``, ``var1 = var2``, entry
    :math:`i` pairing :math:`x_i` with itself) through ``layers``, starting from
    :math:`\Sigma^0(x, x) = |x|^2 / d`, :math:`\Theta^0 = 0`. Every layer of this module is
    elementwise, so the result equals the diagonal of :func:`kernel_fn` ``(layers, x)`` without
    forming the :math:`n \times n` matrices (e.g. the prior variances of a GP posterior).

    Args:
        layers: a callable ``Kernel -> Kernel``.
        x: ``(n, d)`` floating inputs.

    Returns:
        :class:`Kernel` whose four fields have shape ``(n,)``.

    Raises:
        ValueError: if ``layers`` is not callable or ``x`` is not a non-empty 2-D floating tensor.
    """
    if not callable(layers):
        raise ValueError(f"layers: expected a callable Kernel -> Kernel, got {layers!r}")
    _check_inputs(x, None)
    var = x.square().sum(dim=1) / x.shape[1]
    k = layers(Kernel(nngp=var, ntk=torch.zeros_like(var), var1=var, var2=var))
    if not isinstance(k, Kernel) or k.nngp.ndim != 1:
        raise ValueError("layers: expected to map a diagonal Kernel to a diagonal Kernel")
    return k


def kernel_fn(
    layers: Callable[[Kernel], Kernel],
    x1: Tensor,
    x2: Tensor | None = None,
    *,
    block_size: int | None = DEFAULT_BLOCK_SIZE,
) -> Kernel:
    r"""Evaluate the infinite-width kernels of ``layers`` on two input sets.

    Starts from the input kernel :math:`\Sigma^0 = x x'^{\top}/d`, :math:`\Theta^0 = 0`,
    variances :math:`|x|^2/d` (neural-tangents' convention, Novak et al. 2020) and applies
    ``layers``. Every layer is elementwise in :math:`(i, j)` given the variances, so the result
    is assembled from blocks of at most ``block_size`` rows and columns; each block's
    intermediates take :math:`O(\mathrm{block\_size}^2)` memory (times the quadrature order for
    :class:`Activation`), and the result equals the unblocked one up to the rounding of the
    input Gram matrix. With ``x2=None`` only blocks on and above the diagonal are computed and
    the result is exactly symmetric.

    Args:
        layers: a callable ``Kernel -> Kernel``, e.g. :func:`fully_connected` or a
            :class:`Serial`.
        x1: ``(n1, d)`` floating inputs.
        x2: ``(n2, d)`` inputs of the same dtype and device; ``None`` means ``x1``.
        block_size: maximal block size, a positive integer; ``None``: a single block. The
            default 512 keeps each block's intermediates in cache-friendly sizes: on 2 CPU
            threads it is 6-7x faster than one block at n = 4096, and memory stays bounded.

    Returns:
        :class:`Kernel` with ``nngp``, ``ntk`` of shape ``(n1, n2)`` and ``var1``, ``var2``; dtype
        and device of ``x1``.

    Raises:
        ValueError: if ``layers`` is not callable, on non-2-D or non-floating inputs, mismatched
            feature dimensions, dtypes or devices, or a non-positive ``block_size``.
    """
    if not callable(layers):
        raise ValueError(f"layers: expected a callable Kernel -> Kernel, got {layers!r}")
    _check_inputs(x1, x2)
    if block_size is not None and (
        isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1
    ):
        raise ValueError(f"block_size: expected a positive integer or None, got {block_size!r}")
    same = x2 is None
    y = x1 if x2 is None else x2
    n1, n2 = x1.shape[0], y.shape[0]
    b1 = n1 if block_size is None else block_size
    b2 = n2 if block_size is None else block_size
    if same:
        b1 = b2 = min(b1, b2)
    nngp = ntk = var1 = var2 = None
    for i0 in range(0, n1, b1):
        for j0 in range(i0 if same else 0, n2, b2):
            diagonal = same and i0 == j0
            k = layers(_input_kernel(x1[i0:i0 + b1], y[j0:j0 + b2], diagonal))
            if not isinstance(k, Kernel):
                raise ValueError(f"layers: expected to return a Kernel, got {type(k).__name__}")
            if nngp is None:
                nngp = k.nngp.new_empty((n1, n2))
                ntk = k.ntk.new_empty((n1, n2))
                var1 = k.var1.new_empty((n1,))
                var2 = var1 if same else k.var2.new_empty((n2,))
            if diagonal:  # mirror the upper triangle of the diagonal block
                upper = torch.ones_like(k.nngp, dtype=torch.bool).triu()
                kn = torch.where(upper, k.nngp, k.nngp.T)
                kt = torch.where(upper, k.ntk, k.ntk.T)
            else:
                kn, kt = k.nngp, k.ntk
            rows, cols = slice(i0, i0 + b1), slice(j0, j0 + b2)
            nngp[rows, cols] = kn
            ntk[rows, cols] = kt
            if same and not diagonal:
                nngp[cols, rows] = kn.T
                ntk[cols, rows] = kt.T
            if j0 == (i0 if same else 0):
                var1[rows] = k.var1
            if i0 == 0 and not same:
                var2[cols] = k.var2
    return Kernel(nngp=nngp, ntk=ntk, var1=var1, var2=var2)


def nngp_kernel(
    x1: Tensor,
    x2: Tensor | None = None,
    *,
    depth: int,
    activation: ActivationKind | ReLU | Erf | Activation = ActivationKind.RELU,
    weight_var: float = 2.0,
    bias_var: float = 0.0,
    block_size: int | None = DEFAULT_BLOCK_SIZE,
) -> Tensor:
    r"""NNGP kernel :math:`\Sigma^{L+1}(x, x')` of a fully-connected network (any
    parameterisation).

    The output covariance at initialisation as all widths tend to infinity (Neal 1996;
    Lee et al. 2018; Matthews et al. 2018): :func:`kernel_fn` of :func:`fully_connected`.

    Args:
        x1: ``(n1, d)`` inputs.
        x2: ``(n2, d)`` inputs or ``None`` (``x1``).
        depth: number of hidden layers :math:`L \ge 1`.
        activation: :class:`ActivationKind` or an activation layer.
        weight_var: :math:`\sigma_w^2 \ge 0`.
        bias_var: :math:`\sigma_b^2 \ge 0`.
        block_size: see :func:`kernel_fn`.

    Returns:
        ``(n1, n2)`` tensor, dtype and device of ``x1``.

    Raises:
        ValueError: as :func:`fully_connected` and :func:`kernel_fn`.
    """
    layers = fully_connected(depth, activation=activation, weight_var=weight_var,
                             bias_var=bias_var)
    return kernel_fn(layers, x1, x2, block_size=block_size).nngp


def ntk_kernel(
    x1: Tensor,
    x2: Tensor | None = None,
    *,
    depth: int,
    activation: ActivationKind | ReLU | Erf | Activation = ActivationKind.RELU,
    weight_var: float = 2.0,
    bias_var: float = 0.0,
    parameterization: Parameterization = Parameterization.NTK,
    block_size: int | None = DEFAULT_BLOCK_SIZE,
) -> Tensor:
    r"""Neural tangent kernel :math:`\Theta^{L+1}(x, x')` of a fully-connected network.

    NTK parameterisation: :math:`\Theta^{l+1} = \Sigma^{l+1} + \sigma_w^2\,\dot\Sigma^{l}
    \odot \Theta^{l}` (Jacot et al. 2018; Arora et al. 2019, eq. (10)); standard
    parameterisation: :math:`\Theta^{l+1} = \Sigma_{\mathrm{in}}^{l} + 1 + \sigma_w^2\,
    \dot\Sigma^{l} \odot \Theta^{l}`, the limit of the fan-in normalised empirical NTK
    (Sohl-Dickstein et al. 2020; see the module docstring).

    Args:
        x1: ``(n1, d)`` inputs.
        x2: ``(n2, d)`` inputs or ``None`` (``x1``).
        depth: number of hidden layers :math:`L \ge 1`.
        activation: :class:`ActivationKind` or an activation layer.
        weight_var: :math:`\sigma_w^2 \ge 0`.
        bias_var: :math:`\sigma_b^2 \ge 0`.
        parameterization: :class:`Parameterization`.
        block_size: see :func:`kernel_fn`.

    Returns:
        ``(n1, n2)`` tensor, dtype and device of ``x1``.

    Raises:
        ValueError: as :func:`fully_connected` and :func:`kernel_fn`.
    """
    layers = fully_connected(depth, activation=activation, weight_var=weight_var,
                             bias_var=bias_var, parameterization=parameterization)
    return kernel_fn(layers, x1, x2, block_size=block_size).ntk
