r"""Generative adversarial networks: the non-saturating GAN and the Wasserstein GAN with a
gradient penalty (two-sided or one-sided), with their losses, the optimal discriminator, and an
estimator for vectors.

A generator :math:`G: \mathbb R^m \to \mathbb R^d` pushes :math:`z \sim \mathcal N(0, I_m)`
forward to a law :math:`q = G_\# \mathcal N(0, I)`, trained against a discriminator (critic)
:math:`D` that tells it from the data law :math:`p`.

**Non-saturating GAN** (Goodfellow et al. 2014). With :math:`D = \operatorname{sigmoid}(h)`,
:math:`h` the critic's logit, the discriminator maximises

.. math::
    V(D, G) = \mathbb E_{x \sim p}\log D(x) + \mathbb E_{x \sim q}\log\big(1 - D(x)\big),

pointwise in :math:`D(x)`, so its optimum is :math:`D^*(x) = p(x) / (p(x) + q(x))` (Prop. 1)
and :math:`V(D^*, G) = 2\,\mathrm{JS}(p \,\|\, q) - \log 4` (Thm. 1), minimal exactly at
:math:`q = p`. The generator does not minimise :math:`\mathbb E_q\log(1 - D)`, whose gradient
vanishes when :math:`D` rejects the fakes confidently, but maximises :math:`\mathbb E_q \log D`
(the "non-saturating" heuristic of §3); in logits, with :math:`\log\operatorname{sigmoid}(h) =
-\operatorname{softplus}(-h)`,

.. math::
    L_D = \mathbb E_p \operatorname{softplus}(-h) + \mathbb E_q \operatorname{softplus}(h),
    \qquad L_G = \mathbb E_{z}\operatorname{softplus}\big(-h(G(z))\big).

**Wasserstein GAN with gradient penalty** (Gulrajani et al. 2017). By Kantorovich–Rubinstein
duality :math:`W_1(p, q) = \sup_{\|f\|_{\mathrm{Lip}} \le 1} \mathbb E_p f - \mathbb E_q f`
(Arjovsky et al. 2017); the 1-Lipschitz constraint is imposed softly, on the segments between
real and generated points, where the optimal critic has unit gradient norm (Gulrajani et al.
2017, Prop. 1):

.. math::
    L_D = \mathbb E_q f - \mathbb E_p f + \lambda\,\mathbb E_{\hat x}\big(\|\nabla f(\hat x)\|_2
        - 1\big)^2, \quad \hat x = t x + (1 - t)\tilde x,\ t \sim U[0, 1],
    \qquad L_G = -\mathbb E_z f(G(z)),

with :math:`\lambda = 10`, five critic steps per generator step and Adam with
:math:`(\beta_1, \beta_2) = (0, 0.9)`, learning rate :math:`10^{-4}` (their Algorithm 1). The
penalty replaces weight clipping (Arjovsky et al. 2017), which restricts the critic to a box of
weights rather than to Lipschitz functions and biases it towards simple functions (Gulrajani et
al. 2017, §3). The one-sided penalty :math:`\lambda\,\mathbb E\max(0, \|\nabla f(\hat x)\|_2 -
1)^2` (``WASSERSTEIN_LP``, Petzka, Fischer & Lukovnicov 2018) penalises only violations of the
constraint. The difference matters in one dimension: the two-sided penalty holds
:math:`|f'| \approx 1`, so changing the sign of :math:`f'` on a region of mass :math:`w` passes
through :math:`f' = 0` at a cost of order :math:`\lambda w`, and a critic that starts in the wrong
sign pattern can stay there (between :math:`\mathcal N(0, 1)` and :math:`\mathcal N(0, 0.3^2)`,
whose optimal critic is :math:`|x|`, we saw a randomly initialised critic settle, after 1000 Adam
steps, at the dual value 0.04 against :math:`W_1 = 0.56`, where the one-sided penalty reached
0.555); the one-sided penalty has no such barrier. In dimension :math:`\ge 2` the gradient can
turn at constant norm and both penalties work.

Networks are multilayer perceptrons with SiLU activations, initialised from PyTorch's default
uniform law drawn from the caller's generator; ``generator_hidden=()`` makes :math:`G` affine
(then :math:`q` is Gaussian, and it can equal a Gaussian :math:`p` exactly).

References:
    I. Goodfellow et al., "Generative adversarial nets", NeurIPS 2014 (arXiv:1406.2661);
    M. Arjovsky, S. Chintala, L. Bottou, "Wasserstein generative adversarial networks", ICML 2017;
    I. Gulrajani, F. Ahmed, M. Arjovsky, V. Dumoulin, A. Courville, "Improved training of
    Wasserstein GANs", NeurIPS 2017 (arXiv:1704.00028); H. Petzka, A. Fischer, D. Lukovnicov,
    "On the regularization of Wasserstein GANs", ICLR 2018 (arXiv:1709.08894); A. Radford,
    L. Metz, S. Chintala, "Unsupervised representation learning with deep convolutional
    generative adversarial networks", ICLR 2016 (Adam with :math:`\beta_1 = 0.5`, learning rate
    :math:`2\cdot 10^{-4}`).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn import functional

from mathdl._monitor import ProgressCallback, TrainingDivergedError, TrainingMonitor
from mathdl._validation import check_positive_int, check_positive_ints, check_real
from mathdl.generative._vae import (
    _check_generator,
    _check_matrix,
    _forget,
    _geometric_schedule,
    _learning_rates,
    _minibatch,
    _mlp,
)

__all__ = [
    "GAN",
    "GANLoss",
    "discriminator_loss",
    "generator_loss",
    "gradient_penalty",
    "optimal_discriminator",
]


class GANLoss(enum.Enum):
    """The adversarial objective (module docstring).

    ``NON_SATURATING``: Goodfellow et al. (2014), generator maximising :math:`\\mathbb E_q\\log D`.
    ``WASSERSTEIN_GP``: Gulrajani et al. (2017), a critic with the two-sided gradient penalty.
    ``WASSERSTEIN_LP``: Petzka et al. (2018), a critic with the one-sided gradient penalty.
    """

    NON_SATURATING = "non_saturating"
    WASSERSTEIN_GP = "wasserstein_gp"
    WASSERSTEIN_LP = "wasserstein_lp"


def _check_scores(scores: object, name: str) -> Tensor:
    if not isinstance(scores, Tensor) or not torch.is_floating_point(scores) or scores.ndim != 1:
        raise ValueError(f"{name}: expected a floating-point tensor of shape (n,)")
    if scores.shape[0] < 1:
        raise ValueError(f"{name}: expected at least one score")
    return scores


def _check_loss(loss: object) -> GANLoss:
    if not isinstance(loss, GANLoss):
        raise ValueError(f"loss: expected a GANLoss, got {loss!r}")
    return loss


def discriminator_loss(real_scores: Tensor, fake_scores: Tensor, loss: GANLoss) -> Tensor:
    r"""The discriminator's (critic's) loss, without the gradient penalty:

    .. math::
        \text{NON\_SATURATING: } \frac1n\sum_i\operatorname{softplus}(-h(x_i))
            + \frac1m\sum_j\operatorname{softplus}(h(\tilde x_j)) = -\hat V(D, G),
        \qquad
        \text{WASSERSTEIN\_GP, \_LP: } \frac1m\sum_j f(\tilde x_j) - \frac1n\sum_i f(x_i).

    Args:
        real_scores: ``(n,)`` critic outputs :math:`h(x_i)` (logits) or :math:`f(x_i)` on data.
        fake_scores: ``(m,)`` critic outputs on generated points :math:`\tilde x_j`.
        loss: :class:`GANLoss`.

    Returns:
        A 0-d tensor, differentiable.
    """
    real_scores = _check_scores(real_scores, "real_scores")
    fake_scores = _check_scores(fake_scores, "fake_scores")
    if _check_loss(loss) is GANLoss.NON_SATURATING:
        return functional.softplus(-real_scores).mean() + functional.softplus(fake_scores).mean()
    return fake_scores.mean() - real_scores.mean()


def generator_loss(fake_scores: Tensor, loss: GANLoss) -> Tensor:
    r"""The generator's loss: :math:`\frac1m\sum_j\operatorname{softplus}(-h(\tilde x_j)) =
    -\frac1m\sum_j\log D(\tilde x_j)` (``NON_SATURATING``) or :math:`-\frac1m\sum_j
    f(\tilde x_j)` (``WASSERSTEIN_GP``, ``WASSERSTEIN_LP``), for ``fake_scores: (m,)``; a 0-d
    tensor."""
    fake_scores = _check_scores(fake_scores, "fake_scores")
    if _check_loss(loss) is GANLoss.NON_SATURATING:
        return functional.softplus(-fake_scores).mean()
    return -fake_scores.mean()


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, *,
                     generator: torch.Generator, one_sided: bool = False) -> Tensor:
    r"""The WGAN-GP penalty (Gulrajani et al. 2017, eq. 3, without the factor :math:`\lambda`),
    or its one-sided form (Petzka et al. 2018):

    .. math::
        \frac1n\sum_{i=1}^n\big(\|\nabla f(\hat x_i)\|_2 - 1\big)^2 \quad\text{or}\quad
        \frac1n\sum_{i=1}^n\max\big(0, \|\nabla f(\hat x_i)\|_2 - 1\big)^2, \qquad
        \hat x_i = t_i x_i + (1 - t_i)\tilde x_i,\ t_i \sim U[0, 1],

    differentiable with respect to the critic's parameters (double backpropagation).

    Args:
        critic: :math:`f`, ``(n, d) -> (n,)``.
        real, fake: ``(n, d)`` data and generated points, paired row by row.
        generator: the source of :math:`t` (on the inputs' device).
        one_sided: penalise only gradient norms above 1.

    Returns:
        A 0-d tensor; zero for an affine critic with a unit-norm slope (and, one-sided, for
        every 1-Lipschitz critic).

    Raises:
        ValueError: on mismatched shapes, or a critic that does not return ``(n,)``.
    """
    real = _check_matrix(real, "real")
    if not isinstance(fake, Tensor) or fake.shape != real.shape or fake.dtype != real.dtype:
        raise ValueError(f"fake: expected a tensor of shape {tuple(real.shape)} and dtype "
                         f"{real.dtype} like real")
    _check_generator(generator)
    t = torch.rand(real.shape[0], 1, generator=generator, dtype=real.dtype, device=real.device)
    x_hat = (t * real.detach() + (1 - t) * fake.detach()).requires_grad_(True)
    with torch.enable_grad():
        scores = critic(x_hat)
        if not isinstance(scores, Tensor) or scores.shape != (real.shape[0],):
            raise ValueError(f"critic: expected outputs of shape ({real.shape[0]},)")
        (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    if not isinstance(one_sided, bool):
        raise ValueError(f"one_sided: expected a bool, got {one_sided!r}")
    excess = torch.linalg.vector_norm(grad, dim=1) - 1
    return (excess.clamp_min(0) if one_sided else excess).square().mean()


def optimal_discriminator(log_p: Tensor, log_q: Tensor) -> Tensor:
    r"""The discriminator maximising :math:`V(D, G)` for fixed laws (Goodfellow et al. 2014,
    Prop. 1), evaluated at points where the log-densities are known:

    .. math::
        D^*(x) = \frac{p(x)}{p(x) + q(x)} = \operatorname{sigmoid}\big(\log p(x) - \log q(x)\big),

    its logit being the log-density ratio; :math:`V(D^*, G) = 2\,\mathrm{JS}(p\,\|\,q) - \log 4`.

    Args:
        log_p, log_q: log-densities of the data and the generator's law, same shape.

    Returns:
        :math:`D^*`, the shape of the inputs, values in :math:`[0, 1]`.
    """
    for name, value in (("log_p", log_p), ("log_q", log_q)):
        if not isinstance(value, Tensor) or not torch.is_floating_point(value):
            raise ValueError(f"{name}: expected a floating-point tensor")
    if log_p.shape != log_q.shape:
        raise ValueError(f"log_q: expected the shape of log_p {tuple(log_p.shape)}, got "
                         f"{tuple(log_q.shape)}")
    return torch.sigmoid(log_p - log_q)


class _Critic(nn.Module):
    """An MLP ``(n, d) -> (n,)``."""

    def __init__(self, body: nn.Sequential) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x).squeeze(-1)


class GAN:
    r"""Generative adversarial network for vectors (module docstring), trained by alternating
    Adam steps on the critic and the generator.

    Constructor stores; :meth:`fit` builds and trains the networks and returns ``self``.

    Args:
        latent_dim: :math:`m`, dimension of the noise :math:`z \sim \mathcal N(0, I_m)`.
        generator_hidden, critic_hidden: hidden widths of :math:`G` and of the critic (``()``
            for affine maps).
        loss: :class:`GANLoss`.
        steps: generator steps.
        critic_steps: critic steps per generator step (default 1 for ``NON_SATURATING``, 5 for
            the Wasserstein losses).
        lr: Adam's initial learning rate for both networks (default :math:`2\cdot 10^{-4}` for
            ``NON_SATURATING``, :math:`10^{-4}` for the Wasserstein losses), decayed
            geometrically to ``final_lr`` (default: constant).
        betas: Adam's :math:`(\beta_1, \beta_2)` (default :math:`(0.5, 0.999)` and
            :math:`(0, 0.9)` respectively).
        batch_size: data rows and noise draws per step.
        penalty: :math:`\lambda` of the Wasserstein losses' gradient penalty.
        standardise: train on columns standardised by their mean and standard deviation
            (learned in :meth:`fit`, a constant column keeps scale 1) and map samples back.

    After :meth:`fit`: ``generator_network_`` (:math:`G`, ``(n, m) -> (n, d)`` in standardised
    units), ``critic_`` (``(n, d) -> (n,)``), ``mean_``, ``scale_`` (``(d,)``; zeros and ones
    when ``standardise`` is false), ``n_features_in_``, ``history_`` (``(critic loss, generator
    loss)`` at each generator step; the critic loss includes the penalty).
    """

    def __init__(self, latent_dim: int = 2, generator_hidden: tuple[int, ...] = (64, 64),
                 critic_hidden: tuple[int, ...] = (64, 64), *,
                 loss: GANLoss = GANLoss.NON_SATURATING, steps: int = 2000,
                 critic_steps: int | None = None, lr: float | None = None,
                 final_lr: float | None = None, betas: tuple[float, float] | None = None,
                 batch_size: int = 128, penalty: float = 10.0, standardise: bool = True) -> None:
        self.latent_dim = latent_dim
        self.generator_hidden = generator_hidden
        self.critic_hidden = critic_hidden
        self.loss = loss
        self.steps = steps
        self.critic_steps = critic_steps
        self.lr = lr
        self.final_lr = final_lr
        self.betas = betas
        self.batch_size = batch_size
        self.penalty = penalty
        self.standardise = standardise

    def _settings(self) -> tuple[int, float, float, tuple[float, float]]:
        """Validate; return (critic_steps, lr, final_lr, betas) with the loss's defaults."""
        check_positive_int(self.latent_dim, "latent_dim")
        check_positive_ints(self.generator_hidden, "generator_hidden")
        check_positive_ints(self.critic_hidden, "critic_hidden")
        wasserstein = _check_loss(self.loss) is not GANLoss.NON_SATURATING
        check_positive_int(self.steps, "steps")
        critic_steps = (5 if wasserstein else 1) if self.critic_steps is None else (
            check_positive_int(self.critic_steps, "critic_steps"))
        lr = (1e-4 if wasserstein else 2e-4) if self.lr is None else self.lr
        lr, final_lr = _learning_rates(lr, self.final_lr)
        betas = ((0.0, 0.9) if wasserstein else (0.5, 0.999)) if self.betas is None else self.betas
        if not (isinstance(betas, tuple) and len(betas) == 2 and all(
                isinstance(b, int | float) and not isinstance(b, bool) and 0 <= b < 1
                for b in betas)):
            raise ValueError(f"betas: expected a pair of numbers in [0, 1), got {betas!r}")
        check_positive_int(self.batch_size, "batch_size")
        check_real(self.penalty, "penalty", nonnegative=True)
        if not isinstance(self.standardise, bool):
            raise ValueError(f"standardise: expected a bool, got {self.standardise!r}")
        return critic_steps, lr, final_lr, (float(betas[0]), float(betas[1]))

    def fit(self, x: Tensor, *, generator: torch.Generator,
            progress: ProgressCallback | None = None) -> GAN:
        """Train on ``x: (n, d)``; returns ``self``.

        Networks take the dtype and device of ``x``; ``generator`` (on that device) draws the
        initialisation, the minibatches, the noise and the penalty's interpolation points.

        Raises:
            ValueError: on bad hyperparameters, data or generator.
            TrainingDivergedError: a loss became NaN/inf or the critic loss exploded.
        """
        critic_steps, lr, final_lr, betas = self._settings()
        x = _check_matrix(x, "x", min_rows=2)
        _check_generator(generator)
        _forget(self, ("generator_network_", "critic_", "mean_", "scale_", "n_features_in_",
                       "history_"))
        n, d = x.shape
        if self.standardise:
            mean, scale = x.mean(0), x.std(0, correction=0)
            scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        else:
            mean, scale = torch.zeros_like(x[0]), torch.ones_like(x[0])
        data = (x - mean) / scale
        options = dict(generator=generator, dtype=x.dtype, device=x.device)
        m = self.latent_dim
        g_net = _mlp((m, *self.generator_hidden, d), **options)
        critic = _Critic(_mlp((d, *self.critic_hidden, 1), **options))
        opt_g = torch.optim.Adam(g_net.parameters(), lr=lr, betas=betas)
        opt_c = torch.optim.Adam(critic.parameters(), lr=lr, betas=betas)
        schedules = [_geometric_schedule(opt, lr, final_lr, self.steps) for opt in (opt_g, opt_c)]
        monitor = TrainingMonitor(self.steps, solver="GAN", progress=progress, every=10)
        b = self.batch_size
        history = []
        for step in range(1, self.steps + 1):
            for _ in range(critic_steps):
                real = _minibatch(data, b, generator)
                z = torch.randn(real.shape[0], m, generator=generator, dtype=x.dtype,
                                device=x.device)
                with torch.no_grad():
                    fake = g_net(z)
                opt_c.zero_grad(set_to_none=True)
                critic_loss = discriminator_loss(critic(real), critic(fake), self.loss)
                if self.loss is not GANLoss.NON_SATURATING and self.penalty > 0:
                    critic_loss = critic_loss + self.penalty * gradient_penalty(
                        critic, real, fake, generator=generator,
                        one_sided=self.loss is GANLoss.WASSERSTEIN_LP)
                critic_loss.backward()
                opt_c.step()
            z = torch.randn(min(b, n), m, generator=generator, dtype=x.dtype, device=x.device)
            opt_g.zero_grad(set_to_none=True)
            g_loss = generator_loss(critic(g_net(z)), self.loss)
            g_loss.backward()
            opt_g.step()
            for schedule in schedules:
                schedule.step()
            history.append((float(critic_loss.detach()), float(g_loss.detach())))
            if not math.isfinite(history[-1][1]):
                raise TrainingDivergedError(
                    f"GAN diverged at step {step}/{self.steps}: the generator loss is "
                    f"{history[-1][1]}; lower the learning rate")
            monitor.step(step, history[-1][0])
        for p in (*g_net.parameters(), *critic.parameters()):
            p.requires_grad_(False)
        self.generator_network_ = g_net
        self.critic_ = critic
        self.mean_ = mean
        self.scale_ = scale
        self.n_features_in_ = d
        self.history_ = history
        return self

    def sample(self, n: int, *, generator: torch.Generator) -> Tensor:
        r"""``(n, d)`` draws :math:`\text{mean} + \text{scale}\odot G(z)`, :math:`z \sim
        \mathcal N(0, I_m)`, in the units of the data.

        Raises:
            ValueError: before :meth:`fit`, or a bad ``n`` or ``generator``.
        """
        if not hasattr(self, "generator_network_"):
            raise ValueError("sample: the GAN is not fitted; call fit first")
        n = check_positive_int(n, "n")
        _check_generator(generator)
        z = torch.randn(n, self.latent_dim, generator=generator, dtype=self.mean_.dtype,
                        device=self.mean_.device)
        with torch.no_grad():
            return self.mean_ + self.scale_ * self.generator_network_(z)

    def __repr__(self) -> str:
        return (f"GAN({self.latent_dim}, generator_hidden={self.generator_hidden}, "
                f"critic_hidden={self.critic_hidden}, loss={self.loss}, steps={self.steps})")
