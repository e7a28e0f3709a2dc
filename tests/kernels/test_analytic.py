"""Infinite-width NNGP/NTK layers: closed forms, quadrature, identities and invariances."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mathdl.kernels._analytic import (
    Activation,
    ActivationKind,
    Dense,
    Erf,
    Kernel,
    Parameterization,
    ReLU,
    Serial,
    fully_connected,
    kernel_diagonal,
    kernel_fn,
    nngp_kernel,
    ntk_kernel,
)

F64 = torch.float64
EPS = float(np.finfo(np.float64).eps)
# (Σ11, Σ22, correlation) of the bivariate Gaussians on which the activation maps are checked
COVARIANCES = [(1.0, 1.0, 0.0), (0.7, 1.3, 0.5), (2.0, 0.5, -0.6), (1.0, 1.2, 0.95),
               (0.3, 0.4, -0.99)]


def _inputs(n: int, d: int, seed: int, dtype: torch.dtype = F64) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _pair_kernel(covariances: list[tuple[float, float, float]]) -> Kernel:
    """A kernel whose entries (i, i) are the given 2x2 covariances and whose NTK is 1, so an
    activation layer returns E[φ(u)φ(v)] in ``nngp`` and E[φ'(u)φ'(v)] in ``ntk``."""
    s11 = torch.tensor([c[0] for c in covariances], dtype=F64)
    s22 = torch.tensor([c[1] for c in covariances], dtype=F64)
    s12 = torch.tensor([c[2] for c in covariances], dtype=F64) * torch.sqrt(s11 * s22)
    nngp = torch.diag(s12)
    return Kernel(nngp=nngp, ntk=torch.ones_like(nngp), var1=s11, var2=s22)


def _relu_derivative(t: torch.Tensor) -> torch.Tensor:
    return (t > 0).to(t.dtype)


def _erf_derivative(t: torch.Tensor) -> torch.Tensor:
    return 2.0 / math.sqrt(math.pi) * torch.exp(-t * t)


# ------------------------------------------------------------ closed forms vs Monte Carlo


@pytest.mark.parametrize(
    ("layer", "phi", "dphi"),
    [(ReLU(), torch.relu, _relu_derivative), (Erf(), torch.erf, _erf_derivative)],
    ids=["relu", "erf"],
)
def test_closed_forms_match_monte_carlo(layer, phi, dphi) -> None:
    # E[φ(u)φ(v)], E[φ'(u)φ'(v)] and E[φ(u)^2] against 2e5 Gaussian samples: each estimate is
    # within 5 standard errors (the sample std / sqrt(N)); a wrong constant in a closed form
    # (e.g. 1/π instead of 1/(2π)) is off by hundreds of standard errors.
    n_samples = 200_000
    k = _pair_kernel(COVARIANCES)
    out = layer(k)
    gen = torch.Generator().manual_seed(11)
    for i, (a, b, rho) in enumerate(COVARIANCES):
        cov = torch.tensor([[a, rho * math.sqrt(a * b)], [rho * math.sqrt(a * b), b]], dtype=F64)
        chol = torch.linalg.cholesky(cov)
        z = torch.randn(n_samples, 2, generator=gen, dtype=F64) @ chol.T
        u, v = z[:, 0], z[:, 1]
        for samples, exact in [
            (phi(u) * phi(v), out.nngp[i, i]),
            (dphi(u) * dphi(v), out.ntk[i, i]),
            (phi(u) ** 2, out.var1[i]),
            (phi(v) ** 2, out.var2[i]),
        ]:
            se = samples.std() / math.sqrt(n_samples)
            assert abs(samples.mean() - exact) < 5 * se, (i, samples.mean(), exact, se)


def test_relu_closed_form_special_values() -> None:
    # θ = 0: E[relu(u)^2] = Σ/2 and E[step^2] = 1/2; θ = π: both vanish; θ = π/2: 1/(2π), 1/4.
    k = _pair_kernel([(1.0, 1.0, 1.0), (1.0, 1.0, -1.0), (1.0, 1.0, 0.0)])
    out = ReLU()(k)
    expected_nngp = torch.tensor([0.5, 0.0, 1.0 / (2.0 * math.pi)], dtype=F64)
    expected_dot = torch.tensor([0.5, 0.0, 0.25], dtype=F64)
    torch.testing.assert_close(out.nngp.diagonal(), expected_nngp, rtol=0, atol=4 * EPS)
    torch.testing.assert_close(out.ntk.diagonal(), expected_dot, rtol=0, atol=4 * EPS)


# ------------------------------------------------------------ Gauss-Hermite quadrature


def test_erf_quadrature_matches_williams() -> None:
    # erf is entire, so the tensor Gauss-Hermite rule converges geometrically (the error roughly
    # squares when the order doubles). On these covariances (variances <= 2) the largest error
    # over NNGP, derivative kernel and variances was measured 4e-3, 5e-5, 2e-8, 6e-15 at orders
    # 16, 32, 64, 128; a wrong closed form would stall at its own error.
    k = _pair_kernel(COVARIANCES)
    exact = Erf()(k)
    errors = {}
    for order in (16, 64, 128):
        approx = Activation(torch.erf, order=order)(k)
        errors[order] = max((getattr(approx, name) - getattr(exact, name)).abs().max().item()
                            for name in ("nngp", "ntk", "var1", "var2"))
    assert errors[128] < 1e-13
    assert errors[64] < 1e-7
    assert errors[16] > 1e4 * errors[64]


def _fit_slope(orders: list[int], errors: list[float]) -> float:
    return float(np.polyfit(np.log(orders), np.log(errors), 1)[0])


def test_relu_quadrature_converges_to_arc_cosine() -> None:
    # ReLU has a kink and its derivative a jump, so Gauss-Hermite converges only algebraically:
    # the node spacing near 0 is ~ order^{-1/2}. Measured on these covariances: the NNGP error
    # decays like order^{-1} (fitted slope -1.00) and the derivative kernel like
    # order^{-0.5..-0.75} (fitted -0.61), being 1e-3 and 1.1e-2 at order 256. A wrong closed form
    # would leave an error that does not decay.
    rho = torch.linspace(-0.99, 0.99, 23, dtype=F64).tolist()
    k = _pair_kernel([(1.3, 0.8, r) for r in rho])
    exact = ReLU()(k)
    orders = [32, 64, 128, 256]
    nngp_err, dot_err = [], []
    for order in orders:
        approx = Activation(torch.relu, order=order)(k)
        nngp_err.append((approx.nngp - exact.nngp).abs().max().item())
        dot_err.append((approx.ntk - exact.ntk).abs().max().item())
        # the variance E[relu(u)^2] = Σ/2 is integrated exactly by the symmetric rule
        torch.testing.assert_close(approx.var1, exact.var1, rtol=1e-13, atol=0)
    assert -1.2 < _fit_slope(orders, nngp_err) < -0.8
    assert _fit_slope(orders, dot_err) < -0.4
    assert nngp_err[-1] < 2e-3 and dot_err[-1] < 2e-2


def test_activation_explicit_derivative_equals_autograd() -> None:
    k = _pair_kernel(COVARIANCES)
    auto = Activation(torch.tanh, order=24)(k)
    explicit = Activation(torch.tanh, lambda t: 1.0 - torch.tanh(t) ** 2, order=24)(k)
    torch.testing.assert_close(auto.nngp, explicit.nngp, rtol=0, atol=0)
    torch.testing.assert_close(auto.ntk, explicit.ntk, rtol=1e-14, atol=1e-15)


def test_activation_layer_in_a_network_matches_closed_form() -> None:
    x = _inputs(5, 3, seed=2)
    exact = kernel_fn(fully_connected(2, activation=ActivationKind.ERF, weight_var=1.0,
                                      bias_var=0.1), x)
    approx = kernel_fn(fully_connected(2, activation=Activation(torch.erf, order=64),
                                       weight_var=1.0, bias_var=0.1), x)
    torch.testing.assert_close(approx.nngp, exact.nngp, rtol=0, atol=1e-8)
    torch.testing.assert_close(approx.ntk, exact.ntk, rtol=0, atol=1e-8)


# ------------------------------------------------------------ NNGP / NTK identities


def test_depth_one_relu_ntk_closed_form() -> None:
    # One hidden ReLU layer, σ_w^2 = 2, σ_b^2 = 0, NTK parameterisation. With a = |x|^2/d,
    # b = |x'|^2/d and θ the angle between x and x':
    #   Σ^1 = 2 x.x'/d,  Σ^2 = (2 sqrt(ab)/π) (sin θ + (π - θ) cos θ),
    #   Θ^2 = Σ^2 + 2 (π - θ)/(2π) Σ^1 = (2 sqrt(ab)/π) (sin θ + 2 (π - θ) cos θ),
    # i.e. twice the kernel of Arora et al. (2019, eq. (10), c_σ = 2, unit first-layer variance)
    # at x/sqrt(d): Θ_Arora = |x||x'| (sin θ + 2 (π - θ) cos θ)/π (Jacot et al. 2018).
    d = 7
    x1, x2 = _inputs(6, d, seed=3), _inputs(4, d, seed=4)
    a = (x1.square().sum(1) / d)[:, None]
    b = (x2.square().sum(1) / d)[None, :]
    cos = (x1 @ x2.T) / (x1.norm(dim=1)[:, None] * x2.norm(dim=1)[None, :])
    theta = torch.arccos(cos)
    nngp = 2 * torch.sqrt(a * b) / math.pi * (torch.sin(theta) + (math.pi - theta) * cos)
    ntk = 2 * torch.sqrt(a * b) / math.pi * (torch.sin(theta) + 2 * (math.pi - theta) * cos)
    k = kernel_fn(fully_connected(1), x1, x2)
    torch.testing.assert_close(k.nngp, nngp, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(k.ntk, ntk, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(nngp_kernel(x1, x2, depth=1), nngp, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(ntk_kernel(x1, x2, depth=1), ntk, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
@pytest.mark.parametrize("sphere", [False, True])
def test_relu_he_diagonal_identities(depth: int, sphere: bool) -> None:
    # ReLU, σ_w^2 = 2, σ_b^2 = 0: E[relu(u)^2] = Σ/2, so every post-activation variance is
    # q = |x|^2/d (= 1 on the sphere of radius sqrt(d)) and every pre-activation one 2q;
    # E[step^2] = 1/2 gives Θ^{l+1}(x, x) = 2q + 2 (1/2) Θ^l(x, x), so Θ^{L+1}(x, x) = 2(L+1) q
    # (NTK parameterisation) and, with Θ' = Σ_in + 1 + 2 Σ̇ Θ, (L+1)(q + 1) (standard).
    d = 6
    x = _inputs(5, d, seed=depth)
    if sphere:
        x = x / x.norm(dim=1, keepdim=True) * math.sqrt(d)
    q = x.square().sum(1) / d
    if sphere:
        torch.testing.assert_close(q, torch.ones_like(q), rtol=1e-15, atol=1e-15)
    layers = fully_connected(depth).layers
    for n_layers in range(1, len(layers) + 1):
        var = kernel_fn(Serial(*layers[:n_layers]), x).var1
        expected = 2 * q if n_layers % 2 == 1 else q
        torch.testing.assert_close(var, expected, rtol=1e-14, atol=0)
    k = kernel_fn(fully_connected(depth), x)
    torch.testing.assert_close(k.nngp.diagonal(), 2 * q, rtol=1e-14, atol=0)
    torch.testing.assert_close(k.ntk.diagonal(), 2 * (depth + 1) * q, rtol=1e-13, atol=0)
    std = kernel_fn(fully_connected(depth, parameterization=Parameterization.STANDARD), x)
    torch.testing.assert_close(std.ntk.diagonal(), (depth + 1) * (q + 1), rtol=1e-13, atol=0)
    torch.testing.assert_close(std.nngp, k.nngp, rtol=0, atol=0)


def test_ntk_recursion_written_out() -> None:
    # Θ^{l+1} = Σ^{l+1} + σ_w^2 Σ̇^l ⊙ Θ^l (NTK) and Σ_in^l + 1 + σ_w^2 Σ̇^l ⊙ Θ^l (standard),
    # composed by hand from single layers for an erf network with biases.
    x = _inputs(4, 3, seed=5)
    sw2, sb2 = 1.7, 0.3
    dense = Dense(sw2, sb2)
    k0 = kernel_fn(Serial(), x)
    torch.testing.assert_close(k0.nngp, x @ x.T / 3, rtol=1e-15, atol=1e-15)
    assert bool((k0.ntk == 0).all())
    k1 = dense(k0)
    act = Erf()(Kernel(nngp=k1.nngp, ntk=torch.ones_like(k1.ntk), var1=k1.var1, var2=k1.var2))
    sigma_dot, post = act.ntk, act.nngp
    sigma2 = sw2 * post + sb2
    ntk = kernel_fn(fully_connected(1, activation=ActivationKind.ERF, weight_var=sw2,
                                    bias_var=sb2), x).ntk
    torch.testing.assert_close(ntk, sigma2 + sw2 * sigma_dot * k1.nngp, rtol=1e-14, atol=0)
    std = kernel_fn(fully_connected(1, activation=ActivationKind.ERF, weight_var=sw2,
                                    bias_var=sb2, parameterization=Parameterization.STANDARD), x)
    theta1 = k0.nngp + 1.0
    torch.testing.assert_close(std.ntk, post + 1.0 + sw2 * sigma_dot * theta1, rtol=1e-14, atol=0)


def test_parameterizations_agree_at_unit_variances() -> None:
    # With σ_w^2 = σ_b^2 = 1 both Dense recursions read Θ' = Σ_in + 1 + Θ.
    x = _inputs(6, 4, seed=6)
    for act in ActivationKind:
        ntk = ntk_kernel(x, depth=3, activation=act, weight_var=1.0, bias_var=1.0)
        std = ntk_kernel(x, depth=3, activation=act, weight_var=1.0, bias_var=1.0,
                         parameterization=Parameterization.STANDARD)
        torch.testing.assert_close(ntk, std, rtol=1e-14, atol=0)


# ------------------------------------------------------------ invariances and blocking


@pytest.mark.parametrize("activation", list(ActivationKind))
@pytest.mark.parametrize("parameterization", list(Parameterization))
def test_symmetric_psd_and_swap(activation, parameterization) -> None:
    layers = fully_connected(3, activation=activation, bias_var=0.2,
                             parameterization=parameterization)
    x1, x2 = _inputs(12, 5, seed=7), _inputs(9, 5, seed=8)
    k = kernel_fn(layers, x1)
    for mat in (k.nngp, k.ntk):
        assert bool((mat == mat.T).all())
        eig = torch.linalg.eigvalsh(mat)
        assert eig.min() > -1e-12 * eig.max()
    assert bool((k.nngp.diagonal() == k.var1).all())  # the diagonal is the variance, exactly
    k12, k21 = kernel_fn(layers, x1, x2), kernel_fn(layers, x2, x1)
    torch.testing.assert_close(k12.nngp, k21.nngp.T, rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(k12.ntk, k21.ntk.T, rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(k12.var1, k.var1, rtol=0, atol=0)
    torch.testing.assert_close(k12.nngp, kernel_fn(layers, torch.cat([x1, x2])).nngp[:12, 12:],
                               rtol=1e-13, atol=1e-15)


_BLOCK_LAYERS = [
    fully_connected(2),
    fully_connected(2, activation=ActivationKind.ERF, bias_var=0.5,
                    parameterization=Parameterization.STANDARD),
    fully_connected(1, activation=Activation(torch.tanh, order=6), weight_var=1.0),
]


@settings(max_examples=40, deadline=None)
@given(
    n1=st.integers(1, 9),
    n2=st.integers(1, 9),
    block_size=st.integers(1, 11),
    symmetric=st.booleans(),
    which=st.integers(0, len(_BLOCK_LAYERS) - 1),
)
def test_blocked_equals_unblocked(n1, n2, block_size, symmetric, which) -> None:
    layers = _BLOCK_LAYERS[which]
    x1 = _inputs(n1, 3, seed=n1)
    x2 = None if symmetric else _inputs(n2, 3, seed=100 + n2)
    full = kernel_fn(layers, x1, x2)
    blocked = kernel_fn(layers, x1, x2, block_size=block_size)
    for name in ("nngp", "ntk", "var1", "var2"):
        torch.testing.assert_close(getattr(blocked, name), getattr(full, name),
                                   rtol=1e-13, atol=1e-15)
    if symmetric:
        assert bool((blocked.nngp == blocked.nngp.T).all())


@pytest.mark.parametrize("activation", list(ActivationKind))
def test_float32_agrees_with_float64(activation) -> None:
    # Same inputs in both precisions; the recursion is well conditioned away from ρ = ±1, so
    # float32 is within a few hundred float32 ulps after 3 layers.
    x64 = _inputs(16, 5, seed=9)
    layers = fully_connected(3, activation=activation, bias_var=0.1)
    k64 = kernel_fn(layers, x64)
    k32 = kernel_fn(layers, x64.float())
    assert k32.nngp.dtype == torch.float32 and k32.ntk.dtype == torch.float32
    for a, b in ((k32.nngp, k64.nngp), (k32.ntk, k64.ntk)):
        torch.testing.assert_close(a.double(), b, rtol=2e-5, atol=2e-6 * b.abs().max().item())


@settings(max_examples=25, deadline=None)
@given(
    scale1=st.floats(0.05, 20.0),
    scale2=st.floats(0.05, 20.0),
    depth=st.integers(1, 4),
    parameterization=st.sampled_from(list(Parameterization)),
)
def test_relu_positive_homogeneity(scale1, scale2, depth, parameterization) -> None:
    # σ_b = 0: Σ^0 scales by ab and the variances by a^2, b^2; the arc-cosine maps depend on the
    # angle only up to the factor sqrt(Σ11 Σ22), so K(a x, b y) = a b K(x, y) for a, b > 0.
    # (In standard parameterisation the +1 of each bias breaks this for the NTK.)
    x1, x2 = _inputs(4, 3, seed=10), _inputs(3, 3, seed=11)
    layers = fully_connected(depth, parameterization=Parameterization.NTK)
    base = kernel_fn(layers, x1, x2)
    scaled = kernel_fn(layers, scale1 * x1, scale2 * x2)
    torch.testing.assert_close(scaled.nngp, scale1 * scale2 * base.nngp, rtol=1e-12, atol=0)
    torch.testing.assert_close(scaled.ntk, scale1 * scale2 * base.ntk, rtol=1e-12, atol=0)
    std = fully_connected(depth, parameterization=parameterization)
    torch.testing.assert_close(kernel_fn(std, scale1 * x1, scale2 * x2).nngp,
                               scale1 * scale2 * kernel_fn(std, x1, x2).nngp, rtol=1e-12, atol=0)


def test_kernel_is_differentiable_in_inputs() -> None:
    x = _inputs(3, 2, seed=12).requires_grad_(True)
    y = _inputs(2, 2, seed=13)

    def f(x_: torch.Tensor) -> torch.Tensor:
        return ntk_kernel(x_, y, depth=2, activation=ActivationKind.ERF, bias_var=0.1)

    assert torch.autograd.gradcheck(f, (x,))


# ------------------------------------------------------------ validation


def test_validation() -> None:
    x = _inputs(3, 4, seed=0)
    with pytest.raises(ValueError, match="x2: expected feature dimension"):
        kernel_fn(fully_connected(1), x, _inputs(3, 5, seed=0))
    with pytest.raises(ValueError, match="x2: expected dtype"):
        kernel_fn(fully_connected(1), x, x.float())
    with pytest.raises(ValueError, match="x1: expected a 2-D tensor"):
        kernel_fn(fully_connected(1), x[0])
    with pytest.raises(ValueError, match="x1: expected a floating dtype"):
        kernel_fn(fully_connected(1), torch.ones(3, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="x1: expected shape"):
        kernel_fn(fully_connected(1), x[:0])
    with pytest.raises(ValueError, match="block_size"):
        kernel_fn(fully_connected(1), x, block_size=0)
    with pytest.raises(ValueError, match="layers"):
        kernel_fn("relu", x)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="weight_var"):
        Dense(weight_var=-1.0)
    with pytest.raises(ValueError, match="bias_var"):
        fully_connected(2, bias_var=float("nan"))
    with pytest.raises(ValueError, match="parameterization"):
        Dense(parameterization="ntk")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="depth"):
        fully_connected(0)
    with pytest.raises(ValueError, match="depth"):
        nngp_kernel(x, depth=True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="activation"):
        ntk_kernel(x, depth=1, activation="relu")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="order"):
        Activation(torch.relu, order=0)
    with pytest.raises(ValueError, match="fn"):
        Activation(3.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fn: expected"):
        kernel_fn(Serial(Dense(), Activation(lambda t: t.sum(-1)), Dense()), x)
    with pytest.raises(ValueError, match="layers"):
        Serial(Dense(), 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="var1"):
        Kernel(nngp=torch.zeros(2, 3), ntk=torch.zeros(2, 3), var1=torch.ones(3),
               var2=torch.ones(3))
    with pytest.raises(ValueError, match="ntk"):
        Kernel(nngp=torch.zeros(2, 3), ntk=torch.zeros(3, 2), var1=torch.ones(2),
               var2=torch.ones(3))


@pytest.mark.parametrize("parameterization", list(Parameterization))
@pytest.mark.parametrize(
    "activation",
    [ActivationKind.RELU, ActivationKind.ERF, Activation(torch.tanh, order=24)],
    ids=["relu", "erf", "tanh-gh"],
)
def test_kernel_diagonal_is_the_diagonal_of_kernel_fn(activation, parameterization):
    # Every layer is elementwise given the variances, so the O(n) diagonal recursion must give
    # exactly the diagonal of the n x n kernels (kernel_fn copies the variances onto its
    # diagonal, so the two see the same floating-point inputs).
    g = torch.Generator().manual_seed(4)
    x = torch.randn(12, 5, generator=g, dtype=torch.float64) * 1.7
    layers = fully_connected(3, activation=activation, weight_var=1.5, bias_var=0.2,
                             parameterization=parameterization)
    full = kernel_fn(layers, x)
    diag = kernel_diagonal(layers, x)
    torch.testing.assert_close(diag.nngp, torch.diagonal(full.nngp), rtol=1e-12, atol=0)
    torch.testing.assert_close(diag.ntk, torch.diagonal(full.ntk), rtol=1e-12, atol=0)
    torch.testing.assert_close(diag.var1, full.var1, rtol=1e-12, atol=0)


def test_kernel_diagonal_relu_identity_and_errors():
    # sigma_w^2 = 2, sigma_b^2 = 0, ReLU, NTK parameterisation: Theta(x, x) = 2 (L + 1) |x|^2 / d.
    x = torch.randn(1000, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    diag = kernel_diagonal(fully_connected(4, weight_var=2.0, bias_var=0.0), x)
    expected = 2 * 5 * x.square().sum(1) / 7
    torch.testing.assert_close(diag.ntk, expected, rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="layers"):
        kernel_diagonal("relu", x)
    with pytest.raises(ValueError, match="x1"):
        kernel_diagonal(fully_connected(1), x[0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kernels_on_gpu_equal_cpu(dtype):
    # Device follows the inputs: the same recursion on CUDA agrees with the CPU to the dtype's
    # rounding (float32: the ReLU arccos amplifies rounding near correlation 1 to ~sqrt(eps)).
    x = torch.randn(300, 20, generator=torch.Generator().manual_seed(0), dtype=dtype)
    layers = fully_connected(3, weight_var=2.0, bias_var=0.1)
    cpu, gpu = kernel_fn(layers, x, block_size=128), kernel_fn(layers, x.cuda(), block_size=128)
    assert gpu.ntk.device.type == "cuda"
    tol = 1e-3 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(gpu.ntk.cpu(), cpu.ntk, rtol=tol, atol=0)
    torch.testing.assert_close(gpu.nngp.cpu(), cpu.nngp, rtol=tol, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cross_kernel_with_equal_rows_matches_the_symmetric_kernel(dtype):
    # kernel_fn(x, x.clone()) must equal kernel_fn(x) exactly on the diagonal: equal rows have
    # correlation exactly 1 (and a row against its negative exactly -1), whatever the rounding of
    # the matrix product; otherwise arccos amplifies one ulp to ~sqrt(eps) of the NTK.
    x = torch.randn(40, 17, generator=torch.Generator().manual_seed(5), dtype=dtype) * 3.1
    layers = fully_connected(3, weight_var=2.0, bias_var=0.1)
    sym = kernel_fn(layers, x)
    cross = kernel_fn(layers, x, x.clone())
    torch.testing.assert_close(torch.diagonal(cross.ntk), torch.diagonal(sym.ntk), rtol=0, atol=0)
    torch.testing.assert_close(torch.diagonal(cross.nngp), torch.diagonal(sym.nngp), rtol=0, atol=0)
    eps = torch.finfo(dtype).eps
    torch.testing.assert_close(cross.ntk, sym.ntk, rtol=50 * eps, atol=0)
    # A row against its negative: correlation exactly -1, where a ReLU layer gives exactly
    # E[relu(u) relu(-u)] = 0 and E[1{u > 0} 1{-u > 0}] = 0 (pi - arccos(-1) = 0).
    anti = kernel_fn(Serial(Dense(2.0, 0.0), ReLU()), x, -x)
    assert bool((torch.diagonal(anti.nngp) == 0).all())
    assert bool((torch.diagonal(anti.ntk) == 0).all())
