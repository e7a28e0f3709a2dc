"""Sweeps: an experiment over a parameter grid times seeds, on a Dask cluster, resumable.

Identity. A sweep's id is a hash of (experiment, preset, grid, seeds), so the same command names
the same sweep; each point's key is a hash of (experiment, full config, seed). Running a sweep
executes only the points whose key is not yet stored for it: re-running the command (or
``--resume``) after Ctrl-C, a killed client or a killed worker completes it without redoing or
duplicating work.

Writes. Workers only compute; results come back to this process, which writes them to the store
in batches, each batch one transaction (workers never open the SQLite file, which may live on a
network file system). A point whose run raises is stored as a failed run and the sweep goes on.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import itertools
import json
import logging
import time
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mathdl.atlas import (
    Claim,
    ConfigError,
    Experiment,
    Preset,
    SweepObservation,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    get_experiment,
)
from mathdl.atlas._config import describe_type, parse_value
from mathdl.store import RunRecord, RunStatus, RunStore, SweepRecord

from ._run import LOOKUP, _Lookup, execute, git_commit


class SweepError(ValueError):
    """A sweep cannot start (bad grid, unreachable scheduler)."""


class SweepClaimsError(RuntimeError):
    """An experiment's ``sweep_claims`` hook failed (the sweep's points are stored regardless)."""


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep: a validated config and a seed, with its deterministic key."""

    key: str
    config: Any
    seed: int


@dataclass(frozen=True)
class SweepSummary:
    sweep_id: str
    total: int
    already_stored: int
    completed: int
    failed: int
    claims: tuple[Claim, ...] | None = None  # on the aggregated curve, where defined


