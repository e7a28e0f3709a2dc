"""Finite fully-connected networks against their infinite-width NNGP and NTK."""

from __future__ import annotations

import math

import pytest
import torch
from torch.func import functional_call, jacrev, jvp, vjp

from mathdl.kernels._analytic import (
    Activation,
    ActivationKind,
    Erf,
    Parameterization,
    fully_connected,
    kernel_fn,
    nngp_kernel,
    ntk_kernel,
)
from mathdl.kernels._networks import FullyConnectedNetwork

F64 = torch.float64
# The first forward-mode AD call makes torch import its jvp decompositions, which call
# torch.jit.script and (torch >= 2.10) warn that it is deprecated; nothing here uses TorchScript.
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)


def _inputs(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _empirical_ntk(net: FullyConnectedNetwork, x1: torch.Tensor, x2: torch.Tensor,
                   scales: dict[str, float] | None = None) -> torch.Tensor:
    """Θ̂ = J(x1) S J(x2)^T of the first output, S = diag of the per-parameter factors.

    Column j is J(x1) (S g_j) with g_j = J(x2_j)^T the parameter gradient (a vjp), contracted by a
    jvp: memory O(#parameters) instead of O(n #parameters) for the full Jacobian.
    """
    params = {name: p.detach() for name, p in net.named_parameters()}
    scales = net.ntk_scales() if scales is None else scales

    def output(x: torch.Tensor):
        return lambda p: functional_call(net, p, (x,))[:, 0]

    columns = []
    for j in range(x2.shape[0]):
        _, pullback = vjp(output(x2[j:j + 1]), params)
        (grad,) = pullback(torch.ones(1, dtype=x2.dtype))
        tangent = {name: scales[name] * g for name, g in grad.items()}
        _, column = jvp(output(x1), (params,), (tangent,))
        columns.append(column)
    return torch.stack(columns, dim=1)


def _relative_error(net: FullyConnectedNetwork, x: torch.Tensor) -> float:
    emp = _empirical_ntk(net, x, x)
    exact = kernel_fn(net.kernel(), x).ntk
    return ((emp - exact).norm() / exact.norm()).item()


# ------------------------------------------------------------ the finite network itself


@pytest.mark.parametrize("parameterization", list(Parameterization))
def test_layer_equations(parameterization) -> None:
    # h^{l+1} = (σ_w/sqrt(n_l)) W a + σ_b b (NTK) or W a + b (standard), a^0 = x, n_0 = d.
    sw2, sb2 = 1.5, 0.2
    net = FullyConnectedNetwork(3, 5, 2, out_features=2, activation=ActivationKind.ERF,
                                weight_var=sw2, bias_var=sb2, parameterization=parameterization,
                                dtype=F64)
    x = _inputs(4, 3, seed=0)
    a = x
    for i, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        if parameterization is Parameterization.NTK:
            h = math.sqrt(sw2 / w.shape[1]) * a @ w.T + math.sqrt(sb2) * b
        else:
            h = a @ w.T + b
        a = torch.erf(h) if i < 2 else h
    torch.testing.assert_close(net(x), a, rtol=1e-14, atol=1e-15)
    assert [tuple(w.shape) for w in net.weights] == [(5, 3), (5, 5), (2, 5)]


def test_parameterizations_compute_the_same_function() -> None:
    # Same Gaussian draws: the standard weights are the NTK ones times σ_w/sqrt(fan-in) and the
    # standard biases the NTK ones times σ_b, so both networks compute the same function (they
    # differ only in their tangent kernels).
    x = _inputs(6, 4, seed=1)
    nets = [FullyConnectedNetwork(4, 32, 3, weight_var=1.3, bias_var=0.4, parameterization=p,
                                  generator=torch.Generator().manual_seed(5), dtype=F64)
            for p in Parameterization]
    torch.testing.assert_close(nets[0](x), nets[1](x), rtol=1e-13, atol=1e-14)


def test_randomness_only_from_the_generator() -> None:
    state = torch.random.get_rng_state()
    a = FullyConnectedNetwork(3, 8, 2)
    b = FullyConnectedNetwork(3, 8, 2, generator=torch.Generator().manual_seed(0))
    c = FullyConnectedNetwork(3, 8, 2, generator=torch.Generator().manual_seed(1))
    assert torch.equal(torch.random.get_rng_state(), state)
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a(x), b(x)) and not torch.equal(a(x), c(x))
    assert a(x).dtype == torch.float32 and a(x).shape == (4, 1)
    b.reset_parameters(generator=torch.Generator().manual_seed(1))
    assert torch.equal(b(x), c(x))


