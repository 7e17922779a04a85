"""Device resolution, one home: what `device=` means for every API and command."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["default_device", "resolve_device"]


def default_device() -> torch.device:
    """CUDA when available, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_device(device: Any = None, *, allowed: tuple[str, ...] | None = None) -> torch.device:
    """Turn `device` (None, a string such as 'cuda:1', or a torch.device) into a usable torch.device.

    None picks `default_device()`. A device this machine does not have is a ValueError that says so,
    rather than a failure deep inside the first tensor op; `allowed` restricts the device types.
    """
    if device is None:
        dev = default_device()
    else:
        if not isinstance(device, (str, torch.device)):
            raise TypeError(f"device must be a str or torch.device, got {type(device).__name__} {device!r}")
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError, ValueError) as e:
            raise ValueError(f"invalid device {device!r}: {e}") from None
    if allowed is not None and dev.type not in allowed:
        raise ValueError(f"device must be one of {', '.join(allowed)}; got {dev.type!r}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(dev)!r} was asked for, but CUDA is not available on this machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {str(dev)!r} does not exist: this machine has {torch.cuda.device_count()} GPU(s)"
            )
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError("device 'mps' was asked for, but MPS is not available on this machine")
    return dev
