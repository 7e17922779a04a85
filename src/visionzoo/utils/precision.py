"""Precision names, one home: what `precision=` / `--precision` means for every API and command.

The canonical names are 'fp32', 'bf16' and 'fp16'; 'float32', 'bfloat16', 'float16' and torch dtypes
are accepted too. Mixed precision runs under `torch.autocast`; the weights stay fp32.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

__all__ = ["PRECISIONS", "autocast", "precision_dtype", "resolve_precision"]

PRECISIONS = ("fp32", "bf16", "fp16")

_ALIASES = {
    "fp32": "fp32",
    "float32": "fp32",
    "float": "fp32",
    "bf16": "bf16",
    "bfloat16": "bf16",
    "fp16": "fp16",
    "float16": "fp16",
    "half": "fp16",
    torch.float32: "fp32",
    torch.bfloat16: "bf16",
    torch.float16: "fp16",
}
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_precision(precision: Any, name: str = "precision") -> str:
    """The canonical name ('fp32', 'bf16' or 'fp16') of `precision`; None means 'fp32'."""
    if precision is None:
        return "fp32"
    if not isinstance(precision, (str, torch.dtype)):
        raise TypeError(f"{name} must be one of {', '.join(PRECISIONS)}, got {type(precision).__name__}")
    canonical = _ALIASES.get(precision.lower() if isinstance(precision, str) else precision)
    if canonical is None:
        raise ValueError(f"{name} must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    return canonical


def precision_dtype(precision: Any) -> torch.dtype:
    """The torch dtype of a precision name."""
    return _DTYPES[resolve_precision(precision)]


def autocast(device: torch.device | str, precision: Any) -> contextlib.AbstractContextManager:
    """`torch.autocast` for bf16/fp16 on `device`, a no-op for fp32.

    fp16 autocast on the CPU is refused: it is slower than fp32 there and loses accuracy; use bf16.
    """
    canonical = resolve_precision(precision)
    device_type = torch.device(device).type
    if canonical == "fp32":
        return contextlib.nullcontext()
    if device_type == "cpu" and canonical == "fp16":
        raise ValueError("fp16 is not supported on the CPU; use precision='bf16'")
    return torch.autocast(device_type, dtype=_DTYPES[canonical])
