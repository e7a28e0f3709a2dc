"""Denoising score matching: Vincent's identity (the loss of the exact score is the conditional-
variance constant, and a perturbation adds exactly its lambda-weighted square), a score learned
from Gaussian data against the exact score, samples drawn with it against the data law, the
training's determinism, its divergence detection and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mathdl._monitor import TrainingDivergedError
from mathdl.generative import (
    DenoisingScoreMatching,
    GaussianMixture,
    HeatFlow,
    OrnsteinUhlenbeck,
    Sampler,
    ScoreMLP,
    VariancePreserving,
    denoising_score_matching_loss,
    exact_score,
    forward_marginal,
    gaussian_sampler_law,
    gaussian_w2,
    sample,
    sample_prior,
)

F64 = torch.float64
MEAN = torch.tensor([1.0, -0.5], dtype=F64)
COV = torch.tensor([[0.5, 0.2], [0.2, 0.3]], dtype=F64)
T_MIN, T_MAX = 1e-3, 1.0


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _gaussian_data() -> GaussianMixture:
    return GaussianMixture.gaussian(MEAN, COV)


def _timed_gaussian_score(process):
    """The exact score of N(MEAN, COV) under ``process`` at one time per row:
    -(a^2 COV + sigma^2 I)^(-1) (x - a MEAN)."""

    def score(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a, sigma = process.mean_scale(t), process.std(t)
        s_t = a[:, None, None] ** 2 * COV + sigma[:, None, None] ** 2 * torch.eye(2, dtype=F64)
        return -torch.linalg.solve(s_t, (x - a[:, None] * MEAN).unsqueeze(-1)).squeeze(-1)

    return score


def _legendre(t_min: float, t_max: float, nodes: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights of the uniform law on [t_min, t_max]."""
    z, w = np.polynomial.legendre.leggauss(nodes)
    return 0.5 * (t_max - t_min) * z + 0.5 * (t_max + t_min), 0.5 * w


def _gaussian_dsm_minimum(process, t_min: float, t_max: float) -> float:
    """L_min = E_t tr(a_t^2 COV (a_t^2 COV + sigma_t^2 I)^(-1)), t ~ U[t_min, t_max]: a smooth
    integrand, integrated by a 64-node Gauss-Legendre rule (error far below the Monte Carlo's)."""
    ts, ws = _legendre(t_min, t_max)
    total = 0.0
    for t, w in zip(ts, ws, strict=True):
        a2, s2 = float(process.mean_scale(float(t))) ** 2, float(process.std(float(t))) ** 2
        total += w * float(torch.trace(a2 * COV @ torch.linalg.inv(a2 * COV + s2 * torch.eye(
            2, dtype=F64))))
    return total


PROCESSES = [VariancePreserving(), OrnsteinUhlenbeck(), HeatFlow()]
PROCESS_IDS = ["vp", "ou", "heat"]


