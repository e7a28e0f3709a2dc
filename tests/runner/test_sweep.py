"""Sweeps: grid parsing, deterministic identities, exactly-once storage, resumption."""

from __future__ import annotations

import math

import pytest

from mathdl.atlas import ConfigError, Preset, get_experiment
from mathdl.runner import make_client, parse_grid, plan_sweep, run_sweep
from mathdl.store import RunStatus, RunStore, sweep_curves, sweep_table

RUNGE = get_experiment("approximation/runge")
NTK = get_experiment("kernels/ntk-convergence")


def test_parse_grid_by_field_types():
    grid = parse_grid(RUNGE, ["a=4,25", "eval_points=201"])
    assert grid == {"a": [4.0, 25.0], "eval_points": [201]}
    tuples = parse_grid(NTK, ["widths=16,32,64;32,64,128", "parameterization=ntk,standard"])
    assert tuples["widths"] == [(16, 32, 64), (32, 64, 128)]
    assert [p.value for p in tuples["parameterization"]] == ["ntk", "standard"]


@pytest.mark.parametrize(("items", "message"), [
    ([], "empty grid"),
    (["nope=1,2"], "unknown config key 'nope'"),
    (["a=x,y"], "--grid a: expected values of type number"),
    (["a"], "expected key=v1,v2"),
    (["a=1", "a=2"], "given twice"),
])
def test_bad_grids(items, message):
    with pytest.raises(ConfigError, match=message):
        parse_grid(RUNGE, items)


def test_plan_is_the_product_times_seeds_and_deterministic():
    grid = parse_grid(RUNGE, ["a=4,9,25", "eval_points=201,301"])
    sweep, points = plan_sweep(RUNGE, Preset.QUICK, grid, seeds=3)
    again, points_again = plan_sweep(RUNGE, Preset.QUICK, grid, seeds=3)
    assert sweep.n_points == len(points) == 3 * 2 * 3
    assert sweep.sweep_id == again.sweep_id
    assert [p.key for p in points] == [p.key for p in points_again]
    assert len({p.key for p in points}) == len(points)
    other, _ = plan_sweep(RUNGE, Preset.QUICK, grid, seeds=2)
    assert other.sweep_id != sweep.sweep_id
    # the same config and seed in another sweep has the same point key (same experiment input)
    _, sub = plan_sweep(RUNGE, Preset.QUICK, parse_grid(RUNGE, ["a=4", "eval_points=201"]),
                        seeds=1)
    assert sub[0].key in {p.key for p in points}


def test_plan_validates_every_combination():
    with pytest.raises(ConfigError, match="eval_points"):
        plan_sweep(RUNGE, Preset.QUICK, parse_grid(RUNGE, ["eval_points=5"]), seeds=1)
    with pytest.raises(ConfigError, match="--seeds"):
        plan_sweep(RUNGE, Preset.QUICK, parse_grid(RUNGE, ["a=4"]), seeds=0)


@pytest.fixture(scope="module")
def client():
    c = make_client(workers=2)
    yield c
    c.close()


