"""The Lipschitz ball: the assignment solution against the primal linear program (HiGHS, all
pairs), closed forms for tiny samples, scale and isometry invariances, and the chaining bound."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import sparse
from scipy.optimize import linprog

from mathdl.generalization import (
    empirical_rademacher_complexity,
    lipschitz_ball_chaining_bound,
    lipschitz_ball_supremum,
)

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _signs(s: int, n: int, seed: int) -> torch.Tensor:
    return (2 * torch.randint(0, 2, (s, n), generator=_gen(seed)) - 1).to(F64)


def _primal_lp(x: np.ndarray, sigma: np.ndarray, lip: float, bound: float) -> float:
    """max sigma.f / n s.t. f_i - f_j <= L |x_i - x_j| for all i != j, |f_i| <= B."""
    n = x.shape[0]
    dist = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    i, j = np.nonzero(~np.eye(n, dtype=bool))
    m = i.size
    a = sparse.csr_matrix((np.r_[np.ones(m), -np.ones(m)],
                           (np.r_[np.arange(m), np.arange(m)], np.r_[i, j])), shape=(m, n))
    res = linprog(-sigma / n, A_ub=a, b_ub=lip * dist[i, j], bounds=(-bound, bound),
                  method="highs")
    assert res.status == 0
    return -res.fun


@pytest.mark.parametrize(("d", "bound", "lip"), [(1, 0.3, 1.0), (2, 0.2, 1.0), (2, 2.0, 0.5),
                                                 (3, 0.5, 2.0), (5, 1.0, 1.0)])
def test_assignment_equals_the_linear_program(d, bound, lip):
    x = torch.rand(40, d, generator=_gen(d), dtype=F64)
    signs = _signs(4, 40, d + 10)
    got = lipschitz_ball_supremum(x, signs, lipschitz=lip, bound=bound)
    want = [_primal_lp(x.numpy(), s, lip, bound) for s in signs.numpy()]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-7, atol=1e-10)


def test_two_points_closed_form():
    x = torch.tensor([[0.1], [0.45]], dtype=F64)
    s = torch.tensor([[1.0, -1.0]], dtype=F64)
    # f = (a, -a) with 2a <= L |x1 - x2| and a <= B: sup = min(L |dx| / 2, B)
    assert float(lipschitz_ball_supremum(x, s, bound=1.0)) == pytest.approx(0.35 / 2)
    assert float(lipschitz_ball_supremum(x, s, bound=0.1)) == pytest.approx(0.1)


def test_equal_signs_give_the_bound():
    x = torch.rand(15, 3, generator=_gen(1), dtype=F64)
    s = torch.ones(2, 15, dtype=F64)
    s[1] = -1.0
    torch.testing.assert_close(lipschitz_ball_supremum(x, s, bound=0.7),
                               torch.full((2,), 0.7, dtype=F64))


def test_separated_points_give_the_bound():
    # min distance >= 2B: f_i = B sigma_i is feasible, so the supremum is B
    x = torch.cartesian_prod(*[torch.arange(3, dtype=F64) / 2] * 2)      # spacing 1/2
    s = _signs(5, 9, 2)
    torch.testing.assert_close(lipschitz_ball_supremum(x, s, bound=0.25),
                               torch.full((5,), 0.25, dtype=F64))


def test_homogeneity_and_isometry_invariance():
    x = torch.rand(30, 3, generator=_gen(3), dtype=F64)
    s = _signs(3, 30, 4)
    base = lipschitz_ball_supremum(x, s, lipschitz=1.0, bound=0.4)
    # (L, B) -> (cL, cB): f -> c f
    torch.testing.assert_close(lipschitz_ball_supremum(x, s, lipschitz=2.5, bound=1.0),
                               2.5 * base)
    # x -> Q x + t and a permutation of the points (with their signs)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=_gen(5), dtype=F64))
    perm = torch.randperm(30, generator=_gen(6))
    moved = x[perm] @ q.T + 3.0
    torch.testing.assert_close(lipschitz_ball_supremum(moved, s[:, perm], bound=0.4), base)


def test_supremum_grows_with_the_bound_and_is_at_most_it():
    x = torch.rand(25, 2, generator=_gen(7), dtype=F64)
    s = _signs(6, 25, 8)
    values = [lipschitz_ball_supremum(x, s, bound=b) for b in (0.05, 0.2, 1.0, 5.0)]
    for small, large in zip(values, values[1:], strict=False):
        assert bool((small <= large + 1e-12).all())
    assert bool((values[0] <= 0.05 + 1e-12).all())


@pytest.mark.parametrize("d", [1, 2, 3])
def test_chaining_bound_dominates_the_estimate(d):
    x = torch.rand(256, d, generator=_gen(20 + d), dtype=F64)
    est = empirical_rademacher_complexity(
        lambda s: lipschitz_ball_supremum(x, s, bound=0.5), 256, num_samples=20,
        generator=_gen(30 + d))
    assert est.mean + 3 * est.stderr <= lipschitz_ball_chaining_bound(x, bound=0.5)


def test_chaining_bound_keys_agree_with_cell_rows():
    # d = 7 past level 8 uses the row-wise count: the bound is the same function of the cells
    x = torch.rand(300, 7, generator=_gen(9), dtype=F64)
    assert lipschitz_ball_chaining_bound(x, max_level=12) <= lipschitz_ball_chaining_bound(
        x, max_level=8) + 1e-15


def test_chaining_bound_at_level_zero_and_its_rate():
    x = torch.full((4, 2), 0.5, dtype=F64)
    # all points at one place: J = 0 gives B/sqrt(n) + L sqrt(d) / 2; deeper levels pay
    # sqrt(n) per level but shrink the last term
    expected = min(1 / 2 + math.sqrt(2) / 2,
                   *[1 / 2 + math.sqrt(2) * sum(2.0 ** (-j - 1) * 2 for j in range(1, J + 1)) / 4
                     + math.sqrt(2) * 2.0 ** (-J - 1) for J in range(1, 31)])
    assert lipschitz_ball_chaining_bound(x, bound=1.0) == pytest.approx(expected)
    # on regular grids in d = 3 the bound decays like n^(-1/3): 8x the points, half the bound
    b = [lipschitz_ball_chaining_bound(
        torch.cartesian_prod(*[(torch.arange(k, dtype=F64) + 0.5) / k] * 3), bound=0.01,
        max_level=8) for k in (8, 16, 32)]
    assert b[0] / b[1] == pytest.approx(2.0, rel=0.25)
    assert b[1] / b[2] == pytest.approx(2.0, rel=0.25)


@pytest.mark.parametrize(("call", "name"), [
    (lambda: lipschitz_ball_supremum(torch.rand(5, 2, dtype=F64), torch.ones(2, 4, dtype=F64)),
     "signs"),
    (lambda: lipschitz_ball_supremum(torch.rand(5, 2, dtype=F64),
                                     torch.full((2, 5), 0.5, dtype=F64)), "signs"),
    (lambda: lipschitz_ball_supremum(torch.rand(5, dtype=F64), torch.ones(2, 5, dtype=F64)),
     "x"),
    (lambda: lipschitz_ball_supremum(torch.rand(5, 2, dtype=F64), torch.ones(2, 5, dtype=F64),
                                     bound=0.0), "bound"),
    (lambda: lipschitz_ball_supremum(torch.rand(5, 2, dtype=F64), torch.ones(2, 5, dtype=F64),
                                     lipschitz=-1.0), "lipschitz"),
    (lambda: lipschitz_ball_chaining_bound(torch.full((3, 2), 1.5, dtype=F64)), "x"),
    (lambda: lipschitz_ball_chaining_bound(torch.rand(3, 2, dtype=F64), max_level=-1),
     "max_level"),
])
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.parametrize(("changes", "field"), [
    ({"dims": (2, 1)}, "dims"),
    ({"sample_sizes": (64, 128)}, "sample_sizes"),
    ({"bound": 0.0}, "bound"),
])
def test_config_rejects_bad_values(changes, field):
    import dataclasses

    from mathdl.generalization.experiments_extra import LipschitzRademacherConfig
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(LipschitzRademacherConfig(), **changes)


def test_theory_slopes():
    from mathdl.generalization.experiments_extra import lipschitz_theory_slope
    assert lipschitz_theory_slope(1, (10, 100)) == -0.5
    assert lipschitz_theory_slope(5, (10, 100)) == -0.2
    # d = 2: sqrt(log n / n) between n = e^2 and n = e^4 has the secant slope -1/2 + log(2)/4
    slope = lipschitz_theory_slope(2, (math.exp(2), math.exp(4)))
    assert slope == pytest.approx(-0.5 + math.log(2) / 4)
