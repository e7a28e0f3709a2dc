r"""Viscous Burgers' equation and its exact solution by the Cole–Hopf transformation.

The benchmark problem of Raissi, Perdikaris & Karniadakis (2019, §3.1 and §4.1):

.. math::
    u_t + u\,u_x = \nu\,u_{xx},\quad x\in[-1,1],\ t\in[0,1],\qquad
    u(0,x) = -\sin(\pi x),\quad u(t,\pm1) = 0,\qquad \nu = 0.01/\pi .

The Cole–Hopf substitution :math:`u=-2\nu\,\partial_x\log\phi` turns it into the heat equation
:math:`\phi_t=\nu\phi_{xx}`; with the :math:`2`-periodic initial data the solution is
(Basdevant et al. 1986, eq. 3; Cole 1951; Hopf 1950)

.. math::
    u(t,x) = -\frac{\int_{\mathbb R}\sin\pi(x-\eta)\,F(x-\eta)\,e^{-\eta^2/4\nu t}\,d\eta}
                   {\int_{\mathbb R}F(x-\eta)\,e^{-\eta^2/4\nu t}\,d\eta},\qquad
    F(y) = \exp\Big(-\frac{\cos\pi y}{2\pi\nu}\Big).

With :math:`\eta = 2\sqrt{\nu t}\,z` both integrals are Gaussian expectations
:math:`\int h(z)e^{-z^2}dz`. :math:`F` spans :math:`e^{\pm 1/2\pi\nu}=e^{\pm50}`, so the sums are
evaluated in log-sum-exp form: with :math:`e_i=\log w_i-\cos(\pi y_i)/2\pi\nu` and
:math:`m=\max_i e_i`, :math:`u=-\sum_i\sin(\pi y_i)e^{e_i-m}/\sum_i e^{e_i-m}` (no overflow;
the ratio is exact in :math:`m`). Two independent quadratures are provided
(:class:`ColeHopfQuadrature`): Gauss–Hermite with ``nodes`` nodes, and the trapezoidal rule on
:math:`z\in[-14,14]` (the integrand relative to its maximum is below :math:`e^{-96}` outside,
since the exponent's range is :math:`1/\pi\nu = 100`), spectrally accurate for this smooth, rapidly
decaying integrand. Near the shock (:math:`x=0`, :math:`t\gtrsim 0.3`) the integrand has two sharp
peaks whose weights cancel; on Raissi's 100 x 256 grid both rules agree to 3e-15 with the
defaults (64 Gauss–Hermite nodes: 1e-10), see the tests.

Reference values: the steepest slope :math:`\max_t|u_x(t,0)| = 152.00516` at
:math:`t=1.6037/\pi` (Basdevant et al. 1986, Table 1).

References:
    C. Basdevant, M. Deville, P. Haldenwang, J. M. Lacroix, J. Ouazzani, R. Peyret, P. Orlandi,
    A. T. Patera, "Spectral and finite difference solutions of the Burgers equation", Computers &
    Fluids 14 (1986) 23–41; M. Raissi, P. Perdikaris, G. E. Karniadakis, "Physics-informed neural
    networks", J. Comput. Phys. 378 (2019) 686–707.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor

from mathdl._validation import check_positive_int, check_real

__all__ = [
    "BURGERS_VISCOSITY",
    "ColeHopfQuadrature",
    "burgers_cole_hopf",
    "burgers_initial_condition",
    "burgers_reference_grid",
    "burgers_residual",
    "burgers_training_data",
]

BURGERS_VISCOSITY = 0.01 / math.pi
"""The viscosity :math:`\\nu = 0.01/\\pi` of Raissi et al. (2019) and Basdevant et al. (1986)."""

_TRAPEZOID_HALF_WIDTH = 14.0


class ColeHopfQuadrature(enum.Enum):
    """How the Cole–Hopf Gaussian integrals are evaluated.

    ``GAUSS_HERMITE``: Gauss–Hermite rule with ``nodes`` nodes (default 128, at most 300: numpy's
    weights overflow beyond).
    ``TRAPEZOID``: trapezoidal rule with ``nodes`` equispaced nodes on :math:`z\\in[-14, 14]`
    (default 801).
    """

    GAUSS_HERMITE = "gauss_hermite"
    TRAPEZOID = "trapezoid"


def _rule(quadrature: ColeHopfQuadrature, nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """(nodes z_i, log weights log w_i) for int h(z) e^{-z^2} dz."""
    if quadrature is ColeHopfQuadrature.GAUSS_HERMITE:
        z, w = np.polynomial.hermite.hermgauss(nodes)
        with np.errstate(divide="ignore"):
            return z, np.log(w)
    z = np.linspace(-_TRAPEZOID_HALF_WIDTH, _TRAPEZOID_HALF_WIDTH, nodes)
    h = z[1] - z[0]
    w = np.full(nodes, h)
    w[0] = w[-1] = h / 2
    return z, np.log(w) - z**2


def burgers_cole_hopf(t: Tensor, x: Tensor, *, viscosity: float = BURGERS_VISCOSITY,
                      quadrature: ColeHopfQuadrature = ColeHopfQuadrature.GAUSS_HERMITE,
                      nodes: int | None = None, chunk: int = 4096) -> Tensor:
    r"""The exact solution :math:`u(t,x)` of Burgers' equation with :math:`u(0,x)=-\sin\pi x`.

    Evaluates the Cole–Hopf formula (module docstring) in log-sum-exp form. Use float64: the
    answer is a ratio of sums whose terms span :math:`e^{\pm 1/2\pi\nu}`.

    Args:
        t: times :math:`\ge 0`, any shape; broadcast with ``x``.
        x: positions, same (broadcastable) shape.
        viscosity: :math:`\nu > 0` (default :math:`0.01/\pi`).
        quadrature: :class:`ColeHopfQuadrature` (default Gauss–Hermite).
        nodes: quadrature nodes (default 128 Gauss–Hermite, at most 300; 801 trapezoid).
        chunk: points evaluated at once (memory ``chunk * nodes``).

    Returns:
        :math:`u(t,x)`, the broadcast shape of ``t`` and ``x``, in their dtype and device;
        differentiable with respect to ``t`` and ``x``.

    Raises:
        ValueError: negative or non-finite times, non-positive viscosity, bad ``nodes``.
    """
    if not isinstance(t, Tensor) or not isinstance(x, Tensor):
        raise ValueError("t, x: expected tensors")
    if not torch.is_floating_point(t) or not torch.is_floating_point(x):
        raise ValueError(f"t, x: expected floating-point tensors, got {t.dtype}, {x.dtype}")
    if not bool(torch.all(torch.isfinite(t) & (t >= 0))):
        raise ValueError("t: expected finite times >= 0")
    if not bool(torch.all(torch.isfinite(x))):
        raise ValueError("x: expected finite positions")
    nu = check_real(viscosity, "viscosity", positive=True)
    if not isinstance(quadrature, ColeHopfQuadrature):
        raise ValueError(f"quadrature: expected a ColeHopfQuadrature, got {quadrature!r}")
    gauss = quadrature is ColeHopfQuadrature.GAUSS_HERMITE
    nodes = check_positive_int((128 if gauss else 801) if nodes is None else nodes, "nodes",
                               minimum=2)
    if gauss and nodes > 300:
        raise ValueError(f"nodes: expected at most 300 Gauss-Hermite nodes, got {nodes}")
    chunk = check_positive_int(chunk, "chunk")
    t, x = torch.broadcast_tensors(t, x)
    shape = t.shape
    tf, xf = t.reshape(-1), x.reshape(-1)
    z_np, logw_np = _rule(quadrature, nodes)
    z = torch.as_tensor(z_np, dtype=xf.dtype, device=xf.device)
    logw = torch.as_tensor(logw_np, dtype=xf.dtype, device=xf.device)
    out = []
    for start in range(0, max(tf.numel(), 1), chunk):
        tc, xc = tf[start:start + chunk], xf[start:start + chunk]
        if tc.numel() == 0:
            break
        y = xc[:, None] - 2 * torch.sqrt(nu * tc)[:, None] * z      # (n, m)
        e = logw - torch.cos(math.pi * y) / (2 * math.pi * nu)
        e = e - e.max(dim=1, keepdim=True).values.detach()
        p = torch.exp(e)
        out.append(-(torch.sin(math.pi * y) * p).sum(dim=1) / p.sum(dim=1))
    return (torch.cat(out) if out else tf.clone()).reshape(shape)


def burgers_initial_condition(x: Tensor) -> Tensor:
    """:math:`u(0, x) = -\\sin(\\pi x)`, same shape as ``x``."""
    return -torch.sin(math.pi * x)


def burgers_residual(inputs: Tensor, derivatives, coefficients: Mapping[str, Tensor]) -> Tensor:
    r"""The residual :math:`u_t + \lambda\,u\,u_x - \nu\,u_{xx}` of Burgers' equation.

    In the PINN convention of :func:`mathdl.pde.pinn_residual`: ``inputs: (n, 2)`` are
    :math:`(t, x)`, ``derivatives`` is a :class:`mathdl.pde.Derivatives` of :math:`u` with
    respect to :math:`(t, x)`, ``coefficients`` holds ``"viscosity"`` (:math:`\nu`) and optionally
    ``"convection"`` (:math:`\lambda`, default 1; the two unknowns of Raissi et al. 2019, §4.1.1).

    Returns:
        ``(n,)``.
    """
    u, grad, second = derivatives.u, derivatives.gradient, derivatives.second
    lam = coefficients.get("convection", 1.0)
    return grad[:, 0] + lam * u * grad[:, 1] - coefficients["viscosity"] * second[:, 1]


def burgers_training_data(n_observed: int, n_collocation: int, *, generator: torch.Generator,
                          dtype: torch.dtype | None = None,
                          device: torch.device | str | None = None
                          ) -> tuple[Tensor, Tensor, Tensor]:
    r"""Training points of the forward Burgers problem (Raissi et al. 2019, §3.1.1).

    Half (rounded down) of the ``n_observed`` initial/boundary observations are at :math:`t=0`,
    :math:`x\sim U[-1,1]` with :math:`u=-\sin\pi x`; the others at :math:`x=\pm1` (sign uniform),
    :math:`t\sim U[0,1]`, with :math:`u=0`. The ``n_collocation`` collocation points are uniform on
    :math:`[0,1]\times[-1,1]` (the authors used a Latin hypercube), followed by the observation
    points (as in the authors' code).

    Returns:
        ``collocation: (n_collocation + n_observed, 2)``, ``observed_z: (n_observed, 2)``,
        ``observed_u: (n_observed,)``, inputs ordered :math:`(t, x)`.
    """
    n_observed = check_positive_int(n_observed, "n_observed", minimum=2)
    n_collocation = check_positive_int(n_collocation, "n_collocation")
    if not isinstance(generator, torch.Generator):
        raise ValueError("generator: expected a torch.Generator")
    dtype = dtype or torch.get_default_dtype()
    n0 = n_observed // 2
    nb = n_observed - n0
    x0 = 2 * torch.rand(n0, generator=generator, dtype=dtype) - 1
    tb = torch.rand(nb, generator=generator, dtype=dtype)
    xb = 2.0 * torch.randint(0, 2, (nb,), generator=generator).to(dtype) - 1
    observed_z = torch.cat([torch.stack([torch.zeros_like(x0), x0], dim=1),
                            torch.stack([tb, xb], dim=1)])
    observed_u = torch.cat([burgers_initial_condition(x0), torch.zeros_like(tb)])
    u = torch.rand(n_collocation, 2, generator=generator, dtype=dtype)
    collocation = torch.cat([torch.stack([u[:, 0], 2 * u[:, 1] - 1], dim=1), observed_z])
    return collocation.to(device), observed_z.to(device), observed_u.to(device)


def burgers_reference_grid(n_t: int = 100, n_x: int = 256, *, t_max: float = 0.99,
                           dtype: torch.dtype = torch.float64
                           ) -> tuple[Tensor, Tensor]:
    r"""The evaluation grid of Raissi et al.'s data set (``burgers_shock.mat``: ``t = 0, 0.01,
    ..., 0.99``, 256 equispaced ``x`` in :math:`[-1,1]`) and the Cole–Hopf solution on it.

    Returns:
        ``z: (n_t * n_x, 2)`` points :math:`(t, x)` (t-major) and ``u: (n_t * n_x,)``.
    """
    n_t = check_positive_int(n_t, "n_t")
    n_x = check_positive_int(n_x, "n_x", minimum=2)
    t_max = check_real(t_max, "t_max", nonnegative=True)
    t = torch.linspace(0, t_max, n_t, dtype=dtype)
    x = torch.linspace(-1, 1, n_x, dtype=dtype)
    tt, xx = torch.meshgrid(t, x, indexing="ij")
    z = torch.stack([tt.reshape(-1), xx.reshape(-1)], dim=1)
    return z, burgers_cole_hopf(z[:, 0], z[:, 1])
