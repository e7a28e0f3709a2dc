r"""The loss landscape: Hessian-vector products, sharpness, and slices of the loss.

For a loss :math:`L : \mathbb R^p \to \mathbb R` of the (flattened) parameters :math:`\theta`:

* :func:`hessian_vector_product` computes :math:`H(\theta) v = \nabla^2 L(\theta)\, v` without
  forming :math:`H`, as the directional derivative of the gradient,
  :math:`H v = \frac{d}{d\varepsilon} \nabla L(\theta + \varepsilon v)|_{\varepsilon = 0}`
  (forward-over-reverse: a ``torch.func.jvp`` of ``torch.func.grad``; Pearlmutter 1994);
* :func:`top_hessian_eigenvalues` finds the largest eigenvalues of :math:`H` from products
  :math:`Hv` alone, by the Lanczos iteration (Lanczos 1950; Golub & Van Loan, *Matrix
  Computations*, §10.1) or by power iteration. The largest, :math:`\lambda_{\max}(H)`, is the
  **sharpness** (:func:`sharpness`). Gradient descent :math:`\theta_{k+1} = \theta_k - \eta
  \nabla L(\theta_k)` on the quadratic :math:`\frac12 \theta^\top H \theta` is stable iff
  :math:`\lambda_{\max}(H) \le 2/\eta`; on neural-network losses full-batch gradient descent
  drives the sharpness up to :math:`2/\eta` and then operates at the **edge of stability**
  (Cohen, Kaur, Li, Kolter & Talwalkar 2021);
* :func:`loss_along_line` and :func:`loss_on_plane` evaluate :math:`L(\theta + t d)` on a 1-D
  slice (e.g. the linear interpolation between two parameter points, Goodfellow, Vinyals & Saxe
  2015) and :math:`L(\theta + s d_1 + t d_2)` on a 2-D slice (Li, Xu, Taylor, Studer & Goldstein
  2018).

:func:`flatten_parameters` and :func:`parameter_loss` turn a ``torch.nn.Module`` and a data set
into the pair (:math:`\theta`, :math:`L`) these functions take.

References:
    J. Cohen, S. Kaur, Y. Li, J. Z. Kolter & A. Talwalkar, "Gradient descent on neural networks
    typically occurs at the edge of stability", ICLR 2021;
    C. Lanczos, "An iteration method for the solution of the eigenvalue problem of linear
    differential and integral operators", J. Res. Nat. Bur. Standards 45 (1950);
    B. A. Pearlmutter, "Fast exact multiplication by the Hessian", Neural Comput. 6 (1994);
    I. Goodfellow, O. Vinyals & A. Saxe, "Qualitatively characterizing neural network
    optimization problems", ICLR 2015;
    H. Li, Z. Xu, G. Taylor, C. Studer & T. Goldstein, "Visualizing the loss landscape of neural
    nets", NeurIPS 2018.
"""

from __future__ import annotations

import enum
import warnings
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, jvp

from mathdl._validation import check_positive_int, check_real
from mathdl.training._two_layer import Loss

__all__ = [
    "EigenMethod",
    "HVPMode",
    "flatten_parameters",
    "hessian_vector_product",
    "loss_along_line",
    "loss_on_plane",
    "parameter_loss",
    "sharpness",
    "top_hessian_eigenvalues",
]

ScalarFunction = Callable[[Tensor], Tensor]


class EigenMethod(enum.Enum):
    r"""How :func:`top_hessian_eigenvalues` finds eigenvalues.

    ``LANCZOS``: the Lanczos iteration with full reorthogonalisation; the Ritz values of the
    Krylov space :math:`\mathcal K_j(H, v_0)` approximate the *largest algebraic* eigenvalues
    from below, exactly once :math:`j = p`. ``POWER``: power iteration
    :math:`v \leftarrow Hv/|Hv|` with the Rayleigh quotient; it converges to the eigenvalue of
    largest *modulus* (the sharpness when :math:`\lambda_{\max} > |\lambda_{\min}|`), one
    eigenvalue only, at the rate :math:`|\lambda_2/\lambda_1|`.
    """

    LANCZOS = "lanczos"
    POWER = "power"


