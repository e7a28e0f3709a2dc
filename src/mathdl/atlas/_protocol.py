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
class SweepObservation:
    """One completed point of a sweep, as an experiment's ``sweep_claims`` hook sees it.

    Attributes:
        config: the point's typed config (an instance of the experiment's ``config_type``).
        seed: the point's seed.
        metrics: the run's stored scalar metrics.
    """

    config: Any
    seed: int
    metrics: Mapping[str, float]


SweepClaims = Callable[[Sequence[SweepObservation]], tuple[Claim, ...]]


def group_observations(
    observations: Sequence[SweepObservation], *, ignore: Sequence[str] = ()
) -> list[tuple[dict[str, Any], list[SweepObservation]]]:
    """Group a sweep's observations by config, seeds (and the fields in ``ignore``) pooled.

    Returns ``(varying, members)`` pairs in first-seen order: ``varying`` maps each config field
    that takes more than one value across the groups to this group's value (``{}`` when the sweep
    varied only seeds or ignored fields).
    """
    from dataclasses import asdict

    groups: dict[str, tuple[dict[str, Any], list[SweepObservation]]] = {}
    for obs in observations:
        fields = {k: v for k, v in asdict(obs.config).items() if k not in ignore}
        key = repr(sorted((k, repr(v)) for k, v in fields.items()))
        groups.setdefault(key, (fields, []))[1].append(obs)
    configs = [fields for fields, _ in groups.values()]
    varying = [k for k in (configs[0] if configs else {})
               if len({repr(c[k]) for c in configs}) > 1]
    return [({k: fields[k] for k in varying}, members) for fields, members in groups.values()]


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
        sweep_claims: optional ``sweep_claims(observations) -> claims``: the theory evaluated on
            the curve a sweep traces (its completed points, aggregated over seeds by the hook).
            Returns ``()`` when the sweep does not vary what the claims need. Like ``run``, the
            predictions come from theory; the hook only reads stored metrics.
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
    sweep_claims: SweepClaims | None = None

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
