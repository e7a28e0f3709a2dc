r"""Learned scores: denoising score matching with a small time-conditioned network.

For a forward process with transitions :math:`x_t = a(t)x_0 + \sigma(t)z`, the conditional score
is :math:`\nabla_x\log p(x_t\mid x_0) = -z/\sigma(t)`, and for every :math:`t` (Vincent 2011,
eq. 11 and appendix)

.. math::
    \mathbb E\,\big|s(x_t) + z/\sigma_t\big|^2
    = \mathbb E\,\big|s(x_t) - \nabla\log p_t(x_t)\big|^2 + C(t), \qquad
    C(t) = \frac{1}{\sigma_t^2}\,\mathbb E\operatorname{tr}\operatorname{Cov}(z\mid x_t),

since :math:`\nabla\log p_t(x_t) = -\mathbb E[z\mid x_t]/\sigma_t`: the cross term vanishes and
:math:`C(t)` does not depend on :math:`s`. So the denoising score-matching (DSM) loss

.. math::
    L(s) = \mathbb E_{t\sim U[t_{\min}, t_{\max}]}\ \lambda(t)\
        \mathbb E_{x_0\sim p_0,\, z\sim\mathcal N(0, I)}\ \big|s(a_t x_0 + \sigma_t z, t)
        + z/\sigma_t\big|^2, \qquad \lambda(t) = \sigma_t^2,

(Song & Ermon 2019, eq. 2; Song et al. 2021, eq. 7) is minimised by the exact score
:math:`\nabla\log p_t`, its excess over the minimum is the weighted score error
:math:`\mathbb E_t\,\sigma_t^2\,\mathbb E|s - \nabla\log p_t|^2`, and the minimum is
:math:`L_{\min} = \mathbb E_t\,\mathbb E\operatorname{tr}\operatorname{Cov}(z\mid x_t)`. For
Gaussian data :math:`\mathcal N(\mu, \Sigma)`, with :math:`S_t = a_t^2\Sigma + \sigma_t^2 I`,
:math:`\operatorname{Cov}(z\mid x_t) = I - \sigma_t^2 S_t^{-1}`, so
:math:`L_{\min} = \mathbb E_t \operatorname{tr}(a_t^2\Sigma S_t^{-1})`.

The weighting :math:`\lambda = \sigma^2` makes every time contribute at the same scale
(:math:`|z|^2 \approx d`), and with the *noise-prediction* parameterisation used here,
:math:`s_\theta(x, t) = -\varepsilon_\theta(x, t)/\sigma_t`, the loss is
:math:`\mathbb E|\varepsilon_\theta(x_t, t) - z|^2`, the "simple" loss of Ho, Jain & Abbeel
(2020, eq. 14).

The network (:class:`ScoreMLP`) conditions on the noise level :math:`\log\sigma_t` (not on
:math:`t`, so one design serves every process; Song & Ermon 2019 condition on :math:`\sigma`
likewise) through sinusoids :math:`\sin(\omega_j\log\sigma_t), \cos(\omega_j\log\sigma_t)`
(the sinusoidal embedding of Vaswani et al. 2017, used for the time by Ho et al. 2020), and reads
its input scaled by :math:`c_{\rm in}(t) = (a_t^2 + \sigma_t^2)^{-1/2}`, the inverse standard
deviation of :math:`x_t` per coordinate when the data have unit variance per coordinate
(Karras et al. 2022, Table 1): inputs of order one at every time, for variance-exploding
processes too.

References:
    P. Vincent, "A connection between score matching and denoising autoencoders", Neural
    Computation 23 (2011) 1661-1674; Y. Song & S. Ermon, "Generative modeling by estimating
    gradients of the data distribution", NeurIPS 2019; Y. Song et al., "Score-based generative
    modeling through stochastic differential equations", ICLR 2021; J. Ho, A. Jain, P. Abbeel,
    "Denoising diffusion probabilistic models", NeurIPS 2020; A. Vaswani et al., "Attention is
    all you need", NeurIPS 2017 (sinusoidal embeddings); T. Karras, M. Aittala, T. Aila,
    S. Laine, "Elucidating the design space of diffusion-based generative models", NeurIPS 2022;
    S. Elfwing, E. Uchibe, K. Doya, "Sigmoid-weighted linear units", Neural Networks 107 (2018)
    (SiLU).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from mathdl._monitor import ProgressCallback, TrainingMonitor
from mathdl._validation import check_positive_int, check_positive_ints, check_real
from mathdl.generative._mixtures import ScoreFunction
from mathdl.generative._processes import ForwardProcess, _check_process, check_time

__all__ = ["DenoisingScoreMatching", "ScoreMLP", "denoising_score_matching_loss"]

TimedScore = Callable[[Tensor, Tensor], Tensor]
"""A score evaluated at one time per row: ``score(x: (n, d), t: (n,)) -> (n, d)``."""

# frequencies of the sinusoidal embedding of log sigma: geometric from 1/4 to 8, so that the
# log-noise range of every process here (about [-6, 3]) is resolved and never aliased
_OMEGA_MIN = 0.25
_OMEGA_MAX = 8.0


def _linear(fan_in: int, fan_out: int, generator: torch.Generator, dtype: torch.dtype,
            device: torch.device | str | None) -> nn.Linear:
    """nn.Linear with PyTorch's default law U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn from
    ``generator`` on its device, then moved to ``device``."""
    layer = nn.Linear(fan_in, fan_out, dtype=dtype, device=device)
    bound = 1 / math.sqrt(fan_in)
    on = {"generator": generator, "dtype": dtype, "device": generator.device}
    with torch.no_grad():
        layer.weight.copy_(bound * (2 * torch.rand(fan_out, fan_in, **on) - 1))
        layer.bias.copy_(bound * (2 * torch.rand(fan_out, **on) - 1))
    return layer


class ScoreMLP(nn.Module):
    r"""A time-conditioned multilayer perceptron for the score of a forward process, in the
    noise-prediction parameterisation.

    .. math::
        \varepsilon_\theta(x, t) = \mathrm{MLP}\big(c_{\rm in}(t)\,x,\ e(\log\sigma_t)\big),
        \qquad s_\theta(x, t) = -\varepsilon_\theta(x, t)/\sigma_t ,

    with :math:`c_{\rm in}(t) = (a_t^2 + \sigma_t^2)^{-1/2}`, the embedding
    :math:`e(c) = (\sin\omega_j c, \cos\omega_j c)_{j=1}^m`, :math:`\omega_j` geometric from
    1/4 to 8, and a SiLU MLP (:math:`\mathrm{silu}(u) = u/(1 + e^{-u})`) on the concatenation
    (module docstring). Initial weights follow PyTorch's default law, drawn from ``generator``.

    Args:
        dim: data dimension :math:`d`.
        process: the forward process (gives :math:`a_t`, :math:`\sigma_t`).
        hidden: widths of the hidden layers.
        frequencies: :math:`m`, the number of embedding frequencies (2m features).
        generator: initialisation randomness.
        dtype: parameter dtype (default float32: training speed; the :math:`\sigma_t` are
            computed in float64 and rounded).
        device: parameter device.

    ``forward(x: (n, d), t) -> (n, d)`` is :math:`\varepsilon_\theta`; :meth:`score` is
    :math:`s_\theta`. ``t`` is a float or ``(n,)`` times with :math:`\sigma_t > 0`.

    Raises:
        ValueError: on bad sizes, process or generator.
    """

    def __init__(self, dim: int, process: ForwardProcess, *,
                 hidden: tuple[int, ...] = (128, 128, 128), frequencies: int = 8,
                 generator: torch.Generator, dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        self.dim = check_positive_int(dim, "dim")
        self.process = _check_process(process)
        widths = check_positive_ints(hidden, "hidden")
        if not widths:
            raise ValueError("hidden: expected at least one hidden layer")
        m = check_positive_int(frequencies, "frequencies")
        if not isinstance(generator, torch.Generator):
            raise ValueError("generator: expected a torch.Generator")
        if m == 1:
            omega = torch.tensor([_OMEGA_MIN], dtype=torch.float64)
        else:
            omega = _OMEGA_MIN * (_OMEGA_MAX / _OMEGA_MIN) ** (
                torch.arange(m, dtype=torch.float64) / (m - 1))
        self.register_buffer("omega", omega.to(dtype=dtype, device=device))
        sizes = (dim + 2 * m, *widths, dim)
        self.layers = nn.ModuleList(_linear(a, b, generator, dtype, device)
                                    for a, b in zip(sizes[:-1], sizes[1:], strict=True))

    def _coefficients(self, x: Tensor, t: float | Tensor) -> tuple[Tensor, Tensor]:
        r"""``(sigma_t, c_in(t))`` as ``(n, 1)`` tensors of the parameters' dtype, from float64
        times."""
        if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != self.dim:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x: expected a tensor of shape (n, {self.dim}), got {shape}")
        n = x.shape[0]
        t = check_time(t)
        if isinstance(t, Tensor):
            if t.shape not in ((), (n,)):
                raise ValueError(f"t: expected a float or ({n},) times, got shape "
                                 f"{tuple(t.shape)}")
            t64 = t.to(dtype=torch.float64, device=x.device).expand(n)
        else:
            t64 = torch.full((n,), t, dtype=torch.float64, device=x.device)
        sigma = self.process.std(t64)
        if not bool(torch.all(sigma > 0)):
            raise ValueError("t: expected times with sigma(t) > 0 (t > 0)")
        a = self.process.mean_scale(t64)
        c_in = torch.rsqrt(a * a + sigma * sigma)
        dtype = self.omega.dtype
        return sigma.to(dtype)[:, None], c_in.to(dtype)[:, None]

    def _epsilon(self, x: Tensor, sigma: Tensor, c_in: Tensor) -> Tensor:
        phase = torch.log(sigma) * self.omega  # (n, m)
        h = torch.cat([c_in * x, torch.sin(phase), torch.cos(phase)], dim=1)
        for layer in self.layers[:-1]:
            h = nn.functional.silu(layer(h))
        return self.layers[-1](h)

    def forward(self, x: Tensor, t: float | Tensor) -> Tensor:
        r""":math:`\varepsilon_\theta(x, t)`, ``(n, d)`` (``x`` in the parameters' dtype)."""
        sigma, c_in = self._coefficients(x, t)
        return self._epsilon(x, sigma, c_in)

    def score(self, x: Tensor, t: float | Tensor) -> Tensor:
        r""":math:`s_\theta(x, t) = -\varepsilon_\theta(x, t)/\sigma_t`, ``(n, d)``
        (differentiable; ``x`` in the parameters' dtype)."""
        sigma, c_in = self._coefficients(x, t)
        return -self._epsilon(x, sigma, c_in) / sigma


def denoising_score_matching_loss(score: TimedScore, process: ForwardProcess, x0: Tensor, *,
                                  generator: torch.Generator, t_min: float, t_max: float
                                  ) -> Tensor:
    r"""Monte Carlo estimate of the denoising score-matching loss with :math:`\lambda = \sigma^2`
    (module docstring):

    .. math::
        \hat L = \frac1n\sum_{i=1}^n \big|\sigma_{t_i}\, s(a_{t_i} x_{0,i} + \sigma_{t_i} z_i,
            t_i) + z_i\big|^2, \qquad t_i \sim U[t_{\min}, t_{\max}],\ z_i \sim
            \mathcal N(0, I_d),

    one time and one noise per row, an unbiased estimate of :math:`L(s)`; for the exact score
    its expectation is :math:`L_{\min} = \mathbb E_t\,\mathbb E\operatorname{tr}
    \operatorname{Cov}(z\mid x_t)` (Vincent 2011).

    Args:
        score: ``score(x: (n, d), t: (n,)) -> (n, d)``, one time per row (e.g.
            :meth:`ScoreMLP.score`).
        process: the forward process.
        x0: ``(n, d)`` data points; times and noises take their dtype and device.
        generator: draws the times and the noises.
        t_min, t_max: ``0 < t_min < t_max``.

    Returns:
        0-d tensor, differentiable through ``score``.

    Raises:
        ValueError: on bad shapes, process or times.
    """
    _check_process(process)
    if not isinstance(x0, Tensor) or x0.ndim != 2 or x0.shape[0] < 1 or (
            not torch.is_floating_point(x0)):
        raise ValueError("x0: expected a floating-point tensor of shape (n, d), n >= 1")
    t_min, t_max = _check_interval(t_min, t_max)
    n = x0.shape[0]
    t = t_min + (t_max - t_min) * torch.rand(n, generator=generator, dtype=x0.dtype,
                                             device=x0.device)
    z = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
    sigma = process.std(t)[:, None]
    xt = process.mean_scale(t)[:, None] * x0 + sigma * z
    return (sigma * score(xt, t) + z).square().sum(1).mean()


def _check_interval(t_min: float, t_max: float) -> tuple[float, float]:
    t_min = check_real(t_min, "t_min", positive=True)
    t_max = check_real(t_max, "t_max", positive=True)
    if not t_max > t_min:
        raise ValueError(f"t_max: expected t_max > t_min = {t_min}, got {t_max}")
    return t_min, t_max


class DenoisingScoreMatching:
    r"""Learn the score of the forward marginals of a data set by denoising score matching.

    Minimises :func:`denoising_score_matching_loss` over a :class:`ScoreMLP` with Adam:
    at each step a minibatch of ``batch_size`` rows drawn uniformly with replacement, fresh
    times and noises; the learning rate decays geometrically from ``lr`` to ``final_lr``.
    Constructor stores; :meth:`fit` trains and returns ``self``.

    Args:
        process: the forward process.
        t_max: the largest time :math:`T` (the samplers start there).
        t_min: the smallest time (> 0: :math:`\sigma_{t_{\min}} > 0`).
        hidden, frequencies: of the :class:`ScoreMLP`.
        steps: Adam steps; batch_size: rows per step.
        lr: initial learning rate; final_lr: last one (default ``lr / 10``).
        dtype: training dtype (default float32: several times faster than float64 on CPU, and
            the loss is a Monte Carlo estimate far above float32 rounding); ``None``: the data's.

    After :meth:`fit`: ``model_`` (the trained :class:`ScoreMLP`, on the data's device),
    ``score_`` (a :data:`ScoreFunction` ``(x: (n, d), t: float) -> (n, d)`` for
    :func:`sample`: evaluated without gradients, returned in the dtype of ``x``) and
    ``history_`` (the loss estimate at each step).

    Raises:
        ValueError: on bad arguments (naming them).
    """

    def __init__(self, process: ForwardProcess, *, t_max: float, t_min: float = 1e-3,
                 hidden: tuple[int, ...] = (128, 128, 128), frequencies: int = 8,
                 steps: int = 2000, batch_size: int = 256, lr: float = 2e-3,
                 final_lr: float | None = None, dtype: torch.dtype | None = torch.float32
                 ) -> None:
        self.process = _check_process(process)
        self.t_min, self.t_max = _check_interval(t_min, t_max)
        self.hidden = check_positive_ints(hidden, "hidden")
        if not self.hidden:
            raise ValueError("hidden: expected at least one hidden layer")
        self.frequencies = check_positive_int(frequencies, "frequencies")
        self.steps = check_positive_int(steps, "steps")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.lr = check_real(lr, "lr", positive=True)
        self.final_lr = self.lr / 10 if final_lr is None else check_real(final_lr, "final_lr",
                                                                         positive=True)
        if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise ValueError(f"dtype: expected a floating torch.dtype or None, got {dtype!r}")
        self.dtype = dtype

    def fit(self, x: Tensor, *, generator: torch.Generator,
            progress: ProgressCallback | None = None) -> DenoisingScoreMatching:
        """Train on ``x: (n, d)`` (its device is used; ``generator`` must live there too).

        Raises:
            ValueError: on a bad ``x`` or ``generator``.
            TrainingDivergedError: the loss became NaN/inf or exploded (lower ``lr``).
        """
        if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[0] < 1 or (
                not torch.is_floating_point(x)):
            raise ValueError("x: expected a floating-point tensor of shape (n, d), n >= 1")
        if not bool(torch.all(torch.isfinite(x))):
            raise ValueError("x: expected finite values")
        if not isinstance(generator, torch.Generator):
            raise ValueError("generator: expected a torch.Generator")
        dtype = x.dtype if self.dtype is None else self.dtype
        data = x.detach().to(dtype)
        n, d = data.shape
        model = ScoreMLP(d, self.process, hidden=self.hidden, frequencies=self.frequencies,
                         generator=generator, dtype=dtype, device=data.device)
        adam = torch.optim.Adam(model.parameters(), lr=self.lr)
        decay = (self.final_lr / self.lr) ** (1 / max(self.steps - 1, 1))
        schedule = torch.optim.lr_scheduler.ExponentialLR(adam, gamma=decay)
        monitor = TrainingMonitor(self.steps, solver="Denoising score matching",
                                  progress=progress, every=10)
        history = []
        for step in range(1, self.steps + 1):
            rows = torch.randint(0, n, (self.batch_size,), generator=generator,
                                 device=data.device)
            loss = denoising_score_matching_loss(model.score, self.process, data[rows],
                                                 generator=generator, t_min=self.t_min,
                                                 t_max=self.t_max)
            adam.zero_grad(set_to_none=True)
            loss.backward()
            adam.step()
            schedule.step()
            history.append(float(loss.detach()))
            monitor.step(step, history[-1])
        model.eval()
        self.model_ = model
        self.history_ = history
        self.score_ = _frozen_score(model)
        return self


def _frozen_score(model: ScoreMLP) -> ScoreFunction:
    dtype = model.omega.dtype

    def score(x: Tensor, t: float | Tensor) -> Tensor:
        with torch.no_grad():
            return model.score(x.to(dtype), t).to(x.dtype)

    return score