class HVPMode(enum.Enum):
    r"""How :func:`hessian_vector_product` differentiates.

    ``FORWARD_OVER_REVERSE``: ``torch.func.jvp(torch.func.grad(L), (theta,), (v,))``, a
    forward-mode directional derivative of the reverse-mode gradient (Pearlmutter 1994's
    :math:`\mathcal R\{\nabla L\}`); needs a ``torch.func``-transformable :math:`L`.
    ``REVERSE_OVER_REVERSE``: double back-propagation, :math:`Hv = \nabla_\theta (\nabla
    L(\theta)^\top v)` with ``torch.autograd.grad(..., create_graph=True)``; the same numbers
    (to rounding), and on CPU for small models about 3x faster because it avoids
    ``torch.func``'s per-call dispatch overhead.
    """

    FORWARD_OVER_REVERSE = "forward_over_reverse"
    REVERSE_OVER_REVERSE = "reverse_over_reverse"


def _check_function(function: object) -> None:
    if not callable(function):
        raise ValueError(f"function: expected a callable theta -> scalar loss, got "
                         f"{type(function).__name__}")


def _check_vector(v: object, name: str, like: Tensor | None = None) -> Tensor:
    if not isinstance(v, Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor, got {type(v).__name__}")
    if like is None:
        if v.ndim != 1 or v.shape[0] < 1:
            raise ValueError(f"{name}: expected a non-empty 1-D tensor (p,), got shape "
                             f"{tuple(v.shape)}")
        if not v.is_floating_point():
            raise ValueError(f"{name}: expected a floating dtype, got {v.dtype}")
    elif v.shape != like.shape or v.dtype != like.dtype or v.device != like.device:
        raise ValueError(f"{name}: expected shape {tuple(like.shape)}, dtype {like.dtype} on "
                         f"{like.device} like point, got shape {tuple(v.shape)}, dtype {v.dtype} "
                         f"on {v.device}")
    return v


def _check_coefficients(c: object, name: str, like: Tensor) -> Tensor:
    if isinstance(c, Tensor):
        if c.ndim != 1 or c.shape[0] < 1:
            raise ValueError(f"{name}: expected a non-empty 1-D tensor, got shape "
                             f"{tuple(c.shape)}")
        c = c.to(dtype=like.dtype, device=like.device)
    else:
        try:
            c = torch.as_tensor(c, dtype=like.dtype, device=like.device)
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(f"{name}: expected a 1-D sequence of numbers, got {c!r}") from err
        if c.ndim != 1 or c.shape[0] < 1:
            raise ValueError(f"{name}: expected a non-empty 1-D sequence of numbers, got {c!r}")
    if not bool(torch.isfinite(c).all()):
        raise ValueError(f"{name}: expected finite numbers")
    return c


def flatten_parameters(model: nn.Module) -> Tensor:
    r"""The parameters of ``model`` as one vector :math:`\theta \in \mathbb R^p`, concatenated in
    the order of ``model.named_parameters()`` (each flattened row-major); a detached copy.

    Raises:
        ValueError: if ``model`` is not a module with at least one parameter, or its parameters
            differ in dtype or device.
    """
    params = _parameters(model)
    return torch.cat([p.detach().reshape(-1) for _, p in params]).clone()


def _parameters(model: object) -> list[tuple[str, nn.Parameter]]:
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    params = list(model.named_parameters())
    if not params:
        raise ValueError("model: expected at least one parameter")
    first = params[0][1]
    for name, p in params:
        if p.dtype != first.dtype or p.device != first.device:
            raise ValueError(f"model: parameter {name!r} has dtype {p.dtype} on {p.device}, "
                             f"expected {first.dtype} on {first.device} like the others")
    return params


def parameter_loss(model: nn.Module, x: Tensor, y: Tensor, *,
                   loss: Loss = Loss.HALF_MSE) -> ScalarFunction:
    r"""The training loss as a function of the flattened parameters,
    :math:`\theta \mapsto L(\theta) = \ell(f_\theta(X), y)`.

    ``theta`` is split in the layout of :func:`flatten_parameters` and substituted for the
    module's parameters with ``torch.func.functional_call``; the module itself is not changed,
    so the function can be differentiated with ``torch.func`` (as :func:`hessian_vector_product`
    does) at any :math:`\theta`. With ``Loss.HALF_MSE`` this is the :math:`R` minimised by
    :func:`~mathdl.training.train_gradient_descent`, so its Hessian at the current parameters
    is the one governing that trainer's stability.

    Args:
        model: a module mapping ``(n, d)`` inputs to ``(n,)`` or ``(n, 1)`` outputs.
        x: ``(n, d)`` inputs.
        y: ``(n,)`` targets, dtype of ``x``.
        loss: :class:`~mathdl.training.Loss`.

    Returns:
        a callable ``theta: (p,) -> ()`` (a 0-d tensor).

    Raises:
        ValueError: on a model without parameters, malformed data, or (when called) a ``theta``
            of the wrong shape.
    """
    params = _parameters(model)
    if not isinstance(x, Tensor) or x.ndim != 2 or not x.is_floating_point():
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x: expected a floating tensor of shape (n, d), got {shape}")
    n = x.shape[0]
    if not isinstance(y, Tensor) or y.shape != (n,) or y.dtype != x.dtype:
        shape = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
        raise ValueError(f"y: expected a tensor of shape ({n},) and dtype {x.dtype}, got {shape}")
    if not isinstance(loss, Loss):
        raise ValueError(f"loss: expected a Loss, got {loss!r}")
    names = [name for name, _ in params]
    shapes = [p.shape for _, p in params]
    sizes = [p.numel() for _, p in params]
    total = sum(sizes)

    def function(theta: Tensor) -> Tensor:
        if theta.shape != (total,):
            raise ValueError(f"theta: expected shape ({total},), got {tuple(theta.shape)}")
        chunks = torch.split(theta, sizes)
        values = {name: c.reshape(s) for name, c, s in zip(names, chunks, shapes, strict=True)}
        out = functional_call(model, values, (x,))
        return loss(out.reshape(-1), y)

    return function


def hessian_vector_product(function: ScalarFunction, point: Tensor, vector: Tensor, *,
                           mode: HVPMode = HVPMode.FORWARD_OVER_REVERSE) -> Tensor:
    r"""The Hessian-vector product :math:`\nabla^2 L(\theta)\, v`.

    By default computed forward-over-reverse, :math:`Hv = \partial_\varepsilon \nabla
    L(\theta + \varepsilon v)|_0` = ``jvp(grad(L), (theta,), (v,))`` (Pearlmutter 1994): one
    gradient evaluation carried with a forward-mode tangent, :math:`O(1)` times the cost of
    :math:`\nabla L`, never forming the :math:`p \times p` Hessian. ``mode`` selects double
    back-propagation instead (:class:`HVPMode`).

    Args:
        function: :math:`L`, a ``torch.func``-transformable map ``(p,) -> ()`` (e.g. from
            :func:`parameter_loss`).
        point: :math:`\theta`, ``(p,)``, floating.
        vector: :math:`v`, ``(p,)``, dtype and device of ``point``.
        mode: :class:`HVPMode`.

    Returns:
        ``(p,)``, :math:`H(\theta) v`.

    Raises:
        ValueError: if ``function`` is not callable or the tensors are malformed.
    """
    _check_function(function)
    point = _check_vector(point, "point")
    vector = _check_vector(vector, "vector", like=point)
    _check_mode(mode)
    return _hvp(function, point.detach(), vector.detach(), mode)


def _check_mode(mode: object) -> None:
    if not isinstance(mode, HVPMode):
        raise ValueError(f"mode: expected an HVPMode, got {mode!r}")


def _hvp(function: ScalarFunction, point: Tensor, vector: Tensor, mode: HVPMode) -> Tensor:
    if mode is HVPMode.FORWARD_OVER_REVERSE:
        with warnings.catch_warnings():
            # torch's forward-mode AD scripts its decompositions on first use and warns that
            # torch.jit.script is deprecated: an upstream notice, not about this call
            warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated",
                                    category=DeprecationWarning)
            return jvp(grad(function), (point,), (vector,))[1]
    with torch.enable_grad():
        theta = point.clone().requires_grad_(True)
        (gradient,) = torch.autograd.grad(function(theta), theta, create_graph=True)
        (product,) = torch.autograd.grad(gradient, theta, grad_outputs=vector,
                                         allow_unused=True)
    return torch.zeros_like(point) if product is None else product.detach()


