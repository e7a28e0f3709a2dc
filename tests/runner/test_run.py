"""The runner: provenance, failed and interrupted runs, storing."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from mathdl.atlas import Claim, Experiment, Preset, Result
from mathdl.runner import RunInterrupted, execute, resolve_config, run_and_store
from mathdl.store import RunStatus, RunStore


@dataclass(frozen=True, kw_only=True)
class ToyConfig:
    mode: str = "ok"


def _run(config, *, seed, progress=lambda d, t: None):
    progress(1, 1)
    if config.mode == "raise":
        raise ArithmeticError("the series diverged")
    if config.mode == "interrupt":
        raise KeyboardInterrupt
    return Result(metrics={"seed": seed},
                  claims=(Claim(name="c", statement="s", reference="r", predicted=1.0,
                                measured=1.0, tolerance=0.0),))


def _figure(result):
    from matplotlib.figure import Figure

    fig = Figure()
    fig.subplots().plot([0, 1], [0, result.metrics["seed"]])
    return {"line": fig}


TOY = Experiment(name="toy/exp", title="Toy", reference="none", description="d",
                 config_type=ToyConfig, quick=ToyConfig(), full=ToyConfig(), run=_run,
                 figure=_figure)


def test_completed_run_has_provenance():
    rec = execute(TOY, TOY.quick, preset=Preset.QUICK, seed=3)
    assert rec.status is RunStatus.COMPLETED and rec.error is None
    assert rec.result["metrics"] == {"seed": 3.0} and rec.n_holding == rec.n_claims == 1
    assert set(rec.versions) >= {"mathdl", "python", "torch", "numpy"}
    assert rec.device.startswith("cpu") and rec.wall_seconds >= 0
    assert "<svg" in rec.figures["line"] and rec.config == {"mode": "ok"}


def test_failing_run_is_recorded_not_raised(home):
    store = RunStore.open(home)
    rec = run_and_store(store, TOY, ToyConfig(mode="raise"), preset=Preset.QUICK, seed=0)
    assert rec.status is RunStatus.FAILED and "ArithmeticError: the series diverged" in rec.error
    assert store.get(rec.run_id).status is RunStatus.FAILED and rec.result is None


def test_interrupted_run_is_stored_as_failed_then_propagates(home):
    store = RunStore.open(home)
    with pytest.raises(RunInterrupted) as info:
        run_and_store(store, TOY, ToyConfig(mode="interrupt"), preset=Preset.QUICK, seed=0)
    stored = store.get(info.value.record.run_id)
    assert stored.status is RunStatus.FAILED and "interrupted" in stored.error


def test_resolve_config_applies_overrides():
    assert resolve_config(TOY, Preset.FULL, ["mode=raise"]) == ToyConfig(mode="raise")
