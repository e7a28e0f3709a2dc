r"""Benign overfitting of the minimum-norm interpolator (Bartlett, Long, Lugosi, Tsigler 2020).

Linear regression :math:`y = x^\top\theta^* + \varepsilon`, :math:`x = \Sigma^{1/2} z` with
:math:`z` Gaussian (sub-Gaussian in the paper), :math:`\operatorname{Var}\varepsilon = \sigma^2`,
:math:`n` samples in :math:`p > n` dimensions. The minimum-norm interpolator
:math:`\hat\theta = X^\top(XX^\top)^{-1}y` fits the noise (:math:`X\hat\theta = y`), and its excess
risk :math:`R(\hat\theta) = (\hat\theta - \theta^*)^\top\Sigma(\hat\theta - \theta^*)` is governed
by two **effective ranks** of the spectrum :math:`\lambda_1 \ge \lambda_2 \ge \dots` of
:math:`\Sigma`:

.. math::
    r_k(\Sigma) = \frac{\sum_{i>k}\lambda_i}{\lambda_{k+1}}, \qquad
    R_k(\Sigma) = \frac{(\sum_{i>k}\lambda_i)^2}{\sum_{i>k}\lambda_i^2},
    \qquad k^* = \min\{k \ge 0 : r_k(\Sigma) \ge b\,n\}.

BLLT (2020, Thm 4): for universal constants :math:`b, c > 1`, with probability
:math:`1 - \delta`,

.. math::
    R(\hat\theta) \le c\,\|\theta^*\|^2\|\Sigma\|\max\Big\{\sqrt{\tfrac{r_0}{n}},
    \tfrac{r_0}{n}, \sqrt{\tfrac{\log(1/\delta)}{n}}\Big\}
    + c\log(1/\delta)\,\sigma^2\Big(\frac{k^*}{n} + \frac{n}{R_{k^*}}\Big),

and :math:`\mathbb E R(\hat\theta) \ge \frac{\sigma^2}{c}\big(\frac{k^*}{n} + \frac{n}{R_{k^*}}
\big)`: the interpolator is consistent ("benign") iff :math:`r_0 = o(n)`, :math:`k^* = o(n)` and
:math:`R_{k^*} = \omega(n)`. Their example (Thm 6): a few large eigenvalues plus a flat tail of
:math:`p_n = \omega(n)` eigenvalues :math:`\epsilon_n` with total mass :math:`\epsilon_n p_n =
o(n)` (:func:`spiked_spectrum`). With an isotropic :math:`\Sigma = I_p`, :math:`p \approx n`,
:math:`R_0 = p` and the variance term is :math:`\sigma^2 n/p \not\to 0`.

Given the design, the noise-averaged variance term is exact:
:math:`\mathbb E_\varepsilon R = \sigma^2\operatorname{tr}\big((XX^\top)^{-1}X\Sigma X^\top
(XX^\top)^{-1}\big)` plus the bias :math:`\theta^{*\top}(I - P)\Sigma(I - P)\theta^*`,
:math:`P = X^\top(XX^\top)^{-1}X` (:func:`min_norm_variance`).

References:
    P. L. Bartlett, P. M. Long, G. Lugosi & A. Tsigler, "Benign overfitting in linear
    regression", PNAS 117 (2020) 30063-30070, Defs 1, 3, Thms 4, 6 (arXiv:1906.11300).
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

__all__ = [
    "benign_bias_term",
    "benign_critical_index",
    "benign_variance_term",
    "diagonal_excess_risk",
    "effective_ranks",
    "min_norm_variance",
    "sample_gaussian_design",
    "spiked_spectrum",
]


def _check_spectrum(eigenvalues: object) -> Tensor:
    lam = check_tensor(eigenvalues, "eigenvalues", 1)
    if lam.shape[0] == 0 or bool((lam <= 0).any()):
        raise ValueError("eigenvalues: expected a non-empty tensor of positive values")
    if bool((lam[1:] > lam[:-1]).any()):
        raise ValueError("eigenvalues: expected a non-increasing sequence (lambda_1 >= ...)")
    return lam


def effective_ranks(eigenvalues: Tensor) -> tuple[Tensor, Tensor]:
    r"""The effective ranks :math:`r_k = \sum_{i>k}\lambda_i/\lambda_{k+1}` and
    :math:`R_k = (\sum_{i>k}\lambda_i)^2/\sum_{i>k}\lambda_i^2` for :math:`k = 0, \dots, p-1`
    (BLLT 2020, Def. 3).

    Both are :math:`p - k` for a flat spectrum and satisfy :math:`1 \le r_k \le R_k \le p - k`
    (the second by :math:`\sum_{i>k}\lambda_i^2 \le \lambda_{k+1}\sum_{i>k}\lambda_i`).

    Args:
        eigenvalues: ``(p,)`` positive, non-increasing :math:`\lambda_1, \dots, \lambda_p`.

    Returns:
        ``(r, R)``, each ``(p,)`` (index ``k`` holds :math:`r_k`, :math:`R_k`), float64.
    """
    lam = _check_spectrum(eigenvalues).to(torch.float64)
    tail = torch.flip(torch.cumsum(torch.flip(lam, (0,)), 0), (0,))      # sum_{i >= k+1}
    tail_sq = torch.flip(torch.cumsum(torch.flip(lam * lam, (0,)), 0), (0,))
    return tail / lam, tail * tail / tail_sq


def benign_critical_index(eigenvalues: Tensor, n: int, *, b: float = 1.0) -> int:
    r""":math:`k^* = \min\{k \ge 0 : r_k(\Sigma) \ge b\,n\}` (BLLT 2020, Thm 4).

    Args:
        eigenvalues: ``(p,)`` positive, non-increasing; n: sample size; b: the constant
            :math:`b > 0` (the theorem's universal constant; 1 by default).

    Raises:
        ValueError: if no :math:`k < p` has :math:`r_k \ge bn` (the spectrum is too short).
    """
    check_positive_int(n, "n")
    b = check_real(b, "b", positive=True)
    r, _ = effective_ranks(eigenvalues)
    hits = torch.nonzero(r >= b * n)
    if hits.numel() == 0:
        raise ValueError(f"eigenvalues: no k with r_k >= b n = {b * n:g} (p too small for n)")
    return int(hits[0, 0])


def benign_variance_term(eigenvalues: Tensor, n: int, *, noise: float, b: float = 1.0
                         ) -> float:
    r"""The variance term :math:`\sigma^2\big(k^*/n + n/R_{k^*}(\Sigma)\big)` of BLLT (2020,
    Thm 4): up to universal constants, an upper bound (times :math:`\log(1/\delta)`) and a lower
    bound on :math:`\mathbb E R(\hat\theta)`.

    Args:
        eigenvalues: ``(p,)``; n: sample size; noise: :math:`\sigma \ge 0`; b: as in
            :func:`benign_critical_index`.
    """
    sigma = check_real(noise, "noise", nonnegative=True)
    k = benign_critical_index(eigenvalues, n, b=b)
    _, big_r = effective_ranks(eigenvalues)
    return sigma**2 * (k / n + n / float(big_r[k]))


def benign_bias_term(eigenvalues: Tensor, n: int, *, signal_norm: float) -> float:
    r"""The bias term :math:`\|\theta^*\|^2\|\Sigma\|\max\{\sqrt{r_0/n}, r_0/n\}` of BLLT
    (2020, Thm 4), without the universal constant and the :math:`\sqrt{\log(1/\delta)/n}` term;
    :math:`\|\Sigma\| = \lambda_1`, :math:`r_0 = \operatorname{tr}\Sigma/\lambda_1`.

    Args:
        eigenvalues: ``(p,)``; n: sample size; signal_norm: :math:`\|\theta^*\| \ge 0`.
    """
    check_positive_int(n, "n")
    s = check_real(signal_norm, "signal_norm", nonnegative=True)
    r, _ = effective_ranks(eigenvalues)
    r0 = float(r[0])
    return s**2 * float(eigenvalues[0]) * max(math.sqrt(r0 / n), r0 / n)


def spiked_spectrum(num_spikes: int, tail_dim: int, tail_mass: float, *, spike: float = 1.0
                    ) -> Tensor:
    r"""The spectrum of BLLT's finite-dimensional example (Thm 6): ``num_spikes`` eigenvalues
    ``spike`` followed by ``tail_dim`` equal eigenvalues :math:`\epsilon = \text{tail\_mass} /
    \text{tail\_dim}`.

    For :math:`s` spikes and a tail of :math:`q \ge bn` values (with :math:`\epsilon \le` spike),
    :math:`r_k < s + \text{tail\_mass}/\text{spike}` for :math:`k < s`, :math:`r_s = R_s = q`, so
    :math:`k^* = s` once :math:`s + \text{tail\_mass} < bn` and the variance term is
    :math:`\sigma^2(s/n + n/q)`: benign when :math:`q = \omega(n)` and tail_mass :math:`= o(n)`.

    Returns:
        ``(num_spikes + tail_dim,)`` float64, non-increasing.
    """
    s = check_positive_int(num_spikes, "num_spikes", minimum=0)
    q = check_positive_int(tail_dim, "tail_dim")
    mass = check_real(tail_mass, "tail_mass", positive=True)
    top = check_real(spike, "spike", positive=True)
    eps = mass / q
    if eps > top:
        raise ValueError(f"tail_mass: expected tail_mass / tail_dim <= spike, got {mass!r}")
    return torch.cat([torch.full((s,), top, dtype=torch.float64),
                      torch.full((q,), eps, dtype=torch.float64)])


def sample_gaussian_design(eigenvalues: Tensor, n: int, *, generator: torch.Generator
                           ) -> Tensor:
    r"""``n`` i.i.d. rows :math:`x = \Sigma^{1/2} z`, :math:`z \sim N(0, I_p)`, for the diagonal
    :math:`\Sigma = \operatorname{diag}(\lambda)` (any Gaussian design is this one in the
    eigenbasis of its covariance).

    Args:
        eigenvalues: ``(p,)`` positive (dtype and device of the result); n: rows;
        generator: the only source of randomness.

    Returns:
        ``(n, p)``.
    """
    lam = check_tensor(eigenvalues, "eigenvalues", 1)
    if bool((lam <= 0).any()):
        raise ValueError("eigenvalues: expected positive values")
    check_positive_int(n, "n")
    check_generator(generator)
    z = torch.randn(n, lam.shape[0], generator=generator, dtype=lam.dtype,
                    device=generator.device).to(lam.device)
    return z * lam.sqrt()


def diagonal_excess_risk(beta_hat: Tensor, beta: Tensor, eigenvalues: Tensor) -> Tensor:
    r"""The excess risk :math:`(\hat\beta - \beta)^\top\operatorname{diag}(\lambda)(\hat\beta -
    \beta) = \sum_j \lambda_j(\hat\beta_j - \beta_j)^2` (``prediction_risk`` without forming the
    :math:`p \times p` covariance).

    Args:
        beta_hat, beta: ``(..., p)``; eigenvalues: ``(p,)``.

    Returns:
        ``(...)``.
    """
    b = check_tensor(beta_hat, "beta_hat", 1, batched=True)
    t = check_tensor(beta, "beta", 1, batched=True)
    lam = check_tensor(eigenvalues, "eigenvalues", 1)
    if b.shape != t.shape:
        raise ValueError(f"beta: expected shape {tuple(b.shape)} like beta_hat, "
                         f"got {tuple(t.shape)}")
    if lam.shape[0] != b.shape[-1]:
        raise ValueError(f"eigenvalues: expected {b.shape[-1]} values, got {lam.shape[0]}")
    e = b - t
    return (e * e * lam).sum(-1)


def min_norm_variance(x: Tensor, eigenvalues: Tensor, *, noise: float) -> Tensor:
    r"""The noise-averaged variance part of the min-norm interpolator's excess risk, given the
    design: :math:`\sigma^2\operatorname{tr}\big((XX^\top)^{-1}X\Sigma X^\top(XX^\top)^{-1}\big)`
    with :math:`\Sigma = \operatorname{diag}(\lambda)` (BLLT 2020, Lemma 7: the variance term
    :math:`\sigma^2\operatorname{tr}C`).

    Args:
        x: ``(n, p)`` with :math:`p \ge n` and full row rank; eigenvalues: ``(p,)``;
        noise: :math:`\sigma \ge 0`.

    Returns:
        0-d tensor.
    """
    x = check_tensor(x, "x", 2)
    lam = check_tensor(eigenvalues, "eigenvalues", 1)
    sigma = check_real(noise, "noise", nonnegative=True)
    n, p = x.shape
    if p < n:
        raise ValueError(f"x: expected at least as many columns as rows, got shape {(n, p)}")
    if lam.shape[0] != p:
        raise ValueError(f"eigenvalues: expected {p} values, got {lam.shape[0]}")
    factor = torch.linalg.cholesky(x @ x.T)
    m = x * lam.sqrt()                                       # X Sigma^{1/2}
    w = torch.linalg.solve_triangular(factor, m, upper=False)  # L^{-1} X Sigma^{1/2}
    # tr(A^{-1} M M^T A^{-1}) = |A^{-1} M|_F^2 with A = L L^T: A^{-1} M = L^{-T} w
    v = torch.linalg.solve_triangular(factor.T, w, upper=True)
    return sigma**2 * (v * v).sum()
