"""Running experiments: one run, the whole atlas. No mathematics lives here."""

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

__all__ = [
    "RunInterrupted",
    "device_description",
    "execute",
    "git_commit",
    "new_run_id",
    "render_svg",
    "reproduce",
    "resolve_config",
    "run_and_store",
    "versions",
]
