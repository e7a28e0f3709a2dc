"""Mean-field particle dynamics: the velocity field is -m times the parameter gradient, the
particle measure is what matters (permutations, duplication), the Euler scheme converges to the
Wasserstein gradient flow at first order and dissipates the risk at rate int |v|^2 dmu, the
closed-form Gaussian population risk, and the sliced W2 between particle systems."""

from __future__ import annotations

import math

import pytest
import torch

from mathdl.training import (
    FirstLayerInit,
    Nonlinearity,
    Scaling,
    TwoLayerNetwork,
    gaussian_relu_risk,
    initial_particles,
    mean_field_gradient_descent,
    mean_field_output,
    mean_field_risk,
    mean_field_velocity,
    particle_sliced_w2,
)

DT = torch.float64


def _problem(m: int = 7, d: int = 3, n: int = 11, *, bias: bool = False, seed: int = 0,
             batch: tuple[int, ...] = ()):
    g = torch.Generator().manual_seed(seed)
    theta = initial_particles(m, d, generator=g, batch=batch, bias=bias)
    x = torch.randn(n, d, generator=g, dtype=DT)
    y = torch.sin(x.sum(1))
    return theta, x, y


@pytest.mark.parametrize("activation", [Nonlinearity.RELU, Nonlinearity.TANH, Nonlinearity.ERF,
                                        Nonlinearity.IDENTITY])
@pytest.mark.parametrize("bias", [False, True])
def test_velocity_is_minus_m_times_the_autograd_gradient(activation, bias):
    theta, x, y = _problem(bias=bias, batch=(2,))
    m = theta.shape[-2]
    leaf = theta.clone().requires_grad_(True)
    risk = mean_field_risk(leaf, x, y, activation=activation, bias=bias)
    (grad,) = torch.autograd.grad(risk.sum(), leaf)  # systems are independent: sum is fine
    v = mean_field_velocity(theta, x, y, activation=activation, bias=bias)
    assert torch.allclose(v, -m * grad, rtol=1e-12, atol=1e-14)


def test_one_step_is_gradient_descent_with_step_m_eta_and_records_the_risk():
    theta, x, y = _problem(bias=True)
    m, eta = theta.shape[0], 0.3
    leaf = theta.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(mean_field_risk(leaf, x, y, bias=True), leaf)
    traj = mean_field_gradient_descent(theta, x, y, step_size=eta, steps=1, bias=True,
                                       record_particles=True)
    assert torch.allclose(traj.final, theta - m * eta * grad, rtol=1e-12, atol=1e-14)
    assert traj.steps == (0, 1) and traj.times == (0.0, eta)
    assert traj.particles is not None and torch.equal(traj.particles[0], theta)
    assert torch.allclose(traj.risk[1], mean_field_risk(traj.final, x, y, bias=True),
                          rtol=1e-14)


def test_output_matches_the_mean_field_two_layer_network():
    theta, x, _ = _problem(bias=True)
    m, d = theta.shape[0], x.shape[1]
    net = TwoLayerNetwork(d, m, scaling=Scaling.MEAN_FIELD, bias=True, dtype=DT)
    with torch.no_grad():
        net.output.copy_(theta[:, 0])
        net.weight.copy_(theta[:, 1:1 + d])
        net.bias.copy_(theta[:, -1])
        expected = net(x)
    assert torch.allclose(mean_field_output(theta, x, bias=True), expected, rtol=1e-13)


