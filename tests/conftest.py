"""Shared fixtures: a throw-away mathdl home and a way to call the CLI as a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def cli_env(home: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MATHDL_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["COLUMNS"] = "200"
    if home is not None:
        env["MATHDL_HOME"] = str(home)
    return env


def mathdl(*args: str, home: Path | None = None, timeout: float = 600,
           cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m mathdl ARGS`` in a subprocess, as a user would run ``mathdl ARGS``."""
    return subprocess.run(
        [sys.executable, "-m", "mathdl", *args], capture_output=True, text=True,
        env=cli_env(home), timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL,
    )
