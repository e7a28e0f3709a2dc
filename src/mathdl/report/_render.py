"""Render the HTML report from the run store. No mathematics here: everything shown is stored."""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import math
import os
import re
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import jinja2

import mathdl
from mathdl.store import RunRecord, RunStatus, RunStore, sweep_curves, sweep_table

HISTORY_LENGTH = 10
SWEEP_FIGURE_METRICS = 8  # at most this many metric curves per sweep page


def slug(name: str) -> str:
    """A file-name-safe, unique slug for an experiment name (``topic/x`` -> ``topic--x``)."""
    clean = re.sub(r"[^A-Za-z0-9_.-]+", "_", name.replace("/", "--")).strip("._") or "x"
    if clean != name.replace("/", "--"):
        clean += "-" + hashlib.sha1(name.encode()).hexdigest()[:8]
    return clean[:120]


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("mathdl.report", "templates"),
        autoescape=True,  # every stored string is escaped
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = _fmt
    env.filters["slug"] = slug
    return env


def _write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file in the same directory, then rename: never a half-written page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _figure_file(record: RunRecord, name: str) -> str:
    return f"figures/{slug(record.experiment)}--{slug(name)}.svg"


def write_report(store: RunStore, out: str | os.PathLike[str]) -> Path:
    """Write the static report (index, one page per experiment, SVG figures) into ``out``.

    Shows the latest run of each experiment, plus a short history. Returns the index path.
    """
    out = Path(out)
    env = _environment()
    latest = store.latest_per_experiment()
    by_topic: dict[str, list[RunRecord]] = defaultdict(list)
    for record in latest:
        by_topic[record.topic].append(record)
    total = sum(r.n_claims for r in latest)
    holding = sum(r.n_holding for r in latest)
    context = {
        "version": mathdl.__version__,
        "generated": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "n_runs": store.count(),
        "completed": RunStatus.COMPLETED,
    }
    for record in latest:
        figures = []
        for name, svg in record.figures.items():
            rel = _figure_file(record, name)
            _write_atomic(out / rel, svg)
            figures.append({"name": name, "path": "../" + rel})
        history = store.runs(experiment=record.experiment, limit=HISTORY_LENGTH)
        page = env.get_template("experiment.html.j2").render(
            record=record, figures=figures, history=history, **context
        )
        _write_atomic(out / "experiments" / f"{slug(record.experiment)}.html", page)
    sweeps = store.sweeps()
    for sweep in sweeps:
        _write_sweep_page(env, out, store, sweep, context)
    index = env.get_template("index.html.j2").render(
        topics=dict(sorted(by_topic.items())), n_claims=total, n_holding=holding,
        n_experiments=len(latest), sweeps=[(s, len(store.sweep_point_keys(s.sweep_id)))
                                           for s in sweeps], **context,
    )
    _write_atomic(out / "index.html", index)
    return out / "index.html"


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    return buf.getvalue()


def _sweep_figure_names(curves: dict[str, Any]) -> list[str]:
    return sorted({m for c in curves["curves"] for m in c["metrics"]})[:SWEEP_FIGURE_METRICS]


def _sweep_figures(curves: dict[str, Any]) -> dict[str, str]:
    """One SVG per metric: mean over seeds against the x grid key, +- one standard deviation."""
    from matplotlib.figure import Figure

    figures = {}
    for name in _sweep_figure_names(curves):
        fig = Figure(figsize=(5.2, 3.4))
        ax = fig.subplots()
        for curve in curves["curves"]:
            m = curve["metrics"].get(name)
            if not m:
                continue
            lo = [a - b for a, b in zip(m["mean"], m["std"], strict=True)]
            hi = [a + b for a, b in zip(m["mean"], m["std"], strict=True)]
            line = ax.plot(m["x"], m["mean"], "o-", ms=3, label=curve["label"])[0]
            ax.fill_between(m["x"], lo, hi, color=line.get_color(), alpha=0.2)
        xs = [x for c in curves["curves"] for x in c["metrics"].get(name, {}).get("x", [])]
        if xs and min(xs) > 0 and max(xs) / min(xs) > 20:
            ax.set_xscale("log")
        ax.set_xlabel(curves["x_key"] or "point")
        ax.set_title(name)
        if len(curves["curves"]) <= 10:
            ax.legend(fontsize=7)
        fig.tight_layout()
        figures[name] = _svg(fig)
    return figures


def _write_sweep_page(env: jinja2.Environment, out: Path, store: RunStore, sweep: Any,
                      context: dict[str, Any]) -> None:
    runs = store.sweep_runs(sweep.sweep_id)
    curves = sweep_curves(store, sweep.sweep_id, runs=runs)
    rows = sweep_table(store, sweep.sweep_id, runs=runs)
    # The figures are named by a hash of the curves they draw: a sweep whose points did not
    # change since the last report keeps its SVG files and is not drawn again.
    digest = hashlib.sha1(json.dumps(curves, sort_keys=True).encode()).hexdigest()[:12]
    stem = f"figures/sweep-{slug(sweep.sweep_id)}-{digest}"
    names = _sweep_figure_names(curves)
    if all((out / f"{stem}--{slug(name)}.svg").is_file() for name in names):
        drawn: dict[str, str] = {}
    else:
        drawn = _sweep_figures(curves)
        for stale in (out / "figures").glob(f"sweep-{slug(sweep.sweep_id)}-*.svg"):
            stale.unlink(missing_ok=True)
    figures = []
    for name in names:
        rel = f"{stem}--{slug(name)}.svg"
        if name in drawn:
            _write_atomic(out / rel, drawn[name])
        figures.append({"name": name, "path": "../" + rel})
    page = env.get_template("sweep.html.j2").render(
        sweep=sweep, rows=rows, figures=figures, x_key=curves["x_key"], **context)
    _write_atomic(out / "sweeps" / f"{slug(sweep.sweep_id)}.html", page)
