"""The README's quick start runs as written, and its commands are the ones CI runs."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_quick_start_runs(capsys):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Quick start\s+```python\n(.*?)```", readme, re.S)
    assert block, "README has no python quick start"
    exec(compile(block.group(1), "README.md", "exec"), {})
    slope, grid_error = (float(x) for x in capsys.readouterr().out.split())
    assert abs(slope + 0.5) < 0.1  # the Monte Carlo rate it advertises
    assert 0 < grid_error < 0.05   # midpoint rule with 3 nodes per axis: error O(1/9)


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in readme and "make test" in ci
    assert "make demo" in readme and "make demo" in ci
