"""Running experiments: one run, the whole atlas, with the provenance a run record needs."""

from __future__ import annotations

import datetime as _dt
import enum
import io
import os
import platform
import subprocess
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import mathdl
from mathdl.atlas import (
    Experiment,
    Preset,
    Progress,
    apply_overrides,
    config_to_dict,
    experiments,
    get_experiment,
    no_progress,
)
from mathdl.store import RunRecord, RunStatus, RunStore


class RunInterrupted(KeyboardInterrupt):
    """The run was interrupted (Ctrl-C or SIGTERM); ``record`` is the failed run to store."""

    def __init__(self, record: RunRecord) -> None:
        super().__init__("interrupted")
        self.record = record


def resolve_config(experiment: Experiment, preset: Preset, overrides: Iterable[str] = ()) -> Any:
    """The preset's config with ``key=value`` overrides applied (raises ``ConfigError``)."""
    return apply_overrides(experiment.preset(preset), list(overrides))


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


def new_run_id() -> str:
    """Time-ordered, unique: ``20261123T021530-1a2b3c4d``."""
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{uuid.uuid4().hex[:8]}"


def versions() -> dict[str, str]:
    import numpy
    import torch

    return {
        "mathdl": mathdl.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
    }


def device_description() -> str:
    import torch

    return f"cpu ({torch.get_num_threads()} threads, {platform.machine()})"


class _Lookup(enum.Enum):
    LOOKUP = "lookup"


LOOKUP = _Lookup.LOOKUP  # the default of ``execute(commit=...)``: run ``git`` to find it


def git_commit() -> str | None:
    """The commit of the mathdl source checkout, when it is one."""
    src = Path(mathdl.__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and len(sha) == 40 else None


def render_svg(figure: Any) -> str:
    """A matplotlib figure as SVG text (no timestamp, so equal figures give equal text)."""
    buf = io.StringIO()
    figure.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    return buf.getvalue()


def execute(
    experiment: Experiment,
    config: Any,
    *,
    preset: Preset,
    seed: int,
    progress: Progress = no_progress,
    render_figures: bool = True,
    commit: str | None | _Lookup = LOOKUP,
) -> RunRecord:
    """Run one experiment and render its figures; return the record (not stored).

    ``render_figures=False`` skips the figures (sweep points: thousands of runs, whose curves
    the sweep page draws from the stored numbers). ``commit``: the source checkout's git commit
    if the caller already knows it (a sweep looks it up once, not once per point: the ``git``
    subprocess costs ~2.5 ms); by default it is looked up.

    An exception inside the experiment gives a ``failed`` record carrying the error; Ctrl-C or
    SIGTERM raise :class:`RunInterrupted` carrying a ``failed`` record.
    """
    run_id, started, t0 = new_run_id(), _now(), time.perf_counter()
    result: dict[str, Any] | None = None
    figures: dict[str, str] = {}
    error: str | None = None
    interrupted = False
    try:
        res = experiment.run(config, seed=seed, progress=progress)
        if render_figures:
            figures = {name: render_svg(fig) for name, fig in experiment.figure(res).items()}
        result = res.to_dict()
    except KeyboardInterrupt:
        interrupted, error = True, "interrupted (KeyboardInterrupt or SIGTERM)"
    except Exception as exc:  # noqa: BLE001 - a failing run is recorded, not propagated
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    record = RunRecord(
        run_id=run_id,
        experiment=experiment.name,
        topic=experiment.topic,
        title=experiment.title,
        reference=experiment.reference,
        description=experiment.description,
        preset=preset.value,
        seed=seed,
        config=config_to_dict(config),
        status=RunStatus.COMPLETED if error is None else RunStatus.FAILED,
        result=result,
        error=error,
        started_at=started,
        ended_at=_now(),
        wall_seconds=time.perf_counter() - t0,
        versions=versions(),
        device=device_description(),
        git_commit=git_commit() if commit is LOOKUP else commit,
        figures=figures,
    )
    if interrupted:
        raise RunInterrupted(record)
    return record


def run_and_store(
    store: RunStore,
    experiment: Experiment,
    config: Any,
    *,
    preset: Preset,
    seed: int,
    progress: Progress = no_progress,
) -> RunRecord:
    """Execute one run and write it to ``store`` in one transaction (also when it failed or was
    interrupted; an interrupted run is stored, then the interrupt propagates)."""
    try:
        record = execute(experiment, config, preset=preset, seed=seed, progress=progress)
    except RunInterrupted as stop:
        store.add(stop.record)
        raise
    store.add(record)
    return record


def _worker_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _execute_named(name: str, preset: Preset, seed: int) -> RunRecord:
    experiment = get_experiment(name)
    return execute(experiment, experiment.preset(preset), preset=preset, seed=seed)


def reproduce(
    store: RunStore,
    *,
    preset: Preset,
    topic: str | None = None,
    seed: int = 0,
    jobs: int = 1,
    on_start: Callable[[Experiment], None] = lambda e: None,
    on_done: Callable[[RunRecord], None] = lambda r: None,
) -> list[RunRecord]:
    """Run every experiment (or one topic's) at a preset and store each run as it finishes.

    With ``jobs > 1`` the runs execute in worker processes; only this process writes the store.
    """
    chosen = experiments(topic)
    records: list[RunRecord] = []
    if jobs <= 1:
        for exp in chosen:
            on_start(exp)
            record = run_and_store(store, exp, exp.preset(preset), preset=preset, seed=seed)
            records.append(record)
            on_done(record)
        return records
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=get_context("spawn"),
        initializer=_worker_init, initargs=(threads,),
    ) as pool:
        pending = set()
        for exp in chosen:
            on_start(exp)
            pending.add(pool.submit(_execute_named, exp.name, preset, seed))
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    record = fut.result()
                    store.add(record)
                    records.append(record)
                    on_done(record)
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise
    return sorted(records, key=lambda r: r.experiment)
