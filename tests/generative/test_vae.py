"""VAE: the analytic KL against Monte Carlo, unbiasedness of the reparameterised gradient, the
identity log p = ELBO + KL(q || posterior) on probabilistic PCA, and a linear VAE reaching the PPCA
maximum likelihood."""

from __future__ import annotations

import math

import pytest
import torch

from mathdl._monitor import TrainingDivergedError
from mathdl.generative import (
    VAE,
    DecoderLikelihood,
    gaussian_kl,
    kl_to_standard_normal,
    ppca_log_likelihood,
    ppca_maximum_likelihood,
    reparameterise,
)

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _ppca_data(n: int, d: int, k: int, seed: int, noise: float = 0.5) -> torch.Tensor:
    g = _gen(seed)
    w = 1.5 * torch.randn(d, k, generator=g, dtype=F64)
    mu = torch.randn(d, generator=g, dtype=F64)
    z = torch.randn(n, k, generator=g, dtype=F64)
    return z @ w.T + mu + noise * torch.randn(n, d, generator=g, dtype=F64)


# ------------------------------------------------------------------------------- the KL term


@pytest.mark.parametrize("k", [1, 3, 8])
def test_analytic_kl_matches_its_monte_carlo_estimate(k: int) -> None:
    # KL(q || p) = E_q[log q(z) - log p(z)], estimated with 200k draws; the gap must be within
    # 4 standard errors of the estimate (a missing 1/2 or a sign error in log sigma^2 is off by
    # O(k), hundreds of standard errors).
    g = _gen(k)
    mean = torch.randn(k, generator=g, dtype=F64)
    log_var = 0.8 * torch.randn(k, generator=g, dtype=F64)
    z = reparameterise(mean, log_var, generator=g, samples=200_000)
    var = log_var.exp()
    log_q = -0.5 * ((z - mean).square() / var + log_var + math.log(2 * math.pi)).sum(-1)
    log_p = -0.5 * (z.square() + math.log(2 * math.pi)).sum(-1)
    terms = log_q - log_p
    se = float(terms.std() / math.sqrt(terms.numel()))
    analytic = float(kl_to_standard_normal(mean, log_var))
    assert abs(float(terms.mean()) - analytic) < 4 * se
    # and the general Gaussian KL of mathdl.generative, with diagonal covariance
    general = gaussian_kl(mean, torch.diag(var), torch.zeros(k, dtype=F64),
                          torch.eye(k, dtype=F64))
    assert analytic == pytest.approx(float(general), rel=1e-12)


@pytest.mark.parametrize("eps", [1e-3, 1e-6, 1e-9])
def test_kl_is_accurate_next_to_the_prior(eps: float) -> None:
    # sigma^2 - 1 - log sigma^2 = e^v - 1 - v = v^2/2 + v^3/6 + ...: KL = k eps^2/4 (1 + eps/3);
    # the naive formula loses all digits at eps = 1e-9 (1e-18 below the rounding of 1).
    k = 4
    got = float(kl_to_standard_normal(torch.zeros(k, dtype=F64), torch.full((k,), eps,
                                                                            dtype=F64)))
    assert got == pytest.approx(k * eps**2 / 4 * (1 + eps / 3), rel=1e-6)


def test_kl_batches_over_leading_dimensions() -> None:
    mean = torch.randn(5, 3, 2, generator=_gen(0), dtype=F64)
    log_var = torch.randn(5, 3, 2, generator=_gen(1), dtype=F64)
    got = kl_to_standard_normal(mean, log_var)
    assert got.shape == (5, 3)
    assert float(got[2, 1]) == float(kl_to_standard_normal(mean[2, 1], log_var[2, 1]))
    assert bool(torch.all(got >= 0))


# ------------------------------------------------------------------------------- reparameterisation


def test_reparameterised_gradient_is_unbiased_for_a_quadratic() -> None:
    # f(z) = z'Az + b'z with z ~ N(mu, diag e^v): E f = tr(A diag e^v) + mu'A mu + b'mu, so
    # d/dmu = (A + A')mu + b and d/dv_j = A_jj e^{v_j}. The averaged pathwise gradient over 64
    # independent batches must agree with these within 4 standard errors per coordinate.
    k = 3
    g = _gen(5)
    a = torch.randn(k, k, generator=g, dtype=F64)
    b = torch.randn(k, generator=g, dtype=F64)
    mu0 = torch.randn(k, generator=g, dtype=F64)
    v0 = 0.5 * torch.randn(k, generator=g, dtype=F64)
    grads = []
    for _ in range(64):
        mu = mu0.clone().requires_grad_(True)
        v = v0.clone().requires_grad_(True)
        z = reparameterise(mu, v, generator=g, samples=2000)
        f = torch.einsum("si,ij,sj->s", z, a, z) + z @ b
        grads.append(torch.cat(torch.autograd.grad(f.mean(), (mu, v))))
    grads = torch.stack(grads)
    estimate, se = grads.mean(0), grads.std(0) / math.sqrt(grads.shape[0])
    exact = torch.cat([(a + a.T) @ mu0 + b, torch.diagonal(a) * v0.exp()])
    assert bool(torch.all((estimate - exact).abs() < 4 * se + 1e-12))


