r"""Variational autoencoders for vectors: the evidence lower bound (ELBO) with the
reparameterisation trick, and probabilistic PCA, the linear-Gaussian model whose likelihood it
bounds in closed form.

The model is :math:`p_\theta(x, z) = p(z)\,p_\theta(x \mid z)` with the prior
:math:`p(z) = \mathcal N(0, I_k)` and a decoder :math:`f_\theta: \mathbb R^k \to \mathbb R^d`;
the encoder is the Gaussian :math:`q_\phi(z \mid x) = \mathcal N(\mu_\phi(x),
\operatorname{diag}\sigma^2_\phi(x))`. For every :math:`q`,

.. math::
    \log p_\theta(x) = \underbrace{\mathbb E_{q}\big[\log p_\theta(x \mid z)\big]
        - \mathrm{KL}\big(q_\phi(z \mid x)\,\|\,p(z)\big)}_{\mathrm{ELBO}(x)}
        + \mathrm{KL}\big(q_\phi(z \mid x)\,\|\,p_\theta(z \mid x)\big)
        \;\ge\; \mathrm{ELBO}(x),

with equality exactly when :math:`q` is the posterior (Kingma & Welling 2014, §2.2). The KL
to the prior is analytic (:func:`kl_to_standard_normal`, Kingma & Welling 2014, Appendix B):

.. math::
    \mathrm{KL}\big(\mathcal N(\mu, \operatorname{diag}\sigma^2)\,\|\,\mathcal N(0, I)\big)
        = \tfrac12 \sum_{j=1}^k \big(\mu_j^2 + \sigma_j^2 - 1 - \log\sigma_j^2\big),

and the expected log-likelihood is estimated by Monte Carlo through the reparameterisation
:math:`z = \mu + \sigma \odot \varepsilon`, :math:`\varepsilon \sim \mathcal N(0, I)`
(:func:`reparameterise`), so that the estimator is a differentiable function of
:math:`(\mu, \sigma)` whose gradient is an unbiased estimate of the ELBO's gradient.

Decoders (:class:`DecoderLikelihood`):

* ``GAUSSIAN`` — :math:`p_\theta(x \mid z) = \mathcal N(f_\theta(z), s^2 I_d)`, one variance
  :math:`s^2` learned with the networks, or fixed by ``decoder_variance``. With linear encoder
  and decoder (``hidden=()``) this is probabilistic PCA (Tipping & Bishop 1999), whose marginal
  likelihood :math:`x \sim \mathcal N(b, WW^\top + s^2 I)` is closed form
  (:func:`ppca_log_likelihood`) and whose maximum likelihood is explicit
  (:func:`ppca_maximum_likelihood`); the linear VAE's global optimum attains it (Lucas et al.
  2019), because there the exact posterior has diagonal covariance.
* ``GAUSSIAN_DIAGONAL`` — :math:`\mathcal N(f_\theta(z), \operatorname{diag}(s_1^2, \dots,
  s_d^2))`, one learned variance per feature (factor analysis when linear): the usual choice
  for standardised tabular data, whose columns keep different residual variances.
* ``BERNOULLI`` — :math:`\prod_j \pi_j^{x_j}(1 - \pi_j)^{1 - x_j}`, :math:`\pi =
  \operatorname{sigmoid}(f_\theta(z))`, for data in :math:`[0, 1]` (a density only for binary
  data; on grey levels it is the customary, unnormalised choice, see Loaiza-Ganem & Cunningham
  2019).

Learned Gaussian variances are :math:`s^2 = s^2_{\min} + \operatorname{softplus}(\rho)`: the
likelihood of a Gaussian decoder with free variance is unbounded above when the decoder can
interpolate a data point (Mattei & Frellsen 2018), so ``min_variance`` bounds it.

Networks are multilayer perceptrons with SiLU activations (:math:`x\,\operatorname{sigmoid}(x)`),
initialised from PyTorch's default uniform law drawn from the caller's generator; ``hidden=()``
makes the encoder and decoder affine.

References:
    D. P. Kingma, M. Welling, "Auto-encoding variational Bayes", ICLR 2014 (arXiv:1312.6114);
    D. J. Rezende, S. Mohamed, D. Wierstra, "Stochastic backpropagation and approximate inference
    in deep generative models", ICML 2014; M. E. Tipping, C. M. Bishop, "Probabilistic principal
    component analysis", J. R. Stat. Soc. B 61 (1999) 611-622; J. Lucas, G. Tucker,
    R. Grosse, M. Norouzi, "Don't blame the ELBO! A linear VAE perspective on posterior
    collapse", NeurIPS 2019; P.-A. Mattei, J. Frellsen, "Leveraging the exact likelihood of deep
    latent variable models", NeurIPS 2018; G. Loaiza-Ganem, J. P. Cunningham, "The continuous
    Bernoulli", NeurIPS 2019.
"""

