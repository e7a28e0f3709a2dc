"""Render the HTML report from the run store. No mathematics here: everything shown is stored."""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
import os
import re
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import jinja2

import mathdl
from mathdl.store import RunRecord, RunStatus, RunStore

HISTORY_LENGTH = 10


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
    index = env.get_template("index.html.j2").render(
        topics=dict(sorted(by_topic.items())), n_claims=total, n_holding=holding,
        n_experiments=len(latest), **context,
    )
    _write_atomic(out / "index.html", index)
    return out / "index.html"
