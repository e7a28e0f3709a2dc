"""``generative/learned-models``: config validation, the MMD null spread and the Girsanov sum it
relies on, the digits path end to end (the quick preset runs the toys only; the conformance
suite covers it), and the figure from a stored result."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

from mathdl.atlas import Result
from mathdl.generative import (
    GaussianMixture,
    Sampler,
    ToyShape,
    VariancePreserving,
    eight_gaussians,
    exact_score,
    mmd2_unbiased,
    sample,
    time_grid,
)
from mathdl.generative import experiments_learned as learned
from mathdl.generative.experiments_learned import LearnedModelsConfig

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(("changes", "match"), [
    ({"toys": (ToyShape.MOONS, ToyShape.MOONS)}, "toys:"),
    ({"toys": (), "digits": False}, "toys:"),
    ({"toys": ("moons",)}, "toys:"),
    ({"toy_points": 10}, "toy_points:"),
    ({"held_out_fraction": 0.9}, "held_out_fraction:"),
    ({"samples": 8}, "samples:"),
    ({"bandwidth_scales": ()}, "bandwidth_scales:"),
    ({"bandwidth_scales": (1.0, -0.5)}, "bandwidth_scales:"),
    ({"t_min": 0.0}, "t_min:"),
    ({"toy_t_max": 1e-4}, "toy_t_max:"),
    ({"sampler_steps": 1}, "sampler_steps:"),
    ({"toy_score_hidden": ()}, "toy_score_hidden:"),
    ({"digits_gan_steps": 0}, "digits_gan_steps:"),
    ({"toy_vae_variance": 0.0}, "toy_vae_variance:"),
    ({"digits_score_lr": -1.0}, "digits_score_lr:"),
    ({"toy_factor": 1.0}, "toy_factor:"),
    ({"digits_factor": 0.0}, "digits_factor:"),
    ({"significance": 0.0}, "significance:"),
    ({"grid_points": 4}, "grid_points:"),
])
def test_bad_config_names_the_field(changes, match) -> None:
    with pytest.raises(ValueError, match=match):
        LearnedModelsConfig(**changes)


def test_presets_are_valid_and_quick_is_small() -> None:
    quick, full = learned.learned_models.quick, learned.learned_models.full
    assert quick.digits is False and quick.toys == (ToyShape.EIGHT_GAUSSIANS,)
    assert full.digits is True and ToyShape.EIGHT_GAUSSIANS in full.toys and len(full.toys) >= 3


def test_null_sd_matches_the_spread_of_mmd2_under_the_null() -> None:
    # MMD^2_u of two independent samples of one law: mean 0 and standard deviation
    # sqrt(2 E k~^2 (1/(n(n-1)) + 1/(m(m-1)) + 2/(nm))). E k~^2 from 4000 points (its own error
    # is ~3%); 400 replicates estimate the sd to ~3.5%; 15% tolerance. Dropping the cross term
    # 2/(nm) would give sd / sqrt(2) (29% off), treating the kernel as non-degenerate far more.
    law = eight_gaussians()
    g = _gen(0)
    bandwidths = (0.7, 0.35)
    moment = learned._centred_kernel_moment(law.sample(4000, generator=g), bandwidths)
    n, m = 60, 90
    draws = torch.tensor([learned._mmd2(law.sample(n, generator=g), law.sample(m, generator=g),
                                        bandwidths) for _ in range(400)], dtype=F64)
    predicted = learned._null_sd(moment, n, m)
    assert abs(float(draws.std()) / predicted - 1) < 0.15, (float(draws.std()), predicted)
    assert abs(float(draws.mean())) < 4 * predicted / math.sqrt(400)


def test_mixture_kernel_mmd_is_the_mean_of_the_single_kernel_ones() -> None:
    g = _gen(1)
    x, y = torch.randn(30, 2, generator=g, dtype=F64), torch.randn(40, 2, generator=g, dtype=F64)
    single = [float(mmd2_unbiased(x, y, bandwidth=h)) for h in (0.5, 2.0)]
    assert learned._mmd2(x, y, (0.5, 2.0)) == pytest.approx(sum(single) / 2, rel=1e-12)


def test_exact_chain_is_the_library_sampler_and_its_girsanov_sum() -> None:
    # The chain driven by the exact score is `sample` (same draws); with s = s* + delta for a
    # constant delta the Girsanov sum is sum_k (h_k beta(t_k)/2) |delta|^2 exactly.
    process = VariancePreserving()
    score = exact_score(eight_gaussians(), process)
    delta = torch.tensor([0.3, -0.4], dtype=F64)

    def shifted(x: torch.Tensor, t: float) -> torch.Tensor:
        return score(x, t) + delta

    grid = time_grid(0.5, 1e-3, 20)
    start = torch.randn(50, 2, generator=_gen(2), dtype=F64)
    out, bound = learned._exact_chain(score, shifted, process, start, grid, _gen(3))
    expected = sample(score, process, start, sampler=Sampler.EULER_MARUYAMA, t_max=0.5,
                      t_min=1e-3, steps=20, generator=_gen(3))
    assert torch.equal(out, expected)
    closed = sum(0.5 * (t - u) * process.beta(t) * 0.25
                 for t, u in zip(grid[:-1], grid[1:], strict=True))
    assert bound == pytest.approx(closed, rel=1e-12)
    _, zero = learned._exact_chain(score, score, process, start, grid, _gen(3))
    assert zero == 0.0


def test_gaussian_fit_sample_has_the_training_moments_with_a_singular_covariance() -> None:
    # a constant column (like the digits' corner pixels) makes the covariance singular
    g = _gen(4)
    train = torch.cat([GaussianMixture.gaussian(
        torch.zeros(2, dtype=F64), torch.tensor([[2.0, 0.6], [0.6, 1.0]], dtype=F64)).sample(
        500, generator=g), torch.full((500, 1), -1.0, dtype=F64)], dim=1)
    y = learned._gaussian_fit_sample(train, 20000, g)
    assert torch.allclose(y[:, 2], torch.full((20000,), -1.0, dtype=F64), atol=1e-12)
    # Monte Carlo error of 20000 draws: ~0.01 on the mean, ~0.03 on the covariance
    assert torch.allclose(y.mean(0), train.mean(0), atol=0.05)
    assert torch.allclose(torch.cov(y.T), torch.cov(train.T), atol=0.1)


def test_digits_are_standardised_for_the_diffusion() -> None:
    data = learned._data(learned.DIGITS, learned.learned_models.full, _gen(5))
    u = (data.train - data.shift) / data.scale
    assert data.train.shape[1] == 64 and data.law is None
    assert data.train.shape[0] + data.held.shape[0] == 1797
    assert torch.allclose(u.mean(0), torch.zeros(64, dtype=F64), atol=1e-12)
    assert float(u.square().sum(1).mean()) == pytest.approx(64.0, rel=1e-12)


@pytest.fixture(scope="module")
def tiny_digits() -> Result:
    # the digits path end to end, at a size that runs in about a second (no claim is expected
    # to hold after a few training steps)
    config = dataclasses.replace(
        learned.learned_models.full, toys=(ToyShape.MOONS,), toy_points=400, samples=64,
        sampler_steps=4, digits_score_hidden=(16,), digits_score_steps=5, toy_score_hidden=(8,),
        toy_score_steps=5, digits_vae_hidden=(8,), digits_vae_steps=5, toy_vae_hidden=(8,),
        toy_vae_steps=5, digits_gan_hidden=(8,), digits_gan_steps=5, toy_gan_hidden=(8,),
        toy_gan_steps=5, grid_points=32)
    return learned.run_learned_models(config, seed=0)


def test_tiny_run_measures_every_model_on_every_data_set(tiny_digits: Result) -> None:
    for name in ("moons", "digits"):
        for model in learned.MODELS:
            assert math.isfinite(tiny_digits.metrics[f"mmd2_{name}_{model}"])
        assert tiny_digits.metrics[f"excess_ratio_{name}_exact"] == 0.0
        assert tiny_digits.metrics[f"excess_ratio_{name}_isotropic"] == 1.0
    assert len(tiny_digits.series["grid_digits_learned_sde"]) == 64 * 64
    assert len(tiny_digits.series["grid_moons_gan"]) == 32 * 2
    names = {c.name for c in tiny_digits.claims}
    assert {"learned-within-factor-digits", "learned-within-factor-moons",
            "gan-beats-gaussian-moons"} <= names
    assert "girsanov-bound-eight-gaussians" not in names


def test_figures_are_drawn_from_the_stored_result(tiny_digits: Result) -> None:
    stored = Result.from_dict(json.loads(json.dumps(tiny_digits.to_dict())))
    figures = learned.figure_learned_models(stored)
    assert set(figures) == {"toy-samples", "digits-samples", "mmd"}