def test_reparameterise_has_the_shapes_and_law() -> None:
    mean = torch.tensor([[1.0, -2.0]], dtype=F64)
    log_var = torch.tensor([[0.0, math.log(4.0)]], dtype=F64)
    z = reparameterise(mean, log_var, generator=_gen(0), samples=100_000)
    assert z.shape == (100_000, 1, 2) and z.dtype == F64
    # sample means within 4 standard errors (sd/sqrt(n)), sample sds within 4 of theirs
    assert torch.allclose(z.mean(0)[0], mean[0], atol=4 * 2 / math.sqrt(1e5))
    assert torch.allclose(z.std(0)[0], torch.tensor([1.0, 2.0], dtype=F64),
                          atol=4 * 2 / math.sqrt(2e5))


# ------------------------------------------------------------------------------- PPCA


def test_ppca_maximum_likelihood_attains_the_closed_form_maximum() -> None:
    x = _ppca_data(500, 5, 2, seed=0)
    n, d, k = 500, 5, 2
    mean, loading, noise = ppca_maximum_likelihood(x, k)
    centred = x - x.mean(0)
    lam = torch.linalg.eigvalsh(centred.T @ centred / n).flip(0)
    maximum = -n / 2 * (d * math.log(2 * math.pi) + float(lam[:k].log().sum())
                        + (d - k) * float(noise.log()) + d)
    assert float(ppca_log_likelihood(x, mean, loading, noise).sum()) == pytest.approx(
        maximum, rel=1e-12)
    # the likelihood depends on W only through WW': a latent rotation changes nothing
    rot = torch.linalg.qr(torch.randn(k, k, generator=_gen(1), dtype=F64))[0]
    assert torch.allclose(ppca_log_likelihood(x, mean, loading @ rot, noise),
                          ppca_log_likelihood(x, mean, loading, noise), rtol=1e-12)
    # any perturbation lowers it
    for delta in (loading * 1.05, loading * 0.95):
        assert float(ppca_log_likelihood(x, mean, delta, noise).sum()) < maximum
    assert float(ppca_log_likelihood(x, mean, loading, 1.1 * noise).sum()) < maximum
    assert float(ppca_log_likelihood(x, mean + 0.05, loading, noise).sum()) < maximum


def _linear_vae(x: torch.Tensor, k: int, **kwargs: object) -> VAE:
    """A linear VAE with the right structure (one Adam step), whose weights the tests set."""
    return VAE(k, hidden=(), steps=1, batch_size=x.shape[0], **kwargs).fit(x, generator=_gen(9))


def _set_linear_vae(vae: VAE, w: torch.Tensor, mu: torch.Tensor, enc_w: torch.Tensor,
                    enc_b: torch.Tensor, log_var: torch.Tensor) -> None:
    """Decoder x = Wz + mu; encoder mean enc_w x + enc_b, log-variance constant log_var."""
    k = w.shape[1]
    with torch.no_grad():
        vae.decoder_[0].weight.copy_(w)
        vae.decoder_[0].bias.copy_(mu)
        vae.encoder_[0].weight.zero_()
        vae.encoder_[0].weight[:k].copy_(enc_w)
        vae.encoder_[0].bias[:k].copy_(enc_b)
        vae.encoder_[0].bias[k:].copy_(log_var)


