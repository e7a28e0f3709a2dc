"""GAN: the optimal discriminator and the value 2 JS - log 4 (Goodfellow et al. 2014, Thm 1) by
quadrature and by Monte Carlo through the library's loss, the gradient penalty on affine critics,
logistic regression with the discriminator loss recovering the log-density ratio, and trained
GANs matching Gaussian data."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import integrate, stats

from mathdl.generative import (
    GAN,
    GANLoss,
    discriminator_loss,
    gaussian_w2,
    generator_loss,
    gradient_penalty,
    optimal_discriminator,
)

F64 = torch.float64
P = (0.0, 1.0)  # data law N(0, 1)
Q = (1.0, 1.5)  # generator's law N(1, 1.5^2)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _log_density(x: torch.Tensor, law: tuple[float, float]) -> torch.Tensor:
    m, s = law
    return -0.5 * ((x - m) / s).square() - math.log(s) - 0.5 * math.log(2 * math.pi)


def _jensen_shannon() -> float:
    """JS(p, q) = (KL(p||m) + KL(q||m))/2, m = (p + q)/2, by adaptive quadrature (scipy)."""
    p, q = stats.norm(*P), stats.norm(*Q)

    def integrand(x: float) -> float:
        a, b = p.pdf(x), q.pdf(x)
        m = 0.5 * (a + b)
        return 0.5 * ((a * math.log(a / m) if a > 0 else 0.0) + (b * math.log(b / m) if b > 0
                                                                     else 0.0))

    return integrate.quad(integrand, -30, 30, limit=200, epsabs=1e-13)[0]


def _value_by_quadrature(logit_shift: float = 0.0) -> float:
    """V(D, G) = E_p log D + E_q log(1 - D) for D = sigmoid(log p - log q + shift)."""

    def integrand(x: float) -> float:
        t = torch.tensor([x], dtype=F64)
        lp, lq = _log_density(t, P), _log_density(t, Q)
        d = float(optimal_discriminator(lp + logit_shift, lq)[0])
        return (math.exp(float(lp)) * math.log(d) if d > 0 else 0.0) + (
            math.exp(float(lq)) * math.log1p(-d) if d < 1 else 0.0)

    return integrate.quad(integrand, -30, 30, limit=200, epsabs=1e-13)[0]


# ------------------------------------------------------------------------------- theory


def test_value_at_the_optimal_discriminator_is_2js_minus_log4() -> None:
    js = _jensen_shannon()
    assert 0 < js < math.log(2)
    assert _value_by_quadrature() == pytest.approx(2 * js - math.log(4), abs=1e-9)


@pytest.mark.parametrize("shift", [-0.3, 0.2])
def test_the_optimal_discriminator_maximises_the_value(shift: float) -> None:
    # V is strictly concave in D(x) pointwise, maximised at p/(p+q): any change of the logit
    # lowers V (by about shift^2/2 * E[D*(1 - D*)] (p + q) for small shifts).
    assert _value_by_quadrature(shift) < _value_by_quadrature() - 1e-3 * shift**2


def test_optimal_discriminator_is_the_density_ratio() -> None:
    x = torch.linspace(-4, 4, 17, dtype=F64)
    p, q = _log_density(x, P).exp(), _log_density(x, Q).exp()
    got = optimal_discriminator(_log_density(x, P), _log_density(x, Q))
    assert torch.allclose(got, p / (p + q), rtol=1e-13)


def test_discriminator_loss_is_a_monte_carlo_estimate_of_minus_the_value() -> None:
    # -L_D(D*) estimates 2 JS - log 4 without bias; 4 standard errors of the 2 x 200k terms.
    g = _gen(0)
    n = 200_000
    real = P[0] + P[1] * torch.randn(n, generator=g, dtype=F64)
    fake = Q[0] + Q[1] * torch.randn(n, generator=g, dtype=F64)
    h_real = _log_density(real, P) - _log_density(real, Q)
    h_fake = _log_density(fake, P) - _log_density(fake, Q)
    value = -float(discriminator_loss(h_real, h_fake, GANLoss.NON_SATURATING))
    se = math.sqrt((torch.nn.functional.softplus(-h_real).var()
                    + torch.nn.functional.softplus(h_fake).var()).item() / n)
    assert abs(value - (2 * _jensen_shannon() - math.log(4))) < 4 * se


def test_logistic_critic_trained_on_the_loss_recovers_the_log_density_ratio() -> None:
    # For N(0,1) against N(1,1) the optimal logit log p/q = 1/2 - x is affine, so minimising
    # L_D over affine critics (logistic regression, convex) must recover (a, b) = (-1, 1/2) up to
    # the sampling error of 20k + 20k points (standard error ~0.012 per coefficient).
    g = _gen(1)
    real = torch.randn(20_000, generator=g, dtype=F64)
    fake = 1.0 + torch.randn(20_000, generator=g, dtype=F64)
    coef = torch.zeros(2, dtype=F64, requires_grad=True)
    lbfgs = torch.optim.LBFGS([coef], max_iter=200, tolerance_grad=1e-12,
                              line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        lbfgs.zero_grad()
        loss = discriminator_loss(coef[0] * real + coef[1], coef[0] * fake + coef[1],
                                  GANLoss.NON_SATURATING)
        loss.backward()
        return loss

    lbfgs.step(closure)
    a, b = coef.detach().tolist()
    assert a == pytest.approx(-1.0, abs=0.05)
    assert b == pytest.approx(0.5, abs=0.05)


def test_non_saturating_generator_gradient_does_not_vanish() -> None:
    # At a confidently rejected fake (logit h = -20): d/dh log(1 - sigmoid h) = -sigmoid(h) ~ 2e-9
    # (saturating minimax loss), whereas d/dh softplus(-h) = -sigmoid(-h) ~ -1.
    h = torch.tensor([-20.0], dtype=F64, requires_grad=True)
    (grad,) = torch.autograd.grad(generator_loss(h, GANLoss.NON_SATURATING), h)
    assert float(grad) == pytest.approx(-1.0, abs=1e-8)
    (grad,) = torch.autograd.grad(generator_loss(h, GANLoss.WASSERSTEIN_GP), h)
    assert float(grad) == -1.0


def test_wasserstein_loss_of_a_linear_critic_is_the_mean_gap() -> None:
    # For laws differing by a shift, W1 = |shift| and f(x) = x attains the dual supremum.
    g = _gen(2)
    real = torch.randn(1000, generator=g, dtype=F64)
    fake = real - 0.7
    assert float(-discriminator_loss(real, fake, GANLoss.WASSERSTEIN_GP)) == pytest.approx(
        0.7, abs=1e-12)


@pytest.mark.parametrize("slope", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("one_sided", [False, True])
def test_gradient_penalty_on_affine_critics(slope: float, one_sided: bool) -> None:
    # f(x) = slope * u.x + c has |grad f| = slope everywhere: penalty (slope - 1)^2 two-sided,
    # max(0, slope - 1)^2 one-sided; zero for the 1-Lipschitz unit-slope critic.
    g = _gen(3)
    u = torch.randn(3, generator=g, dtype=F64)
    u = u / u.norm()
    real = torch.randn(64, 3, generator=g, dtype=F64)
    fake = 2 + torch.randn(64, 3, generator=g, dtype=F64)
    got = float(gradient_penalty(lambda x: slope * x @ u + 0.3, real, fake, generator=g,
                                 one_sided=one_sided))
    expected = max(slope - 1, 0.0) ** 2 if one_sided else (slope - 1) ** 2
    assert got == pytest.approx(expected, abs=1e-14)


def test_gradient_penalty_is_differentiable_in_the_critic() -> None:
    g = _gen(4)
    w = torch.tensor([2.0, 0.0], dtype=F64, requires_grad=True)
    real = torch.randn(8, 2, generator=g, dtype=F64)
    penalty = gradient_penalty(lambda x: x @ w, real, real + 1, generator=g)
    (grad,) = torch.autograd.grad(penalty, w)
    # d/dw (|w| - 1)^2 = 2(|w| - 1) w/|w| = (2, 0)
    assert torch.allclose(grad, torch.tensor([2.0, 0.0], dtype=F64), atol=1e-14)


# ------------------------------------------------------------------------------- training


def _gaussian_data(d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    if d == 1:
        mean, cov = torch.tensor([2.0], dtype=F64), torch.tensor([[0.25]], dtype=F64)
    else:
        mean = torch.tensor([1.0, -1.0], dtype=F64)
        cov = torch.tensor([[1.0, 0.8], [0.8, 1.0]], dtype=F64)
    z = torch.randn(4096, d, generator=_gen(seed), dtype=F64)
    return (mean + z @ torch.linalg.cholesky(cov).T).float(), mean, cov


@pytest.mark.parametrize(("loss", "d", "steps", "critic_hidden", "lr", "tolerance"), [
    (GANLoss.NON_SATURATING, 1, 800, (32, 32), 5e-3, 0.1),
    (GANLoss.WASSERSTEIN_LP, 1, 300, (32,), 1e-2, 0.1),
    (GANLoss.WASSERSTEIN_GP, 2, 600, (32, 32), 1e-2, 0.2),
])
def test_gan_matches_the_mean_and_covariance_of_gaussian_data(
        loss: GANLoss, d: int, steps: int, critic_hidden: tuple[int, ...], lr: float,
        tolerance: float) -> None:
    # An affine generator can represent the data law exactly, so at the game's equilibrium the
    # Gaussian with the samples' mean and covariance is the data law. Measured by the W2 distance
    # between the two Gaussians (W2^2 = |dm|^2 + Bures term), in units of the largest data sd.
    # Floor: 4096 training points put the empirical law ~0.02 sd away; the rest is the game's
    # jitter (minibatches of 256 move the batch mean by ~0.06 sd) damped by the decayed learning
    # rate: observed 0.01-0.04 (1-D) and 0.06-0.14 (2-D GP, slower) over seeds. A collapsed
    # generator is 1 sd away, and the 2-D case must learn the correlation 0.8 (the initial
    # affine map's is random), which standardisation does not provide.
    x, mean, cov = _gaussian_data(d, seed=1)
    gan = GAN(latent_dim=d, generator_hidden=(), critic_hidden=critic_hidden, loss=loss,
              steps=steps, lr=lr, final_lr=5e-4, batch_size=256).fit(x, generator=_gen(11))
    draws = gan.sample(20_000, generator=_gen(99)).double()
    w2 = float(gaussian_w2(draws.mean(0), torch.cov(draws.T).reshape(d, d), mean, cov))
    assert w2 < tolerance * float(cov.diagonal().max().sqrt())


def test_gan_with_mlp_generator_runs_and_is_deterministic() -> None:
    x, _, _ = _gaussian_data(2, seed=2)

    def run(seed: int) -> torch.Tensor:
        gan = GAN(latent_dim=2, generator_hidden=(8,), critic_hidden=(8,), steps=20,
                  batch_size=64).fit(x, generator=_gen(seed))
        assert len(gan.history_) == 20 and gan.n_features_in_ == 2
        return gan.sample(10, generator=_gen(0))

    first, second, other = run(5), run(5), run(6)
    assert first.shape == (10, 2) and first.dtype == torch.float32
    assert torch.equal(first, second)
    assert not torch.equal(first, other)


def test_wasserstein_defaults_follow_gulrajani_et_al() -> None:
    assert GAN(loss=GANLoss.WASSERSTEIN_GP)._settings() == (5, 1e-4, 1e-4, (0.0, 0.9))
    assert GAN()._settings() == (1, 2e-4, 2e-4, (0.5, 0.999))


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(loss="wgan"), "loss"),
    (dict(latent_dim=0), "latent_dim"),
    (dict(critic_hidden=(0,)), "critic_hidden"),
    (dict(critic_steps=0), "critic_steps"),
    (dict(betas=(0.5, 1.0)), "betas"),
    (dict(penalty=-1.0), "penalty"),
    (dict(standardise=1), "standardise"),
])
def test_bad_hyperparameters_are_refused_at_fit(kwargs: dict, match: str) -> None:
    x, _, _ = _gaussian_data(1, seed=0)
    with pytest.raises(ValueError, match=match):
        GAN(**kwargs).fit(x, generator=_gen(0))


def test_bad_input_is_refused_with_clear_errors() -> None:
    x, _, _ = _gaussian_data(1, seed=0)
    with pytest.raises(ValueError, match=r"x: expected shape \(n, d\)"):
        GAN().fit(x[:, 0], generator=_gen(0))
    bad = x.clone()
    bad[0, 0] = float("inf")
    with pytest.raises(ValueError, match="finite"):
        GAN().fit(bad, generator=_gen(0))
    with pytest.raises(ValueError, match="not fitted"):
        GAN().sample(3, generator=_gen(0))
    with pytest.raises(ValueError, match="fake_scores"):
        discriminator_loss(torch.zeros(3), torch.zeros(3, 1), GANLoss.NON_SATURATING)
    with pytest.raises(ValueError, match="fake"):
        gradient_penalty(lambda t: t.sum(1), x[:4], x[:3], generator=_gen(0))
    with pytest.raises(ValueError, match="critic"):
        gradient_penalty(lambda t: t, x[:4], x[:4], generator=_gen(0))
    with pytest.raises(ValueError, match="log_q"):
        optimal_discriminator(torch.zeros(3), torch.zeros(4))
