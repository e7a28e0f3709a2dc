r"""Feature learning: the average gradient outer product and the neural feature ansatz.

For a predictor :math:`f : \mathbb R^d \to \mathbb R` and data :math:`x_1, \dots, x_n`, the
**average gradient outer product** (AGOP; Trivedi, Wang, Kpotufe 2014; Radhakrishnan et al.
2024) is

.. math::
    \mathrm{AGOP}(f) = \frac1n \sum_{i=1}^n \nabla_x f(x_i)\, \nabla_x f(x_i)^\top
    \in \mathbb R^{d \times d}.

If :math:`f(x) = g(U^\top x)` depends on :math:`x` only through a :math:`k`-dimensional
subspace (a multi-index model), every gradient lies in :math:`\mathrm{span}(U)`, so the AGOP has
rank :math:`\le k` and its range is that subspace: it *finds the relevant directions*.

The **neural feature ansatz** (NFA; Radhakrishnan, Beaglehole, Pandit, Belkin, Science 2024)
states that after training, the Gram matrix of a layer's weights (the neural feature matrix) is
proportional to a power of the AGOP of the trained network with respect to that layer's input;
for the first layer :math:`W \in \mathbb R^{m \times d}`,

.. math::
    W^\top W \;\propto\; \mathrm{AGOP}(f)^{s}.

:func:`feature_ansatz_correlation` measures it by the correlation of the two matrices' entries.
The power :math:`s = 1/2` is exact for a *balanced* two-layer linear network
:math:`f(x) = a^\top W x` with :math:`W W^\top = a a^\top` (as gradient flow from a balanced
start keeps it): :math:`\nabla_x f = W^\top a`, so
:math:`\mathrm{AGOP} = W^\top a a^\top W = W^\top (W W^\top) W = (W^\top W)^2`. The original
paper states the ansatz with :math:`s = 1`; for a rank-one (single-index) structure the two
agree.

:func:`subspace_alignment` compares the top right singular vectors of :math:`W` (the input
directions the first layer amplifies) with a teacher's directions.

References:
    A. Radhakrishnan, D. Beaglehole, P. Pandit & M. Belkin, "Mechanism for feature learning in
    neural networks and backpropagation-free machine learning models", Science 383 (2024);
    S. Trivedi, J. Wang, S. Kpotufe & G. Shakhnarovich, "A consistent estimator of the expected
    gradient outerproduct", UAI 2014;
    D. Beaglehole, I. Mitliagkas & A. Agarwala, "Feature learning as alignment: a structural
    property of gradient descent in non-linear neural networks", arXiv:2402.05271 (2024).
"""

from __future__ import annotations

import enum

import torch
from torch import Tensor, nn

from mathdl._validation import check_real

__all__ = [
    "MatrixSimilarity",
    "average_gradient_outer_product",
    "feature_ansatz_correlation",
    "input_gradients",
    "psd_matrix_power",
    "subspace_alignment",
]


class MatrixSimilarity(enum.Enum):
    r"""How :func:`feature_ansatz_correlation` compares two matrices :math:`A, B`.

    ``PEARSON``: the Pearson correlation of their entries,
    :math:`\langle A - \bar A, B - \bar B\rangle_F / (|A - \bar A|_F\, |B - \bar B|_F)` with
    :math:`\bar A` the mean entry (invariant to adding a multiple of the all-ones matrix, not to
    adding a multiple of the identity). ``COSINE``: :math:`\langle A, B\rangle_F /
    (|A|_F |B|_F)`, the "correlation" of Radhakrishnan et al. 2024 and Beaglehole et al. 2024;
    for positive semi-definite matrices it is :math:`\ge 0`, so it is the more lenient of the
    two.
    """

    PEARSON = "pearson"
    COSINE = "cosine"


def _check_matrix(x: object, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{name}: expected a non-empty 2-D tensor, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name}: expected a floating dtype, got {x.dtype}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name}: expected finite entries")
    return x


def _check_square_symmetric(a: Tensor, name: str) -> None:
    if a.shape[0] != a.shape[1]:
        raise ValueError(f"{name}: expected a square (d, d) matrix, got shape {tuple(a.shape)}")
    scale = float(torch.linalg.norm(a))
    if float(torch.linalg.norm(a - a.T)) > 1e-8 * max(scale, 1e-300):
        raise ValueError(f"{name}: expected a symmetric matrix")


