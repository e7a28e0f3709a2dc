"""The run store (embedded SQLite). No mathematics lives here."""

import os
from pathlib import Path

from ._queries import sweep_curves, sweep_table
from ._sqlite import DB_NAME, RunRecord, RunStatus, RunStore, StoreError, SweepRecord

DEFAULT_HOME = "mathdl-runs"


def default_home() -> Path:
    """``$MATHDL_HOME`` if set, else ``./mathdl-runs``."""
    return Path(os.environ.get("MATHDL_HOME") or DEFAULT_HOME)


__all__ = ["DB_NAME", "DEFAULT_HOME", "RunRecord", "RunStatus", "RunStore", "StoreError",
           "SweepRecord", "default_home", "sweep_curves", "sweep_table"]
