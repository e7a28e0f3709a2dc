"""PINNs: input derivatives (Taylor mode = torch.func = closed form), the loss, training on
problems with known solutions, the inverse problem, divergence and bad input."""

import math

import pytest
import torch
from torch import nn

from mathdl.pde import (
    PINN,
    DerivativeMethod,
    Derivatives,
    MultilayerPerceptron,
    PINNActivation,
    TrainingDivergedError,
    input_derivatives,
    pinn_residual,
)

F64 = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("activation", list(PINNActivation))
@pytest.mark.parametrize("d", [1, 2, 3])
def test_taylor_mode_equals_torch_func(activation, d):
    net = MultilayerPerceptron(d, 7, 3, activation=activation, lower=(-1.0,) * d,
                               upper=(2.0,) * d, generator=gen(), dtype=F64)
    z = torch.rand(30, d, generator=gen(1), dtype=F64)
    a = input_derivatives(net, z, DerivativeMethod.TAYLOR)
    b = input_derivatives(net, z, DerivativeMethod.TORCH_FUNC)
    for p, q in ((a.u, b.u), (a.gradient, b.gradient), (a.second, b.second)):
        assert torch.allclose(p, q, rtol=1e-11, atol=1e-12)
    assert torch.allclose(a.u, net(z))


def test_selected_second_derivatives_and_parameter_gradients_agree():
    net = MultilayerPerceptron(2, 6, 2, generator=gen(), dtype=F64)
    z = torch.rand(20, 2, generator=gen(1), dtype=F64)
    part = input_derivatives(net, z, second=(1,))
    full = input_derivatives(net, z)
    assert torch.equal(part.second[:, 1], full.second[:, 1])
    assert bool(part.second[:, 0].isnan().all())
    # gradients w.r.t. the parameters through both methods agree
    grads = []
    for method in (DerivativeMethod.TAYLOR, DerivativeMethod.TORCH_FUNC):
        net.zero_grad()
        d = input_derivatives(net, z, method)
        (d.u * d.gradient[:, 0] + d.second[:, 1]).square().mean().backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in net.parameters()]))
    assert torch.allclose(grads[0], grads[1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("activation", list(PINNActivation))
@pytest.mark.parametrize("second", [None, (1,), (2, 0), (2, 0, 1)])
def test_fused_backward_equals_the_autograd_tape(activation, second):
    """The hand-written adjoint of the fused Taylor pass (mathdl.pde._taylor) gives the same
    values and the same gradients (parameters and inputs) as autograd through the same
    computation, for any set and order of second-derivative coordinates."""
    net = MultilayerPerceptron(3, 7, 3, activation=activation, lower=(-1.0, 0.0, 2.0),
                               upper=(1.0, 2.0, 3.0), generator=gen(2), dtype=F64)
    z = torch.randn(11, 3, generator=gen(3), dtype=F64, requires_grad=True)
    c = torch.randn(4, 11, 3, generator=gen(4), dtype=F64)
    first = (second or (0,))[0]

    def loss(d):
        s = torch.nan_to_num(d.second)
        return ((c[0, :, 0] * d.u).sum() + (c[1] * d.gradient).sum() + (c[2] * s).sum()
                + (c[3, :, 0] * d.u * d.gradient[:, 0] * s[:, first]).sum())

    a = net.derivatives(z, second)
    b = net.derivatives(z, second, fused=False)
    for p, q in ((a.u, b.u), (a.gradient, b.gradient), (a.second, b.second)):
        assert torch.allclose(p, q, rtol=1e-12, atol=1e-12, equal_nan=True)
    ga = torch.autograd.grad(loss(a), [z, *net.parameters()])
    gb = torch.autograd.grad(loss(b), [z, *net.parameters()])
    for p, q in zip(ga, gb, strict=True):
        assert torch.allclose(p, q, rtol=1e-10, atol=1e-12)


def test_fused_backward_passes_gradcheck_and_is_once_differentiable():
    from mathdl.pde._taylor import taylor_derivatives

    net = MultilayerPerceptron(2, 4, 2, generator=gen(6), dtype=F64)
    z = torch.randn(5, 2, generator=gen(7), dtype=F64, requires_grad=True)
    ws = [x.weight.detach().clone().requires_grad_(True) for x in net.layers]
    bs = [x.bias.detach().clone().requires_grad_(True) for x in net.layers]

    def f(z, *wb):
        return taylor_derivatives(z, net.input_scale, net.input_shift, list(wb[:3]),
                                  list(wb[3:]), [1], tanh=True)

    assert torch.autograd.gradcheck(f, (z, *ws, *bs))
    d = net.derivatives(z, (1,))
    (g,) = torch.autograd.grad(d.second[:, 1].square().sum(), z, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        g.sum().backward()


def test_torch_func_on_a_closed_form_function():
    class Cubic(nn.Module):
        def forward(self, z):
            return (z[:, 0] ** 3 * z[:, 1] + torch.sin(z[:, 1])).unsqueeze(-1)

    z = torch.rand(10, 2, generator=gen(), dtype=F64)
    d = input_derivatives(Cubic(), z)
    x, y = z[:, 0], z[:, 1]
    assert torch.allclose(d.gradient, torch.stack([3 * x**2 * y, x**3 + torch.cos(y)], 1))
    assert torch.allclose(d.second, torch.stack([6 * x * y, -torch.sin(y)], 1))
    with pytest.raises(ValueError, match="method"):
        input_derivatives(Cubic(), z, DerivativeMethod.TAYLOR)


def test_multilayer_perceptron_initialisation_is_glorot_and_seeded():
    a = MultilayerPerceptron(2, 50, 2, generator=gen(5), dtype=F64)
    b = MultilayerPerceptron(2, 50, 2, generator=gen(5), dtype=F64)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    w = a.layers[1].weight.detach()
    assert float(w.std()) == pytest.approx(math.sqrt(2 / 100), rel=0.1)
    assert float(a.layers[1].bias.detach().abs().max()) == 0.0


def poisson_1d(z, d: Derivatives, c):
    """-u'' = pi^2 sin(pi x) on (0, 1), u(0) = u(1) = 0: u = sin(pi x)."""
    return -d.second[:, 0] - math.pi**2 * torch.sin(math.pi * z[:, 0])


def test_forward_problem_recovers_a_known_solution():
    net = MultilayerPerceptron(1, 16, 2, generator=gen(), dtype=F64)
    col = torch.linspace(0, 1, 64, dtype=F64)[:, None]
    bz = torch.tensor([[0.0], [1.0]], dtype=F64)
    pinn = PINN(net, poisson_1d, adam_steps=50, adam_lr=1e-2, lbfgs_steps=200)
    calls = []
    pinn.fit(col, bz, torch.zeros(2, dtype=F64), progress=lambda d, t: calls.append((d, t)))
    x = torch.linspace(0, 1, 101, dtype=F64)[:, None]
    err = (pinn.predict(x) - torch.sin(math.pi * x[:, 0])).abs().max()
    assert float(err) < 1e-3
    assert calls[-1][0] == calls[-1][1] and pinn.loss_ < 1e-4
    assert len(pinn.history_) == pinn.evaluations_ > 50


def test_lbfgs_tolerance_zero_runs_past_the_float32_stall():
    """In float32 the default stop (loss change below machine epsilon, absolute) ends L-BFGS
    while it still makes progress; ``lbfgs_tolerance=0`` runs its evaluations and gets closer
    to u = sin(pi x) (measured: 165 evaluations, error 4.6e-5, against 411 and 3.5e-6)."""
    errors, evaluations = [], []
    for tol in (None, 0.0):
        net = MultilayerPerceptron(1, 16, 2, generator=gen())
        col = torch.linspace(0, 1, 64)[:, None]
        pinn = PINN(net, poisson_1d, adam_steps=50, adam_lr=1e-2, lbfgs_steps=400,
                    lbfgs_tolerance=tol)
        pinn.fit(col, torch.tensor([[0.0], [1.0]]), torch.zeros(2))
        x = torch.linspace(0, 1, 101)[:, None]
        errors.append(float((pinn.predict(x) - torch.sin(math.pi * x[:, 0])).abs().max()))
        evaluations.append(pinn.evaluations_)
    assert evaluations[0] < 300 < evaluations[1]
    assert errors[1] < errors[0] / 4


def decay(z, d: Derivatives, c):
    """u' = -k u."""
    return d.gradient[:, 0] + c["rate"] * d.u


def test_inverse_problem_learns_the_coefficient():
    """Observations of u = exp(-2 t): the learned rate converges to 2."""
    net = MultilayerPerceptron(1, 10, 2, generator=gen(), dtype=F64)
    t = torch.linspace(0, 1, 40, dtype=F64)[:, None]
    pinn = PINN(net, decay, unknowns={"rate": 0.5}, adam_steps=100, adam_lr=1e-2,
                lbfgs_steps=300)
    pinn.fit(t, t, torch.exp(-2 * t[:, 0]))
    assert pinn.coefficients_["rate"] == pytest.approx(2.0, rel=1e-3)
    # the known-coefficient residual vanishes for the true solution's network
    r = pinn_residual(net, decay, t, {"rate": pinn.coefficients_["rate"]})
    assert float(r.detach().abs().max()) < 1e-2


def test_divergence_is_reported():
    net = MultilayerPerceptron(1, 4, 1, generator=gen(), dtype=F64)
    t = torch.linspace(0, 1, 10, dtype=F64)[:, None]

    def nan_residual(z, d, c):
        return d.u * math.nan

    with pytest.raises(TrainingDivergedError, match="PINN diverged"):
        PINN(net, nan_residual, adam_steps=3, lbfgs_steps=0).fit(t, t, t[:, 0])


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(adam_steps=-1), "adam_steps"), (dict(adam_lr=0.0), "adam_lr"),
    (dict(lbfgs_steps=1.5), "lbfgs_steps"), (dict(unknowns={"k": -1.0}), "unknowns"),
    (dict(coefficients={"k": 1.0}, unknowns={"k": 1.0}), "unknowns"),
    (dict(method="taylor"), "method"), (dict(data_weight=-1.0), "data_weight"),
    (dict(lbfgs_tolerance=-1.0), "lbfgs_tolerance")])
def test_bad_solver_arguments(kwargs, match):
    net = MultilayerPerceptron(1, 4, 1, generator=gen())
    with pytest.raises(ValueError, match=match):
        PINN(net, decay, **kwargs)


def test_bad_shapes():
    net = MultilayerPerceptron(2, 4, 1, generator=gen())
    pinn = PINN(net, decay, coefficients={"rate": 1.0})
    with pytest.raises(ValueError, match="observed_z"):
        pinn.fit(torch.zeros(5, 2), torch.zeros(5, 3), torch.zeros(5))
    with pytest.raises(ValueError, match="observed_u"):
        pinn.fit(torch.zeros(5, 2), torch.zeros(5, 2), torch.zeros(4))
    with pytest.raises(ValueError, match="second"):
        input_derivatives(net, torch.zeros(3, 2), second=(2,))
    with pytest.raises(ValueError, match="width"):
        MultilayerPerceptron(2, 0, 1, generator=gen())
    with pytest.raises(ValueError, match="upper"):
        MultilayerPerceptron(2, 3, 1, lower=(0.0, 0.0), generator=gen())