def test_permutation_invariance_and_equivariance():
    theta, x, y = _problem(m=9)
    perm = torch.randperm(9, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(mean_field_output(theta[perm], x), mean_field_output(theta, x),
                          rtol=1e-14)
    v = mean_field_velocity(theta, x, y)
    assert torch.allclose(mean_field_velocity(theta[perm], x, y), v[perm], rtol=1e-14)


def test_duplicating_particles_keeps_the_measure_and_the_velocity():
    # mu^m depends only on the empirical measure: each particle twice is the same measure, the
    # same function and the same O(1) velocity, while each parameter gradient halves (~1/m).
    theta, x, y = _problem(m=5)
    twice = torch.cat([theta, theta])
    assert torch.allclose(mean_field_output(twice, x), mean_field_output(theta, x), rtol=1e-14)
    v1 = mean_field_velocity(theta, x, y)
    v2 = mean_field_velocity(twice, x, y)
    assert torch.allclose(v2[:5], v1, rtol=1e-13) and torch.allclose(v2[5:], v1, rtol=1e-13)
    grads = []
    for t in (theta, twice):
        leaf = t.clone().requires_grad_(True)
        grads.append(torch.autograd.grad(mean_field_risk(leaf, x, y), leaf)[0][:5])
    assert torch.allclose(grads[1], grads[0] / 2, rtol=1e-13)


def test_batched_systems_evolve_independently():
    theta, x, y = _problem(batch=(3,))
    together = mean_field_gradient_descent(theta, x, y, step_size=0.2, steps=5)
    alone = mean_field_gradient_descent(theta[1], x, y, step_size=0.2, steps=5)
    assert torch.allclose(together.final[1], alone.final, rtol=1e-13, atol=1e-15)
    assert torch.allclose(together.risk[:, 1], alone.risk, rtol=1e-13)


def test_euler_scheme_converges_to_the_gradient_flow_at_first_order():
    theta, x, y = _problem(m=6)
    t_end = 1.0

    def final(eta: float) -> torch.Tensor:
        return mean_field_gradient_descent(theta, x, y, step_size=eta, steps=round(t_end / eta),
                                           activation=Nonlinearity.TANH,
                                           record_steps=[round(t_end / eta)]).final

    reference = final(1 / 512)
    errors = [float((final(eta) - reference).norm()) for eta in (1 / 16, 1 / 32, 1 / 64)]
    ratios = [errors[i] / errors[i + 1] for i in range(2)]
    # first order: halving the step halves the error (a wrong velocity scale would not converge)
    assert all(1.7 < r < 2.3 for r in ratios), ratios


def test_risk_dissipation_equals_the_kinetic_energy():
    # dR/dt = -int |v|^2 dmu along the Wasserstein gradient flow (one small Euler step)
    theta, x, y = _problem(m=8)
    eta = 1e-6
    v = mean_field_velocity(theta, x, y, activation=Nonlinearity.TANH)
    energy = float(v.square().sum(-1).mean())
    traj = mean_field_gradient_descent(theta, x, y, step_size=eta, steps=1,
                                       activation=Nonlinearity.TANH)
    rate = float(traj.risk[1] - traj.risk[0]) / eta
    assert rate == pytest.approx(-energy, rel=1e-4)


def test_gaussian_relu_risk_matches_monte_carlo():
    g = torch.Generator().manual_seed(1)
    student = initial_particles(5, 4, generator=g)
    teacher = initial_particles(3, 4, generator=g)
    x = torch.randn(400_000, 4, generator=g, dtype=DT)
    sq = 0.5 * (mean_field_output(student, x) - mean_field_output(teacher, x)) ** 2
    stderr = float(sq.std()) / math.sqrt(x.shape[0])
    assert float(gaussian_relu_risk(student, teacher)) == pytest.approx(float(sq.mean()),
                                                                        abs=4 * stderr)


def test_gaussian_relu_risk_closed_forms():
    # identical measures (relabelled): zero; the zero network: E f*^2 / 2; best 1 neuron for
    # k orthonormal unit teacher neurons: the symmetric direction, 1/2 E f*^2 - g^2.
    g = torch.Generator().manual_seed(2)
    teacher = initial_particles(4, 5, generator=g)
    assert float(gaussian_relu_risk(teacher.flip(0), teacher)) == pytest.approx(0, abs=1e-15)
    k = 3
    unit = torch.cat([torch.ones(k, 1, dtype=DT), torch.eye(k, 5, dtype=DT)], dim=1)
    kappa = lambda r: (math.sqrt(1 - r * r) + (math.pi - math.acos(r)) * r) / (2 * math.pi)  # noqa: E731
    half_energy = 0.5 * (k * 0.5 + k * (k - 1) * kappa(0.0)) / k**2
    zero = torch.zeros(1, 6, dtype=DT)
    assert float(gaussian_relu_risk(zero, unit)) == pytest.approx(half_energy, rel=1e-14)
    corr = kappa(1 / math.sqrt(k))  # E f* relu(v.x), v = sum u_j / sqrt(k)
    best = torch.zeros(1, 6, dtype=DT)
    best[0, 0] = 2 * corr  # c = g / E relu(v.x)^2 = 2 g
    best[0, 1:1 + k] = 1 / math.sqrt(k)
    assert float(gaussian_relu_risk(best, unit)) == pytest.approx(half_energy - corr**2,
                                                                  rel=1e-12)


def test_gaussian_relu_risk_gradcheck():
    g = torch.Generator().manual_seed(3)
    student = initial_particles(3, 3, generator=g).requires_grad_(True)
    teacher = initial_particles(2, 3, generator=g)
    assert torch.autograd.gradcheck(lambda s: gaussian_relu_risk(s, teacher), (student,))


def test_particle_sliced_w2_identity_permutation_and_translation():
    g = torch.Generator().manual_seed(4)
    a = initial_particles(200, 3, generator=g)
    perm = torch.randperm(200, generator=g)
    gen = torch.Generator().manual_seed(0)
    assert float(particle_sliced_w2(a, a[perm], projections=16, generator=gen)) == 0.0
    shift = torch.tensor([1.0, -2.0, 0.5, 2.0], dtype=DT)
    sw = float(particle_sliced_w2(a, a + shift, projections=4000, generator=gen))
    # a translation by c: SW2 = |c| / sqrt(p) (Monte Carlo over 4000 projections: ~0.8%)
    assert sw == pytest.approx(float(shift.norm()) / 2, rel=0.04)
    # trailing dimensions are flattened
    assert float(particle_sliced_w2(a.reshape(200, 2, 2), a.reshape(200, 2, 2)[perm],
                                    projections=4, generator=gen)) == 0.0


def test_initial_particles_laws_and_reproducibility():
    g = torch.Generator().manual_seed(0)
    p = initial_particles(50, 4, generator=g, batch=(2, 3), bias=True,
                          first_layer_init=FirstLayerInit.SPHERE, first_layer_std=2.0)
    assert p.shape == (2, 3, 50, 6) and p.dtype == DT
    assert torch.allclose(p[..., 1:5].norm(dim=-1), torch.full((2, 3, 50), 2.0, dtype=DT))
    again = initial_particles(50, 4, generator=torch.Generator().manual_seed(0), batch=(2, 3),
                              bias=True, first_layer_init=FirstLayerInit.SPHERE,
                              first_layer_std=2.0)
    assert torch.equal(p, again)
    w = initial_particles(20_000, 4, generator=g)[:, 1:]
    assert float(w.square().sum(1).mean()) == pytest.approx(1.0, rel=0.03)  # E|w|^2 = s^2


def test_same_numbers_for_the_same_input():
    theta, x, y = _problem(batch=(4,))
    a = mean_field_gradient_descent(theta, x, y, step_size=0.5, steps=20, x_eval=x, y_eval=y)
    b = mean_field_gradient_descent(theta, x, y, step_size=0.5, steps=20, x_eval=x, y_eval=y)
    assert torch.equal(a.risk, b.risk) and torch.equal(a.final, b.final)
    assert a.eval_risk is not None and torch.equal(a.eval_risk, a.risk)


@pytest.mark.parametrize("kwargs, match", [
    (dict(step_size=0.0), "step_size"),
    (dict(steps=-1), "steps"),
    (dict(record_steps=[3, 2]), "record_steps"),
    (dict(record_steps=[0, 99]), "record_steps"),
    (dict(x_eval=torch.zeros(2, 3, dtype=DT)), "x_eval"),
    (dict(activation="relu"), "activation"),
    (dict(bias=1), "bias"),
])
def test_gradient_descent_rejects_bad_options(kwargs, match):
    theta, x, y = _problem()
    options = dict(step_size=0.1, steps=5) | kwargs
    with pytest.raises(ValueError, match=match):
        mean_field_gradient_descent(theta, x, y, **options)


def test_bad_shapes_are_named():
    theta, x, y = _problem()
    with pytest.raises(ValueError, match="particles"):
        mean_field_output(theta[0], x)
    with pytest.raises(ValueError, match="x: expected shape"):
        mean_field_output(theta, x[:, :2])
    with pytest.raises(ValueError, match="x: expected dtype"):
        mean_field_output(theta, x.float())
    with pytest.raises(ValueError, match="y"):
        mean_field_risk(theta, x, y[:-1])
    with pytest.raises(ValueError, match="teacher"):
        gaussian_relu_risk(theta, theta[:, :2])
    with pytest.raises(ValueError, match="other"):
        particle_sliced_w2(theta, theta[:, :2], projections=3,
                           generator=torch.Generator())
    with pytest.raises(ValueError, match="generator"):
        initial_particles(3, 2, generator=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="width"):
        initial_particles(0, 2, generator=torch.Generator())


def test_divergence_is_reported():
    theta, x, y = _problem()
    with pytest.raises(RuntimeError, match="diverged"):
        mean_field_gradient_descent(theta * 30, x, y * 1e3, step_size=1e3, steps=50,
                                    activation=Nonlinearity.IDENTITY)


def test_gaussian_relu_risk_is_blockwise_and_batched_consistently(monkeypatch):
    import mathdl.training._mean_field as mf

    g = torch.Generator().manual_seed(6)
    students = initial_particles(9, 3, generator=g, batch=(2, 3))
    teacher = initial_particles(4, 3, generator=g)
    whole = gaussian_relu_risk(students, teacher)
    assert whole.shape == (2, 3)
    assert torch.allclose(whole[1, 2], gaussian_relu_risk(students[1, 2], teacher), rtol=1e-14)
    monkeypatch.setattr(mf, "_BLOCK_ELEMENTS", 7)  # one or two rows per block
    assert torch.allclose(gaussian_relu_risk(students, teacher), whole, rtol=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    (dict(systems=5), "systems"),
    (dict(widths=(64, 32, 128)), "widths"),
    (dict(chaos_time=0.1), "chaos_time"),
    (dict(wide_level=1.5), "wide_level"),
    (dict(teacher_neurons=1), "teacher_neurons"),
])
def test_propagation_of_chaos_config_is_validated(kwargs, match):
    from mathdl.training.experiments_mean_field import PropagationOfChaosConfig

    with pytest.raises(ValueError, match=match):
        PropagationOfChaosConfig(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(alphas=(1.0, 0.5, 2.0)), "alphas"),
    (dict(rate_from=1000.0), "rate_from"),
    (dict(rich_level=1.0), "rich_level"),
])
def test_alpha_test_error_config_is_validated(kwargs, match):
    from mathdl.training.experiments_mean_field import AlphaTestErrorConfig

    with pytest.raises(ValueError, match=match):
        AlphaTestErrorConfig(**kwargs)