def test_timed_gaussian_score_is_the_library_exact_score() -> None:
    process = VariancePreserving()
    x = torch.randn(30, 2, generator=_gen(0), dtype=F64)
    t = torch.full((30,), 0.3, dtype=F64)
    torch.testing.assert_close(_timed_gaussian_score(process)(x, t),
                               exact_score(_gaussian_data(), process)(x, 0.3), rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("process", PROCESSES, ids=PROCESS_IDS)
def test_vincent_identity_loss_of_the_exact_score_is_the_conditional_variance(process) -> None:
    # Vincent (2011): the DSM loss of the exact score is L_min = E_t tr Cov(z | x_t), for
    # Gaussian data E_t tr(a^2 Sigma S_t^(-1)) (module docstring of _score_model). 40 batches of
    # 5000 rows: the batch means are i.i.d., so their mean has a standard error estimated from
    # their spread; the check is at 4.5 standard errors. With lambda = 1 instead of sigma^2, or a
    # sign error in the target, the loss of the exact score would differ from L_min by O(1).
    t_max = 1.0 if isinstance(process, VariancePreserving) else 3.0
    data = _gaussian_data()
    g = _gen(1)
    score = _timed_gaussian_score(process)
    losses = torch.stack([denoising_score_matching_loss(
        score, process, data.sample(5000, generator=g), generator=g, t_min=T_MIN, t_max=t_max)
        for _ in range(40)])
    se = float(losses.std()) / math.sqrt(losses.numel())
    minimum = _gaussian_dsm_minimum(process, T_MIN, t_max)
    assert abs(float(losses.mean()) - minimum) < 4.5 * se, (float(losses.mean()), minimum, se)
    assert se < 0.01 * minimum  # the check is sharp: a 1% error in L_min would show


def test_vincent_identity_excess_loss_is_the_weighted_score_error() -> None:
    # L(s* + delta) - L(s*) = E_t sigma_t^2 |delta|^2 exactly (the cross term
    # 2 E[sigma delta . (sigma s* + z)] vanishes because E[z | x_t] = -sigma s*(x_t)). Paired
    # batches (same seed, so the same x0, t, z) make the difference's standard error small.
    process = VariancePreserving()
    data = _gaussian_data()
    exact = _timed_gaussian_score(process)
    delta = torch.tensor([0.7, -0.4], dtype=F64)

    def shifted(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return exact(x, t) + delta

    diffs = []
    for seed in range(30):
        x0 = data.sample(4000, generator=_gen(100 + seed))
        base = denoising_score_matching_loss(exact, process, x0, generator=_gen(seed),
                                             t_min=T_MIN, t_max=T_MAX)
        moved = denoising_score_matching_loss(shifted, process, x0, generator=_gen(seed),
                                              t_min=T_MIN, t_max=T_MAX)
        diffs.append(float(moved - base))
    diffs_t = torch.tensor(diffs, dtype=F64)
    se = float(diffs_t.std()) / math.sqrt(len(diffs))
    ts, ws = _legendre(T_MIN, T_MAX)
    mean_sigma2 = sum(w * float(process.std(float(t))) ** 2 for t, w in zip(ts, ws, strict=True))
    predicted = float(delta.square().sum()) * mean_sigma2
    assert abs(float(diffs_t.mean()) - predicted) < 4.5 * se, (diffs_t.mean(), predicted, se)


# ------------------------------------------------------------------------- a learned score

@pytest.fixture(scope="module")
def learned() -> DenoisingScoreMatching:
    # ~1 s on one thread: 800 Adam steps of batches of 512 from 4000 Gaussian points
    x = _gaussian_data().sample(4000, generator=_gen(7))
    return DenoisingScoreMatching(VariancePreserving(), t_max=T_MAX, t_min=T_MIN,
                                  hidden=(64, 64), steps=800, batch_size=512,
                                  lr=3e-3).fit(x, generator=_gen(8))


def _weighted_relative_error(score, process, seed: int) -> float:
    r"""(E_t sigma^2 E|s - s*|^2 / E_t sigma^2 E|s*|^2)^(1/2), t ~ U[T_MIN, T_MAX], x ~ p_t:
    the relative error in the norm the DSM loss controls (its excess over L_min is the
    numerator); 16 Gauss-Legendre times, 2000 exact draws of p_t at each."""
    data = _gaussian_data()
    exact = exact_score(data, process)
    ts, ws = _legendre(T_MIN, T_MAX, nodes=16)
    g = _gen(seed)
    num = den = 0.0
    for t, w in zip(ts.tolist(), ws.tolist(), strict=True):
        xt = forward_marginal(data, process, t).sample(2000, generator=g)
        s = exact(xt, t)
        weight = w * float(process.std(t)) ** 2
        num += weight * float((score(xt, t) - s).square().sum(1).mean())
        den += weight * float(s.square().sum(1).mean())
    return math.sqrt(num / den)


def test_learned_score_approximates_the_exact_score(learned: DenoisingScoreMatching) -> None:
    # The learned score reaches a weighted relative error ~0.04 (network and 800 noisy steps;
    # 0.035 after 1500). The threshold 0.1 rejects the score of N(0, I), the law the process
    # converges to (error 0.32), i.e. a model that learned only the large-noise end.
    process = VariancePreserving()
    error = _weighted_relative_error(learned.score_, process, seed=3)
    prior = _weighted_relative_error(exact_score(GaussianMixture.standard_normal(2), process),
                                     process, seed=3)
    assert error < 0.1, error
    assert prior > 3 * 0.1, prior


def test_samples_of_the_learned_score_match_the_data(learned: DenoisingScoreMatching) -> None:
    # 4000 samples by the reverse SDE (100 Euler-Maruyama steps) from N(0, sigma_T^2 I). Their
    # Gaussian fit is compared with the data law in W2. Error budget: the sampler's own
    # discretisation error with the exact score (computed exactly below, ~0.01), the Monte
    # Carlo error of 4000 samples' mean and covariance (~0.03) and the learned score's error
    # (W2 ~0.04 observed in all): 0.15 allows the three; sampling with the N(0, I) score gives
    # W2(N(0, I), data) > 1.
    process = VariancePreserving()
    x_t = sample_prior(process, 4000, 2, T_MAX, generator=_gen(4))
    y = sample(learned.score_, process, x_t, sampler=Sampler.EULER_MARUYAMA, t_max=T_MAX,
               t_min=T_MIN, steps=100, generator=_gen(5))
    assert y.dtype == F64 and y.shape == (4000, 2)
    w2 = float(gaussian_w2(y.mean(0), torch.cov(y.T), MEAN, COV))
    m, c = gaussian_sampler_law(exact_score(_gaussian_data(), process), process,
                                torch.zeros(2, dtype=F64),
                                process.std(T_MAX) ** 2 * torch.eye(2, dtype=F64),
                                sampler=Sampler.EULER_MARUYAMA, t_max=T_MAX, t_min=T_MIN,
                                steps=100)
    discretisation = float(gaussian_w2(m, c, MEAN, COV))
    assert discretisation < 0.02
    assert w2 < 0.15, w2
    assert float(gaussian_w2(torch.zeros(2, dtype=F64), torch.eye(2, dtype=F64), MEAN,
                             COV)) > 1.0


def test_learned_state_and_history(learned: DenoisingScoreMatching) -> None:
    assert isinstance(learned.model_, ScoreMLP)
    assert len(learned.history_) == 800
    # the loss decreases from ~d = 2 (an untrained epsilon is O(1) noise) towards L_min
    minimum = _gaussian_dsm_minimum(VariancePreserving(), T_MIN, T_MAX)
    late = sum(learned.history_[-100:]) / 100
    assert late < 1.2 * minimum and sum(learned.history_[:10]) / 10 > late
    x = torch.randn(5, 2, generator=_gen(0), dtype=F64)
    out = learned.score_(x, 0.5)
    assert out.dtype == F64 and not out.requires_grad
    model_out = learned.model_.score(x.float(), 0.5)
    torch.testing.assert_close(out, model_out.detach().double())


# ------------------------------------------------------------------------- the network

def test_score_mlp_parameterisation_and_times() -> None:
    process = OrnsteinUhlenbeck()
    net = ScoreMLP(3, process, hidden=(16,), generator=_gen(0), dtype=F64)
    x = torch.randn(6, 3, generator=_gen(1), dtype=F64)
    t = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], dtype=F64)
    sigma = process.std(t)[:, None]
    torch.testing.assert_close(net.score(x, t), -net(x, t) / sigma, rtol=1e-14, atol=0)
    # a float time is the constant row of times
    torch.testing.assert_close(net(x, 0.3), net(x, torch.full((6,), 0.3, dtype=F64)))
    # rows are independent: permuting rows (and their times) permutes the output
    perm = torch.tensor([5, 3, 1, 0, 2, 4])
    torch.testing.assert_close(net(x[perm], t[perm]), net(x, t)[perm], rtol=1e-14, atol=1e-14)


