r"""A scikit-learn regressor whose predictions are those of an infinitely wide network.

:class:`InfiniteWidthRegressor` evaluates the analytic NNGP / NTK kernels of a fully-connected
network (:func:`~mathdl.kernels.fully_connected`, :func:`~mathdl.kernels.kernel_fn`) and
conditions on the training data with one of the kernel predictors of
:mod:`mathdl.kernels._predictors`. Every predictor is linear in the test-train kernel,
:math:`\hat f(x_*) = k(x_*, X)\,\alpha`, so ``fit`` computes the dual coefficients
:math:`\alpha` once (by evaluating the predictor with the identity as "test-train kernel") and
``predict`` costs one kernel evaluation and one matrix product.

References:
    A. Jacot, F. Gabriel & C. Hongler, "Neural tangent kernel: convergence and generalization in
    neural networks", NeurIPS 2018;
    J. Lee, L. Xiao, S. S. Schoenholz, Y. Bahri, R. Novak, J. Sohl-Dickstein & J. Pennington,
    "Wide neural networks of any depth evolve as linear models under gradient descent",
    NeurIPS 2019, eqs. (9), (15)-(16);
    C. E. Rasmussen & C. K. I. Williams, *Gaussian Processes for Machine Learning*, MIT Press
    2006, §2.2, eqs. (2.22)-(2.26) and Algorithm 2.1.
"""

from __future__ import annotations

import enum
import math
import numbers
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from mathdl.kernels._analytic import (
    ActivationKind,
    Parameterization,
    fully_connected,
    kernel_fn,
)
from mathdl.kernels._predictors import kernel_ridge, nngp_posterior, ntk_predictor

try:
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # scikit-learn < 1.6: the method form of the same validation

    def _validate_data(estimator: Any, *args: Any, **kwargs: Any) -> Any:
        return estimator._validate_data(*args, **kwargs)


__all__ = ["InfiniteWidthRegressor", "PredictorKind"]


class PredictorKind(enum.Enum):
    r"""The predictor of :class:`InfiniteWidthRegressor`.

    ``NTK``: mean output of the infinitely wide network trained by gradient flow for a time
    :math:`t` (:func:`~mathdl.kernels.ntk_predictor` with :math:`f_0 = 0`); ``NNGP``: Gaussian
    process posterior mean with the NNGP kernel (:func:`~mathdl.kernels.nngp_posterior`);
    ``RIDGE``: kernel ridge regression with the NTK (:func:`~mathdl.kernels.kernel_ridge`).
    """

    NTK = "ntk"
    NNGP = "nngp"
    RIDGE = "ridge"


_DTYPES = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}


def _choice(value: Any, kind: type[enum.Enum], name: str) -> Any:
    """An enum member from a member or its value string; a ValueError naming ``name``."""
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        for member in kind:
            if member.value == value:
                return member
    choices = ", ".join(repr(m.value) for m in kind)
    raise ValueError(f"{name}: expected one of {choices} (or a {kind.__name__}), got {value!r}")


def _integer(value: Any, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def _real(value: Any, name: str, *, positive: bool = False, allow_inf: bool = False) -> float:
    number = not isinstance(value, bool) and isinstance(value, numbers.Real)
    x = float(value) if number else math.nan
    if not ((x > 0 if positive else x >= 0) and (allow_inf or math.isfinite(x))):
        kind = "number" if allow_inf else "finite number"
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name}: expected a {kind} {bound}, got {value!r}")
    return x


def _dtype(value: Any) -> np.dtype:
    if value is None:
        key = None
    elif isinstance(value, torch.dtype):
        key = str(value).removeprefix("torch.")
    else:
        try:
            key = np.dtype(value).name
        except TypeError:
            key = None
    if key not in _DTYPES:
        raise ValueError(f"dtype: expected 'float32' or 'float64', got {value!r}")
    return _DTYPES[key]


def _tensor(a: np.ndarray, dtype: np.dtype) -> torch.Tensor:
    """A fresh contiguous tensor (also from read-only or Fortran-ordered arrays)."""
    return torch.tensor(np.ascontiguousarray(a, dtype=dtype))


