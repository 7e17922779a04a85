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
            raise CorruptCheckpointError(f"checkpoint has no entry {state_dict_key!r}; top-level keys: {keys}")
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
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def read_state_dict(path: str | Path, state_dict_key: str | None = None) -> dict[str, torch.Tensor]:
    """Read a checkpoint safely: never unpickles code. Raises CorruptCheckpointError / UnsafeCheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return unwrap_state_dict(load_file(str(path), device="cpu"), None)
        except Exception as e:  # safetensors raises its own SafetensorError and others
            raise CorruptCheckpointError(f"cannot read safetensors file {path}: {e}") from e
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as e:
        msg = str(e)
        if "Weights only load failed" in msg or "Unsupported global" in msg or "GLOBAL" in msg:
            raise UnsafeCheckpointError(
                f"refusing to load {path}: it contains pickled Python objects, not just tensors. visionzoo "
                "only loads tensors (torch.load(weights_only=True)); convert it to safetensors from a trusted "
                "environment if you trust its origin."
            ) from None
        raise CorruptCheckpointError(f"cannot read checkpoint {path}: {msg.splitlines()[0]}") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CorruptCheckpointError(f"checkpoint {path} is truncated or corrupt: {first}") from None
    return unwrap_state_dict(obj, state_dict_key)
