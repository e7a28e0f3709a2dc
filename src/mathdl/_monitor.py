"""What every training loop in mathdl shares (PDE solvers, generative models): divergence
detection and progress reporting.

A solver trains for a fixed number of steps; after every step it hands its loss to
:class:`TrainingMonitor`, which raises :class:`TrainingDivergedError` (one clear sentence) when the
loss is not finite or has grown by more than ``blowup`` times its first value, and forwards
``(done, total)`` to the user's progress callback (the same protocol as the atlas's ``Progress``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

ProgressCallback = Callable[[int, int], None]


class TrainingDivergedError(RuntimeError):
    """The training loss became NaN/inf or exploded; the message says when and suggests a fix."""


def _no_progress(done: int, total: int) -> None:
    """Default progress callback: does nothing."""


class TrainingMonitor:
    """Watch a training loop of ``total`` steps.

    Args:
        total: number of steps the loop will take (>= 1).
        solver: the solver's name, used in error messages (e.g. ``"Deep BSDE"``).
        progress: called as ``progress(done, total)`` after each step, or ``None``.
        blowup: the loss may not exceed ``blowup`` times its first finite value (default 1e8).
        every: call ``progress`` every this many steps (and at the last step).
    """

    def __init__(self, total: int, *, solver: str, progress: ProgressCallback | None = None,
                 blowup: float = 1e8, every: int = 1) -> None:
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise ValueError(f"total: expected an integer >= 0, got {total!r}")
        if not (isinstance(blowup, int | float) and blowup > 1):
            raise ValueError(f"blowup: expected a number > 1, got {blowup!r}")
        self.total = total
        self.solver = solver
        self.progress = progress if progress is not None else _no_progress
        self.blowup = float(blowup)
        self.every = max(int(every), 1)
        self.first: float | None = None

    def step(self, done: int, loss: float) -> None:
        """Record that ``done`` steps are finished with training loss ``loss``.

        Raises:
            TrainingDivergedError: the loss is NaN/inf, or larger than ``blowup`` times the first.
        """
        loss = float(loss)
        if not math.isfinite(loss):
            raise TrainingDivergedError(
                f"{self.solver} diverged at step {done}/{self.total}: the loss is {loss}; "
                "lower the learning rate or check the problem's data")
        if self.first is None:
            self.first = max(abs(loss), 1e-300)
        elif abs(loss) > self.blowup * self.first:
            raise TrainingDivergedError(
                f"{self.solver} diverged at step {done}/{self.total}: the loss {loss:.3e} is more "
                f"than {self.blowup:.0e} times its first value {self.first:.3e}; lower the "
                "learning rate")
        if done % self.every == 0 or done == self.total:
            self.progress(done, self.total)
