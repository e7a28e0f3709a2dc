r"""Kernel predictors: Gaussian-process (NNGP) posterior, NTK gradient-flow predictor, kernel ridge.

All three take precomputed kernel matrices, so they serve any kernel: an analytic infinite-width
kernel (NNGP :math:`K` or NTK :math:`\Theta`), the empirical NTK of a finite network, or a
classical kernel. Notation: training inputs :math:`X` (:math:`n` points) with targets :math:`Y`,
test inputs :math:`x_*` (:math:`m` points); :math:`K = K(X, X)`, :math:`K_* = K(x_*, X)`,
:math:`K_{**} = K(x_*, x_*)`.

References:
    C. E. Rasmussen & C. K. I. Williams, *Gaussian Processes for Machine Learning*, MIT Press
    2006, §2.2, eqs. (2.22)-(2.26) and Algorithm 2.1;
    A. Jacot, F. Gabriel & C. Hongler, "Neural tangent kernel: convergence and generalization in
    neural networks", NeurIPS 2018;
    J. Lee et al., "Wide neural networks of any depth evolve as linear models under gradient
    descent", NeurIPS 2019 (closed-form linearised dynamics);
    B. Schölkopf & A. J. Smola, *Learning with Kernels*, MIT Press 2002 (representer theorem).
"""

from __future__ import annotations

import enum
import math

import torch
from torch import Tensor

__all__ = ["Dynamics", "kernel_ridge", "nngp_posterior", "ntk_predictor"]


# ----------------------------------------------------------------------------- validation



class Dynamics(enum.Enum):
    """Training dynamics of :func:`ntk_predictor`: continuous gradient flow, or gradient descent
    with a fixed step (``t`` then counts steps)."""

    GRADIENT_FLOW = "gradient_flow"
    GRADIENT_DESCENT = "gradient_descent"

def _check_tensor(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor):
        raise ValueError(f"{name}: expected a tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{name}: expected a real floating tensor, got dtype {x.dtype}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name}: expected finite values")


