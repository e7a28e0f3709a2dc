"""Sweep throughput: points per second on a local Dask cluster with 1 and 2 workers, against
running the same points sequentially in one process; overhead per point.

The points are approximation/runge runs on small degree ranges (~10 ms of work each), so the
figures measure the sweep machinery (scheduling, transfer, batched SQLite writes). Run:
``python benchmarks/sweep_throughput.py [--points 200]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from mathdl.atlas import Preset, config_to_dict, get_experiment
from mathdl.runner import execute_point, make_client, parse_grid, plan_sweep, run_sweep
from mathdl.store import RunStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=200)
    args = parser.parse_args()
    exp = get_experiment("approximation/runge")
    n_values = max(1, args.points // 4)
    grid = parse_grid(exp, ["equispaced_degrees=10,14,18,22", "chebyshev_degrees=10,20,30,40",
                            "eval_points=" + ",".join(str(201 + i) for i in range(n_values))])
    sweep, points = plan_sweep(exp, Preset.QUICK, grid, seeds=4)
    print(f"{len(points)} points of {exp.name}")

    execute_point(exp.name, config_to_dict(points[0].config), 0, "quick")  # warm imports
    t0 = time.perf_counter()
    for p in points:
        execute_point(exp.name, config_to_dict(p.config), p.seed, "quick")
    sequential = time.perf_counter() - t0
    print(f"sequential, one process      {len(points) / sequential:8.1f} points/s  "
          f"({1e3 * sequential / len(points):.1f} ms/point, no storage)")

    for workers in (1, 2):
        client = make_client(workers=workers)
        client.submit(execute_point, exp.name, config_to_dict(points[0].config), 0,
                      "quick", pure=False).result()  # warm the workers' imports
        store = RunStore.open(tempfile.mkdtemp())
        t0 = time.perf_counter()
        run_sweep(store, sweep, points, client=client)
        wall = time.perf_counter() - t0
        client.close()
        overhead = wall * workers / len(points) - sequential / len(points)
        print(f"dask, {workers} worker{'s' if workers > 1 else ' '}              "
              f"{len(points) / wall:8.1f} points/s  speed-up vs sequential "
              f"{sequential / wall:5.2f}x  overhead {1e3 * overhead:6.1f} ms/point/worker "
              f"(stored: {store.count()})")


if __name__ == "__main__":
    main()
