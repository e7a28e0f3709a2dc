"""Running experiments: one run, the whole atlas, sweeps. No mathematics lives here."""

from ._run import (
    RunInterrupted,
    device_description,
    execute,
    git_commit,
    new_run_id,
    render_svg,
    reproduce,
    resolve_config,
    run_and_store,
    versions,
)
from ._sweep import (
    SweepClaimsError,
    SweepError,
    SweepPoint,
    SweepSummary,
    evaluate_sweep_claims,
    execute_point,
    make_client,
    parse_grid,
    plan_sweep,
    run_sweep,
)

__all__ = [
    "RunInterrupted",
    "SweepClaimsError",
    "SweepError",
    "SweepPoint",
    "SweepSummary",
    "device_description",
    "evaluate_sweep_claims",
    "execute",
    "execute_point",
    "git_commit",
    "make_client",
    "new_run_id",
    "parse_grid",
    "plan_sweep",
    "render_svg",
    "reproduce",
    "resolve_config",
    "run_and_store",
    "run_sweep",
    "versions",
]
