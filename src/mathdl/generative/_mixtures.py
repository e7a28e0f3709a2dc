r"""Gaussian mixtures: densities, scores and score divergences in closed form, and their forward
marginals under the noising processes (so exact scores of diffusion models).

A mixture :math:`p = \sum_k w_k \mathcal N(\mu_k, \Sigma_k)` has, with the component scores
:math:`s_k(x) = -\Sigma_k^{-1}(x - \mu_k)`, precisions :math:`P_k = \Sigma_k^{-1}` and
responsibilities :math:`r_k(x) = w_k \mathcal N(x; \mu_k, \Sigma_k) / p(x)`,

.. math::
    \nabla \log p(x) = \sum_k r_k(x)\, s_k(x), \qquad
    \Delta \log p(x) = -\sum_k r_k(x) \operatorname{tr} P_k
        + \sum_k r_k(x)\, \big|s_k(x) - \nabla\log p(x)\big|^2 ,

(the second from :math:`\Delta \log p = \Delta p / p - |\nabla\log p|^2` and
:math:`\nabla^2 p_k = p_k (s_k s_k^\top - P_k)`); the second term, a variance, is computed in its
centred form, a sum of non-negative numbers.

Under a linear forward process :math:`x_t = a(t) x_0 + \sigma(t) z` the marginal of a mixture is
again a mixture (Gaussians are closed under affine maps and convolution):

.. math::
    p_t = \sum_k w_k\, \mathcal N\big(a(t)\mu_k,\ a(t)^2\Sigma_k + \sigma(t)^2 I\big),

for the Ornstein–Uhlenbeck process :math:`\mathcal N(e^{-t}\mu_k, e^{-2t}\Sigma_k +
(1 - e^{-2t}) I)`, for the heat flow :math:`\mathcal N(\mu_k, \Sigma_k + 2t I)`. An empirical
measure :math:`\frac1n\sum_i \delta_{y_i}` is the mixture with zero covariances; the score of
its forward marginal is the *empirical* (memorising) score, whose reverse flow collapses onto
the training points (Biroli, Bonnaire, de Bortoli, Mézard 2024, §3).

References:
    Y. Song et al., "Score-based generative modeling through stochastic differential equations",
    ICLR 2021; G. Biroli, T. Bonnaire, V. de Bortoli, M. Mézard, "Dynamical regimes of diffusion
    models", Nature Communications 15 (2024) 9957 (arXiv:2402.18491); C. M. Bishop, *Pattern
    Recognition and Machine Learning*, Springer 2006, §2.3 and §9.2 (mixtures, responsibilities).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from mathdl.generative._processes import ForwardProcess, _check_process, check_time

__all__ = ["GaussianMixture", "ScoreFunction", "empirical_score", "exact_score",
           "forward_marginal"]

ScoreFunction = Callable[[Tensor, float], Tensor]
"""A score model: ``score(x: (n, d), t: float) -> (n, d)``, an estimate of
:math:`\\nabla_x \\log p_t(x)`."""

# Rows evaluated at once: the (rows, K, d) tensors of differences stay below ~32 MB in float64.
_CHUNK_ELEMENTS = 2**22


@dataclass(frozen=True, eq=False)
class GaussianMixture:
    r"""A Gaussian mixture :math:`p = \sum_{k=1}^K w_k\, \mathcal N(\mu_k, \Sigma_k)` in
    :math:`\mathbb R^d`.

    Attributes:
        weights: ``(K,)`` positive weights; normalised to sum to 1 (they must sum to 1 within
            1e-6 relative).
        means: ``(K, d)`` component means.
        covariances: ``(K,)`` isotropic variances :math:`v_k` (:math:`\Sigma_k = v_k I`,
            :math:`v_k \ge 0`), or ``(K, d, d)`` symmetric positive semi-definite covariances.
            Zero (singular) covariances are allowed (point masses, e.g. :meth:`empirical`): such
            a mixture can be sampled and noised, but its density, score and divergence need
            positive-definite covariances.

    All tensors share one floating dtype and device; results follow them.

    Raises:
        ValueError: naming the argument, on bad shapes, dtypes, weights or covariances.
    """

    weights: Tensor
    means: Tensor
    covariances: Tensor

    def __post_init__(self) -> None:
        w, mu, cov = self.weights, self.means, self.covariances
        for name, value in (("weights", w), ("means", mu), ("covariances", cov)):
            if not isinstance(value, Tensor) or not torch.is_floating_point(value):
                raise ValueError(f"{name}: expected a floating-point tensor, got "
                                 f"{getattr(value, 'dtype', type(value).__name__)}")
        if mu.ndim != 2 or mu.shape[0] < 1 or mu.shape[1] < 1:
            raise ValueError(f"means: expected shape (K, d) with K, d >= 1, got {tuple(mu.shape)}")
        k, d = mu.shape
        if w.shape != (k,):
            raise ValueError(f"weights: expected shape ({k},) to match means, got "
                             f"{tuple(w.shape)}")
        if cov.shape not in ((k,), (k, d, d)):
            raise ValueError(f"covariances: expected shape ({k},) (isotropic variances) or "
                             f"({k}, {d}, {d}), got {tuple(cov.shape)}")
        if w.dtype != mu.dtype or cov.dtype != mu.dtype or w.device != mu.device or (
                cov.device != mu.device):
            raise ValueError("weights, means, covariances: expected one dtype and device, got "
                             f"{w.dtype}/{mu.dtype}/{cov.dtype} on {w.device}/{mu.device}/"
                             f"{cov.device}")
        if not bool(torch.all(torch.isfinite(mu))):
            raise ValueError("means: expected finite values")
        if not bool(torch.all(torch.isfinite(w) & (w > 0))):
            raise ValueError("weights: expected finite positive values")
        total = float(w.sum())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"weights: expected weights summing to 1, got sum {total!r}")
        object.__setattr__(self, "weights", w / w.sum())
        if not bool(torch.all(torch.isfinite(cov))):
            raise ValueError("covariances: expected finite values")
        if cov.ndim == 1:
            if not bool(torch.all(cov >= 0)):
                raise ValueError("covariances: expected isotropic variances >= 0")
            return
        scale = float(cov.abs().amax()) if cov.numel() else 0.0
        if float((cov - cov.transpose(-1, -2)).abs().amax()) > 1e-10 * max(scale, 1e-300):
            raise ValueError("covariances: expected symmetric matrices")
        cov = 0.5 * (cov + cov.transpose(-1, -2))
        if float(torch.linalg.eigvalsh(cov).amin()) < -1e-10 * max(scale, 1e-300):
            raise ValueError("covariances: expected positive semi-definite matrices")
        object.__setattr__(self, "covariances", cov)

    @classmethod
    def _unchecked(cls, weights: Tensor, means: Tensor, covariances: Tensor) -> GaussianMixture:
        """Build without validation, for results of operations that preserve validity."""
        mixture = object.__new__(cls)
        object.__setattr__(mixture, "weights", weights)
        object.__setattr__(mixture, "means", means)
        object.__setattr__(mixture, "covariances", covariances)
        return mixture

    # ----------------------------------------------------------------------- constructors

    @classmethod
    def gaussian(cls, mean: Tensor, covariance: Tensor) -> GaussianMixture:
        r"""The single Gaussian :math:`\mathcal N(\mu, \Sigma)`: ``mean: (d,)``, ``covariance:
        (d, d)`` or a 0-d variance :math:`v` (:math:`\Sigma = vI`)."""
        if not isinstance(mean, Tensor) or mean.ndim != 1:
            raise ValueError("mean: expected a tensor of shape (d,)")
        if not isinstance(covariance, Tensor) or covariance.ndim not in (0, 2):
            raise ValueError("covariance: expected a tensor of shape (d, d) or a 0-d variance")
        return cls(torch.ones(1, dtype=mean.dtype, device=mean.device), mean[None],
                   covariance[None])

    @classmethod
    def standard_normal(cls, d: int, *, dtype: torch.dtype = torch.float64,
                        device: torch.device | str | None = None) -> GaussianMixture:
        r""":math:`\mathcal N(0, I_d)`, the equilibrium of the Ornstein–Uhlenbeck process."""
        if isinstance(d, bool) or not isinstance(d, int) or d < 1:
            raise ValueError(f"d: expected a positive integer, got {d!r}")
        return cls(torch.ones(1, dtype=dtype, device=device),
                   torch.zeros(1, d, dtype=dtype, device=device),
                   torch.ones(1, dtype=dtype, device=device))

    @classmethod
    def empirical(cls, points: Tensor) -> GaussianMixture:
        r"""The empirical measure :math:`\frac1n \sum_i \delta_{y_i}` of ``points: (n, d)``, a
        mixture of point masses (isotropic variances 0)."""
        if not isinstance(points, Tensor) or points.ndim != 2 or points.shape[0] < 1:
            raise ValueError("points: expected a tensor of shape (n, d) with n >= 1")
        n = points.shape[0]
        return cls(torch.full((n,), 1.0 / n, dtype=points.dtype, device=points.device), points,
                   torch.zeros(n, dtype=points.dtype, device=points.device))

    # ----------------------------------------------------------------------- properties

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @property
    def n_components(self) -> int:
        return self.means.shape[0]

    @property
    def is_isotropic(self) -> bool:
        return self.covariances.ndim == 1

    def full_covariances(self) -> Tensor:
        r"""``(K, d, d)`` component covariances :math:`\Sigma_k`."""
        if self.is_isotropic:
            eye = torch.eye(self.dim, dtype=self.means.dtype, device=self.means.device)
            return self.covariances[:, None, None] * eye
        return self.covariances

    def mean(self) -> Tensor:
        r"""``(d,)`` mean :math:`m = \sum_k w_k \mu_k`."""
        return self.weights @ self.means

    def covariance(self) -> Tensor:
        r"""``(d, d)`` covariance :math:`\sum_k w_k \Sigma_k + \sum_k w_k (\mu_k - m)(\mu_k -
        m)^\top`."""
        centred = self.means - self.mean()
        between = (self.weights[:, None] * centred).T @ centred
        return (self.weights[:, None, None] * self.full_covariances()).sum(0) + between

    def second_moment(self) -> Tensor:
        r"""``(d, d)`` :math:`\mathbb E[x x^\top] = \sum_k w_k (\Sigma_k + \mu_k \mu_k^\top)`."""
        m = self.mean()
        return self.covariance() + torch.outer(m, m)

    # ----------------------------------------------------------------------- sampling

    def sample_labeled(self, n: int, *, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        r"""Draw ``n`` points and their component labels: :math:`k \sim w`,
        :math:`x = \mu_k + \Sigma_k^{1/2} z`.

        Returns:
            ``(x, labels)``: ``(n, d)`` points and ``(n,)`` int64 labels in ``[0, K)``.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n: expected a positive integer, got {n!r}")
        labels = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.dim, generator=generator, dtype=self.means.dtype,
                        device=self.means.device)
        if self.is_isotropic:
            noise = self.covariances.clamp_min(0).sqrt()[labels, None] * z
        else:
            factors = _psd_sqrt(self.covariances)
            noise = torch.einsum("nij,nj->ni", factors[labels], z)
        return self.means[labels] + noise, labels

    def sample(self, n: int, *, generator: torch.Generator) -> Tensor:
        """Draw ``n`` points, ``(n, d)`` (see :meth:`sample_labeled`)."""
        return self.sample_labeled(n, generator=generator)[0]

    # ----------------------------------------------------------------------- densities

    def log_prob(self, x: Tensor) -> Tensor:
        r"""``(n,)`` values of :math:`\log p(x) = \log\sum_k w_k \mathcal N(x; \mu_k,
        \Sigma_k)` for ``x: (n, d)``."""
        return self._evaluate(x, want_score=False, want_divergence=False)[0]

    def responsibilities(self, x: Tensor) -> Tensor:
        r"""``(n, K)`` posterior component probabilities :math:`r_k(x) = w_k \mathcal N(x;
        \mu_k, \Sigma_k) / p(x)`."""
        return self._evaluate(x, want_score=False, want_divergence=False)[1]

    def score(self, x: Tensor) -> Tensor:
        r"""``(n, d)`` score :math:`\nabla\log p(x) = -\sum_k r_k(x) \Sigma_k^{-1}(x - \mu_k)`."""
        return self._evaluate(x, want_score=True, want_divergence=False)[2]

    def score_divergence(self, x: Tensor) -> Tensor:
        r"""``(n,)`` divergence of the score, :math:`\nabla\cdot\nabla\log p = \Delta \log p`:

        .. math::
            \Delta\log p(x) = -\sum_k r_k \operatorname{tr}\Sigma_k^{-1}
                + \sum_k r_k \big|s_k(x) - \nabla\log p(x)\big|^2 .
        """
        return self._evaluate(x, want_score=True, want_divergence=True)[3]

    def _evaluate(self, x: Tensor, *, want_score: bool, want_divergence: bool
                  ) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != self.dim:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x: expected a tensor of shape (n, {self.dim}), got {shape}")
        if x.dtype != self.means.dtype or x.device != self.means.device:
            raise ValueError(f"x: expected dtype {self.means.dtype} on {self.means.device}, got "
                             f"{x.dtype} on {x.device}")
        k, d = self.n_components, self.dim
        if self.is_isotropic:
            v = self.covariances
            if not bool(torch.all(v > 0)):
                raise ValueError("covariances: the density needs positive variances; this "
                                 "mixture has a point mass (noise it first: forward_marginal)")
            logdet = d * torch.log(v)
            trace_precision = d / v
            precision = None
        else:
            chol, info = torch.linalg.cholesky_ex(self.covariances)
            if bool(torch.any(info != 0)):
                raise ValueError("covariances: the density needs positive-definite covariances; "
                                 "this mixture has a singular one (noise it first: "
                                 "forward_marginal)")
            logdet = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
            precision = torch.cholesky_inverse(chol)
            precision = 0.5 * (precision + precision.transpose(-1, -2))
            trace_precision = torch.diagonal(precision, dim1=-2, dim2=-1).sum(-1)
            v = None
        log_w = torch.log(self.weights) - 0.5 * logdet - 0.5 * d * math.log(2 * math.pi)
        if v is not None:
            return self._evaluate_isotropic(x, log_w, v, want_score=want_score,
                                            want_divergence=want_divergence)
        n = x.shape[0]
        rows = max(1, _CHUNK_ELEMENTS // (k * d))
        logp, resp, scores, divs = [], [], [], []
        for start in range(0, n, rows):
            diff = x[start:start + rows, None, :] - self.means[None]  # (c, K, d)
            if precision is None:
                comp_scores = -diff / v[None, :, None]
            else:
                comp_scores = -torch.einsum("kij,ckj->cki", precision, diff)
            maha = -(diff * comp_scores).sum(-1)  # (c, K)
            logits = log_w[None] - 0.5 * maha
            lp = torch.logsumexp(logits, dim=1)
            r = torch.exp(logits - lp[:, None])
            logp.append(lp)
            resp.append(r)
            if want_score:
                s = torch.einsum("ck,ckd->cd", r, comp_scores)
                scores.append(s)
                if want_divergence:
                    spread = (comp_scores - s[:, None, :]).square().sum(-1)
                    divs.append((r * (spread - trace_precision[None])).sum(1))
        return (torch.cat(logp), torch.cat(resp), torch.cat(scores) if want_score else None,
                torch.cat(divs) if want_divergence else None)

    def _evaluate_isotropic(self, x: Tensor, log_w: Tensor, v: Tensor, *, want_score: bool,
                            want_divergence: bool
                            ) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        r"""Isotropic components, without the (n, K, d) differences: with
        :math:`q_k = |x - \mu_k|^2` (``cdist``, computed without the expansion
        :math:`|x|^2 - 2x\cdot\mu + |\mu|^2`, exact near a mean), the score is
        :math:`\sum_k r_k(\mu_k - x)/v_k` and the divergence
        :math:`\sum_k r_k (q_k/v_k^2 - d/v_k) - |s|^2` (as :math:`\sum_k r_k s_k = s`)."""
        d = self.dim
        n = x.shape[0]
        rows = max(1, _CHUNK_ELEMENTS // (self.n_components * d))
        logp, resp, scores, divs = [], [], [], []
        for start in range(0, n, rows):
            xc = x[start:start + rows]
            if xc.requires_grad:  # cdist has no second derivative: differentiate the sum
                q = (xc[:, None, :] - self.means[None]).square().sum(-1)
            else:
                q = torch.cdist(xc, self.means,
                                compute_mode="donot_use_mm_for_euclid_dist").square()
            logits = log_w[None] - 0.5 * q / v[None]
            lp = torch.logsumexp(logits, dim=1)
            r = torch.exp(logits - lp[:, None])
            logp.append(lp)
            resp.append(r)
            if want_score:
                rv = r / v[None]
                sc = rv @ self.means - xc * rv.sum(1, keepdim=True)
                scores.append(sc)
                if want_divergence:
                    divs.append((rv * (q / v[None] - d)).sum(1) - sc.square().sum(1))
        return (torch.cat(logp), torch.cat(resp), torch.cat(scores) if want_score else None,
                torch.cat(divs) if want_divergence else None)


def _psd_sqrt(a: Tensor) -> Tensor:
    """Symmetric square root of (batched) PSD matrices by eigendecomposition, negative rounding
    eigenvalues clamped to 0."""
    lam, vec = torch.linalg.eigh(a)
    return (vec * lam.clamp_min(0).sqrt()[..., None, :]) @ vec.transpose(-1, -2)


def forward_marginal(mixture: GaussianMixture, process: ForwardProcess, t: float
                     ) -> GaussianMixture:
    r"""The law :math:`p_t` of :math:`x_t = a(t) x_0 + \sigma(t) z` when
    :math:`x_0 \sim` ``mixture``:

    .. math::
        p_t = \sum_k w_k\, \mathcal N\big(a(t)\mu_k,\ a(t)^2\Sigma_k + \sigma(t)^2 I\big).

    Args:
        mixture: the data law :math:`p_0` (point masses allowed).
        process: the forward process.
        t: a time :math:`t \ge 0` (a float).

    Returns:
        The mixture :math:`p_t` (isotropic if ``mixture`` is).

    Raises:
        ValueError: on a bad mixture, process or time.
    """
    if not isinstance(mixture, GaussianMixture):
        raise ValueError(f"mixture: expected a GaussianMixture, got {type(mixture).__name__}")
    _check_process(process)
    t = check_time(t)
    if isinstance(t, Tensor):
        raise ValueError("t: expected a single time (a float)")
    a, sigma = float(process.mean_scale(t)), float(process.std(t))
    if mixture.is_isotropic:
        cov = a * a * mixture.covariances + sigma * sigma
    else:
        eye = torch.eye(mixture.dim, dtype=mixture.means.dtype, device=mixture.means.device)
        cov = a * a * mixture.covariances + sigma * sigma * eye
    # an affine image of a valid mixture convolved with a Gaussian: valid by construction
    return GaussianMixture._unchecked(mixture.weights, a * mixture.means, cov)


def exact_score(mixture: GaussianMixture, process: ForwardProcess) -> ScoreFunction:
    r"""The exact score :math:`(x, t) \mapsto \nabla \log p_t(x)` of the forward marginals of a
    Gaussian-mixture data law (see :func:`forward_marginal`).

    For Gaussian data :math:`\mathcal N(\mu, \Sigma)` under the Ornstein–Uhlenbeck process it is
    the affine map :math:`-(e^{-2t}\Sigma + (1 - e^{-2t})I)^{-1}(x - e^{-t}\mu)`.

    Returns:
        ``score(x: (n, d), t: float) -> (n, d)``; ``t > 0`` if ``mixture`` has point masses.
    """
    if not isinstance(mixture, GaussianMixture):
        raise ValueError(f"mixture: expected a GaussianMixture, got {type(mixture).__name__}")
    _check_process(process)

    def score(x: Tensor, t: float) -> Tensor:
        return forward_marginal(mixture, process, t).score(x)

    return score


def empirical_score(points: Tensor, process: ForwardProcess) -> ScoreFunction:
    r"""The empirical (memorising) score: the exact score of the forward marginals of the
    empirical measure :math:`\frac1n\sum_i\delta_{y_i}` of ``points: (n, d)``,

    .. math::
        \nabla\log p_t^{e}(x) = \sum_i r_i(x)\, \frac{a(t)\, y_i - x}{\sigma(t)^2}, \qquad
        r_i(x) = \operatorname{softmax}_i\Big(-\frac{|x - a(t) y_i|^2}{2\sigma(t)^2}\Big),

    the minimiser of the denoising score-matching loss over all functions on the training set;
    its reverse flow ends on the training points (Biroli et al. 2024, §3).

    Returns:
        ``score(x: (m, d), t: float) -> (m, d)``, defined for ``t > 0``.
    """
    return exact_score(GaussianMixture.empirical(points), process)
