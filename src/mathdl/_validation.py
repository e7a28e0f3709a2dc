"""Argument checks shared by every topic: one wording for every public boundary."""

from __future__ import annotations

import math


def check_positive_int(value: object, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` if it is an integer >= ``minimum`` (bools refused), else ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        expected = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name}: expected {expected}, got {value!r}")
    return value


def check_real(value: object, name: str, *, positive: bool = False,
               nonnegative: bool = False) -> float:
    """Return ``float(value)`` if it is a finite real (optionally > 0 or >= 0), else ValueError."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok and positive:
        ok = value > 0
    if ok and nonnegative:
        ok = value >= 0
    if not ok:
        kind = " > 0" if positive else " >= 0" if nonnegative else ""
        raise ValueError(f"{name}: expected a finite real number{kind}, got {value!r}")
    return float(value)


def check_positive_ints(value: object, name: str) -> tuple[int, ...]:
    """Return ``value`` if it is a tuple of positive integers (e.g. hidden widths), else
    ValueError."""
    if not (isinstance(value, tuple) and all(
            isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in value)):
        raise ValueError(f"{name}: expected a tuple of positive integers, got {value!r}")
    return value