@pytest.mark.parametrize("orthogonal", [True, False])
def test_elbo_is_log_likelihood_minus_kl_to_the_posterior(orthogonal: bool) -> None:
    # For x = Wz + mu + N(0, s^2 I), z ~ N(0, I): the posterior is N(M^-1 W'(x - mu), s^2 M^-1),
    # M = W'W + s^2 I, and log p(x) = ELBO(q) + KL(q || posterior) for every q. Checked with the
    # exact posterior mean and a diagonal covariance: when W'W is diagonal that q IS the posterior
    # (ELBO = log p), otherwise the gap is the KL to the full-covariance posterior. The ELBO is
    # estimated with 4000 i.i.d. draws per row; tolerance 4 standard errors.
    d, k, s2 = 4, 2, 0.3
    g = _gen(2)
    w = torch.randn(d, k, generator=g, dtype=F64)
    if orthogonal:
        w = torch.linalg.qr(w)[0] * torch.tensor([2.0, 1.0], dtype=F64)
    mu = torch.randn(d, generator=g, dtype=F64)
    x = torch.randn(3, d, generator=g, dtype=F64)
    m = w.T @ w + s2 * torch.eye(k, dtype=F64)
    m_inv = torch.linalg.inv(m)
    post_cov = s2 * m_inv
    q_var = torch.diagonal(post_cov) * (1.0 if orthogonal else 1.3)
    vae = _linear_vae(x, k, decoder_variance=s2)
    _set_linear_vae(vae, w, mu, m_inv @ w.T, -(m_inv @ w.T @ mu), q_var.log())
    reps = 4000
    draws = vae.elbo(x.repeat(reps, 1), generator=_gen(3)).reshape(reps, 3)
    estimate, se = draws.mean(0), draws.std(0) / math.sqrt(reps)
    log_p = ppca_log_likelihood(x, mu, w, s2)
    post_mean = (x - mu) @ (m_inv @ w.T).T
    gap = gaussian_kl(post_mean, torch.diag(q_var).expand(3, k, k), post_mean,
                      post_cov.expand(3, k, k))
    if orthogonal:
        assert float(gap.abs().max()) < 1e-12
    else:
        assert float(gap.min()) > 0.01
    assert bool(torch.all((estimate - (log_p - gap)).abs() < 4 * se))


def _exact_linear_elbo(vae: VAE, x: torch.Tensor) -> torch.Tensor:
    """E_q log N(x; Wz + b, s^2 I) - KL in closed form for a linear Gaussian decoder:
    E|x - Wz - b|^2 = |x - W m - b|^2 + sum_j sigma_j^2 |W_:j|^2."""
    mean, log_var = vae.encode(x)
    w, b = vae.decoder_[0].weight, vae.decoder_[0].bias
    s2 = vae.observation_variance()
    sq = (x - mean @ w.T - b).square().sum(1) + log_var.exp() @ w.square().sum(0)
    d = x.shape[1]
    expected = -0.5 * (sq / s2 + d * torch.log(2 * math.pi * s2))
    return expected - kl_to_standard_normal(mean, log_var)


def test_linear_vae_reaches_the_ppca_maximum_likelihood() -> None:
    # The linear VAE's global maximum is the PPCA maximum likelihood, where the exact posterior
    # is diagonal and the bound is tight (Lucas et al. 2019). Training must bring the mean ELBO
    # within 0.01 nat per row of the PPCA maximum (observed gap ~1e-3 with this schedule), far
    # below the KL term (~3 nats per row), which an error in the KL or in the decoder variance
    # would shift by O(1). The ELBO never exceeds the model's own log-likelihood, which never
    # exceeds the maximum (up to rounding).
    x = _ppca_data(1000, 5, 2, seed=1)
    mean, loading, noise = ppca_maximum_likelihood(x, 2)
    best = float(ppca_log_likelihood(x, mean, loading, noise).mean())
    vae = VAE(2, hidden=(), steps=2000, lr=3e-2, final_lr=1e-3, batch_size=1000).fit(
        x, generator=_gen(1))
    exact = _exact_linear_elbo(vae, x)
    elbo = float(exact.mean())
    own = ppca_log_likelihood(x, vae.decoder_[0].bias, vae.decoder_[0].weight,
                              vae.observation_variance())
    assert bool(torch.all(exact <= own + 1e-10))
    assert float(own.mean()) <= best + 1e-10
    assert best - elbo < 0.01
    assert float(kl_to_standard_normal(*vae.encode(x)).mean()) > 1.0
    assert float(vae.observation_variance()) == pytest.approx(float(noise), rel=0.02)
    # the library's Monte Carlo ELBO is unbiased for the closed form (4 standard errors)
    reps = 200
    draws = vae.elbo(x.repeat(reps, 1), generator=_gen(4)).reshape(reps, -1).mean(1)
    se = float(draws.std() / math.sqrt(reps))
    assert abs(float(draws.mean()) - elbo) < 4 * se


# ------------------------------------------------------------------------------- the estimator


def test_bernoulli_vae_elbo_is_a_log_probability_bound() -> None:
    # For binary data log p(x|z) <= 0 and KL >= 0, so every ELBO is <= 0; samples are binary.
    g = _gen(0)
    probs = torch.sigmoid(torch.randn(1, 6, generator=g, dtype=F64) * 2)
    x = torch.bernoulli(probs.expand(200, 6), generator=g)
    vae = VAE(2, hidden=(16,), likelihood=DecoderLikelihood.BERNOULLI, steps=200, lr=1e-2
              ).fit(x, generator=_gen(1))
    assert bool(torch.all(vae.elbo(x, generator=_gen(2), samples=4) <= 0))
    draws = vae.sample(500, generator=_gen(3))
    assert draws.shape == (500, 6) and set(draws.unique().tolist()) <= {0.0, 1.0}
    recon = vae.reconstruct(x)
    assert bool(torch.all((recon > 0) & (recon < 1)))
    # the learned marginal probabilities approach the data's (each within 0.1)
    assert torch.allclose(draws.mean(0), x.mean(0), atol=0.1)
    with pytest.raises(ValueError, match="observation variance"):
        vae.observation_variance()


