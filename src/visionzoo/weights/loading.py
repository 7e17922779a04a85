"""Loading a state dict into a model: family filters, head and stem adaptation, meta-device assignment."""

from __future__ import annotations

import contextlib
import functools
import logging
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from .cfg import PretrainedCfg
from .errors import CheckpointMismatchError
from .serialization import check_finite, check_keys, read_state_dict

_logger = logging.getLogger(__name__)

StateDict = dict[str, torch.Tensor]


# In-place ops that change a tensor's shape or flags rather than its values: these must still run on meta.
_METADATA_INPLACE = frozenset(
    "resize_ resize_as_ set_ as_strided_ squeeze_ unsqueeze_ transpose_ t_ swapdims_ swapaxes_ "
    "requires_grad_ share_memory_ detach_ rename_".split()
)


@functools.cache
def _writes_values_only(func) -> bool:
    """True for torch.nn.init functions and in-place tensor ops that only overwrite values (normal_, clamp_, ...)."""
    if getattr(func, "__module__", None) == "torch.nn.init":
        return True
    name = getattr(func, "__name__", "")
    return name.endswith("_") and not name.startswith("_") and name not in _METADATA_INPLACE


class _SkipValueWritesOnMeta(TorchFunctionMode):
    """Turns initialisers and other in-place value writes on meta tensors into no-ops.

    A meta tensor has no values, yet torch routes many such ops (normal_, clamp_, ...) through Python
    reference kernels whose first use imports torch._dynamo, which takes seconds. Everything else runs unchanged.
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        target = args[0] if args else kwargs.get("tensor")  # nn.init passes the tensor by keyword
        if isinstance(target, torch.Tensor) and target.is_meta and _writes_values_only(func):
            return target
        return func(*args, **kwargs)


@contextlib.contextmanager
def meta_init() -> Iterator[None]:
    """Build modules on the meta device (no memory, no random init) for weights that are assigned afterwards."""
    with torch.device("meta"), _SkipValueWritesOnMeta():
        yield


def _as_tuple(names: str | tuple[str, ...] | None) -> tuple[str, ...]:
    if not names:
        return ()
    return (names,) if isinstance(names, str) else tuple(names)


def adapt_input_conv(weight: torch.Tensor, in_chans: int) -> torch.Tensor:
    """Adapt a first-conv weight [O, I, kh, kw] to `in_chans` input channels.

    One channel: the RGB filters are summed. N channels: the filters are repeated and rescaled so that
    the expected activation magnitude stays the same.
    """
    out_ch, in_ch = weight.shape[:2]
    if in_chans == in_ch:
        return weight
    dtype = weight.dtype
    w = weight.float()
    if in_chans == 1:
        if in_ch > 3:
            w = w.reshape(out_ch, in_ch // 3, 3, *w.shape[2:]).sum(dim=2)
        else:
            w = w.sum(dim=1, keepdim=True)
    else:
        repeat = math.ceil(in_chans / in_ch)
        w = w.repeat(1, repeat, 1, 1)[:, :in_chans]
        w = w * (in_ch / in_chans)
    return w.to(dtype)


def _other_class_count(ckpt: torch.Tensor, own: torch.Tensor | None) -> bool:
    """True when a classifier tensor differs from the model's only in its class count (or the model has none)."""
    if own is None:
        return True
    return ckpt.ndim == own.ndim and ckpt.shape[0] != own.shape[0] and ckpt.shape[1:] == own.shape[1:]


def adapt_state_dict(
    state_dict: StateDict, model: nn.Module, cfg: PretrainedCfg, keep_head: bool = False
) -> tuple[StateDict, tuple[str, ...]]:
    """Fit a checkpoint's stem and head to `model`; returns the new dict and the heads dropped.

    The first conv (`cfg.first_conv`) is adapted to the model's input channels; a classifier
    (`cfg.classifier`) whose size differs from the model's is dropped, to be freshly initialised.
    With `keep_head` (the user's own checkpoint) a classifier of another size is an error instead;
    it is only dropped when the model has no classifier (num_classes=0).
    """
    sd = dict(state_dict)
    own = model.state_dict(keep_vars=True)
    for name in _as_tuple(cfg.first_conv):
        key = f"{name}.weight"
        if key in sd and key in own and sd[key].ndim == 4 and sd[key].shape[1] != own[key].shape[1]:
            sd[key] = adapt_input_conv(sd[key], own[key].shape[1])
    dropped = []
    for name in _as_tuple(cfg.classifier):
        keys = [f"{name}.{s}" for s in ("weight", "bias") if f"{name}.{s}" in sd]
        if any(_other_class_count(sd[k], own.get(k)) for k in keys):
            if keep_head and all(k in own for k in keys):
                have, want = sd[keys[0]].shape[0], own[keys[0]].shape[0]
                raise CheckpointMismatchError(
                    f"the checkpoint's classifier {name!r} has {have} outputs but the model's has {want}: "
                    f"pass num_classes={have} to keep the trained classifier"
                )
            for k in keys:
                del sd[k]
            dropped.append(name)
    return sd, tuple(dropped)


def _mismatch_summary(model: nn.Module, state_dict: StateDict) -> tuple[list[str], list[str], list[str]]:
    own = model.state_dict(keep_vars=True)
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [  # in the model's order, so the first one listed is the earliest layer that differs
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}"
        for k, v in own.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    return missing, unexpected, shapes