def _lanczos(matvec: Callable[[Tensor], Tensor], start: Tensor, steps: int,
             generator: torch.Generator) -> Tensor:
    """Ritz values (ascending) of ``steps`` Lanczos steps with full reorthogonalisation.

    On breakdown (the Krylov space is invariant: its Ritz values are exact eigenvalues) the
    recurrence restarts from a fresh random vector orthogonal to the basis, with beta = 0, so
    that ``steps = p`` always yields the whole spectrum."""
    basis = [start / torch.linalg.norm(start)]
    alphas: list[Tensor] = []
    betas: list[Tensor] = []
    for j in range(steps):
        w = matvec(basis[j])
        alpha = torch.dot(w, basis[j])
        alphas.append(alpha)
        if j == steps - 1:
            break
        q = torch.stack(basis)
        w = w - q.T @ (q @ w)  # full reorthogonalisation (twice is enough: Kahan-Parlett)
        w = w - q.T @ (q @ w)
        beta = torch.linalg.norm(w)
        scale = max(float(torch.max(torch.abs(torch.stack(alphas)))), 1e-300)
        if beta <= 1e3 * torch.finfo(w.dtype).eps * scale:
            fresh = torch.randn(start.shape, generator=generator, dtype=start.dtype,
                                device=generator.device).to(start.device)
            fresh = fresh - q.T @ (q @ fresh)
            fresh = fresh - q.T @ (q @ fresh)
            betas.append(torch.zeros((), dtype=w.dtype, device=w.device))
            basis.append(fresh / torch.linalg.norm(fresh))
        else:
            betas.append(beta)
            basis.append(w / beta)
    t = torch.diag(torch.stack(alphas))
    if len(alphas) > 1:
        off = torch.stack(betas)
        t = t + torch.diag(off, 1) + torch.diag(off, -1)
    return torch.linalg.eigvalsh(t)


