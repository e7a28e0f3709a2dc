"""Empirical Rademacher complexity: closed-form suprema against brute force, the Monte Carlo
estimator against exact expectations, and the bounds."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mathdl.generalization import (
    FeatureKind,
    MonteCarloEstimate,
    empirical_rademacher_complexity,
    feature_kernel,
    l1_ball_rademacher_bound,
    l1_ball_supremum,
    l2_ball_rademacher_bound,
    l2_ball_supremum,
    path_norm_ball_supremum,
    path_norm_rademacher_bound,
    rkhs_ball_rademacher_bound,
    rkhs_ball_supremum,
)

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _cube(n: int, d: int, seed: int) -> torch.Tensor:
    return 2.0 * torch.rand(n, d, generator=_gen(seed), dtype=F64) - 1.0


def _signs(s: int, n: int, seed: int) -> torch.Tensor:
    return (2 * torch.randint(0, 2, (s, n), generator=_gen(seed)) - 1).to(F64)


# ------------------------------------------------------------------ suprema vs brute force


def test_l2_supremum_is_attained_and_not_exceeded():
    n, d, q = 15, 4, 2.5
    x, s = _cube(n, d, 1), _signs(6, n, 2)
    sup = l2_ball_supremum(x, s, radius=q)
    v = s @ x  # (S, d)
    beta_star = q * v / v.norm(dim=1, keepdim=True)
    torch.testing.assert_close(((s @ x) * beta_star).sum(1) / n, sup)  # attained
    betas = torch.randn(2000, d, generator=_gen(3), dtype=F64)
    betas = q * betas / betas.norm(dim=1, keepdim=True)
    assert torch.all((s @ x @ betas.T / n).amax(1) <= sup + 1e-12)


def test_l1_supremum_is_the_best_vertex():
    n, d, q = 12, 5, 0.7
    x, s = _cube(n, d, 4), _signs(8, n, 5)
    vertices = q * torch.cat([torch.eye(d, dtype=F64), -torch.eye(d, dtype=F64)])
    brute = (s @ x @ vertices.T / n).amax(1)
    torch.testing.assert_close(l1_ball_supremum(x, s, radius=q), brute)
    inner = torch.randn(3000, d, generator=_gen(6), dtype=F64)
    inner = q * inner / inner.abs().sum(1, keepdim=True)
    assert torch.all((s @ x @ inner.T / n).amax(1) <= brute + 1e-12)


def test_rkhs_supremum_is_attained_by_the_signed_kernel_sum():
    """f* = Q g/||g||_H with g = sum_i sigma_i k(., x_i) attains sup; random expansions of norm
    Q do not exceed it."""
    n, q = 10, 1.5
    x = _cube(n, 3, 7)
    k = feature_kernel(x, kind=FeatureKind.FOURIER)
    s = _signs(5, n, 8)
    sup = rkhs_ball_supremum(k, s, radius=q)
    norms = torch.sqrt(((s @ k) * s).sum(1))
    attained = ((s @ k) * s).sum(1) * q / norms / n  # (1/n) sum_i sigma_i f*(x_i)
    torch.testing.assert_close(attained, sup)
    coef = torch.randn(500, n, generator=_gen(9), dtype=F64)
    coef = q * coef / torch.sqrt(((coef @ k) * coef).sum(1, keepdim=True))
    values = s @ (k @ coef.T) / n  # (S, 500): f = sum_j coef_j k(., x_j), ||f||_H = Q
    assert torch.all(values.amax(1) <= sup + 1e-12)


def _grid_on_l1_circle(points: int) -> torch.Tensor:
    t = torch.linspace(0, 4, points + 1, dtype=F64)[:-1]
    side, frac = torch.floor(t), t - torch.floor(t)
    corners = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0], [1.0, 0.0]],
                           dtype=F64)
    a, b = corners[side.long()], corners[side.long() + 1]
    return a + frac[:, None] * (b - a)


def test_path_norm_supremum_matches_a_dense_search_in_two_dimensions():
    """Exact enumeration >= every direction on a fine grid of the l1 circle, and within the
    grid's Lipschitz error of its best point."""
    n = 25
    x, s = _cube(n, 2, 10), _signs(20, n, 11)
    sup = path_norm_ball_supremum(x, s)
    grid = _grid_on_l1_circle(40_000)
    values = (torch.relu(grid @ x.T) @ s.T).abs().amax(0) / n  # (S,)
    assert torch.all(values <= sup + 1e-12)
    # |g(u) - g(u')| <= sum_i |x_i|_inf |u - u'|_1 and the grid spacing is 4 / 40000 in l1
    lipschitz = float(x.abs().amax(1).sum()) / n
    assert torch.all(sup - values <= lipschitz * 4 / 40_000 + 1e-12)


