"""The ``mathdl`` command line: a thin layer over the runner, the store and the report.

Bad input (unknown experiment, config key or value, unwritable home) prints one line on stderr and
exits with code 2 before anything is written.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mathdl.atlas import (
    ConfigError,
    Preset,
    UnknownExperimentError,
    config_fields,
    config_to_dict,
    describe_type,
    experiments,
    get_experiment,
)
from mathdl.store import RunRecord, RunStatus, RunStore, StoreError, default_home

app = typer.Typer(
    name="mathdl",
    help="The mathematics of deep learning, executable: run the theorem atlas and report on it.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", help="mathdl home (run store, report); default $MATHDL_HOME or "
                 "./mathdl-runs.", show_default=False),
]
PresetOpt = Annotated[
    Preset, typer.Option("--preset", help="quick (seconds) or full (paper-level).")
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of every random draw.", min=0)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")]


class _UserError(Exception):
    pass


def _sweep_error_types() -> tuple[type[Exception], ...]:
    from mathdl.runner import SweepError

    return (SweepError,)


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Turn bad input into one line on stderr and exit code 2."""
    try:
        yield
    except (ConfigError, UnknownExperimentError, StoreError, _UserError,
            *_sweep_error_types()) as exc:
        err.print(f"mathdl: error: {exc}", markup=False)
        raise typer.Exit(EXIT_USAGE) from None


def _store(home: Path | None) -> RunStore:
    return RunStore.open(home if home is not None else default_home())


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=err, transient=True,
    )


def _figure_paths(store: RunStore, record: RunRecord) -> list[str]:
    """Export a stored run's figures as SVG files next to the store; return their paths."""
    folder = store.path.parent / "figures" / record.run_id
    paths = []
    for name, svg in record.figures.items():
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.svg"
        path.write_text(svg, encoding="utf-8")
        paths.append(str(path))
    return paths


def _claims_table(record: RunRecord) -> Table:
    return _verdict_table(f"{record.experiment} ({record.preset}, seed {record.seed})",
                          record.claims)


def _verdict_table(title: str, claims: list[dict[str, Any]]) -> Table:
    table = Table(title=escape(title))
    for col in ("claim", "predicted", "measured", "tolerance", "verdict"):
        table.add_column(col, justify="left" if col == "claim" else "right")
    for c in claims:
        verdict = "[green]holds[/]" if c["holds"] else "[red]fails[/]"
        measured = "nan" if c["measured"] is None else f"{c['measured']:.4g}"
        tol = f"{c['tolerance']:.3g} {c['tolerance_kind'][:3]}"
        # stored names are text, not markup: "slope[depth=2]" must print as written
        table.add_row(escape(c["name"]), f"{c['predicted']:.4g}", measured, tol, verdict)
    return table


def _run_json(record: RunRecord, figures: list[str]) -> dict[str, Any]:
    result = record.result or {}
    return {
        "run_id": record.run_id,
        "experiment": record.experiment,
        "preset": record.preset,
        "seed": record.seed,
        "status": record.status.value,
        "error": record.error,
        "config": record.config,
        "metrics": result.get("metrics", {}),
        "claims": result.get("claims", []),
        "figures": figures,
        "wall_seconds": record.wall_seconds,
        "versions": record.versions,
        "device": record.device,
        "git_commit": record.git_commit,
    }


def _raise_on_sigterm() -> None:
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """List every experiment of the atlas."""
    exps = experiments()
    if as_json:
        rows = [{"name": e.name, "title": e.title, "topic": e.topic, "reference": e.reference}
                for e in exps]
        out.print_json(json.dumps(rows))
        return
    table = Table(title="the theorem atlas")
    for col in ("name", "title", "reference"):
        table.add_column(col)
    for e in exps:
        table.add_row(escape(e.name), escape(e.title), escape(e.reference))
    out.print(table)


@app.command()
def show(name: Annotated[str, typer.Argument(help="Experiment name, e.g. approximation/runge.")]
         ) -> None:
    """Describe one experiment: its theorem, config fields and presets."""
    with _user_errors():
        e = get_experiment(name)
    out.print(f"[bold]{e.name}[/]: {e.title}")
    out.print(f"reference: {e.reference}", markup=False)
    out.print(e.description, markup=False)
    quick, full = config_to_dict(e.quick), config_to_dict(e.full)
    table = Table(title="config (--set key=value)")
    for col in ("key", "type", "default", "quick", "full"):
        table.add_column(col)
    for key, tp, default in config_fields(e.config_type):
        table.add_row(key, describe_type(tp), _show_value(default), _show_value(quick[key]),
                      _show_value(full[key]))
    out.print(table)


def _show_value(value: Any) -> str:
    """A config value as table text (escaped: the table renders rich markup)."""
    if hasattr(value, "value"):
        value = value.value
    if isinstance(value, list | tuple):
        return escape(",".join(str(v.value if hasattr(v, "value") else v) for v in value))
    return escape(str(value))


