"""Training dynamics: two-layer networks with explicit output scalings and gradient descent."""

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
    "FirstLayerInit",
    "Loss",
    "Nonlinearity",
    "OutputInit",
    "Scaling",
    "TrainingRecord",
    "TwoLayerNetwork",
    "train_gradient_descent",
]
