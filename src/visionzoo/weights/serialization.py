"""Safe reading of checkpoint files into memory the caller owns: safetensors or `torch.load(weights_only=True)`.

Nothing is left memory-mapped: a loaded model must survive its file being overwritten or truncated (a
mapped parameter would change with the file, or kill the process with SIGBUS). Each tensor is read once
into its own buffer, so reading costs about one checkpoint's worth of memory, no more.
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import pickletools
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch

from .errors import CorruptCheckpointError, UnsafeCheckpointError

# Keys under which training scripts nest the weights, most preferred first.
NESTED_KEYS = ("state_dict_ema", "model_ema", "state_dict", "model", "module", "params")
MAX_NESTING = 8  # wrappers unwrapped at most; real checkpoints nest two or three deep

_SAFETENSORS_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U64": torch.uint64,
    "U32": torch.uint32,
    "U16": torch.uint16,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
_MAX_SAFETENSORS_HEADER = 100_000_000  # bytes; the safetensors library's own limit


def _is_tensor_dict(obj) -> bool:
    return isinstance(obj, Mapping) and obj and all(isinstance(v, torch.Tensor) for v in obj.values())


def unwrap_state_dict(
    obj, state_dict_key: str | None = None, source: str | Path = "checkpoint"
) -> dict[str, torch.Tensor]:
    """Find the tensor dict inside a nested checkpoint and strip DDP's `module.` prefix.

    `source` (the file) is named in every error. Keys must be strings.
    """
    if state_dict_key is not None:
        if not isinstance(obj, Mapping) or state_dict_key not in obj:
            keys = list(obj)[:10] if isinstance(obj, Mapping) else type(obj).__name__
            raise CorruptCheckpointError(
                f"checkpoint {source} has no entry {state_dict_key!r}; top-level keys: {keys}"
            )
        obj = obj[state_dict_key]
    depth = 0
    while not _is_tensor_dict(obj):
        if not isinstance(obj, Mapping):
            raise CorruptCheckpointError(
                f"checkpoint {source} holds a {type(obj).__name__}, not a dict of tensors"
            )
        nested = next((k for k in NESTED_KEYS if isinstance(obj.get(k), Mapping) and obj.get(k)), None)
        if nested is None:
            raise CorruptCheckpointError(
                f"no dict of tensors found in checkpoint {source}; top-level keys: {list(obj)[:10]}"
            )
        depth += 1
        if depth > MAX_NESTING:
            raise CorruptCheckpointError(
                f"checkpoint {source} nests {'/'.join(NESTED_KEYS[:4])}... entries more than {MAX_NESTING} "
                "deep without reaching a dict of tensors (it may refer to itself)"
            )
        obj = obj[nested]
    check_keys(obj, source)
    sd = dict(obj)
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module.") :]: v for k, v in sd.items()}
    return sd


def check_keys(state_dict: Mapping, source: str | Path = "checkpoint") -> None:
    """Raise a CorruptCheckpointError naming `source` and the key if any key is not a string."""
    bad = next((k for k in state_dict if not isinstance(k, str)), None)
    if bad is not None:
        raise CorruptCheckpointError(
            f"checkpoint {source} has a key that is not a string: {bad!r} ({type(bad).__name__}); "
            "weights are named by strings such as 'conv1.weight'"
        )


def _is_finite(t: torch.Tensor) -> bool:
    """True if `t` holds no NaN or inf. A sum is finite only then, and is ~15x cheaper than isfinite().all()
    (no bool tensor to allocate); a non-finite sum (which overflow could cause) is confirmed element-wise."""
    if not (t.is_floating_point() or t.is_complex()) or not t.numel():
        return True
    return bool(torch.isfinite(t.sum())) or bool(torch.isfinite(t).all())


def check_finite(state_dict: Mapping[str, torch.Tensor], source: str | Path = "checkpoint") -> None:
    """Raise a CorruptCheckpointError naming `source` and the first keys whose tensors hold NaN or inf."""
    bad = [k for k, t in state_dict.items() if not _is_finite(t)]
    if bad:
        more = f" (+{len(bad) - 5} more)" if len(bad) > 5 else ""
        raise CorruptCheckpointError(
            f"checkpoint {source} holds NaN or infinite values in {len(bad)} tensor(s): "
            f"{', '.join(bad[:5])}{more}; the weights are damaged (a diverged training run?)"
        )


def check_readable(path: str | Path) -> Path:
    """Return `path` if it is a regular file this process can read; else a one-line OSError saying why."""
    path = Path(path)
    try:
        exists, is_dir, is_file = path.exists(), path.is_dir(), path.is_file()
    except OSError as e:  # a parent folder that may not be entered, a name too long, ...
        raise _unreadable(path, e) from None
    if not exists:
        raise FileNotFoundError(f"checkpoint file not found: {path}")
    if is_dir:
        raise IsADirectoryError(f"checkpoint {path} is a directory, not a file")
    if not is_file:  # a FIFO, socket or device: opening it could block
        raise FileNotFoundError(f"checkpoint {path} is not a regular file")
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise _unreadable(path, e) from None
    return path


def _unreadable(path: Path, e: OSError) -> OSError:
    """The same kind of OSError as `e` (PermissionError, ...), with a one-line message naming `path`."""
    cls = PermissionError if isinstance(e, PermissionError) else OSError
    return cls(f"checkpoint file {path} cannot be read: {e.strerror or e}")


def is_safetensors_file(path: str | Path) -> bool:
    """True for a `.safetensors` name, or a file that starts like one (8-byte header length, then '{')."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return True
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{" and 0 < int.from_bytes(head[:8], "little") < (1 << 30)


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Read every tensor of a safetensors file into its own (owned, not mapped) buffer."""

    def corrupt(why: str) -> CorruptCheckpointError:
        return CorruptCheckpointError(f"safetensors file {path} is truncated or corrupt: {why}")

    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(8)
        if len(head) < 8:
            raise corrupt(f"{size} bytes, shorter than the 8-byte header length")
        n = int.from_bytes(head, "little")
        if n > min(size - 8, _MAX_SAFETENSORS_HEADER):
            raise corrupt(f"header length {n} does not fit in the file's {size} bytes")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise corrupt(f"header is not valid JSON ({e})") from None
        if not isinstance(header, dict):
            raise corrupt(f"header is a JSON {type(header).__name__}, not an object")
        header.pop("__metadata__", None)
        data_start, data_size = 8 + n, size - 8 - n
        entries = []
        for name, info in header.items():
            try:
                dtype = _SAFETENSORS_DTYPES[info["dtype"]]
                shape = [int(s) for s in info["shape"]]
                begin, end = (int(o) for o in info["data_offsets"])
            except (KeyError, TypeError, ValueError):
                raise corrupt(f"entry {name!r} is malformed: {str(info)[:200]}") from None
            nbytes = math.prod(shape) * dtype.itemsize  # Python ints: a hostile shape cannot overflow
            if min(shape, default=0) < 0 or not 0 <= begin <= end <= data_size or end - begin != nbytes:
                raise corrupt(
                    f"tensor {name!r} ({info['dtype']} {shape}) at bytes {begin}..{end} does not fit "
                    f"the {data_size} data bytes"
                )
            entries.append((begin, name, dtype, shape, nbytes))
        sd = {}
        for begin, name, dtype, shape, nbytes in sorted(entries, key=lambda e: e[0]):  # sequential reads
            t = torch.empty(shape, dtype=dtype)
            if nbytes:
                f.seek(data_start + begin)
                got = f.readinto(t.reshape(-1).view(torch.uint8).numpy())
                if got != nbytes:
                    raise corrupt(f"tensor {name!r} ends after {got} of its {nbytes} bytes")
            sd[name] = t
    return {name: sd[name] for name in header}  # the file's order


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


_MAX_PICKLE_SCAN = 64 << 20  # bytes of pickle scanned for code; the object pickle comes first and is small


def _pickles_in(path: Path) -> Iterator[bytes]:
    """The pickle streams of a checkpoint (their first 64 MiB): `data.pkl` inside a zip, else the file."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.filename.endswith("data.pkl"):
                    with zf.open(info) as f:
                        yield f.read(_MAX_PICKLE_SCAN)
    else:
        with open(path, "rb") as f:
            yield f.read(_MAX_PICKLE_SCAN)


def _pickled_globals(data: bytes) -> list[str]:
    """Every 'module.name' callable a pickle stream refers to, found without unpickling anything.

    Scans the opcodes of each pickle in turn (a legacy torch file holds several, then raw tensor bytes)
    and tracks the strings pushed, memoised and fetched, since STACK_GLOBAL (protocol 4+) takes its module
    and name from the stack.
    """
    found: list[str] = []
    stream = io.BytesIO(data)
    while stream.tell() < len(data):
        strings: list[str | None] = []  # the last values pushed, None for a non-string
        memo: dict[int, str | None] = {}
        try:
            for op, arg, _ in pickletools.genops(stream):
                if op.name == "GLOBAL" or op.name == "INST":
                    found.append(str(arg).replace(" ", "."))
                elif op.name == "STACK_GLOBAL":
                    found.append(
                        f"{strings[-2] if len(strings) > 1 else '?'}.{strings[-1] if strings else '?'}"
                    )
                elif op.name in ("MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"):
                    memo[len(memo) if op.name == "MEMOIZE" else int(arg)] = strings[-1] if strings else None
                elif op.name in ("GET", "BINGET", "LONG_BINGET"):
                    strings.append(memo.get(int(arg)))
                elif op.name in ("FRAME", "PROTO"):
                    pass
                else:
                    strings.append(arg if isinstance(arg, str) else None)
                del strings[:-2]
        except Exception:  # noqa: BLE001 - past the last pickle: raw bytes, or a damaged stream
            break
    return found


def _allowed_globals() -> set[str]:
    """Names that `torch.load(weights_only=True)` rebuilds (tensors, storages, OrderedDict, ...)."""
    try:
        from torch._weights_only_unpickler import _get_allowed_globals

        names = set(_get_allowed_globals())
    except Exception:  # noqa: BLE001 - a private helper; without it, trust torch's own namespace
        names = set()
    names |= {
        f"{g.__module__}.{g.__qualname__}"
        for g in torch.serialization.get_safe_globals()
        if hasattr(g, "__qualname__")
    }
    return names


def _code_in_pickle(path: Path) -> str | None:
    """The first callable outside torch's weights-only allow-list that the checkpoint's pickles name."""
    allowed = _allowed_globals()
    for data in _pickles_in(path):
        for name in _pickled_globals(data):
            if name not in allowed and not (not allowed and name.startswith("torch.")):
                return name
    return None


def _unsafe(path: Path, what: str) -> UnsafeCheckpointError:
    return UnsafeCheckpointError(
        f"refusing to load {path}: it holds pickled Python objects, not only tensors ({what}). "
        "Nothing in it was executed. visionzoo only loads safetensors or torch.load(weights_only=True) "
        "checkpoints; if you trust its origin, convert it to safetensors in a separate environment."
    )


def read_state_dict(path: str | Path, state_dict_key: str | None = None) -> dict[str, torch.Tensor]:
    """Read a checkpoint safely into owned memory: never unpickles code, never leaves the file mapped.

    Raises FileNotFoundError / IsADirectoryError / PermissionError for a path that cannot be read, and
    CorruptCheckpointError / UnsafeCheckpointError (naming the file) for bad contents.
    """
    path = check_readable(path)
    if is_safetensors_file(path):
        return unwrap_state_dict(_read_safetensors(path), None, path)  # flat by format
    if path.stat().st_size == 0:
        raise CorruptCheckpointError(f"checkpoint {path} is empty")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=False)
    except pickle.UnpicklingError as e:
        lines = [ln.strip() for ln in str(e).splitlines()]
        code = next((ln for ln in lines if "GLOBAL" in ln or "Unsupported global" in ln), None)
        if code is None:  # torch stopped earlier (protocol 4+ framing, ...): look for code ourselves
            name = _code_in_pickle(path)
            code = f"a reference to {name}" if name else None
        if code is not None:  # the pickle names a Python callable: code, refused before anything ran
            raise _unsafe(path, code) from None
        reason = next((ln for ln in lines if "Unsupported" in ln), lines[0] if lines else "unreadable pickle")
        if reason == f"Unsupported operand {pickle.FRAME[0]}":
            reason = "it uses pickle protocol 4 or 5, which torch.load(weights_only=True) cannot read"
        raise CorruptCheckpointError(
            f"checkpoint {path} is truncated, corrupt or not a weights-only checkpoint: {reason}"
        ) from None
    except Exception as e:  # noqa: BLE001 - torch raises RuntimeError, EOFError, KeyError, ... on bad bytes
        raise CorruptCheckpointError(f"checkpoint {path} is truncated or corrupt: {_first_line(e)}") from None
    return unwrap_state_dict(obj, state_dict_key, path)
