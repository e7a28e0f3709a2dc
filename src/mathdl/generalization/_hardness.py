r"""Distribution-specific hardness of gradient-based learning (Shamir 2018): the loss gradient
hardly depends on the target when the targets form a large orthonormal family.

For a model :math:`p_\theta` and a target :math:`h`, the squared loss
:math:`F_h(\theta) = \frac12\mathbb E_x(p_\theta(x) - h(x))^2` has the gradient
:math:`\nabla F_h(\theta) = \mathbb E_x[(p_\theta(x) - h(x))\nabla_\theta p_\theta(x)]`. If
:math:`h` is drawn uniformly from :math:`\{h_1, \dots, h_M\}`, orthonormal in
:math:`L_2(\mathcal D)`, only :math:`g_h = \mathbb E_x[h(x)\nabla_\theta p_\theta(x)] =
\langle h, \nabla_\theta p_\theta\rangle` depends on the target, and Bessel's inequality
(coordinate by coordinate) gives

.. math::
    \operatorname{Var}_h \nabla F_h(\theta) = \frac1M\sum_{k}\big\|\nabla F_{h_k}(\theta) -
    \overline{\nabla F}\big\|^2 \le \frac1M\sum_k\|g_{h_k}\|^2 \le \frac{Q(\theta)}{M},
    \qquad Q(\theta) = \mathbb E_x\|\nabla_\theta p_\theta(x)\|^2

(Shamir 2018, Thm 1): with exponentially many targets, every gradient method sees nearly the
same gradient whatever the target, so it cannot learn the family efficiently. The family here is
:math:`h_b(x) = \sqrt2\cos(2\pi b^\top x)` on the torus :math:`[0,1)^d`, :math:`b \in \mathbb
Z^d` in a half-space (:math:`b` and :math:`-b` give the same function). On the grid
:math:`\{0, \frac1K, \dots, \frac{K-1}K\}^d` with :math:`|b_k| < K/2` these are *exactly*
orthonormal for the uniform grid measure (discrete Fourier orthogonality), so the theorem holds
exactly with :math:`\mathcal D` = the grid, and the grid averages are the continuum integrals up
to the aliasing error of the (smooth) model.

References:
    O. Shamir, "Distribution-specific hardness of learning neural networks", JMLR 19 (2018)
    1-29, Thm 1 (arXiv:1609.01037).
"""

from __future__ import annotations

import math
from itertools import product

import torch
from torch import Tensor, nn

from mathdl.generalization._checks import check_positive_int, check_tensor

__all__ = [
    "cosine_family",
    "gradient_variance",
    "half_space_frequencies",
    "loss_gradients",
    "per_example_gradients",
    "torus_grid",
]


def torus_grid(resolution: int, dim: int, *, dtype: torch.dtype = torch.float64) -> Tensor:
    r"""The grid :math:`\{0, \frac1K, \dots, \frac{K-1}K\}^d` of the torus, ``(K^d, d)``, in
    lexicographic order; its uniform measure integrates trigonometric polynomials of degree
    :math:`< K` in each variable exactly.

    Args:
        resolution: :math:`K \ge 1`; dim: :math:`d \ge 1`; dtype: of the result.
    """
    k = check_positive_int(resolution, "resolution")
    d = check_positive_int(dim, "dim")
    axis = torch.arange(k, dtype=dtype) / k
    return torch.cartesian_prod(*([axis] * d)).reshape(-1, d)


def half_space_frequencies(count: int, dim: int, *, max_abs: int | None = None) -> Tensor:
    r"""The ``count`` nonzero integer vectors :math:`b \in \mathbb Z^d` of smallest
    :math:`|b|_2` (ties broken lexicographically) in the half-space "first nonzero coordinate
    > 0", so that no two of them are :math:`\pm` each other; optionally with all
    :math:`|b_k| \le` ``max_abs``.

    Returns:
        ``(count, d)`` int64.

    Raises:
        ValueError: if fewer than ``count`` vectors exist with :math:`|b_k| \le` ``max_abs``.
    """
    m = check_positive_int(count, "count")
    d = check_positive_int(dim, "dim")
    if max_abs is not None:
        check_positive_int(max_abs, "max_abs")
    radius = 1
    while True:
        box = radius if max_abs is None else min(radius, max_abs)
        cands = sorted((sum(v * v for v in b), b) for b in product(range(-box, box + 1), repeat=d)
                       if next((v for v in b if v != 0), 0) > 0)
        if max_abs is not None and box == max_abs:
            pool = cands                      # the whole box, ordered by |b|
        else:                                 # complete up to |b| <= radius (then |b_k| <= radius)
            pool = [c for c in cands if c[0] <= radius * radius]
        if len(pool) >= m:
            return torch.tensor([b for _, b in pool[:m]], dtype=torch.int64)
        if pool is cands:
            raise ValueError(f"count: only {len(pool)} half-space frequencies with "
                             f"|b_k| <= {max_abs} in dimension {d}, asked for {m}")
        radius += 1