@app.command()
def run(
    name: Annotated[str, typer.Argument(help="Experiment name, e.g. approximation/runge.")],
    preset: PresetOpt = Preset.QUICK,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Override a config value: key=value (repeatable).")] = None,
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Exit 1 when a claim fails.")] = False,
    home: HomeOpt = None,
) -> None:
    """Run one experiment, store it and print its claims."""
    from mathdl.runner import RunInterrupted, resolve_config, run_and_store

    with _user_errors():
        exp = get_experiment(name)
        config = resolve_config(exp, preset, set_ or [])
        store = _store(home)
    _raise_on_sigterm()
    err.print(f"running {exp.name} (preset {preset.value}, seed {seed}) …", markup=False)
    try:
        with _user_errors(), _progress() as bar:  # a store that fails to write: one line, exit 2
            task = bar.add_task(exp.name, total=None)
            record = run_and_store(
                store, exp, config, preset=preset, seed=seed,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    except RunInterrupted as stop:
        err.print(f"mathdl: interrupted; stored as failed run {stop.record.run_id}", markup=False)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    figures = _figure_paths(store, record)
    if as_json:
        print(json.dumps(_run_json(record, figures)))
    else:
        if record.status is RunStatus.COMPLETED:
            out.print(_claims_table(record))
        out.print(f"run {record.run_id} stored in {store.path} ({record.wall_seconds:.2f} s)",
                  markup=False)
        for path in figures:
            out.print(f"figure: {path}", markup=False)
    if record.status is RunStatus.FAILED:
        first = (record.error or "").splitlines()[0] if record.error else ""
        err.print(f"mathdl: run failed: {first}", markup=False)
        raise typer.Exit(1)
    if strict and record.n_holding < record.n_claims:
        raise typer.Exit(1)


@app.command()
def reproduce(
    preset: PresetOpt = Preset.QUICK,
    topic: Annotated[str | None, typer.Option("--topic", help="Only this topic.")] = None,
    jobs: Annotated[int, typer.Option("--jobs", help="Worker processes.", min=1)] = 1,
    seed: SeedOpt = 0,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Exit 1 when a claim fails.")] = False,
    home: HomeOpt = None,
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="Report directory (default <home>/report).")] = None,
) -> None:
    """Run the whole atlas (or one topic) and write the HTML report."""
    from mathdl.report import write_report
    from mathdl.runner import RunInterrupted
    from mathdl.runner import reproduce as run_all

    with _user_errors():
        chosen = experiments(topic)
        store = _store(home)
        report_dir = out_dir if out_dir is not None else store.path.parent / "report"
        _check_writable_dir(report_dir)
    _raise_on_sigterm()
    err.print(f"reproducing {len(chosen)} experiments (preset {preset.value}, seed {seed}, "
              f"{jobs} job{'s' if jobs > 1 else ''}) …", markup=False)
    try:
        with _user_errors(), _progress() as bar:
            task = bar.add_task("atlas", total=len(chosen))
            records = run_all(
                store, preset=preset, topic=topic, seed=seed, jobs=jobs,
                on_done=lambda r: bar.advance(task),
            )
    except (RunInterrupted, KeyboardInterrupt):
        err.print("mathdl: interrupted; finished runs are stored", markup=False)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    table = Table(title=f"atlas ({preset.value})")
    for col in ("experiment", "status", "claims holding", "seconds"):
        table.add_column(col)
    for r in records:
        ok = r.status is RunStatus.COMPLETED and r.n_holding == r.n_claims
        colour = "green" if ok else "red"
        table.add_row(r.experiment, r.status.value,
                      f"[{colour}]{r.n_holding}/{r.n_claims}[/]", f"{r.wall_seconds:.2f}")
    out.print(table)
    with _user_errors():
        index = write_report(store, report_dir)
    out.print(f"report: {index}", markup=False)
    failed = any(r.status is RunStatus.FAILED for r in records)
    if failed or (strict and any(r.n_holding < r.n_claims for r in records)):
        raise typer.Exit(1)


