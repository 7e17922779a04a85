"""`save_pretrained`: write a model as `config.json` + `model.safetensors`, the folder layout timm uses on the Hub."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..utils.files import atomic_path, atomic_write
from ..utils.introspect import accepted_kwargs
from .cfg import PretrainedCfg
from .hub import CONFIG_FILE, SOURCE_FIELDS

WEIGHTS_FILE = "model.safetensors"

# pretrained_cfg keys timm's own PretrainedCfg accepts; anything else goes under the "visionzoo" key.
TIMM_CFG_FIELDS = frozenset(
    (
        "tag custom_load input_size test_input_size min_input_size fixed_input_size interpolation crop_pct "
        "test_crop_pct crop_mode mean std num_classes label_offset label_names label_descriptions pool_size "
        "test_pool_size first_conv classifier license description origin_url paper_name paper_ids notes"
    ).split()
)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _first_conv_in_chans(model: nn.Module, cfg: PretrainedCfg) -> int | None:
    names = (cfg.first_conv,) if isinstance(cfg.first_conv, str) else tuple(cfg.first_conv or ())
    params = dict(model.named_parameters())
    for name in names:
        weight = params.get(f"{name}.weight")
        if weight is not None and weight.ndim == 4:
            return int(weight.shape[1])  # [O, I, kh, kw]
    return None


def build_config(model: nn.Module, model_args: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `config.json` dict describing `model` and its current weights."""
    cfg = getattr(model, "pretrained_cfg", None)
    if not isinstance(cfg, PretrainedCfg):
        raise TypeError(
            f"save_pretrained needs a visionzoo model with a pretrained_cfg (made by create_model), got "
            f"{type(model).__name__}"
        )
    if not cfg.architecture:
        raise ValueError("the model's pretrained_cfg has no architecture name; set model.pretrained_cfg")
    num_classes = int(getattr(model, "num_classes", cfg.num_classes))
    args = dict(getattr(model, "model_args", None) or {})
    args.update(model_args or {})
    args["num_classes"] = num_classes
    in_chans = _first_conv_in_chans(model, cfg)
    accepted = accepted_kwargs(type(model))
    if in_chans is not None and (accepted is None or "in_chans" in accepted):
        args["in_chans"] = in_chans
    for key, value in args.items():
        try:
            json.dumps(_jsonable(value))
        except (TypeError, ValueError):
            raise ValueError(
                f"model argument {key}={value!r} cannot be written to JSON; pass model_args={{{key!r}: ...}} "
                "with a JSON value"
            ) from None

    fields = cfg.to_dict(drop_empty=True)
    extra = fields.pop("extra", {}) or {}
    for key in (*SOURCE_FIELDS, "architecture"):
        fields.pop(key, None)
    if num_classes != cfg.num_classes:  # a new head: the old labels no longer apply
        for key in ("label_names", "label_set"):
            fields.pop(key, None)
    fields["num_classes"] = num_classes
    if in_chans is not None:
        fields["input_size"] = (in_chans, *cfg.input_size[1:])
    label_names = fields.pop("label_names", None)

    pretrained_cfg = {k: v for k, v in fields.items() if k in TIMM_CFG_FIELDS}
    ours = {k: v for k, v in fields.items() if k not in TIMM_CFG_FIELDS}
    for key, value in extra.items():  # keys read from another config.json travel on
        (pretrained_cfg if key in TIMM_CFG_FIELDS else ours).setdefault(key, value)
    config: dict[str, Any] = {"architecture": cfg.architecture, "num_classes": num_classes}
    if getattr(model, "num_features", None) is not None:
        config["num_features"] = int(model.num_features)
    if label_names:
        config["label_names"] = list(label_names)
    config["model_args"] = args
    config["pretrained_cfg"] = pretrained_cfg
    if ours:
        config["visionzoo"] = ours
    return _jsonable(config)


def _contiguous_unshared(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors refuses tensors sharing memory (tied weights): give each its own copy."""
    out, seen = {}, set()
    for key, tensor in state_dict.items():
        tensor = tensor.detach()
        ptr = (tensor.untyped_storage().data_ptr(), tensor.device) if tensor.numel() else None
        out[key] = tensor.clone().contiguous() if ptr in seen else tensor.contiguous()
        if ptr is not None:
            seen.add(ptr)
    return out


def save_pretrained(model: nn.Module, save_directory: str | Path, *, model_args: dict | None = None) -> Path:
    """Save `model` to a folder that `create_model('local-dir:<folder>')` (and timm) can load.

    Writes `model.safetensors` (the state dict) and `config.json` (architecture, num_classes, model_args,
    pretrained_cfg, label_names), each atomically: a crash never leaves a half-written file. Returns the
    folder. `model_args` adds or replaces arguments needed to rebuild the model (e.g. `img_size`).
    """
    from safetensors.torch import save_file

    folder = Path(save_directory).expanduser()
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder} exists and is not a folder")
    config = build_config(model, model_args)
    tensors = _contiguous_unshared({k: v.to("cpu") for k, v in model.state_dict().items()})
    meta = [k for k, v in tensors.items() if v.is_meta]
    if meta:
        raise ValueError(f"model still has tensors on the meta device (no data to save): {meta[:5]}")
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / WEIGHTS_FILE) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt"})
    with atomic_write(folder / CONFIG_FILE, encoding="utf-8") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    return folder
