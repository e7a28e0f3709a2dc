"""Claims: a prediction from theory, a measurement, a tolerance and the verdict between them."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any


class ClaimKind(enum.Enum):
    """What relation between measured and predicted the claim asserts.

    ``VALUE``: measured equals predicted within the tolerance.
    ``RATE``: like ``VALUE``, for a fitted rate (a log-log slope or an exponential rate).
    ``UPPER_BOUND``: measured <= predicted (+ tolerance): the theory bounds the quantity above.
    ``LOWER_BOUND``: measured >= predicted (- tolerance): the theory bounds the quantity below.
    """

    VALUE = "value"
    RATE = "rate"
    UPPER_BOUND = "upper_bound"
    LOWER_BOUND = "lower_bound"


class ToleranceKind(enum.Enum):
    """``ABSOLUTE``: the allowed slack is ``tolerance``.

    ``RELATIVE``: the allowed slack is ``tolerance * |predicted|``."""

    ABSOLUTE = "absolute"
    RELATIVE = "relative"


@dataclass(frozen=True, kw_only=True)
class Claim:
    """One checkable statement of an experiment.

    The prediction comes from theory (a closed form, a theorem's rate), never from an earlier run.
    The verdict ``holds`` is derived from the other fields, so it cannot disagree with them; a
    non-finite measurement never holds.
    """

    name: str
    statement: str
    reference: str
    predicted: float
    measured: float
    tolerance: float
    kind: ClaimKind = ClaimKind.VALUE
    tolerance_kind: ToleranceKind = ToleranceKind.ABSOLUTE

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("claim name: expected a non-empty string")
        if not (math.isfinite(self.tolerance) and self.tolerance >= 0):
            raise ValueError(f"claim {self.name!r} tolerance: expected a finite number >= 0, "
                             f"got {self.tolerance!r}")
        if not math.isfinite(self.predicted):
            raise ValueError(f"claim {self.name!r} predicted: expected a finite number, "
                             f"got {self.predicted!r}")

    @property
    def slack(self) -> float:
        """The allowed deviation in the units of the measured quantity."""
        if self.tolerance_kind is ToleranceKind.RELATIVE:
            return self.tolerance * abs(self.predicted)
        return self.tolerance

    @property
    def holds(self) -> bool:
        m, p = self.measured, self.predicted
        if not math.isfinite(m):
            return False
        if self.kind is ClaimKind.UPPER_BOUND:
            return m <= p + self.slack
        if self.kind is ClaimKind.LOWER_BOUND:
            return m >= p - self.slack
        return abs(m - p) <= self.slack

    def tolerance_text(self) -> str:
        """Human-readable tolerance, e.g. ``±0.1`` or ``±5%`` or ``<= predicted + 0``."""
        t = f"{self.tolerance:g}" if self.tolerance_kind is ToleranceKind.ABSOLUTE else (
            f"{100 * self.tolerance:g}%")
        if self.kind is ClaimKind.UPPER_BOUND:
            return f"measured <= predicted + {t}"
        if self.kind is ClaimKind.LOWER_BOUND:
            return f"measured >= predicted - {t}"
        return f"±{t}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "statement": self.statement,
            "reference": self.reference,
            "predicted": self.predicted,
            "measured": _json_float(self.measured),
            "tolerance": self.tolerance,
            "tolerance_kind": self.tolerance_kind.value,
            "kind": self.kind.value,
            "holds": self.holds,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Claim:
        measured = data["measured"]
        return cls(
            name=data["name"],
            statement=data["statement"],
            reference=data["reference"],
            predicted=float(data["predicted"]),
            measured=float("nan") if measured is None else float(measured),
            tolerance=float(data["tolerance"]),
            kind=ClaimKind(data.get("kind", "value")),
            tolerance_kind=ToleranceKind(data.get("tolerance_kind", "absolute")),
        )


def _json_float(x: float) -> float | None:
    """JSON has no NaN/Inf: store them as ``null``."""
    return x if math.isfinite(x) else None