def test_score_mlp_is_differentiable_in_float64() -> None:
    net = ScoreMLP(2, HeatFlow(), hidden=(8, 8), generator=_gen(2), dtype=F64)
    x = torch.randn(4, 2, generator=_gen(3), dtype=F64, requires_grad=True)
    t = torch.tensor([0.05, 0.5, 1.0, 2.0], dtype=F64)
    assert torch.autograd.gradcheck(lambda y: net.score(y, t), (x,))


def test_training_is_deterministic_for_a_fixed_generator() -> None:
    x = _gaussian_data().sample(300, generator=_gen(0))

    def fit(seed: int) -> DenoisingScoreMatching:
        return DenoisingScoreMatching(OrnsteinUhlenbeck(), t_max=3.0, hidden=(16, 16),
                                      steps=15, batch_size=64).fit(x, generator=_gen(seed))

    a, b, c = fit(11), fit(11), fit(12)
    assert a.history_ == b.history_
    for (name, pa), pb in zip(a.model_.state_dict().items(), b.model_.state_dict().values(),
                              strict=True):
        assert torch.equal(pa, pb), name
    assert a.history_ != c.history_


def test_fit_in_the_data_dtype_and_progress() -> None:
    x = _gaussian_data().sample(100, generator=_gen(0))
    calls = []
    est = DenoisingScoreMatching(HeatFlow(), t_max=2.0, hidden=(8,), steps=25, batch_size=16,
                                 dtype=None)
    assert est.fit(x, generator=_gen(1), progress=lambda d, n: calls.append((d, n))) is est
    assert est.model_.omega.dtype == F64
    assert calls == [(10, 25), (20, 25), (25, 25)]