def _check_nonnegative(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
    return float(value)


def _check_symmetric(k: Tensor, name: str) -> None:
    scale = float(k.abs().max()) if k.numel() else 0.0
    tol = 10.0 * math.sqrt(torch.finfo(k.dtype).eps) * scale
    if float((k - k.mT).abs().max()) > tol:
        raise ValueError(f"{name}: expected a symmetric matrix")


def _check_regression(
    k_train_train: Tensor, k_test_train: Tensor, y_train: Tensor, names: tuple[str, str]
) -> tuple[int, int]:
    """Validate ``K (n, n)``, ``K_* (m, n)``, ``y (n,) | (n, k)``; return ``(n, m)``."""
    kxx_name, ksx_name = names
    for x, name in ((k_train_train, kxx_name), (k_test_train, ksx_name), (y_train, "y_train")):
        _check_tensor(x, name)
    if k_train_train.ndim != 2 or k_train_train.shape[0] != k_train_train.shape[1]:
        raise ValueError(
            f"{kxx_name}: expected a square (n, n) matrix, got {tuple(k_train_train.shape)}"
        )
    n = k_train_train.shape[0]
    if n < 1:
        raise ValueError(f"{kxx_name}: expected at least one training point")
    if k_test_train.ndim != 2 or k_test_train.shape[1] != n:
        raise ValueError(
            f"{ksx_name}: expected shape (m, {n}) matching {kxx_name}, "
            f"got {tuple(k_test_train.shape)}"
        )
    if y_train.ndim not in (1, 2) or y_train.shape[0] != n:
        raise ValueError(
            f"y_train: expected shape ({n},) or ({n}, k) matching {kxx_name}, "
            f"got {tuple(y_train.shape)}"
        )
    _check_symmetric(k_train_train, kxx_name)
    return n, k_test_train.shape[0]


def _common_dtype(*tensors: Tensor) -> torch.dtype:
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    return dtype


def _cholesky(k: Tensor, shift: float, name: str, hint: str) -> Tensor:
    r"""Lower Cholesky factor of :math:`K + \text{shift}\, I`; a ``ValueError`` if not PD."""
    a = 0.5 * (k + k.mT)
    if shift > 0:
        a = a + shift * torch.eye(a.shape[0], dtype=a.dtype, device=a.device)
    factor, info = torch.linalg.cholesky_ex(a)
    if int(info) != 0:
        raise ValueError(
            f"{name}: the matrix is not positive definite (Cholesky fails at leading minor "
            f"{int(info)}); {hint}"
        )
    return factor


# ----------------------------------------------------------------------------- GP / NNGP


def nngp_posterior(
    k_train_train: Tensor,
    k_test_train: Tensor,
    y_train: Tensor,
    *,
    k_test_test: Tensor | None = None,
    noise_var: float = 0.0,
    jitter: float = 0.0,
) -> tuple[Tensor, Tensor | None]:
    r"""Gaussian-process posterior of :math:`f(x_*)` given :math:`y = f(X) + \varepsilon`.

    For a prior :math:`f \sim \mathcal{GP}(0, k)` (e.g. the NNGP kernel of an infinitely wide
    network) and noise :math:`\varepsilon \sim \mathcal N(0, \sigma^2 I)`,

    .. math::
        \bar f_* = K_* (K + \sigma^2 I)^{-1} y, \qquad
        \operatorname{cov}(f_*) = K_{**} - K_* (K + \sigma^2 I)^{-1} K_*^\top

    (Rasmussen & Williams 2006, eqs. (2.22)-(2.24); for one test point (2.25)-(2.26)), computed
    with the Cholesky factor :math:`L L^\top = K + (\sigma^2 + \delta) I` (their Algorithm 2.1):
    mean :math:`K_* L^{-\top} L^{-1} y`, covariance :math:`K_{**} - V^\top V` with
    :math:`V = L^{-1} K_*^\top`. ``noise_var`` :math:`\sigma^2` is the observation noise of the
    model; ``jitter`` :math:`\delta` is a numerical regulariser; both are simply added to the
    diagonal. The covariance is that of the latent :math:`f(x_*)` (add :math:`\sigma^2 I` for
    noisy test targets). Each column of a 2-D ``y_train`` is an independent output sharing the
    kernel, so the covariance is common to all columns.

    Args:
        k_train_train: ``(n, n)`` symmetric :math:`K(X, X)`.
        k_test_train: ``(m, n)`` :math:`K(x_*, X)`.
        y_train: ``(n,)`` or ``(n, k)`` targets.
        k_test_test: optional ``(m, m)`` symmetric :math:`K(x_*, x_*)`; the covariance is returned
            only when it is given.
        noise_var: :math:`\sigma^2 \ge 0`.
        jitter: :math:`\delta \ge 0`.

    Returns:
        ``(mean, cov)``: mean ``(m,)`` or ``(m, k)`` like ``y_train``; ``cov`` ``(m, m)`` or
        ``None``. Dtype: the promoted dtype of the inputs.

    Raises:
        ValueError: on mismatched shapes, non-finite or non-symmetric kernels, negative
            ``noise_var``/``jitter``, or if :math:`K + (\sigma^2 + \delta) I` is not positive
            definite (then increase ``noise_var`` or ``jitter``).
    """
    names = ("k_train_train", "k_test_train")
    n, m = _check_regression(k_train_train, k_test_train, y_train, names)
    noise_var = _check_nonnegative(noise_var, "noise_var")
    jitter = _check_nonnegative(jitter, "jitter")
    tensors = [k_train_train, k_test_train, y_train]
    if k_test_test is not None:
        _check_tensor(k_test_test, "k_test_test")
        if k_test_test.shape != (m, m):
            raise ValueError(
                f"k_test_test: expected shape ({m}, {m}) matching k_test_train, "
                f"got {tuple(k_test_test.shape)}"
            )
        _check_symmetric(k_test_test, "k_test_test")
        tensors.append(k_test_test)
    dtype = _common_dtype(*tensors)
    factor = _cholesky(
        k_train_train.to(dtype),
        noise_var + jitter,
        "k_train_train",
        "increase noise_var or jitter",
    )
    k_star = k_test_train.to(dtype)
    alpha = torch.cholesky_solve(y_train.to(dtype).reshape(n, -1), factor)
    mean = (k_star @ alpha).reshape(m, *y_train.shape[1:])
    if k_test_test is None:
        return mean, None
    v = torch.linalg.solve_triangular(factor, k_star.mT, upper=False)  # (n, m)
    explained = v.mT @ v
    cov = k_test_test.to(dtype) - 0.5 * (explained + explained.mT)
    return mean, cov


def kernel_ridge(
    k_train_train: Tensor, k_test_train: Tensor, y_train: Tensor, *, ridge: float
) -> Tensor:
    r"""Kernel ridge regression :math:`\hat f(x_*) = K_* (K + \lambda I)^{-1} y`.

    The minimiser of :math:`\sum_i (f(x_i) - y_i)^2 + \lambda \|f\|_{\mathcal H_k}^2` over the
    RKHS of :math:`k`, by the representer theorem (Schölkopf & Smola 2002); it equals the
    GP posterior mean with :math:`\sigma^2 = \lambda` (:func:`nngp_posterior`). Solved with the
    Cholesky factor of :math:`K + \lambda I`. :math:`\lambda = 0` gives kernel interpolation and
    requires :math:`K` positive definite.

    Args:
        k_train_train: ``(n, n)`` symmetric :math:`K(X, X)`.
        k_test_train: ``(m, n)`` :math:`K(x_*, X)`.
        y_train: ``(n,)`` or ``(n, k)`` targets.
        ridge: :math:`\lambda \ge 0` (note: not divided by :math:`n`).

    Returns:
        ``(m,)`` or ``(m, k)`` predictions, in the promoted dtype of the inputs.

    Raises:
        ValueError: on mismatched shapes, non-finite or non-symmetric kernels, ``ridge < 0``, or
            if :math:`K + \lambda I` is not positive definite.
    """
    names = ("k_train_train", "k_test_train")
    n, m = _check_regression(k_train_train, k_test_train, y_train, names)
    ridge = _check_nonnegative(ridge, "ridge")
    dtype = _common_dtype(k_train_train, k_test_train, y_train)
    factor = _cholesky(k_train_train.to(dtype), ridge, "k_train_train", "use a positive ridge")
    alpha = torch.cholesky_solve(y_train.to(dtype).reshape(n, -1), factor)
    return (k_test_train.to(dtype) @ alpha).reshape(m, *y_train.shape[1:])


# ----------------------------------------------------------------------------- NTK dynamics


def _check_times(t: float | Tensor) -> tuple[Tensor, bool]:
    """Times as a float64 ``(T,)`` tensor and whether ``t`` was a scalar."""
    if isinstance(t, Tensor):
        if t.ndim > 1 or t.is_complex() or t.dtype == torch.bool:
            raise ValueError(f"t: expected a real scalar or a 1-D tensor of times, got {t!r}")
        times = t.detach().to(torch.float64).reshape(-1)
        scalar = t.ndim == 0
    elif isinstance(t, int | float) and not isinstance(t, bool):
        times = torch.tensor([float(t)], dtype=torch.float64)
        scalar = True
    else:
        raise ValueError(f"t: expected a number or a tensor of times, got {t!r}")
    if bool(torch.isnan(times).any()) or bool((times < 0).any()):
        raise ValueError(f"t: expected times >= 0 (math.inf allowed), got {t!r}")
    return times, scalar


def ntk_predictor(
    ntk_train_train: Tensor,
    ntk_test_train: Tensor,
    y_train: Tensor,
    *,
    t: float | Tensor,
    learning_rate: float = 1.0,
    f0_train: Tensor | None = None,
    f0_test: Tensor | None = None,
    rcond: float | None = None,
    dynamics: Dynamics = Dynamics.GRADIENT_FLOW,
) -> tuple[Tensor, Tensor]:
    r"""Outputs of a network trained by gradient flow (or descent) in the linearised (NTK) regime.

    Gradient flow :math:`\dot\theta = -\eta \nabla_\theta L` on
    :math:`L(\theta) = \tfrac12 \sum_{i=1}^n |f(x_i) - y_i|^2` with a constant kernel
    :math:`\Theta` gives the linear ODE :math:`\dot f_t(X) = -\eta\,\Theta\,(f_t(X) - Y)`,
    :math:`\dot f_t(x) = -\eta\,\Theta(x, X)(f_t(X) - Y)`, solved by

    .. math::
        f_t(X) = Y + e^{-\eta\Theta t}\big(f_0(X) - Y\big), \qquad
        f_t(x) = f_0(x) + \Theta(x, X)\,\Theta^{-1}\big(I - e^{-\eta\Theta t}\big)
                 \big(Y - f_0(X)\big)

    (Jacot et al. 2018; Lee et al. 2019; a loss averaged over the :math:`n` samples
    corresponds to ``learning_rate / n``). With the eigendecomposition
    :math:`\Theta = \sum_l \lambda_l v_l v_l^\top` both are evaluated stably as
    :math:`e^{-\eta\lambda_l t}` and :math:`\Theta^{-1}(I - e^{-\eta\Theta t}) \to
    \sum_l \lambda_l^{-1}(1 - e^{-\eta\lambda_l t})\, v_l v_l^\top`, using ``expm1``.
    Eigen-directions with :math:`|\lambda_l| \le \text{rcond}\cdot\max_l|\lambda_l|` are treated as
    exact null directions of a positive semi-definite kernel: they do not move at any time (for a
    PSD joint kernel :math:`\Theta v = 0` implies :math:`\Theta(x, X) v = 0`). Hence
    ``t = math.inf`` gives :math:`f_\infty(X) = Y + P_0 (f_0(X) - Y)` and
    :math:`f_\infty(x) = f_0(x) + \Theta(x, X)\,\Theta^{+}(Y - f_0(X))` with the pseudo-inverse
    :math:`\Theta^+` over the retained eigenvalues and :math:`P_0` the projector on the null
    space; for positive-definite :math:`\Theta` training outputs interpolate :math:`Y` and, with
    :math:`f_0 = 0`, test outputs equal kernel regression :math:`\Theta(x, X)\Theta^{-1} Y`.

    ``dynamics=Dynamics.GRADIENT_DESCENT``: ``t`` counts steps :math:`k` of gradient descent
    :math:`\theta_{k+1} = \theta_k - \eta \nabla L(\theta_k)` on the linearised model, and
    :math:`e^{-\eta\lambda t}` becomes :math:`(1 - \eta\lambda)^k`:

    .. math::
        f_k(X) = Y + (I - \eta\Theta)^k \big(f_0(X) - Y\big), \qquad
        f_k(x) = f_0(x) + \Theta(x, X)\,\Theta^{-1}\big(I - (I - \eta\Theta)^k\big)
                 \big(Y - f_0(X)\big),

    which converges iff :math:`\eta \lambda_{\max} < 2`. Comparing a network trained by
    gradient descent with this form removes the :math:`O(\eta)` discretisation gap between
    descent and flow.

    Vector outputs: with a 2-D kernel each column of ``y_train`` evolves independently under the
    same :math:`\Theta` (e.g. the ``trace=True`` NTK). A 4-D kernel ``(n, n, k, k)`` (the full
    empirical NTK of a ``k``-output network) couples the outputs; it is flattened to
    :math:`(nk, nk)` with index :math:`(i, a) \mapsto ik + a`.

    Args:
        ntk_train_train: ``(n, n)`` or ``(n, n, k, k)`` symmetric PSD :math:`\Theta(X, X)`.
        ntk_test_train: ``(m, n)`` or ``(m, n, k, k)`` :math:`\Theta(x_*, X)`.
        y_train: ``(n,)`` or ``(n, k)`` targets (``(n, k)`` for a 4-D kernel).
        t: time :math:`t \ge 0` (``math.inf`` allowed), or a 1-D tensor of times.
        learning_rate: :math:`\eta > 0`.
        f0_train: network outputs at initialisation on :math:`X`, shape of ``y_train``
            (default zeros).
        f0_test: outputs at initialisation on :math:`x_*`, ``(m,)`` or ``(m, k)``
            (default zeros).
        rcond: relative eigenvalue cut-off (default :math:`n \cdot \epsilon` of the dtype, with
            :math:`n` the matrix size).
        dynamics: :class:`Dynamics`: continuous gradient flow (``t`` a time) or gradient
            descent (``t`` a whole number of steps).

    Returns:
        ``(f_train, f_test)``: ``(n, ...)`` and ``(m, ...)`` with the trailing shape of
        ``y_train``; for a 1-D tensor ``t`` of length ``T`` a leading time axis is added:
        ``(T, n, ...)`` and ``(T, m, ...)``. Dtype: the promoted dtype of the inputs.

    Raises:
        ValueError: on mismatched shapes, a non-symmetric kernel or one with an eigenvalue below
            :math:`-\text{rcond}\cdot\max|\lambda|` (not PSD; compute it in float64 or raise
            ``rcond``), ``t < 0`` or NaN, ``learning_rate <= 0`` or ``rcond`` outside
            :math:`[0, 1)`; for gradient descent, ``t`` not a whole number or ``math.inf``, or
            an unstable step :math:`\eta\lambda_{\max} \ge 2` with ``t = inf``.
    """
    if not isinstance(dynamics, Dynamics):
        raise ValueError(f"dynamics: expected a Dynamics, got {dynamics!r}")
    for x, name in (
        (ntk_train_train, "ntk_train_train"),
        (ntk_test_train, "ntk_test_train"),
        (y_train, "y_train"),
    ):
        _check_tensor(x, name)
    if ntk_train_train.ndim == 4:
        theta, theta_star, y, m = _flatten_output_kernels(ntk_train_train, ntk_test_train, y_train)
    else:
        m = _check_regression(
            ntk_train_train, ntk_test_train, y_train, ("ntk_train_train", "ntk_test_train")
        )[1]
        theta, theta_star = ntk_train_train, ntk_test_train
        y = y_train.reshape(y_train.shape[0], -1)
    out_shape = y_train.shape[1:]
    n = y_train.shape[0]
    times, scalar_t = _check_times(t)
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, int | float):
        raise ValueError(f"learning_rate: expected a finite number > 0, got {learning_rate!r}")
    if not (math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate: expected a finite number > 0, got {learning_rate!r}")
    tensors = [ntk_train_train, ntk_test_train, y_train]
    f0_train_ = _check_initial(f0_train, "f0_train", (n, *out_shape), tensors)
    f0_test_ = _check_initial(f0_test, "f0_test", (m, *out_shape), tensors)
    dtype = _common_dtype(*tensors)
    if rcond is None:
        rcond = theta.shape[0] * torch.finfo(dtype).eps
    elif isinstance(rcond, bool) or not isinstance(rcond, int | float) or not 0 <= rcond < 1:
        raise ValueError(f"rcond: expected a number in [0, 1), got {rcond!r}")

    theta = theta.to(dtype)
    evals, evecs = torch.linalg.eigh(0.5 * (theta + theta.mT))
    cutoff = rcond * float(evals.abs().max())
    if float(evals.min()) < -cutoff:
        raise ValueError(
            f"ntk_train_train: expected a positive semi-definite kernel, found eigenvalue "
            f"{float(evals.min()):.3e} < -rcond * max|eigenvalue| = {-cutoff:.3e}; compute the "
            "kernel in float64 or raise rcond"
        )
    active = evals > cutoff
    lam = torch.where(active, evals, torch.ones_like(evals))
    tt = times.to(dtype=dtype, device=lam.device)[:, None]
    if dynamics is Dynamics.GRADIENT_FLOW:
        rate = learning_rate * lam * tt  # (T, n)
        decay = torch.where(active, torch.exp(-rate), torch.ones_like(rate))  # e^{-eta lam t}
        gain = torch.where(active, -torch.expm1(-rate) / lam, torch.zeros_like(rate))
    else:
        finite = tt[torch.isfinite(tt)]
        if bool((finite != torch.round(finite)).any()):
            raise ValueError("t: expected whole numbers of steps with Dynamics.GRADIENT_DESCENT")
        step = learning_rate * lam
        step_max = float(torch.where(active, step, torch.zeros_like(step)).max())
        if bool(torch.isinf(tt).any()) and step_max >= 2.0:
            raise ValueError(
                f"learning_rate: gradient descent diverges, eta * lambda_max = {step_max:.3g} >= 2"
            )
        base = 1.0 - step  # (n,)
        # (1 - eta lam)^k, accurately via expm1/log1p where the base is positive
        log_base = torch.log1p(-torch.clamp(step, max=1.0 - 1e-300))
        expm1 = torch.expm1(tt * log_base)  # (1 - eta lam)^k - 1 for base > 0
        power = torch.where(base > 0, expm1 + 1.0, torch.pow(base, tt))
        one_minus = torch.where(base > 0, -expm1, 1.0 - power)
        power = torch.nan_to_num(power, nan=0.0)  # (<1)^inf
        one_minus = torch.nan_to_num(one_minus, nan=1.0)
        decay = torch.where(active, power, torch.ones_like(power))
        gain = torch.where(active, one_minus / lam, torch.zeros_like(power))

    y = y.to(dtype)
    f0x = torch.zeros_like(y) if f0_train_ is None else f0_train_.to(dtype).reshape(y.shape)
    residual = evecs.mT @ (f0x - y)  # V^T (f0(X) - Y), (N, c)
    f_train = y + evecs @ (decay[:, :, None] * residual)  # (T, N, c)
    projected = theta_star.to(dtype) @ evecs  # Theta(x, X) V, (M, N)
    f0s = (
        torch.zeros(projected.shape[0], y.shape[1], dtype=dtype, device=y.device)
        if f0_test_ is None
        else f0_test_.to(dtype).reshape(projected.shape[0], y.shape[1])
    )
    f_test = f0s - projected @ (gain[:, :, None] * residual)  # (T, M, c)
    f_train = f_train.reshape(-1, n, *out_shape)
    f_test = f_test.reshape(-1, m, *out_shape)
    if scalar_t:
        return f_train[0], f_test[0]
    return f_train, f_test


def _check_initial(
    f0: Tensor | None, name: str, shape: tuple[int, ...], tensors: list[Tensor]
) -> Tensor | None:
    if f0 is None:
        return None
    _check_tensor(f0, name)
    if tuple(f0.shape) != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {tuple(f0.shape)}")
    tensors.append(f0)
    return f0


def _flatten_output_kernels(
    ntk_train_train: Tensor, ntk_test_train: Tensor, y_train: Tensor
) -> tuple[Tensor, Tensor, Tensor, int]:
    r"""``(n, n, k, k), (m, n, k, k), (n, k)`` -> ``(nk, nk), (mk, nk), (nk, 1)``."""
    n, n_, k, k_ = ntk_train_train.shape
    if n != n_ or k != k_ or n < 1:
        raise ValueError(
            "ntk_train_train: expected a square (n, n) or (n, n, k, k) kernel, "
            f"got {tuple(ntk_train_train.shape)}"
        )
    if ntk_test_train.ndim != 4 or ntk_test_train.shape[1:] != (n, k, k):
        raise ValueError(
            f"ntk_test_train: expected shape (m, {n}, {k}, {k}) matching ntk_train_train, "
            f"got {tuple(ntk_test_train.shape)}"
        )
    if y_train.shape != (n, k):
        raise ValueError(
            f"y_train: expected shape ({n}, {k}) matching ntk_train_train, "
            f"got {tuple(y_train.shape)}"
        )
    m = ntk_test_train.shape[0]
    theta = ntk_train_train.permute(0, 2, 1, 3).reshape(n * k, n * k)
    _check_symmetric(theta, "ntk_train_train")
    theta_star = ntk_test_train.permute(0, 2, 1, 3).reshape(m * k, n * k)
    return theta, theta_star, y_train.reshape(n * k, 1), m