def _fmt(items: list[str], n: int = 5) -> str:
    more = f" (+{len(items) - n} more)" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def _match_dtypes(model: nn.Module, state_dict: StateDict, source: str) -> StateDict:
    """Cast each tensor to the dtype of the parameter or buffer it replaces, so the model keeps its precision.

    An fp16 or fp64 checkpoint thus loads into an fp32 model as fp32. A float where an integer tensor is
    expected, or the reverse, is a CheckpointMismatchError naming the key.
    """
    own = model.state_dict(keep_vars=True)
    out = {}
    for k, v in state_dict.items():
        target = own.get(k)
        if target is not None and v.dtype != target.dtype:
            if v.is_floating_point() != target.is_floating_point() or v.is_complex() != target.is_complex():
                raise CheckpointMismatchError(
                    f"{source}: {k!r} is a {v.dtype} tensor but the model's is {target.dtype}; "
                    "is it a checkpoint for this model?"
                )
            v = v.to(target.dtype)
        out[k] = v
    return out


def load_state_dict_into(
    model: nn.Module,
    state_dict: StateDict,
    *,
    strict: bool = True,
    allow_missing: tuple[str, ...] = (),
    source: str = "checkpoint",
) -> None:
    """Load `state_dict` into `model` by assignment (works for models built on the meta device).

    Shape mismatches always raise a CheckpointMismatchError naming the first keys and shapes. Missing or
    unexpected keys raise when `strict`, except missing keys under the `allow_missing` prefixes (a head
    that was dropped on purpose); otherwise they are logged by name. Tensors are cast to the model's dtypes,
    and NaN or infinite weights raise a CorruptCheckpointError.
    """
    missing, unexpected, shapes = _mismatch_summary(model, state_dict)
    if shapes:
        raise CheckpointMismatchError(
            f"{source} does not fit {type(model).__name__}: {len(shapes)} shape mismatch(es): {_fmt(shapes, 3)}"
            + (f"; missing keys: {_fmt(missing)}" if missing else "")
            + (f"; unexpected keys: {_fmt(unexpected)}" if unexpected else "")
            + ". Is it a checkpoint for another architecture or variant?"
        )
    expected_missing = [k for k in missing if any(k.startswith(p + ".") for p in allow_missing)]
    missing = [k for k in missing if k not in expected_missing]
    if (missing or unexpected) and strict:
        raise CheckpointMismatchError(
            f"{source} does not match {type(model).__name__}: "
            + "; ".join(
                s
                for s in (
                    f"{len(missing)} missing key(s): {_fmt(missing)}" if missing else "",
                    f"{len(unexpected)} unexpected key(s): {_fmt(unexpected)}" if unexpected else "",
                )
                if s
            )
            + ". Pass strict=False to load what fits."
        )
    if missing or unexpected:
        _logger.warning(
            "%s: loaded with strict=False; missing %s; unexpected %s", source, _fmt(missing), _fmt(unexpected)
        )
    sd = _match_dtypes(model, {k: v for k, v in state_dict.items() if k not in unexpected}, source)
    check_finite(sd, source)
    model.load_state_dict(sd, strict=False, assign=True)
    materialize_meta(model)


def materialize_meta(model: nn.Module, device: str | torch.device = "cpu") -> list[str]:
    """Give every tensor still on the meta device real storage and a fresh init; returns their names.

    This happens to a head that was dropped to change `num_classes`, for instance.
    """
    done = []
    for mod_name, mod in model.named_modules():
        tensors = list(mod.named_parameters(recurse=False)) + list(mod.named_buffers(recurse=False))
        meta = [n for n, t in tensors if t is not None and t.is_meta]
        if not meta:
            continue
        mod.to_empty(device=device, recurse=False)
        if hasattr(mod, "reset_parameters"):
            mod.reset_parameters()
        elif hasattr(mod, "init_weights"):
            mod.init_weights()
        else:
            with torch.no_grad():
                for n, t in tensors:
                    if n in meta:
                        t.zero_()
        done += [f"{mod_name}.{n}" if mod_name else n for n in meta]
    return done


def load_checkpoint(
    model: nn.Module,
    checkpoint: str | Path | StateDict,
    *,
    cfg: PretrainedCfg | None = None,
    checkpoint_filter: Callable[[StateDict, nn.Module], StateDict] | None = None,
    strict: bool = True,
    keep_head: bool = False,
) -> None:
    """Load a checkpoint file (or an in-memory state dict) into `model`, adapting it as needed.

    `keep_head=True` (used for `checkpoint_path=`) refuses to drop a classifier of another size.
    """
    source = str(checkpoint) if not isinstance(checkpoint, dict) else "state dict"
    if isinstance(checkpoint, dict):
        check_keys(checkpoint, source)
        sd = dict(checkpoint)
    else:
        sd = read_state_dict(checkpoint, cfg.state_dict_key if cfg else None)
    if checkpoint_filter is not None:
        sd = checkpoint_filter(sd, model)
    allow_missing: tuple[str, ...] = ()
    if cfg is not None:
        sd, allow_missing = adapt_state_dict(sd, model, cfg, keep_head=keep_head)
    load_state_dict_into(model, sd, strict=strict, allow_missing=allow_missing, source=source)