from __future__ import annotations

import enum
import math

import torch
from torch import Tensor, nn
from torch.nn import functional

from mathdl._monitor import ProgressCallback, TrainingMonitor
from mathdl._validation import check_positive_int, check_positive_ints, check_real

__all__ = [
    "VAE",
    "DecoderLikelihood",
    "kl_to_standard_normal",
    "ppca_log_likelihood",
    "ppca_maximum_likelihood",
    "reparameterise",
]

_LOG_2PI = math.log(2 * math.pi)


class DecoderLikelihood(enum.Enum):
    r"""The decoder's law :math:`p_\theta(x \mid z)` (module docstring).

    ``GAUSSIAN``: :math:`\mathcal N(f(z), s^2 I)`, one variance, learned or fixed.
    ``GAUSSIAN_DIAGONAL``: :math:`\mathcal N(f(z), \operatorname{diag} s^2)`, learned per feature.
    ``BERNOULLI``: independent Bernoulli with logits :math:`f(z)`, for data in :math:`[0, 1]`.
    """

    GAUSSIAN = "gaussian"
    GAUSSIAN_DIAGONAL = "gaussian_diagonal"
    BERNOULLI = "bernoulli"


# ----------------------------------------------------------------------------- shared checks


def _check_generator(generator: object) -> torch.Generator:
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator: expected a torch.Generator, got {type(generator).__name__}")
    return generator


def _check_matrix(x: object, name: str, *, columns: int | None = None,
                  dtype: torch.dtype | None = None, min_rows: int = 1) -> Tensor:
    """``x`` as a finite floating ``(n, d)`` tensor with ``n >= min_rows`` (and ``d`` columns,
    and ``dtype``, when given), else ValueError naming ``name``."""
    if not isinstance(x, Tensor) or not torch.is_floating_point(x):
        got = getattr(x, "dtype", type(x).__name__)
        raise ValueError(f"{name}: expected a floating-point tensor of shape (n, d), got {got}")
    if x.ndim != 2 or x.shape[0] < min_rows or x.shape[1] < 1:
        raise ValueError(f"{name}: expected shape (n, d) with n >= {min_rows} and d >= 1, got "
                         f"{tuple(x.shape)}")
    if columns is not None and x.shape[1] != columns:
        raise ValueError(f"{name}: expected {columns} columns as in fit, got {x.shape[1]}")
    if dtype is not None and x.dtype != dtype:
        raise ValueError(f"{name}: expected dtype {dtype} as in fit, got {x.dtype}")
    if not bool(torch.all(torch.isfinite(x))):
        raise ValueError(f"{name}: expected finite values (no NaN or inf)")
    return x


def _linear(fan_in: int, fan_out: int, *, generator: torch.Generator, dtype: torch.dtype,
            device: torch.device) -> nn.Linear:
    """nn.Linear with PyTorch's default law U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and
    biases, drawn from ``generator``."""
    layer = nn.Linear(fan_in, fan_out, dtype=dtype, device=device)
    bound = 1 / math.sqrt(fan_in)
    with torch.no_grad():
        for p in (layer.weight, layer.bias):
            p.copy_(bound * (2 * torch.rand(p.shape, generator=generator, dtype=dtype,
                                            device=device) - 1))
    return layer


