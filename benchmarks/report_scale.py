"""The report with many runs: `mathdl report` on a store of 10,000 runs, and the pages' sizes.

Builds a store of ``--runs`` runs (default 10,000): one experiment run per 10 (with a real SVG
figure, spread over 20 experiments), the rest points of 3 sweeps (as a sweep stores them: no
figures), all with the metrics and claims of a real ``approximation/runge`` quick run. Then times
``write_report`` (median of ``--repeats``) and prints the size of the largest pages. Asserts
nothing timed; run with ``python benchmarks/report_scale.py [--runs 10000]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

from mathdl.atlas import Preset, get_experiment
from mathdl.report import write_report
from mathdl.runner import execute, plan_sweep
from mathdl.store import RunStore


def fill_store(store: RunStore, runs: int, *, experiments: int = 20, sweeps: int = 3) -> None:
    """Store ``runs`` runs cloned from one real runge run: a tenth as experiment runs with
    figures, the rest as points of ``sweeps`` sweeps over (a, seed)."""
    runge = get_experiment("approximation/runge")
    template = execute(runge, runge.quick, preset=Preset.QUICK, seed=0)
    standalone = max(runs // 10, experiments)
    for i in range(standalone):
        store.add(dataclasses.replace(
            template, run_id=f"run{i:06d}", experiment=f"topic{i % 4}/experiment-{i % experiments}",
            topic=f"topic{i % 4}", ended_at=f"2026-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}"))
    per_sweep = (runs - standalone) // sweeps
    for s in range(sweeps):
        a_values = [float(4 + k) for k in range(max(per_sweep // 10, 1))]
        seeds = per_sweep // len(a_values)
        sweep, points = plan_sweep(runge, Preset.QUICK, {"a": a_values, "eval_points": [201 + s]},
                                   seeds=seeds)
        store.add_sweep(sweep)
        batch = [(p.key, dataclasses.replace(template, run_id=f"s{s}-{j:06d}", seed=p.seed,
                                             config={**template.config, "a": p.config.a},
                                             figures={}))
                 for j, p in enumerate(points)]
        for k in range(0, len(batch), 1000):
            store.add_sweep_points(sweep.sweep_id, batch[k:k + 1000])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp())
    store = RunStore.open(home)
    t0 = time.perf_counter()
    fill_store(store, args.runs)
    print(f"store: {store.count()} runs, {len(store.sweeps())} sweeps "
          f"(filled in {time.perf_counter() - t0:.1f} s)")
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        index = write_report(store, home / "report")
        times.append(time.perf_counter() - t0)
    print(f"write_report: median {statistics.median(times):.2f} s over {args.repeats} "
          f"(min {min(times):.2f} s, max {max(times):.2f} s)")
    pages = sorted(index.parent.rglob("*.html"), key=lambda p: p.stat().st_size, reverse=True)
    print(f"{len(pages)} pages, {len(list(index.parent.rglob('*.svg')))} figures; largest pages:")
    for page in pages[:4]:
        print(f"  {page.relative_to(index.parent)}  {page.stat().st_size / 1024:8.1f} KiB")


if __name__ == "__main__":
    main()
