"""Experiment configs: frozen keyword-only dataclasses, their JSON form and ``key=value`` overrides.

A config field may be ``int``, ``float``, ``bool``, ``str``, an ``enum.Enum`` subclass, or a tuple
of one of these (``tuple[int, ...]``). That small set keeps configs JSON round-trippable and lets
the command line parse ``--set key=value`` from the type alone.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import typing
from typing import Any


class ConfigError(ValueError):
    """A config could not be built from user input (unknown key, unparsable or invalid value)."""


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is tuple:
        (inner, *_rest) = typing.get_args(tp)
        return f"comma-separated list of {_describe(inner)}"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "one of " + ", ".join(m.value for m in tp)
    return {int: "integer", float: "number", bool: "boolean", str: "string"}.get(tp, str(tp))


def describe_type(tp: Any) -> str:
    """A short description of a config field type, for ``mathdl show``."""
    return _describe(tp)


def _parse_scalar(tp: Any, text: str) -> Any:
    text = text.strip()
    if tp is bool:
        low = text.lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise ValueError
    if tp is int:
        return int(text)
    if tp is float:
        value = float(text)
        if not math.isfinite(value):
            raise ValueError
        return value
    if tp is str:
        return text
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(text)
    raise TypeError(f"unsupported config field type {tp!r}")


def parse_value(tp: Any, text: str) -> Any:
    """Parse the command-line text of one config value according to its field type."""
    if typing.get_origin(tp) is tuple:
        (inner, *_rest) = typing.get_args(tp)
        parts = [p for p in text.split(",") if p.strip()]
        if not parts:
            raise ValueError
        return tuple(_parse_scalar(inner, p) for p in parts)
    return _parse_scalar(tp, text)


def _from_json_value(tp: Any, value: Any) -> Any:
    if typing.get_origin(tp) is tuple:
        (inner, *_rest) = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            raise ValueError
        return tuple(_from_json_value(inner, v) for v in value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp in (bool, str) and isinstance(value, tp):
        return value
    raise ValueError


def _to_json_value(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return [_to_json_value(v) for v in value]
    return value


def config_to_dict(config: Any) -> dict[str, Any]:
    """The JSON form of a config: a flat dict of JSON scalars and lists."""
    return {f.name: _to_json_value(getattr(config, f.name)) for f in dataclasses.fields(config)}


def config_from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a config from its JSON form; missing keys take the dataclass defaults."""
    types_ = _field_types(cls)
    unknown = sorted(set(data) - set(types_))
    if unknown:
        raise ConfigError(f"unknown config key {unknown[0]!r}; valid keys: {', '.join(types_)}")
    kwargs = {}
    for key, value in data.items():
        try:
            kwargs[key] = _from_json_value(types_[key], value)
        except (ValueError, TypeError):
            raise ConfigError(
                f"config key {key!r}: expected {_describe(types_[key])}, got {value!r}"
            ) from None
    return _build(cls, kwargs, base=None)


def apply_overrides(config: Any, assignments: typing.Iterable[str]) -> Any:
    """Return ``config`` with ``key=value`` assignments applied (values parsed by field type).

    Raises:
        ConfigError: malformed assignment, unknown key, unparsable value, or a value that the
            config's own validation rejects.
    """
    types_ = _field_types(type(config))
    changes: dict[str, Any] = {}
    for item in assignments:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key=value")
        if key not in types_:
            raise ConfigError(f"unknown config key {key!r}; valid keys: {', '.join(types_)}")
        try:
            changes[key] = parse_value(types_[key], text)
        except ValueError:
            raise ConfigError(
                f"--set {key}: expected {_describe(types_[key])}, got {text!r}"
            ) from None
    return _build(type(config), changes, base=config)


def _build(cls: type, changes: dict[str, Any], *, base: Any) -> Any:
    try:
        if base is None:
            return cls(**changes)
        return dataclasses.replace(base, **changes)
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"invalid config: {exc}") from None


def config_fields(cls: type) -> list[tuple[str, Any, Any]]:
    """(name, type, default) of each config field, in declaration order."""
    types_ = _field_types(cls)
    out = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        out.append((f.name, types_[f.name], default))
    return out


# ---------------------------------------------------------------------------------------------
# Validation helpers for configs' __post_init__ (shared so every experiment says it the same way)


def require(condition: bool, field: str, expected: str, value: Any) -> None:
    """Raise ``ValueError`` naming the field when ``condition`` is false."""
    if not condition:
        raise ValueError(f"{field}: expected {expected}, got {value!r}")


def require_int_range(field: str, value: Any, low: int, high: int | None = None) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
    ok = ok and (high is None or value <= high)
    span = f">= {low}" if high is None else f"between {low} and {high}"
    require(ok, field, f"an integer {span}", value)


def require_ints(field: str, values: Any, low: int, high: int | None = None,
                 *, min_len: int = 1, increasing: bool = False) -> None:
    ok = isinstance(values, tuple) and len(values) >= min_len
    ok = ok and all(isinstance(v, int) and not isinstance(v, bool) and v >= low
                    and (high is None or v <= high) for v in values)
    if ok and increasing:
        ok = all(a < b for a, b in zip(values, values[1:], strict=False))
    span = f">= {low}" if high is None else f"between {low} and {high}"
    order = " strictly increasing" if increasing else ""
    require(ok, field, f"at least {min_len}{order} integers {span}", values)


def require_positive(field: str, value: Any) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    require(ok and math.isfinite(value) and value > 0, field, "a finite number > 0", value)



class ComputeDevice(enum.Enum):
    """Where an experiment computes (a config field of experiments that benefit from a GPU).

    ``CPU`` is every preset's default: results are bit-reproducible there. ``CUDA`` runs on the
    current GPU (``--set device=cuda``); numbers then agree with the CPU's to floating-point
    reordering, not bit for bit.
    """

    CPU = "cpu"
    CUDA = "cuda"

    def torch_device(self) -> Any:
        import torch

        return torch.device(self.value)


def require_device(field: str, value: Any) -> None:
    """A :class:`ComputeDevice` that exists on this machine."""
    require(isinstance(value, ComputeDevice), field, "a ComputeDevice (cpu or cuda)", value)
    if value is ComputeDevice.CUDA:
        import torch

        require(torch.cuda.is_available(), field,
                "cpu (no CUDA device is available on this machine)",
                value.value)
