"""The command line, used as a user uses it: in a subprocess, with exit codes."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import cli_env, mathdl
from mathdl.atlas import experiments

RUNGE = "approximation/runge"


def test_list_json_names_every_experiment():
    proc = mathdl("list", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["name"] for r in rows] == [e.name for e in experiments()]
    assert all(set(r) == {"name", "title", "topic", "reference"} for r in rows)


def test_show_lists_config_fields_and_presets():
    proc = mathdl("show", RUNGE)
    assert proc.returncode == 0, proc.stderr
    for word in ("chebyshev_degrees", "rate_tolerance", "quick", "full", "Bernstein"):
        assert word in proc.stdout


def test_run_json_shape_and_store(home):
    proc = mathdl("run", RUNGE, "--json", "--seed", "5", "--set", "eval_points=2001",
                  "--set", "rate_tolerance=0.2", home=home)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert {"run_id", "experiment", "preset", "seed", "config", "metrics", "claims", "figures",
            "wall_seconds", "versions"} <= set(data)
    assert data["experiment"] == RUNGE and data["preset"] == "quick" and data["seed"] == 5
    assert data["config"]["eval_points"] == 2001 and data["config"]["rate_tolerance"] == 0.2
    for claim in data["claims"]:
        assert {"name", "statement", "reference", "predicted", "measured", "tolerance",
                "holds"} <= set(claim)
    assert all(c["holds"] for c in data["claims"])
    assert data["figures"] and all(p.endswith(".svg") for p in data["figures"])
    listed = json.loads(mathdl("runs", "--json", home=home).stdout)
    assert [r["run_id"] for r in listed] == [data["run_id"]]


def test_strict_exits_1_when_a_claim_fails(home):
    # An impossible tolerance: the Chebyshev rate cannot match theory to 1e-9 at finite degree.
    proc = mathdl("run", RUNGE, "--strict", "--set", "rate_tolerance=1e-9", home=home)
    assert proc.returncode == 1
    assert "fails" in proc.stdout
    relaxed = mathdl("run", RUNGE, "--set", "rate_tolerance=1e-9", home=home)
    assert relaxed.returncode == 0


@pytest.mark.parametrize(("args", "message"), [
    (["run", "approximation/nope"], "unknown experiment 'approximation/nope'"),
    (["run", RUNGE, "--set", "depth=3"], "unknown config key 'depth'"),
    (["run", RUNGE, "--set", "eval_points=many"], "--set eval_points: expected integer"),
    (["run", RUNGE, "--set", "eval_points=5"], "eval_points: expected an integer between"),
    (["run", RUNGE, "--set", "a=-1"], "a: expected a finite number > 0"),
    (["run", RUNGE, "--set", "noequals"], "expected key=value"),
    (["show", "nope/nope"], "unknown experiment"),
    (["reproduce", "--topic", "nope"], "unknown topic 'nope'"),
])
def test_bad_input_one_line_exit_2_nothing_written(home, args, message):
    proc = mathdl(*args, home=home)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not home.exists()


@pytest.mark.parametrize("args", [["run", RUNGE, "--preset", "medium"],
                                  ["run", RUNGE, "--seed", "x"], ["frobnicate"]])
def test_usage_errors_exit_2(home, args):
    proc = mathdl(*args, home=home)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert not home.exists()


def test_unwritable_home_exit_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = mathdl("run", RUNGE, home=blocker / "home")
    assert proc.returncode == 2
    assert "cannot create the mathdl home" in proc.stderr and "Traceback" not in proc.stderr
    proc = mathdl("run", RUNGE, "--home", str(blocker))
    assert proc.returncode == 2 and "not a directory" in proc.stderr


def test_reproduce_quick_writes_the_report(home):
    # One topic (the whole quick atlas runs in CI's `make demo`), in two worker processes.
    proc = mathdl("reproduce", "--preset", "quick", "--jobs", "2", "--topic", "approximation",
                  home=home)
    assert proc.returncode == 0, proc.stderr
    index = proc.stdout.strip().splitlines()[-1].removeprefix("report: ")
    html = Path(index).read_text(encoding="utf-8")
    chosen = experiments("approximation")
    for exp in chosen:
        assert exp.name in html
    runs = json.loads(mathdl("runs", "--json", home=home).stdout)
    assert sorted(r["experiment"] for r in runs) == sorted(e.name for e in chosen)
    assert all(r["status"] == "completed" and r["holding"] == r["claims"] for r in runs)
    out = home / "elsewhere"
    again = mathdl("report", "--out", str(out), home=home)
    assert again.returncode == 0 and (out / "index.html").is_file()


def _rows(home):
    with sqlite3.connect(home / "runs.sqlite") as con:
        return con.execute("SELECT run_id, status, result FROM runs ORDER BY run_id").fetchall()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killed_run_leaves_no_row_or_a_failed_row(home, sig):
    assert mathdl("run", RUNGE, home=home).returncode == 0
    before = _rows(home)
    # The full Monte Carlo preset runs for minutes: it is still running when the signal arrives.
    proc = subprocess.Popen(
        [sys.executable, "-m", "mathdl", "run", "approximation/monte-carlo-vs-grid", "--preset",
         "full"], env=cli_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert "running approximation/monte-carlo-vs-grid" in proc.stderr.readline()
    proc.send_signal(sig)
    proc.communicate(timeout=120)
    assert proc.returncode == (130 if sig == signal.SIGTERM else -9)
    after = _rows(home)
    assert set(before) <= set(after)  # earlier runs untouched
    new = [r for r in after if r not in before]
    assert len(new) <= 1 and all(status == "failed" and result is None
                                 for _, status, result in new)
    with sqlite3.connect(home / "runs.sqlite") as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_console_script_is_installed():
    import shutil

    exe = shutil.which("mathdl", path=str(Path(sys.executable).parent))
    assert exe is not None
    proc = subprocess.run([exe, "--help"], capture_output=True, text=True, env=cli_env())
    assert proc.returncode == 0 and "reproduce" in proc.stdout


def test_a_store_that_fails_to_write_mid_run_is_one_line_exit_2(home):
    # A trigger that rejects every insert makes the run's final write fail, as a full disk
    # would (file permissions cannot be used: the tests may run as root).
    assert mathdl("run", RUNGE, home=home).returncode == 0
    with sqlite3.connect(home / "runs.sqlite") as con:
        con.execute("CREATE TRIGGER no_more BEFORE INSERT ON runs "
                    "BEGIN SELECT RAISE(ABORT, 'disk quota exceeded'); END")
    proc = mathdl("run", RUNGE, home=home)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "cannot write to the run store" in proc.stderr and "disk quota" in proc.stderr
    with sqlite3.connect(home / "runs.sqlite") as con:
        assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
