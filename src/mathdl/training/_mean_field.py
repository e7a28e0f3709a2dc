r"""Two-layer networks as interacting particles: the mean-field limit and its gradient flow.

A two-layer network of width :math:`m` in the mean-field parameterisation is the integral of one
neuron against the empirical measure of its :math:`m` particles
:math:`\theta_j = (a_j, w_j[, b_j]) \in \mathbb R^{p}`,

.. math::
    f(x; \mu^m) = \frac1m \sum_{j=1}^m a_j\, \sigma(w_j \cdot x + b_j)
               = \int a\, \sigma(w \cdot x + b)\, d\mu^m(\theta),
    \qquad \mu^m = \frac1m \sum_{j=1}^m \delta_{\theta_j}.

A particle system is a tensor ``particles`` of shape ``(..., m, p)``: column 0 is the output
weight :math:`a_j`, columns :math:`1..d` the first-layer weight :math:`w_j`, and with
``bias=True`` the last column the bias :math:`b_j` (:math:`p = d + 1` or :math:`d + 2`). Leading
dimensions ``...`` index independent systems (e.g. independent initialisations) that are
evaluated and trained in one batch but never interact.

For the empirical risk :math:`R(\mu) = \frac1{2n}\sum_i (f(x_i; \mu) - y_i)^2`, the particle
gradient descent with the mean-field time scaling (step :math:`m\eta` on the parameters, so that
each particle moves :math:`O(1)` per unit time whatever :math:`m`) is

.. math::
    \theta_j^{k+1} = \theta_j^k + \eta\, v_{\mu^m_k}(\theta_j^k), \qquad
    v_\mu(\theta) = -\nabla_\theta \frac{\delta R}{\delta \mu}(\theta)
      = -\nabla_\theta \frac1n \sum_{i=1}^n \big(f(x_i;\mu) - y_i\big)\, a\,
        \sigma(w\cdot x_i + b) = -m \nabla_{\theta_j} R ,

the explicit Euler scheme of the Wasserstein gradient flow
:math:`\partial_t \mu_t = \nabla\cdot(\mu_t \nabla_\theta \frac{\delta R}{\delta\mu}[\mu_t])`
at time :math:`t = k\eta`. As :math:`m \to \infty` with i.i.d. initial particles
:math:`\theta_j^0 \sim \mu_0`, :math:`\mu^m_t \to \mu_t` (propagation of chaos) with
:math:`O(m^{-1/2})` fluctuations of :math:`R(\mu^m_t)` around :math:`R(\mu_t)`; for 2-homogeneous
neurons (ReLU, no bias) and an initialisation whose directions cover the sphere, a limit
:math:`\mu_\infty` of the flow is a global minimiser (Chizat & Bach 2018, §3).

References:
    L. Chizat & F. Bach, "On the global convergence of gradient descent for over-parameterized
    models using optimal transport", NeurIPS 2018;
    S. Mei, A. Montanari & P.-M. Nguyen, "A mean field view of the landscape of two-layer neural
    networks", PNAS 115 (2018) E7665-E7671;
    G. Rotskoff & E. Vanden-Eijnden, "Trainability and accuracy of neural networks: an
    interacting particle system approach", arXiv:1805.00915 (2018), Comm. Pure Appl. Math. 2022;
    J. Sirignano & K. Spiliopoulos, "Mean field analysis of neural networks: a central limit
    theorem", Stoch. Proc. Appl. 130 (2020);
    Y. Cho & L. Saul, "Kernel methods for deep learning", NeurIPS 2009 (the arc-cosine kernel).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from mathdl._validation import check_positive_int, check_real
from mathdl.generative import sliced_w2
from mathdl.training._two_layer import FirstLayerInit, Nonlinearity

__all__ = [
    "MeanFieldTrajectory",
    "gaussian_relu_risk",
    "initial_particles",
    "mean_field_gradient_descent",
    "mean_field_output",
    "mean_field_risk",
    "mean_field_velocity",
    "particle_sliced_w2",
]


def _check_particles(particles: object, name: str = "particles") -> None:
    if not isinstance(particles, Tensor) or not particles.is_floating_point():
        raise ValueError(f"{name}: expected a floating torch.Tensor of shape (..., m, p)")
    if particles.ndim < 2 or particles.shape[-2] < 1 or particles.shape[-1] < 2:
        raise ValueError(f"{name}: expected shape (..., m, p) with m >= 1 and p >= 2, got "
                         f"{tuple(particles.shape)}")


def _check_bool(value: object, name: str) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name}: expected a bool, got {value!r}")


def _check_activation(activation: object) -> None:
    if not isinstance(activation, Nonlinearity):
        raise ValueError(f"activation: expected a Nonlinearity, got {activation!r}")


def _check_data(particles: Tensor, x: object, bias: bool, name: str = "x") -> int:
    _check_bool(bias, "bias")
    d = particles.shape[-1] - (2 if bias else 1)
    if d < 1:
        raise ValueError(f"particles: expected p >= {3 if bias else 2} columns (a, w"
                         f"{', b' if bias else ''}), got {particles.shape[-1]}")
    if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != d:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name}: expected shape (n, {d}) to match the particles, got {shape}")
    if x.dtype != particles.dtype or x.device != particles.device:
        raise ValueError(f"{name}: expected dtype {particles.dtype} on {particles.device} like "
                         f"the particles, got {x.dtype} on {x.device}")
    return d


def _check_targets(x: Tensor, y: object, name: str = "y") -> None:
    if not isinstance(y, Tensor) or y.shape != (x.shape[0],):
        shape = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
        raise ValueError(f"{name}: expected shape ({x.shape[0]},), got {shape}")
    if y.dtype != x.dtype or y.device != x.device:
        raise ValueError(f"{name}: expected dtype {x.dtype} on {x.device}, got {y.dtype} on "
                         f"{y.device}")


def _preactivation(particles: Tensor, x: Tensor, bias: bool) -> Tensor:
    d = x.shape[1]
    z = particles[..., 1:1 + d] @ x.T  # (..., m, n)
    if bias:
        z = z + particles[..., -1:]
    return z


def _derivative(activation: Nonlinearity, z: Tensor) -> Tensor:
    if activation is Nonlinearity.RELU:
        return (z > 0).to(z.dtype)
    if activation is Nonlinearity.TANH:
        return 1 - torch.tanh(z) ** 2
    if activation is Nonlinearity.ERF:
        return (2 / math.sqrt(math.pi)) * torch.exp(-z * z)
    return torch.ones_like(z)


def initial_particles(
    width: int,
    in_features: int,
    *,
    generator: torch.Generator,
    batch: Sequence[int] = (),
    output_std: float = 1.0,
    first_layer_init: FirstLayerInit = FirstLayerInit.GAUSSIAN,
    first_layer_std: float = 1.0,
    bias: bool = False,
    bias_std: float = 1.0,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    r"""I.i.d. particles :math:`\theta_j = (a_j, w_j[, b_j]) \sim \mu_0`, :math:`j = 1..m`.

    :math:`a_j \sim \mathcal N(0, s_a^2)`; :math:`w_j \sim \mathcal N(0, s_w^2 I_d/d)`
    (``FirstLayerInit.GAUSSIAN``) or :math:`w_j = s_w u_j`, :math:`u_j` uniform on
    :math:`S^{d-1}` (``SPHERE``); :math:`b_j \sim \mathcal N(0, s_b^2)`. Both laws have
    directions :math:`w/|w|` covering the whole sphere (the support condition of Chizat & Bach
    2018).

    Args:
        width: :math:`m \ge 1`.
        in_features: :math:`d \ge 1`.
        generator: the source of randomness.
        batch: leading shape of independent systems (``()``: one system).
        output_std: :math:`s_a \ge 0`.
        first_layer_init: :class:`FirstLayerInit`.
        first_layer_std: :math:`s_w \ge 0`.
        bias: append a bias column.
        bias_std: :math:`s_b \ge 0`.
        dtype: floating dtype (float64 by default).

    Returns:
        ``(*batch, m, p)`` particles, :math:`p = 1 + d` (``+ 1`` with ``bias``), on the
        generator's device.

    Raises:
        ValueError: on a bad size, scale, option or generator.
    """
    check_positive_int(width, "width")
    check_positive_int(in_features, "in_features")
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator: expected a torch.Generator, got {generator!r}")
    if isinstance(batch, str) or not isinstance(batch, Sequence):
        raise ValueError(f"batch: expected a sequence of positive integers, got {batch!r}")
    for size in batch:
        check_positive_int(size, "batch")
    check_real(output_std, "output_std", nonnegative=True)
    if not isinstance(first_layer_init, FirstLayerInit):
        raise ValueError(f"first_layer_init: expected a FirstLayerInit, got {first_layer_init!r}")
    check_real(first_layer_std, "first_layer_std", nonnegative=True)
    _check_bool(bias, "bias")
    check_real(bias_std, "bias_std", nonnegative=True)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype: expected a floating torch.dtype, got {dtype!r}")
    shape = (*batch, width)
    kw = dict(generator=generator, dtype=dtype, device=generator.device)
    w = torch.randn(*shape, in_features, **kw)
    if first_layer_init is FirstLayerInit.SPHERE:
        w = w / w.norm(dim=-1, keepdim=True)
    else:
        w = w / math.sqrt(in_features)
    a = output_std * torch.randn(*shape, 1, **kw)
    columns = [a, first_layer_std * w]
    if bias:
        columns.append(bias_std * torch.randn(*shape, 1, **kw))
    return torch.cat(columns, dim=-1)


def mean_field_output(
    particles: Tensor,
    x: Tensor,
    *,
    activation: Nonlinearity = Nonlinearity.RELU,
    bias: bool = False,
) -> Tensor:
    r"""The network :math:`f(x_i; \mu^m) = \frac1m \sum_j a_j \sigma(w_j \cdot x_i + b_j)`.

    Invariant under permutations of the particles (it depends on :math:`\mu^m` only).

    Args:
        particles: ``(..., m, p)`` (see the module docstring).
        x: ``(n, d)`` inputs, dtype and device of the particles.
        activation: :class:`Nonlinearity` :math:`\sigma`.
        bias: whether the last column of ``particles`` is a bias.

    Returns:
        ``(..., n)``.

    Raises:
        ValueError: on malformed particles or inputs.
    """
    _check_particles(particles)
    _check_activation(activation)
    _check_data(particles, x, bias)
    return _output(particles, x, activation, bias)


def _output(particles: Tensor, x: Tensor, activation: Nonlinearity, bias: bool) -> Tensor:
    z = _preactivation(particles, x, bias)
    return (particles[..., 0:1] * activation(z)).mean(dim=-2)


def mean_field_risk(
    particles: Tensor,
    x: Tensor,
    y: Tensor,
    *,
    activation: Nonlinearity = Nonlinearity.RELU,
    bias: bool = False,
) -> Tensor:
    r"""The empirical risk :math:`R(\mu^m) = \frac1{2n}\sum_{i=1}^n (f(x_i; \mu^m) - y_i)^2`.

    Args:
        particles: ``(..., m, p)``.
        x: ``(n, d)`` inputs; y: ``(n,)`` targets (dtype and device of the particles).
        activation, bias: as :func:`mean_field_output`.

    Returns:
        ``(...)`` risks.

    Raises:
        ValueError: on malformed arguments.
    """
    _check_particles(particles)
    _check_activation(activation)
    _check_data(particles, x, bias)
    _check_targets(x, y)
    return 0.5 * ((_output(particles, x, activation, bias) - y) ** 2).mean(dim=-1)


def mean_field_velocity(
    particles: Tensor,
    x: Tensor,
    y: Tensor,
    *,
    activation: Nonlinearity = Nonlinearity.RELU,
    bias: bool = False,
) -> Tensor:
    r"""The Wasserstein-gradient velocity field at the particles,
    :math:`v_\mu(\theta_j) = -\nabla_\theta \frac{\delta R}{\delta\mu}(\theta_j) = -m
    \nabla_{\theta_j} R(\mu^m)`, with residuals :math:`r_i = f(x_i;\mu^m) - y_i`:

    .. math::
        v_a = -\frac1n \sum_i r_i\, \sigma(z_{ji}), \quad
        v_w = -\frac{a_j}n \sum_i r_i\, \sigma'(z_{ji})\, x_i, \quad
        v_b = -\frac{a_j}n \sum_i r_i\, \sigma'(z_{ji}), \qquad z_{ji} = w_j\cdot x_i + b_j

    (Mei, Montanari & Nguyen 2018; Chizat & Bach 2018, §2). :math:`\sigma'(0) = 0` for
    the ReLU. Each particle's velocity is :math:`O(1)` as :math:`m \to \infty`.

    Args:
        particles: ``(..., m, p)``.
        x: ``(n, d)``; y: ``(n,)``.
        activation, bias: as :func:`mean_field_output`.

    Returns:
        ``(..., m, p)`` velocities, columns ordered like the particles.

    Raises:
        ValueError: on malformed arguments.
    """
    _check_particles(particles)
    _check_activation(activation)
    _check_data(particles, x, bias)
    _check_targets(x, y)
    return _velocity(particles, x, y, activation, bias)[0]


def _velocity(particles: Tensor, x: Tensor, y: Tensor, activation: Nonlinearity,
              bias: bool) -> tuple[Tensor, Tensor]:
    n = x.shape[0]
    z = _preactivation(particles, x, bias)  # (..., m, n)
    a = particles[..., 0:1]
    s = activation(z)
    residual = (a * s).mean(dim=-2) - y  # (..., n)
    r = residual.unsqueeze(-2) / n  # (..., 1, n)
    v_a = -(s * r).sum(dim=-1, keepdim=True)
    g = _derivative(activation, z) * r  # (..., m, n)
    v_w = -a * (g @ x)
    columns = [v_a, v_w]
    if bias:
        columns.append(-a * g.sum(dim=-1, keepdim=True))
    return torch.cat(columns, dim=-1), residual


@dataclass(frozen=True)
class MeanFieldTrajectory:
    r"""What :func:`mean_field_gradient_descent` recorded.

    Attributes:
        steps: recorded step numbers :math:`k`.
        times: the mean-field times :math:`t = k\eta`.
        risk: ``(T, ...)`` training risk :math:`R(\mu^m_{t})` at the recorded steps.
        eval_risk: ``(T, ...)`` risk on ``(x_eval, y_eval)``, or ``None``.
        particles: ``(T, ..., m, p)`` particles at the recorded steps, or ``None`` when not
            recorded.
        final: ``(..., m, p)`` particles after the last step.
        step_size: :math:`\eta`.
    """

    steps: tuple[int, ...]
    times: tuple[float, ...]
    risk: Tensor
    eval_risk: Tensor | None
    particles: Tensor | None
    final: Tensor
    step_size: float


def mean_field_gradient_descent(
    particles: Tensor,
    x: Tensor,
    y: Tensor,
    *,
    step_size: float,
    steps: int,
    record_steps: Sequence[int] | None = None,
    activation: Nonlinearity = Nonlinearity.RELU,
    bias: bool = False,
    x_eval: Tensor | None = None,
    y_eval: Tensor | None = None,
    record_particles: bool = False,
) -> MeanFieldTrajectory:
    r"""Particle gradient descent in the mean-field time scale,
    :math:`\theta_j^{k+1} = \theta_j^k + \eta\, v_{\mu^m_k}(\theta_j^k)` for :math:`k < K`
    (:func:`mean_field_velocity`): full-batch gradient descent on :math:`R` with step
    :math:`m\eta`, the forward-Euler discretisation of the Wasserstein gradient flow of
    :math:`R` at times :math:`t = k\eta` (Chizat & Bach 2018; Mei, Montanari & Nguyen 2018;
    Rotskoff & Vanden-Eijnden 2018). Independent systems in the leading dimensions are trained
    together. The input tensor is not modified; deterministic.

    Args:
        particles: ``(..., m, p)`` initial particles.
        x: ``(n, d)`` training inputs; y: ``(n,)`` targets.
        step_size: :math:`\eta > 0` (a time step, independent of :math:`m`).
        steps: :math:`K \ge 0`.
        record_steps: steps in :math:`[0, K]` at which to record (sorted, distinct);
            ``None``: every step.
        activation, bias: as :func:`mean_field_output`.
        x_eval, y_eval: held-out ``(n_eval, d)`` inputs and ``(n_eval,)`` targets whose risk
            is recorded, or both ``None``.
        record_particles: also keep the particles at the recorded steps.

    Returns:
        :class:`MeanFieldTrajectory`.

    Raises:
        ValueError: on malformed arguments.
        RuntimeError: if the risk becomes NaN or infinite (the step is too large).
    """
    _check_particles(particles)
    _check_activation(activation)
    _check_data(particles, x, bias)
    _check_targets(x, y)
    eta = check_real(step_size, "step_size", positive=True)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps: expected an integer >= 0, got {steps!r}")
    if record_steps is None:
        recorded = list(range(steps + 1))
    else:
        if isinstance(record_steps, str) or not isinstance(record_steps, Sequence):
            raise ValueError(f"record_steps: expected a sequence of integers, got "
                             f"{record_steps!r}")
        recorded = list(record_steps)
        ok = all(isinstance(k, int) and not isinstance(k, bool) and 0 <= k <= steps
                 for k in recorded)
        if not ok or not recorded or any(b <= a for a, b in zip(recorded, recorded[1:],
                                                                 strict=False)):
            raise ValueError(f"record_steps: expected increasing integers in [0, {steps}], "
                             f"got {record_steps!r}")
    if (x_eval is None) != (y_eval is None):
        raise ValueError("x_eval: expected x_eval and y_eval together (or neither)")
    if x_eval is not None:
        _check_data(particles, x_eval, bias, "x_eval")
        _check_targets(x_eval, y_eval, "y_eval")
    _check_bool(record_particles, "record_particles")
    wanted = set(recorded)
    theta = particles.detach().clone()
    risks, eval_risks, saved = [], [], []
    with torch.no_grad():
        for k in range(steps + 1):
            last = k == steps
            if k in wanted:
                if last:
                    residual = _output(theta, x, activation, bias) - y
                    velocity = None
                else:
                    velocity, residual = _velocity(theta, x, y, activation, bias)
                risk = 0.5 * (residual**2).mean(dim=-1)
                if not bool(torch.isfinite(risk).all()):
                    raise RuntimeError(f"mean-field gradient descent diverged at step {k} "
                                       f"(step_size={eta:g}); try a smaller step_size")
                risks.append(risk)
                if x_eval is not None:
                    out = _output(theta, x_eval, activation, bias)
                    eval_risks.append(0.5 * ((out - y_eval) ** 2).mean(dim=-1))
                if record_particles:
                    saved.append(theta.clone())
            elif not last:
                velocity, _ = _velocity(theta, x, y, activation, bias)
            if last:
                break
            theta.add_(velocity, alpha=eta)
    return MeanFieldTrajectory(
        steps=tuple(recorded),
        times=tuple(k * eta for k in recorded),
        risk=torch.stack(risks),
        eval_risk=torch.stack(eval_risks) if x_eval is not None else None,
        particles=torch.stack(saved) if record_particles else None,
        final=theta,
        step_size=eta,
    )


_BLOCK_ELEMENTS = 2**20  # entries of the kernel block formed at once by gaussian_relu_risk


def _relu_gaussian_product(u: Tensor, v: Tensor) -> Tensor:
    # E_x relu(u.x) relu(v.x), x ~ N(0, I): |u||v| (sqrt(1 - rho^2) + (pi - arccos rho) rho)/2pi
    nu = u.norm(dim=-1)
    nv = v.norm(dim=-1)
    prod = nu.unsqueeze(-1) * nv.unsqueeze(-2)
    dots = u @ v.transpose(-1, -2)
    safe = torch.where(prod > 0, prod, torch.ones_like(prod))
    # the numerator's derivative in rho is pi - arccos(rho), finite; clamping 1e-12 inside
    # [-1, 1] keeps autograd from forming inf - inf (the value changes by O(1e-18))
    rho = (dots / safe).clamp(-1.0 + 1e-12, 1.0 - 1e-12)
    kappa = (torch.sqrt(1 - rho**2) + (math.pi - torch.arccos(rho)) * rho) / (2 * math.pi)
    return torch.where(prod > 0, prod * kappa, torch.zeros_like(prod))


def gaussian_relu_risk(particles: Tensor, teacher: Tensor) -> Tensor:
    r"""Population risk :math:`\frac12 \mathbb E_{x\sim\mathcal N(0, I_d)} (f(x;\mu) -
    f(x;\nu))^2` between two ReLU networks without bias in mean-field form (student
    :math:`\mu`: ``particles``, teacher :math:`\nu`: ``teacher``), in closed form:

    .. math::
        \tfrac12 \big(\langle\mu,\mu\rangle - 2\langle\mu,\nu\rangle + \langle\nu,\nu\rangle\big),
        \quad \langle\mu,\nu\rangle = \frac1{m m'}\sum_{j,l} a_j a'_l |w_j||w'_l|\,
        \kappa(\rho_{jl}), \quad
        \kappa(\rho) = \frac{\sqrt{1-\rho^2} + (\pi - \arccos\rho)\,\rho}{2\pi},

    :math:`\rho_{jl}` the cosine between :math:`w_j` and :math:`w'_l`: :math:`\mathbb E\,
    \mathrm{relu}(u\cdot x)\,\mathrm{relu}(v\cdot x) = |u||v|\kappa(\rho)`, the degree-1
    arc-cosine kernel of Cho & Saul (2009) divided by 2.

    Args:
        particles: ``(..., m, 1 + d)`` student particles (no bias column).
        teacher: ``(m', 1 + d)`` teacher particles (same dtype and device).

    Returns:
        ``(...)`` population risks (clamped at 0 against rounding).

    Raises:
        ValueError: on malformed or mismatched particles.
    """
    _check_particles(particles)
    _check_particles(teacher, "teacher")
    if teacher.ndim != 2 or teacher.shape[-1] != particles.shape[-1]:
        raise ValueError(f"teacher: expected shape (m', {particles.shape[-1]}) like the "
                         f"particles, got {tuple(teacher.shape)}")
    if teacher.dtype != particles.dtype or teacher.device != particles.device:
        raise ValueError(f"teacher: expected dtype {particles.dtype} on {particles.device}")

    batch = particles.shape[:-2]
    flat = particles.reshape(-1, *particles.shape[-2:])
    single = teacher.unsqueeze(0)
    total = (_batched_inner(flat, flat) - 2 * _batched_inner(flat, single)
             + _batched_inner(single, single))
    return (0.5 * total).reshape(batch).clamp_min(0.0)


def _batched_inner(p: Tensor, q: Tensor) -> Tensor:
    # <p_b, q_b> for systems p: (B, m, P), q: (B or 1, m', P), in blocks of bounded memory
    systems, m, m2 = p.shape[0], p.shape[1], q.shape[1]
    if m * m2 <= _BLOCK_ELEMENTS:
        chunk, rows = max(1, _BLOCK_ELEMENTS // (m * m2)), m
    else:
        chunk, rows = 1, max(1, _BLOCK_ELEMENTS // m2)
    out = []
    for b0 in range(0, systems, chunk):
        pb = p[b0:b0 + chunk]
        qb = q[b0:b0 + chunk] if q.shape[0] > 1 else q
        total = pb.new_zeros(pb.shape[0])
        for r0 in range(0, m, rows):
            block = pb[:, r0:r0 + rows]
            k = _relu_gaussian_product(block[..., 1:], qb[..., 1:])
            total = total + (block[..., 0:1] * k * qb[..., 0].unsqueeze(-2)).sum(dim=(-2, -1))
        out.append(total)
    return torch.cat(out) / (m * m2)


def particle_sliced_w2(
    particles: Tensor, other: Tensor, *, projections: int, generator: torch.Generator
) -> Tensor:
    r"""Sliced 2-Wasserstein distance :math:`SW_2(\mu^m, \nu^{m'})` between the empirical
    measures of two particle systems, each particle a point of :math:`\mathbb R^p`
    (:func:`mathdl.generative.sliced_w2` on the flattened particles). Zero for the same measure
    (any permutation of the particles); a distance between networks that does not depend on how
    their neurons are labelled.

    Args:
        particles: ``(m, ...)`` particles (trailing dimensions are flattened to ``p``).
        other: ``(m', ...)`` with the same number of flattened coordinates.
        projections: number of random directions.
        generator: draws the directions.

    Returns:
        0-d tensor.

    Raises:
        ValueError: on mismatched shapes or a bad number of projections.
    """
    for name, t in (("particles", particles), ("other", other)):
        if not isinstance(t, Tensor) or t.ndim < 1 or t.shape[0] < 1:
            raise ValueError(f"{name}: expected a tensor of shape (m, ...) with m >= 1")
    p1 = particles.reshape(particles.shape[0], -1)
    p2 = other.reshape(other.shape[0], -1)
    if p1.shape[1] != p2.shape[1]:
        raise ValueError(f"other: expected {p1.shape[1]} coordinates per particle like "
                         f"particles, got {p2.shape[1]}")
    return sliced_w2(p1, p2, projections=projections, generator=generator)
