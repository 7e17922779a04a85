"""Argument checks, one home: a wrong type is a TypeError, a wrong value is a ValueError, everywhere.

Each check returns the value it accepted, so callers can write `n = check_int("batch_size", n, 1)`.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

__all__ = ["check_bool", "check_choice", "check_float", "check_int", "check_output_stride", "check_rate"]


def _type_error(name: str, expected: str, value: Any) -> TypeError:
    return TypeError(f"{name} must be {expected}, got {type(value).__name__} {value!r}")


def check_int(name: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    """An int (not a bool) within [minimum, maximum] (either bound may be None)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error(name, "an int", value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        bounds = [f">= {minimum:,}"] if minimum is not None else []
        bounds += [f"<= {maximum:,}"] if maximum is not None else []
        raise ValueError(f"{name} must be {' and '.join(bounds)}, got {value}")
    return value


def check_float(
    name: str,
    value: Any,
    minimum: float | None = None,
    maximum: float | None = None,
    *,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
) -> float:
    """A finite real number (int or float, not a bool) within the given bounds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _type_error(name, "a number", value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    if minimum is not None and (value < minimum if min_inclusive else value <= minimum):
        raise ValueError(f"{name} must be {'>=' if min_inclusive else '>'} {minimum}, got {value}")
    if maximum is not None and (value > maximum if max_inclusive else value >= maximum):
        raise ValueError(f"{name} must be {'<=' if max_inclusive else '<'} {maximum}, got {value}")
    return float(value)


def check_rate(name: str, value: Any) -> float:
    """A probability-like rate in [0, 1)."""
    return check_float(name, value, 0.0, 1.0, max_inclusive=False)


def check_bool(name: str, value: Any) -> bool:
    """A real bool (not 0/1, not a string)."""
    if not isinstance(value, bool):
        raise _type_error(name, "a bool", value)
    return value


def check_choice(name: str, value: Any, choices: Collection[str]) -> str:
    """A string that is one of `choices`."""
    if not isinstance(value, str):
        raise _type_error(name, "a str", value)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_output_stride(value: Any, supported: Collection[int] = (8, 16, 32)) -> int:
    """An output stride the family can build: one of `supported` ((32,) for a family that cannot dilate)."""
    check_int("output_stride", value)
    if value not in supported:
        note = "" if len(supported) > 1 else " (this family has no dilated stages)"
        raise ValueError(f"output_stride must be one of {tuple(supported)}{note}, got {value}")
    return value
