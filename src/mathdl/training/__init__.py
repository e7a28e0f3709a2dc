"""Training dynamics: two-layer networks with explicit output scalings and gradient descent,
gradient descent on linear models, and the reference solutions of implicit-bias theorems."""

from mathdl.training._diagonal import (
    DiagonalTrajectory,
    diagonal_network_gradient_descent,
    diagonal_network_step_size,
)
from mathdl.training._implicit_bias import (
    MaxMarginSolution,
    logistic_gd_offset,
    max_margin_classifier,
    min_l1_interpolant,
    min_l2_interpolant,
    min_woodworth_interpolant,
    woodworth_potential,
)
from mathdl.training._linear_gd import LinearLoss, LinearTrajectory, linear_gradient_descent
from mathdl.training._two_layer import (
    FirstLayerInit,
    Loss,
    Nonlinearity,
    OutputInit,
    Scaling,
    TrainingRecord,
    TwoLayerNetwork,
    train_gradient_descent,
)

__all__ = [
    "DiagonalTrajectory",
    "FirstLayerInit",
    "LinearLoss",
    "LinearTrajectory",
    "Loss",
    "MaxMarginSolution",
    "Nonlinearity",
    "OutputInit",
    "Scaling",
    "TrainingRecord",
    "TwoLayerNetwork",
    "diagonal_network_gradient_descent",
    "diagonal_network_step_size",
    "linear_gradient_descent",
    "logistic_gd_offset",
    "max_margin_classifier",
    "min_l1_interpolant",
    "min_l2_interpolant",
    "min_woodworth_interpolant",
    "train_gradient_descent",
    "woodworth_potential",
]
