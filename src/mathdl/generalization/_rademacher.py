r"""Empirical Rademacher complexity: a Monte Carlo estimator and classes with computable suprema.

The empirical Rademacher complexity of a class :math:`\mathcal F` on a sample
:math:`x_1, \dots, x_n` is

.. math::
    \widehat{\mathrm{Rad}}_n(\mathcal F) = \mathbb E_\sigma \sup_{f \in \mathcal F}
    \frac1n \sum_{i=1}^n \sigma_i f(x_i), \qquad \sigma_i \text{ i.i.d. uniform on } \{\pm 1\}

(Bartlett & Mendelson 2002; Shalev-Shwartz & Ben-David 2014, ch. 26). It controls the
generalisation gap: with probability :math:`1 - \delta`, uniformly over :math:`f \in \mathcal F`,
:math:`\mathbb E\,\ell(f) \le \frac1n\sum_i \ell(f, z_i) + 2 L\,\widehat{\mathrm{Rad}}_n + 3B
\sqrt{\log(2/\delta)/(2n)}` for an :math:`L`-Lipschitz loss bounded by :math:`B`.
:func:`empirical_rademacher_complexity` averages the supremum over independent sign vectors and
reports the standard error; it needs the supremum in closed form, available for:

* **the** :math:`\ell_2` **ball** :math:`\{x \mapsto \beta\cdot x : |\beta|_2 \le Q\}`: by
  Cauchy-Schwarz :math:`\sup = \frac Qn |\sum_i \sigma_i x_i|_2`
  (:func:`l2_ball_supremum`), and by Jensen
  :math:`\widehat{\mathrm{Rad}}_n \le \frac Qn\sqrt{\sum_i |x_i|_2^2} \le
  Q \max_i|x_i|_2 / \sqrt n` (:func:`l2_ball_rademacher_bound`);
* **the** :math:`\ell_1` **ball** :math:`\{|\beta|_1 \le Q\}`: the dual norm gives
  :math:`\sup = \frac Qn |\sum_i \sigma_i x_i|_\infty` (:func:`l1_ball_supremum`); the supremum
  is over the :math:`2d` vertices :math:`\pm Q e_j`, so Massart's finite-class lemma gives
  :math:`Q \max_i|x_i|_\infty \sqrt{2\ln(2d)/n}` (:func:`l1_ball_rademacher_bound`);
* **the RKHS ball** :math:`\{\|f\|_{\mathcal H_k} \le Q\}`: by the reproducing property
  :math:`\sup = \frac Qn \sqrt{\sigma^\top K \sigma}` (:func:`rkhs_ball_supremum`), and
  :math:`\widehat{\mathrm{Rad}}_n \le \frac Qn\sqrt{\operatorname{tr} K} \le Q\sqrt{\sup_x
  k(x, x)/n}`: :math:`Q/\sqrt n` when :math:`k \le 1` (:func:`rkhs_ball_rademacher_bound`);
* **the path-norm ball of two-layer ReLU networks**
  :math:`\mathcal F_Q = \{f(x) = \frac1m\sum_k a_k \max(w_k\cdot x, 0) :
  \|\theta\|_P = \frac1m \sum_k |a_k|\,|w_k|_1 \le Q,\ m \ge 1\}` (E, Ma & Wu 2019). By positive
  homogeneity each neuron equals :math:`\frac{|a_k||w_k|_1}{m}\,(\pm)\max(u_k\cdot x, 0)` with
  :math:`|u_k|_1 = 1`, so :math:`\mathcal F_Q` is :math:`Q` times the symmetric convex hull of
  single neurons, and a linear functional is maximised at an extreme point:
  :math:`\sup = \frac Qn \max_{|u|_1 = 1} |\sum_i \sigma_i \max(u\cdot x_i, 0)|`
  (:func:`path_norm_ball_supremum`). E, Ma & Wu (2019, Thm 6, via the contraction lemma and the
  :math:`\ell_1` bound) prove :math:`\widehat{\mathrm{Rad}}_n(\mathcal F_Q) \le 2Q\sqrt{2\ln(2d)
  / n}` for :math:`|x_i|_\infty \le 1` (:func:`path_norm_rademacher_bound`; we keep the factor
  :math:`\max_i|x_i|_\infty` for general data).

References:
    P. L. Bartlett & S. Mendelson, "Rademacher and Gaussian complexities: risk bounds and
    structural results", JMLR 3 (2002), Lemma 22 (kernel classes);
    S. Shalev-Shwartz & S. Ben-David, *Understanding Machine Learning*, Cambridge 2014, ch. 26
    (Lemma 26.8 Massart, Lemma 26.9 contraction, Lemmas 26.10-26.11 linear classes);
    W. E, C. Ma & L. Wu, "A priori estimates of the population risk for two-layer neural
    networks", Commun. Math. Sci. 17 (2019) 1407-1425, Thm 6 (arXiv:1810.06397).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from mathdl.generalization._checks import (
    check_generator,
    check_positive_int,
    check_real,
    check_tensor,
    common_dtype,
)
from mathdl.generalization._estimate import MonteCarloEstimate

__all__ = [
    "empirical_rademacher_complexity",
    "l1_ball_rademacher_bound",
    "l1_ball_supremum",
    "l2_ball_rademacher_bound",
    "l2_ball_supremum",
    "path_norm_ball_supremum",
    "path_norm_rademacher_bound",
    "rkhs_ball_rademacher_bound",
    "rkhs_ball_supremum",
]


def empirical_rademacher_complexity(
    supremum: Callable[[Tensor], Tensor],
    n: int,
    *,
    num_samples: int,
    generator: torch.Generator,
    batch_size: int = 256,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> MonteCarloEstimate:
    r"""Monte Carlo estimate of :math:`\widehat{\mathrm{Rad}}_n(\mathcal F) = \mathbb E_\sigma
    \sup_{f} \frac1n \sum_i \sigma_i f(x_i)` with its standard error.

    Draws ``num_samples`` independent sign vectors :math:`\sigma^{(s)} \in \{\pm1\}^n` and
    averages :math:`Z_s = \sup_f \frac1n\sum_i \sigma^{(s)}_i f(x_i)`, computed by ``supremum``
    (e.g. ``lambda s: l2_ball_supremum(x, s)``). The error is
    :math:`\operatorname{sd}(Z)/\sqrt S`; since :math:`Z` is :math:`Q\max|f|/n`-Lipschitz in each
    sign, its standard deviation is :math:`O(1/\sqrt n)` (bounded differences), like the mean.

    Args:
        supremum: maps signs ``(B, n)`` (entries :math:`\pm1` in ``dtype``) to ``(B,)`` suprema.
        n: sample size.
        num_samples: :math:`S \ge 2` sign vectors.
        generator: the only source of randomness (signs drawn on its device, then moved).
        batch_size: sign vectors per call of ``supremum``.
        dtype, device: of the sign vectors (device defaults to the generator's).

    Returns:
        :class:`MonteCarloEstimate` (mean, stderr, num_samples).

    Raises:
        ValueError: on bad arguments or if ``supremum`` returns the wrong shape.
    """
    check_positive_int(n, "n")
    check_positive_int(num_samples, "num_samples", minimum=2)
    check_positive_int(batch_size, "batch_size")
    check_generator(generator)
    if not callable(supremum):
        raise ValueError(f"supremum: expected a callable, got {type(supremum).__name__}")
    target = generator.device if device is None else torch.device(device)
    values = []
    for start in range(0, num_samples, batch_size):
        b = min(batch_size, num_samples - start)
        bits = torch.randint(0, 2, (b, n), generator=generator, device=generator.device)
        signs = (2 * bits - 1).to(dtype=dtype, device=target)
        z = supremum(signs)
        if not isinstance(z, Tensor) or z.shape != (b,):
            shape = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
            raise ValueError(f"supremum: expected a tensor of shape ({b},) for signs of shape "
                             f"({b}, {n}), got {shape}")
        values.append(z)
    return MonteCarloEstimate.from_samples(torch.cat(values))


def _check_signs(signs: object, n: int) -> Tensor:
    s = check_tensor(signs, "signs", 2)
    if s.shape[1] != n:
        raise ValueError(f"signs: expected shape (S, {n}), got {tuple(s.shape)}")
    return s


def _check_data(x: object) -> Tensor:
    x = check_tensor(x, "x", 2)
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"x: expected a non-empty (n, d) matrix, got {tuple(x.shape)}")
    return x


def _signed_sum(x: Tensor, signs: Tensor) -> Tensor:
    s = _check_signs(signs, x.shape[0])
    dtype = common_dtype(x, s)
    return s.to(dtype) @ x.to(dtype)  # (S, d): sum_i sigma_i x_i


def l2_ball_supremum(x: Tensor, signs: Tensor, *, radius: float = 1.0) -> Tensor:
    r""":math:`\sup_{|\beta|_2 \le Q} \frac1n\sum_i \sigma_i \beta\cdot x_i
    = \frac Qn \big|\sum_i \sigma_i x_i\big|_2`.

    Args:
        x: ``(n, d)`` sample; signs: ``(S, n)``; radius: :math:`Q > 0`.

    Returns:
        ``(S,)`` suprema.
    """
    q = check_real(radius, "radius", positive=True)
    x = _check_data(x)
    return q * torch.linalg.vector_norm(_signed_sum(x, signs), dim=1) / x.shape[0]


def l1_ball_supremum(x: Tensor, signs: Tensor, *, radius: float = 1.0) -> Tensor:
    r""":math:`\sup_{|\beta|_1 \le Q} \frac1n\sum_i \sigma_i \beta\cdot x_i
    = \frac Qn \big|\sum_i \sigma_i x_i\big|_\infty` (dual norm).

    Args:
        x: ``(n, d)`` sample; signs: ``(S, n)``; radius: :math:`Q > 0`.

    Returns:
        ``(S,)`` suprema.
    """
    q = check_real(radius, "radius", positive=True)
    x = _check_data(x)
    return q * _signed_sum(x, signs).abs().amax(dim=1) / x.shape[0]


def rkhs_ball_supremum(gram: Tensor, signs: Tensor, *, radius: float = 1.0) -> Tensor:
    r""":math:`\sup_{\|f\|_{\mathcal H} \le Q} \frac1n\sum_i\sigma_i f(x_i)
    = \frac Qn \sqrt{\sigma^\top K \sigma}`, :math:`K_{ij} = k(x_i, x_j)`.

    (:math:`\sum_i\sigma_i f(x_i) = \langle f, \sum_i \sigma_i k(\cdot, x_i)\rangle_{\mathcal H}`
    and Cauchy-Schwarz.)

    Args:
        gram: ``(n, n)`` symmetric positive semi-definite :math:`K`; signs: ``(S, n)``;
            radius: :math:`Q > 0`.

    Returns:
        ``(S,)`` suprema.

    Raises:
        ValueError: if ``gram`` is not square.
    """
    q = check_real(radius, "radius", positive=True)
    k = check_tensor(gram, "gram", 2)
    if k.shape[0] != k.shape[1] or k.shape[0] < 1:
        raise ValueError(f"gram: expected a square (n, n) matrix, got {tuple(k.shape)}")
    s = _check_signs(signs, k.shape[0])
    dtype = common_dtype(k, s)
    s = s.to(dtype)
    quad = ((s @ k.to(dtype)) * s).sum(dim=1)
    return q * torch.sqrt(quad.clamp(min=0.0)) / k.shape[0]


def _l1_sphere_breakpoints(x: Tensor) -> Tensor:
    """Directions u with |u|_1 = 1 where u -> sum_i sigma_i relu(u.x_i) may have a maximum."""
    d = x.shape[1]
    eye = torch.eye(d, dtype=x.dtype, device=x.device)
    vertices = torch.cat([eye, -eye])
    if d == 1:
        return vertices
    normals = torch.stack([-x[:, 1], x[:, 0]], dim=1)  # u . x_i = 0
    scale = normals.abs().sum(dim=1, keepdim=True)
    normals = normals[scale[:, 0] > 0] / scale[scale[:, 0] > 0]
    return torch.cat([vertices, normals, -normals])


def path_norm_ball_supremum(
    x: Tensor, signs: Tensor, *, radius: float = 1.0, batch_size: int = 4096
) -> Tensor:
    r"""The exact :math:`\sup_{f\in\mathcal F_Q}\frac1n\sum_i\sigma_i f(x_i)
    = \frac Qn \max_{|u|_1 = 1} \big|\sum_i \sigma_i \max(u\cdot x_i, 0)\big|` over the path-norm
    ball of two-layer ReLU networks (no biases), for inputs in :math:`d \le 2` dimensions.

    The supremum over the ball is attained at an extreme point, a single neuron (module
    docstring). Along each edge of the :math:`\ell_1` sphere the function
    :math:`g(u) = \sum_i\sigma_i\max(u\cdot x_i, 0)` is piecewise linear with kinks only where
    :math:`u\cdot x_i = 0`, so :math:`\max|g|` is attained at a vertex :math:`\pm e_j` or at one of
    those kinks. In :math:`d = 2` these are the :math:`2n + 4` points :math:`\pm e_1, \pm e_2,
    \pm(-x_{i2}, x_{i1})/|x_i|_1`; in :math:`d = 1` the two points :math:`\pm 1`. In higher
    dimension the kinks form a hyperplane arrangement with :math:`O(n^{d-1})` vertices per face,
    so the exact supremum is not offered there. (A univariate network with biases,
    :math:`\max(b x + c, 0)` with path norm :math:`|a|(|b| + |c|)`, is the case :math:`d = 2`
    with inputs :math:`(x_i, 1)`.)

    Args:
        x: ``(n, d)`` sample, :math:`d \in \{1, 2\}`.
        signs: ``(S, n)``.
        radius: :math:`Q > 0`.
        batch_size: candidate directions evaluated at once (memory ``batch_size * n``).

    Returns:
        ``(S,)`` suprema.

    Raises:
        ValueError: if :math:`d > 2`, or on bad shapes or values.
    """
    q = check_real(radius, "radius", positive=True)
    check_positive_int(batch_size, "batch_size")
    x = _check_data(x)
    if x.shape[1] > 2:
        raise ValueError(f"x: the exact path-norm supremum enumerates the kinks on the l1 "
                         f"sphere and is implemented for d <= 2, got d = {x.shape[1]}")
    s = _check_signs(signs, x.shape[0])
    dtype = common_dtype(x, s)
    x, s = x.to(dtype), s.to(dtype)
    candidates = _l1_sphere_breakpoints(x)
    best = torch.zeros(s.shape[0], dtype=dtype, device=x.device)
    for start in range(0, candidates.shape[0], batch_size):
        activations = torch.relu(candidates[start:start + batch_size] @ x.mT)  # (C, n)
        values = (activations @ s.mT).abs()  # (C, S)
        best = torch.maximum(best, values.amax(dim=0))
    return q * best / x.shape[0]


def l2_ball_rademacher_bound(x: Tensor, *, radius: float = 1.0) -> float:
    r""":math:`\widehat{\mathrm{Rad}}_n \le \frac Qn\sqrt{\sum_i|x_i|_2^2}
    \le Q\max_i|x_i|_2/\sqrt n` for the :math:`\ell_2` ball (Shalev-Shwartz & Ben-David 2014,
    Lemma 26.10); returns the right-hand side :math:`Q \max_i |x_i|_2 / \sqrt n`."""
    q = check_real(radius, "radius", positive=True)
    x = _check_data(x)
    return q * float(torch.linalg.vector_norm(x, dim=1).max()) / math.sqrt(x.shape[0])


def l1_ball_rademacher_bound(x: Tensor, *, radius: float = 1.0) -> float:
    r""":math:`\widehat{\mathrm{Rad}}_n \le Q\max_i|x_i|_\infty\sqrt{2\ln(2d)/n}` for the
    :math:`\ell_1` ball (Massart's lemma over the :math:`2d` vertices; Shalev-Shwartz & Ben-David
    2014, Lemma 26.11)."""
    q = check_real(radius, "radius", positive=True)
    x = _check_data(x)
    n, d = x.shape
    return q * float(x.abs().max()) * math.sqrt(2.0 * math.log(2 * d) / n)


def rkhs_ball_rademacher_bound(gram: Tensor, *, radius: float = 1.0) -> float:
    r""":math:`\widehat{\mathrm{Rad}}_n \le \frac Qn\sqrt{\operatorname{tr}K}
    \le Q\sqrt{\max_i k(x_i, x_i)/n}` for the RKHS ball (Bartlett & Mendelson 2002, Lemma 22);
    returns :math:`Q\sqrt{\max_i K_{ii}/n}`, i.e. :math:`Q/\sqrt n` when :math:`k \le 1`."""
    q = check_real(radius, "radius", positive=True)
    k = check_tensor(gram, "gram", 2)
    if k.shape[0] != k.shape[1] or k.shape[0] < 1:
        raise ValueError(f"gram: expected a square (n, n) matrix, got {tuple(k.shape)}")
    top = float(torch.diagonal(k).max())
    if top < 0:
        raise ValueError("gram: expected a non-negative diagonal (a positive semi-definite K)")
    return q * math.sqrt(top / k.shape[0])


def path_norm_rademacher_bound(x: Tensor, *, radius: float = 1.0) -> float:
    r""":math:`\widehat{\mathrm{Rad}}_n(\mathcal F_Q) \le 2Q\max_i|x_i|_\infty\sqrt{2\ln(2d)/n}`
    for the path-norm ball of two-layer ReLU networks (E, Ma & Wu 2019, Thm 6, stated for
    :math:`|x|_\infty \le 1`; the factor :math:`\max|x_i|_\infty` follows by homogeneity)."""
    q = check_real(radius, "radius", positive=True)
    x = _check_data(x)
    n, d = x.shape
    return 2.0 * q * float(x.abs().max()) * math.sqrt(2.0 * math.log(2 * d) / n)