@pytest.mark.parametrize("activation", [ActivationKind.RELU, Erf(), Activation(torch.tanh)])
@pytest.mark.parametrize("parameterization", list(Parameterization))
def test_kernel_layers_match_the_network(activation, parameterization) -> None:
    net = FullyConnectedNetwork(3, 8, 2, activation=activation, weight_var=1.1, bias_var=0.3,
                                parameterization=parameterization)
    assert net.kernel() == fully_connected(2, activation=activation, weight_var=1.1,
                                           bias_var=0.3, parameterization=parameterization)
    scales = net.ntk_scales()
    assert set(scales) == {name for name, _ in net.named_parameters()}
    if parameterization is Parameterization.NTK:
        assert set(scales.values()) == {1.0}
    else:
        assert scales == {"weights.0": 1 / 3, "weights.1": 1 / 8, "weights.2": 1 / 8,
                          "biases.0": 1.0, "biases.1": 1.0, "biases.2": 1.0}


# ------------------------------------------------------------ NNGP = output covariance


@pytest.mark.parametrize(
    ("activation", "depth", "weight_var", "bias_var"),
    [(ActivationKind.RELU, 2, 2.0, 0.1), (ActivationKind.ERF, 1, 1.5, 0.2)],
    ids=["relu-depth2", "erf-depth1"],
)
def test_nngp_is_the_output_covariance(activation, depth, weight_var, bias_var) -> None:
    # M = 100 independent networks of width 512 (float64), each with K = 64 outputs. Per network
    # C_m = f f^T / K estimates E[f f^T]; the C_m are i.i.d., so their mean is compared with the
    # NNGP in units of its standard error std(C_m)/sqrt(M). 21 distinct entries: max |z| < 4.5
    # (false alarm ~1e-4 for an exact kernel; the finite-width bias is O(1/512), well below
    # the 3-25% relative standard errors). The kernel of depth +- 1 is rejected (max |z| > 10,
    # measured 15-21).
    d, n, n_nets, n_out, width = 4, 6, 100, 64, 512
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(n, d, generator=gen, dtype=F64)
    net = FullyConnectedNetwork(d, width, depth, out_features=n_out, activation=activation,
                                weight_var=weight_var, bias_var=bias_var, dtype=F64,
                                generator=gen)
    estimates = []
    for _ in range(n_nets):
        net.reset_parameters(generator=gen)
        with torch.no_grad():
            f = net(x)
        estimates.append(f @ f.T / n_out)
    stacked = torch.stack(estimates)
    mean, se = stacked.mean(0), stacked.std(0) / math.sqrt(n_nets)

    def max_z(kernel_depth: int) -> float:
        exact = nngp_kernel(x, depth=kernel_depth, activation=activation,
                            weight_var=weight_var, bias_var=bias_var)
        return ((mean - exact) / se).abs().max().item()

    assert max_z(depth) < 4.5
    assert max_z(depth + 1) > 10


# ------------------------------------------------------------ empirical NTK -> NTK


