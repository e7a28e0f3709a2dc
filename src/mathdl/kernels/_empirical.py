r"""The empirical neural tangent kernel of a finite network, and its per-sample Jacobians.

For a network :math:`f(\cdot\,;\theta) : \mathbb R^d \to \mathbb R^k` with trainable parameters
:math:`\theta \in \mathbb R^P`, the empirical (finite-width) neural tangent kernel is

.. math::
    \Theta_\theta(x, x') = J_\theta(x)\, J_\theta(x')^\top
    = \sum_{p=1}^{P} \frac{\partial f(x;\theta)}{\partial \theta_p}
      \frac{\partial f(x';\theta)}{\partial \theta_p}^{\!\top} \in \mathbb R^{k\times k},

with :math:`J_\theta(x) = \partial f(x;\theta)/\partial\theta \in \mathbb R^{k\times P}`. It governs
gradient flow: under :math:`\dot\theta = -\eta\nabla_\theta L` with
:math:`L = \tfrac12\sum_i |f(x_i) - y_i|^2`, the outputs evolve by
:math:`\dot f(x) = -\eta \sum_i \Theta_\theta(x, x_i)\,(f(x_i) - y_i)`. In the infinite-width limit
(NTK parameterisation) :math:`\Theta_\theta` becomes deterministic and constant during training.

References:
    A. Jacot, F. Gabriel & C. Hongler, "Neural tangent kernel: convergence and generalization in
    neural networks", NeurIPS 2018 (definition of the NTK; Thm. 1: its infinite-width limit);
    J. Lee et al., "Wide neural networks of any depth evolve as linear models under gradient
    descent", NeurIPS 2019 (the linearised network);
    R. Novak, J. Sohl-Dickstein & S. S. Schoenholz, "Fast finite width neural tangent kernel",
    ICML 2022 (Jacobian contraction and NTK-vector products).
"""

from __future__ import annotations

import enum
import math
import warnings
from collections.abc import Callable, Mapping

import torch
from torch import Tensor
from torch.func import functional_call, jvp, vjp, vmap

__all__ = ["NTKStrategy", "empirical_ntk", "jacobian_features"]

_Params = dict[str, Tensor]
_PerSample = Callable[[_Params, Tensor], Tensor]


class NTKStrategy(enum.Enum):
    r"""How :func:`empirical_ntk` evaluates :math:`J(x_1)\,J(x_2)^\top`.

    ``JACOBIAN_CONTRACTION``: materialise the per-sample Jacobians of a block of ``block_size``
    inputs (``vmap`` of reverse-mode pullbacks) and contract them over all parameters. Time
    :math:`O(n_1 n_2 k^2 P)` plus the Jacobians (recomputed for each block pair, so a larger
    ``block_size`` is faster); memory :math:`O(\text{block\_size}\cdot k P)`: about three
    blocks of Jacobians at the peak (two held, one being built), e.g. 4.4 GB per block of 64
    samples for :math:`P = 1.7\cdot 10^7` in float32.

    ``NTK_VECTOR_PRODUCTS``: Jacobian-free. For each :math:`x_2` column :math:`j` and output
    :math:`b`, one vector-Jacobian product gives :math:`v = J(x_{2,j})^\top e_b \in \mathbb R^P`,
    then one Jacobian-vector product over a block of :math:`x_1` gives the column
    :math:`\Theta(x_1, x_{2,j})\,e_b = J(x_1)\,v`. Memory :math:`O(P)` plus the activations of a
    block, at the price of :math:`n_2 k` sequential products (Novak et al. 2022): for very
    wide networks whose Jacobians do not fit in memory.
    """

    JACOBIAN_CONTRACTION = "jacobian_contraction"
    NTK_VECTOR_PRODUCTS = "ntk_vector_products"


# ----------------------------------------------------------------------------- validation


def _check_model(model: torch.nn.Module) -> None:
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model: expected a torch.nn.Module, got {type(model).__name__}")


def _check_inputs(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor):
        raise ValueError(f"{name}: expected a tensor, got {type(x).__name__}")
    if x.ndim < 1 or x.shape[0] < 1:
        raise ValueError(
            f"{name}: expected a batch of shape (n, ...) with n >= 1, got {tuple(x.shape)}"
        )