class InfiniteWidthRegressor(RegressorMixin, BaseEstimator):
    r"""Regression with the NTK / NNGP of an infinitely wide fully-connected network.

    The network has ``depth`` hidden layers with activation :math:`\phi`, weight and bias
    variances :math:`\sigma_w^2, \sigma_b^2` and the given parameterisation; its kernels on
    inputs :math:`x \in \mathbb R^d` are those of :func:`~mathdl.kernels.kernel_fn` applied to
    :func:`~mathdl.kernels.fully_connected` (input kernel :math:`x \cdot x'/d`): the NNGP kernel
    :math:`K = \Sigma^{L+1}` and the NTK :math:`\Theta = \Theta^{L+1}`. With training inputs
    :math:`X` (:math:`n` points), targets :math:`Y` (:math:`n \times k`), :math:`K = K(X, X)`,
    :math:`\Theta = \Theta(X, X)` and a test point :math:`x`:

    - ``predictor="ntk"`` (Jacot et al. 2018; Lee et al. 2019, eqs. (15)-(16)): the mean over
      initialisations of the network trained by gradient flow on
      :math:`\tfrac12\sum_i |f(x_i) - y_i|^2` with learning rate :math:`\eta` for a time
      :math:`t` (the initial output :math:`f_0` is a centred Gaussian process, so its mean is
      :math:`f_0 = 0`),

      .. math::
          \hat f_t(x) = \Theta(x, X)\, \Theta^{-1}\big(I - e^{-\eta \Theta t}\big)\, Y,
          \qquad \hat f_\infty(x) = \Theta(x, X)\, \Theta^{+} Y,

      evaluated in the eigenbasis of :math:`\Theta` (:func:`~mathdl.kernels.ntk_predictor`);
      :math:`t = \infty` interpolates the training targets when :math:`\Theta` is positive
      definite (distinct inputs), :math:`t = 0` predicts 0, finite :math:`t` is early stopping.
    - ``predictor="nngp"`` (Rasmussen & Williams 2006, eqs. (2.22)-(2.24)): the posterior of
      the Gaussian process :math:`f \sim \mathcal{GP}(0, K)` given :math:`Y = f(X) + \varepsilon`,
      :math:`\varepsilon \sim \mathcal N(0, \sigma^2 I)`, i.e. Bayesian inference with the
      infinitely wide network as prior (Lee et al. 2018):

      .. math::
          \bar f(x) = K(x, X)\,(K + \sigma^2 I)^{-1} Y, \qquad
          \mathbb V[f(x)] = K(x, x) - K(x, X)\,(K + \sigma^2 I)^{-1} K(X, x),

      the variance of the latent :math:`f(x)` (without :math:`\sigma^2`), computed with the
      Cholesky factor :math:`L L^\top = K + \sigma^2 I` as
      :math:`K(x, x) - |L^{-1} K(X, x)|^2` (their Algorithm 2.1).
    - ``predictor="ridge"``: kernel ridge regression with the NTK,
      :math:`\hat f(x) = \Theta(x, X)\,(\Theta + \lambda I)^{-1} Y`, the minimiser of
      :math:`\sum_i |f(x_i) - y_i|^2 + \lambda \|f\|^2_{\mathcal H_\Theta}`
      (:func:`~mathdl.kernels.kernel_ridge`); :math:`\lambda = 0` equals ``"ntk"`` at
      :math:`t = \infty` for positive-definite :math:`\Theta`.

    Each is :math:`\hat f(x) = k(x, X)\,\alpha` with dual coefficients :math:`\alpha`
    (:math:`n \times k`), computed in ``fit`` by the corresponding public predictor applied with
    the identity matrix in place of :math:`k(x_*, X)`; the columns of a 2-D ``y`` are independent
    outputs sharing the kernel. Inputs are used as given (no scaling: the kernels depend on
    :math:`|x|` and on :math:`d`; put a ``StandardScaler`` in a pipeline if the features have
    different units) and the prior mean is 0 (centre ``y`` if its mean is far from 0).

    The constructor only stores its arguments (scikit-learn convention); they are validated in
    :meth:`fit`. Enumerated options may be given as their enum or as its value string (strings
    keep :func:`sklearn.base.clone` and grid searches simple).

    Args:
        depth: number of hidden layers :math:`L \ge 1`.
        activation: :class:`~mathdl.kernels.ActivationKind` or ``"relu"`` / ``"erf"``.
        weight_var: :math:`\sigma_w^2 \ge 0`.
        bias_var: :math:`\sigma_b^2 \ge 0`. The default 0.1 keeps the ReLU kernels of inputs
            :math:`x` and :math:`c x` (:math:`c > 0`) linearly independent.
        parameterization: :class:`~mathdl.kernels.Parameterization` or ``"ntk"`` /
            ``"standard"`` (affects the NTK only).
        predictor: :class:`PredictorKind` or ``"ntk"`` / ``"nngp"`` / ``"ridge"``.
        t: training time :math:`t \ge 0` (``math.inf`` allowed) for ``predictor="ntk"``;
            ignored by the other predictors.
        learning_rate: :math:`\eta > 0` for ``predictor="ntk"`` (only :math:`\eta t` matters);
            ignored by the other predictors.
        regularization: :math:`\ge 0`; the ridge :math:`\lambda` for ``"ridge"`` and the noise
            variance :math:`\sigma^2` for ``"nngp"`` (both added to the kernel's diagonal, not
            divided by :math:`n`); ignored by ``"ntk"`` (regularise it with a finite ``t``).
            With 0, ``"ridge"`` and ``"nngp"`` need a positive-definite kernel (distinct inputs).
        dtype: ``"float64"`` or ``"float32"`` (or the numpy / torch dtype): the precision of the
            kernels, the solve and the predictions.
        block_size: rows and columns per kernel block (:func:`~mathdl.kernels.kernel_fn`), also
            the number of test rows per chunk in :meth:`predict`; ``None``: one block.

    Attributes:
        X_train_: ``(n, d)`` training inputs (a copy, in ``dtype``).
        y_train_: ``(n,)`` or ``(n, k)`` training targets (a copy, in ``dtype``).
        n_features_in_: :math:`d`.
        layers_: the :func:`~mathdl.kernels.fully_connected` layers the kernels come from.
        predictor_: the :class:`PredictorKind` used.
        train_kernel_: ``(n, n)`` the kernel conditioned on: :math:`\Theta(X, X)` for ``"ntk"``
            and ``"ridge"``, :math:`K(X, X)` for ``"nngp"``.
        alpha_: ``(n,)`` or ``(n, k)`` dual coefficients :math:`\alpha`:
            :math:`\Theta^{-1}(I - e^{-\eta\Theta t})Y`, :math:`(K + \sigma^2 I)^{-1}Y` or
            :math:`(\Theta + \lambda I)^{-1}Y`.
        L_: ``(n, n)`` lower Cholesky factor of :math:`K + \sigma^2 I` for ``"nngp"``, else
            ``None``.

    Raises:
        ValueError: in :meth:`fit`, naming the parameter, on an unknown ``activation``,
            ``predictor``, ``parameterization`` or ``dtype``, ``depth < 1``, a negative variance,
            ``t < 0``, ``learning_rate <= 0``, ``regularization < 0``, a bad ``block_size``; if
            the kernel is not positive definite where the predictor needs it; on invalid data
            (scikit-learn's validation: non-finite values, wrong shapes, too few samples).

    Example:
        >>> import numpy as np
        >>> x = np.linspace(-1, 1, 8)[:, None]
        >>> model = InfiniteWidthRegressor(depth=2).fit(x, np.sin(3 * x[:, 0]))
        >>> bool(np.abs(model.predict(x) - np.sin(3 * x[:, 0])).max() < 1e-8)
        True
    """

    def __init__(
        self,
        depth: int = 2,
        activation: str | ActivationKind = "relu",
        weight_var: float = 2.0,
        bias_var: float = 0.1,
        parameterization: str | Parameterization = "ntk",
        predictor: str | PredictorKind = "ntk",
        t: float = math.inf,
        learning_rate: float = 1.0,
        regularization: float = 0.0,
        dtype: Any = "float64",
        block_size: int | None = 512,
    ) -> None:
        self.depth = depth
        self.activation = activation
        self.weight_var = weight_var
        self.bias_var = bias_var
        self.parameterization = parameterization
        self.predictor = predictor
        self.t = t
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.dtype = dtype
        self.block_size = block_size

    # ------------------------------------------------------------------------- tags

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def _more_tags(self) -> dict[str, Any]:  # scikit-learn < 1.6
        return {"multioutput": True}

    # ------------------------------------------------------------------------- fit / predict

    def _block_size(self) -> int | None:
        if self.block_size is None:
            return None
        return _integer(self.block_size, "block_size", minimum=1)

    def fit(self, X: Any, y: Any) -> InfiniteWidthRegressor:
        """Compute the training kernel and the dual coefficients.

        Args:
            X: ``(n, d)`` array-like of inputs.
            y: ``(n,)`` or ``(n, k)`` array-like of targets.

        Returns:
            ``self``.

        Raises:
            ValueError: see the class docstring.
        """
        depth = _integer(self.depth, "depth", minimum=1)
        activation = _choice(self.activation, ActivationKind, "activation")
        parameterization = _choice(self.parameterization, Parameterization, "parameterization")
        predictor = _choice(self.predictor, PredictorKind, "predictor")
        weight_var = _real(self.weight_var, "weight_var")
        bias_var = _real(self.bias_var, "bias_var")
        t = _real(self.t, "t", allow_inf=True)
        learning_rate = _real(self.learning_rate, "learning_rate", positive=True)
        regularization = _real(self.regularization, "regularization")
        np_dtype = _dtype(self.dtype)
        block_size = self._block_size()

        X, y = _validate_data(
            self, X, y, multi_output=True, y_numeric=True, dtype=(np.float64, np.float32)
        )
        x_train = _tensor(X, np_dtype)
        y_train = _tensor(y, np_dtype)
        layers = fully_connected(
            depth,
            activation=activation,
            weight_var=weight_var,
            bias_var=bias_var,
            parameterization=parameterization,
        )
        kernel = kernel_fn(layers, x_train, block_size=block_size)
        k_train = kernel.nngp if predictor is PredictorKind.NNGP else kernel.ntk
        # every predictor is k(x, X) @ alpha: the identity as test-train kernel returns alpha
        eye = torch.eye(k_train.shape[0], dtype=k_train.dtype)
        factor = None
        if predictor is PredictorKind.NTK:
            _, alpha = ntk_predictor(k_train, eye, y_train, t=t, learning_rate=learning_rate)
        elif predictor is PredictorKind.RIDGE:
            alpha = kernel_ridge(k_train, eye, y_train, ridge=regularization)
        else:
            alpha, _ = nngp_posterior(k_train, eye, y_train, noise_var=regularization)
            # nngp_posterior succeeded, so K + sigma^2 I is positive definite
            shifted = 0.5 * (k_train + k_train.mT) + regularization * eye
            factor = torch.linalg.cholesky(shifted)

        self.X_train_ = x_train.numpy()
        self.y_train_ = y_train.numpy()
        self.layers_ = layers
        self.predictor_ = predictor
        self.train_kernel_ = k_train.numpy()
        self.alpha_ = alpha.numpy()
        self.L_ = None if factor is None else factor.numpy()
        return self

    def predict(self, X: Any, return_std: bool = False) -> Any:
        r"""Predictions :math:`k(x, X)\,\alpha` and, for ``predictor="nngp"``, posterior stds.

        Args:
            X: ``(m, d)`` array-like of inputs.
            return_std: also return the posterior standard deviation
                :math:`\sqrt{\mathbb V[f(x)]}` of the latent function (only for
                ``predictor="nngp"``; negative rounding residues are clipped to 0).

        Returns:
            ``(m,)`` or ``(m, k)`` numpy array (the shape of ``y`` in :meth:`fit`, dtype
            ``dtype``); with ``return_std`` the pair ``(mean, std)``, ``std`` of the same
            shape (the variance is common to all outputs).

        Raises:
            ValueError: on invalid ``X`` (scikit-learn's validation, also a number of features
                different from ``fit``), or ``return_std=True`` with another predictor.
            sklearn.exceptions.NotFittedError: before :meth:`fit`.
        """
        check_is_fitted(self)
        if return_std and self.predictor_ is not PredictorKind.NNGP:
            raise ValueError(
                "return_std: the posterior standard deviation is only defined for "
                f"predictor='nngp', this model was fitted with {self.predictor_.value!r}"
            )
        X = _validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        dtype = self.X_train_.dtype
        x_test = _tensor(X, dtype)
        x_train = _tensor(self.X_train_, dtype)
        alpha = _tensor(self.alpha_, dtype)
        factor = None if self.L_ is None else _tensor(self.L_, dtype)
        block_size = self._block_size()
        m = x_test.shape[0]
        chunk = m if block_size is None else block_size
        means, variances = [], []
        for i0 in range(0, m, chunk):
            kernel = kernel_fn(self.layers_, x_test[i0:i0 + chunk], x_train, block_size=block_size)
            if self.predictor_ is PredictorKind.NNGP:
                k_test = kernel.nngp
            else:
                k_test = kernel.ntk
            means.append(k_test @ alpha)
            if return_std:
                v = torch.linalg.solve_triangular(factor, k_test.mT, upper=False)  # (n, c)
                variances.append(kernel.var1 - v.square().sum(dim=0))
        mean = torch.cat(means).numpy()
        if not return_std:
            return mean
        std = torch.cat(variances).clamp(min=0.0).sqrt().numpy()
        if mean.ndim == 2:
            std = np.repeat(std[:, None], mean.shape[1], axis=1)
        return mean, std