def test_empirical_ntk_helper_is_the_jacobian_contraction() -> None:
    # The vjp/jvp contraction equals J(x1) S J(x2)^T from the explicit Jacobian.
    net = FullyConnectedNetwork(3, 16, 2, bias_var=0.5, parameterization=Parameterization.STANDARD,
                                dtype=F64)
    x1, x2 = _inputs(5, 3, seed=4), _inputs(3, 3, seed=5)
    params = {name: p.detach() for name, p in net.named_parameters()}
    scales = net.ntk_scales()

    def jac(x: torch.Tensor) -> dict[str, torch.Tensor]:
        return jacrev(lambda p: functional_call(net, p, (x,))[:, 0])(params)

    j1, j2 = jac(x1), jac(x2)
    explicit = sum(scales[k] * j1[k].reshape(5, -1) @ j2[k].reshape(3, -1).T for k in params)
    torch.testing.assert_close(_empirical_ntk(net, x1, x2), explicit, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("parameterization", list(Parameterization))
def test_empirical_ntk_close_to_ntk_at_width_2048(parameterization) -> None:
    # Depth 2 ReLU, 8 inputs, float64. The fluctuation of the empirical NTK at init is
    # O(width^{-1/2}) (measured relative Frobenius error ~0.05 at this width for both
    # parameterisations); a wrong recursion (e.g. Θ' = σ_w^2 Σ + σ_w^2 Θ without the bias term,
    # or the unnormalised standard kernel) is off by O(1).
    net = FullyConnectedNetwork(5, 2048, 2, bias_var=0.1, parameterization=parameterization,
                                generator=torch.Generator().manual_seed(7), dtype=F64)
    x = _inputs(8, 5, seed=6)
    assert _relative_error(net, x) < 0.1
    assert ntk_kernel(x, depth=2, bias_var=0.1, parameterization=parameterization).shape == (8, 8)


@pytest.mark.parametrize("parameterization", list(Parameterization))
def test_empirical_ntk_error_decreases_with_width(parameterization) -> None:
    # Width x16 should divide the error by ~4 (rate width^{-1/2}); require a factor 2.
    x = _inputs(4, 5, seed=8)
    errors = [
        _relative_error(FullyConnectedNetwork(5, width, 2, bias_var=0.1,
                                              parameterization=parameterization,
                                              generator=torch.Generator().manual_seed(9),
                                              dtype=F64), x)
        for width in (256, 4096)
    ]
    assert errors[1] < errors[0] / 2


def test_standard_unnormalised_ntk_grows_with_width() -> None:
    # Without the fan-in factors the standard-parameterisation NTK is dominated by the hidden
    # weight terms n_l Σ: it grows ~linearly in the width (x4 width -> x~4 kernel).
    x = _inputs(3, 4, seed=10)
    traces = []
    for width in (128, 512):
        net = FullyConnectedNetwork(4, width, 1, parameterization=Parameterization.STANDARD,
                                    generator=torch.Generator().manual_seed(11), dtype=F64)
        ones = {name: 1.0 for name, _ in net.named_parameters()}
        traces.append(_empirical_ntk(net, x, x, scales=ones).trace().item())
    assert 3.0 < traces[1] / traces[0] < 4.5


# ------------------------------------------------------------ validation


def test_validation() -> None:
    with pytest.raises(ValueError, match="in_features"):
        FullyConnectedNetwork(0, 8, 1)
    with pytest.raises(ValueError, match="width"):
        FullyConnectedNetwork(3, 0, 1)
    with pytest.raises(ValueError, match="depth"):
        FullyConnectedNetwork(3, 8, 0)
    with pytest.raises(ValueError, match="out_features"):
        FullyConnectedNetwork(3, 8, 1, out_features=0)
    with pytest.raises(ValueError, match="dtype"):
        FullyConnectedNetwork(3, 8, 1, dtype=torch.int32)
    with pytest.raises(ValueError, match="activation"):
        FullyConnectedNetwork(3, 8, 1, activation="relu")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="weight_var"):
        FullyConnectedNetwork(3, 8, 1, weight_var=-2.0)
    with pytest.raises(ValueError, match="parameterization"):
        FullyConnectedNetwork(3, 8, 1, parameterization="standard")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="generator"):
        FullyConnectedNetwork(3, 8, 1, generator=0)  # type: ignore[arg-type]
    net = FullyConnectedNetwork(3, 8, 1)
    with pytest.raises(ValueError, match="generator"):
        net.reset_parameters(generator=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"x: expected shape \(n, 3\)"):
        net(torch.ones(2, 4))
