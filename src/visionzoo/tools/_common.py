"""Helpers shared by the tools: size parsing, model building at a given size, safe output paths."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from torch import nn

from ..utils.files import atomic_path
from ..weights.sources import is_model_spec


def parse_img_size(value: Any) -> tuple[int, int]:
    """'224', '224x160', '224,160', 224 or (224, 160) -> (height, width); anything else raises a ValueError."""
    sizes: list[int] = []
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+)\s*(?:[x,]\s*(\d+)\s*)?", value.lower())
        if m:
            sizes = [int(g) for g in m.groups() if g is not None]
    elif isinstance(value, int) and not isinstance(value, bool):
        sizes = [value]
    elif isinstance(value, (tuple, list)) and all(
        isinstance(p, int) and not isinstance(p, bool) for p in value
    ):
        sizes = list(value)
    if len(sizes) not in (1, 2) or any(s <= 0 for s in sizes):
        raise ValueError(f"image size must be a positive int or HxW (e.g. 224 or 224x160), got {value!r}")
    return (sizes[0], sizes[-1])


def parse_input_size(value: Any) -> tuple[int, int, int]:
    """(C, H, W) of positive ints, from a sequence of ints or strings; anything else raises a ValueError."""
    try:
        parts = list(value)
        sizes = [int(p) for p in parts]
        ok = len(sizes) == 3 and all(s > 0 for s in sizes) and all(str(p).strip().isdigit() for p in parts)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"input size must be three positive ints C H W (e.g. 3 224 224), got {value!r}")
    return (sizes[0], sizes[1], sizes[2])


def resolve_cfg(model_name: str) -> tuple[str, Any]:
    """(architecture, PretrainedCfg) of a name, resolved as create_model does (see resolve_pretrained_cfg)."""
    from ..factory import resolve_pretrained_cfg

    arch, cfg, _ = resolve_pretrained_cfg(model_name, warn=False)
    return arch, cfg


def accepts_kwarg(model_name: str, name: str) -> bool:
    """True when the model class (or builder) of `model_name` takes keyword `name`."""
    from .. import registry
    from ..utils.introspect import accepted_kwargs

    arch = resolve_cfg(model_name)[0] if is_model_spec(model_name) else model_name
    fn = registry.get_model_class(arch) or registry.model_entrypoint(arch)
    accepted = accepted_kwargs(fn)
    return accepted is None or name in accepted


def default_input_size(model_name: str) -> tuple[int, int, int]:
    """Input size (C, H, W) of the model's pretrained cfg (default tag when none is given)."""
    return tuple(resolve_cfg(model_name)[1].input_size)  # type: ignore[return-value]


def size_kwargs(model_name: str, input_size: tuple[int, int, int] | None) -> dict[str, Any]:
    """create_model kwargs that make a model take `input_size`: img_size / in_chans where they differ
    from the default and the model has them (a fixed-size model then fails at forward, with a clear message)."""
    if input_size is None:
        return {}
    c, h, w = input_size
    dc, dh, dw = default_input_size(model_name)
    out: dict[str, Any] = {}
    if (h, w) != (dh, dw) and accepts_kwarg(model_name, "img_size"):
        out["img_size"] = (h, w)
    if c != dc:
        if not accepts_kwarg(model_name, "in_chans"):
            raise ValueError(
                f"{model_name} does not take in_chans, so its input must have {dc} channels, not {c}"
            )
        out["in_chans"] = c
    return out


def tool_model(
    model: str | nn.Module,
    size: tuple[int, int] | tuple[int, int, int] | None = None,
    *,
    features_only: bool = False,
) -> tuple[str, nn.Module]:
    """The model a tool works on, and the name to show for it.

    A registered name is built with random weights (the feature extractor with `features_only`), for input
    `size`: (C, H, W), or (H, W) keeping the model's channels; None: its default size. A module is used as
    it is.
    """
    if isinstance(model, str):
        from ..factory import create_model

        if size is not None and len(size) == 2:
            size = (default_input_size(model)[0], *size)
        return model, create_model(model, features_only=features_only, **size_kwargs(model, size))
    if isinstance(model, nn.Module):
        if features_only:
            raise ValueError(
                "features_only only applies to a model name; wrap a built model in FeatureModel instead"
            )
        return type(model).__name__, model
    raise TypeError(f"model must be a model name or an nn.Module, got {type(model).__name__}")


def model_input_size(
    model: nn.Module, fallback: tuple[int, int, int] = (3, 224, 224)
) -> tuple[int, int, int]:
    """The input size a built model expects: its img_size when it has one, else its cfg's input_size."""
    cfg = getattr(model, "pretrained_cfg", None)
    c, h, w = tuple(cfg.input_size) if cfg is not None else fallback
    inner = getattr(model, "model", model)  # FeatureModel wraps the classifier
    pe = getattr(inner, "patch_embed", None)
    img_size = getattr(pe, "img_size", None)
    if isinstance(img_size, (tuple, list)) and len(img_size) == 2:
        h, w = int(img_size[0]), int(img_size[1])
    return (c, h, w)


def check_output_path(path: str | os.PathLike) -> Path:
    """Check that a file can be written at `path` (before doing slow work): raises a clear error if not."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise IsADirectoryError(f"output path {str(p)!r} is a directory; give a file name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.exists():
        raise FileNotFoundError(f"output directory {str(parent)!r} does not exist")
    if not parent.is_dir():
        raise NotADirectoryError(f"output path {str(p)!r}: {str(parent)!r} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write to output directory {str(parent)!r}: permission denied")
    if p.exists() and not os.access(p, os.W_OK):
        raise PermissionError(f"cannot overwrite {str(p)!r}: permission denied")
    return p


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to a checked output `path`; on success it replaces `path` atomically.

    The temporary name ends with `suffix` (default: that of `path`), for writers that check it."""
    p = check_output_path(path)
    with atomic_path(p, suffix=p.suffix if suffix is None else suffix) as tmp:
        yield tmp