def _hash(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def parse_grid(experiment: Experiment, items: Sequence[str]) -> dict[str, list[Any]]:
    """Parse ``key=v1,v2,...`` items by the config field types.

    Scalar fields take comma-separated values; tuple fields (``widths``) take values separated by
    ``;``, each a comma-separated tuple (``widths=64,128;256,512``).

    Raises:
        ConfigError: empty grid, malformed item, unknown or repeated key, unparsable value.
    """
    if not items:
        raise ConfigError("empty grid: give at least one --grid key=v1,v2,...")
    hints = typing.get_type_hints(experiment.config_type)
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or not text.strip():
            raise ConfigError(f"--grid {item!r}: expected key=v1,v2,...")
        if key not in hints:
            raise ConfigError(f"unknown config key {key!r}; valid keys: {', '.join(hints)}")
        if key in grid:
            raise ConfigError(f"--grid {key}: given twice")
        tp = hints[key]
        is_tuple = typing.get_origin(tp) is tuple
        parts = [p for p in text.split(";" if is_tuple else ",") if p.strip()]
        try:
            grid[key] = [parse_value(tp, p) for p in parts]
        except ValueError:
            raise ConfigError(
                f"--grid {key}: expected values of type {describe_type(tp)}, got {text!r}"
            ) from None
    return grid


def _grid_text(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(_grid_text(v) for v in value)
    return str(getattr(value, "value", value))


def plan_sweep(
    experiment: Experiment, preset: Preset, grid: dict[str, list[Any]], seeds: int
) -> tuple[SweepRecord, list[SweepPoint]]:
    """The sweep record and its points: the Cartesian product of the grid times seeds 0..K-1.

    Every config is validated before anything runs (``ConfigError`` names the bad combination).
    """
    if seeds < 1:
        raise ConfigError(f"--seeds: expected an integer >= 1, got {seeds}")
    keys = list(grid)
    base = experiment.preset(preset)
    points: list[SweepPoint] = []
    for combo in itertools.product(*(grid[k] for k in keys)):
        assignments = [f"{k}={_grid_text(v)}" for k, v in zip(keys, combo, strict=True)]
        config = apply_overrides(base, assignments)
        as_json = config_to_dict(config)
        for seed in range(seeds):
            key = _hash({"experiment": experiment.name, "config": as_json, "seed": seed})[:32]
            points.append(SweepPoint(key=key, config=config, seed=seed))
    grid_json = {k: [_to_json(v) for v in vs] for k, vs in grid.items()}
    sweep_id = _hash({"experiment": experiment.name, "preset": preset.value, "grid": grid_json,
                      "seeds": seeds})[:12]
    record = SweepRecord(
        sweep_id=sweep_id, experiment=experiment.name, preset=preset.value, grid=grid_json,
        seeds=seeds, n_points=len(points),
        created_at=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    )
    return record, points


def _to_json(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    return getattr(value, "value", value)


def execute_point(name: str, config: dict[str, Any], seed: int, preset: str,
                  commit: str | None | _Lookup = LOOKUP) -> RunRecord:
    """Run one sweep point (in a worker): no figures, one thread per worker process.

    ``commit``: the git commit the client looked up once for the whole sweep.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # workers are processes sized to the cores: no oversubscription
    try:
        experiment = get_experiment(name)
        cfg = config_from_dict(experiment.config_type, config)
        return execute(experiment, cfg, preset=Preset(preset), seed=seed, render_figures=False,
                       commit=commit)
    finally:
        torch.set_num_threads(threads)  # the caller's setting, when run in-process


def make_client(scheduler: str | None = None, workers: int | None = None) -> Any:
    """A Dask client: to a running scheduler by address, or to a new local cluster.

    Raises:
        SweepError: the scheduler does not answer within 10 s.
    """
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            return Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise SweepError(f"--scheduler {scheduler}: no Dask scheduler answers ({exc})") \
                from None
    import os

    n = workers if workers is not None else max(1, os.cpu_count() or 1)
    # dashboard_address=":0": the scheduler's HTTP server takes a free port, so two local
    # clusters on one machine (two sweeps, or tests) do not collide on 8787.
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                           dashboard_address=":0", silence_logs=logging.ERROR)
    return Client(cluster)


def run_sweep(
    store: RunStore,
    sweep: SweepRecord,
    points: Sequence[SweepPoint],
    *,
    client: Any,
    batch_size: int = 64,
    flush_seconds: float = 2.0,
    on_progress: Callable[[int, int, int], None] = lambda done, failed, total: None,
) -> SweepSummary:
    """Run the points of ``sweep`` not yet stored; write results in batched transactions.

    ``on_progress(done, failed, total)`` is called as results arrive. On Ctrl-C the results that
    already came back are written before the interrupt propagates.
    """
    from distributed import as_completed

    store.add_sweep(sweep)
    stored = store.sweep_point_keys(sweep.sweep_id)
    todo = [p for p in points if p.key not in stored]
    already = len(points) - len(todo)
    done = failed = 0
    on_progress(already, 0, len(points))
    pending: list[tuple[str, RunRecord]] = []
    last_flush = time.monotonic()

    def flush() -> None:
        nonlocal last_flush
        if pending:
            store.add_sweep_points(sweep.sweep_id, pending)
            pending.clear()
        last_flush = time.monotonic()

    futures = {}
    commit = git_commit()  # once per sweep: every point runs the same checkout
    for p in todo:
        fut = client.submit(execute_point, sweep.experiment, config_to_dict(p.config), p.seed,
                            sweep.preset, commit, key=f"mathdl-{sweep.sweep_id}-{p.key}",
                            pure=False)
        futures[fut] = p
    finished = False
    try:
        for fut in as_completed(list(futures)):
            point = futures[fut]
            record = _result_or_failure(fut, point, sweep)
            pending.append((point.key, record))
            done += 1
            failed += record.status is RunStatus.FAILED
            if len(pending) >= batch_size or time.monotonic() - last_flush >= flush_seconds:
                flush()
            on_progress(already + done, failed, len(points))
        finished = True
    finally:
        flush()
        for fut in futures:
            fut.cancel()
    claims = evaluate_sweep_claims(store, sweep.sweep_id) if finished else None
    return SweepSummary(sweep_id=sweep.sweep_id, total=len(points), already_stored=already,
                        completed=done - failed, failed=failed, claims=claims)


def evaluate_sweep_claims(store: RunStore, sweep_id: str) -> tuple[Claim, ...] | None:
    """Evaluate the experiment's claims on the sweep's curve and store them with the sweep.

    The experiment's ``sweep_claims`` hook receives every completed point (typed config, seed,
    metrics); failed points are left out. Returns ``None`` (and stores nothing) when the
    experiment defines no hook or no point completed.

    Raises:
        SweepClaimsError: the hook raised; the message names the experiment and the error.
    """
    sweep = store.get_sweep(sweep_id)
    experiment = get_experiment(sweep.experiment)
    if experiment.sweep_claims is None:
        return None
    observations = [
        SweepObservation(config=config_from_dict(experiment.config_type, run.config),
                         seed=run.seed, metrics=run.metrics)
        for _, run in store.sweep_runs(sweep_id) if run.status is RunStatus.COMPLETED
    ]
    if not observations:
        return None
    try:
        claims = tuple(experiment.sweep_claims(observations))
    except Exception as exc:  # noqa: BLE001 - reported in one line; the points stay stored
        raise SweepClaimsError(
            f"{experiment.name}: the claims on the sweep's curve could not be evaluated "
            f"({type(exc).__name__}: {exc})") from exc
    store.set_sweep_claims(sweep_id, [c.to_dict() for c in claims])
    return claims


def _result_or_failure(fut: Any, point: SweepPoint, sweep: SweepRecord) -> RunRecord:
    """The worker's record, or a failed record when the task itself died (e.g. the worker
    running it was killed too often for Dask to retry)."""
    try:
        return fut.result()
    except Exception as exc:  # noqa: BLE001 - recorded as a failed point, the sweep goes on
        from ._run import _now, device_description, new_run_id, versions

        experiment = get_experiment(sweep.experiment)
        now = _now()
        return RunRecord(
            run_id=new_run_id(), experiment=experiment.name, topic=experiment.topic,
            title=experiment.title, reference=experiment.reference,
            description=experiment.description, preset=sweep.preset, seed=point.seed,
            config=config_to_dict(point.config), status=RunStatus.FAILED, result=None,
            error=f"{type(exc).__name__}: {exc}", started_at=now, ended_at=now,
            wall_seconds=0.0, versions=versions(), device=device_description(),
            git_commit=git_commit(),
        )