def _check_pair(x1: Tensor, x2: Tensor) -> None:
    if x2.shape[1:] != x1.shape[1:]:
        raise ValueError(
            f"x2: expected samples of shape {tuple(x1.shape[1:])} like x1, "
            f"got {tuple(x2.shape[1:])}"
        )
    if x2.dtype != x1.dtype or x2.device != x1.device:
        raise ValueError(
            f"x2: expected dtype {x1.dtype} on {x1.device} like x1, got {x2.dtype} on {x2.device}"
        )


def _check_block_size(block_size: int) -> None:
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size: expected a positive integer, got {block_size!r}")


def _split_parameters(
    model: torch.nn.Module, params: Mapping[str, Tensor] | None
) -> tuple[_Params, _Params]:
    """Trainable parameters (differentiated) and other overrides (held fixed), all detached."""
    trainable = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    if not trainable:
        raise ValueError("model: expected at least one trainable parameter (requires_grad=True)")
    overrides: _Params = {}
    if params is None:
        return trainable, overrides
    if not isinstance(params, Mapping):
        raise ValueError(f"params: expected a dict name -> tensor, got {type(params).__name__}")
    known = dict(model.named_parameters(remove_duplicate=False))
    known.update(model.named_buffers(remove_duplicate=False))
    for name, value in params.items():
        if name not in known:
            raise ValueError(f"params: {name!r} is not a parameter or buffer of the model")
        if not isinstance(value, Tensor) or value.shape != known[name].shape:
            shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise ValueError(
                f"params: expected {name!r} to be a tensor of shape "
                f"{tuple(known[name].shape)}, got {shape}"
            )
        if name in trainable:
            trainable[name] = value.detach()
        else:
            overrides[name] = value.detach()
    return trainable, overrides


def _per_sample_function(model: torch.nn.Module, overrides: _Params) -> _PerSample:
    """``f(theta, x) -> (k,)``: the model applied to the single sample ``x`` at ``theta``."""

    def f(theta: _Params, x: Tensor) -> Tensor:
        out = functional_call(model, {**overrides, **theta}, (x.unsqueeze(0),))
        if not isinstance(out, Tensor) or out.ndim > 2 or (out.ndim >= 1 and out.shape[0] != 1):
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(
                "model: expected an output of shape (n,) or (n, k) for a batch of n samples, "
                f"got {got} for a batch of 1"
            )
        return out.reshape(-1)

    return f


# ----------------------------------------------------------------------------- Jacobians


def _sample_jacobian(f: _PerSample, theta: _Params, x: Tensor) -> _Params:
    """Jacobian of one sample, ``name -> (k, *shape)``: one pullback per output row."""
    value, pullback = vjp(lambda th: f(th, x), theta)
    if value.shape[0] == 1:  # scalar output: a single pullback, no batch over the basis
        (grads,) = pullback(torch.ones_like(value))
        return {name: g.unsqueeze(0) for name, g in grads.items()}
    basis = torch.eye(value.shape[0], dtype=value.dtype, device=value.device)
    (grads,) = vmap(pullback)(basis)
    return grads


def _block_jacobians(f: _PerSample, theta: _Params, x: Tensor) -> list[Tensor]:
    """Per-sample Jacobians of a block, one ``(b, k, P_name)`` tensor per parameter."""
    jac = vmap(lambda xi: _sample_jacobian(f, theta, xi))(x)
    return [j.reshape(j.shape[0], j.shape[1], -1) for j in jac.values()]


def _contract(j1: list[Tensor], j2: list[Tensor], reduced: bool) -> Tensor:
    r""":math:`\sum_p J_1 J_2^\top`: ``(b1, b2, k, k)``, or its mean diagonal ``(b1, b2)``."""
    b1, k = j1[0].shape[:2]
    b2 = j2[0].shape[0]
    total: Tensor | None = None
    for a, c in zip(j1, j2, strict=True):
        if reduced:  # only the diagonal output pairs: sum_a J1[:, a] J2[:, a]^T
            term = sum((a[:, o] @ c[:, o].mT for o in range(1, k)), a[:, 0] @ c[:, 0].mT)
        else:
            term = a.reshape(b1 * k, -1) @ c.reshape(b2 * k, -1).mT
        total = term if total is None else total + term
    assert total is not None
    if reduced:
        return total / k
    return total.reshape(b1, k, b2, k).permute(0, 2, 1, 3)


