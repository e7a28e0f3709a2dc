"""LQ control: Riccati identities, the simulator against the Riccati value, and the learned feedback
against the optimum."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from mathdl.pde import (
    FeedbackControlOptions,
    FeedbackControlSolver,
    LinearQuadraticProblem,
    TrainingDivergedError,
    continuous_riccati_value,
    discrete_riccati,
    estimate_cost,
    riccati_policy,
    sampled_cost,
)

F64 = torch.float64


def scalar_problem(g: float = 2.0, n_steps: int = 20, sigma: float = 0.0
                   ) -> LinearQuadraticProblem:
    one = torch.ones(1, 1, dtype=F64)
    return LinearQuadraticProblem(a=0 * one, b=one, sigma=sigma * one, q=0 * one, r=one,
                                  g=g * one, x0=torch.ones(1, dtype=F64), horizon=1.0,
                                  n_steps=n_steps)


def random_problem(n_steps: int = 20) -> LinearQuadraticProblem:
    gen = torch.Generator().manual_seed(0)
    m, k = 3, 2
    eye = torch.eye(m, dtype=F64)
    return LinearQuadraticProblem(a=0.3 * torch.randn(m, m, generator=gen, dtype=F64),
                                  b=torch.randn(m, k, generator=gen, dtype=F64),
                                  sigma=0.5 * eye, q=eye, r=torch.eye(k, dtype=F64), g=eye,
                                  x0=torch.ones(m, dtype=F64), n_steps=n_steps)


def test_scalar_closed_forms():
    # A = Q = 0, B = R = 1: -P' = -P^2, P(T) = g gives P(0) = g / (1 + gT); with noise σ the
    # cost adds σ^2 ∫ P = σ^2 ln(1 + gT). Discrete: P_n = P_{n+1} / (1 + P_{n+1} Δt) exactly,
    # so P_0 = g / (1 + g T) too (the discrete recursion is exact here).
    g, s = 2.0, 0.7
    assert continuous_riccati_value(scalar_problem(g)) == pytest.approx(g / (1 + g), rel=1e-10)
    noisy = scalar_problem(g, sigma=s)
    assert continuous_riccati_value(noisy) == pytest.approx(
        g / (1 + g) + s**2 * math.log(1 + g), rel=1e-10)
    sol = discrete_riccati(scalar_problem(g, n_steps=7))
    assert float(sol.p[0, 0, 0]) == pytest.approx(g / (1 + g), rel=1e-12)
    assert sol.p.shape == (8, 1, 1) and sol.gains.shape == (7, 1, 1)


def test_discrete_riccati_tends_to_continuous_at_rate_one():
    problem = random_problem()
    exact = continuous_riccati_value(problem)
    errors = [abs(discrete_riccati(dataclasses.replace(problem, n_steps=n)).value - exact)
              for n in (50, 100, 200, 400)]
    ratios = [a / b for a, b in zip(errors[:-1], errors[1:], strict=True)]
    assert all(r == pytest.approx(2.0, rel=0.05) for r in ratios)  # halving Δt halves the gap


def test_riccati_value_satisfies_the_dynamic_programming_identity():
    # V_n(x) = min_u [stage cost + E V_{n+1}]: the Riccati gain is a stationary point, and
    # perturbing the feedback increases the exact (simulated) cost
    problem = random_problem(n_steps=10)
    sol = discrete_riccati(problem)
    gen = torch.Generator().manual_seed(1)
    dw = problem.dt**0.5 * torch.randn(10, 100_000, 3, generator=gen, dtype=F64)
    optimal = sampled_cost(problem, riccati_policy(sol), dw)
    perturbed = sampled_cost(problem, lambda n, x: -x @ (1.2 * sol.gains[n]).T, dw)
    assert float(optimal.mean()) == pytest.approx(sol.value, abs=4 * float(optimal.std()) / 316)
    assert float((perturbed - optimal).mean()) > 0


def test_simulated_riccati_feedback_cost_matches_the_value():
    problem = random_problem()
    sol = discrete_riccati(problem)
    mean, se = estimate_cost(problem, riccati_policy(sol), n_paths=50_000,
                             generator=torch.Generator().manual_seed(3))
    assert abs(mean - sol.value) <= 4 * se


def test_learned_feedback_is_near_optimal_and_not_below():
    problem = random_problem()
    optimum = discrete_riccati(problem).value
    solver = FeedbackControlSolver(problem, FeedbackControlOptions(
        hidden=(8,), batch_size=256, iterations=150)).fit(
        generator=torch.Generator().manual_seed(0))
    seed = 11
    learned, se = estimate_cost(problem, solver.policy, n_paths=20_000,
                                generator=torch.Generator().manual_seed(seed))
    riccati, _ = estimate_cost(problem, riccati_policy(discrete_riccati(problem)),
                               n_paths=20_000, generator=torch.Generator().manual_seed(seed))
    assert learned >= optimum - 4 * se
    # an untrained (zero) feedback costs far more; the learned one is within 3% of optimal
    zero, _ = estimate_cost(problem, lambda n, x: torch.zeros(x.shape[0], 2, dtype=F64),
                            n_paths=20_000, generator=torch.Generator().manual_seed(seed))
    assert zero > 1.1 * optimum
    assert optimum + (learned - riccati) <= 1.03 * optimum


def test_divergence_is_reported():
    problem = random_problem()
    options = FeedbackControlOptions(hidden=(4,), batch_size=8, iterations=20,
                                     learning_rate=1e6, final_learning_rate=1e6)
    with pytest.raises(TrainingDivergedError, match="feedback control diverged"):
        FeedbackControlSolver(problem, options).fit(generator=torch.Generator().manual_seed(0))


def test_bad_input_is_refused():
    p = random_problem()
    with pytest.raises(ValueError, match="r: expected a positive definite"):
        dataclasses.replace(p, r=torch.zeros(2, 2, dtype=F64))
    with pytest.raises(ValueError, match="q: expected a symmetric"):
        dataclasses.replace(p, q=torch.triu(torch.ones(3, 3, dtype=F64)))
    with pytest.raises(ValueError, match="a: expected"):
        dataclasses.replace(p, a=torch.zeros(2, 2, dtype=F64))
    with pytest.raises(ValueError, match="n_steps"):
        dataclasses.replace(p, n_steps=0)
    with pytest.raises(ValueError, match="dw: expected"):
        sampled_cost(p, riccati_policy(discrete_riccati(p)), torch.zeros(3, 4, 3, dtype=F64))
    with pytest.raises(ValueError, match="n_paths"):
        estimate_cost(p, riccati_policy(discrete_riccati(p)), n_paths=1,
                      generator=torch.Generator())
    with pytest.raises(ValueError, match="hidden"):
        FeedbackControlOptions(hidden=(0,))
    with pytest.raises(ValueError, match="problem"):
        FeedbackControlSolver("lq")
