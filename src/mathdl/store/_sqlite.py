"""The run store: one embedded SQLite file, one transaction per run.

Durability model: a run is inserted in a single transaction when it ends, so a process that is
killed mid-run leaves no row (SQLite rolls back the unfinished journal), one that fails leaves a row
marked ``failed``, and earlier rows are never touched. The database runs in WAL mode with a busy
timeout, so several processes can write at once: each waits for the write lock in turn.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DB_NAME = "runs.sqlite"
SCHEMA_VERSION = 4
# Columns added after version 1, applied to older stores when they are opened:
# (table, name, definition).
_ADDED_COLUMNS = (
    ("runs", "description", "TEXT NOT NULL DEFAULT ''"),
    ("sweeps", "claims", "TEXT"),  # v4: JSON list of the claims on the aggregated curve
)
_BUSY_TIMEOUT_S = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id       TEXT PRIMARY KEY,
    experiment   TEXT NOT NULL,
    topic        TEXT NOT NULL,
    title        TEXT NOT NULL,
    reference    TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    preset       TEXT NOT NULL,
    seed         INTEGER NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('completed', 'failed')),
    config       TEXT NOT NULL,
    result       TEXT,
    error        TEXT,
    n_claims     INTEGER NOT NULL,
    n_holding    INTEGER NOT NULL,
    started_at   TEXT NOT NULL,
    ended_at     TEXT NOT NULL,
    wall_seconds REAL NOT NULL,
    versions     TEXT NOT NULL,
    device       TEXT NOT NULL,
    git_commit   TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_experiment ON runs (experiment, ended_at);
CREATE INDEX IF NOT EXISTS runs_latest ON runs (experiment, ended_at DESC, run_id DESC);
CREATE TABLE IF NOT EXISTS figures (
    run_id  TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    name    TEXT NOT NULL,
    svg     TEXT NOT NULL,
    PRIMARY KEY (run_id, name)
);
CREATE TABLE IF NOT EXISTS sweeps (
    sweep_id    TEXT PRIMARY KEY,
    experiment  TEXT NOT NULL,
    preset      TEXT NOT NULL,
    grid        TEXT NOT NULL,
    seeds       INTEGER NOT NULL,
    n_points    INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    claims      TEXT
);
CREATE TABLE IF NOT EXISTS sweep_points (
    sweep_id   TEXT NOT NULL REFERENCES sweeps (sweep_id),
    point_key  TEXT NOT NULL,
    run_id     TEXT NOT NULL REFERENCES runs (run_id),
    PRIMARY KEY (sweep_id, point_key)
);
CREATE INDEX IF NOT EXISTS sweep_points_by_run ON sweep_points (run_id);
"""


@dataclass(frozen=True, kw_only=True)
class SweepRecord:
    """A sweep: an experiment at a preset over a grid (``{key: [values]}``) times ``seeds``.

    ``claims``: the experiment's claims evaluated on the sweep's aggregated curve (the JSON form
    of :class:`mathdl.atlas.Claim`), or ``None`` if they were never evaluated.
    """

    sweep_id: str
    experiment: str
    preset: str
    grid: dict[str, list[Any]]
    seeds: int
    n_points: int
    created_at: str
    claims: list[dict[str, Any]] | None = None


class StoreError(RuntimeError):
    """The store cannot be opened, created or written."""


class RunStatus(enum.Enum):
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    """Everything stored about one run. ``result`` is the experiment result's JSON form
    (``metrics``, ``series``, ``claims``); ``figures`` maps a figure name to its SVG text."""

    run_id: str
    experiment: str
    topic: str
    title: str
    reference: str
    preset: str
    seed: int
    config: dict[str, Any]
    status: RunStatus
    result: dict[str, Any] | None
    error: str | None
    started_at: str
    ended_at: str
    wall_seconds: float
    versions: dict[str, str]
    device: str
    git_commit: str | None
    figures: dict[str, str] = field(default_factory=dict)
    description: str = ""

    @property
    def claims(self) -> list[dict[str, Any]]:
        return list(self.result.get("claims", [])) if self.result else []

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.result.get("metrics", {})) if self.result else {}

    @property
    def n_claims(self) -> int:
        return len(self.claims)

    @property
    def n_holding(self) -> int:
        return sum(1 for c in self.claims if c["holds"])


_COLUMNS = (
    "run_id", "experiment", "topic", "title", "reference", "description", "preset", "seed",
    "status", "config", "result", "error", "n_claims", "n_holding", "started_at", "ended_at",
    "wall_seconds", "versions", "device", "git_commit",
)