def _mlp(sizes: tuple[int, ...], *, generator: torch.Generator, dtype: torch.dtype,
         device: torch.device) -> nn.Sequential:
    """Affine layers ``sizes[0] -> sizes[1] -> ... -> sizes[-1]`` with SiLU between them (an
    affine map when ``len(sizes) == 2``)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        if i > 0:
            layers.append(nn.SiLU())
        layers.append(_linear(sizes[i], sizes[i + 1], generator=generator, dtype=dtype,
                              device=device))
    return nn.Sequential(*layers)


def _learning_rates(lr: object, final_lr: object) -> tuple[float, float]:
    lr = check_real(lr, "lr", positive=True)
    final = lr if final_lr is None else check_real(final_lr, "final_lr", positive=True)
    return lr, final


def _geometric_schedule(optimiser: torch.optim.Optimizer, lr: float, final_lr: float,
                        steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """Learning rate decayed geometrically from ``lr`` at the first step to ``final_lr`` at the
    last."""
    gamma = (final_lr / lr) ** (1 / max(steps - 1, 1))
    return torch.optim.lr_scheduler.ExponentialLR(optimiser, gamma=gamma)


def _minibatch(x: Tensor, batch_size: int, generator: torch.Generator) -> Tensor:
    """``batch_size`` rows drawn uniformly with replacement, or all of ``x`` when it has no more
    rows than that (full-batch training)."""
    n = x.shape[0]
    if batch_size >= n:
        return x
    return x[torch.randint(n, (batch_size,), generator=generator, device=x.device)]


# ----------------------------------------------------------------------------- the ELBO's parts


def kl_to_standard_normal(mean: Tensor, log_variance: Tensor) -> Tensor:
    r"""Analytic :math:`\mathrm{KL}(\mathcal N(\mu, \operatorname{diag}\sigma^2)\,\|\,
    \mathcal N(0, I_k))` (Kingma & Welling 2014, Appendix B):

    .. math::
        \tfrac12 \sum_{j=1}^k \big(\mu_j^2 + \sigma_j^2 - 1 - \log\sigma_j^2\big),

    with :math:`\sigma_j^2 - 1 - \log\sigma_j^2` formed as ``expm1(v) - v`` (:math:`v = \log
    \sigma^2`), without cancellation near :math:`\sigma^2 = 1`.

    Args:
        mean: ``(..., k)`` means :math:`\mu`.
        log_variance: ``(..., k)`` log-variances :math:`\log\sigma^2`.

    Returns:
        ``(...)`` divergences (non-negative), dtype and device of the inputs.

    Raises:
        ValueError: non-tensor, non-floating or mismatched shapes.
    """
    for name, value in (("mean", mean), ("log_variance", log_variance)):
        if not isinstance(value, Tensor) or not torch.is_floating_point(value) or value.ndim < 1:
            raise ValueError(f"{name}: expected a floating-point tensor of shape (..., k)")
    if mean.shape != log_variance.shape:
        raise ValueError(f"log_variance: expected the shape of mean {tuple(mean.shape)}, got "
                         f"{tuple(log_variance.shape)}")
    return 0.5 * (mean.square() + torch.expm1(log_variance) - log_variance).sum(-1)


def reparameterise(mean: Tensor, log_variance: Tensor, *, generator: torch.Generator,
                   samples: int = 1) -> Tensor:
    r"""Draws of :math:`z \sim \mathcal N(\mu, \operatorname{diag}\sigma^2)` written as a
    differentiable function of :math:`(\mu, \log\sigma^2)` (Kingma & Welling 2014, §2.4):

    .. math::
        z = \mu + \exp\big(\tfrac12\log\sigma^2\big) \odot \varepsilon, \qquad
        \varepsilon \sim \mathcal N(0, I),

    so that :math:`\nabla_{\mu, \sigma}\frac1L\sum_l f(z_l)` is an unbiased estimate of
    :math:`\nabla_{\mu, \sigma}\mathbb E[f(z)]`.

    Args:
        mean: ``(..., k)``; log_variance: ``(..., k)``.
        generator: the source of :math:`\varepsilon` (on the inputs' device).
        samples: number :math:`L` of independent draws.

    Returns:
        ``(samples, ..., k)`` draws, dtype and device of ``mean``.

    Raises:
        ValueError: mismatched shapes, a bad ``samples`` or ``generator``.
    """
    if not isinstance(mean, Tensor) or not torch.is_floating_point(mean) or mean.ndim < 1:
        raise ValueError("mean: expected a floating-point tensor of shape (..., k)")
    if not isinstance(log_variance, Tensor) or log_variance.shape != mean.shape:
        raise ValueError(f"log_variance: expected a tensor of shape {tuple(mean.shape)}")
    samples = check_positive_int(samples, "samples")
    _check_generator(generator)
    eps = torch.randn((samples, *mean.shape), generator=generator, dtype=mean.dtype,
                      device=mean.device)
    return mean + torch.exp(0.5 * log_variance) * eps


# ----------------------------------------------------------------------------- probabilistic PCA


def ppca_log_likelihood(x: Tensor, mean: Tensor, loading: Tensor, noise_variance: Tensor | float
                        ) -> Tensor:
    r"""Exact log-likelihood of probabilistic PCA (Tipping & Bishop 1999): with
    :math:`z \sim \mathcal N(0, I_k)`, :math:`x = Wz + \mu + \epsilon`, :math:`\epsilon \sim
    \mathcal N(0, s^2 I_d)`, the marginal is :math:`\mathcal N(\mu, C)`, :math:`C = WW^\top +
    s^2 I`, and

    .. math::
        \log p(x) = -\tfrac12\Big[d\log 2\pi + \log\det C + (x - \mu)^\top C^{-1}(x - \mu)\Big].

    Args:
        x: ``(n, d)`` points; mean: ``(d,)``; loading: ``(d, k)`` matrix :math:`W`;
        noise_variance: :math:`s^2 > 0` (a float or a 0-d tensor).

    Returns:
        ``(n,)`` log-densities, dtype and device of ``x``.

    Raises:
        ValueError: on bad shapes or a non-positive noise variance.
    """
    x = _check_matrix(x, "x")
    d = x.shape[1]
    if not isinstance(mean, Tensor) or mean.shape != (d,):
        raise ValueError(f"mean: expected a tensor of shape ({d},)")
    if not isinstance(loading, Tensor) or loading.ndim != 2 or loading.shape[0] != d:
        raise ValueError(f"loading: expected a tensor of shape ({d}, k)")
    s2 = float(noise_variance) if isinstance(noise_variance, Tensor) else noise_variance
    s2 = check_real(s2, "noise_variance", positive=True)
    w = loading.to(x.dtype)
    cov = w @ w.T + s2 * torch.eye(d, dtype=x.dtype, device=x.device)
    chol = torch.linalg.cholesky(cov)
    white = torch.linalg.solve_triangular(chol, (x - mean.to(x.dtype)).T, upper=False)
    logdet = 2 * torch.log(torch.diagonal(chol)).sum()
    return -0.5 * (d * _LOG_2PI + logdet + white.square().sum(0))


def ppca_maximum_likelihood(x: Tensor, latent_dim: int) -> tuple[Tensor, Tensor, Tensor]:
    r"""Maximum-likelihood probabilistic PCA (Tipping & Bishop 1999): with the sample
    covariance :math:`S = \frac1n\sum_i (x_i - \bar x)(x_i - \bar x)^\top = U\Lambda U^\top`,
    :math:`\lambda_1 \ge \dots \ge \lambda_d`,

    .. math::
        \hat\mu = \bar x, \qquad \hat s^2 = \frac{1}{d - k}\sum_{j > k}\lambda_j, \qquad
        \hat W = U_k\big(\Lambda_k - \hat s^2 I\big)^{1/2},

    (unique up to a rotation :math:`\hat W R` of the latent space), and the maximum is
    :math:`-\frac n2\big[d\log 2\pi + \sum_{j\le k}\log\lambda_j + (d-k)\log\hat s^2 + d\big]`.

    Args:
        x: ``(n, d)`` data, ``n >= 2``; latent_dim: :math:`k`, ``1 <= k < d``.

    Returns:
        ``(mean (d,), loading (d, k), noise_variance 0-d)``, dtype and device of ``x``.

    Raises:
        ValueError: on bad shapes, ``k >= d``, or data with no variance off the top ``k``
            directions (:math:`\hat s^2 = 0`: the likelihood is unbounded).
    """
    x = _check_matrix(x, "x", min_rows=2)
    d = x.shape[1]
    k = check_positive_int(latent_dim, "latent_dim")
    if k >= d:
        raise ValueError(f"latent_dim: expected an integer < d = {d}, got {k}")
    mean = x.mean(0)
    centred = x - mean
    eigenvalues, eigenvectors = torch.linalg.eigh(centred.T @ centred / x.shape[0])
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
    noise = eigenvalues[k:].mean()
    if not float(noise) > 0:
        raise ValueError("x: expected variance outside the top latent_dim principal directions")
    loading = eigenvectors[:, :k] * (eigenvalues[:k] - noise).clamp_min(0).sqrt()
    return mean, loading, noise


# ----------------------------------------------------------------------------- the estimator

_VAE_STATE = ("encoder_", "decoder_", "variance_parameter_", "n_features_in_", "history_")


def _forget(estimator: object, names: tuple[str, ...]) -> None:
    """Remove learned state (attributes ending in ``_``), so a failed fit leaves none."""
    for name in names:
        estimator.__dict__.pop(name, None)


class VAE:
    r"""Variational autoencoder for vectors (Kingma & Welling 2014), trained by maximising the
    reparameterised Monte Carlo ELBO with Adam (module docstring).

    Constructor stores; :meth:`fit` builds and trains the networks and returns ``self``.

    Args:
        latent_dim: :math:`k`.
        hidden: hidden widths of the encoder (the decoder's are reversed); ``()`` for affine
            maps (a linear VAE: probabilistic PCA with ``GAUSSIAN``).
        likelihood: :class:`DecoderLikelihood`.
        decoder_variance: with ``GAUSSIAN``, a fixed :math:`s^2 > 0`, or ``None`` to learn it.
        min_variance: lower bound :math:`s^2_{\min} > 0` of learned decoder variances.
        steps: Adam steps; lr: initial learning rate, decayed geometrically to ``final_lr``
            (default: constant).
        batch_size: rows per step, drawn with replacement (all rows, every step, when the data
            have no more).
        samples: Monte Carlo draws :math:`L` of :math:`z` per row in the training ELBO.

    After :meth:`fit`: ``encoder_`` (:math:`d \to 2k`: means, then log-variances),
    ``decoder_`` (:math:`k \to d`: :math:`f_\theta`), ``variance_parameter_`` (:math:`\rho`, or
    ``None`` when the variance is fixed or the decoder Bernoulli), ``n_features_in_``,
    ``history_`` (the negative training ELBO per row at each step).
    """

    def __init__(self, latent_dim: int, hidden: tuple[int, ...] = (64,), *,
                 likelihood: DecoderLikelihood = DecoderLikelihood.GAUSSIAN,
                 decoder_variance: float | None = None, min_variance: float = 1e-4,
                 steps: int = 2000, lr: float = 1e-3, final_lr: float | None = None,
                 batch_size: int = 128, samples: int = 1) -> None:
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.likelihood = likelihood
        self.decoder_variance = decoder_variance
        self.min_variance = min_variance
        self.steps = steps
        self.lr = lr
        self.final_lr = final_lr
        self.batch_size = batch_size
        self.samples = samples

    def _validate(self) -> None:
        check_positive_int(self.latent_dim, "latent_dim")
        check_positive_ints(self.hidden, "hidden")
        if not isinstance(self.likelihood, DecoderLikelihood):
            raise ValueError(f"likelihood: expected a DecoderLikelihood, got {self.likelihood!r}")
        if self.decoder_variance is not None:
            if self.likelihood is not DecoderLikelihood.GAUSSIAN:
                raise ValueError("decoder_variance: expected None unless likelihood is "
                                 "DecoderLikelihood.GAUSSIAN")
            check_real(self.decoder_variance, "decoder_variance", positive=True)
        check_real(self.min_variance, "min_variance", positive=True)
        check_positive_int(self.steps, "steps")
        _learning_rates(self.lr, self.final_lr)
        check_positive_int(self.batch_size, "batch_size")
        check_positive_int(self.samples, "samples")

    # ------------------------------------------------------------------- training

    def fit(self, x: Tensor, *, generator: torch.Generator,
            progress: ProgressCallback | None = None) -> VAE:
        """Train on ``x: (n, d)`` (values in [0, 1] for ``BERNOULLI``); returns ``self``.

        Networks take the dtype and device of ``x``; ``generator`` (on that device) draws the
        initialisation, the minibatches and the reparameterisation noise.

        Raises:
            ValueError: on bad hyperparameters, data or generator.
            TrainingDivergedError: the ELBO became NaN/inf or exploded (lower ``lr``).
        """
        self._validate()
        x = _check_matrix(x, "x")
        _check_generator(generator)
        if self.likelihood is DecoderLikelihood.BERNOULLI and not bool(
                torch.all((x >= 0) & (x <= 1))):
            raise ValueError("x: expected values in [0, 1] for DecoderLikelihood.BERNOULLI")
        _forget(self, _VAE_STATE)
        try:
            return self._train(x, generator, progress)
        except BaseException:  # a diverged fit leaves the estimator unfitted
            _forget(self, _VAE_STATE)
            raise

    def _train(self, x: Tensor, generator: torch.Generator,
               progress: ProgressCallback | None) -> VAE:
        d, k = x.shape[1], self.latent_dim
        hidden = tuple(self.hidden)
        options = dict(generator=generator, dtype=x.dtype, device=x.device)
        self.encoder_ = _mlp((d, *hidden, 2 * k), **options)
        self.decoder_ = _mlp((k, *reversed(hidden), d), **options)
        learned = (self.likelihood is DecoderLikelihood.GAUSSIAN_DIAGONAL
                   or (self.likelihood is DecoderLikelihood.GAUSSIAN
                       and self.decoder_variance is None))
        self.variance_parameter_: nn.Parameter | None = None
        if learned:
            # rho with min_variance + softplus(rho) = 1: unit variance at the start.
            start = math.log(math.expm1(max(1.0 - self.min_variance, 1e-6)))
            shape = (d,) if self.likelihood is DecoderLikelihood.GAUSSIAN_DIAGONAL else ()
            self.variance_parameter_ = nn.Parameter(
                torch.full(shape, start, dtype=x.dtype, device=x.device))
        self.n_features_in_ = d
        params = [*self.encoder_.parameters(), *self.decoder_.parameters()]
        if self.variance_parameter_ is not None:
            params.append(self.variance_parameter_)
        lr, final_lr = _learning_rates(self.lr, self.final_lr)
        adam = torch.optim.Adam(params, lr=lr)
        schedule = _geometric_schedule(adam, lr, final_lr, self.steps)
        monitor = TrainingMonitor(self.steps, solver="VAE", progress=progress, every=10)
        history = []
        for step in range(1, self.steps + 1):
            batch = _minibatch(x, self.batch_size, generator)
            adam.zero_grad(set_to_none=True)
            loss = -self._elbo(batch, generator, self.samples).mean()
            loss.backward()
            adam.step()
            schedule.step()
            history.append(float(loss.detach()))
            monitor.step(step, history[-1])
        for p in params:
            p.requires_grad_(False)
        self.history_ = history
        return self

    # ------------------------------------------------------------------- the model

    def _check_fitted(self, method: str) -> None:
        if not hasattr(self, "decoder_"):
            raise ValueError(f"{method}: the VAE is not fitted; call fit first")

    def _dtype(self) -> torch.dtype:
        return self.decoder_[-1].weight.dtype

    def observation_variance(self) -> Tensor:
        r"""The Gaussian decoder's variance: a 0-d :math:`s^2` (``GAUSSIAN``) or ``(d,)``
        :math:`s_j^2` (``GAUSSIAN_DIAGONAL``).

        Raises:
            ValueError: before :meth:`fit`, or for ``BERNOULLI``.
        """
        self._check_fitted("observation_variance")
        if self.likelihood is DecoderLikelihood.BERNOULLI:
            raise ValueError("likelihood: DecoderLikelihood.BERNOULLI has no observation "
                             "variance")
        if self.variance_parameter_ is None:
            w = self.decoder_[-1].weight
            return torch.tensor(float(self.decoder_variance), dtype=w.dtype, device=w.device)
        return self.min_variance + functional.softplus(self.variance_parameter_)

    def _log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        r"""``(L, n)`` values of :math:`\log p_\theta(x \mid z)` for ``x: (n, d)``,
        ``z: (L, n, k)``."""
        out = self.decoder_(z)
        if self.likelihood is DecoderLikelihood.BERNOULLI:
            return -functional.binary_cross_entropy_with_logits(
                out, x.expand_as(out), reduction="none").sum(-1)
        var = self.observation_variance()
        return -0.5 * ((x - out).square() / var + torch.log(var) + _LOG_2PI).sum(-1)

    def _encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        out = self.encoder_(x)
        k = self.latent_dim
        return out[..., :k], out[..., k:]

    def _elbo(self, x: Tensor, generator: torch.Generator, samples: int) -> Tensor:
        mean, log_var = self._encode(x)
        z = reparameterise(mean, log_var, generator=generator, samples=samples)
        return self._log_likelihood(x, z).mean(0) - kl_to_standard_normal(mean, log_var)

    def _check_input(self, x: object, method: str) -> Tensor:
        self._check_fitted(method)
        return _check_matrix(x, "x", columns=self.n_features_in_, dtype=self._dtype())

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        r"""The encoder :math:`q_\phi(z \mid x)`: ``(mean, log_variance)``, each ``(n, k)``, for
        ``x: (n, d)``."""
        x = self._check_input(x, "encode")
        with torch.no_grad():
            return self._encode(x)

    def transform(self, x: Tensor) -> Tensor:
        r"""Latent coordinates: the posterior means :math:`\mu_\phi(x)`, ``(n, k)``."""
        return self.encode(x)[0]

    def decode(self, z: Tensor) -> Tensor:
        r"""The decoder's mean :math:`\mathbb E[x \mid z]`: :math:`f_\theta(z)` (Gaussian) or
        :math:`\operatorname{sigmoid}(f_\theta(z))` (Bernoulli), ``(n, d)`` for ``z: (n, k)``."""
        self._check_fitted("decode")
        z = _check_matrix(z, "z", columns=self.latent_dim, dtype=self._dtype())
        with torch.no_grad():
            out = self.decoder_(z)
        return torch.sigmoid(out) if self.likelihood is DecoderLikelihood.BERNOULLI else out

    def reconstruct(self, x: Tensor) -> Tensor:
        r"""The decoder's mean at the posterior mean, :math:`\mathbb E[x \mid z = \mu_\phi(x)]`,
        ``(n, d)``."""
        return self.decode(self.transform(x))

    def elbo(self, x: Tensor, *, generator: torch.Generator, samples: int = 1) -> Tensor:
        r"""Per-row ELBO, unbiased Monte Carlo estimate with ``samples`` reparameterised draws:

        .. math::
            \widehat{\mathrm{ELBO}}(x) = \frac1L\sum_{l=1}^L \log p_\theta(x \mid z_l)
                - \mathrm{KL}\big(q_\phi(z \mid x)\,\|\,\mathcal N(0, I)\big),
            \qquad z_l = \mu_\phi(x) + \sigma_\phi(x) \odot \varepsilon_l .

        Returns:
            ``(n,)`` estimates, each :math:`\le \log p_\theta(x)` in expectation.
        """
        x = self._check_input(x, "elbo")
        samples = check_positive_int(samples, "samples")
        _check_generator(generator)
        with torch.no_grad():
            return self._elbo(x, generator, samples)

    def sample(self, n: int, *, generator: torch.Generator) -> Tensor:
        r"""``(n, d)`` draws from the model :math:`p_\theta(x) = \int p_\theta(x \mid z)\,p(z)
        \,dz`: :math:`z \sim \mathcal N(0, I_k)`, then :math:`x \sim p_\theta(x \mid z)`
        (observation noise included; :meth:`decode` gives the noiseless means)."""
        self._check_fitted("sample")
        n = check_positive_int(n, "n")
        _check_generator(generator)
        w = self.decoder_[-1].weight
        z = torch.randn(n, self.latent_dim, generator=generator, dtype=w.dtype, device=w.device)
        with torch.no_grad():
            out = self.decoder_(z)
            if self.likelihood is DecoderLikelihood.BERNOULLI:
                return torch.bernoulli(torch.sigmoid(out), generator=generator)
            noise = torch.randn(out.shape, generator=generator, dtype=w.dtype, device=w.device)
            return out + self.observation_variance().sqrt() * noise

    def __repr__(self) -> str:
        return (f"VAE({self.latent_dim}, hidden={self.hidden}, likelihood={self.likelihood}, "
                f"steps={self.steps})")
