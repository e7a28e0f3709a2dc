"""The PDE solvers' training monitor: re-exported from :mod:`mathdl._monitor`, which every
topic's training loop shares."""

from mathdl._monitor import ProgressCallback, TrainingDivergedError, TrainingMonitor

__all__ = ["ProgressCallback", "TrainingDivergedError", "TrainingMonitor"]
