r"""The path-norm-regularised two-layer network of E, Ma & Wu, and the shape of its a priori
bound.

E, Ma & Wu (2019) estimate a target :math:`f^*` from :math:`n` samples with a two-layer ReLU
network of width :math:`m` by minimising the regularised empirical risk

.. math::
    J_\lambda(\theta) = \widehat R_n(\theta) + \lambda\sqrt{\frac{\log(2d)}{n}}\,\|\theta\|_P,
    \qquad \widehat R_n(\theta) = \frac1{2n}\sum_{i=1}^n \big(f(x_i; \theta) - y_i\big)^2,

with :math:`\|\theta\|_P = \frac1m\sum_k|a_k|(|w_k|_1 + |b_k|)` in the :math:`1/m` scaling
(:func:`~mathdl.generalization.path_norm`). For :math:`|x|_\infty \le 1` and :math:`\lambda`
above an absolute constant they prove (the *a priori* estimate, their main theorem, stated
with the Barron norm of the target rather than of the estimate) that with probability
:math:`1 - \delta`

.. math::
    R(\hat\theta) \lesssim \frac{\|f^*\|_{\mathcal B}^2}{m}
        + \lambda\,\|f^*\|_{\mathcal B}\sqrt{\frac{\log(2d)}{n}}
        + \sqrt{\frac{\log(n/\delta)}{n}}, \qquad
    \|\hat\theta\|_P \lesssim \|f^*\|_{\mathcal B},

an approximation term at the Monte Carlo rate and an estimation term from the Rademacher
complexity :math:`2Q\sqrt{2\log(2d)/n}` of the path-norm ball (Thm 6;
:func:`~mathdl.generalization.path_norm_rademacher_bound`), neither with a curse of
dimensionality. :func:`a_priori_bound` returns the first two terms without constants (the shape);
:class:`PathNormRegularizedEstimator` minimises :math:`J_\lambda` by full-batch Adam (Kingma &
Ba 2015) from an initialisation with zero output weights.

References:
    W. E, C. Ma & L. Wu, "A priori estimates of the population risk for two-layer neural
    networks", Commun. Math. Sci. 17 (2019) 1407-1425, arXiv:1810.06397 (the a priori
    estimate; Thm 6);
    D. P. Kingma & J. Ba, "Adam: a method for stochastic optimization", ICLR 2015.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from mathdl.generalization._barron import path_norm
from mathdl.generalization._checks import (
    check_generator,
    check_positive_int,
    check_real,
    check_tensor,
)
from mathdl.training import FirstLayerInit, OutputInit, Scaling, TwoLayerNetwork

__all__ = ["PathNormRegularizedEstimator", "a_priori_bound"]


def a_priori_bound(barron_norm: float, *, width: int, n: int, dim: int,
                   penalty: float = 1.0) -> float:
    r"""The shape of E, Ma & Wu's a priori bound, :math:`\|f\|_{\mathcal B}^2/m + \lambda
    \|f\|_{\mathcal B}\sqrt{\log(2d)/n}` (constants and the :math:`\sqrt{\log(n/\delta)/n}`
    term dropped).

    Args:
        barron_norm: :math:`\|f\|_{\mathcal B} \ge 0`.
        width: :math:`m \ge 1`; n: sample size :math:`\ge 1`; dim: :math:`d \ge 1`.
        penalty: :math:`\lambda > 0`.

    Raises:
        ValueError: on bad arguments.
    """
    b = check_real(barron_norm, "barron_norm", nonnegative=True)
    check_positive_int(width, "width")
    check_positive_int(n, "n")
    check_positive_int(dim, "dim")
    lam = check_real(penalty, "penalty", positive=True)
    return b * b / width + lam * b * math.sqrt(math.log(2 * dim) / n)


class PathNormRegularizedEstimator:
    r"""Minimise :math:`J_\lambda(\theta) = \frac1{2n}\sum_i(f(x_i;\theta) - y_i)^2 +
    \lambda\sqrt{\log(2d)/n}\,\|\theta\|_P` over a width-:math:`m` ReLU network in the
    :math:`1/m` scaling (E, Ma & Wu 2019).

    The constructor only stores; :meth:`fit` initialises the network (first layer uniform on
    :math:`S^{d-1}`, biases :math:`\mathcal N(0, s_b^2)`, output weights zero) from
    ``generator`` and runs ``steps`` full-batch Adam steps on :math:`J_\lambda` (the path norm's
    subgradient at zero is zero). Deterministic for a given generator.

    Args:
        width: :math:`m \ge 1`.
        penalty: :math:`\lambda \ge 0` (0: the unregularised network).
        learning_rate: Adam step size :math:`> 0`.
        steps: Adam steps :math:`\ge 1`.
        bias: whether the neurons have biases (then :math:`|b_k|` enters the path norm).
        bias_std: :math:`s_b \ge 0`.

    Attributes (after :meth:`fit`):
        network_: the trained :class:`~mathdl.training.TwoLayerNetwork`.
        path_norm_: :math:`\|\hat\theta\|_P`.
        train_risk_: :math:`\widehat R_n(\hat\theta)`.
        objective_: :math:`J_\lambda(\hat\theta)`.
        n_features_in_: :math:`d`.
    """

    def __init__(self, width: int, *, penalty: float = 1.0, learning_rate: float = 0.01,
                 steps: int = 2000, bias: bool = True, bias_std: float = 0.5) -> None:
        self.width = width
        self.penalty = penalty
        self.learning_rate = learning_rate
        self.steps = steps
        self.bias = bias
        self.bias_std = bias_std

    def _validate(self) -> None:
        check_positive_int(self.width, "width")
        check_real(self.penalty, "penalty", nonnegative=True)
        check_real(self.learning_rate, "learning_rate", positive=True)
        check_positive_int(self.steps, "steps")
        if not isinstance(self.bias, bool):
            raise ValueError(f"bias: expected a bool, got {self.bias!r}")
        check_real(self.bias_std, "bias_std", nonnegative=True)

    def regularization_strength(self, n: int, dim: int) -> float:
        r""":math:`\lambda\sqrt{\log(2d)/n}`, the factor in front of :math:`\|\theta\|_P`."""
        check_positive_int(n, "n")
        check_positive_int(dim, "dim")
        return float(self.penalty) * math.sqrt(math.log(2 * dim) / n)

    def fit(self, x: Tensor, y: Tensor, *, generator: torch.Generator
            ) -> PathNormRegularizedEstimator:
        r"""Train on ``x: (n, d)``, ``y: (n,)``; returns ``self``.

        Raises:
            ValueError: on bad hyperparameters, shapes, dtypes or generator.
            RuntimeError: if the objective becomes non-finite (reduce ``learning_rate``).
        """
        self._validate()
        x = check_tensor(x, "x", 2)
        y = check_tensor(y, "y", 1)
        n, d = x.shape
        if n < 1 or d < 1:
            raise ValueError(f"x: expected a non-empty (n, d) matrix, got {tuple(x.shape)}")
        if y.shape[0] != n or y.dtype != x.dtype:
            raise ValueError(f"y: expected {n} entries of dtype {x.dtype} like x, got "
                             f"{tuple(y.shape)} of {y.dtype}")
        check_generator(generator)
        net = TwoLayerNetwork(d, self.width, scaling=Scaling.MEAN_FIELD, bias=self.bias,
                              bias_std=float(self.bias_std), output_init=OutputInit.ZERO,
                              first_layer_init=FirstLayerInit.SPHERE, generator=generator,
                              dtype=x.dtype, device=x.device)
        strength = self.regularization_strength(n, d)
        params = list(net.parameters())
        first = [torch.zeros_like(q) for q in params]
        second = [torch.zeros_like(q) for q in params]
        lr, beta1, beta2, eps = float(self.learning_rate), 0.9, 0.999, 1e-8
        for step in range(1, self.steps + 1):
            risk = 0.5 * (net(x) - y).pow(2).mean()
            objective = risk + strength * path_norm(net)
            if not bool(torch.isfinite(objective)):
                raise RuntimeError(f"the objective is {float(objective.detach())} at step "
                                   f"{step}; reduce learning_rate (= {self.learning_rate})")
            grads = torch.autograd.grad(objective, params)
            with torch.no_grad():  # Adam (Kingma & Ba 2015, Algorithm 1)
                c1, c2 = 1.0 - beta1**step, 1.0 - beta2**step
                for q, g, m1, m2 in zip(params, grads, first, second, strict=True):
                    m1.mul_(beta1).add_(g, alpha=1.0 - beta1)
                    m2.mul_(beta2).addcmul_(g, g, value=1.0 - beta2)
                    q.sub_(lr * (m1 / c1) / ((m2 / c2).sqrt() + eps))
        with torch.no_grad():
            self.train_risk_ = float(0.5 * (net(x) - y).pow(2).mean())
            self.path_norm_ = float(path_norm(net))
        self.objective_ = self.train_risk_ + strength * self.path_norm_
        self.network_ = net
        self.n_features_in_ = d
        return self

    def predict(self, x: Tensor) -> Tensor:
        r"""``(n,)`` outputs :math:`f(x; \hat\theta)` for ``x: (n, d)``.

        Raises:
            ValueError: if the estimator is not fitted or ``x`` has the wrong shape.
        """
        if not hasattr(self, "network_"):
            raise ValueError("predict: the estimator is not fitted; call fit first")
        x = check_tensor(x, "x", 2)
        if x.shape[1] != self.n_features_in_:
            raise ValueError(f"x: expected {self.n_features_in_} columns, got "
                             f"{tuple(x.shape)}")
        with torch.no_grad():
            return self.network_(x)
