"""Data sets: the toy shapes' standardisation against their closed-form population moments, the
eight Gaussians against their mixture within standard errors, the random mixtures' spectra, the
digits' range and labels, the held-out split as a partition, determinism under the seed."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mathdl.generative import (
    GaussianMixture,
    PixelScale,
    ToyShape,
    eight_gaussians,
    held_out_split,
    load_digits,
    random_gaussian_mixture,
    sample_toy,
    toy_standardisation,
)

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("shape", list(ToyShape), ids=lambda s: s.value)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_toy_shapes_and_dtypes(shape: ToyShape, dtype: torch.dtype) -> None:
    x = sample_toy(shape, 50, generator=_gen(0), dtype=dtype)
    assert x.shape == (50, 2) and x.dtype == dtype
    assert bool(torch.all(torch.isfinite(x)))


@pytest.mark.parametrize("shape", list(ToyShape), ids=lambda s: s.value)
def test_toy_determinism_under_the_seed(shape: ToyShape) -> None:
    a = sample_toy(shape, 100, generator=_gen(3))
    b = sample_toy(shape, 100, generator=_gen(3))
    c = sample_toy(shape, 100, generator=_gen(4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    # drawn in float64 then converted: the float32 sample is the rounded float64 one
    single = sample_toy(shape, 100, generator=_gen(3), dtype=torch.float32)
    assert torch.equal(single, a.to(torch.float32))


@pytest.mark.parametrize("shape", list(ToyShape), ids=lambda s: s.value)
def test_toy_standardised_moments_within_standard_error(shape: ToyShape) -> None:
    # The standardisation uses the population moments in closed form, so the sample mean is 0
    # and the mean of |x|^2 is 2 up to Monte Carlo error. With n = 2e5 the standard error of the
    # mean of |x|^2 is ~0.004; a closed form missing the noise term (2 eta^2 / c^2, e.g. 0.04
    # for the moons) or with a wrong mean is ten standard errors or more away.
    n = 200_000
    x = sample_toy(shape, n, generator=_gen(11))
    se_mean = x.std(0) / math.sqrt(n)
    assert bool(torch.all(x.mean(0).abs() < 4.5 * se_mean)), (x.mean(0), se_mean)
    sq = x.square().sum(1)
    assert abs(float(sq.mean()) - 2.0) < 4.5 * float(sq.std()) / math.sqrt(n)


def test_toy_standardisation_constants() -> None:
    # moons: Var x = 3/4, Var y = 9/16 - 1/pi, plus noise 2 * 0.01; mean (1/2, 1/4)
    mean, c = toy_standardisation(ToyShape.MOONS)
    assert mean == (0.5, 0.25)
    assert c == pytest.approx(math.sqrt((3 / 4 + 9 / 16 - 1 / math.pi + 0.02) / 2), rel=1e-15)
    # checkerboard: both marginals uniform on [-2, 2], variance 4/3 each
    assert toy_standardisation(ToyShape.CHECKERBOARD) == ((0.0, 0.0),
                                                          pytest.approx(math.sqrt(4 / 3)))


def test_swiss_roll_moments_by_quadrature() -> None:
    # the closed forms of E[theta cos theta], E[theta sin theta], E[theta^2] against a Gauss-
    # Legendre rule on [3 pi/2, 9 pi/2] (the integrands are entire: the rule is exact to rounding)
    z, w = np.polynomial.legendre.leggauss(64)
    a, b = 1.5 * math.pi, 4.5 * math.pi
    theta = 0.5 * (b - a) * z + 0.5 * (a + b)
    avg = 0.5 * w  # weights of the uniform law on [a, b]
    m1 = float((avg * theta * np.cos(theta)).sum())
    m2 = float((avg * theta * np.sin(theta)).sum())
    second = float((avg * theta**2).sum())
    mean, c = toy_standardisation(ToyShape.SWISS_ROLL)
    assert mean == pytest.approx((m1, m2), rel=1e-13)
    assert c**2 == pytest.approx((second - m1**2 - m2**2 + 2 * 0.5**2) / 2, rel=1e-13)


def test_checkerboard_lies_on_the_dark_squares() -> None:
    x = sample_toy(ToyShape.CHECKERBOARD, 5000, generator=_gen(2))
    _, c = toy_standardisation(ToyShape.CHECKERBOARD)
    raw = x * c
    assert bool(torch.all(raw.abs() <= 2 + 1e-12))
    parity = torch.remainder(torch.floor(raw[:, 0]) + torch.floor(raw[:, 1]), 2)
    assert bool(torch.all(parity == 0))


def test_rings_radii() -> None:
    # raw radii are 1, 2, 3 plus noise of standard deviation 0.1: every point is within 6 noise
    # standard deviations of one ring, and the three rings are equally likely
    x = sample_toy(ToyShape.RINGS, 30_000, generator=_gen(5))
    _, c = toy_standardisation(ToyShape.RINGS)
    r = (x * c).norm(dim=1)
    ring = torch.round(r).clamp(1, 3)
    assert float((r - ring).abs().max()) < 0.6
    counts = torch.bincount(ring.long(), minlength=4)[1:].to(F64)
    p = 1 / 3
    se = math.sqrt(p * (1 - p) / 30_000)
    assert bool(torch.all((counts / 30_000 - p).abs() < 4.5 * se))


def test_eight_gaussians_mixture_is_standardised() -> None:
    mix = eight_gaussians()
    assert isinstance(mix, GaussianMixture) and mix.n_components == 8 and mix.is_isotropic
    torch.testing.assert_close(mix.mean(), torch.zeros(2, dtype=F64), rtol=0, atol=1e-15)
    torch.testing.assert_close(mix.covariance(), torch.eye(2, dtype=F64), rtol=1e-14,
                               atol=1e-14)
    single = eight_gaussians(dtype=torch.float32)
    assert single.means.dtype == torch.float32


def test_eight_gaussians_sample_is_a_sample_of_its_mixture() -> None:
    mix = eight_gaussians()
    assert torch.equal(sample_toy(ToyShape.EIGHT_GAUSSIANS, 300, generator=_gen(9)),
                       mix.sample(300, generator=_gen(9)))


def test_eight_gaussians_moments_within_standard_error() -> None:
    # First and second moments of the sample against the mixture's, each within 4.5 standard
    # errors (estimated from the sample); and a fourth moment, which the 8-point geometry fixes:
    # E[x1^4] = sum_k w_k (mu_k1^4 + 6 mu_k1^2 v + 3 v^2).
    n = 200_000
    mix = eight_gaussians()
    x = sample_toy(ToyShape.EIGHT_GAUSSIANS, n, generator=_gen(21))
    mean = x.mean(0)
    assert bool(torch.all((mean - mix.mean()).abs() < 4.5 * x.std(0) / math.sqrt(n)))
    prods = x[:, :, None] * x[:, None, :]
    second = prods.mean(0)
    se = prods.std(0) / math.sqrt(n)
    assert bool(torch.all((second - mix.second_moment()).abs() < 4.5 * se))
    v = float(mix.covariances[0])
    mu1 = mix.means[:, 0]
    fourth = float((mix.weights * (mu1**4 + 6 * mu1**2 * v + 3 * v * v)).sum())
    x4 = x[:, 0] ** 4
    assert abs(float(x4.mean()) - fourth) < 4.5 * float(x4.std()) / math.sqrt(n)


@pytest.mark.parametrize("isotropic", [False, True], ids=["full", "isotropic"])
def test_random_gaussian_mixture(isotropic: bool) -> None:
    mix = random_gaussian_mixture(6, 4, generator=_gen(1), variances=(0.2, 3.0),
                                  isotropic=isotropic)
    assert mix.dim == 6 and mix.n_components == 4 and mix.is_isotropic == isotropic
    assert float(mix.weights.max() / mix.weights.min()) <= 3.0
    eig = torch.linalg.eigvalsh(mix.full_covariances())
    assert float(eig.min()) >= 0.2 * (1 - 1e-12) and float(eig.max()) <= 3.0 * (1 + 1e-12)
    again = random_gaussian_mixture(6, 4, generator=_gen(1), variances=(0.2, 3.0),
                                    isotropic=isotropic)
    assert torch.equal(mix.means, again.means) and torch.equal(mix.covariances,
                                                               again.covariances)
    single = random_gaussian_mixture(6, 4, generator=_gen(1), variances=(0.2, 3.0),
                                     isotropic=isotropic, dtype=torch.float32)
    assert single.means.dtype == torch.float32
    torch.testing.assert_close(single.means, mix.means.float())


def test_random_gaussian_mixture_means_have_the_stated_spread() -> None:
    # the means are N(0, spread^2 I): with 400 x 50 coordinates the sample variance of the
    # coordinates is spread^2 within 4.5 standard errors (sqrt(2/N) relative, N = 2e4)
    mix = random_gaussian_mixture(50, 400, generator=_gen(2), spread=1.5, isotropic=True)
    var = float(mix.means.square().mean())
    assert abs(var / 1.5**2 - 1) < 4.5 * math.sqrt(2 / mix.means.numel())


@pytest.mark.parametrize(("scale", "low", "high"), [(PixelScale.UNIT_INTERVAL, 0.0, 1.0),
                                                    (PixelScale.SYMMETRIC, -1.0, 1.0)],
                         ids=["unit", "symmetric"])
def test_digits_range_and_labels(scale: PixelScale, low: float, high: float) -> None:
    x, labels = load_digits(scale=scale)
    assert x.shape == (1797, 64) and x.dtype == F64
    assert labels.shape == (1797,) and labels.dtype == torch.int64
    assert float(x.min()) == low and float(x.max()) == high
    # pixels are counts 0..16: on the grid of 17 levels of the range
    levels = (x - low) / (high - low) * 16
    assert torch.equal(levels, torch.round(levels))
    assert torch.equal(torch.unique(labels), torch.arange(10))
    assert torch.bincount(labels).min() >= 170  # ~180 images per digit


def test_digits_scales_agree_with_scikit_learn() -> None:
    from sklearn.datasets import load_digits as sklearn_digits

    unit, labels = load_digits(scale=PixelScale.UNIT_INTERVAL, dtype=torch.float32)
    sym, _ = load_digits()
    bunch = sklearn_digits()
    torch.testing.assert_close(unit, torch.as_tensor(bunch.data / 16, dtype=torch.float32))
    torch.testing.assert_close(sym, 2 * unit.double() - 1, rtol=0, atol=1e-15)
    assert torch.equal(labels, torch.as_tensor(bunch.target))
    # image row r, column c is coordinate 8 r + c
    torch.testing.assert_close(unit[5].reshape(8, 8),
                               torch.as_tensor(bunch.images[5] / 16, dtype=torch.float32))


def test_held_out_split_is_a_seeded_partition() -> None:
    train, held = held_out_split(1797, fraction=0.2, generator=_gen(0))
    assert held.numel() == round(0.2 * 1797) and train.numel() == 1797 - held.numel()
    assert torch.equal(torch.sort(torch.cat([train, held])).values, torch.arange(1797))
    assert torch.equal(train, torch.sort(train).values)
    train2, held2 = held_out_split(1797, fraction=0.2, generator=_gen(0))
    assert torch.equal(train, train2) and torch.equal(held, held2)
    _, held3 = held_out_split(1797, fraction=0.2, generator=_gen(1))
    assert not torch.equal(held, held3)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 500), fraction=st.floats(0.01, 0.99), seed=st.integers(0, 2**31))
def test_held_out_split_partition_property(n: int, fraction: float, seed: int) -> None:
    held_size = round(fraction * n)
    if not 1 <= held_size <= n - 1:
        with pytest.raises(ValueError, match="fraction"):
            held_out_split(n, fraction=fraction, generator=_gen(seed))
        return
    train, held = held_out_split(n, fraction=fraction, generator=_gen(seed))
    assert held.numel() == held_size
    assert torch.equal(torch.sort(torch.cat([train, held])).values, torch.arange(n))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: sample_toy("moons", 10, generator=_gen(0)), "shape: expected a ToyShape"),
        (lambda: sample_toy(ToyShape.MOONS, 0, generator=_gen(0)), "n: expected"),
        (lambda: sample_toy(ToyShape.MOONS, 10, generator=0), "generator: expected"),
        (lambda: toy_standardisation(None), "shape: expected a ToyShape"),
        (lambda: random_gaussian_mixture(0, 2, generator=_gen(0)), "d: expected"),
        (lambda: random_gaussian_mixture(2, 0, generator=_gen(0)), "k: expected"),
        (lambda: random_gaussian_mixture(2, 2, generator=_gen(0), spread=-1.0),
         "spread: expected"),
        (lambda: random_gaussian_mixture(2, 2, generator=_gen(0), variances=(2.0, 1.0)),
         "variances: expected low <= high"),
        (lambda: random_gaussian_mixture(2, 2, generator=_gen(0), variances=(0.0, 1.0)),
         "variances: expected"),
        (lambda: random_gaussian_mixture(2, 2, generator=_gen(0), variances=1.0),
         "variances: expected a tuple"),
        (lambda: load_digits(scale="symmetric"), "scale: expected a PixelScale"),
        (lambda: held_out_split(1, generator=_gen(0)), "n: expected"),
        (lambda: held_out_split(10, fraction=1.0, generator=_gen(0)), "fraction: expected"),
        (lambda: held_out_split(10, fraction=0.01, generator=_gen(0)), "fraction: expected"),
        (lambda: held_out_split(10, fraction=0.5, generator=None), "generator: expected"),
    ],
)
def test_bad_input_names_the_argument(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()
