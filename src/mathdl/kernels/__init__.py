"""Infinite-width kernels: analytic NNGP and NTK, finite networks, empirical NTK, predictors."""

from mathdl.kernels._analytic import (
    Activation,
    ActivationKind,
    Dense,
    Erf,
    Kernel,
    Parameterization,
    ReLU,
    Serial,
    fully_connected,
    kernel_diagonal,
    kernel_fn,
    nngp_kernel,
    ntk_kernel,
)
from mathdl.kernels._empirical import NTKStrategy, empirical_ntk, jacobian_features
from mathdl.kernels._networks import FullyConnectedNetwork
from mathdl.kernels._predictors import Dynamics, kernel_ridge, nngp_posterior, ntk_predictor
from mathdl.kernels._sklearn import InfiniteWidthRegressor, PredictorKind

__all__ = [
    "Activation",
    "ActivationKind",
    "Dense",
    "Dynamics",
    "Erf",
    "FullyConnectedNetwork",
    "InfiniteWidthRegressor",
    "Kernel",
    "NTKStrategy",
    "Parameterization",
    "PredictorKind",
    "ReLU",
    "Serial",
    "empirical_ntk",
    "fully_connected",
    "jacobian_features",
    "kernel_diagonal",
    "kernel_fn",
    "kernel_ridge",
    "nngp_kernel",
    "nngp_posterior",
    "ntk_kernel",
    "ntk_predictor",
]
