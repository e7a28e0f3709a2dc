"""Linear regression in proportional asymptotics: estimators, the Marchenko-Pastur Stieltjes
transform against quadrature and random matrices, and the risks against simulation."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import integrate

from mathdl.generalization import (
    marchenko_pastur_stieltjes,
    min_norm_asymptotic_risk,
    min_norm_finite_sample_risk,
    min_norm_least_squares,
    optimal_ridge_penalty,
    prediction_risk,
    ridge_asymptotic_risk,
    ridge_regression,
    sample_isotropic_regression,
)

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------ estimators


@pytest.mark.parametrize(("n", "p"), [(30, 10), (10, 30)])
def test_min_norm_is_the_pseudo_inverse(n, p):
    x = torch.randn(n, p, generator=_gen(1), dtype=F64)
    y = torch.randn(n, generator=_gen(2), dtype=F64)
    torch.testing.assert_close(min_norm_least_squares(x, y), torch.linalg.pinv(x) @ y)


def test_min_norm_interpolates_from_the_row_space():
    n, p = 8, 20
    x = torch.randn(n, p, generator=_gen(3), dtype=F64)
    y = torch.randn(n, generator=_gen(4), dtype=F64)
    b = min_norm_least_squares(x, y)
    torch.testing.assert_close(x @ b, y)
    # orthogonal to the null space of X: b = X^T alpha for some alpha
    alpha = torch.linalg.lstsq(x.T, b[:, None]).solution
    torch.testing.assert_close(x.T @ alpha[:, 0], b)


def test_min_norm_handles_a_rank_deficient_design():
    x = torch.randn(12, 4, generator=_gen(5), dtype=F64)
    x = torch.cat([x, x[:, :1]], dim=1)  # a repeated column: X^T X singular
    y = torch.randn(12, generator=_gen(6), dtype=F64)
    torch.testing.assert_close(min_norm_least_squares(x, y), torch.linalg.pinv(x) @ y)


@pytest.mark.parametrize(("n", "p"), [(30, 10), (10, 30)])
def test_ridge_solves_its_normal_equations(n, p):
    lam = 0.3
    x = torch.randn(n, p, generator=_gen(7), dtype=F64)
    y = torch.randn(n, generator=_gen(8), dtype=F64)
    b = ridge_regression(x, y, ridge=lam)
    # gradient of (1/n)|y - Xb|^2 + lam |b|^2 vanishes
    torch.testing.assert_close(-2 * x.T @ (y - x @ b) / n + 2 * lam * b, torch.zeros(p, dtype=F64))


@pytest.mark.parametrize(("n", "p"), [(30, 10), (10, 30)])
def test_ridge_tends_to_min_norm(n, p):
    x = torch.randn(n, p, generator=_gen(9), dtype=F64)
    y = torch.randn(n, generator=_gen(10), dtype=F64)
    torch.testing.assert_close(ridge_regression(x, y, ridge=1e-10), min_norm_least_squares(x, y),
                               atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("p", [5, 30])
def test_batched_estimators_solve_each_problem(p):
    """Leading dimensions are independent problems: the same numbers as one at a time."""
    x, y, beta = sample_isotropic_regression(12, p, signal=1.0, noise=0.3, generator=_gen(40),
                                             repeats=4)
    assert x.shape == (4, 12, p) and y.shape == (4, 12) and beta.shape == (4, p)
    torch.testing.assert_close(beta.norm(dim=1), torch.ones(4, dtype=F64))
    torch.testing.assert_close(y, (x @ beta[:, :, None])[:, :, 0], atol=2.0, rtol=0)
    mn, rd = min_norm_least_squares(x, y), ridge_regression(x, y, ridge=0.2)
    risks = prediction_risk(mn, beta)
    assert risks.shape == (4,)
    for i in range(4):
        torch.testing.assert_close(mn[i], min_norm_least_squares(x[i], y[i]))
        torch.testing.assert_close(rd[i], ridge_regression(x[i], y[i], ridge=0.2))
        torch.testing.assert_close(risks[i], prediction_risk(mn[i], beta[i]))


def test_prediction_risk_is_the_expected_squared_error_on_a_fresh_point():
    p, s = 3, 200_000
    a = torch.randn(p, p, generator=_gen(11), dtype=F64)
    cov = a @ a.T + torch.eye(p, dtype=F64)
    b_hat, b = torch.randn(p, generator=_gen(12), dtype=F64), torch.randn(p, generator=_gen(13),
                                                                          dtype=F64)
    x0 = torch.randn(s, p, generator=_gen(14), dtype=F64) @ torch.linalg.cholesky(cov).T
    sq = (x0 @ (b_hat - b)) ** 2
    risk = float(prediction_risk(b_hat, b, covariance=cov))
    assert abs(float(sq.mean()) - risk) <= 4 * float(sq.std()) / math.sqrt(s)
    torch.testing.assert_close(prediction_risk(b_hat, b), ((b_hat - b) ** 2).sum())


def test_sampled_model():
    x, y, beta = sample_isotropic_regression(500, 4, signal=2.0, noise=0.5, generator=_gen(15))
    assert x.shape == (500, 4) and y.shape == (500,) and beta.shape == (4,)
    assert float(beta.norm()) == pytest.approx(2.0)
    residual = y - x @ beta
    assert float(residual.var()) == pytest.approx(0.25, rel=0.2)  # chi^2_499 / 499: s.d. 6%
    again = sample_isotropic_regression(500, 4, signal=2.0, noise=0.5, generator=_gen(15))
    assert torch.equal(again[1], y)


# ------------------------------------------------------------------ Marchenko-Pastur


def _mp_moment(gamma: float, lam: float, power: int) -> float:
    r"""\int (s + lam)^-power dF_gamma(s) by quadrature of the Marchenko-Pastur density."""
    a, b = (1 - math.sqrt(gamma)) ** 2, (1 + math.sqrt(gamma)) ** 2

    def density(s: float) -> float:
        return math.sqrt(max((b - s) * (s - a), 0.0)) / (2 * math.pi * gamma * s)

    value, _ = integrate.quad(lambda s: density(s) / (s + lam) ** power, a, b, limit=200)
    atom = max(1.0 - 1.0 / gamma, 0.0)
    return value + atom / lam**power


@pytest.mark.parametrize("gamma", [0.3, 0.9, 1.0, 1.5, 4.0])
@pytest.mark.parametrize("lam", [0.01, 0.5, 3.0])
def test_stieltjes_transform_matches_quadrature(gamma, lam):
    assert marchenko_pastur_stieltjes(-lam, gamma) == pytest.approx(
        _mp_moment(gamma, lam, 1), rel=1e-7)


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_stieltjes_transform_is_the_normalised_resolvent_trace(gamma):
    """(1/p) tr(X^T X / n + lam)^-1 -> m(-lam); fluctuations are O(1/p) (p = 600 here)."""
    n, lam = 600 if gamma < 1 else 300, 0.2
    p = round(gamma * n)
    x = torch.randn(n, p, generator=_gen(16), dtype=F64)
    ev = torch.linalg.eigvalsh(x.T @ x / n)
    assert float((1 / (ev + lam)).mean()) == pytest.approx(
        marchenko_pastur_stieltjes(-lam, gamma), rel=0.01)


@pytest.mark.parametrize("gamma", [0.3, 1.0, 5.0])
def test_stieltjes_transform_solves_its_quadratic(gamma):
    for lam in (1e-6, 0.1, 10.0, 1e6):
        z, m = -lam, marchenko_pastur_stieltjes(-lam, gamma)
        assert gamma * z * m * m - (1 - gamma - z) * m + 1 == pytest.approx(0.0, abs=1e-9)
        assert 0 < m <= 1 / lam


# ------------------------------------------------------------------ asymptotic risks


@pytest.mark.parametrize("gamma", [0.4, 1.0, 2.5])
@pytest.mark.parametrize("lam", [0.05, 1.0])
def test_ridge_risk_matches_quadrature(gamma, lam):
    """r^2 lam^2 int (s+lam)^-2 + sigma^2 gamma int s (s+lam)^-2 with the MP density."""
    r, sigma = 1.3, 0.7
    m1, m2 = _mp_moment(gamma, lam, 1), _mp_moment(gamma, lam, 2)
    expected = r * r * lam * lam * m2 + sigma * sigma * gamma * (m1 - lam * m2)
    assert ridge_asymptotic_risk(gamma, lam, signal=r, noise=sigma) == pytest.approx(
        expected, rel=1e-6)


@pytest.mark.parametrize("gamma", [0.3, 1.0, 3.0])
def test_optimal_ridge(gamma):
    r, sigma = 1.0, 0.6
    lam_star = optimal_ridge_penalty(gamma, signal=r, noise=sigma)
    assert lam_star == pytest.approx(sigma**2 * gamma / r**2)
    best = ridge_asymptotic_risk(gamma, lam_star, signal=r, noise=sigma)
    assert best == pytest.approx(sigma**2 * gamma * marchenko_pastur_stieltjes(-lam_star, gamma))
    for factor in (0.5, 0.9, 1.1, 2.0):
        assert ridge_asymptotic_risk(gamma, factor * lam_star, signal=r, noise=sigma) > best
    assert best < r * r  # below the null risk
    if gamma != 1.0:
        assert best < min_norm_asymptotic_risk(gamma, signal=r, noise=sigma)


@pytest.mark.parametrize("gamma", [0.5, 0.9, 1.2, 3.0])
def test_ridge_tends_to_min_norm_risk(gamma):
    assert ridge_asymptotic_risk(gamma, 1e-9, signal=1.0, noise=0.5) == pytest.approx(
        min_norm_asymptotic_risk(gamma, signal=1.0, noise=0.5), rel=1e-5)


def test_min_norm_risk_values_and_limits():
    r, s = 2.0, 0.5
    assert min_norm_asymptotic_risk(0.5, signal=r, noise=s) == pytest.approx(0.25)
    assert min_norm_asymptotic_risk(2.0, signal=r, noise=s) == pytest.approx(4 * 0.5 + 0.25)
    assert min_norm_asymptotic_risk(1.0, signal=r, noise=s) == math.inf
    assert min_norm_asymptotic_risk(1e-9, signal=r, noise=s) == pytest.approx(0.0, abs=1e-8)
    assert min_norm_asymptotic_risk(1e9, signal=r, noise=s) == pytest.approx(r * r)
    # finite-n exact risk tends to the asymptotic one
    assert min_norm_finite_sample_risk(10**6, 5 * 10**5, signal=r, noise=s) == pytest.approx(
        min_norm_asymptotic_risk(0.5, signal=r, noise=s), rel=1e-5)
    assert min_norm_finite_sample_risk(100, 100, signal=r, noise=s) == math.inf


# ------------------------------------------------------------------ simulation


def _simulate(n, p, repeats, seed, *, ridge=None, signal=1.0, noise=0.5):
    """Mean risk and its standard error over ``repeats`` independent data sets (batched)."""
    x, y, beta = sample_isotropic_regression(n, p, signal=signal, noise=noise,
                                             generator=_gen(seed), repeats=repeats)
    b = min_norm_least_squares(x, y) if ridge is None else ridge_regression(x, y, ridge=ridge)
    risks = prediction_risk(b, beta)
    return float(risks.mean()), float(risks.std()) / math.sqrt(repeats)


@pytest.mark.parametrize(("n", "p"), [(60, 20), (40, 100)])
def test_min_norm_risk_matches_the_exact_finite_sample_formula(n, p):
    """Inverse-Wishart means: exact for Gaussian design at every n (within 4 s.e.)."""
    mean, se = _simulate(n, p, 1500, seed=n + p)
    assert abs(mean - min_norm_finite_sample_risk(n, p, signal=1.0, noise=0.5)) <= 4 * se


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_optimal_ridge_risk_matches_simulation(gamma):
    """At n = 300 the simulated optimal-ridge risk is within 4 s.e. + 2% (finite-n bias) of
    its limit."""
    n = 300
    lam = optimal_ridge_penalty(gamma, signal=1.0, noise=0.5)
    mean, se = _simulate(n, round(gamma * n), 60, seed=int(10 * gamma), ridge=lam)
    limit = ridge_asymptotic_risk(gamma, lam, signal=1.0, noise=0.5)
    assert abs(mean - limit) <= 4 * se + 0.02 * limit


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(("call", "name"), [
    (lambda: marchenko_pastur_stieltjes(0.5, 1.0), "z"),
    (lambda: marchenko_pastur_stieltjes(-0.5, 0.0), "ratio"),
    (lambda: ridge_asymptotic_risk(1.0, 0.0, signal=1.0, noise=1.0), "ridge"),
    (lambda: optimal_ridge_penalty(1.0, signal=0.0, noise=1.0), "signal"),
    (lambda: min_norm_asymptotic_risk(-1.0, signal=1.0, noise=1.0), "ratio"),
    (lambda: min_norm_finite_sample_risk(0, 3, signal=1.0, noise=1.0), "n"),
    (lambda: min_norm_least_squares(torch.ones(3, 2), torch.ones(4)), "y"),
    (lambda: ridge_regression(torch.ones(3, 2), torch.ones(3), ridge=-1.0), "ridge"),
    (lambda: prediction_risk(torch.ones(3), torch.ones(2)), "beta"),
    (lambda: prediction_risk(torch.ones(2), torch.ones(2), covariance=torch.eye(3)),
     "covariance"),
    (lambda: sample_isotropic_regression(5, 3, signal=-1.0, noise=1.0, generator=_gen(0)),
     "signal"),
    (lambda: sample_isotropic_regression(5, 3, signal=1.0, noise=1.0, generator=None),
     "generator"),
])
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()