def test_gaussian_vae_shapes_dtype_and_learned_diagonal_variance() -> None:
    x = _ppca_data(300, 4, 2, seed=3).float()
    vae = VAE(2, hidden=(16,), likelihood=DecoderLikelihood.GAUSSIAN_DIAGONAL, steps=50
              ).fit(x, generator=_gen(0))
    assert vae.transform(x).shape == (300, 2) and vae.transform(x).dtype == torch.float32
    assert vae.reconstruct(x).shape == (300, 4)
    assert vae.sample(7, generator=_gen(1)).shape == (7, 4)
    assert vae.observation_variance().shape == (4,)
    assert bool(torch.all(vae.observation_variance() > vae.min_variance))
    assert len(vae.history_) == 50
    mean, log_var = vae.encode(x)
    assert torch.equal(mean, vae.transform(x)) and log_var.shape == (300, 2)


def test_fit_is_deterministic_for_a_given_generator() -> None:
    x = _ppca_data(200, 4, 2, seed=4)

    def run(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        vae = VAE(2, hidden=(8,), steps=30, batch_size=32).fit(x, generator=_gen(seed))
        return vae.transform(x), vae.sample(5, generator=_gen(0))

    first, second, other = run(7), run(7), run(8)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert not torch.equal(first[0], other[0])


def test_progress_is_reported() -> None:
    calls = []
    VAE(1, hidden=(), steps=20).fit(_ppca_data(50, 3, 1, seed=0), generator=_gen(0),
                                    progress=lambda done, total: calls.append((done, total)))
    assert calls == [(10, 20), (20, 20)]


def test_divergence_raises_a_clear_error() -> None:
    # a learning rate of 1e3 throws the decoder variance and weights far off at the first step
    x = _ppca_data(100, 3, 1, seed=0)
    vae = VAE(2, hidden=(8,), steps=50, lr=1e3)
    with pytest.raises(TrainingDivergedError, match="VAE diverged"):
        vae.fit(x, generator=_gen(0))
    with pytest.raises(ValueError, match="not fitted"):  # no half-trained state is left
        vae.transform(x)


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(latent_dim=0), "latent_dim"),
    (dict(hidden=[8]), "hidden"),
    (dict(likelihood="gaussian"), "likelihood"),
    (dict(likelihood=DecoderLikelihood.BERNOULLI, decoder_variance=1.0), "decoder_variance"),
    (dict(decoder_variance=-1.0), "decoder_variance"),
    (dict(steps=0), "steps"),
    (dict(lr=0.0), "lr"),
    (dict(batch_size=0), "batch_size"),
])
def test_bad_hyperparameters_are_refused_at_fit(kwargs: dict, match: str) -> None:
    params = dict(latent_dim=1) | kwargs
    vae = VAE(**params)  # the constructor only stores
    with pytest.raises(ValueError, match=match):
        vae.fit(_ppca_data(20, 3, 1, seed=0), generator=_gen(0))


def test_bad_data_are_refused_with_clear_errors() -> None:
    x = _ppca_data(20, 3, 1, seed=0)
    vae = VAE(1, steps=2)
    with pytest.raises(ValueError, match=r"x: expected shape \(n, d\)"):
        vae.fit(x[:, 0], generator=_gen(0))
    bad = x.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match="x: expected finite values"):
        vae.fit(bad, generator=_gen(0))
    with pytest.raises(ValueError, match="generator"):
        vae.fit(x, generator=0)
    with pytest.raises(ValueError, match="not fitted"):
        vae.transform(x)
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        VAE(1, likelihood=DecoderLikelihood.BERNOULLI).fit(x, generator=_gen(0))
    vae.fit(x, generator=_gen(0))
    with pytest.raises(ValueError, match="x: expected 3 columns"):
        vae.transform(x[:, :2])
    with pytest.raises(ValueError, match="dtype"):
        vae.transform(x.float())
    with pytest.raises(ValueError, match="z: expected 1 columns"):
        vae.decode(torch.zeros(2, 2, dtype=F64))
    with pytest.raises(ValueError, match="log_variance"):
        kl_to_standard_normal(torch.zeros(3), torch.zeros(2))
    with pytest.raises(ValueError, match="samples"):
        reparameterise(torch.zeros(3), torch.zeros(3), generator=_gen(0), samples=0)
    with pytest.raises(ValueError, match="latent_dim"):
        ppca_maximum_likelihood(x, 3)