def input_gradients(model: nn.Module, x: Tensor) -> Tensor:
    r"""The input gradients :math:`\nabla_x f(x_i)`, :math:`i = 1..n`, of a scalar model.

    Computed by one backward pass of :math:`\sum_i f(x_i)` with respect to the batch, which
    equals the per-sample gradients when the model treats the rows independently (any
    multilayer perceptron; not batch normalisation in training mode).

    Args:
        model: a module mapping ``(n, d)`` inputs to ``(n,)`` or ``(n, 1)`` outputs.
        x: ``(n, d)`` inputs, floating.

    Returns:
        ``(n, d)``, detached.

    Raises:
        ValueError: if ``model`` is not a module, ``x`` is malformed, or the output is not
            ``(n,)``.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    x = _check_matrix(x, "x")
    with torch.enable_grad():
        xr = x.detach().clone().requires_grad_(True)
        out = model(xr)
        if not isinstance(out, Tensor) or out.shape not in ((x.shape[0],), (x.shape[0], 1)):
            shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"model: expected outputs of shape ({x.shape[0]},), got {shape}")
        (gradients,) = torch.autograd.grad(out.sum(), xr, allow_unused=True)
    return torch.zeros_like(x) if gradients is None else gradients.detach()


def average_gradient_outer_product(model: nn.Module, x: Tensor) -> Tensor:
    r"""The AGOP :math:`\frac1n \sum_i \nabla_x f(x_i) \nabla_x f(x_i)^\top` of a scalar model
    on the inputs ``x`` (see the module docstring).

    Args:
        model: a module mapping ``(n, d)`` inputs to ``(n,)`` or ``(n, 1)`` outputs, rows
            treated independently.
        x: ``(n, d)`` inputs.

    Returns:
        ``(d, d)`` symmetric positive semi-definite, dtype of ``x``.

    Raises:
        ValueError: as :func:`input_gradients`.
    """
    g = input_gradients(model, x)
    return g.T @ g / g.shape[0]


def psd_matrix_power(a: Tensor, power: float) -> Tensor:
    r""":math:`A^s = Q \max(\Lambda, 0)^s Q^\top` for a symmetric :math:`A = Q \Lambda Q^\top`
    (negative rounding-level eigenvalues are clipped to 0).

    Args:
        a: ``(d, d)`` symmetric positive semi-definite.
        power: :math:`s > 0`.

    Returns:
        ``(d, d)``.

    Raises:
        ValueError: if ``a`` is not a finite symmetric square matrix or ``power <= 0``.
    """
    a = _check_matrix(a, "a")
    _check_square_symmetric(a, "a")
    s = check_real(power, "power", positive=True)
    values, vectors = torch.linalg.eigh((a + a.T) / 2)
    return (vectors * values.clamp(min=0) ** s) @ vectors.T


def feature_ansatz_correlation(
    weight: Tensor,
    agop: Tensor,
    *,
    power: float = 0.5,
    similarity: MatrixSimilarity = MatrixSimilarity.PEARSON,
) -> float:
    r"""The neural feature ansatz correlation between :math:`W^\top W` and
    :math:`\mathrm{AGOP}^s` (Radhakrishnan et al. 2024).

    Args:
        weight: the first-layer weights :math:`W`, ``(m, d)``.
        agop: ``(d, d)`` symmetric positive semi-definite, e.g. from
            :func:`average_gradient_outer_product`.
        power: the exponent :math:`s > 0` (``0.5``: exact for balanced two-layer linear
            networks; ``1``: the statement of Radhakrishnan et al.).
        similarity: :class:`MatrixSimilarity`.

    Returns:
        a number in :math:`[-1, 1]` (1 iff the matrices are proportional, for ``COSINE``; for
        ``PEARSON`` iff they are affinely related entrywise).

    Raises:
        ValueError: on mismatched shapes, a non-symmetric ``agop``, ``power <= 0``, an unknown
            ``similarity``, or a constant matrix (the correlation is undefined).
    """
    weight = _check_matrix(weight, "weight")
    agop = _check_matrix(agop, "agop")
    d = weight.shape[1]
    if agop.shape != (d, d):
        raise ValueError(f"agop: expected shape ({d}, {d}) to match weight, got "
                         f"{tuple(agop.shape)}")
    _check_square_symmetric(agop, "agop")
    check_real(power, "power", positive=True)
    if not isinstance(similarity, MatrixSimilarity):
        raise ValueError(f"similarity: expected a MatrixSimilarity, got {similarity!r}")
    gram = weight.T @ weight
    target = psd_matrix_power(agop.to(gram.dtype), power)
    a, b = gram.reshape(-1), target.reshape(-1)
    if similarity is MatrixSimilarity.PEARSON:
        a, b = a - a.mean(), b - b.mean()
    na, nb = torch.linalg.norm(a), torch.linalg.norm(b)
    if float(na) == 0 or float(nb) == 0:
        which = "weight" if float(na) == 0 else "agop"
        raise ValueError(f"{which}: the matrix is constant (zero after centring); the "
                         "correlation is undefined")
    return float(torch.dot(a, b) / (na * nb))


def subspace_alignment(weight: Tensor, directions: Tensor) -> float:
    r"""How well the top-:math:`k` right singular subspace of :math:`W` matches
    :math:`\mathrm{span}(U)`: :math:`\frac1k |U^\top V_k|_F^2 = \frac1k \sum_{j=1}^k
    \cos^2 \phi_j`, with :math:`\phi_j` the principal angles.

    1 iff the two :math:`k`-dimensional subspaces coincide; for a uniformly random
    :math:`k`-subspace of :math:`\mathbb R^d` its mean is :math:`k/d`.

    Args:
        weight: :math:`W`, ``(m, d)`` with ``m >= k``.
        directions: the teacher directions, ``(k, d)`` rows of full rank :math:`k \le d`
            (orthonormalised here).

    Returns:
        a number in :math:`[0, 1]`.

    Raises:
        ValueError: on mismatched shapes, rank-deficient ``directions`` or ``k > m``.
    """
    weight = _check_matrix(weight, "weight")
    directions = _check_matrix(directions, "directions")
    m, d = weight.shape
    k = directions.shape[0]
    if directions.shape[1] != d:
        raise ValueError(f"directions: expected shape (k, {d}) to match weight, got "
                         f"{tuple(directions.shape)}")
    if k > min(m, d):
        raise ValueError(f"directions: expected at most min(m, d) = {min(m, d)} rows, got {k}")
    q, r = torch.linalg.qr(directions.T.to(weight.dtype))
    diag = torch.abs(torch.diagonal(r))
    if float(diag.min()) <= 1e-10 * float(diag.max()):
        raise ValueError("directions: expected linearly independent rows")
    _, _, vh = torch.linalg.svd(weight, full_matrices=False)
    overlap = q.T @ vh[:k].T
    return float(torch.sum(overlap**2) / k)