@app.command()
def sweep(
    name: Annotated[str, typer.Argument(help="Experiment name, e.g. kernels/ntk-convergence.")],
    grid: Annotated[list[str] | None, typer.Option(
        "--grid", help="key=v1,v2,... (repeatable; tuple fields: values separated by ';').",
        show_default=False)] = None,
    seeds: Annotated[int, typer.Option("--seeds", help="Seeds 0..K-1 per grid point.")] = 1,
    preset: PresetOpt = Preset.QUICK,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", help="Address of a running Dask scheduler (tcp://host:port).")] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", help="Workers of the local Dask cluster (default: one per core).",
        min=1)] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Only finish a sweep that is already stored.")] = False,
    home: HomeOpt = None,
) -> None:
    """Run an experiment over a parameter grid times seeds, on Dask; resumable."""
    from mathdl.runner import SweepClaimsError, make_client, parse_grid, plan_sweep, run_sweep

    if scheduler is not None and workers is not None:
        err.print("mathdl: error: give --scheduler or --workers, not both", markup=False)
        raise typer.Exit(EXIT_USAGE)
    with _user_errors():
        exp = get_experiment(name)
        parsed = parse_grid(exp, grid or [])
        record, points = plan_sweep(exp, preset, parsed, seeds)
        if resume and not _sweep_exists(home, record.sweep_id):
            raise _UserError(f"--resume: no stored sweep {record.sweep_id} for this command")
        client = make_client(scheduler, workers)
        try:
            store = _store(home)
        except StoreError:
            client.close()
            raise
    _raise_on_sigterm()
    err.print(f"sweep {record.sweep_id}: {exp.name}, {len(points)} points "
              f"({preset.value}, {seeds} seed{'s' if seeds > 1 else ''}) …", markup=False)
    try:
        with _user_errors(), _progress() as bar:
            task = bar.add_task(f"sweep {record.sweep_id}", total=len(points))

            def show(done: int, failed: int, total: int) -> None:
                bar.update(task, completed=done,
                           description=f"sweep {record.sweep_id} ({failed} failed)")

            summary = run_sweep(store, record, points, client=client, on_progress=show)
    except SweepClaimsError as exc:
        err.print(f"mathdl: error: {exc}; the sweep's points are stored", markup=False)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print(f"mathdl: interrupted; finished points are stored, rerun the command to "
                  f"resume sweep {record.sweep_id}", markup=False)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        client.close()
    table = Table(title=f"sweep {summary.sweep_id}")
    for col in ("points", "already stored", "completed now", "failed now"):
        table.add_column(col)
    table.add_row(str(summary.total), str(summary.already_stored), str(summary.completed),
                  str(summary.failed))
    out.print(table)
    if summary.claims:
        out.print(_verdict_table("claims on the aggregated curve",
                                 [c.to_dict() for c in summary.claims]))
    out.print(f"sweep: {summary.sweep_id}", markup=False)


def _sweep_exists(home: Path | None, sweep_id: str) -> bool:
    path = (home if home is not None else default_home()) / "runs.sqlite"
    if not path.exists():
        return False
    try:
        _store(home).get_sweep(sweep_id)
    except KeyError:
        return False
    return True


@app.command("sweep-show")
def sweep_show(
    sweep_id: Annotated[str, typer.Argument(help="Sweep id (printed by 'mathdl sweep').")],
    as_json: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Show a sweep's points: grid values, seed, status and claims."""
    from mathdl.store import sweep_table

    with _user_errors():
        store = _store(home)
        try:
            record = store.get_sweep(sweep_id)
        except KeyError:
            raise _UserError(f"unknown sweep {sweep_id!r}") from None
        rows = sweep_table(store, sweep_id)
    if as_json:
        print(json.dumps({"sweep_id": record.sweep_id, "experiment": record.experiment,
                          "preset": record.preset, "grid": record.grid, "seeds": record.seeds,
                          "n_points": record.n_points, "claims": record.claims,
                          "points": rows}))
        return
    table = Table(title=f"sweep {record.sweep_id}: {record.experiment} "
                        f"({len(rows)}/{record.n_points} points stored)")
    for col in (*record.grid, "seed", "status", "claims holding"):
        table.add_column(col)
    for row in rows:
        table.add_row(*(_show_value(row[k]) for k in record.grid), str(row["seed"]),
                      row["status"], f"{row['holding']}/{row['claims']}")
    out.print(table)
    if record.claims:
        out.print(_verdict_table("claims on the aggregated curve", record.claims))


def _check_writable_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _UserError(f"cannot create the report directory {str(path)!r}: "
                         f"{exc.strerror}") from None
    import os

    if not os.access(path, os.W_OK):
        raise _UserError(f"the report directory {str(path)!r} is not writable")


@app.command()
def runs(
    as_json: JsonOpt = False,
    experiment: Annotated[str | None, typer.Option("--experiment", help="Only this one.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many.", min=1)] = None,
    home: HomeOpt = None,
) -> None:
    """List stored runs, newest first."""
    with _user_errors():
        records = _store(home).runs(experiment=experiment, limit=limit)
    if as_json:
        rows = [{
            "run_id": r.run_id, "experiment": r.experiment, "preset": r.preset, "seed": r.seed,
            "status": r.status.value, "claims": r.n_claims, "holding": r.n_holding,
            "started_at": r.started_at, "ended_at": r.ended_at, "wall_seconds": r.wall_seconds,
        } for r in records]
        print(json.dumps(rows))
        return
    table = Table(title="stored runs")
    for col in ("run", "experiment", "preset", "seed", "status", "claims holding", "ended"):
        table.add_column(col)
    for r in records:
        table.add_row(r.run_id, r.experiment, r.preset, str(r.seed), r.status.value,
                      f"{r.n_holding}/{r.n_claims}", r.ended_at)
    out.print(table)


@app.command()
def report(
    home: HomeOpt = None,
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="Report directory (default <home>/report).")] = None,
) -> None:
    """Write the HTML report from the stored runs."""
    from mathdl.report import write_report

    with _user_errors():
        store = _store(home)
        report_dir = out_dir if out_dir is not None else store.path.parent / "report"
        _check_writable_dir(report_dir)
        index = write_report(store, report_dir)
    out.print(f"report: {index}", markup=False)


def main() -> None:
    """Console entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("mathdl: interrupted", markup=False)
        sys.exit(EXIT_INTERRUPTED)
