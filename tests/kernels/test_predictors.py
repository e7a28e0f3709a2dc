"""Kernel predictors: GP conditioning, the NTK gradient-flow ODE, and kernel ridge regression."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, linalg
from torch import nn

from mathdl.kernels._empirical import empirical_ntk
from mathdl.kernels._predictors import Dynamics, kernel_ridge, nngp_posterior, ntk_predictor

F64 = torch.float64


def _points(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _rbf(a: torch.Tensor, b: torch.Tensor, scale: float = 1.5) -> torch.Tensor:
    return torch.exp(-torch.cdist(a, b).square() / (2 * scale**2))


def _problem(n: int = 6, m: int = 4, k: int | None = None, seed: int = 0):
    """RBF kernels on n training and m test points in R^2, targets (n,) or (n, k)."""
    x, xs = _points(n, 2, seed), _points(m, 2, seed + 1)
    shape = (n,) if k is None else (n, k)
    y = torch.randn(shape, generator=torch.Generator().manual_seed(seed + 2), dtype=F64)
    return _rbf(x, x), _rbf(xs, x), _rbf(xs, xs), y


# ----------------------------------------------------------------------------- GP posterior


@pytest.mark.parametrize("noise_var", [0.0, 0.1])
@pytest.mark.parametrize("k", [None, 3])
def test_nngp_posterior_is_gaussian_conditioning(noise_var: float, k: int | None) -> None:
    # the conditional of the joint Gaussian (f_*, y) ~ N(0, [[K**, K*], [K*^T, K + s^2 I]]),
    # computed independently in numpy with an explicit inverse
    kxx, ksx, kss, y = _problem(k=k)
    a = kxx.numpy() + noise_var * np.eye(kxx.shape[0])
    inv = np.linalg.inv(a)
    mean_ref = ksx.numpy() @ inv @ y.numpy()
    cov_ref = kss.numpy() - ksx.numpy() @ inv @ ksx.numpy().T
    mean, cov = nngp_posterior(kxx, ksx, y, k_test_test=kss, noise_var=noise_var)
    assert cov is not None
    # this RBF Gram matrix has condition number ~300: the explicit inverse loses ~1e-13, far
    # below the O(1) effect of a wrong solve
    np.testing.assert_allclose(mean.numpy(), mean_ref, rtol=0, atol=1e-9)
    np.testing.assert_allclose(cov.numpy(), cov_ref, rtol=0, atol=1e-9)
    assert nngp_posterior(kxx, ksx, y, noise_var=noise_var)[1] is None


def test_posterior_variance_below_prior() -> None:
    kxx, ksx, kss, y = _problem(n=8, m=10, seed=3)
    _, cov = nngp_posterior(kxx, ksx, y, k_test_test=kss, noise_var=1e-3)
    assert cov is not None
    assert bool((cov.diagonal() <= kss.diagonal() + 1e-12).all())
    assert float(torch.linalg.eigvalsh(cov).min()) >= -1e-10  # a covariance: PSD
    torch.testing.assert_close(cov, cov.T, rtol=0, atol=0)


def test_posterior_interpolates_without_noise() -> None:
    # predicting at the training points: mean -> y and variance -> 0 as noise_var -> 0
    kxx, _, _, y = _problem(n=5, seed=4)
    for noise_var, tol in [(1e-4, 1e-2), (1e-8, 1e-5)]:
        mean, cov = nngp_posterior(kxx, kxx, y, k_test_test=kxx, noise_var=noise_var)
        assert cov is not None
        assert float((mean - y).abs().max()) < tol
        assert float(cov.diagonal().abs().max()) < tol


def test_not_positive_definite() -> None:
    ones = torch.ones(3, 3, dtype=F64)  # rank one: the Cholesky pivot vanishes exactly
    y = torch.arange(3.0, dtype=F64)
    with pytest.raises(ValueError, match="k_train_train.*not positive definite.*jitter"):
        nngp_posterior(ones, ones, y)
    mean, _ = nngp_posterior(ones, ones, y, jitter=1e-6)  # jitter makes it usable
    assert bool(torch.isfinite(mean).all())
    indefinite = torch.diag(torch.tensor([1.0, -1.0], dtype=F64))
    with pytest.raises(ValueError, match="not positive definite"):
        nngp_posterior(indefinite, indefinite, torch.ones(2, dtype=F64), noise_var=0.5)
    with pytest.raises(ValueError, match="not positive definite"):
        kernel_ridge(ones, ones, y, ridge=0.0)


# ----------------------------------------------------------------------------- kernel ridge


@pytest.mark.parametrize("k", [None, 2])
def test_kernel_ridge_matches_a_direct_solve(k: int | None) -> None:
    kxx, ksx, _, y = _problem(k=k, seed=5)
    ridge = 0.3
    direct = ksx @ torch.linalg.solve(kxx + ridge * torch.eye(6, dtype=F64), y)
    torch.testing.assert_close(kernel_ridge(kxx, ksx, y, ridge=ridge), direct, rtol=0, atol=1e-12)
    mean, _ = nngp_posterior(kxx, ksx, y, noise_var=ridge)  # ridge = GP mean with s^2 = lambda
    torch.testing.assert_close(kernel_ridge(kxx, ksx, y, ridge=ridge), mean, rtol=0, atol=1e-13)


def test_kernel_ridge_limits() -> None:
    kxx, ksx, _, y = _problem(seed=6)
    # ridge = 0: interpolation at the training points
    torch.testing.assert_close(kernel_ridge(kxx, kxx, y, ridge=0.0), y, rtol=0, atol=1e-9)
    # ridge -> inf: (K + lam I)^{-1} = I/lam - K/lam^2 + ..., so lam * f -> K* y with error
    # ~ |K| / lam: shrinking by 100x when lam grows by 100x
    target = ksx @ y
    errors = [
        float((lam * kernel_ridge(kxx, ksx, y, ridge=lam) - target).abs().max())
        for lam in (1e4, 1e6)
    ]
    assert errors[0] < 1e-2 * float(target.abs().max())
    assert errors[1] / errors[0] == pytest.approx(1e-2, rel=0.05)


# ----------------------------------------------------------------------------- NTK predictor


def _ntk_problem(n: int = 5, m: int = 3, k: int | None = None, seed: int = 7):
    kxx, ksx, _, y = _problem(n=n, m=m, k=k, seed=seed)
    gen = torch.Generator().manual_seed(seed + 10)
    f0 = 0.3 * torch.randn(y.shape, generator=gen, dtype=F64)
    f0s = 0.3 * torch.randn((m, *y.shape[1:]), generator=gen, dtype=F64)
    return kxx, ksx, y, f0, f0s


def test_ntk_predictor_at_time_zero_is_the_initial_function() -> None:
    kxx, ksx, y, f0, f0s = _ntk_problem()
    ft, fs = ntk_predictor(kxx, ksx, y, t=0.0, f0_train=f0, f0_test=f0s)
    torch.testing.assert_close(ft, f0, rtol=0, atol=1e-14)
    torch.testing.assert_close(fs, f0s, rtol=0, atol=1e-14)
    ft, fs = ntk_predictor(kxx, ksx, y, t=0)
    assert float(ft.abs().max()) < 1e-14 and float(fs.abs().max()) < 1e-14


def test_ntk_predictor_solves_the_gradient_flow_ode() -> None:
    # d/dt [f(X), f(x*)] = -lr [Theta, Theta(x*, X)] (f(X) - Y), integrated by DOP853
    kxx, ksx, y, f0, f0s = _ntk_problem()
    lr, times = 0.7, np.array([0.1, 0.5, 1.0, 3.0, 10.0])
    a, b, yy, n = kxx.numpy(), ksx.numpy(), y.numpy(), kxx.shape[0]

    def rhs(_: float, z: np.ndarray) -> np.ndarray:
        r = z[:n] - yy
        return np.concatenate([-lr * a @ r, -lr * b @ r])

    z0 = np.concatenate([f0.numpy(), f0s.numpy()])
    sol = integrate.solve_ivp(
        rhs, (0, times[-1]), z0, method="DOP853", t_eval=times, rtol=1e-12, atol=1e-13
    )
    ft, fs = ntk_predictor(
        kxx, ksx, y, t=torch.tensor(times), learning_rate=lr, f0_train=f0, f0_test=f0s
    )
    assert ft.shape == (5, n) and fs.shape == (5, 3)
    # the integrator meets its 1e-12 tolerance up to ~1e-10 accumulated; a wrong rate or sign
    # in the exponential is off by O(1)
    np.testing.assert_allclose(ft.numpy(), sol.y[:n].T, rtol=0, atol=1e-9)
    np.testing.assert_allclose(fs.numpy(), sol.y[n:].T, rtol=0, atol=1e-9)
    # and the training outputs equal the matrix exponential solution
    for i, t in enumerate(times):
        expected = yy + linalg.expm(-lr * t * a) @ (f0.numpy() - yy)
        np.testing.assert_allclose(ft[i].numpy(), expected, rtol=0, atol=1e-12)


def test_ntk_predictor_at_infinity() -> None:
    kxx, ksx, y, f0, f0s = _ntk_problem(seed=8)
    # training outputs interpolate Y, whatever f0
    ft, fs = ntk_predictor(kxx, ksx, y, t=math.inf, f0_train=f0, f0_test=f0s)
    torch.testing.assert_close(ft, y, rtol=0, atol=1e-9)
    # f0 = 0: test outputs are kernel regression Theta(x, X) Theta^{-1} Y
    _, fs0 = ntk_predictor(kxx, ksx, y, t=math.inf)
    torch.testing.assert_close(fs0, ksx @ torch.linalg.solve(kxx, y), rtol=0, atol=1e-9)
    torch.testing.assert_close(fs0, kernel_ridge(kxx, ksx, y, ridge=0.0), rtol=0, atol=1e-9)
    # and long finite times converge to it
    lam_min = float(torch.linalg.eigvalsh(kxx)[0])
    ft_long, fs_long = ntk_predictor(kxx, ksx, y, t=60 / lam_min, f0_train=f0, f0_test=f0s)
    torch.testing.assert_close(ft_long, ft, rtol=0, atol=1e-9)
    torch.testing.assert_close(fs_long, fs, rtol=0, atol=1e-9)


def test_ntk_predictor_with_a_singular_kernel() -> None:
    # Theta = Phi Phi^T of rank 2 on 5 points, Theta(x*, X) = Phi* Phi^T: the gradient-flow limit
    # from f0 = 0 is the minimum-norm least-squares fit w = pinv(Phi) Y, f(x) = phi(x).w, and the
    # training residual in the null space of Theta never moves
    gen = torch.Generator().manual_seed(9)
    phi, phi_s = (
        torch.randn(5, 2, generator=gen, dtype=F64),
        torch.randn(3, 2, generator=gen, dtype=F64),
    )
    y = torch.randn(5, generator=gen, dtype=F64)
    kxx, ksx = phi @ phi.T, phi_s @ phi.T
    w = torch.linalg.pinv(phi) @ y
    ft, fs = ntk_predictor(kxx, ksx, y, t=math.inf)
    torch.testing.assert_close(ft, phi @ w, rtol=0, atol=1e-10)
    torch.testing.assert_close(fs, phi_s @ w, rtol=0, atol=1e-10)
    lam = torch.linalg.eigvalsh(kxx)[-2]  # smallest retained eigenvalue
    ft_long, fs_long = ntk_predictor(kxx, ksx, y, t=float(60 / lam))
    torch.testing.assert_close(ft_long, ft, rtol=0, atol=1e-10)
    torch.testing.assert_close(fs_long, fs, rtol=0, atol=1e-10)


def test_ntk_predictor_vector_targets_are_columnwise() -> None:
    kxx, ksx, y, f0, f0s = _ntk_problem(k=3, seed=11)
    times = torch.tensor([0.2, 1.5, math.inf], dtype=F64)
    ft, fs = ntk_predictor(kxx, ksx, y, t=times, f0_train=f0, f0_test=f0s, learning_rate=0.4)
    assert ft.shape == (3, 5, 3) and fs.shape == (3, 3, 3)
    for c in range(3):
        for i, t in enumerate(times):
            ftc, fsc = ntk_predictor(
                kxx,
                ksx,
                y[:, c],
                t=float(t),
                f0_train=f0[:, c],
                f0_test=f0s[:, c],
                learning_rate=0.4,
            )
            torch.testing.assert_close(ft[i, :, c], ftc, rtol=0, atol=1e-13)
            torch.testing.assert_close(fs[i, :, c], fsc, rtol=0, atol=1e-13)
    # a scalar tensor time gives no time axis
    ft0, _ = ntk_predictor(
        kxx, ksx, y, t=torch.tensor(0.2, dtype=F64), f0_train=f0, f0_test=f0s, learning_rate=0.4
    )
    torch.testing.assert_close(ft0, ft[0], rtol=0, atol=0)


def test_ntk_predictor_with_output_coupled_kernel() -> None:
    # (n, n, k, k) kernel: Theta (x) I_k reproduces the column-wise result, and a general
    # PSD (nk x nk) kernel follows the matrix exponential of the flattened problem
    kxx, ksx, y, f0, f0s = _ntk_problem(k=2, seed=12)
    eye = torch.eye(2, dtype=F64)
    full = kxx[:, :, None, None] * eye
    full_s = ksx[:, :, None, None] * eye
    expected = ntk_predictor(kxx, ksx, y, t=0.8, f0_train=f0, f0_test=f0s)
    got = ntk_predictor(full, full_s, y, t=0.8, f0_train=f0, f0_test=f0s)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-13)
    gen = torch.Generator().manual_seed(13)
    feats = torch.randn(5 * 2 + 3 * 2, 12, generator=gen, dtype=F64)
    joint = feats @ feats.T / 12  # PSD on (5 train + 3 test) x 2 outputs, index (i, a)
    big = joint[:10, :10].reshape(5, 2, 5, 2).permute(0, 2, 1, 3)
    big_s = joint[10:, :10].reshape(3, 2, 5, 2).permute(0, 2, 1, 3)
    ft, _ = ntk_predictor(big, big_s, y, t=1.3, f0_train=f0)
    ref = (
        y.reshape(-1).numpy()
        + linalg.expm(-1.3 * joint[:10, :10].numpy()) @ (f0 - y).reshape(-1).numpy()
    )
    np.testing.assert_allclose(ft.reshape(-1).numpy(), ref, rtol=0, atol=1e-12)


def _gradient_descent_error(lr: float, time: float) -> float:
    """|GD on a model linear in its parameters - ntk_predictor| at the same time t = steps."""
    torch.manual_seed(14)  # test-only: nn.Linear draws its initial weights from the global RNG
    model = nn.Linear(3, 1).to(F64)
    x, xs = _points(6, 3, 15), _points(4, 3, 16)
    y = torch.cos(x.sum(1, keepdim=True))
    theta = empirical_ntk(model, x)
    theta_s = empirical_ntk(model, xs, x)
    with torch.no_grad():
        f0, f0s = model(x), model(xs)
    optimiser = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(round(time / lr)):
        optimiser.zero_grad()
        (0.5 * (model(x) - y).square().sum()).backward()
        optimiser.step()
    with torch.no_grad():
        ft, fs = model(x), model(xs)
    pt, ps = ntk_predictor(theta, theta_s, y, t=time, f0_train=f0, f0_test=f0s)
    return max(float((ft - pt).abs().max()), float((fs - ps).abs().max()))


def test_gradient_descent_converges_to_the_ntk_predictor() -> None:
    # SGD with step lr on L = 1/2 sum (f - y)^2 is the explicit Euler scheme for the gradient flow
    # at rate 1 with time step lr; for a model linear in its parameters the NTK is exact, so the
    # gap is the Euler error O(lr): halving lr halves it
    coarse, fine = _gradient_descent_error(0.02, 2.0), _gradient_descent_error(0.01, 2.0)
    assert coarse < 1e-2
    assert 0.4 < fine / coarse < 0.6


def test_ntk_predictor_dtype() -> None:
    kxx, ksx, y, _, _ = _ntk_problem()
    ft, fs = ntk_predictor(kxx.float(), ksx.float(), y.float(), t=1.0)
    assert ft.dtype == fs.dtype == torch.float32
    ft64, fs64 = ntk_predictor(kxx, ksx, y, t=1.0)
    torch.testing.assert_close(ft.double(), ft64, rtol=0, atol=1e-4)


# ----------------------------------------------------------------------------- bad input


def _bad_ntk_calls():
    kxx, ksx, y, f0, _ = _ntk_problem()
    indefinite = torch.diag(torch.tensor([1.0, 1.0, 1.0, 1.0, -1.0], dtype=F64))
    asym = kxx.clone()
    asym[0, 1] += 0.5
    return [
        (dict(t=-1.0), "t"),
        (dict(t=math.nan), "t"),
        (dict(t=torch.tensor([1.0, -0.5])), "t"),
        (dict(t=torch.ones(2, 2)), "t"),
        (dict(t="1"), "t"),
        (dict(t=1.0, learning_rate=0.0), "learning_rate"),
        (dict(t=1.0, learning_rate=-0.1), "learning_rate"),
        (dict(t=1.0, learning_rate=math.inf), "learning_rate"),
        (dict(t=1.0, f0_train=f0[:4]), "f0_train"),
        (dict(t=1.0, f0_test=f0), "f0_test"),
        (dict(t=1.0, rcond=-1.0), "rcond"),
        (dict(t=1.0, rcond=1.0), "rcond"),
        (dict(t=1.0, ntk_train_train=indefinite), "positive semi-definite"),
        (dict(t=1.0, ntk_train_train=asym), "symmetric"),
        (dict(t=1.0, ntk_train_train=kxx[:4]), "ntk_train_train"),
        (dict(t=1.0, ntk_test_train=ksx[:, :4]), "ntk_test_train"),
        (dict(t=1.0, y_train=y[:4]), "y_train"),
        (dict(t=1.0, y_train=y.reshape(5, 1, 1)), "y_train"),
        (dict(t=1.0, y_train=torch.arange(5)), "y_train"),
        (dict(t=1.0, ntk_train_train=kxx * math.nan), "finite"),
        (
            dict(t=1.0, ntk_train_train=kxx[:, :, None, None], ntk_test_train=ksx[:, :, None]),
            "ntk_test_train",
        ),
        (
            dict(
                t=1.0,
                ntk_train_train=kxx[:, :, None, None],
                ntk_test_train=ksx[:, :, None, None],
                y_train=y,
            ),
            "y_train",
        ),
    ], (kxx, ksx, y)


@pytest.mark.parametrize("index", range(len(_bad_ntk_calls()[0])))
def test_ntk_predictor_bad_input(index: int) -> None:
    calls, (kxx, ksx, y) = _bad_ntk_calls()
    kwargs, match = calls[index]
    args = {"ntk_train_train": kxx, "ntk_test_train": ksx, "y_train": y}
    for name in list(args):
        if name in kwargs:
            args[name] = kwargs.pop(name)
    with pytest.raises(ValueError, match=match):
        ntk_predictor(args["ntk_train_train"], args["ntk_test_train"], args["y_train"], **kwargs)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"noise_var": -1e-3}, "noise_var"),
        ({"noise_var": math.nan}, "noise_var"),
        ({"jitter": -1.0}, "jitter"),
        ({"k_train_train": "square"}, "k_train_train"),
        ({"k_test_train": "columns"}, "k_test_train"),
        ({"y_train": "short"}, "y_train"),
        ({"k_test_test": "wrong"}, "k_test_test"),
    ],
)
def test_nngp_posterior_bad_input(change: dict, match: str) -> None:
    kxx, ksx, kss, y = _problem()
    args = {
        "k_train_train": kxx,
        "k_test_train": ksx,
        "y_train": y,
        "k_test_test": kss,
        "noise_var": 0.0,
        "jitter": 0.0,
    }
    broken = {"square": kxx[:5], "columns": ksx[:, :5], "short": y[:5], "wrong": kss[:3]}
    args.update({k: broken.get(v, v) if isinstance(v, str) else v for k, v in change.items()})
    with pytest.raises(ValueError, match=match):
        nngp_posterior(
            args.pop("k_train_train"), args.pop("k_test_train"), args.pop("y_train"), **args
        )


@pytest.mark.parametrize(
    ("ridge", "match"), [(-0.1, "ridge"), (math.inf, "ridge"), (None, "ridge")]
)
def test_kernel_ridge_bad_input(ridge, match: str) -> None:
    kxx, ksx, _, y = _problem()
    with pytest.raises(ValueError, match=match):
        kernel_ridge(kxx, ksx, y, ridge=ridge)
    with pytest.raises(ValueError, match="k_test_train"):
        kernel_ridge(kxx, ksx.T, y, ridge=0.1)


@pytest.mark.parametrize("eta", [0.05, 0.3, 0.9])
def test_gradient_descent_dynamics_is_the_linear_recursion(eta: float) -> None:
    # f_{k+1}(X) = f_k(X) - eta Θ (f_k(X) - Y), f_{k+1}(x) = f_k(x) - eta Θ(x, X)(f_k(X) - Y),
    # iterated by hand in float64; the closed form (I - eta Θ)^k must match to rounding.
    # eta = 0.9 makes some eta*lambda > 1 (negative base, oscillating modes).
    g = torch.Generator().manual_seed(3)
    a = torch.randn(6, 6, generator=g, dtype=torch.float64)
    theta = a @ a.T / 6 + 0.1 * torch.eye(6, dtype=torch.float64)
    theta = theta / torch.linalg.eigvalsh(theta)[-1] * 1.9  # lambda_max = 1.9
    theta_star = torch.randn(3, 6, generator=g, dtype=torch.float64)
    y = torch.randn(6, generator=g, dtype=torch.float64)
    f0, f0s = torch.randn(6, generator=g, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    steps = torch.tensor([0.0, 1.0, 5.0, 40.0], dtype=torch.float64)
    f_train, f_test = ntk_predictor(theta, theta_star, y, t=steps, learning_rate=eta,
                                    f0_train=f0, f0_test=f0s, dynamics=Dynamics.GRADIENT_DESCENT)
    f, fs = f0.clone(), f0s.clone()
    for k in range(41):
        if k in (0, 1, 5, 40):
            i = [0, 1, 5, 40].index(k)
            torch.testing.assert_close(f_train[i], f, rtol=0, atol=1e-12)
            torch.testing.assert_close(f_test[i], fs, rtol=0, atol=1e-12)
        residual = f - y
        f, fs = f - eta * theta @ residual, fs - eta * theta_star @ residual


def test_gradient_descent_limit_and_errors() -> None:
    theta = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    star = torch.tensor([[1.0, 0.2]], dtype=torch.float64)
    y = torch.tensor([1.0, -1.0], dtype=torch.float64)
    gd = ntk_predictor(theta, star, y, t=math.inf, learning_rate=0.1,
                       dynamics=Dynamics.GRADIENT_DESCENT)
    flow = ntk_predictor(theta, star, y, t=math.inf, learning_rate=0.1)
    torch.testing.assert_close(gd[0], flow[0])  # both interpolate
    torch.testing.assert_close(gd[1], flow[1])  # and agree with kernel regression
    with pytest.raises(ValueError, match="whole numbers of steps"):
        ntk_predictor(theta, star, y, t=1.5, dynamics=Dynamics.GRADIENT_DESCENT)
    with pytest.raises(ValueError, match="diverges"):
        ntk_predictor(theta, star, y, t=math.inf, learning_rate=1.0,
                      dynamics=Dynamics.GRADIENT_DESCENT)
    with pytest.raises(ValueError, match="dynamics"):
        ntk_predictor(theta, star, y, t=1.0, dynamics="gd")
