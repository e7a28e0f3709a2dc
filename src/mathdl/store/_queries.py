"""Queries over stored sweeps: one row per point, and metrics aggregated over seeds.

Summaries of stored numbers (counts, means, standard deviations over seeds), shared by the CLI
and the report; no experiment's mathematics is recomputed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._sqlite import RunRecord, RunStatus, RunStore

SweepRuns = Sequence[tuple[str, RunRecord]]


def sweep_table(store: RunStore, sweep_id: str, *, runs: SweepRuns | None = None
                ) -> list[dict[str, Any]]:
    """One row per stored point: the grid values, seed, status, claims and metrics.

    ``runs``: the sweep's ``store.sweep_runs(sweep_id)`` if already loaded (read once, use twice).
    """
    sweep = store.get_sweep(sweep_id)
    rows = []
    for key, run in runs if runs is not None else store.sweep_runs(sweep_id):
        row: dict[str, Any] = {"point_key": key, "run_id": run.run_id, "seed": run.seed}
        row.update({k: run.config.get(k) for k in sweep.grid})
        row.update({"status": run.status.value, "claims": run.n_claims,
                    "holding": run.n_holding, "metrics": run.metrics, "error": run.error})
        rows.append(row)
    return rows


def sweep_curves(store: RunStore, sweep_id: str, *, runs: SweepRuns | None = None
                 ) -> dict[str, Any]:
    """Metrics of a sweep's completed points aggregated over seeds, as curves.

    The x axis is the first grid key whose values are numbers; the other grid keys label the
    curves. For each curve and metric: the x values and, over the seeds stored at each x, the
    mean, the sample standard deviation (0 for one seed) and the count. ``runs`` as in
    :func:`sweep_table`.
    """
    sweep = store.get_sweep(sweep_id)
    numeric = [k for k, vs in sweep.grid.items()
               if all(isinstance(v, int | float) and not isinstance(v, bool) for v in vs)]
    x_key = numeric[0] if numeric else None
    others = [k for k in sweep.grid if k != x_key]
    groups: dict[str, dict[float, dict[str, list[float]]]] = {}
    for _, run in runs if runs is not None else store.sweep_runs(sweep_id):
        if run.status is not RunStatus.COMPLETED:
            continue
        label = ", ".join(f"{k}={_text(run.config.get(k))}" for k in others)
        x = float(run.config[x_key]) if x_key is not None else 0.0
        per_x = groups.setdefault(label or "all", {}).setdefault(x, {})
        for name, value in run.metrics.items():
            if value is not None:
                per_x.setdefault(name, []).append(float(value))
    curves = []
    for label, per_x in groups.items():
        xs = sorted(per_x)
        names = sorted(set().union(*(per_x[x].keys() for x in xs)))
        metrics = {}
        for name in names:
            pts = [(x, per_x[x][name]) for x in xs if name in per_x[x]]
            metrics[name] = {
                "x": [x for x, _ in pts],
                "mean": [sum(v) / len(v) for _, v in pts],
                "std": [_std(v) for _, v in pts],
                "n": [len(v) for _, v in pts],
            }
        curves.append({"label": label, "metrics": metrics})
    return {"sweep_id": sweep_id, "x_key": x_key, "curves": curves}


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    return str(value)


def _std(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    return (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
