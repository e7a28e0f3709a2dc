"""`mathdl sweep` and `sweep-show` as a user runs them: exit codes, resumption, scale."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from conftest import cli_env, mathdl

RUNGE = "approximation/runge"
# A fast point: 8 equispaced and 6 Chebyshev degrees on 201 points (~10 ms of work).
FAST = ["--grid", "equispaced_degrees=10,14,18,22", "--grid", "chebyshev_degrees=10,20,30,40"]


@pytest.mark.parametrize(("args", "message"), [
    (["sweep", RUNGE], "empty grid"),
    (["sweep", RUNGE, "--grid", "nope=1,2"], "unknown config key 'nope'"),
    (["sweep", RUNGE, "--grid", "a=x"], "--grid a: expected values of type number"),
    (["sweep", RUNGE, "--grid", "eval_points=5"], "eval_points: expected an integer between"),
    (["sweep", "nope/nope", "--grid", "a=1"], "unknown experiment"),
    (["sweep", RUNGE, "--grid", "a=4", "--resume"], "--resume: no stored sweep"),
    (["sweep", RUNGE, "--grid", "a=4", "--scheduler", "tcp://127.0.0.1:9"],
     "no Dask scheduler answers"),
    (["sweep-show", "0123456789ab"], "unknown sweep"),
])
def test_bad_sweeps_one_line_exit_2_nothing_written(home, args, message):
    proc = mathdl(*args, home=home)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0], proc.stderr
    if args[0] == "sweep":
        assert not home.exists()


def _points(home):
    with sqlite3.connect(home / "runs.sqlite") as con:
        return con.execute("SELECT point_key, r.result FROM sweep_points JOIN runs AS r "
                           "USING (run_id) ORDER BY point_key").fetchall()


def test_killed_client_then_resume_equals_an_uninterrupted_sweep(tmp_path):
    args = ["sweep", RUNGE, *FAST, "--grid", "a=4,9,16,25,36,49", "--grid",
            "eval_points=201,301,401,501", "--seeds", "4", "--workers", "2"]
    n_points = 6 * 4 * 4
    reference = tmp_path / "reference"
    done = mathdl(*args, home=reference)
    assert done.returncode == 0, done.stderr
    sweep_id = done.stdout.strip().splitlines()[-1].removeprefix("sweep: ")
    # Interrupted: kill the client and its local cluster once some batches are stored.
    home = tmp_path / "interrupted"
    proc = subprocess.Popen([sys.executable, "-m", "mathdl", *args], env=cli_env(home),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if (home / "runs.sqlite").exists():
            try:
                if _points(home):
                    break
            except sqlite3.OperationalError:
                pass
        try:  # wait on the client itself between polls of the store (it may also finish)
            proc.wait(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            pass
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    partial = len(_points(home))
    assert 0 < partial <= n_points
    resumed = mathdl(*args, "--resume", home=home)
    assert resumed.returncode == 0, resumed.stderr
    final, expected = _points(home), _points(reference)
    assert [k for k, _ in final] == [k for k, _ in expected]  # same keys, each exactly once
    metrics = [json.loads(r)["metrics"] for _, r in final]
    assert metrics == [json.loads(r)["metrics"] for _, r in expected]
    shown = json.loads(mathdl("sweep-show", sweep_id, "--json", home=home).stdout)
    assert shown["n_points"] == n_points == len(shown["points"])
    assert {p["status"] for p in shown["points"]} == {"completed"}


def test_a_thousand_point_sweep_stores_every_point_once(home):
    proc = mathdl("sweep", RUNGE, *FAST, "--grid", "eval_points=" + ",".join(
        str(201 + 10 * i) for i in range(25)), "--grid", "a=4,9,16,25,36,49,64,81",
        "--seeds", "5", "--workers", "2", home=home)
    assert proc.returncode == 0, proc.stderr
    with sqlite3.connect(home / "runs.sqlite") as con:
        keys = [r[0] for r in con.execute("SELECT point_key FROM sweep_points")]
        runs = con.execute("SELECT COUNT(*) FROM runs WHERE status = 'completed'").fetchone()[0]
    assert len(keys) == len(set(keys)) == 25 * 8 * 5 == runs
    # a spans 4..81: the experiment's claims on the aggregated curve are evaluated and shown
    assert "claims on the aggregated curve" in proc.stdout
    sweep_id = proc.stdout.strip().splitlines()[-1].split()[-1]
    shown = json.loads(mathdl("sweep-show", sweep_id, "--json", home=home).stdout)
    assert [c["name"] for c in shown["claims"]] == ["chebyshev-rate-curve",
                                                    "chebyshev-rate-slope-in-a"]
    assert all(c["holds"] for c in shown["claims"])


def test_sweep_show_prints_claim_names_as_written(home):
    # stored text is not rich markup: a bracketed claim name must not vanish from the table
    from mathdl.store import RunStore, SweepRecord

    store = RunStore.open(home)
    store.add_sweep(SweepRecord(sweep_id="abc123abc123", experiment=RUNGE, preset="quick",
                                grid={"a": [16.0]}, seeds=1, n_points=1,
                                created_at="2026-01-01"))
    store.set_sweep_claims("abc123abc123", [{
        "name": "slope-mean[depth=2]", "statement": "s", "reference": "r", "predicted": -0.5,
        "measured": -0.49, "tolerance": 0.1, "tolerance_kind": "absolute", "kind": "rate",
        "holds": True}])
    proc = mathdl("sweep-show", "abc123abc123", home=home)
    assert proc.returncode == 0, proc.stderr
    assert "slope-mean[depth=2]" in proc.stdout
