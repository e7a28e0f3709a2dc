r"""Distances between probability laws, to measure how close a diffusion model's output is.

* :func:`gaussian_kl` — Kullback–Leibler divergence between Gaussians, closed form.
* :func:`gaussian_w2` — 2-Wasserstein distance between Gaussians (Bures formula).
* :func:`mixture_kl` — KL between Gaussian mixtures by Gauss–Hermite quadrature (low dimension).
* :func:`sliced_w2` — sliced 2-Wasserstein distance between two samples.
* :func:`mmd2_unbiased` — unbiased estimator of the squared maximum mean discrepancy with the
  Gaussian kernel between two samples; :func:`mixture_mmd2` — its exact value between two
  Gaussian mixtures.

References:
    S. Kullback, *Information Theory and Statistics*, Wiley 1959; D. C. Dowson & B. V. Landau,
    "The Fréchet distance between multivariate normal distributions", J. Multivariate Anal. 12
    (1982) 450-455; R. Bhatia, T. Jain, Y. Lim, "On the Bures–Wasserstein distance between positive
    definite matrices", Expo. Math. 37 (2019) 165-191 (the Procrustes form); J. Rabin, G. Peyré,
    J. Delon, M. Bernot, "Wasserstein barycenter and its application to texture mixing", SSVM
    2011 (sliced W2); A. Gretton, K. Borgwardt, M. Rasch, B. Schölkopf, A. Smola, "A kernel
    two-sample test", JMLR 13 (2012) 723-773, Lemma 6 (unbiased MMD²).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from mathdl.generative._mixtures import GaussianMixture, _psd_sqrt

__all__ = ["gaussian_kl", "gaussian_w2", "mixture_kl", "mixture_mmd2", "mmd2_unbiased",
           "sliced_w2"]


def _check_gaussian(mean: Tensor, cov: Tensor, name: str) -> None:
    if not isinstance(mean, Tensor) or not torch.is_floating_point(mean) or mean.ndim < 1:
        raise ValueError(f"{name}: expected a floating-point mean of shape (..., d)")
    d = mean.shape[-1]
    if not isinstance(cov, Tensor) or cov.ndim < 2 or cov.shape[-2:] != (d, d):
        shape = tuple(cov.shape) if isinstance(cov, Tensor) else type(cov).__name__
        raise ValueError(f"{name}: expected a covariance of shape (..., {d}, {d}), got {shape}")
    if not (bool(torch.all(torch.isfinite(mean))) and bool(torch.all(torch.isfinite(cov)))):
        raise ValueError(f"{name}: expected finite values")


def _x_minus_log1p(delta: Tensor) -> Tensor:
    r""":math:`\delta - \log(1 + \delta) \ge 0`, by its series :math:`\sum_{j\ge2}
    (-\delta)^j / j` for :math:`|\delta| < 0.01` (12 terms: remainder below
    :math:`10^{-28}`), directly otherwise (no cancellation there)."""
    small = delta.abs() < 1e-2
    d = torch.where(small, delta, torch.zeros_like(delta))
    series = torch.zeros_like(delta)
    power = d * d
    for j in range(2, 14):
        series = series + power / j * (1 if j % 2 == 0 else -1)
        power = power * d
    return torch.where(small, series, delta - torch.log1p(delta))


def gaussian_kl(mean1: Tensor, cov1: Tensor, mean2: Tensor, cov2: Tensor) -> Tensor:
    r"""Kullback–Leibler divergence :math:`\mathrm{KL}(\mathcal N(\mu_1, \Sigma_1) \,\|\,
    \mathcal N(\mu_2, \Sigma_2))`:

    .. math::
        \mathrm{KL} = \tfrac12\Big[\operatorname{tr}(\Sigma_2^{-1}\Sigma_1) - d
            - \log\det(\Sigma_2^{-1}\Sigma_1) + (\mu_2 - \mu_1)^\top\Sigma_2^{-1}(\mu_2 -
            \mu_1)\Big]
        = \tfrac12\Big[\sum_i \big(\delta_i - \log(1 + \delta_i)\big) + |L_2^{-1}(\mu_2 -
            \mu_1)|^2\Big],

    with :math:`\Sigma_2 = L_2 L_2^\top` and :math:`\delta_i` the eigenvalues of
    :math:`L_2^{-1}(\Sigma_1 - \Sigma_2)L_2^{-\top}`. The second form has no cancellation when
    the laws are close (KL of order :math:`|\delta|^2`), which the exponentially small KLs of a
    converging forward flow need.

    Args:
        mean1, mean2: ``(..., d)`` means (batch dimensions broadcast).
        cov1, cov2: ``(..., d, d)`` symmetric positive-definite covariances.

    Returns:
        ``(...)`` divergences (non-negative), dtype and device of the inputs.

    Raises:
        ValueError: on bad shapes, non-finite values, or covariances that are not
            positive-definite.
    """
    _check_gaussian(mean1, cov1, "mean1, cov1")
    _check_gaussian(mean2, cov2, "mean2, cov2")
    chol, info = torch.linalg.cholesky_ex(cov2)
    if bool(torch.any(info != 0)):
        raise ValueError("cov2: expected positive-definite covariances")
    diff = cov1 - cov2
    half = torch.linalg.solve_triangular(chol, diff, upper=False)
    whitened = torch.linalg.solve_triangular(chol, half.transpose(-1, -2), upper=False)
    delta = torch.linalg.eigvalsh(0.5 * (whitened + whitened.transpose(-1, -2)))
    if bool(torch.any(delta <= -1)):
        raise ValueError("cov1: expected positive-definite covariances")
    dm = torch.linalg.solve_triangular(chol, (mean2 - mean1).unsqueeze(-1), upper=False)
    return 0.5 * (_x_minus_log1p(delta).sum(-1) + dm.squeeze(-1).square().sum(-1))


def gaussian_w2(mean1: Tensor, cov1: Tensor, mean2: Tensor, cov2: Tensor) -> Tensor:
    r"""2-Wasserstein distance between :math:`\mathcal N(\mu_1, \Sigma_1)` and
    :math:`\mathcal N(\mu_2, \Sigma_2)` (Dowson & Landau 1982):

    .. math::
        W_2^2 = |\mu_1 - \mu_2|^2 + \operatorname{tr}\Sigma_1 + \operatorname{tr}\Sigma_2
            - 2\operatorname{tr}\big(\Sigma_1^{1/2}\Sigma_2\Sigma_1^{1/2}\big)^{1/2}
        = |\mu_1 - \mu_2|^2 + \min_{R \in O(d)} \|\Sigma_1^{1/2} - \Sigma_2^{1/2} R\|_F^2 .

    Computed in the Procrustes form (Bhatia, Jain, Lim 2019, Thm 1): with symmetric square roots
    :math:`A = \Sigma_1^{1/2}`, :math:`B = \Sigma_2^{1/2}` (eigendecomposition, negative rounding
    eigenvalues clamped) and the SVD :math:`A^\top B = U S V^\top`, the optimal rotation is
    :math:`R = V U^\top` and the Bures term is :math:`\|A - BR\|_F^2`, a difference formed
    entrywise: it stays accurate (absolute error :math:`O(\epsilon)`, not
    :math:`O(\sqrt\epsilon)`) when :math:`\Sigma_1 \approx \Sigma_2`.

    Args:
        mean1, mean2: ``(..., d)`` means (batch dimensions broadcast).
        cov1, cov2: ``(..., d, d)`` symmetric positive semi-definite covariances.

    Returns:
        ``(...)`` distances :math:`W_2 \ge 0`.

    Raises:
        ValueError: on bad shapes or non-finite values.
    """
    _check_gaussian(mean1, cov1, "mean1, cov1")
    _check_gaussian(mean2, cov2, "mean2, cov2")
    a = _psd_sqrt(0.5 * (cov1 + cov1.transpose(-1, -2)))
    b = _psd_sqrt(0.5 * (cov2 + cov2.transpose(-1, -2)))
    a, b = torch.broadcast_tensors(a, b)
    u, _, vh = torch.linalg.svd(a.transpose(-1, -2) @ b)
    rotation = vh.transpose(-1, -2) @ u.transpose(-1, -2)
    bures = (a - b @ rotation).square().sum((-2, -1))
    return torch.sqrt((mean1 - mean2).square().sum(-1) + bures)


def mixture_kl(p: GaussianMixture, q: GaussianMixture, *, nodes: int = 32) -> float:
    r"""Kullback–Leibler divergence :math:`\mathrm{KL}(p\,\|\,q) = \mathbb E_p[\log p - \log q]`
    between Gaussian mixtures, by tensor-product Gauss–Hermite quadrature on each component of
    :math:`p`:

    .. math::
        \mathrm{KL}(p\,\|\,q) \approx \sum_k w_k \sum_{j} \omega_j\, f(\mu_k + \Sigma_k^{1/2}
            z_j), \qquad f = \log p - \log q,

    with the probabilists' Hermite nodes :math:`z_j` and weights :math:`\omega_j` in each
    coordinate (exact for polynomial :math:`f` of degree :math:`< 2\cdot` ``nodes``; :math:`f` is
    smooth, so the rule converges fast). For one Gaussian against one Gaussian it reproduces
    :func:`gaussian_kl` to rounding. Costs ``K * nodes**d`` evaluations: for low dimension.

    Reference: G. H. Golub & J. H. Welsch, "Calculation of Gauss quadrature rules", Math. Comp. 23
    (1969); P. J. Davis & P. Rabinowitz, *Methods of Numerical Integration*, 1984, §5.6.

    Args:
        p, q: mixtures of the same dimension, dtype and device (positive-definite covariances).
        nodes: quadrature nodes per coordinate, ``nodes**d * K <= 2**22``.

    Returns:
        The divergence as a float (may be a rounding-level negative number when p = q).

    Raises:
        ValueError: on mismatched mixtures or too many nodes.
    """
    for name, m in (("p", p), ("q", q)):
        if not isinstance(m, GaussianMixture):
            raise ValueError(f"{name}: expected a GaussianMixture, got {type(m).__name__}")
    if p.dim != q.dim or p.means.dtype != q.means.dtype or p.means.device != q.means.device:
        raise ValueError("p, q: expected mixtures of one dimension, dtype and device")
    if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 1:
        raise ValueError(f"nodes: expected a positive integer, got {nodes!r}")
    d = p.dim
    if nodes**d * p.n_components > 2**22:
        raise ValueError(f"nodes: nodes**d * K = {nodes**d * p.n_components} exceeds 2**22; "
                         "use fewer nodes (or a sampling estimate) in this dimension")
    z1, w1 = np.polynomial.hermite_e.hermegauss(nodes)
    w1 = w1 / math.sqrt(2 * math.pi)
    grids = np.meshgrid(*([z1] * d), indexing="ij")
    z = torch.as_tensor(np.stack([g.reshape(-1) for g in grids], axis=1), dtype=p.means.dtype,
                        device=p.means.device)
    wgrids = np.meshgrid(*([w1] * d), indexing="ij")
    w = torch.as_tensor(np.prod(np.stack([g.reshape(-1) for g in wgrids], axis=1), axis=1),
                        dtype=p.means.dtype, device=p.means.device)
    factors = _psd_sqrt(p.full_covariances())  # (K, d, d)
    points = p.means[:, None, :] + torch.einsum("kij,mj->kmi", factors, z)  # (K, M, d)
    flat = points.reshape(-1, d)
    f = (p.log_prob(flat) - q.log_prob(flat)).reshape(p.n_components, -1)
    return float((p.weights[:, None] * w[None] * f).sum())


def _check_samples(x: Tensor, y: Tensor) -> None:
    for name, s in (("x", x), ("y", y)):
        if not isinstance(s, Tensor) or s.ndim != 2 or not torch.is_floating_point(s):
            raise ValueError(f"{name}: expected a floating-point tensor of shape (n, d)")
        if not bool(torch.all(torch.isfinite(s))):
            raise ValueError(f"{name}: expected finite values")
    if x.shape[1] != y.shape[1] or x.dtype != y.dtype or x.device != y.device:
        raise ValueError(f"x, y: expected samples of one dimension, dtype and device, got "
                         f"{tuple(x.shape)} {x.dtype} and {tuple(y.shape)} {y.dtype}")


def _w2_squared_1d_sorted(u: Tensor, v: Tensor) -> Tensor:
    r"""Squared W2 between the empirical measures of the sorted columns of ``u: (n, P)`` and
    ``v: (m, P)``: :math:`\int_0^1 (F_u^{-1}(q) - F_v^{-1}(q))^2 dq`, exactly, over the pieces
    on which both quantile functions are constant."""
    n, m = u.shape[0], v.shape[0]
    if n == m:
        return (u - v).square().mean(0)
    breaks = np.union1d(np.arange(n + 1) / n, np.arange(m + 1) / m)
    mids = 0.5 * (breaks[1:] + breaks[:-1])
    widths = torch.as_tensor(np.diff(breaks), dtype=u.dtype, device=u.device)
    iu = torch.as_tensor(np.minimum((mids * n).astype(np.int64), n - 1), device=u.device)
    iv = torch.as_tensor(np.minimum((mids * m).astype(np.int64), m - 1), device=u.device)
    return (widths[:, None] * (u[iu] - v[iv]).square()).sum(0)


def sliced_w2(x: Tensor, y: Tensor, *, projections: int, generator: torch.Generator) -> Tensor:
    r"""Sliced 2-Wasserstein distance between the empirical measures of two samples:

    .. math::
        SW_2(\mu, \nu)^2 = \int_{S^{d-1}} W_2^2(\theta_\#\mu, \theta_\#\nu)\, d\sigma(\theta)
        \approx \frac1P \sum_{p=1}^P W_2^2(\theta_{p\#}\mu, \theta_{p\#}\nu),

    with :math:`\theta_p` uniform on the sphere (Rabin et al. 2011; Bonneel et al. 2015). Each 1-D
    :math:`W_2` between empirical measures is exact, by sorting (for unequal sizes, over the
    common refinement of the two quantile functions' steps). Since
    :math:`\mathbb E_\theta (\theta\cdot v)^2 = |v|^2/d`, projecting an optimal coupling gives
    :math:`SW_2 \le W_2/\sqrt d`, with equality for a translation :math:`\nu = \mu(\cdot - c)`:
    :math:`SW_2 = |c|/\sqrt d` (in the limit of many projections).

    Args:
        x: ``(n, d)`` sample; ``y``: ``(m, d)`` sample (same dtype and device).
        projections: number :math:`P` of random directions.
        generator: draws the directions.

    Returns:
        0-d tensor :math:`SW_2`.

    Raises:
        ValueError: on bad shapes or a non-positive number of projections.
    """
    _check_samples(x, y)
    if isinstance(projections, bool) or not isinstance(projections, int) or projections < 1:
        raise ValueError(f"projections: expected a positive integer, got {projections!r}")
    theta = torch.randn(x.shape[1], projections, generator=generator, dtype=x.dtype,
                        device=x.device)
    theta = theta / theta.norm(dim=0, keepdim=True)
    u = torch.sort(x @ theta, dim=0).values
    v = torch.sort(y @ theta, dim=0).values
    return torch.sqrt(_w2_squared_1d_sorted(u, v).mean())


def _check_bandwidth(bandwidth: float) -> float:
    if isinstance(bandwidth, bool) or not isinstance(bandwidth, int | float) or not (
            math.isfinite(bandwidth) and bandwidth > 0):
        raise ValueError(f"bandwidth: expected a finite number > 0, got {bandwidth!r}")
    return float(bandwidth)


def _gaussian_gram(a: Tensor, b: Tensor, bandwidth: float) -> Tensor:
    sq = (a.square().sum(1)[:, None] + b.square().sum(1)[None] - 2 * a @ b.T).clamp_min(0)
    return torch.exp(-sq / (2 * bandwidth**2))


def mmd2_unbiased(x: Tensor, y: Tensor, *, bandwidth: float) -> Tensor:
    r"""Unbiased estimator of the squared maximum mean discrepancy with the Gaussian kernel
    :math:`k(x, y) = \exp(-|x - y|^2 / (2h^2))` (Gretton et al. 2012, Lemma 6):

    .. math::
        \widehat{\mathrm{MMD}}{}^2_u = \frac{1}{n(n-1)}\sum_{i\ne j} k(x_i, x_j)
            + \frac{1}{m(m-1)}\sum_{i\ne j} k(y_i, y_j) - \frac{2}{nm}\sum_{i,j} k(x_i, y_j),

    whose expectation is :math:`\mathrm{MMD}^2(p, q) = \|\mathbb E_p k(x, \cdot) - \mathbb E_q
    k(y, \cdot)\|^2_{\mathcal H}` (see :func:`mixture_mmd2`); it can be negative, and has mean 0
    when :math:`p = q`.

    Args:
        x: ``(n, d)``, ``y``: ``(m, d)`` samples, ``n, m >= 2``.
        bandwidth: :math:`h > 0`.

    Returns:
        0-d tensor.

    Raises:
        ValueError: on bad shapes, fewer than two points, or a bad bandwidth.
    """
    _check_samples(x, y)
    h = _check_bandwidth(bandwidth)
    n, m = x.shape[0], y.shape[0]
    if n < 2 or m < 2:
        raise ValueError(f"x, y: expected at least 2 points each, got {n} and {m}")
    kxx = _gaussian_gram(x, x, h)
    kyy = _gaussian_gram(y, y, h)
    kxy = _gaussian_gram(x, y, h)
    sxx = (kxx.sum() - torch.diagonal(kxx).sum()) / (n * (n - 1))
    syy = (kyy.sum() - torch.diagonal(kyy).sum()) / (m * (m - 1))
    return sxx + syy - 2 * kxy.mean()


def mixture_mmd2(p: GaussianMixture, q: GaussianMixture, *, bandwidth: float) -> Tensor:
    r"""Exact squared MMD with the Gaussian kernel :math:`k(x, y) = e^{-|x - y|^2/(2h^2)}`
    between two Gaussian mixtures, from

    .. math::
        \mathbb E\, k(X, Y) = h^d \det(A + B + h^2 I)^{-1/2}
            \exp\!\big(-\tfrac12 (a - b)^\top (A + B + h^2 I)^{-1} (a - b)\big)

    for independent :math:`X \sim \mathcal N(a, A)`, :math:`Y \sim \mathcal N(b, B)`, summed over
    pairs of components: :math:`\mathrm{MMD}^2 = \mathbb E k(X, X') + \mathbb E k(Y, Y') -
    2\,\mathbb E k(X, Y)`. The expectation of :func:`mmd2_unbiased`.

    Returns:
        0-d tensor (non-negative up to rounding).

    Raises:
        ValueError: on mismatched mixtures or a bad bandwidth.
    """
    for name, m in (("p", p), ("q", q)):
        if not isinstance(m, GaussianMixture):
            raise ValueError(f"{name}: expected a GaussianMixture, got {type(m).__name__}")
    if p.dim != q.dim or p.means.dtype != q.means.dtype or p.means.device != q.means.device:
        raise ValueError("p, q: expected mixtures of one dimension, dtype and device")
    h = _check_bandwidth(bandwidth)

    def cross(a: GaussianMixture, b: GaussianMixture) -> Tensor:
        d = a.dim
        eye = torch.eye(d, dtype=a.means.dtype, device=a.means.device)
        s = a.full_covariances()[:, None] + b.full_covariances()[None] + h * h * eye
        chol = torch.linalg.cholesky(s)  # (Ka, Kb, d, d)
        diff = (a.means[:, None] - b.means[None]).unsqueeze(-1)
        white = torch.linalg.solve_triangular(chol, diff, upper=False).squeeze(-1)
        logdet = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
        k = torch.exp(d * math.log(h) - 0.5 * logdet - 0.5 * white.square().sum(-1))
        return a.weights @ k @ b.weights

    return cross(p, p) + cross(q, q) - 2 * cross(p, q)