def _power(matvec: Callable[[Tensor], Tensor], start: Tensor, steps: int,
           tolerance: float) -> Tensor:
    v = start / torch.linalg.norm(start)
    value = torch.zeros((), dtype=start.dtype, device=start.device)
    for j in range(steps):
        w = matvec(v)
        new = torch.dot(v, w)  # Rayleigh quotient
        norm = torch.linalg.norm(w)
        if norm == 0:
            return new
        v = w / norm
        if j > 0 and torch.abs(new - value) <= tolerance * torch.abs(new):
            return new
        value = new
    return value


def top_hessian_eigenvalues(
    function: ScalarFunction,
    point: Tensor,
    *,
    k: int = 1,
    method: EigenMethod = EigenMethod.LANCZOS,
    iterations: int = 30,
    tolerance: float = 1e-8,
    mode: HVPMode = HVPMode.FORWARD_OVER_REVERSE,
    generator: torch.Generator,
) -> Tensor:
    r"""The ``k`` largest eigenvalues of the Hessian :math:`H = \nabla^2 L(\theta)`, from
    Hessian-vector products only.

    ``LANCZOS``: :math:`j` = ``min(iterations, p)`` steps of the Lanczos three-term recurrence
    :math:`\beta_{i+1} q_{i+1} = H q_i - \alpha_i q_i - \beta_i q_{i-1}` from a random unit
    :math:`q_1`, with full reorthogonalisation against :math:`q_1..q_i`; the eigenvalues of the
    tridiagonal :math:`T_j = \mathrm{tridiag}(\beta, \alpha, \beta)` (the Ritz values) are
    returned, the largest ``k`` first. By Cauchy interlacing each Ritz value lies below the
    corresponding eigenvalue, :math:`\theta_i^{(j)} \le \lambda_i`, and the extreme ones converge
    first (Kaniel-Paige); with :math:`j = p` they are exact (up to rounding; on breakdown, an
    invariant Krylov space, the recurrence restarts from a fresh random vector orthogonal to
    the basis). ``POWER``: power
    iteration :math:`v \leftarrow Hv/|Hv|` until the Rayleigh quotient changes by at most
    ``tolerance`` (relative) or ``iterations`` products; returns the eigenvalue of largest
    modulus (``k`` must be 1).

    Args:
        function: :math:`L`, a ``torch.func``-transformable map ``(p,) -> ()``.
        point: :math:`\theta`, ``(p,)``, floating.
        k: how many eigenvalues, ``1 <= k <= min(iterations, p)``.
        method: :class:`EigenMethod`.
        iterations: Lanczos steps / maximal power-iteration steps (Hessian-vector products).
        tolerance: relative stopping tolerance of the power iteration (> 0; unused by Lanczos).
        mode: :class:`HVPMode` of the Hessian-vector products.
        generator: source of the random start vector :math:`v_0 \sim \mathcal N(0, I_p)`
            (drawn on the generator's device in ``point``'s dtype).

    Returns:
        ``(k,)``, in decreasing order.

    Raises:
        ValueError: on malformed arguments, ``k`` larger than ``min(iterations, p)``, or
            ``k > 1`` with the power method.
    """
    _check_function(function)
    point = _check_vector(point, "point").detach()
    check_positive_int(k, "k")
    if not isinstance(method, EigenMethod):
        raise ValueError(f"method: expected an EigenMethod, got {method!r}")
    check_positive_int(iterations, "iterations")
    check_real(tolerance, "tolerance", positive=True)
    _check_mode(mode)
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator: expected a torch.Generator, got {generator!r}")
    p = point.shape[0]
    steps = min(iterations, p)
    if k > steps:
        raise ValueError(f"k: expected at most min(iterations, p) = {steps}, got {k}")
    if method is EigenMethod.POWER and k != 1:
        raise ValueError(f"k: the power method finds one eigenvalue, expected k = 1, got {k}")
    start = torch.randn(p, generator=generator, dtype=point.dtype, device=generator.device)
    start = start.to(point.device)

    def matvec(v: Tensor) -> Tensor:
        return _hvp(function, point, v, mode)

    if method is EigenMethod.POWER:
        return _power(matvec, start, iterations, tolerance).reshape(1)
    ritz = _lanczos(matvec, start, steps, generator)
    return torch.flip(ritz, (0,))[:k]


