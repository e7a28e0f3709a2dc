r"""Random feature models, their kernels in closed form, and RKHS norms of their targets.

A random feature model draws :math:`w_1, \dots, w_m` i.i.d. from a fixed distribution
:math:`\pi_0` and fits only the outer coefficients of

.. math::
    f_m(x) = \frac1m \sum_{k=1}^m a_k^\top \varphi(x; w_k).

As :math:`m \to \infty` the feature map defines the kernel
:math:`k(x, x') = \mathbb E_{w \sim \pi_0}[\varphi(x; w)^\top \varphi(x'; w)]` and its
reproducing-kernel Hilbert space (Rahimi & Recht 2008; Bach 2017, §2; E, Ma & Wu 2019, §2)

.. math::
    \mathcal H_k = \Big\{ f(x) = \mathbb E_{w \sim \pi_0}[a(w)^\top \varphi(x; w)] :
        a \in L^2(\pi_0) \Big\}, \qquad
    \|f\|_{\mathcal H_k}^2 = \min_{a} \mathbb E_{\pi_0} |a(w)|^2 ,

the minimum over all representations :math:`a` of the same :math:`f`. Hence
:math:`\|f\|_{\mathcal H_k}^2 \le \mathbb E|a(w)|^2` for *every* representation, with equality
exactly for the minimal one: the orthogonal projection of :math:`a` onto the closed span of
:math:`\{\varphi(x; \cdot) : x\}` in :math:`L^2(\pi_0)`. A kernel expansion
:math:`f = \sum_j c_j k(\cdot, z_j)` is represented by :math:`a(w) = \sum_j c_j \varphi(z_j; w)`,
which lies in that span, so :math:`\mathbb E|a|^2 = c^\top K(Z, Z) c = \|f\|_{\mathcal H_k}^2`.

**Approximation at the Monte Carlo rate.** Drawing :math:`w_k \sim \pi_0` and setting
:math:`a_k = a(w_k)` gives an unbiased :math:`f_m` with

.. math::
    \mathbb E \|f_m - f\|_{L^2(\rho)}^2
    = \frac1m \mathbb E_{x \sim \rho} \operatorname{Var}_{w}\big[a(w)^\top \varphi(x; w)\big]
    \le \frac{\mathbb E_w\big[|a(w)|^2\, \mathbb E_\rho|\varphi(x; w)|^2\big]}{m}
    \le \frac{\kappa\, \|f\|_{\mathcal H_k}^2}{m},
    \qquad \kappa = \sup_w \mathbb E_\rho |\varphi(x; w)|^2 ,

for the minimal representation: the :math:`\|f\|_{\mathcal H}/\sqrt m` rate of random features
without a curse of dimensionality (Rahimi & Recht 2008, Thm 3.2; E, Ma & Wu 2019, Thm 3.1 for the
same argument in Barron space). For the features here :math:`\kappa = 1` (Fourier:
:math:`|\varphi|^2 = \cos^2 + \sin^2 = 1`), :math:`\kappa = \mathbb E_\rho (w\cdot x)_+^2`
(ReLU; :math:`s^2/2` for :math:`\rho = \mathcal N(0, s^2 I_d)`, :math:`|w| = 1`) and
:math:`\kappa \le 1` (sigmoid, :math:`0 < \Phi < 1`; the supremum over the unbounded Gaussian
:math:`w` is approached as :math:`|w| \to \infty`).

**The three feature families** (:class:`FeatureKind`):

* ``RELU``: :math:`\varphi(x; w) = \max(w \cdot x, 0)`, :math:`w` uniform on the unit sphere
  :math:`S^{d-1}` (the :math:`\pi_0` of E, Ma & Wu). The kernel is the degree-1 arc-cosine kernel
  of Cho & Saul (2009) divided by :math:`2d`: with :math:`\cos\theta = x\cdot x'/(|x||x'|)`,

  .. math::
      k(x, x') = \frac{|x|\,|x'|}{2\pi d}\big(\sin\theta + (\pi - \theta)\cos\theta\big),

  because :math:`g \sim \mathcal N(0, I_d)` factors as :math:`g = |g|\,w` with :math:`|g|`
  independent of :math:`w` and :math:`\mathbb E|g|^2 = d`, and
  :math:`\mathbb E_g[(g\cdot x)_+ (g\cdot x')_+] = |x||x'|(\sin\theta + (\pi-\theta)\cos\theta)
  / (2\pi)` (Cho & Saul 2009, eq. (6) with :math:`n = 1`, which is twice this).
  It equals the NNGP of ``Serial(Dense(1.0, 0.0), ReLU())`` in :mod:`mathdl.kernels`.
* ``SIGMOID``: :math:`\varphi(x; w) = \Phi(w\cdot x)` with the Gaussian distribution function
  :math:`\Phi(t) = \frac12\big(1 + \operatorname{erf}(t/\sqrt2)\big)` (the erf, or probit,
  sigmoid), :math:`w \sim \mathcal N(0, \sigma^2 I_d)` (:math:`\sigma` = ``frequency_scale``).
  The erf sigmoid is chosen over the logistic :math:`1/(1 + e^{-t})` because its kernel is in
  closed form (Williams 1998, the arcsine kernel; the two sigmoids differ by less than 0.0095
  uniformly after the rescaling :math:`\Phi(t) \approx 1/(1 + e^{-1.702 t})`). With
  :math:`(u, v) = (w\cdot x, w\cdot x')` jointly Gaussian, :math:`\Phi(u) =
  \mathbb P(Z \le u \mid u)` for an independent :math:`Z \sim \mathcal N(0, 1)`, so
  :math:`\mathbb E[\Phi(u)\Phi(v)] = \mathbb P(Z - u \le 0, Z' - v \le 0)`, a centred
  bivariate Gaussian orthant probability, :math:`\frac14 + \frac{1}{2\pi}\arcsin\rho`
  (Sheppard's formula):

  .. math::
      k(x, x') = \frac14 + \frac{1}{2\pi}\arcsin\frac{\sigma^2\, x\cdot x'}
          {\sqrt{(1 + \sigma^2|x|^2)(1 + \sigma^2|x'|^2)}}.

  As :math:`\sigma\to\infty` it tends to the degree-0 arc-cosine kernel
  :math:`\frac{\pi - \theta}{2\pi}` of the step function :math:`\mathbb 1\{w\cdot x > 0\}`.
* ``FOURIER``: :math:`\varphi(x; \omega) = (\cos \omega\cdot x, \sin \omega\cdot x)
  \in \mathbb R^2`, :math:`\omega \sim \mathcal N(0, \sigma^2 I_d)` (:math:`\sigma` =
  ``frequency_scale``). By Bochner's theorem the kernel is Gaussian (Rahimi & Recht 2007),

  .. math::
      k(x, x') = \mathbb E[\cos \omega\cdot(x - x')] = e^{-\sigma^2 |x - x'|^2 / 2}.

**Layout.** :func:`random_features` returns the matrix :math:`\Phi` with
:math:`\Phi_{ik} = \varphi(x_i; w_k)`, shape ``(n, m)`` for ReLU and sigmoid and ``(n, 2m)``
for Fourier
(columns :math:`\cos \omega_1\cdot x, \dots, \cos\omega_m\cdot x, \sin\omega_1\cdot x, \dots,
\sin\omega_m\cdot x`). Coefficient vectors use the same layout (``m`` or ``2m`` entries: first all
cosine, then all sine coefficients), so :math:`f_m = \frac1m \Phi a` and the empirical kernel is
:math:`K_m = \frac1m \Phi \Phi^\top`.

References:
    A. Rahimi & B. Recht, "Random features for large-scale kernel machines", NeurIPS 2007;
    A. Rahimi & B. Recht, "Uniform approximation of functions with random bases", Allerton 2008;
    Y. Cho & L. K. Saul, "Kernel methods for deep learning", NeurIPS 2009;
    C. K. I. Williams, "Computation with infinite neural networks", Neural Computation 10 (1998)
    1203-1216 (the arcsine kernel of erf features);
    W. F. Sheppard, "On the application of the theory of error to cases of normal distribution and
    normal correlation", Phil. Trans. R. Soc. A 192 (1899) (the orthant probability);
    F. Bach, "On the equivalence between kernel quadrature rules and random feature expansions",
    JMLR 18 (2017);
    W. E, C. Ma & L. Wu, "Barron spaces and the compositional function spaces for neural network
    models", arXiv:1906.08039 (2019); "A priori estimates of the population risk for two-layer
    neural networks", Commun. Math. Sci. 17 (2019).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable

import torch
from torch import Tensor

from mathdl.generalization._checks import (
    check_enum,
    check_generator,
    check_positive_int,
    check_real,
    check_same_columns,
    check_tensor,
    common_dtype,
)
from mathdl.generalization._estimate import MonteCarloEstimate

__all__ = [
    "FeatureKind",
    "RandomFeatureModel",
    "empirical_feature_kernel",
    "feature_kernel",
    "fourier_feature_error_constant",
    "kernel_expansion_representation",
    "random_feature_expansion",
    "random_features",
    "representation_norm_squared",
    "rkhs_norm",
    "sample_feature_weights",
]


class FeatureKind(enum.Enum):
    r"""The random feature :math:`\varphi(x; w)` and its weight distribution :math:`\pi_0`.

    ``RELU``: :math:`\max(w\cdot x, 0)`, :math:`w \sim \mathrm{Unif}(S^{d-1})`; kernel
    :math:`\frac{|x||x'|}{2\pi d}(\sin\theta + (\pi-\theta)\cos\theta)`.
    ``SIGMOID``: :math:`\Phi(w\cdot x)` (Gaussian distribution function, the erf sigmoid),
    :math:`w \sim \mathcal N(0, \sigma^2 I_d)`; kernel :math:`\frac14 + \frac1{2\pi}\arcsin
    \frac{\sigma^2 x\cdot x'}{\sqrt{(1 + \sigma^2|x|^2)(1 + \sigma^2|x'|^2)}}`.
    ``FOURIER``: :math:`(\cos\omega\cdot x, \sin\omega\cdot x)`,
    :math:`\omega \sim \mathcal N(0, \sigma^2 I_d)`; kernel :math:`e^{-\sigma^2|x-x'|^2/2}`.
    """

    RELU = "relu"
    SIGMOID = "sigmoid"
    FOURIER = "fourier"

    @property
    def channels(self) -> int:
        """Entries of :math:`\\varphi(x; w)`: 1 (ReLU, sigmoid) or 2 (Fourier: cosine and
        sine)."""
        return 2 if self is FeatureKind.FOURIER else 1


def _check_points(x: object, name: str) -> Tensor:
    x = check_tensor(x, name, 2)
    if x.shape[1] < 1:
        raise ValueError(f"{name}: expected at least one column (the dimension d)")
    return x


def sample_feature_weights(
    kind: FeatureKind,
    num_features: int,
    dim: int,
    *,
    generator: torch.Generator,
    frequency_scale: float = 1.0,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> Tensor:
    r"""Draw :math:`w_1, \dots, w_m \sim \pi_0` i.i.d.

    ``RELU``: :math:`w_k = g_k / |g_k|`, :math:`g_k \sim \mathcal N(0, I_d)` (uniform on
    :math:`S^{d-1}`). ``SIGMOID`` and ``FOURIER``: :math:`w_k = \sigma g_k`.

    Args:
        kind: :class:`FeatureKind`.
        num_features: :math:`m \ge 1`.
        dim: input dimension :math:`d \ge 1`.
        generator: the only source of randomness (drawn on its device, then moved).
        frequency_scale: :math:`\sigma > 0`, the standard deviation of the Gaussian weights
            (Fourier frequencies, sigmoid weights; ignored for ReLU).
        dtype: floating dtype of the weights.
        device: device of the weights; defaults to the generator's.

    Returns:
        ``(m, d)`` weights :math:`W` (rows :math:`w_k`).

    Raises:
        ValueError: on a bad ``kind``, ``num_features``, ``dim``, ``frequency_scale`` or
            ``generator``.
    """
    check_enum(kind, FeatureKind, "kind")
    check_positive_int(num_features, "num_features")
    check_positive_int(dim, "dim")
    sigma = check_real(frequency_scale, "frequency_scale", positive=True)
    check_generator(generator)
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(f"dtype: expected a floating torch.dtype, got {dtype!r}")
    target = generator.device if device is None else torch.device(device)
    g = torch.randn(num_features, dim, generator=generator, dtype=dtype, device=generator.device)
    if kind is FeatureKind.RELU:
        w = g / torch.linalg.vector_norm(g, dim=1, keepdim=True)
    else:
        w = sigma * g
    return w.to(target)


def random_features(x: Tensor, weights: Tensor, *, kind: FeatureKind) -> Tensor:
    r"""The feature matrix :math:`\Phi_{ik} = \varphi(x_i; w_k)` (see the module's layout).

    Args:
        x: ``(n, d)`` inputs.
        weights: ``(m, d)`` weights :math:`w_k`.
        kind: :class:`FeatureKind`.

    Returns:
        ``(n, m)`` for ReLU and sigmoid, ``(n, 2m)`` for Fourier (all cosines, then all sines),
        in the promoted dtype of ``x`` and ``weights``.

    Raises:
        ValueError: on non-matrix, non-floating or non-finite inputs, or mismatched ``d``.
    """
    check_enum(kind, FeatureKind, "kind")
    x = _check_points(x, "x")
    weights = _check_points(weights, "weights")
    check_same_columns(x, weights, ("x", "weights"))
    dtype = common_dtype(x, weights)
    pre = x.to(dtype) @ weights.to(dtype).mT
    if kind is FeatureKind.RELU:
        return torch.relu(pre)
    if kind is FeatureKind.SIGMOID:
        return torch.special.ndtr(pre)
    return torch.cat([torch.cos(pre), torch.sin(pre)], dim=1)


def _num_features(weights: Tensor) -> int:
    return weights.shape[0]


def feature_kernel(
    x1: Tensor,
    x2: Tensor | None = None,
    *,
    kind: FeatureKind,
    frequency_scale: float = 1.0,
) -> Tensor:
    r"""The limit kernel :math:`k(x, x') = \mathbb E_{w\sim\pi_0}[\varphi(x;w)^\top\varphi(x';w)]`.

    .. math::
        k_{\mathrm{ReLU}}(x, x') = \frac{|x||x'|}{2\pi d}\big(\sin\theta + (\pi-\theta)\cos\theta
        \big), \qquad k_{\mathrm{Fourier}}(x, x') = e^{-\sigma^2 |x - x'|^2 / 2},

    .. math::
        k_{\mathrm{sigmoid}}(x, x') = \frac14 + \frac1{2\pi}\arcsin\frac{\sigma^2\,x\cdot x'}
        {\sqrt{(1 + \sigma^2|x|^2)(1 + \sigma^2|x'|^2)}}

    (Cho & Saul 2009, eq. (6), divided by :math:`2d` for :math:`w` on the unit sphere; Rahimi &
    Recht 2007, Bochner's theorem; Williams 1998 with Sheppard's orthant probability, see the
    module docstring). The angle is computed from the clamped cosine; a zero input gives
    :math:`k = 0` (ReLU) and :math:`k = 1/4` (sigmoid: :math:`\Phi(0) = 1/2`).

    Args:
        x1: ``(n1, d)`` inputs.
        x2: ``(n2, d)`` inputs; ``None`` means ``x1``.
        kind: :class:`FeatureKind`.
        frequency_scale: :math:`\sigma > 0` (Fourier and sigmoid; ignored for ReLU).

    Returns:
        ``(n1, n2)`` kernel matrix in the promoted dtype of the inputs.

    Raises:
        ValueError: on bad inputs, mismatched ``d`` or a non-positive ``frequency_scale``.
    """
    check_enum(kind, FeatureKind, "kind")
    sigma = check_real(frequency_scale, "frequency_scale", positive=True)
    x1 = _check_points(x1, "x1")
    x2 = x1 if x2 is None else _check_points(x2, "x2")
    check_same_columns(x1, x2, ("x1", "x2"))
    dtype = common_dtype(x1, x2)
    x1, x2 = x1.to(dtype), x2.to(dtype)
    if kind is FeatureKind.FOURIER:
        sq = (x1 * x1).sum(1)[:, None] + (x2 * x2).sum(1)[None, :] - 2.0 * x1 @ x2.mT
        return torch.exp(-0.5 * sigma**2 * sq.clamp(min=0.0))
    if kind is FeatureKind.SIGMOID:
        s2 = sigma * sigma
        a1 = 1.0 + s2 * (x1 * x1).sum(1)
        a2 = 1.0 + s2 * (x2 * x2).sum(1)
        rho = (s2 * (x1 @ x2.mT) / torch.sqrt(a1[:, None] * a2[None, :])).clamp(-1.0, 1.0)
        return 0.25 + torch.arcsin(rho) / (2.0 * math.pi)
    d = x1.shape[1]
    n1 = torch.linalg.vector_norm(x1, dim=1)
    n2 = torch.linalg.vector_norm(x2, dim=1)
    prod = n1[:, None] * n2[None, :]
    tiny = torch.finfo(dtype).tiny
    cos = ((x1 @ x2.mT) / prod.clamp(min=tiny)).clamp(-1.0, 1.0)
    theta = torch.arccos(cos)
    sin = torch.sqrt((1.0 - cos * cos).clamp(min=0.0))
    return prod * (sin + (math.pi - theta) * cos) / (2.0 * math.pi * d)


def empirical_feature_kernel(
    x1: Tensor, x2: Tensor | None, weights: Tensor, *, kind: FeatureKind
) -> Tensor:
    r"""The finite-:math:`m` kernel :math:`K_m(x, x') = \frac1m \sum_k \varphi(x; w_k)^\top
    \varphi(x'; w_k) = \frac1m \Phi(x) \Phi(x')^\top`, an unbiased estimate of
    :func:`feature_kernel` when :math:`w_k \sim \pi_0` (variance :math:`O(1/m)`).

    For Fourier features :math:`K_m(x, x') = \frac1m \sum_k \cos \omega_k \cdot (x - x')`.

    Args:
        x1: ``(n1, d)``; x2: ``(n2, d)`` or ``None`` (then ``x1``); weights: ``(m, d)``.
        kind: :class:`FeatureKind`.

    Returns:
        ``(n1, n2)`` in the promoted dtype.
    """
    phi1 = random_features(x1, weights, kind=kind)
    phi2 = phi1 if x2 is None else random_features(x2, weights, kind=kind)
    return phi1 @ phi2.mT / _num_features(weights)


def _check_coefficients(coefficients: object, weights: Tensor, kind: FeatureKind) -> Tensor:
    c = check_tensor(coefficients, "coefficients", 1)
    expected = kind.channels * _num_features(weights)
    if c.shape[0] != expected:
        raise ValueError(f"coefficients: expected {expected} entries ({kind.channels} per "
                         f"feature for {kind.name}), got {c.shape[0]}")
    return c


def random_feature_expansion(
    x: Tensor, weights: Tensor, coefficients: Tensor, *, kind: FeatureKind
) -> Tensor:
    r""":math:`f_m(x) = \frac1m \sum_{k=1}^m a_k^\top \varphi(x; w_k) = \frac1m \Phi(x)\, a`.

    Args:
        x: ``(n, d)`` inputs.
        weights: ``(m, d)``.
        coefficients: ``(m,)`` (ReLU, sigmoid) or ``(2m,)`` (Fourier) in the module's layout.
        kind: :class:`FeatureKind`.

    Returns:
        ``(n,)`` values.
    """
    phi = random_features(x, weights, kind=kind)
    a = _check_coefficients(coefficients, weights, kind)
    return phi @ a.to(phi.dtype) / _num_features(weights)


def rkhs_norm(
    coefficients: Tensor,
    centers: Tensor,
    *,
    kind: FeatureKind,
    frequency_scale: float = 1.0,
) -> Tensor:
    r"""The RKHS norm of a kernel expansion, :math:`\|\sum_j c_j k(\cdot, z_j)\|_{\mathcal H_k}
    = \sqrt{c^\top K(Z, Z)\, c}` (reproducing property).

    It equals :math:`\sqrt{\mathbb E|a(w)|^2}` for the representation
    :math:`a(w) = \sum_j c_j \varphi(z_j; w)` of :func:`kernel_expansion_representation`,
    which is minimal.

    Args:
        coefficients: ``(J,)`` :math:`c_j`.
        centers: ``(J, d)`` :math:`z_j`.
        kind, frequency_scale: the kernel (:func:`feature_kernel`).

    Returns:
        A 0-d tensor.

    Raises:
        ValueError: on mismatched shapes or bad values.
    """
    centers = _check_points(centers, "centers")
    c = check_tensor(coefficients, "coefficients", 1)
    if c.shape[0] != centers.shape[0]:
        raise ValueError(f"coefficients: expected {centers.shape[0]} entries (one per center), "
                         f"got {c.shape[0]}")
    k = feature_kernel(centers, kind=kind, frequency_scale=frequency_scale)
    c = c.to(k.dtype)
    return torch.sqrt((c @ k @ c).clamp(min=0.0))


def kernel_expansion_representation(
    coefficients: Tensor, centers: Tensor, *, kind: FeatureKind
) -> Callable[[Tensor], Tensor]:
    r"""The minimal representation :math:`a(w) = \sum_j c_j \varphi(z_j; w)` of
    :math:`f = \sum_j c_j k(\cdot, z_j)`.

    Indeed :math:`\mathbb E_w[a(w)^\top\varphi(x; w)] = \sum_j c_j k(z_j, x) = f(x)` and
    :math:`a` lies in the span of :math:`\{\varphi(x; \cdot)\}`, so
    :math:`\mathbb E|a|^2 = \|f\|_{\mathcal H}^2` (:func:`rkhs_norm`). With :math:`a_k = a(w_k)`
    the expansion :math:`f_m = \frac1m\Phi(x)a = K_m(x, Z)\,c` is the kernel expansion with the
    empirical kernel :func:`empirical_feature_kernel`.

    Args:
        coefficients: ``(J,)``; centers: ``(J, d)``; kind: :class:`FeatureKind`.

    Returns:
        A function mapping weights ``(m, d)`` to the coefficients :math:`a(w_k)`, ``(m,)`` or
        ``(2m,)`` in the module's layout.
    """
    check_enum(kind, FeatureKind, "kind")
    centers = _check_points(centers, "centers")
    c = check_tensor(coefficients, "coefficients", 1)
    if c.shape[0] != centers.shape[0]:
        raise ValueError(f"coefficients: expected {centers.shape[0]} entries (one per center), "
                         f"got {c.shape[0]}")

    def representation(weights: Tensor) -> Tensor:
        phi = random_features(centers, weights, kind=kind)  # (J, m) or (J, 2m)
        return c.to(phi.dtype) @ phi

    return representation


def representation_norm_squared(
    representation: Callable[[Tensor], Tensor],
    *,
    kind: FeatureKind,
    dim: int,
    num_samples: int,
    generator: torch.Generator,
    frequency_scale: float = 1.0,
    dtype: torch.dtype = torch.float64,
) -> MonteCarloEstimate:
    r"""Monte Carlo estimate of :math:`\|a\|_{L^2(\pi_0)}^2 = \mathbb E_{w\sim\pi_0}|a(w)|^2`,
    an upper bound on :math:`\|f\|_{\mathcal H_k}^2` for :math:`f = \mathbb E[a^\top\varphi]`.

    .. math::
        \|f\|_{\mathcal H_k}^2 = \min\{\mathbb E|b(w)|^2 : \mathbb E[b(w)^\top\varphi(\cdot;w)]
        = f\} \le \mathbb E|a(w)|^2,

    with equality iff :math:`a` lies in the closed span of :math:`\{\varphi(x;\cdot)\}` in
    :math:`L^2(\pi_0)` (Bach 2017, §2.1; E, Ma & Wu 2019, §2). Each sample is
    :math:`|a(w_s)|^2` for an independent :math:`w_s \sim \pi_0`.

    Args:
        representation: maps weights ``(S, d)`` to :math:`a(w_s)` in the module's layout
            (``(S,)`` ReLU and sigmoid, ``(2S,)`` Fourier).
        kind: :class:`FeatureKind` (fixes :math:`\pi_0`).
        dim: :math:`d`.
        num_samples: :math:`S \ge 2`.
        generator: source of the :math:`w_s`.
        frequency_scale: :math:`\sigma` (Fourier, sigmoid).
        dtype: dtype of the sampled weights.

    Returns:
        :class:`MonteCarloEstimate` of :math:`\mathbb E|a(w)|^2`.

    Raises:
        ValueError: on bad arguments or a representation returning the wrong shape.
    """
    check_positive_int(num_samples, "num_samples", minimum=2)
    w = sample_feature_weights(kind, num_samples, dim, generator=generator,
                               frequency_scale=frequency_scale, dtype=dtype)
    a = representation(w)
    if not isinstance(a, Tensor) or a.shape != (kind.channels * num_samples,):
        shape = tuple(a.shape) if isinstance(a, Tensor) else type(a).__name__
        raise ValueError(f"representation: expected a tensor of shape "
                         f"({kind.channels * num_samples},), got {shape}")
    squares = (a.reshape(kind.channels, num_samples) ** 2).sum(0)
    return MonteCarloEstimate.from_samples(squares)


def fourier_feature_error_constant(
    coefficients: Tensor,
    centers: Tensor,
    *,
    frequency_scale: float = 1.0,
    input_scale: float = 1.0,
) -> Tensor:
    r"""The exact constant :math:`C = m\, \mathbb E\|f_m - f\|_{L^2(\rho)}^2` of the Monte Carlo
    Fourier-feature approximation of a Gaussian-kernel expansion, :math:`\rho = \mathcal N(0,
    s^2 I_d)`.

    For :math:`f = \sum_j c_j k(\cdot, z_j)`, :math:`k(u) = e^{-\sigma^2|u|^2/2}`, and
    :math:`f_m = \frac1m \sum_k \sum_j c_j \cos\omega_k\cdot(x - z_j)` with
    :math:`\omega_k \sim \mathcal N(0, \sigma^2 I)` (:func:`kernel_expansion_representation`),
    :math:`C = \mathbb E_x \operatorname{Var}_\omega[\sum_j c_j \cos\omega\cdot(x - z_j)]`. With
    :math:`\mathbb E_\omega[\cos\omega\cdot u \cos\omega\cdot v] = \tfrac12(k(u - v) + k(u + v))`
    and the Gaussian integral
    :math:`G(\alpha, \tau^2, b) = \mathbb E_{y\sim\mathcal N(0,\tau^2 I)} e^{-\alpha|y - b|^2}
    = (1 + 2\alpha\tau^2)^{-d/2} e^{-\alpha|b|^2/(1 + 2\alpha\tau^2)}`,

    .. math::
        C = \sum_{j,l} c_j c_l \Big[\tfrac12 k(z_j - z_l)
            + \tfrac12 G\big(\tfrac{\sigma^2}{2}, 4s^2, z_j + z_l\big)
            - e^{-\sigma^2|z_j - z_l|^2/4}\, G\big(\sigma^2, s^2, \tfrac{z_j + z_l}{2}\big)\Big].

    Always :math:`C \le \|f\|_{\mathcal H}^2` (the bound with :math:`\kappa = 1`).

    Args:
        coefficients: ``(J,)`` :math:`c_j`; centers: ``(J, d)`` :math:`z_j`.
        frequency_scale: :math:`\sigma > 0`.
        input_scale: :math:`s > 0`.

    Returns:
        A 0-d tensor :math:`C` in the promoted dtype.
    """
    sigma = check_real(frequency_scale, "frequency_scale", positive=True)
    s = check_real(input_scale, "input_scale", positive=True)
    centers = _check_points(centers, "centers")
    c = check_tensor(coefficients, "coefficients", 1)
    if c.shape[0] != centers.shape[0]:
        raise ValueError(f"coefficients: expected {centers.shape[0]} entries (one per center), "
                         f"got {c.shape[0]}")
    dtype = common_dtype(c, centers)
    z, c = centers.to(dtype), c.to(dtype)
    d = z.shape[1]

    def gauss(alpha: float, tau2: float, b_sq: Tensor) -> Tensor:
        q = 1.0 + 2.0 * alpha * tau2
        return q ** (-d / 2) * torch.exp(-alpha * b_sq / q)

    diff_sq = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    sum_sq = ((z[:, None, :] + z[None, :, :]) ** 2).sum(-1)
    second = 0.5 * torch.exp(-0.5 * sigma**2 * diff_sq) + 0.5 * gauss(0.5 * sigma**2, 4 * s * s,
                                                                      sum_sq)
    mean_sq = torch.exp(-0.25 * sigma**2 * diff_sq) * gauss(sigma**2, s * s, sum_sq / 4.0)
    return c @ (second - mean_sq) @ c


class RandomFeatureModel:
    r"""Random feature regression: :math:`f(x) = \frac1m \sum_k a_k^\top\varphi(x; w_k)` with
    :math:`w_k \sim \pi_0` frozen and :math:`a` fitted by ridge (or min-norm least squares).

    ``fit`` draws the weights (or takes given ones) and solves

    .. math::
        \min_a\; \frac1n \sum_{i=1}^n \big(f(x_i) - y_i\big)^2 + \lambda\, \frac1m |a|^2 ,

    where :math:`\frac1m|a|^2` is the empirical :math:`L^2(\pi_m)` norm of :math:`a`, the
    finite-:math:`m` RKHS norm. With :math:`\Psi = \Phi/\sqrt m` (so :math:`\Psi\Psi^\top = K_m`)
    and :math:`b = a/\sqrt m`:
    :math:`b = (\Psi^\top\Psi + n\lambda I)^{-1}\Psi^\top y = \Psi^\top(K_m + n\lambda I)^{-1}y`,
    i.e. kernel ridge regression with the empirical kernel and ridge :math:`n\lambda`
    (:func:`mathdl.kernels.kernel_ridge` with ``ridge = n * lambda``). :math:`\lambda = 0` gives the
    minimum-norm least-squares solution :math:`b = \Psi^+ y` (the interpolator when
    :math:`m \ge n`). The primal system is solved when it is the smaller one, otherwise the dual.

    Constructor arguments are stored unchanged; ``fit`` returns ``self`` and sets the learned
    state ``weights_`` ``(m, d)``, ``coefficients_`` ``(m,)`` or ``(2m,)`` and
    ``n_features_in_`` (:math:`d`). Tensors in, tensors out; dtype and device follow ``x``.

    Args:
        num_features: :math:`m \ge 1`.
        kind: :class:`FeatureKind`.
        ridge: :math:`\lambda \ge 0`.
        frequency_scale: :math:`\sigma > 0` (Fourier, sigmoid).

    References: Rahimi & Recht 2007, 2008; Rudi & Rosasco, "Generalization properties of learning
    with random features", NeurIPS 2017 (the same ridge objective).
    """

    def __init__(
        self,
        num_features: int,
        *,
        kind: FeatureKind = FeatureKind.RELU,
        ridge: float = 0.0,
        frequency_scale: float = 1.0,
    ) -> None:
        self.num_features = num_features
        self.kind = kind
        self.ridge = ridge
        self.frequency_scale = frequency_scale

    def _validate_params(self) -> None:
        check_positive_int(self.num_features, "num_features")
        check_enum(self.kind, FeatureKind, "kind")
        check_real(self.ridge, "ridge", nonnegative=True)
        check_real(self.frequency_scale, "frequency_scale", positive=True)

    def fit(
        self,
        x: Tensor,
        y: Tensor,
        *,
        generator: torch.Generator | None = None,
        weights: Tensor | None = None,
    ) -> RandomFeatureModel:
        r"""Draw :math:`w_k \sim \pi_0` from ``generator`` (or use ``weights``) and fit :math:`a`.

        Args:
            x: ``(n, d)`` inputs.
            y: ``(n,)`` targets.
            generator: source of the weights; exactly one of ``generator`` and ``weights``.
            weights: ``(num_features, d)`` given weights (e.g. to compare fits on the same
                features).

        Returns:
            ``self``.

        Raises:
            ValueError: on bad parameters or inputs, or if both or neither of ``generator`` and
                ``weights`` are given.
        """
        self._validate_params()
        x = _check_points(x, "x")
        y = check_tensor(y, "y", 1)
        n, d = x.shape
        if y.shape[0] != n:
            raise ValueError(f"y: expected {n} entries like x, got {y.shape[0]}")
        if (generator is None) == (weights is None):
            raise ValueError("generator: give exactly one of generator and weights")
        if weights is None:
            check_generator(generator)
            weights = sample_feature_weights(
                self.kind, self.num_features, d, generator=generator,
                frequency_scale=self.frequency_scale, dtype=x.dtype,
            ).to(x.device)
        else:
            weights = _check_points(weights, "weights")
            if weights.shape != (self.num_features, d):
                raise ValueError(f"weights: expected shape ({self.num_features}, {d}), "
                                 f"got {tuple(weights.shape)}")
            weights = weights.to(dtype=x.dtype, device=x.device)
        m = self.num_features
        psi = random_features(x, weights, kind=self.kind) / math.sqrt(m)
        target = y.to(psi.dtype)
        shift = n * float(self.ridge)
        p = psi.shape[1]
        if shift == 0.0:
            b = torch.linalg.pinv(psi) @ target
        elif p <= n:
            gram = psi.mT @ psi + shift * torch.eye(p, dtype=psi.dtype, device=psi.device)
            b = torch.cholesky_solve((psi.mT @ target)[:, None], torch.linalg.cholesky(gram))[:, 0]
        else:
            gram = psi @ psi.mT + shift * torch.eye(n, dtype=psi.dtype, device=psi.device)
            alpha = torch.cholesky_solve(target[:, None], torch.linalg.cholesky(gram))[:, 0]
            b = psi.mT @ alpha
        self.weights_ = weights
        self.coefficients_ = math.sqrt(m) * b
        self.n_features_in_ = d
        return self

    def predict(self, x: Tensor) -> Tensor:
        r""":math:`f(x) = \frac1m \Phi(x)\, a` at ``x`` ``(n, d)``; returns ``(n,)``.

        Raises:
            ValueError: if the model is not fitted or ``x`` has the wrong number of columns.
        """
        if not hasattr(self, "coefficients_"):
            raise ValueError("RandomFeatureModel: call fit before predict")
        x = _check_points(x, "x")
        if x.shape[1] != self.n_features_in_:
            raise ValueError(f"x: expected {self.n_features_in_} columns as in fit, "
                             f"got {x.shape[1]}")
        return random_feature_expansion(x, self.weights_, self.coefficients_, kind=self.kind)

    def __repr__(self) -> str:
        return (f"RandomFeatureModel({self.num_features}, kind={self.kind}, ridge={self.ridge}, "
                f"frequency_scale={self.frequency_scale})")