def test_path_norm_supremum_bounds_random_networks():
    """(1/n) sum_i sigma_i f(x_i) <= sup for networks f = (1/m) sum_k a_k relu(w_k.x) scaled to
    path norm (1/m) sum_k |a_k| |w_k|_1 = Q."""
    n, m, q = 30, 16, 2.0
    x, s = _cube(n, 2, 12), _signs(10, n, 13)
    sup = path_norm_ball_supremum(x, s, radius=q)
    g = _gen(14)
    for _ in range(50):
        a = torch.randn(m, generator=g, dtype=F64)
        w = torch.randn(m, 2, generator=g, dtype=F64)
        path = float((a.abs() * w.abs().sum(1)).mean())
        f = (torch.relu(x @ w.T) @ a) / m * (q / path)
        assert torch.all(s @ f / n <= sup + 1e-12)


def test_path_norm_supremum_in_one_dimension():
    n = 9
    x, s = _cube(n, 1, 15), _signs(7, n, 16)
    expected = torch.maximum((s @ torch.relu(x)).abs(), (s @ torch.relu(-x)).abs())[:, 0] / n
    torch.testing.assert_close(path_norm_ball_supremum(x, s), expected)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 12), seed=st.integers(0, 2**16), q=st.floats(0.1, 10.0))
def test_suprema_are_nonnegative_and_homogeneous_in_the_radius(n, seed, q):
    """Every ball is symmetric and contains 0, so sup >= 0; and sup(Q) = Q sup(1)."""
    x, s = _cube(n, 2, seed), _signs(4, n, seed + 1)
    k = feature_kernel(x, kind=FeatureKind.RELU)
    for sup in (lambda r: l2_ball_supremum(x, s, radius=r),
                lambda r: l1_ball_supremum(x, s, radius=r),
                lambda r: rkhs_ball_supremum(k, s, radius=r),
                lambda r: path_norm_ball_supremum(x, s, radius=r)):
        one = sup(1.0)
        assert torch.all(one >= 0)
        torch.testing.assert_close(sup(q), q * one)


# ------------------------------------------------------------------ the Monte Carlo estimator


def test_estimator_matches_an_exact_expectation():
    """For {f, -f} with f = 1: sup = |sum_i sigma_i| / n, and E|S_n| is a binomial sum."""
    n = 11
    exact = sum(math.comb(n, k) * abs(2 * k - n) for k in range(n + 1)) / 2**n / n
    est = empirical_rademacher_complexity(lambda s: s.sum(1).abs() / n, n, num_samples=20_000,
                                          generator=_gen(17), batch_size=3000)
    assert abs(est.mean - exact) <= 4 * est.stderr
    assert est.num_samples == 20_000


def test_estimator_of_a_single_function_is_centred():
    n = 20
    f = torch.linspace(-1, 1, n, dtype=F64)
    est = empirical_rademacher_complexity(lambda s: s @ f / n, n, num_samples=5000,
                                          generator=_gen(18))
    assert abs(est.mean) <= 4 * est.stderr
    # Var(sum sigma_i f_i / n) = |f|^2 / n^2 exactly
    assert est.stderr * math.sqrt(5000) == pytest.approx(float(f.norm()) / n, rel=0.05)


def test_estimator_is_reproducible():
    x = _cube(8, 3, 19)
    run = lambda: empirical_rademacher_complexity(  # noqa: E731
        lambda s: l2_ball_supremum(x, s), 8, num_samples=50, generator=_gen(20), batch_size=7)
    assert run() == run()