_JACOBIAN_CACHE_BYTES = 2 * 2**30


def _ntk_contraction(
    f: _PerSample,
    theta: _Params,
    x1: Tensor,
    x2: Tensor,
    symmetric: bool,
    trace: bool,
    block_size: int,
) -> tuple[Tensor, bool]:
    n1, n2 = x1.shape[0], x2.shape[0]
    out: Tensor | None = None
    reduced = trace
    # The x2 blocks' Jacobians are kept between x1 blocks while they fit in _JACOBIAN_CACHE_BYTES
    # (then each is computed once); past that they are recomputed per block pair, so memory
    # stays at a few blocks whatever n2 is.
    cache: dict[int, list[Tensor]] = {}
    cache_bytes = 0
    for s1 in range(0, n1, block_size):
        e1 = min(s1 + block_size, n1)
        j1 = cache.get(s1) if symmetric else None
        if j1 is None:
            j1 = _block_jacobians(f, theta, x1[s1:e1])
        if out is None:
            k = j1[0].shape[1]
            reduced = trace or k == 1
            shape = (n1, n2) if reduced else (n1, n2, k, k)
            out = j1[0].new_zeros(shape)
        for s2 in range(0, n2, block_size):
            if symmetric and s2 < s1:
                continue
            e2 = min(s2 + block_size, n2)
            if symmetric and s2 == s1:
                j2 = j1
            elif s2 in cache:
                j2 = cache[s2]
            else:
                j2 = _block_jacobians(f, theta, x2[s2:e2])
                size = sum(j.numel() * j.element_size() for j in j2)
                if cache_bytes + size <= _JACOBIAN_CACHE_BYTES:
                    cache[s2], cache_bytes = j2, cache_bytes + size
            out[s1:e1, s2:e2] = _contract(j1, j2, reduced)
        if symmetric:
            cache.pop(s1, None)  # never needed again
    assert out is not None
    return out, reduced


def _ntk_products(
    f: _PerSample,
    theta: _Params,
    x1: Tensor,
    x2: Tensor,
    symmetric: bool,
    trace: bool,
    block_size: int,
) -> tuple[Tensor, bool]:
    n1, n2 = x1.shape[0], x2.shape[0]
    batched = vmap(f, in_dims=(None, 0))
    blocks = [(s, min(s + block_size, n1)) for s in range(0, n1, block_size)]

    def column(tangent: _Params, xb: Tensor) -> Tensor:
        with warnings.catch_warnings():
            # torch's forward-mode AD scripts its decompositions on first use and warns that
            # torch.jit.script is deprecated: an upstream notice, not about this call
            warnings.filterwarnings(
                "ignore", message=r"`torch\.jit\.script` is deprecated", category=DeprecationWarning
            )
            return jvp(lambda th: batched(th, xb), (theta,), (tangent,))[1]

    out: Tensor | None = None
    reduced = trace
    for j in range(n2):
        xj = x2[j]
        value, pullback = vjp(lambda th, xj=xj: f(th, xj), theta)
        k = value.shape[0]
        if out is None:
            reduced = trace or k == 1
            shape = (n1, n2) if reduced else (n1, n2, k, k)
            out = value.new_zeros(shape)
        basis = torch.eye(k, dtype=value.dtype, device=value.device)
        for b in range(k):
            (tangent,) = pullback(basis[b])  # J(x2_j)^T e_b
            for s1, e1 in blocks:
                if symmetric and s1 > j:  # the lower triangle is mirrored afterwards
                    break
                col = column(tangent, x1[s1:e1])  # (b1, k) = J(x1_block) J(x2_j)^T e_b
                if reduced:
                    out[s1:e1, j] += col[:, b] / k
                else:
                    out[s1:e1, j, :, b] = col
    assert out is not None
    return out, reduced


def _mirror(out: Tensor, reduced: bool) -> Tensor:
    r"""Fill :math:`\Theta(x_i, x_j) = \Theta(x_j, x_i)^\top`, i > j, from the upper part."""
    if reduced:
        return torch.triu(out) + torch.triu(out, 1).mT
    n, _, k, _ = out.shape
    flat = out.permute(0, 2, 1, 3).reshape(n * k, n * k)
    flat = torch.triu(flat) + torch.triu(flat, 1).mT
    return flat.reshape(n, k, n, k).permute(0, 2, 1, 3).contiguous()


