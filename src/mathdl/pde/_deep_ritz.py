r"""The Deep Ritz method for the Dirichlet problem of the Poisson equation.

For :math:`-\Delta u=f` in :math:`\Omega`, :math:`u=g` on :math:`\partial\Omega`, the solution
minimises the Ritz energy over :math:`\{u\in H^1: u|_{\partial\Omega}=g\}`; E & Yu (2018, eq. 8)
relax the constraint by a boundary penalty and minimise, over networks :math:`u_\theta`,

.. math::
    E_\beta(u) = \int_\Omega\Big(\tfrac12|\nabla u|^2 - f\,u\Big)dx
               + \beta\int_{\partial\Omega}(u-g)^2\,ds ,

estimated by Monte Carlo with fresh uniform points at every step (:func:`ritz_energy`:
:math:`|\Omega|\,\overline{(\cdot)}` over interior points, :math:`|\partial\Omega|\,
\overline{(\cdot)}` over boundary points). The penalised minimiser :math:`u_\beta` solves the
Robin problem :math:`-\Delta u=f`, :math:`\partial_n u+2\beta(u-g)=0`, and
:math:`u_\beta\to u` as :math:`\beta\to\infty` with :math:`\|u_\beta-u\|_{H^1}=O(1/\beta)`.
At :math:`\beta=0` the energy is not coercive on :math:`H^1`: constants are in the kernel of
:math:`\int|\nabla u|^2`, so it is unbounded below when :math:`\int f\ne0` and, when
:math:`f=0`, minimised by every constant, which ignores the data :math:`g`. On the unit disk with
:math:`u=r^k\cos k\theta` the Robin solution is explicit, :math:`u_\beta=\frac{2\beta}{k+2\beta}u`,
so the relative :math:`L^2` and :math:`H^1`-seminorm errors of the exact penalised minimiser are
both :math:`k/(k+2\beta)` (:func:`robin_relative_error`).

Alternatively the boundary condition is built in (:class:`BoundaryAnsatz`):
:math:`u=\tilde g+\varphi\,N_\theta` with :math:`\tilde g` an extension of :math:`g` and
:math:`\varphi` vanishing exactly on :math:`\partial\Omega` (boxes and balls provide one), and
:math:`\beta=0`.

The network (:class:`RitzResNet`, E & Yu 2018, §2.1, eq. 3) is a stack of residual blocks
:math:`s\mapsto s+\sigma(W_2\,\sigma(W_1s+b_1)+b_2)` of width m on the zero-padded input, with a
linear read-out, and :math:`\sigma(x)=\max(x,0)^3` (or :math:`\tanh`).

References:
    W. E, B. Yu, "The Deep Ritz method: a deep learning-based numerical algorithm for solving
    variational problems", Commun. Math. Stat. 6 (2018) 1–12; J. Müller, M. Zeinhofer, "Deep Ritz
    revisited", ICLR workshop 2020 (the penalty's O(1/beta) error).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from mathdl._validation import check_positive_int, check_real
from mathdl.pde._domains import Domain, _check_points
from mathdl.pde._poisson import PoissonSolution
from mathdl.pde._training import ProgressCallback, TrainingMonitor

__all__ = [
    "BoundaryAnsatz",
    "DeepRitz",
    "RitzActivation",
    "RitzResNet",
    "relative_sobolev_errors",
    "ritz_energy",
    "robin_relative_error",
]

Field = Callable[[Tensor], Tensor]


class RitzActivation(enum.Enum):
    """Activation of :class:`RitzResNet`.

    ``CUBIC_RELU``: :math:`\\max(x, 0)^3 = \\max(x^3, 0)` (E & Yu 2018). ``TANH``: :math:`\\tanh`.
    """

    CUBIC_RELU = "cubic_relu"
    TANH = "tanh"


def _linear(fan_in: int, fan_out: int, generator: torch.Generator, dtype: torch.dtype
            ) -> nn.Linear:
    """nn.Linear with PyTorch's default law U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn from
    ``generator``."""
    layer = nn.Linear(fan_in, fan_out, dtype=dtype)
    bound = 1 / math.sqrt(fan_in)
    with torch.no_grad():
        layer.weight.copy_(bound * (2 * torch.rand(fan_out, fan_in, generator=generator,
                                                   dtype=dtype) - 1))
        layer.bias.copy_(bound * (2 * torch.rand(fan_out, generator=generator, dtype=dtype) - 1))
    return layer


class RitzResNet(nn.Module):
    r"""The Deep Ritz network of E & Yu (2018, eq. 3).

    :math:`s_0 = (x, 0, \dots, 0)\in\mathbb R^m` (zero padding; a linear layer if d > m),
    :math:`s_{i+1} = s_i + \sigma(W_{i,2}\,\sigma(W_{i,1}s_i+b_{i,1})+b_{i,2})`,
    :math:`u = a^\top s_n + c`.

    Args:
        dim: input dimension d.
        width: m (10 in the paper for d = 2).
        blocks: number of residual blocks n (the paper uses 3 to 4).
        activation: :class:`RitzActivation`.
        generator: initialisation randomness (PyTorch's default uniform law).
        dtype: parameter dtype (default ``torch.get_default_dtype()``).
        zero_output: start from :math:`u\equiv c = 0` (read-out initialised to zero).

    ``forward(x: (n, d)) -> (n,)``.
    """

    def __init__(self, dim: int, width: int = 10, blocks: int = 3, *,
                 activation: RitzActivation = RitzActivation.CUBIC_RELU,
                 generator: torch.Generator, dtype: torch.dtype | None = None,
                 zero_output: bool = False) -> None:
        super().__init__()
        self.dim = check_positive_int(dim, "dim")
        self.width = check_positive_int(width, "width")
        check_positive_int(blocks, "blocks")
        if not isinstance(activation, RitzActivation):
            raise ValueError(f"activation: expected a RitzActivation, got {activation!r}")
        if not isinstance(generator, torch.Generator):
            raise ValueError("generator: expected a torch.Generator")
        dtype = dtype or torch.get_default_dtype()
        self.activation = activation
        self.lift = _linear(dim, width, generator, dtype) if dim > width else None
        self.blocks = nn.ModuleList(
            nn.ModuleList([_linear(width, width, generator, dtype),
                           _linear(width, width, generator, dtype)]) for _ in range(blocks))
        self.readout = _linear(width, 1, generator, dtype)
        if zero_output:
            with torch.no_grad():
                self.readout.weight.zero_()
                self.readout.bias.zero_()

    def _sigma(self, z: Tensor) -> Tensor:
        if self.activation is RitzActivation.TANH:
            return torch.tanh(z)
        return torch.relu(z) ** 3

    def forward(self, x: Tensor) -> Tensor:
        if self.lift is not None:
            s = self.lift(x)
        else:
            s = nn.functional.pad(x, (0, self.width - self.dim))
        for first, second in self.blocks:
            s = s + self._sigma(second(self._sigma(first(s))))
        return self.readout(s).squeeze(-1)


class BoundaryAnsatz(nn.Module):
    r"""The exactly-satisfying ansatz :math:`u(x)=\tilde g(x)+\varphi(x)\,N(x)`.

    Args:
        network: :math:`N`, ``(n, d) -> (n,)``.
        domain: a domain with a ``boundary_factor`` :math:`\varphi` (:class:`Box`,
            :class:`Ball`).
        extension: :math:`\tilde g`, any function equal to g on the boundary, ``(n, d) -> (n,)``
            (default 0, for homogeneous data).

    Raises:
        ValueError: the domain has no ``boundary_factor`` (e.g. the L-shape or a slit domain,
            where a smooth :math:`\varphi` vanishing exactly on the boundary is not provided).
    """

    def __init__(self, network: nn.Module, domain: Domain, extension: Field | None = None
                 ) -> None:
        super().__init__()
        if not hasattr(domain, "boundary_factor"):
            raise ValueError(f"domain: expected a domain with a boundary_factor (Box, Ball), "
                             f"got {domain!r}")
        self.network = network
        self.domain = domain
        self.extension = extension

    def forward(self, x: Tensor) -> Tensor:
        u = self.domain.boundary_factor(x) * self.network(x).reshape(-1)
        return u if self.extension is None else u + self.extension(x)


def _value_and_gradient(model: nn.Module, x: Tensor, create_graph: bool) -> tuple[Tensor, Tensor]:
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        u = model(x).reshape(-1)
        (grad,) = torch.autograd.grad(u.sum(), x, create_graph=create_graph)
    return u, grad


def ritz_energy(model: nn.Module, interior: Tensor, source: Tensor, *, volume: float,
                boundary: Tensor | None = None, boundary_data: Tensor | None = None,
                penalty: float = 0.0, boundary_measure: float = 1.0) -> Tensor:
    r"""Monte Carlo estimate of the penalised Ritz energy (module docstring):

    .. math::
        |\Omega|\frac1n\sum_i\Big(\tfrac12|\nabla u(x_i)|^2-f(x_i)u(x_i)\Big)
        + \beta\,|\partial\Omega|\frac1m\sum_j\big(u(y_j)-g(y_j)\big)^2 .

    Args:
        model: :math:`u`, ``(n, d) -> (n,)``.
        interior: ``x: (n, d)`` uniform interior points; ``source``: :math:`f(x)`, ``(n,)``.
        volume: :math:`|\Omega|`.
        boundary: ``y: (m, d)`` uniform boundary points; ``boundary_data``: :math:`g(y)`,
            ``(m,)`` (both needed when ``penalty > 0``).
        penalty: :math:`\beta\ge0`.
        boundary_measure: :math:`|\partial\Omega|`.

    Returns:
        A scalar, differentiable with respect to the model's parameters.

    Raises:
        ValueError: shapes disagree, negative penalty, or missing boundary points.
    """
    if not isinstance(interior, Tensor) or interior.ndim != 2:
        raise ValueError("interior: expected a tensor of shape (n, d)")
    if not isinstance(source, Tensor) or source.shape != (interior.shape[0],):
        raise ValueError(f"source: expected shape ({interior.shape[0]},)")
    volume = check_real(volume, "volume", positive=True)
    penalty = check_real(penalty, "penalty", nonnegative=True)
    u, grad = _value_and_gradient(model, interior, create_graph=True)
    energy = volume * (0.5 * grad.square().sum(dim=1) - source * u).mean()
    if penalty > 0:
        if boundary is None or boundary_data is None:
            raise ValueError("boundary: expected boundary points and boundary_data when "
                             "penalty > 0")
        _check_points(boundary, interior.shape[1], "boundary")
        if boundary_data.shape != (boundary.shape[0],):
            raise ValueError(f"boundary_data: expected shape ({boundary.shape[0]},)")
        measure = check_real(boundary_measure, "boundary_measure", positive=True)
        misfit = model(boundary).reshape(-1) - boundary_data
        energy = energy + penalty * measure * misfit.square().mean()
    return energy


def relative_sobolev_errors(model: nn.Module, solution: PoissonSolution, x: Tensor
                            ) -> tuple[float, float]:
    r"""Relative :math:`L^2` and :math:`H^1`-seminorm errors by Monte Carlo at uniform points:

    .. math::
        \frac{\|u_\theta-u\|_{L^2}}{\|u\|_{L^2}}\approx
        \Big(\frac{\sum_i(u_\theta-u)^2(x_i)}{\sum_iu(x_i)^2}\Big)^{1/2},\qquad
        \frac{|u_\theta-u|_{H^1}}{|u|_{H^1}}\approx
        \Big(\frac{\sum_i|\nabla u_\theta-\nabla u|^2(x_i)}{\sum_i|\nabla u(x_i)|^2}\Big)^{1/2}.

    Args:
        model: :math:`u_\theta`; solution: the exact :math:`u`; x: ``(n, d)`` uniform points of
            the domain (the volume cancels).

    Returns:
        ``(relative L2 error, relative H1-seminorm error)``.
    """
    x = _check_points(x, solution.dim)
    u, grad = _value_and_gradient(model, x, create_graph=False)
    u, grad = u.detach(), grad.detach()
    exact, exact_grad = solution.value(x), solution.gradient(x)
    l2 = ((u - exact).square().sum() / exact.square().sum()).sqrt()
    h1 = ((grad - exact_grad).square().sum() / exact_grad.square().sum()).sqrt()
    return float(l2), float(h1)


def robin_relative_error(frequency: int, penalty: float) -> float:
    r"""Relative :math:`L^2` (and :math:`H^1`-seminorm) error :math:`k/(k+2\beta)` of the exact
    minimiser of the penalised energy on the unit disk for :math:`u=r^k\cos k\theta`, f = 0.

    Derivation: :math:`u_\beta=a\,r^k\cos k\theta` is harmonic; the natural boundary condition
    :math:`\partial_ru+2\beta(u-g)=0` at r = 1 gives :math:`ka+2\beta(a-1)=0`.
    """
    k = check_positive_int(frequency, "frequency")
    beta = check_real(penalty, "penalty", nonnegative=True)
    return k / (k + 2 * beta)


class DeepRitz:
    r"""Minimise the penalised Ritz energy with Adam, fresh uniform points at every step.

    Constructor stores; :meth:`fit` trains ``model`` in place and returns ``self``.

    Args:
        model: :math:`u_\theta` (a :class:`RitzResNet` or a :class:`BoundaryAnsatz`).
        domain: :class:`Domain`.
        source: :math:`f`, ``(n, d) -> (n,)``.
        boundary_data: :math:`g`, ``(m, d) -> (m,)`` (unused when ``penalty == 0``).
        penalty: :math:`\beta\ge0` (0 with a :class:`BoundaryAnsatz`).
        steps: Adam steps; lr: initial learning rate, decayed geometrically to ``final_lr``.
        interior_points, boundary_points: Monte Carlo points per step.

    After :meth:`fit`: ``history_`` (the energy estimate at each step).

    Raises:
        ValueError: bad numbers of steps or points, negative penalty or learning rates.
    """

    def __init__(self, model: nn.Module, domain: Domain, source: Field,
                 boundary_data: Field | None = None, *, penalty: float = 500.0,
                 steps: int = 2000, lr: float = 1e-2, final_lr: float | None = None,
                 interior_points: int = 1000, boundary_points: int = 200) -> None:
        if not isinstance(domain, Domain):
            raise ValueError(f"domain: expected a Domain, got {type(domain).__name__}")
        self.model = model
        self.domain = domain
        self.source = source
        self.boundary_data = boundary_data
        self.penalty = check_real(penalty, "penalty", nonnegative=True)
        if self.penalty > 0 and boundary_data is None:
            raise ValueError("boundary_data: expected g when penalty > 0")
        self.steps = check_positive_int(steps, "steps")
        self.lr = check_real(lr, "lr", positive=True)
        self.final_lr = self.lr if final_lr is None else check_real(final_lr, "final_lr",
                                                                    positive=True)
        self.interior_points = check_positive_int(interior_points, "interior_points")
        self.boundary_points = check_positive_int(boundary_points, "boundary_points")

    def fit(self, *, generator: torch.Generator, progress: ProgressCallback | None = None
            ) -> DeepRitz:
        """Train.

        Raises:
            TrainingDivergedError: the energy became NaN/inf or exploded (e.g. ``penalty = 0``
                with :math:`\\int f\\ne0`: the energy is unbounded below).
        """
        params = list(self.model.parameters())
        dtype = params[0].dtype
        device = params[0].device
        adam = torch.optim.Adam(params, lr=self.lr)
        decay = (self.final_lr / self.lr) ** (1 / max(self.steps - 1, 1))
        schedule = torch.optim.lr_scheduler.ExponentialLR(adam, gamma=decay)
        monitor = TrainingMonitor(self.steps, solver="Deep Ritz", progress=progress, every=10)
        d = self.domain
        history = []
        for step in range(1, self.steps + 1):
            x = d.sample_interior(self.interior_points, generator=generator, dtype=dtype,
                                  device=device)
            kwargs = {}
            if self.penalty > 0:
                y = d.sample_boundary(self.boundary_points, generator=generator, dtype=dtype,
                                      device=device)
                kwargs = dict(boundary=y, boundary_data=self.boundary_data(y),
                              penalty=self.penalty, boundary_measure=d.boundary_measure)
            adam.zero_grad(set_to_none=True)
            energy = ritz_energy(self.model, x, self.source(x), volume=d.volume, **kwargs)
            energy.backward()
            adam.step()
            schedule.step()
            history.append(float(energy.detach()))
            monitor.step(step, history[-1])
        self.history_ = history
        return self
