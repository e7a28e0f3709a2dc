"""Benign overfitting: effective ranks against their definitions and closed forms, the bound's
terms for the spiked and isotropic spectra, the design sampler, and the exact variance term
against the pseudo-inverse and against inverse-Wishart theory."""

from __future__ import annotations

import math

import pytest
import torch

from mathdl.generalization import (
    benign_bias_term,
    benign_critical_index,
    benign_variance_term,
    diagonal_excess_risk,
    effective_ranks,
    min_norm_least_squares,
    min_norm_variance,
    prediction_risk,
    sample_gaussian_design,
    spiked_spectrum,
)

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _decreasing(p: int, seed: int) -> torch.Tensor:
    return torch.sort(torch.rand(p, generator=_gen(seed), dtype=F64) + 0.01,
                      descending=True).values


def test_effective_ranks_match_the_definition():
    lam = torch.tensor([4.0, 2.0, 1.0, 1.0], dtype=F64)
    r, big_r = effective_ranks(lam)
    torch.testing.assert_close(r, torch.tensor([8 / 4, 4 / 2, 2 / 1, 1.0], dtype=F64))
    torch.testing.assert_close(big_r, torch.tensor([64 / 22, 16 / 6, 4 / 2, 1.0], dtype=F64))


def test_flat_spectrum_has_ranks_p_minus_k():
    r, big_r = effective_ranks(torch.full((7,), 0.3, dtype=F64))
    expected = torch.arange(7, 0, -1, dtype=F64)
    torch.testing.assert_close(r, expected)
    torch.testing.assert_close(big_r, expected)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ranks_are_ordered(seed):
    lam = _decreasing(50, seed)
    r, big_r = effective_ranks(lam)
    k = torch.arange(50, dtype=F64)
    assert bool((r >= 1 - 1e-12).all())
    assert bool((r <= big_r * (1 + 1e-12)).all())
    assert bool((big_r <= (50 - k) * (1 + 1e-12)).all())


def test_ranks_are_scale_invariant():
    lam = _decreasing(20, 3)
    for a, b in zip(effective_ranks(lam), effective_ranks(7.5 * lam), strict=True):
        torch.testing.assert_close(a, b)


def test_spiked_spectrum_critical_index_and_variance_term():
    s, q, n, mass = 3, 500, 40, 6.0
    lam = spiked_spectrum(s, q, mass)
    assert lam.shape == (s + q,)
    assert benign_critical_index(lam, n) == s
    r, big_r = effective_ranks(lam)
    assert float(r[s]) == pytest.approx(q)
    assert float(big_r[s]) == pytest.approx(q)
    assert benign_variance_term(lam, n, noise=0.5) == pytest.approx(0.25 * (s / n + n / q))


def test_isotropic_spectrum_is_not_benign():
    # R_0 = p: the variance term sigma^2 n / p does not vanish for p proportional to n
    for n in (50, 100, 200):
        lam = torch.ones(int(1.5 * n), dtype=F64)
        assert benign_critical_index(lam, n) == 0
        assert benign_variance_term(lam, n, noise=1.0) == pytest.approx(1 / 1.5, rel=1e-2)


def test_critical_index_rejects_a_short_spectrum():
    with pytest.raises(ValueError, match="eigenvalues"):
        benign_critical_index(torch.ones(10, dtype=F64), 20)


def test_bias_term_closed_form():
    lam = torch.tensor([2.0, 1.0, 1.0], dtype=F64)       # r_0 = 2, |Sigma| = 2
    assert benign_bias_term(lam, 8, signal_norm=3.0) == pytest.approx(9 * 2 * math.sqrt(2 / 8))
    assert benign_bias_term(lam, 1, signal_norm=1.0) == pytest.approx(2 * 2.0)


def test_design_has_the_covariance():
    lam = torch.tensor([3.0, 1.0, 0.25], dtype=F64)
    x = sample_gaussian_design(lam, 40_000, generator=_gen(4))
    cov = x.T @ x / x.shape[0]
    # entries of the sample covariance have sd <= 3 sqrt(2) / sqrt(40000) ~ 0.02
    torch.testing.assert_close(cov, torch.diag(lam), atol=0.08, rtol=0)