def cosine_family(x: Tensor, frequencies: Tensor) -> Tensor:
    r""":math:`h_b(x) = \sqrt2\cos(2\pi b^\top x)` for each frequency :math:`b`: orthonormal in
    :math:`L_2` of the uniform measure on the torus (and on :func:`torus_grid` when
    :math:`|b_k| < K/2`), for distinct :math:`b \ne 0` no two of which are opposite.

    Args:
        x: ``(N, d)``; frequencies: ``(M, d)`` integers.

    Returns:
        ``(N, M)`` in the dtype of ``x``.
    """
    x = check_tensor(x, "x", 2)
    if not isinstance(frequencies, Tensor) or frequencies.ndim != 2 \
            or frequencies.shape[1] != x.shape[1] or frequencies.is_floating_point():
        raise ValueError(f"frequencies: expected an integer (M, {x.shape[1]}) tensor")
    return math.sqrt(2.0) * torch.cos(2 * math.pi * (x @ frequencies.to(x.dtype).T))


def per_example_gradients(model: nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
    r"""The outputs :math:`p_\theta(x_i)` and the per-example gradients
    :math:`\nabla_\theta p_\theta(x_i)` of a scalar-output model, all parameters (those with
    ``requires_grad``) flattened in ``model.parameters()`` order: one reverse pass per example
    (cheaper here than ``torch.func``, whose first call costs seconds).

    Args:
        model: maps ``(N, d)`` to ``(N,)`` or ``(N, 1)``, each output depending on its own row
            only; x: ``(N, d)``.

    Returns:
        ``(outputs (N,), gradients (N, P))``.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    x = check_tensor(x, "x", 2)
    params = [p for p in model.parameters() if p.requires_grad]
    outs, rows = [], []
    for i in range(x.shape[0]):
        y = model(x[i:i + 1]).reshape(())
        grads = torch.autograd.grad(y, params)
        outs.append(y.detach())
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    return torch.stack(outs), torch.stack(rows)


def loss_gradients(outputs: Tensor, gradients: Tensor, targets: Tensor) -> Tensor:
    r""":math:`\nabla F_h(\theta) = \frac1N\sum_i (p_\theta(x_i) - h(x_i))\nabla_\theta
    p_\theta(x_i)` for each target column (the gradient of half the mean squared error over the
    points, i.e. of :math:`\frac12\mathbb E_x(p_\theta - h)^2` for the uniform measure on them).

    Args:
        outputs: ``(N,)``; gradients: ``(N, P)``; targets: ``(N, M)`` (column :math:`k` is
            :math:`h_k(x_i)`).

    Returns:
        ``(M, P)``.
    """
    o = check_tensor(outputs, "outputs", 1)
    g = check_tensor(gradients, "gradients", 2)
    h = check_tensor(targets, "targets", 2)
    if g.shape[0] != o.shape[0] or h.shape[0] != o.shape[0]:
        raise ValueError(f"targets: expected {o.shape[0]} rows like outputs and gradients, got "
                         f"{tuple(h.shape)} and {tuple(g.shape)}")
    return (o[:, None] - h).T @ g / o.shape[0]


def gradient_variance(loss_grads: Tensor) -> float:
    r"""The variance over a uniformly random target,
    :math:`\frac1M\sum_k\|\nabla F_{h_k} - \frac1M\sum_l\nabla F_{h_l}\|^2`.

    Args:
        loss_grads: ``(M, P)``, e.g. from :func:`loss_gradients`.
    """
    g = check_tensor(loss_grads, "loss_grads", 2)
    centred = g - g.mean(0, keepdim=True)
    return float((centred * centred).sum(1).mean())
