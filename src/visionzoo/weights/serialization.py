"""Safe reading of checkpoint files: safetensors (memory-mapped) or `torch.load(weights_only=True)`."""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch

from .errors import CorruptCheckpointError, UnsafeCheckpointError

# Keys under which training scripts nest the weights, most preferred first.
NESTED_KEYS = ("state_dict_ema", "model_ema", "state_dict", "model", "module", "params")


def _is_tensor_dict(obj) -> bool:
    return isinstance(obj, Mapping) and obj and all(isinstance(v, torch.Tensor) for v in obj.values())


def unwrap_state_dict(obj, state_dict_key: str | None = None) -> dict[str, torch.Tensor]:
    """Find the tensor dict inside a nested checkpoint and strip DDP's `module.` prefix."""
    if state_dict_key is not None:
        if not isinstance(obj, Mapping) or state_dict_key not in obj:
            keys = list(obj)[:10] if isinstance(obj, Mapping) else type(obj).__name__
            raise CorruptCheckpointError(
                f"checkpoint has no entry {state_dict_key!r}; top-level keys: {keys}"
            )
        obj = obj[state_dict_key]
    while not _is_tensor_dict(obj):
        if not isinstance(obj, Mapping):
            raise CorruptCheckpointError(f"checkpoint holds a {type(obj).__name__}, not a dict of tensors")
        nested = next((k for k in NESTED_KEYS if isinstance(obj.get(k), Mapping) and obj.get(k)), None)
        if nested is None:
            raise CorruptCheckpointError(
                f"no dict of tensors found in checkpoint; top-level keys: {list(obj)[:10]}"
            )
        obj = obj[nested]
    sd = dict(obj)
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module.") :]: v for k, v in sd.items()}
    return sd


def is_safetensors_file(path: str | Path) -> bool:
    """True for a `.safetensors` name, or a file that starts like one (8-byte header length, then '{')."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return True
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{" and 0 < int.from_bytes(head[:8], "little") < (1 << 30)


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Memory-mapped read: tensors share the file's pages until written to."""
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except Exception as e:  # safetensors raises its own SafetensorError and others
        raise CorruptCheckpointError(f"safetensors file {path} is truncated or corrupt: {e}") from None


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def read_state_dict(path: str | Path, state_dict_key: str | None = None) -> dict[str, torch.Tensor]:
    """Read a checkpoint safely: never unpickles code. Raises CorruptCheckpointError / UnsafeCheckpointError.

    Safetensors files are memory-mapped; pickle-based files go through `torch.load(weights_only=True)`
    (memory-mapped too for the zip format), which only rebuilds tensors and plain containers.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file not found: {path}")
    if is_safetensors_file(path):
        return unwrap_state_dict(_read_safetensors(path), None)  # flat by format
    if path.stat().st_size == 0:
        raise CorruptCheckpointError(f"checkpoint {path} is empty")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as e:
        lines = [ln.strip() for ln in str(e).splitlines()]
        code = next((ln for ln in lines if "GLOBAL" in ln or "Unsupported global" in ln), None)
        if code is not None:  # the pickle names a Python callable: code, refused before anything ran
            raise UnsafeCheckpointError(
                f"refusing to load {path}: it holds pickled Python objects, not only tensors ({code}). "
                "Nothing in it was executed. visionzoo only loads safetensors or torch.load(weights_only=True) "
                "checkpoints; if you trust its origin, convert it to safetensors in a separate environment."
            ) from None
        reason = next((ln for ln in lines if "Unsupported" in ln), lines[0] if lines else "unreadable pickle")
        raise CorruptCheckpointError(
            f"checkpoint {path} is truncated, corrupt or not a weights-only checkpoint: {reason}"
        ) from None
    except Exception as e:  # noqa: BLE001 - torch raises RuntimeError, EOFError, KeyError, ... on bad bytes
        raise CorruptCheckpointError(f"checkpoint {path} is truncated or corrupt: {_first_line(e)}") from None
    return unwrap_state_dict(obj, state_dict_key)
