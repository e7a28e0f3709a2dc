"""Theorem check ``generative/learned-models``: a score learned by denoising score matching
samples data (2-D toys, scikit-learn's digits) whose MMD to held-out points is within a stated
factor of the exact-score sampler's; a VAE and a GAN on the same data are measured by the same
metric.

Built only on the public primitives of :mod:`mathdl.generative`; registered on import by
:mod:`mathdl.generative.experiments`.

The theory. Two Euler-Maruyama chains of the reverse SDE on one time grid, started from one law,
one driven by the exact score s*, one by a learned score s, have Gaussian transitions with one
covariance g(t_k)^2 h_k I and means h_k g(t_k)^2 (s - s*) apart; by the chain rule of the KL
divergence and data processing (the discrete form of the Girsanov argument of Song et al. 2021,
Thm 1, and Chen et al. 2023, Thm 2),

    KL(q* || q) <= B = sum_k (h_k g(t_k)^2 / 2) E_(x_k ~ q*_k) |s(x_k, t_k) - s*(x_k, t_k)|^2,

q*, q the laws of the two outputs. With a kernel bounded by k(x, x) = 1, every f of the unit ball
of its RKHS has |f| <= 1, so MMD <= 2 TV <= sqrt(2 KL) (Pinsker): MMD^2(q, q*) <= 2B. A small
score error in this norm therefore gives samples close to the exact-score sampler's in MMD; B is
computed along the exact chains wherever the exact score of the data law is known (the
eight Gaussians). For data with no known law (the other toys, digits) the exact score is that of
the empirical measure of the training set (``empirical_score``): the minimiser of the training
loss over all functions, whose sampler returns training points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from matplotlib.figure import Figure

from mathdl.atlas import (
    Claim,
    ClaimKind,
    Experiment,
    Progress,
    Result,
    no_progress,
    register,
    require,
    require_int_range,
    require_ints,
    require_positive,
)
from mathdl.generative import (
    GAN,
    VAE,
    DenoisingScoreMatching,
    PixelScale,
    Sampler,
    ScoreFunction,
    ToyShape,
    VariancePreserving,
    eight_gaussians,
    empirical_score,
    exact_score,
    held_out_split,
    load_digits,
    mmd2_unbiased,
    sample,
    sample_toy,
    sampler_step,
    time_grid,
)

TOPIC = "generative"
DTYPE = torch.float64
TRAIN_DTYPE = torch.float32
DIGITS = "digits"
# the samplers and models compared, in the order of the figures
MODELS = ("floor", "exact", "learned_sde", "learned_ode", "vae", "gan", "gaussian", "isotropic")
MODEL_LABELS = {
    "floor": "training set",
    "exact": "exact score",
    "learned_sde": "learned score (SDE)",
    "learned_ode": "learned score (ODE)",
    "vae": "VAE",
    "gan": "GAN",
    "gaussian": "Gaussian fit",
    "isotropic": "start law",
}
# a fixed offset per data set, so its draws do not depend on which other data sets are run
_DATA_CODES = {**{shape.value: i + 1 for i, shape in enumerate(ToyShape)}, DIGITS: 17}
_MODEL_REFERENCES = {
    "learned_sde": "Vincent 2011 (denoising score matching); Song et al. 2021 (ICLR, reverse SDE)",
    "vae": "Kingma & Welling 2014 (ICLR, auto-encoding variational Bayes)",
    "gan": "Goodfellow et al. 2014 (NeurIPS, generative adversarial nets)",
}
# GAN training has no convergence guarantee (a non-convex min-max game; Mescheder, Geiger,
# Nowozin 2018). On the checkerboard, whose Gaussian fit is already about as close to the data
# as the start law N(0, I), the GAN's margin over the Gaussian fit ranged from -2 to +22 null
# standard deviations across seeds and settings (3000-6000 steps, widths 64-128, latent 2-4):
# measured and drawn there, not claimed.
_GAN_NOT_CLAIMED = frozenset({ToyShape.CHECKERBOARD.value})
REFERENCE = ("Song, Durkan, Murray, Ermon 2021 (NeurIPS, Thm 1: KL <= score error); Chen, Chewi, "
             "Li, Li, Salim, Zhang 2023 (ICLR, Thm 2); Gretton et al. 2012 (JMLR 13, MMD)")


@dataclass(frozen=True, kw_only=True)
class LearnedModelsConfig:
    """Parameters of ``generative/learned-models``.

    toys: the 2-D toy laws (``sample_toy``: standardised by their population moments, mean 0
        and E|x|^2 = 2, so the diffusion runs in their own coordinates).
    toy_points: points drawn per toy, split into training and held-out sets.
    digits: include scikit-learn's 8x8 digits (1797 images in [-1, 1]^64; the diffusion runs in
        u = (x - m)/c, m the training mean, c^2 the training variance per pixel averaged).
    held_out_fraction: share of each data set held out (``held_out_split`` with the seed).
    samples: points generated per model and per reference (exact score, Gaussian fit, start
        law).
    bandwidth_scales: the MMD kernel is the mean of Gaussian kernels of bandwidths
        c * h_med, h_med the median distance between held-out points (median heuristic,
        Gretton et al. 2012), one per scale c: the median alone sees only the coarse shape of
        multimodal data; the mean keeps k(x, x) = 1, so MMD <= 2 TV still holds.
    toy_t_max, digits_t_max: the samplers start at t_max from N(0, I) (the equilibrium of the
        variance-preserving process, beta from 0.1 to 20, Song et al. 2021); a(t_max) = 0.28
        at 0.5, 0.084 at 0.7. The scores are trained on t in [t_min, t_max]: a t_max much past
        the point where p_t is Gaussian wastes most training steps on the trivial regime
        (on eight Gaussians t_max = 1 instead of 0.5 left 10x the MMD^2 after 1000 steps).
    t_min: the samplers stop there (sigma(t_min) = 0.01 at 1e-3).
    sampler_steps: uniform Euler-Maruyama steps of every reverse-SDE sampler; the ODE
        (probability flow, Heun) takes half as many steps, the same number of score calls.
    toy_score_hidden, toy_score_steps, toy_score_lr; digits_score_*: the ScoreMLP and its Adam
        training (``DenoisingScoreMatching``, learning rate decayed to a tenth).
    score_batch_size: rows per Adam step of the score.
    toy_vae_latent, toy_vae_hidden, toy_vae_steps, toy_vae_variance, toy_vae_lr; digits_vae_*:
        the VAE, with a Gaussian decoder of fixed variance s^2 (a learned variance collapses
        the posterior on standardised 2-D data: the decoder explains everything as noise).
    toy_gan_latent, toy_gan_hidden, toy_gan_steps, toy_gan_lr; digits_gan_*: the
        non-saturating GAN (the same hidden widths for the generator and the critic).
    model_batch_size: rows per Adam step of VAE and GAN (learning rates decayed to a tenth).
    toy_factor, digits_factor: the stated factor epsilon: the learned score's MMD^2 to held-out
        data may exceed the exact-score sampler's by at most epsilon times the gap between the
        sampler's start law N(0, I) (in data coordinates) and the exact-score sampler.
    significance: the "beats the Gaussian fit" claims require, and the bound claim allows, this
        many null standard deviations of the MMD^2 estimator.
    grid_points: generated points stored per toy panel of the figure (digits: 64 images).
    """

    toys: tuple[ToyShape, ...] = (ToyShape.EIGHT_GAUSSIANS, ToyShape.MOONS,
                                  ToyShape.CHECKERBOARD)
    toy_points: int = 10_000
    digits: bool = True
    held_out_fraction: float = 0.2
    samples: int = 2000
    bandwidth_scales: tuple[float, ...] = (1.0, 0.5, 0.25, 0.125)
    toy_t_max: float = 0.5
    digits_t_max: float = 0.7
    t_min: float = 1e-3
    sampler_steps: int = 200
    toy_score_hidden: tuple[int, ...] = (128, 128, 128)
    toy_score_steps: int = 4000
    toy_score_lr: float = 1e-2
    digits_score_hidden: tuple[int, ...] = (256, 256, 256)
    digits_score_steps: int = 3000
    digits_score_lr: float = 2e-3
    score_batch_size: int = 256
    toy_vae_latent: int = 2
    toy_vae_hidden: tuple[int, ...] = (64, 64)
    toy_vae_steps: int = 3000
    toy_vae_variance: float = 0.02
    digits_vae_latent: int = 8
    digits_vae_hidden: tuple[int, ...] = (256, 128)
    digits_vae_steps: int = 3000
    digits_vae_variance: float = 0.05
    toy_gan_latent: int = 2
    toy_gan_hidden: tuple[int, ...] = (64, 64)
    toy_gan_steps: int = 3000
    digits_gan_latent: int = 8
    digits_gan_hidden: tuple[int, ...] = (256, 256)
    digits_gan_steps: int = 3000
    toy_vae_lr: float = 2e-3
    toy_gan_lr: float = 5e-4
    digits_vae_lr: float = 2e-3
    digits_gan_lr: float = 5e-4
    model_batch_size: int = 256
    toy_factor: float = 0.25
    digits_factor: float = 0.75
    significance: float = 3.0
    grid_points: int = 500

    def __post_init__(self) -> None:
        require(isinstance(self.toys, tuple) and all(isinstance(s, ToyShape) for s in self.toys)
                and len(set(self.toys)) == len(self.toys), "toys",
                "a tuple of distinct ToyShape values", self.toys)
        require(bool(self.toys) or self.digits is True, "toys",
                "at least one toy, or digits = true", self.toys)
        require(isinstance(self.digits, bool), "digits", "a boolean", self.digits)
        require_int_range("toy_points", self.toy_points, 100, 10**6)
        require(isinstance(self.held_out_fraction, float)
                and 0.05 <= self.held_out_fraction <= 0.5, "held_out_fraction",
                "a number in [0.05, 0.5]", self.held_out_fraction)
        require_int_range("samples", self.samples, 64, 10**5)
        require(isinstance(self.bandwidth_scales, tuple) and len(self.bandwidth_scales) >= 1
                and all(isinstance(c, float) and math.isfinite(c) and c > 0
                        for c in self.bandwidth_scales), "bandwidth_scales",
                "at least one number > 0", self.bandwidth_scales)
        require_positive("t_min", self.t_min)
        for name in ("toy_t_max", "digits_t_max"):
            value = getattr(self, name)
            require_positive(name, value)
            require(value > self.t_min, name, f"a time > t_min = {self.t_min}", value)
        require_int_range("sampler_steps", self.sampler_steps, 2, 10**5)
        for prefix in ("toy", "digits"):
            for part in ("score", "vae", "gan"):
                require_ints(f"{prefix}_{part}_hidden", getattr(self, f"{prefix}_{part}_hidden"),
                             1, 8192)
                require_int_range(f"{prefix}_{part}_steps",
                                  getattr(self, f"{prefix}_{part}_steps"), 1, 10**6)
            for part in ("score", "vae", "gan"):
                require_positive(f"{prefix}_{part}_lr", getattr(self, f"{prefix}_{part}_lr"))
            require_positive(f"{prefix}_vae_variance", getattr(self, f"{prefix}_vae_variance"))
            for part in ("vae", "gan"):
                require_int_range(f"{prefix}_{part}_latent",
                                  getattr(self, f"{prefix}_{part}_latent"), 1, 512)
        require_int_range("score_batch_size", self.score_batch_size, 1, 10**6)
        require_int_range("model_batch_size", self.model_batch_size, 1, 10**6)
        for name in ("toy_factor", "digits_factor"):
            factor = getattr(self, name)
            require_positive(name, factor)
            require(factor < 1, name, "a factor < 1 (1: no better than the start law)", factor)
        require_positive("significance", self.significance)
        require_int_range("grid_points", self.grid_points, 16, 10**4)


# ---------------------------------------------------------------------------------- the metric


def _median_distance(x: torch.Tensor) -> float:
    d = torch.cdist(x, x)
    return float(d[torch.triu(torch.ones_like(d, dtype=torch.bool), diagonal=1)].median())


def _mixture_gram(x: torch.Tensor, bandwidths: tuple[float, ...]) -> torch.Tensor:
    sq = torch.cdist(x, x).square()
    return sum(torch.exp(-sq / (2 * h * h)) for h in bandwidths) / len(bandwidths)


def _centred_kernel_moment(x: torch.Tensor, bandwidths: tuple[float, ...]) -> float:
    r"""E k~(x, x')^2 for the kernel centred under the law of ``x`` (V-statistic of the doubly
    centred Gram matrix): the variance of MMD^2_u under the null is, for independent samples
    of sizes n and m, 2 E k~^2 (1/(n(n-1)) + 1/(m(m-1)) + 2/(nm)) (the three U-statistics of a
    degenerate kernel are uncorrelated; Gretton et al. 2012, Thm 12)."""
    k = _mixture_gram(x, bandwidths)
    centred = k - k.mean(0, keepdim=True) - k.mean(1, keepdim=True) + k.mean()
    return float(centred.square().mean())


def _null_sd(moment: float, n: int, m: int) -> float:
    return math.sqrt(2 * moment * (1 / (n * (n - 1)) + 1 / (m * (m - 1)) + 2 / (n * m)))


def _mmd2(x: torch.Tensor, y: torch.Tensor, bandwidths: tuple[float, ...]) -> float:
    """Unbiased MMD^2 with the mean of the Gaussian kernels (linear in the kernel)."""
    x, y = x.to(DTYPE), y.to(DTYPE)
    return sum(float(mmd2_unbiased(x, y, bandwidth=h)) for h in bandwidths) / len(bandwidths)


# ---------------------------------------------------------------------------------- samplers


def _gaussian_fit_sample(train: torch.Tensor, n: int, generator: torch.Generator
                         ) -> torch.Tensor:
    """n draws of N(mean, covariance) of the training set (a symmetric square root: the
    digits' covariance is singular, some pixels never light)."""
    mean = train.mean(0)
    cov = torch.cov(train.T)
    lam, vec = torch.linalg.eigh(0.5 * (cov + cov.T))
    root = (vec * lam.clamp_min(0).sqrt()) @ vec.T
    return mean + torch.randn(n, train.shape[1], generator=generator, dtype=DTYPE) @ root


def _exact_chain(score: ScoreFunction, learned: ScoreFunction, process: VariancePreserving,
                 x: torch.Tensor, grid: tuple[float, ...], generator: torch.Generator
                 ) -> tuple[torch.Tensor, float]:
    """Euler-Maruyama with the exact ``score``; returns the output and the Girsanov sum
    B = sum_k (h_k g_k^2 / 2) mean |learned - score|^2 along the exact chain."""
    bound = 0.0
    for t, t_next in zip(grid[:-1], grid[1:], strict=True):
        gap = (learned(x, t) - score(x, t)).square().sum(1).mean()
        bound += 0.5 * (t - t_next) * process.diffusion(t) ** 2 * float(gap)
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype)
        x = sampler_step(Sampler.EULER_MARUYAMA, score, process, x, t, t_next, noise=noise)
    return x, bound


