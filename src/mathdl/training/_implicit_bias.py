r"""Reference solutions for implicit-bias theorems: the hard-margin SVM and minimum-norm
interpolants.

* :func:`max_margin_classifier`: the hard-margin SVM through the origin,

  .. math::
      \hat w = \arg\min_w \tfrac12 |w|_2^2 \quad\text{s.t.}\quad y_i\, w \cdot x_i \ge 1,
      \qquad \hat w = \sum_i \alpha_i y_i x_i,\ \alpha \ge 0,

  solved through its dual :math:`\max_{\alpha \ge 0} \sum_i \alpha_i - \frac12 |\sum_i
  \alpha_i y_i x_i|^2` (a bound-constrained convex QP, L-BFGS-B) and polished on the support
  set by solving :math:`Z_S Z_S^\top \alpha_S = \mathbf 1` exactly. Gradient descent on the
  logistic loss converges in direction to :math:`\hat w / |\hat w|` (Soudry, Hoffer, Nacson,
  Gunasekar & Srebro, "The implicit bias of gradient descent on separable data", JMLR 19, 2018,
  Thm 3).
* :func:`logistic_gd_offset`: the vector :math:`\tilde w` of Soudry et al. (2018, Thm 3, eq. 8)
  in :math:`w(t) = \hat w \log t + \tilde w + o(1)`.
* :func:`min_l2_interpolant`: :math:`X^+ y = \arg\min\{|\beta|_2 : X\beta = y\}`, the limit of
  gradient descent on least squares from :math:`\beta_0 = 0` (e.g. Gunasekar et al. 2018, §2).
* :func:`woodworth_potential` and :func:`min_woodworth_interpolant`: the potential
  :math:`Q_\alpha` of Woodworth et al. (2020) and its minimiser under :math:`X\beta = y`, the
  limit of gradient flow on a diagonal linear network initialised at scale :math:`\alpha`.
* :func:`min_l1_interpolant`: :math:`\arg\min\{|\beta|_1 : X\beta = y\}` (basis pursuit, Chen,
  Donoho & Saunders 1998), a linear program; the :math:`\alpha \to 0` limit of diagonal linear
  networks (Woodworth et al., "Kernel and rich regimes in overparametrized models", COLT 2020).

All computations are in float64 (numpy/scipy); results are returned in the dtype of ``x``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import optimize
from torch import Tensor

__all__ = [
    "MaxMarginSolution",
    "logistic_gd_offset",
    "max_margin_classifier",
    "min_l1_interpolant",
    "min_l2_interpolant",
    "min_woodworth_interpolant",
    "woodworth_potential",
]


def _check_xy(x: object, y: object, *, labels: bool) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(x, Tensor) or x.ndim != 2 or not x.is_floating_point():
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x: expected a floating tensor of shape (n, d), got {shape}")
    n = x.shape[0]
    if n < 1 or x.shape[1] < 1:
        raise ValueError(f"x: expected n >= 1 rows and d >= 1 columns, got {tuple(x.shape)}")
    if not isinstance(y, Tensor) or y.shape != (n,):
        shape = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
        raise ValueError(f"y: expected a tensor of shape ({n},), got {shape}")
    xs = x.detach().to("cpu", torch.float64).numpy()
    ys = y.detach().to("cpu", torch.float64).numpy()
    if not (np.all(np.isfinite(xs))):
        raise ValueError("x: expected finite entries")
    if not (np.all(np.isfinite(ys))):
        raise ValueError("y: expected finite entries")
    if labels and not np.all(np.abs(ys) == 1):
        raise ValueError("y: expected labels in {-1, +1}")
    return xs, ys


def _out(a: np.ndarray, like: Tensor) -> Tensor:
    return torch.as_tensor(a, dtype=like.dtype, device=like.device)


@dataclass(frozen=True)
class MaxMarginSolution:
    r"""The hard-margin SVM :math:`\hat w = \sum_i \alpha_i y_i x_i` with
    :math:`\min_i y_i \hat w \cdot x_i = 1`.

    Attributes:
        weight: ``(d,)`` :math:`\hat w`.
        dual: ``(n,)`` the multipliers :math:`\alpha_i \ge 0` (zero off the support).
        support: ``(n,)`` bool, the support vectors (:math:`\alpha_i > 0`).
        margin: the geometric margin :math:`\gamma = 1/|\hat w|_2`.
    """

    weight: Tensor
    dual: Tensor
    support: Tensor
    margin: float


def max_margin_classifier(x: Tensor, y: Tensor, *, tol: float = 1e-10) -> MaxMarginSolution:
    r"""The hard-margin SVM through the origin (no bias),
    :math:`\hat w = \arg\min\{|w|_2 : y_i w \cdot x_i \ge 1\ \forall i\}`.

    Solves the dual QP :math:`\min_{\alpha \ge 0} \frac12 \alpha^\top G \alpha - \mathbf
    1^\top \alpha`, :math:`G_{ij} = y_i y_j x_i \cdot x_j`, by L-BFGS-B, then polishes on the
    support :math:`S = \{\alpha_i > 0\}` by solving :math:`G_{SS} \alpha_S = \mathbf 1`
    (complementary slackness), which makes the support margins exactly 1 to rounding.
    Reference: Vapnik 1998; its role as the limit direction of gradient descent on the
    logistic loss: Soudry et al., JMLR 2018, Thm 3.

    Args:
        x: ``(n, d)`` inputs.
        y: ``(n,)`` labels in :math:`\{-1, +1\}`.
        tol: KKT tolerance: the solution is accepted if :math:`\min_i y_i \hat w \cdot x_i
            \ge 1 - ` ``tol``.

    Returns:
        :class:`MaxMarginSolution` (tensors in the dtype and device of ``x``).

    Raises:
        ValueError: on malformed inputs, labels other than :math:`\pm 1`, a non-positive
            ``tol``, or data that are not linearly separable through the origin (the dual is
            unbounded).
    """
    xs, ys = _check_xy(x, y, labels=True)
    if not (isinstance(tol, float | int) and math.isfinite(tol) and tol > 0):
        raise ValueError(f"tol: expected a finite number > 0, got {tol!r}")
    z = ys[:, None] * xs
    n = z.shape[0]
    gram = z @ z.T
    scale = float(np.max(np.diag(gram)))
    if scale == 0:
        raise ValueError("x: the data are not linearly separable (all inputs are zero)")

    def objective(a: np.ndarray) -> tuple[float, np.ndarray]:
        g = gram @ a
        return 0.5 * float(a @ g) - float(a.sum()), g - 1.0

    res = optimize.minimize(objective, np.zeros(n), jac=True, method="L-BFGS-B",
                            bounds=[(0.0, None)] * n,
                            options={"ftol": 1e-16, "gtol": 1e-13, "maxiter": 50_000})
    alpha = np.maximum(res.x, 0.0)
    if not np.all(np.isfinite(alpha)) or alpha.sum() * scale > 1e12:
        raise ValueError("x, y: the data are not linearly separable through the origin")
    # Polish on the support by complementary slackness, keep it only if it is feasible.
    support = alpha > 1e-8 * max(alpha.max(), 1e-300)
    if support.any():
        sub = gram[np.ix_(support, support)]
        a_s, *_ = np.linalg.lstsq(sub, np.ones(int(support.sum())), rcond=None)
        if np.all(a_s > 0):
            polished = np.zeros(n)
            polished[support] = a_s
            if np.min(z @ (z.T @ polished)) >= 1 - tol:
                alpha = polished
    w = z.T @ alpha
    margins = z @ w
    if not np.min(margins) >= 1 - tol:
        raise ValueError("x, y: the data are not linearly separable through the origin "
                         f"(best min margin {np.min(margins):.3g} < 1)")
    return MaxMarginSolution(
        weight=_out(w, x), dual=_out(alpha, x),
        support=torch.as_tensor(alpha > 0, device=x.device),
        margin=1.0 / float(np.linalg.norm(w)),
    )


def logistic_gd_offset(x: Tensor, y: Tensor, solution: MaxMarginSolution, *,
                       learning_rate: float) -> Tensor:
    r"""The offset :math:`\tilde w` in the asymptotics :math:`w(k) = \hat w \log k + \tilde w +
    o(1)` of gradient descent :math:`w_{k+1} = w_k - \eta \nabla L(w_k)` on the mean logistic
    loss :math:`L(w) = \frac1n \sum_i \log(1 + e^{-y_i w \cdot x_i})` (Soudry et al., JMLR
    2018, Thm 3, eq. 8, with their :math:`\eta` replaced by :math:`\eta / n` for the mean):

    .. math::
        \frac{\eta}{n} \exp(-y_i x_i \cdot \tilde w) = \alpha_i, \qquad i \in S .

    When the support vectors do not span :math:`\mathbb R^d` the component of :math:`\tilde w`
    orthogonal to their span is not fixed by this equation (it depends on the initialisation);
    the minimum-norm solution is returned.

    Consequences: the loss satisfies :math:`k L(w_k) \to \sum_i \alpha_i / \eta = |\hat w|^2 /
    \eta`, and :math:`|w_k| - |\hat w| \log k` converges.

    Args:
        x, y: the data of :func:`max_margin_classifier`.
        solution: its result for ``x, y``.
        learning_rate: :math:`\eta > 0`.

    Returns:
        ``(d,)`` :math:`\tilde w` in the dtype of ``x``.

    Raises:
        ValueError: on malformed inputs or a ``solution`` whose shapes do not match.
    """
    xs, ys = _check_xy(x, y, labels=True)
    if not isinstance(solution, MaxMarginSolution):
        raise ValueError(f"solution: expected a MaxMarginSolution, got {type(solution).__name__}")
    if solution.dual.shape != (xs.shape[0],) or solution.weight.shape != (xs.shape[1],):
        raise ValueError("solution: its shapes do not match x")
    if not (isinstance(learning_rate, float | int) and math.isfinite(learning_rate)
            and learning_rate > 0):
        raise ValueError(f"learning_rate: expected a finite number > 0, got {learning_rate!r}")
    alpha = solution.dual.detach().to("cpu", torch.float64).numpy()
    support = alpha > 0
    z = (ys[:, None] * xs)[support]
    rhs = np.log(learning_rate / (xs.shape[0] * alpha[support]))
    offset, *_ = np.linalg.lstsq(z, rhs, rcond=None)
    return _out(offset, x)


def min_l2_interpolant(x: Tensor, y: Tensor) -> Tensor:
    r"""The minimum-Euclidean-norm solution :math:`X^+ y = \arg\min\{|\beta|_2 : X\beta = y\}`
    (the least-squares solution of least norm when :math:`X\beta = y` has no solution).

    It is the limit of gradient descent on :math:`\frac1{2n}|X\beta - y|^2` from
    :math:`\beta_0 = 0`: the iterates stay in the row space of :math:`X`, and :math:`X^+ y` is
    the only interpolant there (e.g. Gunasekar, Lee, Soudry & Srebro, ICML 2018, §2).

    Args:
        x: ``(n, p)`` design :math:`X`.
        y: ``(n,)`` targets.

    Returns:
        ``(p,)`` :math:`X^+ y`, computed by the SVD in float64, in the dtype of ``x``.

    Raises:
        ValueError: on malformed or non-finite inputs.
    """
    xs, ys = _check_xy(x, y, labels=False)
    beta, *_ = np.linalg.lstsq(xs, ys, rcond=None)
    return _out(beta, x)


def min_l1_interpolant(x: Tensor, y: Tensor) -> Tensor:
    r"""Basis pursuit: :math:`\arg\min\{|\beta|_1 : X\beta = y\}`.

    Solved as the linear program :math:`\min \mathbf 1^\top(u + v)` s.t.
    :math:`X(u - v) = y`, :math:`u, v \ge 0` (HiGHS via ``scipy.optimize.linprog``), with
    :math:`\beta = u - v`. Reference: Chen, Donoho & Saunders, SIAM J. Sci. Comput. 20 (1998);
    the :math:`\alpha \to 0` limit of gradient flow on diagonal linear networks: Woodworth et al.,
    COLT 2020, Thm 1.

    Args:
        x: ``(n, p)`` design :math:`X`.
        y: ``(n,)`` targets.

    Returns:
        ``(p,)`` a minimiser, in the dtype of ``x``.

    Raises:
        ValueError: on malformed inputs or if :math:`X\beta = y` has no solution.
    """
    xs, ys = _check_xy(x, y, labels=False)
    p = xs.shape[1]
    res = optimize.linprog(np.ones(2 * p), A_eq=np.hstack([xs, -xs]), b_eq=ys,
                           bounds=[(0, None)] * (2 * p), method="highs")
    if res.status != 0:
        raise ValueError(f"x, y: X beta = y has no solution ({res.message})")
    beta = res.x[:p] - res.x[p:]
    return _out(beta, x)


def woodworth_potential(beta: Tensor, alpha: float) -> Tensor:
    r"""The potential of Woodworth et al. (COLT 2020, Thm 1),

    .. math::
        Q_\alpha(\beta) = \alpha^2 \sum_i q(\beta_i / \alpha^2), \qquad
        q(z) = 2 - \sqrt{4 + z^2} + z \operatorname{arcsinh}(z / 2),

    whose minimiser under :math:`X\beta = y` is the limit of gradient flow on the diagonal
    linear network :math:`\beta = w_+^2 - w_-^2` from :math:`w_\pm(0) = \alpha \mathbf 1`.
    :math:`q(z) \approx z^2/4` for small :math:`z` (:math:`Q_\alpha \approx |\beta|_2^2 /
    (4\alpha^2)`, the kernel regime) and :math:`q(z) \approx |z| \log|z|` for large :math:`z`
    (:math:`Q_\alpha / \log(1/\alpha^2) \to |\beta|_1`, the rich regime).

    Args:
        beta: ``(..., p)`` floating tensor.
        alpha: the initialisation scale :math:`\alpha > 0`.

    Returns:
        ``(...)`` :math:`Q_\alpha(\beta)` (differentiable in ``beta``).

    Raises:
        ValueError: on a non-floating ``beta`` or a non-positive ``alpha``.
    """
    if not isinstance(beta, Tensor) or not beta.is_floating_point() or beta.ndim < 1:
        raise ValueError("beta: expected a floating tensor of shape (..., p)")
    if not (isinstance(alpha, float | int) and not isinstance(alpha, bool)
            and math.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha: expected a finite number > 0, got {alpha!r}")
    a2 = float(alpha) ** 2
    z = beta / a2
    return a2 * torch.sum(2 - torch.sqrt(4 + z**2) + z * torch.asinh(z / 2), dim=-1)


def _dual_residual(xs: np.ndarray, ys: np.ndarray, c: float, nu: np.ndarray) -> float:
    return float(np.max(np.abs(c * (xs @ np.sinh(xs.T @ nu)) - ys)))


def min_woodworth_interpolant(x: Tensor, y: Tensor, alpha: float, *,
                              tol: float = 1e-12, max_iter: int = 200) -> Tensor:
    r""":math:`\arg\min\{Q_\alpha(\beta) : X\beta = y\}` (Woodworth et al., COLT 2020, Thm 1).

    Since :math:`\nabla Q_\alpha(\beta) = \operatorname{arcsinh}(\beta / (2\alpha^2))`, the
    KKT conditions give :math:`\beta = 2\alpha^2 \sinh(X^\top \nu)` with :math:`\nu` the
    minimiser of the smooth convex dual
    :math:`\varphi(\nu) = 2\alpha^2 \sum_i \cosh((X^\top\nu)_i) - \nu^\top y`, found by
    damped Newton steps (Armijo backtracking) until :math:`|X\beta - y|_\infty \le`
    ``tol`` :math:`\cdot \max(1, |y|_\infty)`.

    Args:
        x: ``(n, p)`` design of full row rank.
        y: ``(n,)`` targets.
        alpha: the initialisation scale :math:`\alpha > 0`; small :math:`\alpha` (below about
            :math:`10^{-3}|\beta|`) makes :math:`\cosh` overflow float64.
        tol: residual tolerance.
        max_iter: Newton iterations.

    Returns:
        ``(p,)`` the minimiser, in the dtype of ``x``.

    Raises:
        ValueError: on malformed inputs, or if Newton's method did not converge (rank-deficient
            design, inconsistent system, or overflow at tiny ``alpha``).
    """
    xs, ys = _check_xy(x, y, labels=False)
    if not (isinstance(alpha, float | int) and not isinstance(alpha, bool)
            and math.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha: expected a finite number > 0, got {alpha!r}")
    c = 2.0 * float(alpha) ** 2
    nu = np.zeros(xs.shape[0])
    scale = max(1.0, float(np.max(np.abs(ys))))

    def phi(v: np.ndarray) -> float:
        return c * float(np.sum(np.cosh(xs.T @ v))) - float(v @ ys)

    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(max_iter):
            u = xs.T @ nu
            residual = c * (xs @ np.sinh(u)) - ys  # gradient of phi
            if np.max(np.abs(residual)) <= tol * scale:
                return _out(c * np.sinh(u), x)
            hess = c * (xs * np.cosh(u)) @ xs.T
            try:
                step = np.linalg.solve(hess, residual)
            except np.linalg.LinAlgError:
                break
            t, f0, slope = 1.0, phi(nu), float(residual @ step)
            if 1e-4 * slope > 1e-13 * (1.0 + abs(f0)):
                while t > 1e-12 and not phi(nu - t * step) <= f0 - 1e-4 * t * slope:
                    t /= 2
            else:
                # Near the optimum the decrease of phi is below its rounding error and Armijo's
                # test cannot be decided: backtrack on the gradient (the residual) instead.
                size = float(np.max(np.abs(residual)))
                while t > 1e-12 and not _dual_residual(xs, ys, c, nu - t * step) < size:
                    t /= 2
            nu = nu - t * step
            if not np.all(np.isfinite(nu)):
                break
    raise ValueError("x, y, alpha: Newton's method for the dual did not converge (is X of full "
                     "row rank and alpha not too small?)")
