"""Tests of the Barron-space primitives: path norm, Monte Carlo approximants, the Barron
representation of |x|, the non-Barron distance to the sphere, the path-norm lasso."""

from __future__ import annotations

import math

import pytest
import torch

from mathdl.generalization import (
    fit_path_norm_lasso,
    monte_carlo_approximant,
    monte_carlo_error_constant,
    norm_barron_coefficient,
    path_norm,
    random_barron_target,
    sphere_distance,
)
from mathdl.training import Nonlinearity, Scaling, TwoLayerNetwork

D = torch.float64


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def pn(net) -> float:
    return float(path_norm(net).detach())


def cube(n: int, d: int, g: torch.Generator) -> torch.Tensor:
    return 2 * torch.rand(n, d, generator=g, dtype=D) - 1


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("scaling", list(Scaling))
def test_path_norm_formula(bias, scaling):
    net = TwoLayerNetwork(3, 7, scaling=scaling, bias=bias, bias_std=1.0, generator=gen(),
                          dtype=D)
    s = net.weight.abs().sum(1) + (net.bias.abs() if bias else 0.0)
    expected = net.output_scale * float((net.output.abs() * s).sum().detach())
    assert pn(net) == pytest.approx(expected, rel=1e-14)


def test_path_norm_is_invariant_under_relu_rescaling():
    g = gen(1)
    net = random_barron_target(4, 9, generator=g)
    x = cube(50, 4, g)
    with torch.no_grad():
        before, f_before = pn(net), net(x).clone()
        c = torch.rand(9, generator=g, dtype=D) * 10 + 0.1  # one positive factor per neuron
        net.output.mul_(c)
        net.weight.div_(c[:, None])
        net.bias.div_(c)
        assert torch.allclose(net(x), f_before, rtol=1e-12, atol=1e-14)
        assert pn(net) == pytest.approx(before, rel=1e-12)


def test_path_norm_is_differentiable_and_rejects_non_relu():
    net = random_barron_target(2, 5, generator=gen())
    path_norm(net).backward()
    assert net.output.grad is not None and net.weight.grad is not None
    tanh = TwoLayerNetwork(2, 5, activation=Nonlinearity.TANH, dtype=D)
    with pytest.raises(ValueError, match="model"):
        path_norm(tanh)
    with pytest.raises(ValueError, match="model"):
        path_norm(torch.nn.Linear(2, 1))


def test_monte_carlo_approximant_has_the_target_path_norm_and_normalised_atoms():
    target = random_barron_target(5, 40, generator=gen())
    approx = monte_carlo_approximant(target, 33, generator=gen(2))
    assert approx.width == 33 and approx.scaling is Scaling.MEAN_FIELD
    atoms = approx.weight.abs().sum(1) + approx.bias.abs()
    assert torch.allclose(atoms, torch.ones(33, dtype=D), rtol=1e-12)
    assert pn(approx) == pytest.approx(pn(target), rel=1e-12)


def test_monte_carlo_approximant_is_unbiased():
    # E f_m = f: the mean of R independent width-4 approximants at fixed points is within
    # 4 standard errors of f (a biased sampler, e.g. uniform over atoms with a = P sign(a),
    # misses by many standard errors here)
    g = gen(3)
    target = random_barron_target(3, 20, generator=g)
    x = cube(6, 3, g)
    outs = []
    with torch.no_grad():
        for _ in range(2000):
            outs.append(monte_carlo_approximant(target, 4, generator=g)(x))
        outs = torch.stack(outs)
        f = target(x)
    se = outs.std(0) / math.sqrt(outs.shape[0])
    assert bool(((outs.mean(0) - f).abs() <= 4 * se).all())


def test_monte_carlo_error_constant_matches_simulation_and_the_bound():
    g = gen(4)
    target = random_barron_target(4, 30, generator=g)
    x = cube(200, 4, g)
    constant = monte_carlo_error_constant(target, x)
    m = 16
    with torch.no_grad():
        f = target(x)
        sq = torch.tensor([float((monte_carlo_approximant(target, m, generator=g)(x) - f)
                                 .pow(2).mean()) for _ in range(3000)], dtype=D)
    measured, se = m * float(sq.mean()), m * float(sq.std()) / math.sqrt(sq.shape[0])
    assert abs(measured - constant) <= 4 * se
    assert constant <= pn(target) ** 2  # |x|_inf <= 1


