"""The preprocessing a model's weights expect: input size, interpolation, mean/std, crop."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping
from typing import Any

from ..weights.cfg import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

__all__ = ["resolve_data_config", "resolve_model_data_config", "DEFAULT_CROP_PCT", "CROP_MODES"]

DEFAULT_CROP_PCT = 0.875
DEFAULT_INTERPOLATION = "bicubic"
CROP_MODES = ("center", "squash", "border")


def _as_mapping(obj: Any, what: str) -> dict[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, argparse.Namespace):
        return vars(obj)
    if isinstance(obj, Mapping):
        return dict(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    raise TypeError(f"{what} must be a dict, argparse.Namespace or PretrainedCfg, got {type(obj).__name__}")


def _per_channel(name: str, value: Any, in_chans: int) -> tuple[float, ...]:
    vals = (value,) if isinstance(value, (int, float)) else tuple(value)
    if len(vals) == 1:
        vals = vals * in_chans
    if len(vals) != in_chans:
        raise ValueError(f"{name} has {len(vals)} values for {in_chans} input channels")
    return tuple(float(v) for v in vals)


def resolve_data_config(
    args: Mapping[str, Any] | argparse.Namespace | None = None,
    model: Any = None,
    pretrained_cfg: Any = None,
    use_test_size: bool = False,
) -> dict[str, Any]:
    """Preprocessing settings: the pretrained cfg's values, overridden by any given in `args`.

    Args:
        args: overrides, e.g. from the command line: input_size (C, H, W), img_size (int),
            in_chans, interpolation, mean, std (one value or one per channel), crop_pct, crop_mode.
        model: a model whose `pretrained_cfg` is used when `pretrained_cfg` is not given.
        pretrained_cfg: a PretrainedCfg or dict.
        use_test_size: prefer the cfg's test_input_size / test_crop_pct where it has them.

    Returns:
        dict(input_size=(C, H, W), interpolation=str, mean=tuple, std=tuple, crop_pct=float, crop_mode=str)
    """
    if args is None and model is None and pretrained_cfg is None:
        raise ValueError("resolve_data_config needs at least one of args, model or pretrained_cfg")
    a = {k: v for k, v in _as_mapping(args, "args").items() if v is not None}
    if pretrained_cfg is None and model is not None:
        pretrained_cfg = getattr(model, "pretrained_cfg", None)
    cfg = _as_mapping(pretrained_cfg, "pretrained_cfg")

    in_chans = int(a.get("in_chans", a.get("chans", 3)))
    if "input_size" in a:
        size = tuple(a["input_size"])
        if len(size) != 3:
            raise ValueError(f"input_size must be (channels, height, width), got {a['input_size']!r}")
        input_size = tuple(int(s) for s in size)
        in_chans = input_size[0]
    elif "img_size" in a:
        s = a["img_size"]
        h, w = (s, s) if isinstance(s, int) else tuple(s)
        input_size = (in_chans, int(h), int(w))
    elif use_test_size and cfg.get("test_input_size"):
        input_size = tuple(cfg["test_input_size"])
    elif cfg.get("input_size"):
        input_size = tuple(cfg["input_size"])
    else:
        input_size = (in_chans, 224, 224)

    interpolation = a.get("interpolation") or cfg.get("interpolation") or DEFAULT_INTERPOLATION
    mean = (
        _per_channel("mean", a["mean"], in_chans)
        if "mean" in a
        else tuple(cfg.get("mean") or IMAGENET_DEFAULT_MEAN)
    )
    std = (
        _per_channel("std", a["std"], in_chans)
        if "std" in a
        else tuple(cfg.get("std") or IMAGENET_DEFAULT_STD)
    )

    if a.get("crop_pct"):
        crop_pct = float(a["crop_pct"])
    elif use_test_size and cfg.get("test_crop_pct"):
        crop_pct = cfg["test_crop_pct"]
    else:
        crop_pct = cfg.get("crop_pct") or DEFAULT_CROP_PCT
    if not crop_pct > 0:
        raise ValueError(f"crop_pct must be > 0, got {crop_pct}")

    crop_mode = a.get("crop_mode") or cfg.get("crop_mode") or "center"
    if crop_mode not in CROP_MODES:
        raise ValueError(f"unknown crop_mode {crop_mode!r}; choose one of {', '.join(CROP_MODES)}")
    return dict(
        input_size=input_size,
        interpolation=interpolation,
        mean=mean,
        std=std,
        crop_pct=crop_pct,
        crop_mode=crop_mode,
    )


def resolve_model_data_config(
    model: Any, args: Mapping[str, Any] | None = None, use_test_size: bool = False
) -> dict[str, Any]:
    """`resolve_data_config` for a model (its `pretrained_cfg`, overridden by `args`)."""
    if getattr(model, "pretrained_cfg", None) is None and not args:
        raise ValueError(f"{type(model).__name__} has no pretrained_cfg to take preprocessing settings from")
    return resolve_data_config(args=args, model=model, use_test_size=use_test_size)
