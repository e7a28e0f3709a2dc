"""Hessian-vector products, top Hessian eigenvalues (sharpness) and slices of the loss."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch.func import hessian as _hessian

from mathdl.training import (
    EigenMethod,
    HVPMode,
    Nonlinearity,
    Scaling,
    TwoLayerNetwork,
    flatten_parameters,
    hessian_vector_product,
    loss_along_line,
    loss_on_plane,
    parameter_loss,
    sharpness,
    top_hessian_eigenvalues,
)

F64 = torch.float64


def hessian(function):
    """torch.func.hessian (forward-over-reverse), silencing torch's upstream notice that
    torch.jit.script (used once to load its forward-mode decompositions) is deprecated."""

    def exact(theta: torch.Tensor) -> torch.Tensor:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated",
                                    category=DeprecationWarning)
            return _hessian(function)(theta)

    return exact


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _small_network_loss():
    """A tanh network with biases, 3 inputs, width 5 (p = 25), on 12 random points."""
    g = _gen(0)
    x = torch.randn(12, 3, generator=g, dtype=F64)
    y = torch.randn(12, generator=g, dtype=F64)
    net = TwoLayerNetwork(3, 5, scaling=Scaling.STANDARD, activation=Nonlinearity.TANH,
                          bias=True, bias_std=0.5, generator=g, dtype=F64)
    return parameter_loss(net, x, y), flatten_parameters(net), net, x, y


def _quadratic(p: int, seed: int, eigenvalues: torch.Tensor | None = None):
    """L(theta) = 1/2 theta^T A theta + b^T theta with a symmetric A of known spectrum."""
    g = _gen(seed)
    q, _ = torch.linalg.qr(torch.randn(p, p, generator=g, dtype=F64))
    if eigenvalues is None:
        eigenvalues = torch.linspace(-1.0, 4.0, p, dtype=F64)
    a = q @ torch.diag(eigenvalues) @ q.T
    b = torch.randn(p, generator=g, dtype=F64)

    def loss(theta: torch.Tensor) -> torch.Tensor:
        return 0.5 * theta @ (a @ theta) + b @ theta

    return loss, a, b


# ---------------------------------------------------------------------------------------------
# parameter_loss / flatten_parameters


def test_parameter_loss_is_the_training_loss_at_the_current_parameters():
    loss, theta, net, x, y = _small_network_loss()
    assert theta.shape == (3 * 5 + 5 + 5,)
    expected = 0.5 * torch.mean((net(x) - y) ** 2)
    torch.testing.assert_close(loss(theta), expected, rtol=1e-14, atol=0)


def test_parameter_loss_evaluates_other_points_without_touching_the_module():
    loss, theta, net, x, y = _small_network_loss()
    shifted = theta + 0.1
    value = loss(shifted)
    torch.testing.assert_close(flatten_parameters(net), theta, rtol=0, atol=0)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1)
    torch.testing.assert_close(value, 0.5 * torch.mean((net(x) - y) ** 2), rtol=1e-14, atol=0)


# ---------------------------------------------------------------------------------------------
# Hessian-vector products


@pytest.mark.parametrize("mode", list(HVPMode))
def test_hvp_equals_exact_hessian_times_vector_on_a_network(mode):
    loss, theta, *_ = _small_network_loss()
    h = hessian(loss)(theta)
    for seed in range(3):
        v = torch.randn(theta.shape, generator=_gen(10 + seed), dtype=F64)
        hv = hessian_vector_product(loss, theta, v, mode=mode)
        # Both are exact derivatives: they differ by float64 rounding only.
        torch.testing.assert_close(hv, h @ v, rtol=1e-10, atol=1e-12)


def test_hvp_of_a_quadratic_is_a_times_v():
    loss, a, _ = _quadratic(7, seed=1)
    theta = torch.randn(7, generator=_gen(2), dtype=F64)
    v = torch.randn(7, generator=_gen(3), dtype=F64)
    torch.testing.assert_close(hessian_vector_product(loss, theta, v), a @ v, rtol=1e-12,
                               atol=1e-13)


# ---------------------------------------------------------------------------------------------
# Top eigenvalues


def test_lanczos_full_krylov_space_gives_the_whole_spectrum_of_the_network_hessian():
    loss, theta, *_ = _small_network_loss()
    exact = torch.linalg.eigvalsh(hessian(loss)(theta)).flip(0)
    p = theta.shape[0]
    top = top_hessian_eigenvalues(loss, theta, k=3, iterations=p, generator=_gen(4))
    torch.testing.assert_close(top, exact[:3], rtol=1e-9, atol=1e-10)


def test_lanczos_few_iterations_converge_to_the_top_eigenvalue_from_below():
    # A quadratic with a spectral gap: the Ritz value converges fast and never overshoots.
    eig = torch.cat([torch.tensor([10.0], dtype=F64), torch.linspace(-2, 5, 99, dtype=F64)])
    loss, _, _ = _quadratic(100, seed=5, eigenvalues=eig)
    theta = torch.zeros(100, dtype=F64)
    values = [float(top_hessian_eigenvalues(loss, theta, iterations=j, generator=_gen(6))[0])
              for j in (3, 6, 12, 24)]
    assert all(v <= 10.0 + 1e-12 for v in values)  # Cauchy interlacing
    assert all(b >= a - 1e-12 for a, b in zip(values, values[1:], strict=False))
    assert abs(values[-1] - 10.0) < 1e-8
    assert abs(values[0] - 10.0) > 1e-6  # three steps are not enough: the test can fail


def test_power_iteration_finds_the_dominant_eigenvalue():
    eig = torch.tensor([6.0, 3.0, 1.0, -0.5, 0.2], dtype=F64)
    loss, _, _ = _quadratic(5, seed=7, eigenvalues=eig)
    value = top_hessian_eigenvalues(loss, torch.zeros(5, dtype=F64), method=EigenMethod.POWER,
                                    iterations=500, tolerance=1e-14, generator=_gen(8))
    torch.testing.assert_close(value, torch.tensor([6.0], dtype=F64), rtol=1e-10, atol=0)


def test_power_iteration_and_lanczos_agree_on_the_network_sharpness():
    loss, theta, *_ = _small_network_loss()
    exact = float(torch.linalg.eigvalsh(hessian(loss)(theta))[-1])
    lanczos = sharpness(loss, theta, iterations=25, generator=_gen(9))
    power = float(top_hessian_eigenvalues(loss, theta, method=EigenMethod.POWER,
                                          iterations=5000, tolerance=1e-13,
                                          generator=_gen(9))[0])
    assert lanczos == pytest.approx(exact, rel=1e-9)
    assert power == pytest.approx(exact, rel=1e-5)


def test_sharpness_is_two_over_eta_stability_threshold_of_gd_on_a_quadratic():
    # GD on L = 1/2 theta^T A theta is stable iff lambda_max(A) <= 2 / eta.
    loss, a, b = _quadratic(6, seed=11, eigenvalues=torch.tensor([5.0, 2, 1, 0.5, 0.2, 0.1],
                                                                dtype=F64))
    lam = sharpness(loss, torch.zeros(6, dtype=F64), iterations=6, generator=_gen(0))
    assert lam == pytest.approx(5.0, rel=1e-12)
    theta_star = -torch.linalg.solve(a, b)
    for eta, converges in ((0.99 * 2 / lam, True), (1.01 * 2 / lam, False)):
        theta = torch.zeros(6, dtype=F64)
        for _ in range(3000):
            theta = theta - eta * (a @ theta + b)
        assert bool(torch.linalg.norm(theta - theta_star) < 1e-3) is converges


def test_eigenvalues_are_deterministic_given_the_generator():
    loss, theta, *_ = _small_network_loss()
    first = top_hessian_eigenvalues(loss, theta, k=2, iterations=8, generator=_gen(1))
    again = top_hessian_eigenvalues(loss, theta, k=2, iterations=8, generator=_gen(1))
    assert torch.equal(first, again)


# ---------------------------------------------------------------------------------------------
# Slices


def test_slices_of_a_quadratic_are_exact_parabolas():
    loss, a, b = _quadratic(4, seed=12)
    g = _gen(13)
    theta, d1, d2 = (torch.randn(4, generator=g, dtype=F64) for _ in range(3))
    t = torch.linspace(-2, 3, 11, dtype=F64)
    line = loss_along_line(loss, theta, d1, t)
    grad = a @ theta + b
    parabola = loss(theta) + t * (grad @ d1) + 0.5 * t**2 * (d1 @ a @ d1)
    torch.testing.assert_close(line, parabola, rtol=1e-12, atol=1e-12)
    s = torch.tensor([-1.0, 0.0, 0.5], dtype=F64)
    plane = loss_on_plane(loss, theta, d1, d2, s, t)
    assert plane.shape == (3, 11)
    quad = (loss(theta) + s[:, None] * (grad @ d1) + t[None, :] * (grad @ d2)
            + 0.5 * s[:, None] ** 2 * (d1 @ a @ d1) + s[:, None] * t[None, :] * (d1 @ a @ d2)
            + 0.5 * t[None, :] ** 2 * (d2 @ a @ d2))
    torch.testing.assert_close(plane, quad, rtol=1e-12, atol=1e-12)


def test_linear_interpolation_hits_both_end_points():
    loss, theta, *_ = _small_network_loss()
    other = theta + torch.randn(theta.shape, generator=_gen(14), dtype=F64)
    values = loss_along_line(loss, theta, other - theta, [0.0, 1.0])
    torch.testing.assert_close(values, torch.stack([loss(theta), loss(other)]), rtol=1e-14,
                               atol=0)


# ---------------------------------------------------------------------------------------------
# Bad input


def _args():
    loss, a, _ = _quadratic(3, seed=0)
    return loss, torch.zeros(3, dtype=F64)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda f, t: hessian_vector_product("loss", t, t), "function"),
        (lambda f, t: hessian_vector_product(f, t.reshape(1, 3), t), "point"),
        (lambda f, t: hessian_vector_product(f, t, torch.zeros(4, dtype=F64)), "vector"),
        (lambda f, t: hessian_vector_product(f, t, t.float()), "vector"),
        (lambda f, t: hessian_vector_product(f, t, t, mode="fwd"), "mode"),
        (lambda f, t: top_hessian_eigenvalues(f, t, k=0, generator=_gen(0)), "k"),
        (lambda f, t: top_hessian_eigenvalues(f, t, k=4, generator=_gen(0)), "k"),
        (lambda f, t: top_hessian_eigenvalues(f, t, k=2, method=EigenMethod.POWER,
                                              generator=_gen(0)), "k"),
        (lambda f, t: top_hessian_eigenvalues(f, t, method="lanczos", generator=_gen(0)),
         "method"),
        (lambda f, t: top_hessian_eigenvalues(f, t, iterations=0, generator=_gen(0)),
         "iterations"),
        (lambda f, t: top_hessian_eigenvalues(f, t, tolerance=-1.0, generator=_gen(0)),
         "tolerance"),
        (lambda f, t: top_hessian_eigenvalues(f, t, generator=0), "generator"),
        (lambda f, t: sharpness(f, torch.zeros(3, dtype=torch.int64), generator=_gen(0)),
         "point"),
        (lambda f, t: loss_along_line(f, t, t, [[0.0]]), "coefficients"),
        (lambda f, t: loss_along_line(f, t, t, [float("nan")]), "coefficients"),
        (lambda f, t: loss_along_line(f, t, t, "abc"), "coefficients"),
        (lambda f, t: loss_on_plane(f, t, t, t[:2], [0.0], [0.0]), "direction2"),
        (lambda f, t: loss_on_plane(f, t, t, t, [0.0], []), "coefficients2"),
        (lambda f, t: parameter_loss(torch.nn.Identity(), torch.zeros(2, 1), torch.zeros(2)),
         "model"),
        (lambda f, t: parameter_loss(TwoLayerNetwork(1, 2), torch.zeros(2), torch.zeros(2)),
         "x"),
        (lambda f, t: parameter_loss(TwoLayerNetwork(1, 2), torch.zeros(2, 1), torch.zeros(3)),
         "y"),
        (lambda f, t: parameter_loss(TwoLayerNetwork(1, 2), torch.zeros(2, 1), torch.zeros(2),
                                     loss="mse"), "loss"),
        (lambda f, t: flatten_parameters("net"), "model"),
    ],
)
def test_bad_input_gives_a_one_line_value_error_naming_the_argument(call, name):
    f, t = _args()
    with pytest.raises(ValueError) as info:
        call(f, t)
    message = str(info.value)
    assert message.startswith(f"{name}:") and "\n" not in message


def test_lanczos_restarts_on_an_invariant_krylov_space():
    # A = diag(3, 3, 3, 1, 1): the Krylov space of any start has dimension 2 (two distinct
    # eigenvalues), so plain Lanczos breaks down after 2 steps; with p = 5 steps all five
    # eigenvalues, multiplicities included, must come back.
    eig = torch.tensor([3.0, 3.0, 3.0, 1.0, 1.0], dtype=F64)
    loss, _, _ = _quadratic(5, seed=15, eigenvalues=eig)
    values = top_hessian_eigenvalues(loss, torch.zeros(5, dtype=F64), k=5, iterations=5,
                                     generator=_gen(16))
    torch.testing.assert_close(values, eig, rtol=0, atol=1e-12)