def test_sweep_runs_each_point_once_and_resumes(tmp_path, client):
    store = RunStore.open(tmp_path)
    grid = parse_grid(RUNGE, ["a=4,9,16,25", "eval_points=201,401"])
    sweep, points = plan_sweep(RUNGE, Preset.QUICK, grid, seeds=2)
    # a first, partial run: half the points (as if the client had died)
    first = run_sweep(store, sweep, points[: len(points) // 2], client=client, batch_size=3)
    assert (first.completed, first.already_stored) == (len(points) // 2, 0)
    summary = run_sweep(store, sweep, points, client=client, batch_size=3)
    assert summary.already_stored == len(points) // 2
    assert summary.completed == len(points) - len(points) // 2 and summary.failed == 0
    rows = sweep_table(store, sweep.sweep_id)
    assert sorted(r["point_key"] for r in rows) == sorted(p.key for p in points)
    assert store.count() == len(points)
    assert all(r["status"] == "completed" and r["claims"] == 3 for r in rows)
    # the stored numbers are the experiment's: the Chebyshev rate of each point follows its pole
    for r in rows:
        assert r["metrics"]["chebyshev_rate_predicted"] == pytest.approx(
            -math.log(math.sqrt(1 / r["a"]) + math.sqrt(1 + 1 / r["a"])), rel=1e-12)
    again = run_sweep(store, sweep, points, client=client)
    assert again.completed == 0 and again.already_stored == len(points)
    # curves: x = a (the first numeric grid key), one curve per eval_points, 2 seeds per x;
    # runge draws nothing at random, so the spread over seeds is exactly 0
    curves = sweep_curves(store, sweep.sweep_id)
    assert curves["x_key"] == "a"
    assert sorted(c["label"] for c in curves["curves"]) == ["eval_points=201", "eval_points=401"]
    for curve in curves["curves"]:
        rate = curve["metrics"]["chebyshev_rate_measured"]
        assert rate["x"] == [4.0, 9.0, 16.0, 25.0] and rate["n"] == [2, 2, 2, 2]
        assert rate["std"] == [0.0] * 4


def test_a_sweep_point_has_the_numbers_of_a_direct_run(tmp_path, client):
    # what docs/sweeps.md promises: a point of a sweep is the run of its config and seed
    from mathdl.atlas import apply_overrides

    sgd = get_experiment("training/sgd-rates")
    store = RunStore.open(tmp_path)
    grid = parse_grid(sgd, ["noise_std=0.5,2"])
    sweep, points = plan_sweep(sgd, Preset.QUICK, grid, seeds=2)
    run_sweep(store, sweep, points, client=client)
    for _, run in store.sweep_runs(sweep.sweep_id):
        config = apply_overrides(sgd.quick, [f"noise_std={run.config['noise_std']}"])
        assert run.result == sgd.run(config, seed=run.seed).to_dict()


def test_claims_on_the_aggregated_curve_are_evaluated_and_stored(tmp_path, client):
    store = RunStore.open(tmp_path)
    sweep, points = plan_sweep(RUNGE, Preset.QUICK, parse_grid(RUNGE, ["a=16,64,256"]), seeds=2)
    summary = run_sweep(store, sweep, points, client=client)
    assert summary.claims is not None and [c.name for c in summary.claims] == [
        "chebyshev-rate-curve", "chebyshev-rate-slope-in-a"]
    assert all(c.holds for c in summary.claims)
    stored = store.get_sweep(sweep.sweep_id).claims
    assert stored == [c.to_dict() for c in summary.claims]
    # the hook read the stored metrics: the curve's worst deviation is recomputable from them
    worst = max(abs(r["metrics"]["chebyshev_rate_measured"]
                    / r["metrics"]["chebyshev_rate_predicted"] - 1)
                for r in sweep_table(store, sweep.sweep_id))
    assert stored[0]["measured"] == pytest.approx(worst, rel=1e-12)


def test_a_failing_claims_hook_is_one_clear_error_and_keeps_the_points(tmp_path, client,
                                                                       monkeypatch):
    from dataclasses import replace

    from mathdl.atlas import _registry
    from mathdl.runner import SweepClaimsError

    def broken(observations):
        raise ZeroDivisionError("no spread")

    monkeypatch.setitem(_registry._REGISTRY, RUNGE.name, replace(RUNGE, sweep_claims=broken))
    store = RunStore.open(tmp_path)
    sweep, points = plan_sweep(RUNGE, Preset.QUICK, parse_grid(RUNGE, ["a=16,64"]), seeds=1)
    with pytest.raises(SweepClaimsError, match="approximation/runge: the claims on the sweep's "
                                               "curve could not be evaluated .ZeroDivisionError"):
        run_sweep(store, sweep, points, client=client)
    assert store.count() == 2 and store.get_sweep(sweep.sweep_id).claims is None


def test_a_failing_point_is_stored_as_failed_and_the_sweep_goes_on(tmp_path, client):
    # lazy-training raises at run time when the loss never reaches its asymptotic regime
    # (40 steps: the loss falls by ~e^-4 only); 600 steps is the quick preset's and succeeds.
    lazy = get_experiment("kernels/lazy-training")
    store = RunStore.open(tmp_path)
    grid = parse_grid(lazy, ["steps=40,600", "snapshots=5", "widths=256,512,1024"])
    sweep, points = plan_sweep(lazy, Preset.QUICK, grid, seeds=1)
    summary = run_sweep(store, sweep, points, client=client)
    assert (summary.completed, summary.failed) == (1, 1)
    rows = {r["steps"]: r for r in sweep_table(store, sweep.sweep_id)}
    assert rows[40]["status"] == "failed" and "asymptotic regime" in rows[40]["error"]
    assert rows[600]["status"] == "completed"


def test_duplicate_results_are_stored_once(tmp_path):
    from mathdl.atlas import config_to_dict
    from mathdl.runner import execute_point

    store = RunStore.open(tmp_path)
    sweep, points = plan_sweep(RUNGE, Preset.QUICK, parse_grid(RUNGE, ["a=4"]), seeds=1)
    store.add_sweep(sweep)
    p = points[0]
    record = execute_point(RUNGE.name, config_to_dict(p.config), p.seed, "quick")
    twice = execute_point(RUNGE.name, config_to_dict(p.config), p.seed, "quick")
    assert record.status is RunStatus.COMPLETED and record.figures == {}
    assert store.add_sweep_points(sweep.sweep_id, [(p.key, record), (p.key, twice)]) == 1
    assert store.add_sweep_points(sweep.sweep_id, [(p.key, twice)]) == 0
    assert store.count() == 1


def test_a_killed_worker_loses_and_duplicates_nothing(tmp_path):
    # Kill one worker process (SIGKILL) while the sweep runs: Dask reruns its tasks elsewhere
    # (the nanny restarts the worker), and every point is stored exactly once.
    import os
    import signal
    import threading

    store = RunStore.open(tmp_path)
    grid = parse_grid(RUNGE, ["a=4,9,16,25,36", "eval_points=201,301,401,501"])
    sweep, points = plan_sweep(RUNGE, Preset.QUICK, grid, seeds=3)
    c = make_client(workers=2)
    try:
        pids = list(c.run(os.getpid).values())
        killed = threading.Event()

        def progress(done: int, failed: int, total: int) -> None:
            if done >= 5 and not killed.is_set():
                killed.set()
                os.kill(pids[0], signal.SIGKILL)

        summary = run_sweep(store, sweep, points, client=c, batch_size=4, on_progress=progress)
    finally:
        c.close()
    assert killed.is_set()
    keys = [r["point_key"] for r in sweep_table(store, sweep.sweep_id)]
    assert sorted(keys) == sorted(p.key for p in points) and len(set(keys)) == len(keys)
    assert (summary.completed, summary.failed) == (len(points), 0)  # rerun, not lost
    assert store.count() == len(points)
