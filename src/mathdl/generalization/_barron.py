r"""Barron space: path norms of two-layer ReLU networks, Monte Carlo approximation of Barron
targets at :math:`\|f\|_{\mathcal B}/\sqrt m`, and a function that is not Barron.

A **Barron function** is an infinitely wide two-layer ReLU network

.. math::
    f(x) = \mathbb E_{(a, w, b) \sim \rho}\big[a\, \sigma(w\cdot x + b)\big], \qquad
    \|f\|_{\mathcal B} = \inf_\rho \mathbb E_\rho\big[|a|\,(|w|_1 + |b|)\big],

the infimum over all representations :math:`\rho` of :math:`f` on the domain (E, Ma & Wu 2019,
§2; E & Wojtowytsch 2020). A width-:math:`m` network in the mean-field (:math:`1/m`) scaling,
:math:`f_m(x) = \frac1m\sum_k a_k\sigma(w_k\cdot x + b_k)`
(:class:`~mathdl.training.TwoLayerNetwork` with ``Scaling.MEAN_FIELD``), is the case of an
empirical measure, and its **path norm** is

.. math::
    \|\theta\|_P = \frac1m \sum_{k=1}^m |a_k|\,\big(|w_k|_1 + |b_k|\big)

(:func:`path_norm`). It is invariant under the rescaling :math:`a_k \to c a_k`,
:math:`(w_k, b_k) \to (w_k, b_k)/c`, :math:`c > 0`, which leaves the function unchanged by
positive homogeneity of the ReLU.

**Monte Carlo approximation** (Barron 1993; E, Ma & Wu 2019, the approximation theorem).
Normalise each atom of a representation to :math:`|u|_1 + |c| = 1` and sample :math:`m` atoms
i.i.d. from :math:`\tilde\rho \propto |a|(|w|_1 + |b|)\,\rho` (importance sampling); with
:math:`P = \mathbb E_\rho|a|(|w|_1+|b|)`

.. math::
    f_m(x) = \frac1m \sum_{k=1}^m P\, \operatorname{sign}(a_k)\, \sigma(u_k\cdot x + c_k),
    \qquad \mathbb E f_m = f, \qquad \|\theta_m\|_P = P \text{ exactly},

.. math::
    m\,\mathbb E\|f_m - f\|_{L^2(\mu)}^2 = P^2\, \mathbb E_{x\sim\mu}\mathbb E_{\tilde\rho}
    \sigma(u\cdot x + c)^2 - \|f\|_{L^2(\mu)}^2 \le P^2 \max(1, \sup_x|x|_\infty)^2,

since :math:`|u\cdot x + c| \le |u|_1|x|_\infty + |c|`. The rate :math:`m^{-1/2}` and the constant
do not depend on the dimension (:func:`monte_carlo_approximant`,
:func:`monte_carlo_error_constant`).

**The Euclidean norm is Barron.** With :math:`u` uniform on :math:`S^{d-1}`,
:math:`\mathbb E_u|u\cdot x| = |x|_2\,\mathbb E|u_1|` and :math:`|z| = \sigma(z) + \sigma(-z)`, so

.. math::
    |x|_2 = A_d\, \mathbb E_u\,\sigma(u\cdot x), \qquad
    A_d = \frac{2}{\mathbb E|u_1|} = \frac{2\sqrt\pi\,\Gamma(\frac{d+1}{2})}{\Gamma(\frac d2)},

a representation with path norm :math:`A_d\,\mathbb E|u|_1 = A_d\, d\,\mathbb E|u_1| = 2d`
(:func:`norm_barron_coefficient`). **The distance to the sphere is not.** E & Wojtowytsch
(2020, "Representation formulas and pointwise properties for Barron functions") show that a
Barron function is differentiable outside a countable union of affine hyperplanes (its
Laplacian is a superposition of measures on hyperplanes); :math:`\operatorname{dist}(x, S^{d-1})
= |\,|x|_2 - 1|` (:func:`sphere_distance`) has its kink on the curved sphere, so for
:math:`d \ge 2` it is not in :math:`\mathcal B` and the path norm needed to approximate it to
accuracy :math:`\varepsilon` grows without bound as :math:`\varepsilon \to 0`, whereas for
:math:`|x|_2` (kink at the single point 0) it stays below :math:`2d`.

**Path-norm-penalised fitting over a fixed first layer** (:func:`fit_path_norm_lasso`):

.. math::
    \min_a \frac1{2n}\sum_i \big(f(x_i) - y_i\big)^2 + \lambda \|\theta\|_P,

a weighted lasso in the outer weights, solved by FISTA (Beck & Teboulle 2009). For any
competitor :math:`g` in the span of the first layer, the minimiser satisfies
:math:`\|\theta^*\|_P \le \|g\|_P + \widehat R(g)/\lambda` with :math:`\widehat R` the data term.

References:
    A. R. Barron, "Universal approximation bounds for superpositions of a sigmoidal function",
    IEEE Trans. Inf. Theory 39 (1993);
    W. E, C. Ma & L. Wu, "A priori estimates of the population risk for two-layer neural
    networks", Commun. Math. Sci. 17 (2019), arXiv:1810.06397 (approximation theorem; Thm 6
    for the Rademacher complexity);
    W. E & S. Wojtowytsch, "Representation formulas and pointwise properties for Barron
    functions", Calc. Var. PDE 61 (2022), arXiv:2006.05982; "On the Banach spaces associated with
    multi-layer ReLU networks", arXiv:2007.15623 (2020);
    A. Beck & M. Teboulle, "A fast iterative shrinkage-thresholding algorithm for linear inverse
    problems", SIAM J. Imaging Sci. 2 (2009).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from mathdl.generalization._checks import (
    check_generator,
    check_positive_int,
    check_real,
    check_tensor,
)
from mathdl.training import Nonlinearity, OutputInit, Scaling, TwoLayerNetwork

__all__ = [
    "fit_path_norm_lasso",
    "monte_carlo_approximant",
    "monte_carlo_error_constant",
    "norm_barron_coefficient",
    "path_norm",
    "random_barron_target",
    "sphere_distance",
]


def _check_network(model: object, name: str = "model") -> TwoLayerNetwork:
    if not isinstance(model, TwoLayerNetwork):
        raise ValueError(f"{name}: expected a TwoLayerNetwork, got {type(model).__name__}")
    if model.activation is not Nonlinearity.RELU:
        raise ValueError(f"{name}: the path norm is defined for ReLU networks, got "
                         f"{model.activation}")
    return model


def _atom_norms(model: TwoLayerNetwork) -> Tensor:
    s = model.weight.abs().sum(dim=1)
    if model.bias is not None:
        s = s + model.bias.abs()
    return s


def _network(weight: Tensor, bias: Tensor | None, output: Tensor) -> TwoLayerNetwork:
    """A mean-field ReLU network with exactly these parameters."""
    m, d = weight.shape
    net = TwoLayerNetwork(d, m, scaling=Scaling.MEAN_FIELD, bias=bias is not None,
                          output_init=OutputInit.ZERO, dtype=weight.dtype, device=weight.device)
    with torch.no_grad():
        net.weight.copy_(weight)
        if bias is not None:
            net.bias.copy_(bias)
        net.output.copy_(output)
    return net


def path_norm(model: TwoLayerNetwork) -> Tensor:
    r"""The path norm :math:`\|\theta\|_P = \alpha c_m \sum_k |a_k|\,(|w_k|_1 + |b_k|)`.

    In the mean-field scaling (:math:`\alpha c_m = 1/m`) this is
    :math:`\frac1m\sum_k|a_k|(|w_k|_1 + |b_k|)`, the Barron norm of the empirical measure of the
    neurons (E, Ma & Wu 2019, with the bias treated as a weight on the constant input
    1). Invariant under :math:`a_k \to c a_k`, :math:`(w_k, b_k) \to (w_k, b_k)/c`.

    Args:
        model: a ReLU :class:`~mathdl.training.TwoLayerNetwork` (any scaling).

    Returns:
        a scalar tensor, differentiable in the parameters (usable as a penalty).

    Raises:
        ValueError: if ``model`` is not a ReLU ``TwoLayerNetwork``.
    """
    model = _check_network(model)
    return model.output_scale * (model.output.abs() * _atom_norms(model)).sum()


def random_barron_target(
    in_features: int,
    num_atoms: int,
    *,
    generator: torch.Generator,
    bias_scale: float = 0.5,
    dtype: torch.dtype = torch.float64,
) -> TwoLayerNetwork:
    r"""A target with a known Barron representation: :math:`f(x) = \mathbb E_\rho[a\sigma(w\cdot
    x + b)]` for the empirical measure :math:`\rho = \frac1N\sum_j\delta_{(a_j, w_j, b_j)}` of
    :math:`N` sampled atoms, :math:`w_j` uniform on :math:`S^{d-1}`,
    :math:`b_j \sim \mathrm{Unif}[-\beta, \beta]`, :math:`a_j \sim \mathcal N(1, 1)` (a
    non-zero mean, so that :math:`\|f\|_{L^2}` does not vanish like :math:`N^{-1/2}`).

    Args:
        in_features: :math:`d \ge 1`.
        num_atoms: :math:`N \ge 1`.
        generator: the only source of randomness.
        bias_scale: :math:`\beta \ge 0`.
        dtype: floating dtype of the parameters.

    Returns:
        a mean-field :class:`~mathdl.training.TwoLayerNetwork` of width :math:`N` with biases;
        :func:`path_norm` of it is the path norm of :math:`\rho`, an upper bound on
        :math:`\|f\|_{\mathcal B}`.

    Raises:
        ValueError: on a bad size, scale or generator.
    """
    check_positive_int(in_features, "in_features")
    check_positive_int(num_atoms, "num_atoms")
    beta = check_real(bias_scale, "bias_scale", nonnegative=True)
    check_generator(generator)
    g = torch.randn(num_atoms, in_features, generator=generator, dtype=dtype)
    w = g / torch.linalg.vector_norm(g, dim=1, keepdim=True)
    b = beta * (2 * torch.rand(num_atoms, generator=generator, dtype=dtype) - 1)
    a = 1.0 + torch.randn(num_atoms, generator=generator, dtype=dtype)
    return _network(w, b, a)


def monte_carlo_approximant(
    target: TwoLayerNetwork, width: int, *, generator: torch.Generator
) -> TwoLayerNetwork:
    r"""The importance-sampled :math:`m`-term approximant of a Barron representation.

    ``target`` is read as :math:`\rho = \frac1N\sum_j \delta_{(N\alpha c_N a_j, w_j, b_j)}`
    (so :math:`f = \mathbb E_\rho[a\sigma(w\cdot x + b)]`). Draws :math:`m` atoms i.i.d. with
    probability :math:`\propto |a_j|(|w_j|_1 + |b_j|)`, normalises them to
    :math:`|u|_1 + |c| = 1` and returns

    .. math::
        f_m(x) = \frac1m\sum_{k=1}^m P\,\operatorname{sign}(a_k)\,\sigma(u_k\cdot x + c_k),
        \qquad P = \|\theta_{\mathrm{target}}\|_P,

    unbiased (:math:`\mathbb E f_m = f`) with :math:`\|\theta_m\|_P = P` and
    :math:`m\,\mathbb E\|f_m - f\|^2 =` :func:`monte_carlo_error_constant` (E, Ma & Wu 2019,
    approximation theorem).

    Args:
        target: a ReLU :class:`~mathdl.training.TwoLayerNetwork` with a non-zero path norm.
        width: :math:`m \ge 1`.
        generator: the only source of randomness (on the CPU).

    Returns:
        a mean-field network of width :math:`m`, with biases if ``target`` has them.

    Raises:
        ValueError: on a bad ``target``, ``width`` or ``generator``.
    """
    target = _check_network(target, "target")
    check_positive_int(width, "width")
    check_generator(generator)
    with torch.no_grad():
        s = _atom_norms(target)
        mass = target.output.abs() * s
        if not bool(mass.sum() > 0):
            raise ValueError("target: expected a non-zero path norm")
        p = float(path_norm(target))
        idx = torch.multinomial(mass.cpu(), width, replacement=True, generator=generator)
        idx = idx.to(target.weight.device)
        scale = s[idx]
        w = target.weight[idx] / scale[:, None]
        b = None if target.bias is None else target.bias[idx] / scale
        a = p * torch.sign(target.output[idx])
    return _network(w, b, a)


def monte_carlo_error_constant(target: TwoLayerNetwork, x: Tensor) -> float:
    r""":math:`m\,\mathbb E\|f_m - f\|^2_{L^2(\hat\mu)} = P^2\,\mathbb E_{\hat\mu}
    \mathbb E_{\tilde\rho}\sigma(u\cdot x + c)^2 - \|f\|^2_{L^2(\hat\mu)}` for the approximant of
    :func:`monte_carlo_approximant`, exact for the empirical measure :math:`\hat\mu` of ``x``
    (for every :math:`m`: the :math:`m` atoms are i.i.d.).

    Args:
        target: a ReLU :class:`~mathdl.training.TwoLayerNetwork` with a non-zero path norm.
        x: ``(n, d)`` points.

    Returns:
        the constant :math:`C^2 \ge 0`.

    Raises:
        ValueError: on a bad ``target`` or ``x``.
    """
    target = _check_network(target, "target")
    x = check_tensor(x, "x", 2)
    if x.shape[1] != target.in_features:
        raise ValueError(f"x: expected {target.in_features} columns, got {tuple(x.shape)}")
    with torch.no_grad():
        s = _atom_norms(target)
        mass = target.output.abs() * s
        total = mass.sum()
        if not bool(total > 0):
            raise ValueError("target: expected a non-zero path norm")
        p = float(path_norm(target))
        x = x.to(target.weight.dtype)
        phi = target.features(x) / s  # sigma(u.x + c) for the normalised atoms
        second = float(((phi * phi) @ (mass / total)).mean())
        f = target(x)
        return p * p * second - float((f * f).mean())


def norm_barron_coefficient(dim: int) -> float:
    r""":math:`A_d = 2\sqrt\pi\,\Gamma(\frac{d+1}{2})/\Gamma(\frac d2)`, so that
    :math:`|x|_2 = A_d\,\mathbb E_{u\sim\mathrm{Unif}(S^{d-1})}\max(u\cdot x, 0)` for every
    :math:`x \in \mathbb R^d`; the path norm of this representation is :math:`2d`.

    Args:
        dim: :math:`d \ge 1`.

    Raises:
        ValueError: if ``dim`` is not a positive integer.
    """
    check_positive_int(dim, "dim")
    return 2.0 * math.exp(0.5 * math.log(math.pi) + math.lgamma((dim + 1) / 2)
                          - math.lgamma(dim / 2))


def sphere_distance(x: Tensor) -> Tensor:
    r""":math:`\operatorname{dist}(x, S^{d-1}) = |\,|x|_2 - 1|`, the example of a function that
    is not Barron for :math:`d \ge 2` (E & Wojtowytsch 2020).

    Args:
        x: ``(n, d)`` points.

    Returns:
        ``(n,)``.
    """
    x = check_tensor(x, "x", 2)
    return (torch.linalg.vector_norm(x, dim=1) - 1.0).abs()


def fit_path_norm_lasso(
    x: Tensor,
    y: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    *,
    penalty: float,
    iterations: int,
    initial: TwoLayerNetwork | None = None,
) -> TwoLayerNetwork:
    r"""Minimise :math:`\frac1{2n}\sum_i(f(x_i) - y_i)^2 + \lambda\|\theta\|_P` over the outer
    weights of :math:`f(x) = \frac1m\sum_k a_k\sigma(w_k\cdot x + b_k)` with the first layer
    fixed, by FISTA (Beck & Teboulle 2009) with the step :math:`1/L`,
    :math:`L = |\Phi|_2^2/(n m^2)`.

    The problem is a lasso in :math:`\alpha = a/m` with weights
    :math:`s_k = |w_k|_1 + |b_k|`: the proximal step is soft thresholding at
    :math:`\lambda s_k / L`. Deterministic.

    Args:
        x: ``(n, d)`` inputs; y: ``(n,)`` targets.
        weight: ``(m, d)`` first layer; bias: ``(m,)`` or ``None``.
        penalty: :math:`\lambda > 0`.
        iterations: FISTA steps :math:`\ge 1`.
        initial: a network with the same first layer whose outer weights start the iteration
            (warm start along a decreasing penalty), or ``None`` (start at zero).

    Returns:
        a mean-field :class:`~mathdl.training.TwoLayerNetwork` with the given first layer.

    Raises:
        ValueError: on bad shapes or values.
    """
    x = check_tensor(x, "x", 2)
    y = check_tensor(y, "y", 1)
    weight = check_tensor(weight, "weight", 2)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"y: expected {x.shape[0]} entries like x, got {y.shape[0]}")
    if weight.shape[1] != x.shape[1]:
        raise ValueError(f"weight: expected {x.shape[1]} columns like x, got "
                         f"{tuple(weight.shape)}")
    m = weight.shape[0]
    if bias is not None:
        bias = check_tensor(bias, "bias", 1)
        if bias.shape[0] != m:
            raise ValueError(f"bias: expected {m} entries like weight, got {bias.shape[0]}")
    lam = check_real(penalty, "penalty", positive=True)
    check_positive_int(iterations, "iterations")
    phi = torch.relu(x @ weight.mT + (0.0 if bias is None else bias))  # (n, m)
    s = weight.abs().sum(dim=1) + (0.0 if bias is None else bias.abs())
    n = x.shape[0]
    lipschitz = float(torch.linalg.matrix_norm(phi, ord=2)) ** 2 / n
    if lipschitz == 0.0:
        return _network(weight, bias, torch.zeros(m, dtype=x.dtype, device=x.device))
    if initial is None:
        alpha = torch.zeros(m, dtype=x.dtype, device=x.device)
    else:
        _check_network(initial, "initial")
        if initial.width != m or initial.in_features != x.shape[1]:
            raise ValueError(f"initial: expected width {m} and {x.shape[1]} inputs, got "
                             f"{initial.width} and {initial.in_features}")
        alpha = (initial.output.detach() * initial.output_scale).to(x.dtype)
    z, t = alpha.clone(), 1.0
    threshold = lam * s / lipschitz
    for _ in range(iterations):
        v = z - (phi.mT @ (phi @ z - y)) / (n * lipschitz)
        new = torch.sign(v) * (v.abs() - threshold).clamp(min=0.0)
        t_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
        z = new + ((t - 1.0) / t_new) * (new - alpha)
        alpha, t = new, t_new
    return _network(weight, bias, m * alpha)
