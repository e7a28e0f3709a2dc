"""Two-layer networks with explicit output scalings, and the full-batch gradient-descent trainer."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mathdl.training import (
    FirstLayerInit,
    Loss,
    Nonlinearity,
    OutputInit,
    Scaling,
    TrainingRecord,
    TwoLayerNetwork,
    train_gradient_descent,
)

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _inputs(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n, d, generator=_gen(seed), dtype=F64)


def _net(d: int = 3, m: int = 7, **kw) -> TwoLayerNetwork:
    kw.setdefault("generator", _gen(0))
    kw.setdefault("dtype", F64)
    return TwoLayerNetwork(d, m, **kw)


# ---------------------------------------------------------------------------------------------
# The network


@pytest.mark.parametrize("bias", [False, True])
def test_shapes_and_parameters(bias):
    net = _net(4, 9, bias=bias)
    x = _inputs(5, 4, 1)
    assert net(x).shape == (5,)
    assert net.features(x).shape == (5, 9)
    assert net.weight.shape == (9, 4) and net.output.shape == (9,)
    names = {name for name, _ in net.named_parameters()}
    if bias:
        assert net.bias.shape == (9,) and names == {"weight", "bias", "output"}
    else:
        assert net.bias is None and names == {"weight", "output"}


@given(n=st.integers(1, 6), d=st.integers(1, 5), m=st.integers(1, 12),
       scaling=st.sampled_from(list(Scaling)), bias=st.booleans(),
       activation=st.sampled_from(list(Nonlinearity)), seed=st.integers(0, 2**16))
@settings(max_examples=40, deadline=None)
def test_forward_is_scaled_features_times_output(n, d, m, scaling, bias, activation, seed):
    net = TwoLayerNetwork(d, m, scaling=scaling, alpha=1.7, activation=activation, bias=bias,
                          bias_std=0.5, generator=_gen(seed), dtype=F64)
    x = _inputs(n, d, seed + 1)
    expected = 1.7 * scaling.factor(m) * (net.features(x) @ net.output)
    torch.testing.assert_close(net(x), expected, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize(("scaling", "c_m"), [
    (Scaling.STANDARD, lambda m: 1.0),
    (Scaling.NTK, lambda m: m ** -0.5),
    (Scaling.MEAN_FIELD, lambda m: 1.0 / m),
])
@pytest.mark.parametrize("width", [1, 4, 100])
@pytest.mark.parametrize("alpha", [1.0, 3.5])
def test_scaling_normalisation(scaling, c_m, width, alpha):
    """Linear activation, a_k = 1: f(x) = alpha c_m sum_k w_k . x exactly."""
    assert scaling.factor(width) == pytest.approx(c_m(width), rel=1e-15)
    net = _net(3, width, scaling=scaling, alpha=alpha, activation=Nonlinearity.IDENTITY)
    with torch.no_grad():
        net.output.fill_(1.0)
    x = _inputs(6, 3, 2)
    expected = alpha * c_m(width) * (x @ net.weight.sum(dim=0))
    torch.testing.assert_close(net(x), expected, rtol=1e-13, atol=1e-14)
    assert net.output_scale == pytest.approx(alpha * c_m(width), rel=1e-15)


def test_nonlinearities():
    z = torch.linspace(-3, 3, 13, dtype=F64)
    torch.testing.assert_close(Nonlinearity.RELU(z), torch.clamp(z, min=0))
    torch.testing.assert_close(Nonlinearity.TANH(z), torch.tanh(z))
    torch.testing.assert_close(Nonlinearity.ERF(z), torch.erf(z))
    torch.testing.assert_close(Nonlinearity.IDENTITY(z), z)


@pytest.mark.parametrize("scaling", list(Scaling))
def test_zero_output_init_gives_the_zero_function(scaling):
    net = _net(5, 50, scaling=scaling, output_init=OutputInit.ZERO, bias=True, bias_std=1.0)
    assert torch.count_nonzero(net.output) == 0
    assert torch.count_nonzero(net(_inputs(8, 5, 3))) == 0


def test_sphere_init_lies_on_the_sphere_and_is_isotropic():
    """w_k = s u_k, u_k uniform on S^{d-1}: |w_k| = s, E u = 0, E u u^T = I/d."""
    d, m, s = 4, 40_000, 2.5
    net = _net(d, m, first_layer_init=FirstLayerInit.SPHERE, first_layer_std=s)
    norms = net.weight.norm(dim=1)
    torch.testing.assert_close(norms, torch.full_like(norms, s), rtol=1e-14, atol=0)
    u = net.weight.detach() / s
    # mean: each coordinate has variance 1/d, so the sample mean has standard error 1/sqrt(d m)
    assert u.mean(dim=0).abs().max() < 5 / math.sqrt(d * m)
    # second moment: Var(u_i u_j) <= E u_i^2 u_j^2 <= 3/d^2 -> standard error <= sqrt(3/m)/d
    second = u.T @ u / m
    assert (second - torch.eye(d, dtype=F64) / d).abs().max() < 5 * math.sqrt(3 / m) / d


def test_gaussian_inits_have_the_stated_variances():
    """w_k ~ N(0, s^2 I/d): |w_k|^2 = s^2 chi^2_d / d has mean s^2, sd s^2 sqrt(2/d);
    a_k ~ N(0, t^2); b_k ~ N(0, u^2). Each checked within 5 standard errors."""
    d, m, s, t, u = 6, 40_000, 1.5, 0.7, 0.3
    net = _net(d, m, first_layer_std=s, output_std=t, bias=True, bias_std=u)
    sq = net.weight.detach().square().sum(dim=1)
    assert abs(float(sq.mean()) - s**2) < 5 * s**2 * math.sqrt(2 / d) / math.sqrt(m)
    for p, std in ((net.output, t), (net.bias, u)):
        var = float(p.detach().square().mean())
        assert abs(var - std**2) < 5 * std**2 * math.sqrt(2 / m)  # Var(z^2) = 2 std^4


def test_same_generator_same_parameters():
    a = _net(3, 20, generator=_gen(11), bias=True, bias_std=1.0)
    b = _net(3, 20, generator=_gen(11), bias=True, bias_std=1.0)
    c = _net(3, 20, generator=_gen(12), bias=True, bias_std=1.0)
    for name, p in a.named_parameters():
        assert torch.equal(p, dict(b.named_parameters())[name])
    assert not torch.equal(a.weight, c.weight)
    # the default generator is a fresh one seeded 0, never the global random state
    torch.manual_seed(123)
    d1 = TwoLayerNetwork(3, 20, dtype=F64)
    torch.manual_seed(456)
    d2 = TwoLayerNetwork(3, 20, dtype=F64)
    assert torch.equal(d1.weight, d2.weight) and torch.equal(d1.output, d2.output)


def test_gradcheck_of_the_output_in_the_parameters():
    net = _net(3, 5, activation=Nonlinearity.TANH, bias=True, bias_std=1.0)
    x = _inputs(4, 3, 5)

    def f(weight, bias, output):
        return torch.func.functional_call(net, {"weight": weight, "bias": bias,
                                                "output": output}, (x,))

    params = tuple(p.detach().clone().requires_grad_(True)
                   for p in (net.weight, net.bias, net.output))
    assert torch.autograd.gradcheck(f, params)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"in_features": 0}, "in_features"),
    ({"width": -1}, "width"),
    ({"width": True}, "width"),
    ({"width": 2.0}, "width"),
    ({"scaling": "ntk"}, "scaling"),
    ({"alpha": 0.0}, "alpha"),
    ({"alpha": math.nan}, "alpha"),
    ({"activation": "relu"}, "activation"),
    ({"output_init": "zero"}, "output_init"),
    ({"output_std": -1.0}, "output_std"),
    ({"first_layer_init": FirstLayerInit.SPHERE.value}, "first_layer_init"),
    ({"first_layer_std": math.inf}, "first_layer_std"),
    ({"bias": 1}, "bias"),
    ({"bias_std": -0.1}, "bias_std"),
    ({"dtype": torch.int64}, "dtype"),
    ({"generator": 123}, "generator"),
])
def test_constructor_rejects_bad_arguments(kwargs, match):
    args = {"in_features": 3, "width": 4}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        TwoLayerNetwork(args.pop("in_features"), args.pop("width"), **args)


@pytest.mark.parametrize("x", [
    torch.zeros(4, 2, dtype=F64),         # wrong number of columns
    torch.zeros(3, dtype=F64),            # 1-D
    torch.zeros(4, 3, dtype=torch.int64),  # not floating
    torch.zeros(4, 3, dtype=torch.float32),  # not the parameters' dtype
    [[0.0, 0.0, 0.0]],                    # not a tensor
])
def test_forward_rejects_bad_inputs(x):
    net = _net(3, 4)
    with pytest.raises(ValueError, match="x"):
        net(x)
    with pytest.raises(ValueError, match="x"):
        net.features(x)


def test_reset_parameters_needs_a_generator():
    with pytest.raises(ValueError, match="generator"):
        _net().reset_parameters(generator=None)


# ---------------------------------------------------------------------------------------------
# The trainer


def _random_feature_problem(n=6, d=3, m=10, seed=0, output_init=OutputInit.GAUSSIAN,
                            scaling=Scaling.NTK, alpha=1.3):
    net = _net(d, m, scaling=scaling, alpha=alpha, activation=Nonlinearity.TANH, bias=True,
               bias_std=0.5, output_init=output_init, generator=_gen(seed))
    x = _inputs(n, d, seed + 1)
    y = torch.sin(x.sum(dim=1))
    return net, x, y


@pytest.mark.parametrize("loss", list(Loss))
@pytest.mark.parametrize("scaling", list(Scaling))
def test_output_only_training_is_gradient_descent_on_least_squares(loss, scaling):
    """f = c Phi a with Phi frozen: a_{k+1} = a_k - eta c Phi^T (c Phi a_k - y) / N, with N = n
    (HALF_MSE) or 1 (HALF_SSE); the loss at step k is |c Phi a_k - y|^2 / (2N)."""
    net, x, y = _random_feature_problem(scaling=scaling)
    phi = net.features(x).detach()
    c = net.output_scale
    norm = x.shape[0] if loss is Loss.HALF_MSE else 1
    lr, steps = 0.05, 25
    a = net.output.detach().clone()
    expected_loss = []
    for _ in range(steps):
        r = c * phi @ a - y
        expected_loss.append(float(r @ r) / (2 * norm))
        a = a - lr * c * phi.T @ r / norm
    r = c * phi @ a - y
    expected_loss.append(float(r @ r) / (2 * norm))
    w0 = net.weight.detach().clone()
    rec = train_gradient_descent(net, x, y, learning_rate=lr, steps=steps, trainable=["output"],
                                 loss=loss)
    torch.testing.assert_close(net.output.detach(), a, rtol=1e-12, atol=1e-13)
    assert torch.equal(net.weight, w0)
    assert rec.steps == tuple(range(steps + 1))
    assert rec.train_loss == pytest.approx(expected_loss, rel=1e-11, abs=1e-15)
    assert rec.parameter_distance["weight"] == 0.0 and rec.parameter_distance["bias"] == 0.0
    assert rec.parameter_distance["output"] > 0


def _steps_to(tol: float, rate: float) -> int:
    """Steps k with (1 - rate)^k <= tol."""
    return math.ceil(math.log(tol) / math.log1p(-rate))


def test_output_training_from_zero_converges_to_the_min_norm_interpolant():
    """Over-parametrised (m > n), a(0) = 0: GD stays in the row space of c Phi and converges to
    the minimum-norm solution a* = pinv(c Phi) y (the linear contraction rate is
    1 - eta lambda_min^+ of the Hessian c^2 Phi^T Phi / n)."""
    # seed 3: a well-conditioned draw (about 2000 steps to 1e-13)
    net, x, y = _random_feature_problem(n=5, m=12, seed=3, output_init=OutputInit.ZERO)
    a_phi = net.output_scale * net.features(x).detach()
    hessian_eigs = torch.linalg.eigvalsh(a_phi @ a_phi.T / x.shape[0])  # nonzero spectrum
    lr = 1.0 / float(hessian_eigs[-1])
    steps = _steps_to(1e-13, lr * float(hessian_eigs[0]))
    rec = train_gradient_descent(net, x, y, learning_rate=lr, steps=steps, trainable=["output"],
                                 record_every=steps)
    a_star = torch.linalg.pinv(a_phi) @ y
    torch.testing.assert_close(net.output.detach(), a_star, rtol=0, atol=1e-10)
    assert rec.train_loss[-1] < 1e-20
    assert rec.steps == (0, steps)


def test_output_training_under_parametrised_reaches_the_least_squares_solution():
    """m < n: the least-squares solution is unique and GD reaches it from any start."""
    net, x, y = _random_feature_problem(n=12, m=4, seed=2)  # well conditioned: ~200 steps
    a_phi = net.output_scale * net.features(x).detach()
    eigs = torch.linalg.eigvalsh(a_phi.T @ a_phi / x.shape[0])
    lr = 1.0 / float(eigs[-1])
    steps = _steps_to(1e-13, lr * float(eigs[0]))
    train_gradient_descent(net, x, y, learning_rate=lr, steps=steps, trainable=["output"],
                           record_every=steps)
    a_ls = torch.linalg.lstsq(a_phi, y.unsqueeze(1)).solution.squeeze(1)
    torch.testing.assert_close(net.output.detach(), a_ls, rtol=0, atol=1e-10)


def test_one_full_step_matches_the_hand_derived_gradients():
    """R = |r|^2 / (2n), r = f - y, f = c sum_k a_k sigma(w_k.x + b_k):
    dR/da_k = (c/n) sum_i r_i s_ik, dR/dw_k = (c/n) sum_i r_i a_k s'_ik x_i,
    dR/db_k = (c/n) sum_i r_i a_k s'_ik, with s = tanh and s' = 1 - tanh^2."""
    net, x, y = _random_feature_problem()
    c, n = net.output_scale, x.shape[0]
    w, b, a = (p.detach().clone() for p in (net.weight, net.bias, net.output))
    s = torch.tanh(x @ w.T + b)
    ds = 1 - s**2
    r = c * s @ a - y
    grad_a = c * s.T @ r / n
    grad_w = c * ((ds * r[:, None]) * a[None, :]).T @ x / n
    grad_b = c * ((ds * r[:, None]) * a[None, :]).sum(dim=0) / n
    lr = 0.3
    train_gradient_descent(net, x, y, learning_rate=lr, steps=1)
    torch.testing.assert_close(net.output.detach(), a - lr * grad_a, rtol=1e-13, atol=1e-14)
    torch.testing.assert_close(net.weight.detach(), w - lr * grad_w, rtol=1e-13, atol=1e-14)
    torch.testing.assert_close(net.bias.detach(), b - lr * grad_b, rtol=1e-13, atol=1e-14)


def test_half_sse_is_half_mse_with_the_step_divided_by_n():
    net1, x, y = _random_feature_problem()
    net2, _, _ = _random_feature_problem()
    n = x.shape[0]
    r1 = train_gradient_descent(net1, x, y, learning_rate=0.2, steps=15, loss=Loss.HALF_MSE)
    r2 = train_gradient_descent(net2, x, y, learning_rate=0.2 / n, steps=15, loss=Loss.HALF_SSE)
    torch.testing.assert_close(r1.train_outputs, r2.train_outputs, rtol=1e-12, atol=1e-13)
    assert [n * v for v in r1.train_loss] == pytest.approx(r2.train_loss, rel=1e-11)


def test_record_contents():
    net, x, y = _random_feature_problem(output_init=OutputInit.ZERO)
    x_eval = _inputs(9, 3, 7)
    f0 = net(x).detach()
    rec = train_gradient_descent(net, x, y, learning_rate=0.1, steps=10, record_every=3,
                                 x_eval=x_eval)
    assert isinstance(rec, TrainingRecord)
    assert rec.steps == (0, 3, 6, 9, 10)
    assert len(rec.train_loss) == 5
    assert rec.train_outputs.shape == (5, 6) and rec.eval_outputs.shape == (5, 9)
    torch.testing.assert_close(rec.train_outputs[0], f0)
    torch.testing.assert_close(rec.train_outputs[-1], net(x).detach())
    torch.testing.assert_close(rec.eval_outputs[-1], net(x_eval).detach())
    assert rec.train_loss[0] == pytest.approx(float(((f0 - y) ** 2).mean()) / 2, rel=1e-14)
    assert rec.learning_rate == 0.1 and rec.loss is Loss.HALF_MSE
    # distances are measured from the initial parameters
    assert rec.initial_norm["output"] == 0.0
    assert rec.parameter_distance["output"] == pytest.approx(float(net.output.detach().norm()),
                                                            rel=1e-14)
    with pytest.raises(ValueError, match="started at zero"):
        rec.relative_distance("output")
    with pytest.raises(ValueError, match="name"):
        rec.relative_distance("nope")
    assert rec.relative_distance("weight") == pytest.approx(
        rec.parameter_distance["weight"] / rec.initial_norm["weight"])
    no_eval = train_gradient_descent(net, x, y, learning_rate=0.1, steps=0)
    assert no_eval.eval_outputs is None and no_eval.steps == (0,)


def test_training_is_deterministic():
    runs = []
    for _ in range(2):
        net, x, y = _random_feature_problem(seed=3)
        rec = train_gradient_descent(net, x, y, learning_rate=0.1, steps=20, record_every=4,
                                     x_eval=x)
        runs.append((rec, [p.detach().clone() for p in net.parameters()]))
    (r1, p1), (r2, p2) = runs
    assert r1.train_loss == r2.train_loss
    assert torch.equal(r1.eval_outputs, r2.eval_outputs)
    assert all(torch.equal(a, b) for a, b in zip(p1, p2, strict=True))


def test_divergence_is_detected_with_the_step():
    net, x, y = _random_feature_problem(scaling=Scaling.STANDARD, m=50)
    with pytest.raises(RuntimeError, match=r"diverged.*at step \d+.*smaller learning_rate"):
        train_gradient_descent(net, x, y, learning_rate=1e3, steps=2000)


class _Matrix(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(3, 2, dtype=F64))

    def forward(self, x):
        return x @ self.w


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"learning_rate": 0.0}, "learning_rate"),
    ({"learning_rate": -1.0}, "learning_rate"),
    ({"learning_rate": math.nan}, "learning_rate"),
    ({"steps": -1}, "steps"),
    ({"steps": 1.5}, "steps"),
    ({"record_every": 0}, "record_every"),
    ({"y": torch.zeros(5, dtype=F64)}, "y"),
    ({"y": torch.zeros(6, 1, dtype=F64)}, "y"),
    ({"y": torch.zeros(6, dtype=torch.float32)}, "y"),
    ({"x": torch.zeros(6, dtype=F64)}, "x"),
    ({"x_eval": torch.zeros(4, 2, dtype=F64)}, "x_eval"),
    ({"x_eval": torch.zeros(4, 3, dtype=torch.float32)}, "x_eval"),
    ({"trainable": ["nope"]}, "trainable"),
    ({"trainable": ["output", "output"]}, "trainable"),
    ({"trainable": "output"}, "trainable"),
    ({"trainable": []}, "trainable"),
    ({"loss": "half_mse"}, "loss"),
    ({"model": "net"}, "model"),
    ({"model": _Matrix()}, "model"),
])
def test_trainer_rejects_bad_arguments(kwargs, match):
    net, x, y = _random_feature_problem()
    args = {"model": net, "x": x, "y": y, "learning_rate": 0.1, "steps": 3}
    args.update(kwargs)
    model, xx, yy = args.pop("model"), args.pop("x"), args.pop("y")
    with pytest.raises(ValueError, match=match):
        train_gradient_descent(model, xx, yy, **args)


def test_trainer_rejects_a_parameter_without_gradient():
    net, x, y = _random_feature_problem()
    net.weight.requires_grad_(False)
    with pytest.raises(ValueError, match="requires_grad"):
        train_gradient_descent(net, x, y, learning_rate=0.1, steps=1, trainable=["weight"])


# ---------------------------------------------------------------------------------------------
# Stochastic gradient descent (batch_size)


def test_sgd_with_the_whole_batch_is_gradient_descent():
    x, y = _inputs(12, 3, 1), torch.randn(12, generator=_gen(2), dtype=F64)
    gd, sgd = _net(), _net()
    train_gradient_descent(gd, x, y, learning_rate=0.1, steps=20)
    train_gradient_descent(sgd, x, y, learning_rate=0.1, steps=20, batch_size=12,
                           generator=_gen(5))
    for a, b in zip(gd.parameters(), sgd.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)  # only the summation order


def test_the_minibatch_step_is_unbiased():
    # E over minibatches of one SGD step = the gradient-descent step (the minibatch loss is an
    # unbiased estimate of the full loss, hence of its gradient); 4000 draws: standard error of
    # the mean step ~ 1.5% of its spread, 5 standard errors allowed.
    x, y = _inputs(10, 3, 3), torch.randn(10, generator=_gen(4), dtype=F64)
    start = _net()
    gd = _net()
    train_gradient_descent(gd, x, y, learning_rate=0.05, steps=1)
    target = torch.cat([p.detach().flatten() for p in gd.parameters()])
    g = _gen(6)
    steps = []
    for _ in range(4000):
        net = _net()
        train_gradient_descent(net, x, y, learning_rate=0.05, steps=1, batch_size=3, generator=g)
        steps.append(torch.cat([p.detach().flatten() for p in net.parameters()]))
    steps = torch.stack(steps)
    origin = torch.cat([p.detach().flatten() for p in start.parameters()])
    mean, stderr = steps.mean(0), steps.std(0) / 4000**0.5
    assert torch.all((mean - target).abs() <= 5 * stderr + 1e-15)
    assert float((target - origin).abs().max()) > 20 * float(stderr.max())  # the step is visible


def test_sgd_is_deterministic_given_the_generator_and_checks_its_inputs():
    x, y = _inputs(12, 3, 1), torch.randn(12, generator=_gen(2), dtype=F64)
    a, b = _net(), _net()
    ra = train_gradient_descent(a, x, y, learning_rate=0.1, steps=30, batch_size=4,
                                generator=_gen(9))
    rb = train_gradient_descent(b, x, y, learning_rate=0.1, steps=30, batch_size=4,
                                generator=_gen(9))
    assert ra.train_loss == rb.train_loss
    with pytest.raises(ValueError, match="batch_size"):
        train_gradient_descent(_net(), x, y, learning_rate=0.1, steps=1, batch_size=13,
                               generator=_gen(0))
    with pytest.raises(ValueError, match="generator"):
        train_gradient_descent(_net(), x, y, learning_rate=0.1, steps=1, batch_size=4)
