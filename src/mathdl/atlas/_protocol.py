"""The experiment protocol: what every entry of the theorem atlas provides and returns."""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ._claims import Claim


class Preset(enum.Enum):
    """``QUICK``: seconds on 2 CPU cores (tests, ``reproduce --preset quick``).
    ``FULL``: the paper-level accuracy."""

    QUICK = "quick"
    FULL = "full"


class Progress(Protocol):
    """Called by experiments as work advances: ``progress(done, total)``."""

    def __call__(self, done: int, total: int) -> None: ...


def no_progress(done: int, total: int) -> None:
    """The default progress callback: does nothing."""


@dataclass(frozen=True, kw_only=True)
class Result:
    """What an experiment's ``run`` returns.

    Attributes:
        metrics: named scalar measurements.
        series: named 1-D arrays (lists of floats) that the figure is drawn from.
        claims: the verdicts of theory against measurement.
    """

    metrics: Mapping[str, float] = field(default_factory=dict)
    series: Mapping[str, Sequence[float]] = field(default_factory=dict)
    claims: tuple[Claim, ...] = ()

    def __post_init__(self) -> None:
        names = [c.name for c in self.claims]
        if len(set(names)) != len(names):
            raise ValueError(f"claims: names must be unique, got {names}")
        object.__setattr__(self, "metrics", {k: float(v) for k, v in self.metrics.items()})
        object.__setattr__(
            self, "series", {k: [float(x) for x in v] for k, v in self.series.items()}
        )

    @property
    def all_hold(self) -> bool:
        return all(c.holds for c in self.claims)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metrics": {k: _jf(v) for k, v in self.metrics.items()},
            "series": {k: [_jf(x) for x in v] for k, v in self.series.items()},
            "claims": [c.to_dict() for c in self.claims],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Result:
        return cls(
            metrics={k: _fj(v) for k, v in data.get("metrics", {}).items()},
            series={k: [_fj(x) for x in v] for k, v in data.get("series", {}).items()},
            claims=tuple(Claim.from_dict(c) for c in data.get("claims", [])),
        )


def _jf(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _fj(x: float | None) -> float:
    return float("nan") if x is None else float(x)


@dataclass(frozen=True, kw_only=True)
class Experiment:
    """One entry of the theorem atlas.

    Attributes:
        name: ``topic/short-name``.
        title: one line.
        reference: the theorem or paper checked (authors, year, result).
        description: a paragraph: what is measured and what theory predicts.
        config_type: the frozen keyword-only dataclass of the experiment's parameters.
        quick, full: the two presets (instances of ``config_type``).
        run: ``run(config, *, seed, progress) -> Result``, deterministic for a given seed, built
            only on public primitives.
        figure: ``figure(result) -> {name: matplotlib.figure.Figure}``, drawn from the result only.
    """

    name: str
    title: str
    reference: str
    description: str
    config_type: type
    quick: Any
    full: Any
    run: Callable[..., Result]
    figure: Callable[[Result], Mapping[str, Any]]

    def __post_init__(self) -> None:
        topic, sep, short = self.name.partition("/")
        if not (sep and topic and short) or "/" in short:
            raise ValueError(f"experiment name: expected 'topic/short-name', got {self.name!r}")
        for preset in (self.quick, self.full):
            if not isinstance(preset, self.config_type):
                raise ValueError(f"{self.name}: presets must be {self.config_type.__name__}")

    @property
    def topic(self) -> str:
        return self.name.partition("/")[0]

    def preset(self, preset: Preset) -> Any:
        return self.quick if preset is Preset.QUICK else self.full