def test_monte_carlo_estimate_from_samples():
    est = MonteCarloEstimate.from_samples(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    assert est.mean == 2.5 and est.num_samples == 4
    assert est.stderr == pytest.approx(math.sqrt(5 / 3) / 2)


# ------------------------------------------------------------------ the bounds


@pytest.mark.parametrize("name", ["l2", "l1", "rkhs", "path-norm"])
def test_estimates_sit_below_their_bounds(name):
    n, d = 200, 2 if name == "path-norm" else 6
    x = _cube(n, d, 21)
    k = feature_kernel(x, kind=FeatureKind.FOURIER, frequency_scale=0.5)
    sup, bound = {
        "l2": (lambda s: l2_ball_supremum(x, s), l2_ball_rademacher_bound(x)),
        "l1": (lambda s: l1_ball_supremum(x, s), l1_ball_rademacher_bound(x)),
        "rkhs": (lambda s: rkhs_ball_supremum(k, s), rkhs_ball_rademacher_bound(k)),
        "path-norm": (lambda s: path_norm_ball_supremum(x, s), path_norm_rademacher_bound(x)),
    }[name]
    est = empirical_rademacher_complexity(sup, n, num_samples=400, generator=_gen(22))
    assert est.mean + 3 * est.stderr <= bound


def test_l2_estimate_is_close_to_the_jensen_bound_for_many_dimensions():
    """E|sum sigma_i x_i| <= sqrt(sum |x_i|^2), nearly equal when |sum sigma_i x_i|^2
    concentrates (d large): the estimate is within a few percent of (1/n) sqrt(sum |x_i|^2)."""
    n, d = 50, 400
    x = _cube(n, d, 23)
    est = empirical_rademacher_complexity(lambda s: l2_ball_supremum(x, s), n,
                                          num_samples=500, generator=_gen(24))
    jensen = float(x.norm()) / n
    assert est.mean <= jensen and est.mean >= 0.98 * jensen


def test_bound_formulas():
    x = torch.tensor([[0.5, -1.0, 0.25], [0.1, 0.2, -0.3]], dtype=F64)
    assert l2_ball_rademacher_bound(x, radius=2.0) == pytest.approx(
        2.0 * math.sqrt(0.25 + 1.0 + 0.0625) / math.sqrt(2))
    assert l1_ball_rademacher_bound(x) == pytest.approx(math.sqrt(2 * math.log(6) / 2))
    assert path_norm_rademacher_bound(x, radius=3.0) == pytest.approx(
        6.0 * math.sqrt(2 * math.log(6) / 2))
    k = torch.diag(torch.tensor([0.5, 2.0], dtype=F64))
    assert rkhs_ball_rademacher_bound(k) == pytest.approx(1.0)


def test_decay_is_n_to_the_minus_one_half():
    """Quadrupling n halves the l1-ball complexity (i.i.d. data; within 10%)."""
    values = []
    for n in (100, 1600):
        x = _cube(n, 4, 25 + n)
        values.append(empirical_rademacher_complexity(
            lambda s, x=x: l1_ball_supremum(x, s), n, num_samples=1000, generator=_gen(26)).mean)
    assert values[0] / values[1] == pytest.approx(4.0, rel=0.1)


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(("call", "name"), [
    (lambda: path_norm_ball_supremum(torch.ones(4, 3), torch.ones(2, 4)), "x"),
    (lambda: l2_ball_supremum(torch.ones(4, 3), torch.ones(2, 5)), "signs"),
    (lambda: l1_ball_supremum(torch.ones(4, 3), torch.ones(2, 4), radius=0.0), "radius"),
    (lambda: rkhs_ball_supremum(torch.ones(4, 3), torch.ones(2, 4)), "gram"),
    (lambda: empirical_rademacher_complexity(lambda s: s, 4, num_samples=10,
                                             generator=_gen(0)), "supremum"),
    (lambda: empirical_rademacher_complexity(lambda s: s.sum(1), 4, num_samples=1,
                                             generator=_gen(0)), "num_samples"),
    (lambda: empirical_rademacher_complexity(lambda s: s.sum(1), 4, num_samples=10,
                                             generator=0), "generator"),
    (lambda: rkhs_ball_rademacher_bound(-torch.eye(2)), "gram"),
])
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()