def test_diagonal_excess_risk_is_prediction_risk():
    lam = _decreasing(6, 5)
    b, t = torch.randn(2, 6, generator=_gen(6), dtype=F64)
    torch.testing.assert_close(diagonal_excess_risk(b, t, lam),
                               prediction_risk(b, t, covariance=torch.diag(lam)))


def test_min_norm_variance_is_the_pseudo_inverse_trace():
    lam = _decreasing(30, 7)
    x = sample_gaussian_design(lam, 12, generator=_gen(8))
    pinv = torch.linalg.pinv(x)                                 # (p, n)
    expected = 0.7**2 * torch.trace(pinv.T @ torch.diag(lam) @ pinv)
    torch.testing.assert_close(min_norm_variance(x, lam, noise=0.7), expected)


def test_min_norm_variance_is_the_noise_average_of_the_risk():
    lam = _decreasing(25, 9)
    x = sample_gaussian_design(lam, 10, generator=_gen(10))
    eps = torch.randn(4000, 10, generator=_gen(11), dtype=F64)
    risks = diagonal_excess_risk(min_norm_least_squares(x.expand(4000, 10, 25), eps),
                                 torch.zeros(4000, 25, dtype=F64), lam)
    # Monte Carlo over the noise: 4 standard errors
    assert float(risks.mean()) == pytest.approx(float(min_norm_variance(x, lam, noise=1.0)),
                                                abs=4 * float(risks.std()) / math.sqrt(4000))


def test_isotropic_variance_matches_inverse_wishart():
    # Sigma = I: E_X sigma^2 tr((X X^T)^-1) = sigma^2 n / (p - n - 1)
    n, p = 10, 25
    lam = torch.ones(p, dtype=F64)
    g = _gen(12)
    vals = torch.stack([min_norm_variance(sample_gaussian_design(lam, n, generator=g), lam,
                                          noise=1.0) for _ in range(2000)])
    assert float(vals.mean()) == pytest.approx(n / (p - n - 1),
                                               abs=4 * float(vals.std()) / math.sqrt(2000))


def test_interpolator_fits_the_noise():
    lam = spiked_spectrum(2, 200, 3.0)
    x = sample_gaussian_design(lam, 30, generator=_gen(13))
    y = torch.randn(30, generator=_gen(14), dtype=F64)
    torch.testing.assert_close(x @ min_norm_least_squares(x, y), y)


@pytest.mark.parametrize(("call", "name"), [
    (lambda: effective_ranks(torch.tensor([1.0, 2.0], dtype=F64)), "eigenvalues"),
    (lambda: effective_ranks(torch.tensor([1.0, 0.0], dtype=F64)), "eigenvalues"),
    (lambda: benign_critical_index(torch.ones(50, dtype=F64), 0), "n"),
    (lambda: benign_critical_index(torch.ones(50, dtype=F64), 5, b=0.0), "b"),
    (lambda: benign_variance_term(torch.ones(50, dtype=F64), 5, noise=-1.0), "noise"),
    (lambda: spiked_spectrum(2, 0, 1.0), "tail_dim"),
    (lambda: spiked_spectrum(2, 3, 10.0), "tail_mass"),
    (lambda: sample_gaussian_design(torch.ones(3, dtype=F64), 4, generator=1), "generator"),
    (lambda: min_norm_variance(torch.ones(5, 3, dtype=F64), torch.ones(3, dtype=F64),
                               noise=1.0), "x"),
    (lambda: diagonal_excess_risk(torch.ones(3, dtype=F64), torch.ones(3, dtype=F64),
                                  torch.ones(2, dtype=F64)), "eigenvalues"),
])
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.parametrize(("changes", "field"), [
    ({"tail_exponent": 1.0}, "tail_exponent"),
    ({"tail_mass_exponent": 1.0}, "tail_mass_exponent"),
    ({"isotropic_ratio": 1.0}, "isotropic_ratio"),
    ({"constant_factor": 1.0}, "constant_factor"),
    ({"sample_sizes": (8, 16, 32), "num_spikes": 10}, "sample_sizes"),
])
def test_config_rejects_bad_values(changes, field):
    import dataclasses

    from mathdl.generalization.experiments_extra import BenignOverfittingConfig
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(BenignOverfittingConfig(), **changes)