# ----------------------------------------------------------------------------- public


def empirical_ntk(
    model: torch.nn.Module,
    x1: Tensor,
    x2: Tensor | None = None,
    *,
    strategy: NTKStrategy = NTKStrategy.JACOBIAN_CONTRACTION,
    trace: bool = False,
    block_size: int = 64,
    params: Mapping[str, Tensor] | None = None,
    parameter_scales: Mapping[str, float] | None = None,
) -> Tensor:
    r"""The empirical neural tangent kernel :math:`\Theta_\theta(x_1, x_2)` of ``model``.

    .. math::
        \Theta_\theta(x, x')_{ab} = \sum_{p} \frac{\partial f_a(x;\theta)}{\partial \theta_p}
        \frac{\partial f_b(x';\theta)}{\partial \theta_p},
        \qquad a, b = 1..k,

    summed over every trainable parameter of ``model`` (those with ``requires_grad=True``; frozen
    parameters and buffers are held fixed), at the model's current values or at ``params``
    (Jacot et al. 2018). No normalisation is applied: the NTK scaling
    (e.g. :math:`1/\sqrt{\text{width}}`) is the model's own. With ``trace=True`` a vector-output
    kernel is reduced to its mean diagonal

    .. math::
        \bar\Theta(x, x') = \frac1k \operatorname{tr}\Theta(x, x')
        = \frac1k \sum_{a=1}^k \Theta(x, x')_{aa},

    which equals the scalar kernel when :math:`\Theta = \bar\Theta\, I_k`, as for infinitely wide
    networks with independent readouts.

    The model must act on each sample independently (no batch normalisation in training mode,
    no cross-sample attention): it is evaluated one sample at a time under
    :func:`torch.func.vmap` as ``model(x[i:i+1])``, and must return ``(1,)`` or ``(1, k)`` (a
    squeezed scalar is accepted). Dropout and batch normalisation in training mode make
    :mod:`torch.func` raise a ``RuntimeError`` (randomness, in-place update of running
    statistics); in ``model.eval()`` mode both act per sample and are supported.

    Inputs are processed in blocks of ``block_size`` samples, so that memory is bounded by a few
    blocks of Jacobians (``JACOBIAN_CONTRACTION``) or one block of activations plus one
    parameter-sized vector (``NTK_VECTOR_PRODUCTS``); see :class:`NTKStrategy`. With
    ``x2=None`` (or ``x2 is x1``) only the blocks on and above the diagonal are computed and
    the result is exactly symmetric.

    The model is not modified: it is called through :func:`torch.func.functional_call` with
    detached parameter values, nothing is accumulated in ``.grad``, and the result is not
    differentiable with respect to the parameters.

    Args:
        model: a ``torch.nn.Module`` mapping a batch ``(n, *d)`` to ``(n,)`` or ``(n, k)``.
        x1: ``(n1, *d)`` inputs.
        x2: ``(n2, *d)`` inputs, same dtype and device as ``x1``; ``None`` means ``x1``.
        strategy: :class:`NTKStrategy` (the numbers agree to rounding).
        trace: reduce a vector-output kernel to :math:`\operatorname{tr}\Theta / k`.
        block_size: number of inputs per batched Jacobian (or Jacobian-vector product).
        params: optional ``name -> tensor`` overrides of parameters or buffers, as for
            :func:`torch.func.functional_call`; overridden trainable parameters are
            differentiated at the given values.
        parameter_scales: optional ``name -> s_p > 0`` (missing names: 1) giving the weighted
            kernel :math:`\sum_p s_p\, \partial_{\theta_p} f(x)\, \partial_{\theta_p} f(x')`,
            the NTK of gradient flow with per-parameter learning rates :math:`\eta s_p`
            (e.g. ``FullyConnectedNetwork.ntk_scales()`` in the standard parameterisation).
            Computed exactly, as the plain NTK in the coordinates
            :math:`\phi_p = \theta_p / \sqrt{s_p}`.

    Returns:
        ``(n1, n2)`` for scalar outputs (``k = 1``) or with ``trace=True``, else
        ``(n1, n2, k, k)`` with ``[i, j]`` the :math:`k\times k` block
        :math:`\Theta(x_{1,i}, x_{2,j})`; dtype and device of the model's outputs.

    Raises:
        ValueError: if ``model`` is not a module, has no trainable parameter or returns an output
            of another shape; if ``x1``/``x2`` are not non-empty batches of the same sample
            shape, dtype and device; if ``strategy``, ``trace`` or ``block_size`` are invalid; if
            ``params`` names something the model does not have or has the wrong shape.
    """
    _check_model(model)
    _check_inputs(x1, "x1")
    if x2 is not None:
        _check_inputs(x2, "x2")
        _check_pair(x1, x2)
    if not isinstance(strategy, NTKStrategy):
        raise ValueError(f"strategy: expected an NTKStrategy, got {strategy!r}")
    if not isinstance(trace, bool):
        raise ValueError(f"trace: expected a bool, got {trace!r}")
    _check_block_size(block_size)
    theta, overrides = _split_parameters(model, params)
    f = _per_sample_function(model, overrides)
    if parameter_scales is not None:
        theta, f = _rescaled(theta, f, parameter_scales)
    symmetric = x2 is None or x2 is x1
    x2_ = x1 if x2 is None else x2
    if strategy is NTKStrategy.JACOBIAN_CONTRACTION:
        out, reduced = _ntk_contraction(f, theta, x1, x2_, symmetric, trace, block_size)
    else:
        out, reduced = _ntk_products(f, theta, x1, x2_, symmetric, trace, block_size)
    return _mirror(out, reduced) if symmetric else out


