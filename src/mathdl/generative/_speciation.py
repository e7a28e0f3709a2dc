r"""The speciation transition of diffusion models: when reverse trajectories commit to a class.

Forward process :math:`dx = -x\,dt + \sqrt2\,dB` (:class:`OrnsteinUhlenbeck`). Biroli, Bonnaire,
de Bortoli and Mézard (2024) show that for data made of classes in high dimension the reverse
dynamics decides the class of its output around the *speciation time*

.. math::
    t_S = \tfrac12 \log \Lambda, \qquad \Lambda = \lambda_{\max}(\operatorname{Cov} p_0),

where the top principal direction of :math:`p_t` stops being dominated by the noise
(:math:`e^{-2t}\Lambda \approx 1`). It is measured by *cloning*: a reverse trajectory at time
:math:`t` is copied and the copies are continued with independent noise; the probability
:math:`\phi(t)` that both end in the same class goes from 1 (:math:`t \ll t_S`) to the chance
level (:math:`t \gg t_S`). With the exact score the copies are independent draws of
:math:`x_0 \mid x_t`, so :math:`\phi(t) = \mathbb E_{x_t \sim p_t} \sum_k r_k(x_t)^2`, with
:math:`r_k` the posterior class probabilities (:func:`class_agreement`).

For the symmetric two-class mixture :math:`\tfrac12\mathcal N(m, \sigma^2 I) + \tfrac12
\mathcal N(-m, \sigma^2 I)`, the posterior log-odds at time :math:`t` given the class are
:math:`2u + 2\sqrt u\, z`, :math:`z \sim \mathcal N(0, 1)`, with
:math:`u = e^{-2t}|m|^2 / (1 + e^{-2t}(\sigma^2 - 1))`, so

.. math::
    \phi(t) = \Phi(u), \qquad \Phi(u) = \mathbb E_z\big[s(2u + 2\sqrt u z)^2 +
        s(-2u - 2\sqrt u z)^2\big], \quad s(y) = 1/(1 + e^{-y})

(:func:`two_class_agreement`).

As :math:`|m|^2 \propto d \to \infty`, :math:`u \to e^{-2(t - t_S)}` (:math:`\Lambda = \sigma^2
+ |m|^2`): the cloning curves of all dimensions and separations collapse onto
:math:`\Phi(e^{-2(t - t_S)})`, a transition of width O(1) around :math:`t_S \sim \frac12\log d`.

Reference: G. Biroli, T. Bonnaire, V. de Bortoli, M. Mézard, "Dynamical regimes of diffusion
models", Nature Communications 15 (2024) 9957 (arXiv:2402.18491), §2 (speciation time, cloning
experiment).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from mathdl.generative._mixtures import GaussianMixture, ScoreFunction, forward_marginal
from mathdl.generative._processes import ForwardProcess, _check_process, check_time
from mathdl.generative._samplers import Sampler, TimeSpacing, sample

__all__ = ["class_agreement", "clone_agreement", "speciation_time", "two_class_agreement"]


def speciation_time(covariance: Tensor) -> float:
    r"""The speciation time :math:`t_S = \frac12 \log \lambda_{\max}(C)` of data with covariance
    ``covariance: (d, d)`` under the Ornstein–Uhlenbeck forward process (Biroli et al. 2024).

    Raises:
        ValueError: if ``covariance`` is not a symmetric matrix with a positive top eigenvalue.
    """
    if not isinstance(covariance, Tensor) or covariance.ndim != 2 or (
            covariance.shape[0] != covariance.shape[1]) or not torch.is_floating_point(covariance):
        raise ValueError("covariance: expected a floating-point (d, d) matrix")
    if float((covariance - covariance.T).abs().amax()) > 1e-10 * float(covariance.abs().amax()):
        raise ValueError("covariance: expected a symmetric matrix")
    top = float(torch.linalg.eigvalsh(covariance).amax())
    if not top > 0:
        raise ValueError(f"covariance: expected a positive top eigenvalue, got {top!r}")
    return 0.5 * math.log(top)


def two_class_agreement(u: float, *, nodes: int = 64) -> float:
    r""":math:`\Phi(u) = \mathbb E_z[s(2u + 2\sqrt u z)^2 + s(-2u - 2\sqrt u z)^2]`, the
    probability that two clones end in the same class of a symmetric two-class Gaussian mixture
    at signal-to-noise ratio :math:`u` (module docstring), by Gauss–Hermite quadrature.

    :math:`\Phi(0) = 1/2`, :math:`\Phi(\infty) = 1`; :math:`\Phi(1) = 0.7752`.

    Raises:
        ValueError: if ``u`` is negative or not finite, or ``nodes < 2``.
    """
    if isinstance(u, bool) or not isinstance(u, int | float) or not (math.isfinite(u) and u >= 0):
        raise ValueError(f"u: expected a finite number >= 0, got {u!r}")
    if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 2:
        raise ValueError(f"nodes: expected an integer >= 2, got {nodes!r}")
    z, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / math.sqrt(2 * math.pi)
    s = 1.0 / (1.0 + np.exp(-(2 * u + 2 * math.sqrt(u) * z)))
    return float(np.sum(w * (s * s + (1 - s) ** 2)))


def class_agreement(mixture: GaussianMixture, process: ForwardProcess, x: Tensor, t: float
                    ) -> Tensor:
    r"""``(n,)`` probabilities :math:`\sum_k r_k(x)^2` that two independent draws of
    :math:`x_0 \mid x_t = x` come from the same component of ``mixture``, :math:`r_k` the
    responsibilities of the forward marginal :math:`p_t` — the exact outcome of cloning a
    reverse trajectory with the exact score at :math:`x_t = x`.
    """
    return forward_marginal(mixture, process, t).responsibilities(x).square().sum(1)


def clone_agreement(score: ScoreFunction, process: ForwardProcess, x: Tensor, t: float,
                    classify: Callable[[Tensor], Tensor], *, steps: int,
                    generator: torch.Generator, t_min: float = 0.0) -> Tensor:
    r"""Clone reverse trajectories at time ``t`` and report whether the clones agree.

    Each row of ``x`` (states at time ``t``) is copied; both copies are run down to ``t_min`` by
    Euler–Maruyama on the reverse SDE with independent noise, and ``classify`` labels the ends.

    Args:
        score: ``score(x, t) -> (n, d)``.
        process: the forward process.
        x: ``(n, d)`` states at time ``t``.
        t: the cloning time, ``t > t_min``.
        classify: maps ``(m, d)`` end points to ``(m,)`` labels.
        steps: Euler–Maruyama steps from ``t`` to ``t_min``.
        generator: the noise of the clones.
        t_min: where the clones stop (default 0).

    Returns:
        ``(n,)`` booleans: the two clones of row ``i`` got the same label.

    Raises:
        ValueError: on bad shapes or times.
    """
    _check_process(process)
    if not isinstance(x, Tensor) or x.ndim != 2:
        raise ValueError("x: expected a tensor of shape (n, d)")
    t = check_time(t)
    ends = sample(score, process, torch.cat([x, x]), sampler=Sampler.EULER_MARUYAMA, t_max=t,
                  t_min=t_min, steps=steps, generator=generator, spacing=TimeSpacing.UNIFORM)
    labels = classify(ends)
    if not isinstance(labels, Tensor) or labels.shape != (2 * x.shape[0],):
        raise ValueError("classify: expected a function returning one label per row")
    n = x.shape[0]
    return labels[:n] == labels[n:]