@dataclass(frozen=True)
class _Settings:
    t_max: float
    score_hidden: tuple[int, ...]
    score_steps: int
    score_lr: float
    vae_latent: int
    vae_hidden: tuple[int, ...]
    vae_steps: int
    vae_variance: float
    gan_latent: int
    gan_hidden: tuple[int, ...]
    gan_steps: int
    vae_lr: float
    gan_lr: float


def _settings(config: LearnedModelsConfig, prefix: str) -> _Settings:
    return _Settings(**{f: getattr(config, f"{prefix}_{f}") for f in (
        "t_max", "score_hidden", "score_steps", "score_lr", "vae_latent", "vae_hidden",
        "vae_steps", "vae_variance", "gan_latent", "gan_hidden", "gan_steps", "vae_lr",
        "gan_lr")})


@dataclass(frozen=True)
class _DataSet:
    """A training/held-out split and the affine map x = shift + scale * u to the coordinates u
    in which the diffusion runs (mean 0, E|u|^2 = d: the start law N(0, I) of the sampler has
    the data's first moment and total variance); ``law``: the exact score of the data law in
    those coordinates, when known."""

    train: torch.Tensor
    held: torch.Tensor
    shift: torch.Tensor
    scale: float
    law: ScoreFunction | None


def _data(name: str, config: LearnedModelsConfig, generator: torch.Generator) -> _DataSet:
    process = VariancePreserving()
    if name == DIGITS:
        x, _ = load_digits(scale=PixelScale.SYMMETRIC, dtype=DTYPE)
    else:
        x = sample_toy(ToyShape(name), config.toy_points, generator=generator)
    train, held = held_out_split(x.shape[0], fraction=config.held_out_fraction,
                                 generator=generator)
    train, held = x[train], x[held]
    if name == DIGITS:  # by the training set's mean and total variance
        shift = train.mean(0)
        scale = math.sqrt(float((train - shift).square().sum(1).mean()) / train.shape[1])
    else:  # the toys are standardised by their population moments already (sample_toy)
        shift, scale = torch.zeros(train.shape[1], dtype=DTYPE), 1.0
    law = (exact_score(eight_gaussians(), process) if name == ToyShape.EIGHT_GAUSSIANS.value
           else None)
    return _DataSet(train, held, shift, scale, law)