def test_divergence_is_reported() -> None:
    # data at 1e30: the float32 loss overflows at the first step
    x = torch.full((10, 2), 1e30, dtype=F64)
    est = DenoisingScoreMatching(VariancePreserving(), t_max=1.0, hidden=(8,), steps=5,
                                 batch_size=4)
    with pytest.raises(TrainingDivergedError, match="Denoising score matching diverged"):
        est.fit(x, generator=_gen(0))


def _net() -> ScoreMLP:
    return ScoreMLP(2, VariancePreserving(), hidden=(4,), generator=_gen(0))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ScoreMLP(0, VariancePreserving(), generator=_gen(0)), "dim: expected"),
        (lambda: ScoreMLP(2, "vp", generator=_gen(0)), "process: expected a ForwardProcess"),
        (lambda: ScoreMLP(2, VariancePreserving(), hidden=(), generator=_gen(0)),
         "hidden: expected at least one"),
        (lambda: ScoreMLP(2, VariancePreserving(), hidden=[4], generator=_gen(0)),
         "hidden: expected a tuple"),
        (lambda: ScoreMLP(2, VariancePreserving(), frequencies=0, generator=_gen(0)),
         "frequencies: expected"),
        (lambda: ScoreMLP(2, VariancePreserving(), generator=0), "generator: expected"),
        (lambda: _net()(torch.zeros(3, 3), 0.5), r"x: expected a tensor of shape \(n, 2\)"),
        (lambda: _net()(torch.zeros(3, 2), 0.0), r"t: expected times with sigma\(t\) > 0"),
        (lambda: _net()(torch.zeros(3, 2), torch.ones(2)), "t: expected a float or"),
        (lambda: _net()(torch.zeros(3, 2), -1.0), "t: expected a finite time"),
        (lambda: denoising_score_matching_loss(_net().score, VariancePreserving(),
                                               torch.zeros(3, 2), generator=_gen(0), t_min=0.0,
                                               t_max=1.0), "t_min: expected"),
        (lambda: denoising_score_matching_loss(_net().score, VariancePreserving(),
                                               torch.zeros(3, 2), generator=_gen(0), t_min=0.5,
                                               t_max=0.5), "t_max: expected t_max > t_min"),
        (lambda: denoising_score_matching_loss(_net().score, VariancePreserving(), torch.zeros(3),
                                               generator=_gen(0), t_min=0.1, t_max=1.0),
         "x0: expected"),
        (lambda: denoising_score_matching_loss(_net().score, None, torch.zeros(3, 2),
                                               generator=_gen(0), t_min=0.1, t_max=1.0),
         "process: expected"),
        (lambda: DenoisingScoreMatching(VariancePreserving(), t_max=1.0, steps=0), "steps:"),
        (lambda: DenoisingScoreMatching(VariancePreserving(), t_max=1.0, batch_size=0),
         "batch_size: expected"),
        (lambda: DenoisingScoreMatching(VariancePreserving(), t_max=1.0, lr=-1.0), "lr:"),
        (lambda: DenoisingScoreMatching(VariancePreserving(), t_max=1.0, final_lr=0.0),
         "final_lr:"),
        (lambda: DenoisingScoreMatching(VariancePreserving(), t_max=1.0, t_min=2.0),
         "t_max: expected t_max > t_min"),
        (lambda: DenoisingScoreMatching(VariancePreserving(), t_max=1.0, dtype="float32"),
         "dtype: expected"),
        (lambda: DenoisingScoreMatching(VariancePreserving(), t_max=1.0).fit(
            torch.zeros(4), generator=_gen(0)), "x: expected a floating-point tensor"),
        (lambda: DenoisingScoreMatching(VariancePreserving(), t_max=1.0).fit(
            torch.full((4, 2), math.nan), generator=_gen(0)), "x: expected finite"),
        (lambda: DenoisingScoreMatching(VariancePreserving(), t_max=1.0).fit(
            torch.zeros(4, 2), generator=None), "generator: expected"),
    ],
)
def test_bad_input_names_the_argument(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()