def test_monte_carlo_rejects_bad_input():
    target = random_barron_target(2, 3, generator=gen())
    with pytest.raises(ValueError, match="width"):
        monte_carlo_approximant(target, 0, generator=gen())
    with pytest.raises(ValueError, match="generator"):
        monte_carlo_approximant(target, 3, generator=0)
    with pytest.raises(ValueError, match="x"):
        monte_carlo_error_constant(target, torch.zeros(4, 3, dtype=D))
    with torch.no_grad():
        target.output.zero_()
    with pytest.raises(ValueError, match="target"):
        monte_carlo_approximant(target, 3, generator=gen())


def test_norm_barron_coefficient_closed_forms():
    assert norm_barron_coefficient(1) == pytest.approx(2.0, rel=1e-14)  # |x| = relu(x)+relu(-x)
    assert norm_barron_coefficient(2) == pytest.approx(math.pi, rel=1e-14)
    assert norm_barron_coefficient(3) == pytest.approx(4.0, rel=1e-14)  # E|u_1| = 1/2 on S^2
    with pytest.raises(ValueError, match="dim"):
        norm_barron_coefficient(0)


@pytest.mark.parametrize("d", [3, 10])
def test_norm_has_the_explicit_barron_representation(d):
    # |x| = A_d E_u relu(u . x), u uniform on the sphere, and the representation's path norm is
    # A_d E|u|_1 = 2d: both checked by Monte Carlo within 4 standard errors
    g = gen(d)
    u = torch.randn(200_000, d, generator=g, dtype=D)
    u = u / u.norm(dim=1, keepdim=True)
    a = norm_barron_coefficient(d)
    x = torch.randn(5, d, generator=g, dtype=D)
    samples = a * torch.relu(u @ x.T)
    se = samples.std(0) / math.sqrt(u.shape[0])
    assert bool(((samples.mean(0) - x.norm(dim=1)).abs() <= 4 * se).all())
    norms = a * u.abs().sum(1)
    assert abs(float(norms.mean()) - 2 * d) <= 4 * float(norms.std()) / math.sqrt(u.shape[0])


def test_sphere_distance():
    x = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.6, 0.8], [0.3, 0.4]], dtype=D)
    assert torch.allclose(sphere_distance(x), torch.tensor([1.0, 1.0, 0.0, 0.5], dtype=D))
    with pytest.raises(ValueError, match="x"):
        sphere_distance(torch.zeros(3, dtype=D))


def _lasso_problem(seed: int = 0):
    g = gen(seed)
    x = cube(60, 2, g)
    y = sphere_distance(x)
    w = torch.randn(25, 2, generator=g, dtype=D)
    b = torch.randn(25, generator=g, dtype=D)
    return x, y, w, b


def test_lasso_satisfies_the_optimality_conditions():
    # KKT of min (1/2n)|Phi alpha - y|^2 + lam sum s_k |alpha_k|, alpha = a / m:
    # grad_k = -lam s_k sign(alpha_k) where alpha_k != 0, |grad_k| <= lam s_k elsewhere (the
    # residual after 20000 FISTA steps is ~2e-7; a wrong threshold is off by ~lam s_k ~ 1e-3)
    x, y, w, b = _lasso_problem()
    lam = 1e-3
    net = fit_path_norm_lasso(x, y, w, b, penalty=lam, iterations=20_000)
    alpha = net.output.detach() / net.width
    phi = torch.relu(x @ w.T + b)
    grad = phi.T @ (phi @ alpha - y) / x.shape[0]
    s = w.abs().sum(1) + b.abs()
    active = alpha != 0
    assert bool(active.any()) and bool((~active).any())
    assert torch.allclose(grad[active], -lam * s[active] * alpha[active].sign(), atol=1e-6)
    assert bool((grad[~active].abs() <= lam * s[~active] + 1e-6).all())


