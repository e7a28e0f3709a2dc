"""Validation shared by the generalization primitives: every error names the argument."""

from __future__ import annotations

import enum

import torch
from torch import Tensor

from mathdl._validation import check_positive_int, check_real  # noqa: F401  (re-exported)


def check_enum(value: object, cls: type[enum.Enum], name: str) -> None:
    if not isinstance(value, cls):
        choices = ", ".join(f"{cls.__name__}.{m.name}" for m in cls)
        raise ValueError(f"{name}: expected one of {choices}, got {value!r}")


def check_generator(generator: object) -> torch.Generator:
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator: expected a torch.Generator, got {type(generator).__name__}")
    return generator


def check_tensor(x: object, name: str, ndim: int, *, batched: bool = False,
                 finite: bool = True) -> Tensor:
    """A real floating tensor with ``ndim`` dimensions (at least ``ndim`` when ``batched``:
    leading dimensions index independent problems)."""
    if not isinstance(x, Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.ndim != ndim and not (batched and x.ndim > ndim):
        want = f"at least {ndim}-D" if batched else f"{ndim}-D"
        raise ValueError(f"{name}: expected a {want} tensor, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name}: expected a real floating dtype, got {x.dtype}")
    if finite and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name}: expected finite values")
    return x


def check_same_columns(a: Tensor, b: Tensor, names: tuple[str, str]) -> None:
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"{names[1]}: expected {a.shape[-1]} columns like {names[0]}, "
                         f"got shape {tuple(b.shape)}")


def common_dtype(*tensors: Tensor) -> torch.dtype:
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    return dtype