def _evaluate(name: str, config: LearnedModelsConfig, seed: int, tick: Progress
              ) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Train, sample and measure one data set; returns its metrics and figure series."""
    generator = torch.Generator().manual_seed(1000 * seed + _DATA_CODES[name])
    s = _settings(config, "digits" if name == DIGITS else "toy")
    process = VariancePreserving()
    data = _data(name, config, generator)
    train, held = data.train, data.held
    u_train = (train - data.shift) / data.scale

    def to_data(u: torch.Tensor) -> torch.Tensor:
        return data.shift + data.scale * u

    d, n = train.shape[1], config.samples
    bandwidths = tuple(c * _median_distance(held) for c in config.bandwidth_scales)
    moment = _centred_kernel_moment(held, bandwidths)
    grid = time_grid(s.t_max, config.t_min, config.sampler_steps)
    out: dict[str, torch.Tensor] = {"floor": train}
    tick()

    learner = DenoisingScoreMatching(process, t_max=s.t_max, t_min=config.t_min,
                                     hidden=s.score_hidden, steps=s.score_steps,
                                     batch_size=config.score_batch_size, lr=s.score_lr)
    learned = learner.fit(u_train.to(TRAIN_DTYPE), generator=generator).score_
    tick()
    exact = data.law if data.law is not None else empirical_score(u_train, process)
    start = torch.randn(n, d, generator=generator, dtype=DTYPE)
    u_exact, bound = _exact_chain(exact, learned, process, start, grid, generator)
    out["exact"] = to_data(u_exact)
    start = torch.randn(n, d, generator=generator, dtype=DTYPE)
    out["learned_sde"] = to_data(sample(
        learned, process, start, sampler=Sampler.EULER_MARUYAMA, t_max=s.t_max,
        t_min=config.t_min, steps=config.sampler_steps, generator=generator))
    out["learned_ode"] = to_data(sample(
        learned, process, start, sampler=Sampler.HEUN, t_max=s.t_max, t_min=config.t_min,
        steps=max(1, config.sampler_steps // 2)))
    tick()

    vae = VAE(s.vae_latent, s.vae_hidden, decoder_variance=s.vae_variance, steps=s.vae_steps,
              lr=s.vae_lr, final_lr=s.vae_lr / 10,
              batch_size=config.model_batch_size)
    vae.fit(train.to(TRAIN_DTYPE), generator=generator)
    out["vae"] = vae.sample(n, generator=generator).to(DTYPE)
    tick()
    gan = GAN(s.gan_latent, s.gan_hidden, s.gan_hidden, steps=s.gan_steps, lr=s.gan_lr,
              final_lr=s.gan_lr / 10, batch_size=config.model_batch_size)
    gan.fit(train.to(TRAIN_DTYPE), generator=generator)
    out["gan"] = gan.sample(n, generator=generator).to(DTYPE)
    out["gaussian"] = _gaussian_fit_sample(train, n, generator)
    out["isotropic"] = to_data(torch.randn(n, d, generator=generator, dtype=DTYPE))

    metrics = {f"mmd2_{name}_{model}": _mmd2(y, held, bandwidths) for model, y in out.items()}
    exact_m, start_m = metrics[f"mmd2_{name}_exact"], metrics[f"mmd2_{name}_isotropic"]
    for model in MODELS:
        metrics[f"excess_ratio_{name}_{model}"] = ((metrics[f"mmd2_{name}_{model}"] - exact_m)
                                                  / (start_m - exact_m))
    metrics[f"null_sd_{name}"] = _null_sd(moment, held.shape[0], n)
    metrics[f"null_sd_pair_{name}"] = _null_sd(moment, n, n)
    metrics[f"mmd2_learned_vs_exact_{name}"] = _mmd2(out["learned_sde"], out["exact"],
                                                     bandwidths)
    metrics[f"girsanov_bound_{name}"] = 2 * bound
    metrics[f"median_distance_{name}"] = bandwidths[0] / config.bandwidth_scales[0]
    metrics[f"train_points_{name}"] = float(train.shape[0])
    metrics[f"held_out_points_{name}"] = float(held.shape[0])
    last = learner.history_[-100:]
    metrics[f"score_final_loss_{name}"] = sum(last) / len(last)
    series: dict[str, list[float]] = {}
    rows = 64 if name == DIGITS else config.grid_points
    for model in ("held_out", *MODELS):
        y = held if model == "held_out" else out[model]
        series[f"grid_{name}_{model}"] = y[:rows].reshape(-1).tolist()
    tick()
    return metrics, series


def _tag(name: str) -> str:
    return name.replace("_", "-")


def run_learned_models(config: LearnedModelsConfig, *, seed: int,
                       progress: Progress = no_progress) -> Result:
    names = [shape.value for shape in config.toys] + ([DIGITS] if config.digits else [])
    stages = 5
    total, done = stages * len(names), 0
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    claims: list[Claim] = []

    def tick() -> None:
        nonlocal done
        done += 1
        progress(done, total)

    for name in names:
        m, s = _evaluate(name, config, seed, tick)
        metrics.update(m)
        series.update(s)
        sd = metrics[f"null_sd_{name}"]
        factor = config.digits_factor if name == DIGITS else config.toy_factor
        exact_kind = ("the exact score of the mixture" if name == ToyShape.EIGHT_GAUSSIANS.value
                      else "the empirical score of the training set, whose samples are "
                           "training points")
        claims.append(Claim(
            name=f"learned-within-factor-{_tag(name)}",
            statement=f"{name}: the learned score's reverse-SDE samples have an MMD^2 to held-out "
                      f"data at most the exact-score sampler's ({exact_kind}) plus "
                      f"{factor:g} x the sampler's starting gap (MMD^2 of its start law "
                      "N(0, I) minus the exact sampler's): measured (MMD^2_learned - "
                      "MMD^2_exact) / (MMD^2_start - MMD^2_exact)",
            reference=REFERENCE, predicted=factor,
            measured=metrics[f"excess_ratio_{name}_learned_sde"], tolerance=0.0,
            kind=ClaimKind.UPPER_BOUND))
        if name == DIGITS:
            gap = (metrics[f"mmd2_{name}_isotropic"] - metrics[f"mmd2_{name}_learned_sde"]) / sd
            claims.append(Claim(
                name="learned-beats-start-digits",
                statement=f"digits: the learned score's MMD^2 to held-out data is below its start "
                          f"law's N(m, c^2 I) by more than {config.significance:g} null standard "
                          "deviations of the estimator (measured: the difference in those units; "
                          "the Gaussian fit with the full covariance is reported, not claimed: "
                          "pixel-space MMD is dominated by the first two moments)",
                reference=_MODEL_REFERENCES["learned_sde"],
                predicted=config.significance, measured=gap, tolerance=0.0,
                kind=ClaimKind.LOWER_BOUND))
            continue
        for model in ("learned_sde", "vae", "gan"):
            if model == "gan" and name in _GAN_NOT_CLAIMED:
                continue
            gap = (metrics[f"mmd2_{name}_gaussian"] - metrics[f"mmd2_{name}_{model}"]) / sd
            claims.append(Claim(
                name=f"{model.split('_')[0]}-beats-gaussian-{_tag(name)}",
                statement=f"{name}: the {MODEL_LABELS[model]}'s MMD^2 to held-out data is below "
                          f"the Gaussian fit's (the data's mean and covariance) by more than "
                          f"{config.significance:g} null standard deviations of the estimator: "
                          "a nonlinear model captures more than the first two moments "
                          "(measured: the difference in those units)",
                reference=_MODEL_REFERENCES[model],
                predicted=config.significance, measured=gap, tolerance=0.0,
                kind=ClaimKind.LOWER_BOUND))
        if name == ToyShape.EIGHT_GAUSSIANS.value:
            claims.append(Claim(
                name="girsanov-bound-eight-gaussians",
                statement="eight Gaussians: MMD^2 between the learned-score and the exact-score "
                          "Euler-Maruyama samples <= 2 sum_k (h_k g_k^2/2) E|s - s*|^2 along the "
                          f"exact chain (+ {config.significance:g} null standard deviations)",
                reference="discrete Girsanov/chain rule of KL (Song et al. 2021, Thm 1; Chen et "
                          "al. 2023, Thm 2) with MMD^2 <= 4 TV^2 <= 2 KL (Pinsker)",
                predicted=metrics[f"girsanov_bound_{name}"],
                measured=metrics[f"mmd2_learned_vs_exact_{name}"],
                tolerance=config.significance * metrics[f"null_sd_pair_{name}"],
                kind=ClaimKind.UPPER_BOUND))
    return Result(metrics=metrics, series=series, claims=tuple(claims))


# ---------------------------------------------------------------------------------- figure


def _names(result: Result) -> list[str]:
    """The data sets of a stored result, in the order they were run (that of their claims)."""
    prefix = "learned-within-factor-"
    return [c.name[len(prefix):].replace("-", "_") for c in result.claims
            if c.name.startswith(prefix)]


def figure_learned_models(result: Result) -> dict[str, Figure]:
    mt, s = result.metrics, result.series
    names = _names(result)
    toys = [n for n in names if n != DIGITS]
    panels = ("held_out", *MODELS[1:])
    figures: dict[str, Figure] = {}
    if toys:
        fig = Figure(figsize=(2.1 * len(panels), 2.2 * len(toys)))
        axes = fig.subplots(len(toys), len(panels), squeeze=False)
        for row, name in enumerate(toys):
            for col, model in enumerate(panels):
                ax = axes[row][col]
                flat = s[f"grid_{name}_{model}"]
                ax.scatter(flat[0::2], flat[1::2], s=1.5, alpha=0.6,
                           color="grey" if model == "held_out" else f"C{col}")
                ax.set_xlim(-3, 3)
                ax.set_ylim(-3, 3)
                ax.set_xticks([])
                ax.set_yticks([])
                if model == "held_out":
                    ax.set_ylabel(name.replace("_", " "), fontsize=8)
                    title = "held-out data"
                else:
                    title = (f"{MODEL_LABELS[model]}\nMMD² {mt[f'mmd2_{name}_{model}']:.1e}")
                ax.set_title(title, fontsize=7)
        fig.tight_layout()
        figures["toy-samples"] = fig
    if DIGITS in names:
        fig = Figure(figsize=(2.2 * len(panels), 2.6))
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, model in zip(axes, panels, strict=True):
            flat = torch.tensor(s[f"grid_{DIGITS}_{model}"])
            images = flat.reshape(-1, 8, 8)[:64]
            k = images.shape[0]
            side = math.ceil(math.sqrt(k))
            canvas = torch.full((side * 9 - 1, side * 9 - 1), 1.0)
            for i in range(k):
                r, c = divmod(i, side)
                canvas[9 * r:9 * r + 8, 9 * c:9 * c + 8] = images[i]
            ax.imshow(canvas.clamp(-1, 1).numpy(), cmap="gray_r", vmin=-1, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            title = "held-out digits" if model == "held_out" else (
                f"{MODEL_LABELS[model]}\nMMD² {mt[f'mmd2_{DIGITS}_{model}']:.1e}")
            ax.set_title(title, fontsize=7)
        fig.tight_layout()
        figures["digits-samples"] = fig
    fig = Figure(figsize=(max(6.0, 2.2 * len(names)) * 2, 4.2))
    ax1, ax2 = fig.subplots(1, 2)
    width = 0.8 / len(MODELS)
    for j, model in enumerate(MODELS):
        xs = [i + (j - (len(MODELS) - 1) / 2) * width for i in range(len(names))]
        ax1.bar(xs, [mt[f"mmd2_{n}_{model}"] for n in names], width, label=MODEL_LABELS[model],
                color=f"C{j}")
        if model not in ("exact", "isotropic"):
            ax2.bar(xs, [mt[f"excess_ratio_{n}_{model}"] for n in names], width, color=f"C{j}")
    for i, n in enumerate(names):
        sd = mt[f"null_sd_{n}"]
        ax1.plot([i - 0.45, i + 0.45], [sd, sd], "k:", lw=0.8)
        factor = next((c.predicted for c in result.claims
                       if c.name == f"learned-within-factor-{_tag(n)}"), None)
        if factor is not None:
            ax2.plot([i - 0.45, i + 0.45], [factor, factor], "k--", lw=0.8)
    ax1.set_yscale("symlog", linthresh=min(mt[f"null_sd_{n}"] for n in names))
    ax1.set_xticks(range(len(names)), [n.replace("_", " ") for n in names], fontsize=8)
    ax1.set_ylabel("MMD² to held-out data (unbiased)")
    ax1.set_title("MMD² per model (dotted: one null standard deviation)")
    ax1.legend(fontsize=6, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    ax2.set_yscale("symlog", linthresh=0.01)
    ax2.axhline(0, color="grey", lw=0.6)
    ax2.axhline(1, color="grey", lw=0.6)
    ax2.set_xticks(range(len(names)), [n.replace("_", " ") for n in names], fontsize=8)
    ax2.set_ylabel("(MMD² - MMD²_exact) / (MMD²_start - MMD²_exact)")
    ax2.set_title("excess over the exact-score sampler (dashed: stated factor)")
    fig.tight_layout()
    figures["mmd"] = fig
    return figures


learned_models = register(Experiment(
    name=f"{TOPIC}/learned-models",
    title="A learned score samples within a stated factor of the exact-score sampler in MMD; "
          "VAE and GAN by the same metric",
    reference=REFERENCE,
    description=(
        "2-D toys (eight Gaussians, whose exact score is known, and non-Gaussian shapes) and "
        "scikit-learn's digits, split into training and held-out sets. A score learned by "
        "denoising score matching drives the reverse SDE (Euler-Maruyama) and the probability-"
        "flow ODE; the reference is the exact-score sampler on the same grid (the mixture's "
        "score for eight Gaussians, the empirical score of the training set otherwise). A VAE, "
        "a GAN, the training set itself (the floor) and a Gaussian with the data's mean and "
        "covariance (a naive baseline) are measured by the same unbiased MMD^2 to held-out "
        "data (mean of Gaussian kernels at 1, 1/2, 1/4, 1/8 of the median distance). Claims: "
        "the learned score's excess MMD^2 over the exact-score sampler is at most a stated "
        "fraction of the sampler's starting gap (start law N(0, I) against the exact sampler); "
        "on the toys the learned score, the VAE and the GAN beat the Gaussian fit by a "
        "significant margin (the GAN not on the checkerboard, where its training is unstable "
        "across seeds: measured, not claimed); on digits the learned score beats its start "
        "law (pixel-space MMD ranks the Gaussian fit first: reported, not claimed); on eight "
        "Gaussians the MMD^2 between learned and exact samples obeys the Girsanov bound "
        "2 sum h g^2/2 E|s - s*|^2."
    ),
    config_type=LearnedModelsConfig,
    quick=LearnedModelsConfig(
        toys=(ToyShape.EIGHT_GAUSSIANS,), toy_points=2500, digits=False, samples=1000,
        sampler_steps=100, toy_score_hidden=(64, 64), toy_score_steps=1500,
        toy_vae_steps=800, toy_gan_steps=800, toy_gan_lr=2e-3, grid_points=300,
    ),
    full=LearnedModelsConfig(),
    run=run_learned_models,
    figure=figure_learned_models,
))