class RunStore:
    """The runs of one mathdl home directory (``<home>/runs.sqlite``).

    Use :meth:`open` to create or open one; it raises :class:`StoreError` when the home cannot be
    created or written.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def open(cls, home: str | os.PathLike[str]) -> RunStore:
        home = Path(home)
        if home.exists() and not home.is_dir():
            raise StoreError(f"the mathdl home {str(home)!r} is not a directory")
        try:
            home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the mathdl home {str(home)!r}: {exc.strerror}"
            ) from None
        if not os.access(home, os.W_OK):
            raise StoreError(f"the mathdl home {str(home)!r} is not writable")
        store = cls(home / DB_NAME)
        try:
            with store._connect() as con:
                con.executescript(_SCHEMA)
                _migrate(con, store.path)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the run store {str(store.path)!r}: {exc}") from None
        return store

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode = WAL")
            con.execute("PRAGMA foreign_keys = ON")
            con.execute("PRAGMA synchronous = NORMAL")
            yield con
        finally:
            con.close()

    # -- writing --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT, rolled back on any error)."""
        try:
            with self._connect() as con:
                con.execute("BEGIN IMMEDIATE")
                try:
                    yield con
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                con.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write to the run store {str(self.path)!r}: {exc}") from None

    @staticmethod
    def _insert_run(con: sqlite3.Connection, record: RunRecord) -> None:
        row = _record_to_row(record)
        con.execute(
            f"INSERT INTO runs ({', '.join(_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in _COLUMNS)})",
            [row[c] for c in _COLUMNS],
        )
        con.executemany(
            "INSERT INTO figures (run_id, name, svg) VALUES (?, ?, ?)",
            [(record.run_id, n, svg) for n, svg in record.figures.items()],
        )

    def add(self, record: RunRecord) -> None:
        """Insert a run and its figures in one transaction."""
        with self._transaction() as con:
            self._insert_run(con, record)

    def add_sweep(self, sweep: SweepRecord) -> None:
        """Record a sweep (a no-op if a sweep with that id is already stored)."""
        with self._transaction() as con:
            con.execute(
                "INSERT OR IGNORE INTO sweeps (sweep_id, experiment, preset, grid, seeds, "
                "n_points, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (sweep.sweep_id, sweep.experiment, sweep.preset,
                 json.dumps(sweep.grid, sort_keys=True), sweep.seeds, sweep.n_points,
                 sweep.created_at),
            )

    def add_sweep_points(self, sweep_id: str, points: list[tuple[str, RunRecord]]) -> int:
        """Store a batch of sweep points ``(point_key, run)`` in one transaction.

        A point already stored (a task that ran twice after a worker died) is skipped, so each
        point is stored exactly once. Returns the number of points written.
        """
        written = 0
        with self._transaction() as con:
            for key, record in points:
                seen = con.execute(
                    "SELECT 1 FROM sweep_points WHERE sweep_id = ? AND point_key = ?",
                    (sweep_id, key),
                ).fetchone()
                if seen:
                    continue
                self._insert_run(con, record)
                con.execute(
                    "INSERT INTO sweep_points (sweep_id, point_key, run_id) VALUES (?, ?, ?)",
                    (sweep_id, key, record.run_id),
                )
                written += 1
        return written

    def set_sweep_claims(self, sweep_id: str, claims: list[dict[str, Any]]) -> None:
        """Store (replace) the claims evaluated on a sweep's aggregated curve."""
        with self._transaction() as con:
            found = con.execute("UPDATE sweeps SET claims = ? WHERE sweep_id = ?",
                                (json.dumps(claims, allow_nan=False), sweep_id)).rowcount
        if not found:
            raise KeyError(sweep_id)

    def sweep_point_keys(self, sweep_id: str) -> set[str]:
        with self._connect() as con:
            rows = con.execute(
                "SELECT point_key FROM sweep_points WHERE sweep_id = ?", (sweep_id,)
            ).fetchall()
        return {r[0] for r in rows}

    def get_sweep(self, sweep_id: str) -> SweepRecord:
        with self._connect() as con:
            row = con.execute(
                "SELECT sweep_id, experiment, preset, grid, seeds, n_points, created_at, claims "
                "FROM sweeps WHERE sweep_id = ?", (sweep_id,),
            ).fetchone()
        if row is None:
            raise KeyError(sweep_id)
        return SweepRecord(sweep_id=row[0], experiment=row[1], preset=row[2],
                           grid=json.loads(row[3]), seeds=int(row[4]), n_points=int(row[5]),
                           created_at=row[6],
                           claims=None if row[7] is None else json.loads(row[7]))

    def sweeps(self) -> list[SweepRecord]:
        """Every stored sweep, newest first."""
        with self._connect() as con:
            ids = [r[0] for r in con.execute(
                "SELECT sweep_id FROM sweeps ORDER BY created_at DESC, sweep_id")]
        return [self.get_sweep(i) for i in ids]

    def sweep_runs(self, sweep_id: str) -> list[tuple[str, RunRecord]]:
        """``(point_key, run)`` of every stored point of a sweep, in storage order."""
        cols = ", ".join(f"r.{c}" for c in _COLUMNS)
        with self._connect() as con:
            con.row_factory = sqlite3.Row
            rows = con.execute(
                f"SELECT p.point_key AS point_key, {cols} FROM sweep_points AS p "
                "JOIN runs AS r ON r.run_id = p.run_id WHERE p.sweep_id = ? "
                "ORDER BY r.ended_at, r.run_id", (sweep_id,),
            ).fetchall()
        return [(r["point_key"], _row_to_record(r, {})) for r in rows]

    # -- reading --------------------------------------------------------------------------------

    def get(self, run_id: str, *, with_figures: bool = True) -> RunRecord:
        with self._connect() as con:
            con.row_factory = sqlite3.Row
            row = con.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            if row is None:
                raise KeyError(run_id)
            figures = self._figures(con, run_id) if with_figures else {}
        return _row_to_record(row, figures)

    def runs(self, *, experiment: str | None = None, limit: int | None = None) -> list[RunRecord]:
        """Stored runs, newest first (with results, without figures)."""
        sql = f"SELECT {', '.join(_COLUMNS)} FROM runs"
        args: list[Any] = []
        if experiment is not None:
            sql += " WHERE experiment = ?"
            args.append(experiment)
        sql += " ORDER BY ended_at DESC, run_id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        with self._connect() as con:
            con.row_factory = sqlite3.Row
            return [_row_to_record(r, {}) for r in con.execute(sql, args)]

    def latest_per_experiment(self, *, with_figures: bool = True) -> list[RunRecord]:
        """The newest run of each experiment, sorted by experiment name; runs that are not
        sweep points take precedence over sweep points."""
        # Runs made by `run`/`reproduce` come first: a sweep point (stored without figures) is
        # shown only for an experiment that was never run on its own.
        # Rank the narrow index entries, then fetch the winners: linear in the number of runs
        # (a correlated subquery was quadratic: 80 s at 10k runs).
        sql = (
            f"SELECT {', '.join('r.' + c for c in _COLUMNS)} FROM runs AS r JOIN ("
            " SELECT run_id, ROW_NUMBER() OVER (PARTITION BY experiment ORDER BY"
            "  EXISTS (SELECT 1 FROM sweep_points AS p WHERE p.run_id = runs.run_id),"
            "  ended_at DESC, run_id DESC) AS rank FROM runs"
            ") AS latest ON latest.run_id = r.run_id WHERE latest.rank = 1 ORDER BY r.experiment"
        )
        with self._connect() as con:
            con.row_factory = sqlite3.Row
            rows = con.execute(sql).fetchall()
            return [
                _row_to_record(r, self._figures(con, r["run_id"]) if with_figures else {})
                for r in rows
            ]

    def count(self) -> int:
        with self._connect() as con:
            return int(con.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    @staticmethod
    def _figures(con: sqlite3.Connection, run_id: str) -> dict[str, str]:
        rows = con.execute(
            "SELECT name, svg FROM figures WHERE run_id = ? ORDER BY name", (run_id,)
        ).fetchall()
        return {r[0]: r[1] for r in rows}


def _migrate(con: sqlite3.Connection, path: Path) -> None:
    """Bring an existing store to SCHEMA_VERSION in one transaction (several processes may open
    the same store at once: the column check runs under the write lock)."""
    con.execute("BEGIN IMMEDIATE")
    try:
        version = int(con.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the run store {str(path)!r} has schema version {version}, newer than this "
                f"mathdl's {SCHEMA_VERSION}: upgrade mathdl"
            )
        for table, name, definition in _ADDED_COLUMNS:
            columns = {row[1] for row in con.execute(f"PRAGMA table_info({table})")}
            if name not in columns:
                con.execute(f"ALTER TABLE {table} ADD COLUMN {name} {definition}")
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _record_to_row(r: RunRecord) -> dict[str, Any]:
    return {
        "run_id": r.run_id,
        "experiment": r.experiment,
        "topic": r.topic,
        "title": r.title,
        "reference": r.reference,
        "description": r.description,
        "preset": r.preset,
        "seed": int(r.seed),
        "status": r.status.value,
        "config": json.dumps(r.config, sort_keys=True),
        "result": None if r.result is None else json.dumps(r.result, allow_nan=False),
        "error": r.error,
        "n_claims": r.n_claims,
        "n_holding": r.n_holding,
        "started_at": r.started_at,
        "ended_at": r.ended_at,
        "wall_seconds": float(r.wall_seconds),
        "versions": json.dumps(r.versions, sort_keys=True),
        "device": r.device,
        "git_commit": r.git_commit,
    }


def _row_to_record(row: sqlite3.Row, figures: dict[str, str]) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"],
        experiment=row["experiment"],
        topic=row["topic"],
        title=row["title"],
        reference=row["reference"],
        description=row["description"],
        preset=row["preset"],
        seed=int(row["seed"]),
        config=json.loads(row["config"]),
        status=RunStatus(row["status"]),
        result=None if row["result"] is None else json.loads(row["result"]),
        error=row["error"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        wall_seconds=float(row["wall_seconds"]),
        versions=json.loads(row["versions"]),
        device=row["device"],
        git_commit=row["git_commit"],
        figures=figures,
    )
