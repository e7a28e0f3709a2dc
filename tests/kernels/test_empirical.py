"""Empirical NTK: closed forms, agreement of strategies, blocking, symmetry and linearisation."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.func import functional_call, grad

from mathdl.kernels._empirical import NTKStrategy, empirical_ntk, jacobian_features

F64 = torch.float64
EPS = float(np.finfo(np.float64).eps)
STRATEGIES = list(NTKStrategy)
# Kernels below are O(1-10) sums of O(10^3) products in float64: rounding is ~1e-13 absolute,
# while any missing or doubled parameter block changes entries by O(1).
EXACT = 1e-11


def _inputs(n: int, d: int, seed: int, dtype: torch.dtype = F64) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _mlp(d: int = 3, width: int = 16, k: int = 2, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)  # test-only: module initialisation draws from the global generator
    return nn.Sequential(
        nn.Linear(d, width), nn.Tanh(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, k)
    ).to(F64)


class TwoLayer(nn.Module):
    r"""f(x) = m^{-1/2} sum_j a_j phi(w_j . x), NTK parameterisation, no biases."""

    def __init__(self, d: int, width: int, seed: int, activation=torch.relu) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.randn(width, d, generator=gen, dtype=F64))
        self.a = nn.Parameter(torch.randn(width, generator=gen, dtype=F64))
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(x @ self.w.T) @ self.a / math.sqrt(self.a.shape[0])


class Flatten(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.flatten(1))


class Squeeze(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x).squeeze(-1)


def _linear(d: int, k: int, seed: int) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(d, k).to(F64)


# ----------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("squeeze", [False, True])
def test_linear_model(strategy: NTKStrategy, squeeze: bool) -> None:
    # f(x) = w.x + b: df/dw = x, df/db = 1, so Theta(x, x') = x.x' + 1 whatever w, b are
    model: nn.Module = _linear(4, 1, seed=1)
    if squeeze:
        model = Squeeze(model)  # output (n,) instead of (n, 1)
    x1, x2 = _inputs(5, 4, 0), _inputs(3, 4, 1)
    got = empirical_ntk(model, x1, x2, strategy=strategy, block_size=2)
    assert got.shape == (5, 3)
    torch.testing.assert_close(got, x1 @ x2.T + 1, rtol=0, atol=EXACT)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_two_layer_relu_network(strategy: NTKStrategy) -> None:
    d, m = 3, 50
    model = TwoLayer(d, m, seed=2)
    x1, x2 = _inputs(6, d, 3), _inputs(4, d, 4)
    w, a = model.w.detach(), model.a.detach()
    h1, h2 = x1 @ w.T, x2 @ w.T  # (n, m) pre-activations
    # df/da_j = relu(w_j.x)/sqrt(m); df/dw_j = a_j 1{w_j.x > 0} x / sqrt(m)
    expected = (
        torch.relu(h1) @ torch.relu(h2).T
        + ((h1 > 0).to(F64) * a.square()) @ (h2 > 0).to(F64).T * (x1 @ x2.T)
    ) / m
    got = empirical_ntk(model, x1, x2, strategy=strategy)
    torch.testing.assert_close(got, expected, rtol=0, atol=EXACT)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_vector_output_linear_model(strategy: NTKStrategy) -> None:
    # f_a(x) = W_a.x + b_a: each output has its own parameters, Theta = (x.x' + 1) I_k
    k = 3
    model = _linear(4, k, seed=5)
    x1, x2 = _inputs(5, 4, 6), _inputs(2, 4, 7)
    scalar = x1 @ x2.T + 1
    full = empirical_ntk(model, x1, x2, strategy=strategy, block_size=3)
    assert full.shape == (5, 2, k, k)
    expected = scalar[:, :, None, None] * torch.eye(k, dtype=F64)
    torch.testing.assert_close(full, expected, rtol=0, atol=EXACT)
    traced = empirical_ntk(model, x1, x2, strategy=strategy, trace=True)
    torch.testing.assert_close(traced, scalar, rtol=0, atol=EXACT)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_trace_is_mean_diagonal(strategy: NTKStrategy) -> None:
    model = _mlp(k=3)
    x = _inputs(5, 3, 8)
    full = empirical_ntk(model, x, strategy=strategy)
    traced = empirical_ntk(model, x, strategy=strategy, trace=True)
    expected = full.diagonal(dim1=-2, dim2=-1).mean(-1)
    torch.testing.assert_close(traced, expected, rtol=0, atol=EXACT)


def test_multidimensional_inputs() -> None:
    # a linear map of the flattened (2, 3) input: Theta = <x, x'> + 1
    model = Flatten(_linear(6, 1, seed=9))
    x1 = torch.randn(4, 2, 3, generator=torch.Generator().manual_seed(10), dtype=F64)
    x2 = torch.randn(3, 2, 3, generator=torch.Generator().manual_seed(11), dtype=F64)
    got = empirical_ntk(model, x1, x2)
    torch.testing.assert_close(got, x1.flatten(1) @ x2.flatten(1).T + 1, rtol=0, atol=EXACT)


def test_frozen_parameters_are_excluded() -> None:
    # freezing the bias removes the "+ 1" of the linear model
    model = _linear(4, 1, seed=12)
    model.bias.requires_grad_(False)
    x = _inputs(5, 4, 13)
    torch.testing.assert_close(empirical_ntk(model, x), x @ x.T, rtol=0, atol=EXACT)


def test_jacobian_features_give_the_kernel() -> None:
    model = _mlp(k=2)
    x1, x2 = _inputs(5, 3, 14), _inputs(4, 3, 15)
    j1, j2 = jacobian_features(model, x1, block_size=2), jacobian_features(model, x2)
    n_params = sum(p.numel() for p in model.parameters())
    assert j1.shape == (5, 2, n_params)
    expected = torch.einsum("iap,jbp->ijab", j1, j2)
    torch.testing.assert_close(empirical_ntk(model, x1, x2), expected, rtol=0, atol=EXACT)
    # scalar output: (n, P), and the row is the gradient of f(x_i) (checked by autograd)
    lin = _linear(4, 1, seed=16)
    x = _inputs(3, 4, 17)
    feats = jacobian_features(lin, x)
    assert feats.shape == (3, 5)
    torch.testing.assert_close(feats, torch.cat([x, torch.ones(3, 1, dtype=F64)], 1))


# ----------------------------------------------------------------------------- consistency


def test_strategies_agree() -> None:
    model = _mlp(width=24, k=2)
    x1, x2 = _inputs(7, 3, 18), _inputs(5, 3, 19)
    for trace in (False, True):
        a = empirical_ntk(model, x1, x2, strategy=NTKStrategy.JACOBIAN_CONTRACTION, trace=trace)
        b = empirical_ntk(model, x1, x2, strategy=NTKStrategy.NTK_VECTOR_PRODUCTS, trace=trace)
        torch.testing.assert_close(a, b, rtol=0, atol=EXACT * float(a.abs().max()))


_BLOCK_MODEL = _mlp(width=8, k=2, seed=20)
_BLOCK_X = _inputs(9, 3, 21)


@settings(max_examples=25, deadline=None)
@given(
    n1=st.integers(1, 9),
    n2=st.integers(1, 9),
    block_size=st.integers(1, 10),
    strategy=st.sampled_from(STRATEGIES),
    same=st.booleans(),
    trace=st.booleans(),
)
def test_blocking_does_not_change_the_kernel(
    n1: int, n2: int, block_size: int, strategy: NTKStrategy, same: bool, trace: bool
) -> None:
    x1 = _BLOCK_X[:n1]
    x2 = None if same else _BLOCK_X.flip(0)[:n2]
    kwargs = {"strategy": strategy, "trace": trace}
    blocked = empirical_ntk(_BLOCK_MODEL, x1, x2, block_size=block_size, **kwargs)
    whole = empirical_ntk(_BLOCK_MODEL, x1, x2, block_size=1000, **kwargs)
    torch.testing.assert_close(blocked, whole, rtol=0, atol=EXACT)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("k", [1, 3])
def test_symmetric_case(strategy: NTKStrategy, k: int) -> None:
    model = _mlp(k=k)
    x = _inputs(8, 3, 22)
    gram = empirical_ntk(model, x, strategy=strategy, block_size=3)
    explicit = empirical_ntk(model, x, x.clone(), strategy=strategy, block_size=3)
    torch.testing.assert_close(gram, explicit, rtol=0, atol=EXACT)
    flat = gram if k == 1 else gram.permute(0, 2, 1, 3).reshape(8 * k, 8 * k)
    torch.testing.assert_close(flat, flat.T, rtol=0, atol=0)  # exactly symmetric
    evals = torch.linalg.eigvalsh(flat)
    assert float(evals.min()) >= -100 * EPS * float(evals.max())  # PSD up to rounding


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_params_override(strategy: NTKStrategy) -> None:
    model = _mlp(k=2)
    x = _inputs(5, 3, 23)
    gen = torch.Generator().manual_seed(24)
    other = {
        name: p.detach() + 0.5 * torch.randn(p.shape, generator=gen, dtype=F64)
        for name, p in model.named_parameters()
    }
    moved = copy.deepcopy(model)
    moved.load_state_dict(other)
    got = empirical_ntk(model, x, strategy=strategy, params=other)
    torch.testing.assert_close(got, empirical_ntk(moved, x), rtol=0, atol=EXACT)
    assert float((got - empirical_ntk(model, x)).abs().max()) > 1e-3  # the override mattered
    # a partial override moves only the named tensor
    partial = {"0.weight": other["0.weight"]}
    moved_one = copy.deepcopy(model)
    moved_one[0].weight.data.copy_(other["0.weight"])
    torch.testing.assert_close(
        empirical_ntk(model, x, strategy=strategy, params=partial),
        empirical_ntk(moved_one, x),
        rtol=0,
        atol=EXACT,
    )


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("train", [False, True])
def test_model_is_left_untouched(strategy: NTKStrategy, train: bool) -> None:
    model = _mlp(k=2)
    model.train(train)
    model[0].weight.grad = torch.full_like(model[0].weight, 7.0)
    before = {name: t.clone() for name, t in model.state_dict().items()}
    x = _inputs(4, 3, 25).requires_grad_(False)
    empirical_ntk(model, x, strategy=strategy, block_size=3)
    after = model.state_dict()
    for name, value in before.items():
        torch.testing.assert_close(after[name], value, rtol=0, atol=0)
    assert torch.equal(model[0].weight.grad, torch.full_like(model[0].weight, 7.0))
    assert all(p.grad is None for name, p in model.named_parameters() if name != "0.weight")
    assert all(p.requires_grad for p in model.parameters())
    assert model.training is train


def test_dtype_follows_the_model() -> None:
    model = _linear(4, 1, seed=26).float()
    x = _inputs(3, 4, 27, dtype=torch.float32)
    for strategy in STRATEGIES:
        got = empirical_ntk(model, x, strategy=strategy)
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, x @ x.T + 1, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- linearisation


def _gradient_step(model: nn.Module, params: dict, x: torch.Tensor, y: torch.Tensor, lr: float):
    def loss(p: dict) -> torch.Tensor:
        return 0.5 * (functional_call(model, p, (x,)) - y).square().sum()

    g = grad(loss)(params)
    return {name: params[name] - lr * g[name] for name in params}


def _one_step_error(model: nn.Module, params: dict, x, y, lr: float) -> float:
    """Relative error of the first-order prediction f(theta') - f(theta) = -lr Theta (f - y)."""
    f = functional_call(model, params, (x,))
    predicted = -lr * empirical_ntk(model, x, params=params) @ (f - y)
    actual = functional_call(model, _gradient_step(model, params, x, y, lr), (x,)) - f
    return float((actual - predicted).norm() / predicted.norm())


def test_gradient_steps_follow_the_ntk() -> None:
    # f(theta - lr J^T r) - f(theta) = -lr J J^T r + O(lr^2) for a smooth network: the relative
    # error of the first-order prediction is O(lr) and halves with lr, at every point of a short
    # gradient-descent trajectory (Theta re-evaluated there through ``params``). A kernel off by
    # any factor or missing a parameter block would give an O(1) error.
    model = TwoLayer(3, 1024, seed=28, activation=torch.tanh)
    x = _inputs(6, 3, 29)
    y = torch.sin(x.sum(1))
    lr = 0.005
    params = {name: p.detach() for name, p in model.named_parameters()}
    for _ in range(3):
        coarse = _one_step_error(model, params, x, y, lr)
        fine = _one_step_error(model, params, x, y, lr / 2)
        assert coarse < 1e-2
        assert 0.45 < fine / coarse < 0.55
        params = _gradient_step(model, params, x, y, lr)


# ----------------------------------------------------------------------------- bad input


class NoParams(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(-1)


class Matrix(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 4).to(F64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x).reshape(-1, 2, 2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": "not a module"}, "model"),
        ({"model": NoParams()}, "model"),
        ({"model": Matrix()}, "model"),
        ({"x1": torch.zeros(0, 3, dtype=F64)}, "x1?:"),
        ({"x1": torch.zeros((), dtype=F64)}, "x1?:"),
        ({"x2": torch.zeros(2, 4, dtype=F64)}, "x2"),
        ({"x2": torch.zeros(2, 3, dtype=torch.float32)}, "x2"),
        ({"strategy": "jacobian_contraction"}, "strategy"),
        ({"trace": 1}, "trace"),
        ({"block_size": 0}, "block_size"),
        ({"block_size": True}, "block_size"),
        ({"block_size": 2.0}, "block_size"),
        ({"params": {"nope": torch.zeros(1)}}, "params"),
        ({"params": {"weight": torch.zeros(2, 2, dtype=F64)}}, "params"),
        ({"params": [("weight", torch.zeros(1, 3))]}, "params"),
    ],
)
def test_bad_input(kwargs: dict, match: str) -> None:
    args = {"model": _linear(3, 1, seed=30), "x1": _inputs(2, 3, 31), "x2": None}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        empirical_ntk(args.pop("model"), args.pop("x1"), args.pop("x2"), **args)
    if "params" in kwargs or "model" in kwargs or kwargs.keys() == {"x1"}:
        with pytest.raises(ValueError, match=match):
            jacobian_features(
                kwargs.get("model", _linear(3, 1, seed=30)),
                kwargs.get("x1", _inputs(2, 3, 31)),
                params=kwargs.get("params"),
            )


@pytest.mark.parametrize("strategy", list(NTKStrategy))
def test_parameter_scales_weight_each_parameter(strategy: NTKStrategy) -> None:
    # f(x) = w.x + b: dF/dw = x, dF/db = 1, so sum_p s_p J_p J_p^T = s_w x.x' + s_b exactly.
    g = torch.Generator().manual_seed(0)
    model = nn.Linear(3, 1).double()
    x1 = torch.randn(4, 3, generator=g, dtype=torch.float64)
    x2 = torch.randn(5, 3, generator=g, dtype=torch.float64)
    got = empirical_ntk(model, x1, x2, strategy=strategy,
                        parameter_scales={"weight": 2.0, "bias": 3.0})
    torch.testing.assert_close(got, 2.0 * x1 @ x2.T + 3.0, rtol=1e-12, atol=1e-12)
    only_w = empirical_ntk(model, x1, x2, strategy=strategy, parameter_scales={"weight": 0.5})
    torch.testing.assert_close(only_w, 0.5 * x1 @ x2.T + 1.0, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("scales", [{"nope": 1.0}, {"weight": 0.0}, {"weight": math.nan},
                                    [("weight", 1.0)]])
def test_parameter_scales_rejects_bad_input(scales) -> None:
    model = nn.Linear(3, 1).double()
    with pytest.raises(ValueError, match="parameter_scales"):
        empirical_ntk(model, torch.zeros(2, 3, dtype=torch.float64), parameter_scales=scales)