def test_lasso_path_norm_obeys_the_comparison_bound_and_warm_start():
    # any competitor g in the span gives |theta*|_P <= |g|_P + R(g) / lam
    x, y, w, b = _lasso_problem(1)
    lam = 3e-3
    net = fit_path_norm_lasso(x, y, w, b, penalty=lam, iterations=5000)
    competitor = fit_path_norm_lasso(x, y, w, b, penalty=10 * lam, iterations=5000)
    with torch.no_grad():
        risk = 0.5 * float((competitor(x) - y).pow(2).mean())
        assert pn(net) <= pn(competitor) + risk / lam + 1e-9
    warm = fit_path_norm_lasso(x, y, w, b, penalty=lam, iterations=1, initial=net)
    assert torch.allclose(warm.output, net.output, rtol=1e-6, atol=1e-8)


def test_lasso_rejects_bad_input():
    x, y, w, b = _lasso_problem()
    with pytest.raises(ValueError, match="penalty"):
        fit_path_norm_lasso(x, y, w, b, penalty=0.0, iterations=5)
    with pytest.raises(ValueError, match="y"):
        fit_path_norm_lasso(x, y[:-1], w, b, penalty=0.1, iterations=5)
    with pytest.raises(ValueError, match="weight"):
        fit_path_norm_lasso(x, y, w[:, :1], b, penalty=0.1, iterations=5)
    with pytest.raises(ValueError, match="bias"):
        fit_path_norm_lasso(x, y, w, b[:-1], penalty=0.1, iterations=5)
    with pytest.raises(ValueError, match="iterations"):
        fit_path_norm_lasso(x, y, w, b, penalty=0.1, iterations=0)


def test_random_barron_target_is_a_mean_field_network_and_validates():
    net = random_barron_target(6, 11, generator=gen(5), bias_scale=0.25)
    again = random_barron_target(6, 11, generator=gen(5), bias_scale=0.25)
    assert net.scaling is Scaling.MEAN_FIELD and net.width == 11 and net.in_features == 6
    assert torch.equal(net.weight, again.weight) and torch.equal(net.output, again.output)
    assert torch.allclose(net.weight.norm(dim=1), torch.ones(11, dtype=D), rtol=1e-12)
    assert float(net.bias.detach().abs().max()) <= 0.25
    for kwargs, name in [(dict(in_features=0), "in_features"), (dict(num_atoms=0), "num_atoms"),
                         (dict(bias_scale=-1.0), "bias_scale")]:
        args = dict(in_features=2, num_atoms=3, bias_scale=0.5) | kwargs
        with pytest.raises(ValueError, match=name):
            random_barron_target(args["in_features"], args["num_atoms"], generator=gen(),
                                 bias_scale=args["bias_scale"])


def test_monte_carlo_approximant_without_biases():
    target = TwoLayerNetwork(3, 8, scaling=Scaling.MEAN_FIELD, generator=gen(6), dtype=D)
    approx = monte_carlo_approximant(target, 5, generator=gen(7))
    assert approx.bias is None
    assert torch.allclose(approx.weight.abs().sum(1), torch.ones(5, dtype=D), rtol=1e-12)
    assert pn(approx) == pytest.approx(pn(target), rel=1e-12)


@pytest.mark.parametrize(("changes", "field"), [
    (dict(widths=(16, 8, 32)), "widths"), (dict(penalties=(0.1, 0.2, 0.05)), "penalties"),
    (dict(domain=1.0), "domain"), (dict(tail=1), "tail"), (dict(bias_scale=-1.0), "bias_scale"),
])
def test_barron_approximation_config_names_the_bad_field(changes, field):
    from mathdl.generalization.experiments_barron import BarronApproximationConfig
    with pytest.raises(ValueError, match=field):
        BarronApproximationConfig(**changes)


@pytest.mark.parametrize(("changes", "field"), [
    (dict(sample_sizes=(100, 50, 200)), "sample_sizes"), (dict(noise=0.0), "noise"),
    (dict(widths=(8,)), "widths"), (dict(repeats=0), "repeats"),
])
def test_path_norm_estimator_config_names_the_bad_field(changes, field):
    from mathdl.generalization.experiments_barron import PathNormEstimatorConfig
    with pytest.raises(ValueError, match=field):
        PathNormEstimatorConfig(**changes)