def _rescaled(
    theta: _Params, f: _PerSample, scales: Mapping[str, float]
) -> tuple[_Params, _PerSample]:
    """Coordinates phi_p = theta_p / sqrt(s_p): d f / d phi_p = sqrt(s_p) d f / d theta_p."""
    if not isinstance(scales, Mapping):
        raise ValueError(f"parameter_scales: expected a dict name -> float, got {scales!r}")
    for name, s in scales.items():
        if name not in theta:
            raise ValueError(f"parameter_scales: {name!r} is not a trainable parameter")
        if isinstance(s, bool) or not isinstance(s, int | float) or not (math.isfinite(s)
                                                                          and s > 0):
            raise ValueError(f"parameter_scales: expected {name!r} -> a finite number > 0, "
                             f"got {s!r}")
    root = {name: math.sqrt(float(scales.get(name, 1.0))) for name in theta}
    phi = {name: value / root[name] for name, value in theta.items()}

    def g(phi_: _Params, x: Tensor) -> Tensor:
        return f({name: value * root[name] for name, value in phi_.items()}, x)

    return phi, g


def jacobian_features(
    model: torch.nn.Module,
    x: Tensor,
    *,
    block_size: int = 64,
    params: Mapping[str, Tensor] | None = None,
) -> Tensor:
    r"""Flattened per-sample Jacobians :math:`J_\theta(x_i) = \partial_\theta f(x_i;\theta)`.

    The feature map of the linearised network
    :math:`f^{\mathrm{lin}}(x;\theta) = f(x;\theta_0) + J_{\theta_0}(x)\,(\theta - \theta_0)`
    (Lee et al. 2019), whose kernel is the empirical NTK:
    :math:`\Theta_\theta(x, x') = J_\theta(x) J_\theta(x')^\top`. The parameter axis lists the
    trainable parameters in the order of ``model.named_parameters()``, each flattened in C order.
    Holds :math:`n k P` numbers: meant for small models.

    Args:
        model: as for :func:`empirical_ntk` (per-sample, outputs ``(n,)`` or ``(n, k)``).
        x: ``(n, *d)`` inputs.
        block_size: number of samples per batched Jacobian.
        params: optional ``name -> tensor`` overrides, as for :func:`empirical_ntk`.

    Returns:
        ``(n, P)`` for scalar outputs, ``(n, k, P)`` for ``k > 1`` outputs.

    Raises:
        ValueError: as :func:`empirical_ntk`.
    """
    _check_model(model)
    _check_inputs(x, "x")
    _check_block_size(block_size)
    theta, overrides = _split_parameters(model, params)
    f = _per_sample_function(model, overrides)
    rows = [
        torch.cat(_block_jacobians(f, theta, x[s : s + block_size]), dim=-1)
        for s in range(0, x.shape[0], block_size)
    ]
    jac = torch.cat(rows, dim=0)
    return jac[:, 0] if jac.shape[1] == 1 else jac