def sharpness(function: ScalarFunction, point: Tensor, *, iterations: int = 30,
              mode: HVPMode = HVPMode.FORWARD_OVER_REVERSE,
              generator: torch.Generator) -> float:
    r"""The sharpness :math:`\lambda_{\max}(\nabla^2 L(\theta))`, by ``iterations`` Lanczos
    steps (:func:`top_hessian_eigenvalues` with ``k=1``).

    Gradient descent with step :math:`\eta` is linearly stable at a minimum only if the
    sharpness is at most :math:`2/\eta`; Cohen et al. (2021) observe that it rises to
    :math:`2/\eta` during training and hovers there (edge of stability).

    Raises:
        ValueError: as :func:`top_hessian_eigenvalues`.
    """
    values = top_hessian_eigenvalues(function, point, k=1, iterations=iterations, mode=mode,
                                     generator=generator)
    return float(values[0])


def loss_along_line(function: ScalarFunction, point: Tensor, direction: Tensor,
                    coefficients: Tensor | list[float] | tuple[float, ...]) -> Tensor:
    r"""The 1-D slice :math:`t \mapsto L(\theta + t\, d)` at the given :math:`t`.

    With ``point`` :math:`\theta_a` and ``direction`` :math:`\theta_b - \theta_a`, :math:`t \in
    [0, 1]` is the linear interpolation between two parameter points (Goodfellow, Vinyals &
    Saxe 2015). On a quadratic :math:`L` the slice is the parabola :math:`L(\theta) + t\,\nabla
    L(\theta)^\top d + \frac{t^2}{2} d^\top H d`.

    Args:
        function: :math:`L`, a map ``(p,) -> ()``.
        point: :math:`\theta`, ``(p,)``.
        direction: :math:`d`, ``(p,)`` like ``point``.
        coefficients: the :math:`t` values, 1-D (``T`` finite numbers).

    Returns:
        ``(T,)``, detached.

    Raises:
        ValueError: on malformed arguments.
    """
    _check_function(function)
    point = _check_vector(point, "point").detach()
    direction = _check_vector(direction, "direction", like=point).detach()
    t = _check_coefficients(coefficients, "coefficients", point)
    with torch.no_grad():
        return torch.stack([function(point + ti * direction).reshape(()) for ti in t])


def loss_on_plane(function: ScalarFunction, point: Tensor, direction1: Tensor,
                  direction2: Tensor,
                  coefficients1: Tensor | list[float] | tuple[float, ...],
                  coefficients2: Tensor | list[float] | tuple[float, ...]) -> Tensor:
    r"""The 2-D slice :math:`(s, t) \mapsto L(\theta + s\, d_1 + t\, d_2)` on a grid (Li, Xu,
    Taylor, Studer & Goldstein 2018).

    Args:
        function: :math:`L`, a map ``(p,) -> ()``.
        point: :math:`\theta`, ``(p,)``.
        direction1, direction2: :math:`d_1, d_2`, ``(p,)`` like ``point``.
        coefficients1: the :math:`s` values, 1-D (``S``).
        coefficients2: the :math:`t` values, 1-D (``T``).

    Returns:
        ``(S, T)``: entry :math:`(i, j)` is :math:`L(\theta + s_i d_1 + t_j d_2)`, detached.

    Raises:
        ValueError: on malformed arguments.
    """
    _check_function(function)
    point = _check_vector(point, "point").detach()
    d1 = _check_vector(direction1, "direction1", like=point).detach()
    d2 = _check_vector(direction2, "direction2", like=point).detach()
    s = _check_coefficients(coefficients1, "coefficients1", point)
    t = _check_coefficients(coefficients2, "coefficients2", point)
    with torch.no_grad():
        rows = [torch.stack([function(point + si * d1 + tj * d2).reshape(()) for tj in t])
                for si in s]
    return torch.stack(rows)
