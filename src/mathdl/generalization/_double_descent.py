r"""Linear regression in proportional asymptotics: min-norm and ridge estimators, exact and
asymptotic test risks (double descent).

**Model** (Hastie, Montanari, Rosset & Tibshirani 2022, §2): :math:`n` samples
:math:`y_i = x_i^\top\beta + \varepsilon_i` with isotropic features
:math:`x_i \sim \mathcal N(0, I_p)`, noise :math:`\varepsilon_i \sim \mathcal N(0, \sigma^2)`
independent of :math:`x_i`, and signal strength :math:`r^2 = |\beta|_2^2`. The (excess) test
risk of an estimator :math:`\hat\beta` is

.. math::
    R(\hat\beta) = \mathbb E_{x_0}\big[(x_0^\top\hat\beta - x_0^\top\beta)^2\big]
    = (\hat\beta - \beta)^\top\Sigma(\hat\beta - \beta) \quad (\Sigma = I_p
    \text{ here}),

the test mean squared error on a fresh noisy label minus :math:`\sigma^2`
(:func:`prediction_risk`).

**Estimators.** The minimum-norm least-squares estimator :math:`\hat\beta = X^+ y`
(:func:`min_norm_least_squares`; the limit of gradient descent from zero, and of ridge as
:math:`\lambda\to0^+`) and ridge regression
:math:`\hat\beta_\lambda = (X^\top X + n\lambda I)^{-1}X^\top y`, the minimiser of
:math:`\frac1n|y - X\beta|^2 + \lambda|\beta|^2` (:func:`ridge_regression`).

**Asymptotic risks**, :math:`n, p\to\infty`, :math:`p/n\to\gamma` (HMRT 2022, Thms 1-2 for
min-norm, Thm 5 and Cor. 5 for ridge):

.. math::
    R_{\text{min-norm}}(\gamma) = \begin{cases}
        \sigma^2\dfrac{\gamma}{1-\gamma} & \gamma < 1, \\[4pt]
        r^2\Big(1 - \dfrac1\gamma\Big) + \dfrac{\sigma^2}{\gamma - 1} & \gamma > 1,
    \end{cases}
    \qquad
    R_\lambda(\gamma) = r^2\lambda^2\, m'(-\lambda) + \sigma^2\gamma\big(m(-\lambda)
        - \lambda\, m'(-\lambda)\big),

with :math:`m` the Stieltjes transform of the Marchenko-Pastur law
(:func:`marchenko_pastur_stieltjes`). *Derivation of the ridge risk.* With
:math:`\hat\Sigma = X^\top X/n`, :math:`\hat\beta_\lambda - \beta = -\lambda(\hat\Sigma +
\lambda)^{-1}\beta + (\hat\Sigma + \lambda)^{-1}X^\top\varepsilon/n`. The cross term vanishes in
expectation over :math:`\varepsilon`; the bias :math:`\lambda^2\beta^\top(\hat\Sigma +
\lambda)^{-2}\beta \to r^2\lambda^2\,\frac1p\operatorname{tr}(\hat\Sigma + \lambda)^{-2} =
r^2\lambda^2 m'(-\lambda)` (rotation invariance of :math:`\hat\Sigma`), and the variance
:math:`\frac{\sigma^2}{n}\operatorname{tr}\hat\Sigma(\hat\Sigma + \lambda)^{-2} =
\sigma^2\gamma\,\frac1p\operatorname{tr}[(\hat\Sigma+\lambda)^{-1} - \lambda(\hat\Sigma +
\lambda)^{-2}] \to \sigma^2\gamma(m(-\lambda) - \lambda m'(-\lambda))`.

**Optimal ridge.** :math:`\partial_\lambda R_\lambda = 0` at :math:`\lambda^* = \sigma^2\gamma/r^2`
(the posterior mean for the prior :math:`\beta\sim\mathcal N(0, r^2 I/p)`; Dobriban & Wager
2018, Thm 2.1; HMRT Cor. 5), and substituting,
:math:`R_{\lambda^*}(\gamma) = \sigma^2\gamma\, m(-\lambda^*)`. It increases with :math:`\gamma`,
stays below the null risk :math:`r^2` of :math:`\hat\beta = 0` and below
:math:`R_{\text{min-norm}}`: the optimal penalty removes the peak at :math:`\gamma = 1`.

**Exact finite-sample risk** of min-norm for Gaussian design (inverse-Wishart means
:math:`\mathbb E(X^\top X)^{-1} = I/(n-p-1)`, :math:`\mathbb E(XX^\top)^{-1} = I/(p-n-1)`, and
the row space of :math:`X` uniformly distributed):
:math:`\mathbb E R = \sigma^2 p/(n-p-1)` for :math:`p < n - 1` and
:math:`r^2(1 - n/p) + \sigma^2 n/(p-n-1)` for :math:`p > n + 1`
(:func:`min_norm_finite_sample_risk`); it tends to the asymptotic form with a relative error
:math:`O(1/|n - p|)`.

References:
    T. Hastie, A. Montanari, S. Rosset & R. J. Tibshirani, "Surprises in high-dimensional
    ridgeless least squares interpolation", Ann. Statist. 50 (2022) 949-986 (arXiv:1903.08560);
    E. Dobriban & S. Wager, "High-dimensional asymptotics of prediction: ridge regression and
    classification", Ann. Statist. 46 (2018) 247-279;
    V. A. Marchenko & L. A. Pastur, "Distribution of eigenvalues for some sets of random
    matrices", Math. USSR-Sb. 1 (1967) 457-483;
    Z. Bai & J. W. Silverstein, *Spectral Analysis of Large Dimensional Random Matrices*,
    2nd ed., Springer 2010, §3.3 (the Stieltjes transform);
    M. Belkin, D. Hsu, S. Ma & S. Mandal, "Reconciling modern machine-learning practice and the
    classical bias-variance trade-off", PNAS 116 (2019) (double descent).
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
    common_dtype,
)

__all__ = [
    "marchenko_pastur_stieltjes",
    "min_norm_asymptotic_risk",
    "min_norm_finite_sample_risk",
    "min_norm_least_squares",
    "optimal_ridge_penalty",
    "prediction_risk",
    "ridge_asymptotic_risk",
    "ridge_regression",
    "sample_isotropic_regression",
]


def _cond_cutoff(dtype: torch.dtype) -> float:
    return math.sqrt(torch.finfo(dtype).eps)


def sample_isotropic_regression(
    n: int,
    p: int,
    *,
    signal: float,
    noise: float,
    generator: torch.Generator,
    repeats: int | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    r"""Draw data sets of the isotropic model: :math:`x_i\sim\mathcal N(0, I_p)`,
    :math:`\beta = r\,g/|g|` with :math:`g \sim \mathcal N(0, I_p)` (uniform direction, norm
    :math:`r`), :math:`y = X\beta + \sigma\xi`, :math:`\xi\sim\mathcal N(0, I_n)`.

    Args:
        n: samples; p: features.
        signal: :math:`r \ge 0`; noise: :math:`\sigma \ge 0`.
        generator: the only source of randomness (drawn on its device, then moved).
        repeats: ``None`` for one data set, or the number :math:`R` of independent data sets
            (each with its own :math:`\beta`), stacked along a leading dimension.
        dtype, device: of the returned tensors (device defaults to the generator's).

    Returns:
        ``(x, y, beta)`` of shapes ``(n, p)``, ``(n,)``, ``(p,)``; with ``repeats``:
        ``(R, n, p)``, ``(R, n)``, ``(R, p)``.
    """
    check_positive_int(n, "n")
    check_positive_int(p, "p")
    r = check_real(signal, "signal", nonnegative=True)
    sigma = check_real(noise, "noise", nonnegative=True)
    check_generator(generator)
    batch: tuple[int, ...] = ()
    if repeats is not None:
        batch = (check_positive_int(repeats, "repeats"),)
    target = generator.device if device is None else torch.device(device)
    gdev = generator.device
    x = torch.randn(*batch, n, p, generator=generator, dtype=dtype, device=gdev)
    g = torch.randn(*batch, p, generator=generator, dtype=dtype, device=gdev)
    beta = r * g / torch.linalg.vector_norm(g, dim=-1, keepdim=True)
    noise_draw = torch.randn(*batch, n, generator=generator, dtype=dtype, device=gdev)
    y = (x @ beta[..., None])[..., 0] + sigma * noise_draw
    return x.to(target), y.to(target), beta.to(target)


def _check_design(x: object, y: object) -> tuple[Tensor, Tensor]:
    x = check_tensor(x, "x", 2, batched=True)
    y = check_tensor(y, "y", 1, batched=True)
    if y.shape != x.shape[:-1]:
        raise ValueError(f"y: expected shape {tuple(x.shape[:-1])} (the rows of x), "
                         f"got {tuple(y.shape)}")
    dtype = common_dtype(x, y)
    return x.to(dtype), y.to(dtype)


def min_norm_least_squares(x: Tensor, y: Tensor) -> Tensor:
    r"""The minimum-norm least-squares estimator :math:`\hat\beta = X^+ y`.

    For :math:`p \le n` and full column rank it is ordinary least squares
    :math:`(X^\top X)^{-1}X^\top y`; for :math:`p > n` and full row rank the min-norm interpolator
    :math:`X^\top(XX^\top)^{-1}y`, the limit of :func:`ridge_regression` as :math:`\lambda\to0^+`
    and of gradient descent from :math:`\beta = 0`. The smaller Gram matrix is factorised by
    Cholesky (full rank holds almost surely for a continuous design); if that fails, or the
    factor shows a condition number above :math:`\epsilon^{-1/2}`, the SVD pseudo-inverse
    (cut-off :math:`\max(n, p)\,\epsilon\, s_{\max}`) is used instead.

    Args:
        x: ``(..., n, p)`` design (leading dimensions: independent problems); y: ``(..., n)``.

    Returns:
        ``(..., p)`` :math:`\hat\beta` in the promoted dtype.
    """
    x, y = _check_design(x, y)
    n, p = x.shape[-2:]
    xt = x.mT
    gram = xt @ x if p <= n else x @ xt
    factor, info = torch.linalg.cholesky_ex(gram)
    diag = torch.diagonal(factor, dim1=-2, dim2=-1)
    # (max/min of the Cholesky diagonal)^2 bounds cond(gram) from below: near-singular -> SVD
    ill = bool((info != 0).any()) or bool(
        (diag.amin(-1) ** 2 < _cond_cutoff(x.dtype) * diag.amax(-1) ** 2).any())
    if ill:
        return (torch.linalg.pinv(x) @ y[..., None])[..., 0]
    if p <= n:
        return torch.cholesky_solve(xt @ y[..., None], factor)[..., 0]
    return (xt @ torch.cholesky_solve(y[..., None], factor))[..., 0]


def ridge_regression(x: Tensor, y: Tensor, *, ridge: float) -> Tensor:
    r"""Ridge regression :math:`\hat\beta_\lambda = \arg\min_\beta \frac1n|y - X\beta|^2 +
    \lambda|\beta|^2 = (X^\top X + n\lambda I_p)^{-1}X^\top y = X^\top(XX^\top + n\lambda
    I_n)^{-1}y`.

    The penalty is scaled by :math:`n` as in HMRT (2022); the smaller of the two systems is
    solved by Cholesky.

    Args:
        x: ``(..., n, p)`` (leading dimensions: independent problems); y: ``(..., n)``;
        ridge: :math:`\lambda > 0`.

    Returns:
        ``(..., p)`` :math:`\hat\beta_\lambda`.
    """
    lam = check_real(ridge, "ridge", positive=True)
    x, y = _check_design(x, y)
    n, p = x.shape[-2:]
    xt = x.mT
    if p <= n:
        a = xt @ x + n * lam * torch.eye(p, dtype=x.dtype, device=x.device)
        return torch.cholesky_solve(xt @ y[..., None], torch.linalg.cholesky(a))[..., 0]
    a = x @ xt + n * lam * torch.eye(n, dtype=x.dtype, device=x.device)
    return (xt @ torch.cholesky_solve(y[..., None], torch.linalg.cholesky(a)))[..., 0]


def prediction_risk(beta_hat: Tensor, beta: Tensor, *, covariance: Tensor | None = None) -> Tensor:
    r"""The excess test risk :math:`\mathbb E_{x_0}[(x_0^\top(\hat\beta - \beta))^2] =
    (\hat\beta - \beta)^\top\Sigma(\hat\beta - \beta)` for :math:`x_0` with mean 0 and
    covariance :math:`\Sigma` (identity when ``covariance`` is ``None``).

    Args:
        beta_hat: ``(..., p)``; beta: ``(..., p)`` (same shape); covariance: ``(p, p)`` or
            ``None``.

    Returns:
        ``(...)``: a 0-d tensor for vectors, one risk per leading index otherwise.
    """
    b = check_tensor(beta_hat, "beta_hat", 1, batched=True)
    t = check_tensor(beta, "beta", 1, batched=True)
    if b.shape != t.shape:
        raise ValueError(f"beta: expected shape {tuple(b.shape)} like beta_hat, "
                         f"got {tuple(t.shape)}")
    dtype = common_dtype(b, t)
    e = b.to(dtype) - t.to(dtype)
    if covariance is None:
        return (e * e).sum(-1)
    p = e.shape[-1]
    c = check_tensor(covariance, "covariance", 2)
    if c.shape != (p, p):
        raise ValueError(f"covariance: expected shape ({p}, {p}), got {tuple(c.shape)}")
    return ((e @ c.to(dtype)) * e).sum(-1)


def marchenko_pastur_stieltjes(z: float, ratio: float) -> float:
    r"""The Stieltjes transform :math:`m(z) = \int \frac{dF_\gamma(s)}{s - z}` of the
    Marchenko-Pastur law of ratio :math:`\gamma`, at real :math:`z < 0`.

    :math:`F_\gamma` is the limit spectrum of :math:`\hat\Sigma = X^\top X/n`,
    :math:`X_{ij}` i.i.d. with variance 1, :math:`p/n \to \gamma` (with an atom of mass
    :math:`1 - 1/\gamma` at 0 when :math:`\gamma > 1`); so
    :math:`m(-\lambda) = \lim \frac1p\operatorname{tr}(\hat\Sigma + \lambda)^{-1}`. It is the
    positive root of :math:`\gamma z m^2 - (1 - \gamma - z)m + 1 = 0` (Bai & Silverstein 2010,
    §3.3): with :math:`b = 1 - \gamma + \lambda` and :math:`D = b^2 + 4\gamma\lambda`,

    .. math::
        m(-\lambda) = \frac{\sqrt D - b}{2\gamma\lambda} = \frac{2}{\sqrt D + b},

    evaluated in whichever form avoids cancellation. Its derivative is
    :math:`m'(-\lambda) = \frac1p\operatorname{tr}(\hat\Sigma+\lambda)^{-2} \to
    m(1 + \gamma m)/\sqrt D` (implicit differentiation).

    Args:
        z: a real number :math:`< 0` (:math:`z = -\lambda`).
        ratio: :math:`\gamma > 0`.

    Returns:
        :math:`m(z) > 0`.
    """
    return _stieltjes(z, ratio)[0]


def _stieltjes(z: float, ratio: float) -> tuple[float, float]:
    """(m(z), m'(z)) for real z < 0."""
    zz = check_real(z, "z")
    if zz >= 0:
        raise ValueError(f"z: expected a real number < 0 (outside the support), got {z!r}")
    gamma = check_real(ratio, "ratio", positive=True)
    lam = -zz
    b = 1.0 - gamma + lam
    root = math.sqrt(b * b + 4.0 * gamma * lam)
    m = 2.0 / (root + b) if b >= 0 else (root - b) / (2.0 * gamma * lam)
    return m, m * (1.0 + gamma * m) / root


def min_norm_asymptotic_risk(ratio: float, *, signal: float, noise: float) -> float:
    r"""HMRT (2022, Thms 1-2) limit risk of the min-norm least-squares estimator, isotropic case:
    :math:`\sigma^2\gamma/(1-\gamma)` for :math:`\gamma < 1`,
    :math:`r^2(1 - 1/\gamma) + \sigma^2/(\gamma - 1)` for :math:`\gamma > 1`, and
    :math:`+\infty` at :math:`\gamma = 1` (when :math:`\sigma > 0`).

    Args:
        ratio: :math:`\gamma = p/n > 0`.
        signal: :math:`r = |\beta|`; noise: :math:`\sigma`.

    Returns:
        The risk (excess over :math:`\sigma^2`).
    """
    gamma = check_real(ratio, "ratio", positive=True)
    r2 = check_real(signal, "signal", nonnegative=True) ** 2
    s2 = check_real(noise, "noise", nonnegative=True) ** 2
    if gamma < 1:
        return s2 * gamma / (1.0 - gamma)
    if gamma > 1:
        return r2 * (1.0 - 1.0 / gamma) + s2 / (gamma - 1.0)
    return math.inf if s2 > 0 else 0.0


def min_norm_finite_sample_risk(n: int, p: int, *, signal: float, noise: float) -> float:
    r"""The exact expected risk :math:`\mathbb E\,R(X^+y)` for Gaussian design
    :math:`x_i\sim\mathcal N(0, I_p)` and :math:`|\beta| = r`:
    :math:`\sigma^2 p/(n - p - 1)` for :math:`p < n - 1`,
    :math:`r^2(1 - n/p) + \sigma^2 n/(p - n - 1)` for :math:`p > n + 1`, and :math:`+\infty`
    for :math:`|p - n| \le 1` (the inverse-Wishart mean does not exist); see the module
    docstring.

    Args:
        n, p: sample size and dimension; signal: :math:`r`; noise: :math:`\sigma`.

    Returns:
        The expected risk.
    """
    check_positive_int(n, "n")
    check_positive_int(p, "p")
    r2 = check_real(signal, "signal", nonnegative=True) ** 2
    s2 = check_real(noise, "noise", nonnegative=True) ** 2
    if p < n - 1:
        return s2 * p / (n - p - 1)
    if p > n + 1:
        return r2 * (1.0 - n / p) + s2 * n / (p - n - 1)
    return math.inf


def ridge_asymptotic_risk(ratio: float, ridge: float, *, signal: float, noise: float) -> float:
    r"""HMRT (2022, Thm 5) limit risk of ridge regression :math:`(X^\top X + n\lambda I)^{-1}
    X^\top y`, isotropic case:

    .. math::
        R_\lambda(\gamma) = r^2\lambda^2 m'(-\lambda) + \sigma^2\gamma\big(m(-\lambda)
        - \lambda m'(-\lambda)\big),

    with :math:`m` the Marchenko-Pastur Stieltjes transform (derivation in the module
    docstring). At :math:`\lambda^* = \sigma^2\gamma/r^2` it equals
    :math:`\sigma^2\gamma\,m(-\lambda^*)`; as :math:`\lambda\to0^+` it tends to
    :func:`min_norm_asymptotic_risk`.

    Args:
        ratio: :math:`\gamma > 0`; ridge: :math:`\lambda > 0`.
        signal: :math:`r`; noise: :math:`\sigma`.

    Returns:
        The limit risk.
    """
    lam = check_real(ridge, "ridge", positive=True)
    r2 = check_real(signal, "signal", nonnegative=True) ** 2
    s2 = check_real(noise, "noise", nonnegative=True) ** 2
    m, dm = _stieltjes(-lam, ratio)
    gamma = float(ratio)
    return r2 * lam * lam * dm + s2 * gamma * (m - lam * dm)


def optimal_ridge_penalty(ratio: float, *, signal: float, noise: float) -> float:
    r"""The risk-minimising penalty :math:`\lambda^* = \sigma^2\gamma/r^2` of
    :func:`ridge_regression` in the isotropic model (Dobriban & Wager 2018, Thm 2.1; HMRT 2022,
    Cor. 5).

    Raises:
        ValueError: if ``signal`` or ``noise`` is not positive (then :math:`\lambda^*` is 0 or
            infinite).
    """
    gamma = check_real(ratio, "ratio", positive=True)
    r = check_real(signal, "signal", positive=True)
    sigma = check_real(noise, "noise", positive=True)
    return sigma * sigma * gamma / (r * r)
