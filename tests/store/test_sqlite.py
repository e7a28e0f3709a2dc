"""The run store: round trip, latest-per-experiment, crash safety, concurrent writers."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mathdl.store import RunRecord, RunStatus, RunStore, StoreError, SweepRecord


def record(run_id: str, experiment: str = "topic/exp", ended: str = "2026-01-01T00:00:00",
           status: RunStatus = RunStatus.COMPLETED, **extra) -> RunRecord:
    fields = dict(
        run_id=run_id, experiment=experiment, topic=experiment.split("/")[0], title="T",
        reference="R", preset="quick", seed=0, config={"n": 3, "xs": [1, 2]}, status=status,
        result={"metrics": {"m": 1.5}, "series": {"s": [1.0, None]},
                "claims": [{"name": "c", "holds": True, "measured": 1.0}]},
        error=None, started_at=ended, ended_at=ended, wall_seconds=0.5,
        versions={"mathdl": "0"}, device="cpu", git_commit=None, figures={"f": "<svg/>"},
    )
    fields.update(extra)
    return RunRecord(**fields)


def test_roundtrip(home):
    store = RunStore.open(home)
    r = record("a")
    store.add(r)
    assert store.get("a") == r
    assert store.count() == 1
    assert store.runs()[0].figures == {}  # listings leave figures out
    assert store.get("a").n_holding == 1


def test_latest_per_experiment_and_order(home):
    store = RunStore.open(home)
    store.add(record("1", "t/a", "2026-01-01T00:00:00"))
    store.add(record("2", "t/a", "2026-01-02T00:00:00", status=RunStatus.FAILED, result=None,
                     error="boom"))
    store.add(record("3", "t/b", "2026-01-01T12:00:00"))
    latest = store.latest_per_experiment()
    assert [(r.experiment, r.run_id) for r in latest] == [("t/a", "2"), ("t/b", "3")]
    assert [r.run_id for r in store.runs()] == ["2", "3", "1"]
    assert [r.run_id for r in store.runs(experiment="t/a", limit=1)] == ["2"]
    assert latest[0].claims == [] and latest[0].error == "boom"


def test_duplicate_run_id_is_rejected_and_leaves_store_intact(home):
    store = RunStore.open(home)
    store.add(record("a"))
    with pytest.raises(StoreError):
        store.add(record("a", figures={"g": "<svg/>"}))
    assert store.count() == 1 and store.get("a").figures == {"f": "<svg/>"}


def test_unwritable_home(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot create the mathdl home"):
        RunStore.open(blocker / "home")
    with pytest.raises(StoreError, match="not a directory"):
        RunStore.open(blocker)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only directories")
def test_read_only_home(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    with pytest.raises(StoreError, match="not writable"):
        RunStore.open(ro)


_KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from store.test_sqlite import record
    from mathdl.store import RunStore

    class KillInsideTransaction(dict):
        # the store iterates the figures after inserting the run row, before COMMIT
        def items(self):
            os.kill(os.getpid(), signal.SIGKILL)

    store = RunStore.open({home!r})
    store.add(record("victim", figures=KillInsideTransaction(f="<svg/>")))
""")


def test_process_killed_inside_the_write_transaction_leaves_no_row(home):
    store = RunStore.open(home)
    before = [record("old1"), record("old2", "t/other")]
    for r in before:
        store.add(r)
    code = _KILLED_WRITER.format(tests=str(Path(__file__).parents[1]), home=str(home))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == -9, proc.stderr
    assert sorted(r.run_id for r in store.runs()) == ["old1", "old2"]
    assert [store.get(r.run_id) for r in before] == before
    with sqlite3.connect(store.path) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT COUNT(*) FROM figures WHERE run_id='victim'").fetchone()[0] == 0
    store.add(record("after"))  # the store is still writable
    assert store.count() == 3


_WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from store.test_sqlite import record
    from mathdl.store import RunStore

    store = RunStore.open({home!r})
    for i in range({n}):
        store.add(record(f"{{sys.argv[1]}}-{{i}}", f"t/{{sys.argv[1]}}"))
