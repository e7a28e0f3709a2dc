"""The registry of experiments: the one place names map to experiments."""

from __future__ import annotations

import difflib
import importlib

from ._protocol import Experiment

# Each topic's experiments module registers its experiments when imported.
TOPIC_MODULES: tuple[str, ...] = (
    "mathdl.approximation.experiments",
    "mathdl.kernels.experiments",
    "mathdl.pde.experiments",
    "mathdl.generalization.experiments",
    "mathdl.generative.experiments",
    "mathdl.training.experiments",
)

_REGISTRY: dict[str, Experiment] = {}


class UnknownExperimentError(ValueError):
    """No experiment (or topic) of that name is registered."""


def register(experiment: Experiment) -> Experiment:
    """Add an experiment to the atlas (called at import time by a topic's ``experiments.py``)."""
    existing = _REGISTRY.get(experiment.name)
    if existing is not None and existing is not experiment:
        raise ValueError(f"experiment {experiment.name!r} is registered twice")
    _REGISTRY[experiment.name] = experiment
    return experiment


def _load() -> None:
    for module in TOPIC_MODULES:
        importlib.import_module(module)


def experiments(topic: str | None = None) -> list[Experiment]:
    """All registered experiments, sorted by name; only ``topic``'s if given."""
    _load()
    found = sorted(_REGISTRY.values(), key=lambda e: e.name)
    if topic is None:
        return found
    chosen = [e for e in found if e.topic == topic]
    if not chosen:
        topics = sorted({e.topic for e in found})
        raise UnknownExperimentError(
            f"unknown topic {topic!r}; known topics: {', '.join(topics)}"
        )
    return chosen


def get_experiment(name: str) -> Experiment:
    """The experiment called ``name`` (``topic/short-name``)."""
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else "; see 'mathdl list'"
        raise UnknownExperimentError(f"unknown experiment {name!r}{hint}") from None