""")


def test_two_concurrent_writers_both_succeed(home):
    RunStore.open(home)
    n = 40
    code = _WRITER.format(tests=str(Path(__file__).parents[1]), home=str(home), n=n)
    procs = [subprocess.Popen([sys.executable, "-c", code, name], stderr=subprocess.PIPE,
                              text=True) for name in ("w1", "w2")]
    for p in procs:
        _, errors = p.communicate(timeout=300)
        assert p.returncode == 0, errors
    store = RunStore.open(home)
    ids = [r.run_id for r in store.runs()]
    assert len(ids) == len(set(ids)) == 2 * n
    assert {r.experiment for r in store.runs()} == {"t/w1", "t/w2"}


_SCHEMA_V1 = """
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY, experiment TEXT NOT NULL, topic TEXT NOT NULL, title TEXT NOT NULL,
    reference TEXT NOT NULL, preset TEXT NOT NULL, seed INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('completed', 'failed')), config TEXT NOT NULL,
    result TEXT, error TEXT, n_claims INTEGER NOT NULL, n_holding INTEGER NOT NULL,
    started_at TEXT NOT NULL, ended_at TEXT NOT NULL, wall_seconds REAL NOT NULL,
    versions TEXT NOT NULL, device TEXT NOT NULL, git_commit TEXT
);
CREATE TABLE figures (run_id TEXT NOT NULL, name TEXT NOT NULL, svg TEXT NOT NULL,
                      PRIMARY KEY (run_id, name));
INSERT INTO runs VALUES ('old', 't/a', 't', 'T', 'R', 'quick', 0, 'completed', '{}', NULL, NULL,
                         0, 0, '2026-01-01', '2026-01-01', 1.0, '{}', 'cpu', NULL);
PRAGMA user_version = 1;
"""


def test_a_version_1_store_is_migrated_and_keeps_its_runs(home):
    home.mkdir()
    with sqlite3.connect(home / "runs.sqlite") as con:
        con.executescript(_SCHEMA_V1)
    store = RunStore.open(home)
    old = store.get("old")
    assert old.experiment == "t/a" and old.description == ""
    store.add(record("new", description="what is measured"))
    assert store.get("new").description == "what is measured"
    assert RunStore.open(home).count() == 2  # opening again is a no-op


def test_a_store_from_a_newer_mathdl_is_refused(home):
    RunStore.open(home)
    with sqlite3.connect(home / "runs.sqlite") as con:
        con.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer than this mathdl"):
        RunStore.open(home)


def _sweep(sweep_id: str = "s1") -> SweepRecord:
    return SweepRecord(sweep_id=sweep_id, experiment="topic/exp", preset="quick",
                       grid={"n": [1, 2]}, seeds=2, n_points=4, created_at="2026-01-01")


def test_sweep_claims_are_stored_replaced_and_default_to_none(home):
    store = RunStore.open(home)
    store.add_sweep(_sweep())
    assert store.get_sweep("s1").claims is None
    store.set_sweep_claims("s1", [{"name": "c", "holds": False}])
    store.set_sweep_claims("s1", [{"name": "c", "holds": True}])
    assert store.get_sweep("s1").claims == [{"name": "c", "holds": True}]
    with pytest.raises(KeyError):
        store.set_sweep_claims("nope", [])


_SWEEPS_V3 = """
CREATE TABLE sweeps (sweep_id TEXT PRIMARY KEY, experiment TEXT NOT NULL, preset TEXT NOT NULL,
                     grid TEXT NOT NULL, seeds INTEGER NOT NULL, n_points INTEGER NOT NULL,
                     created_at TEXT NOT NULL);
INSERT INTO sweeps VALUES ('old', 'topic/exp', 'quick', '{"n": [1]}', 1, 1, '2026-01-01');
PRAGMA user_version = 3;
"""


def test_a_version_3_store_gains_sweep_claims_and_keeps_its_sweeps(home):
    home.mkdir()
    with sqlite3.connect(home / "runs.sqlite") as con:
        con.executescript(_SWEEPS_V3)
    store = RunStore.open(home)
    assert store.get_sweep("old").grid == {"n": [1]} and store.get_sweep("old").claims is None
    store.set_sweep_claims("old", [{"name": "c", "holds": True}])
    assert RunStore.open(home).get_sweep("old").claims == [{"name": "c", "holds": True}]
