"""`create_model`: resolve the name and cfg, build (on the meta device when weights follow), load, wrap."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import registry
from .weights.cfg import PretrainedCfg

__all__ = ["create_model"]

_HUB_PREFIX = "hf-hub:"
_LOCAL_PREFIX = "local-dir:"


# Upper bounds, checked before anything is allocated: far above any real model, far below a crash.
MAX_NUM_CLASSES = 10**7
MAX_IN_CHANS = 10**5


def _check_int(name: str, value: Any, minimum: int, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" + (f" and <= {maximum:,}" if maximum is not None else "")
        raise ValueError(f"{name} must be {bound}, got {value}")


def _check_rate(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float, got {type(value).__name__} {value!r}")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")


def _check_img_size(value: Any) -> None:
    sizes = (value,) if isinstance(value, int) and not isinstance(value, bool) else value
    if (
        not isinstance(sizes, (tuple, list))
        or len(sizes) not in (1, 2)
        or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes)
    ):
        raise ValueError(f"img_size must be a positive int or a (height, width) pair, got {value!r}")


def _accepted_kwargs(fn: Any) -> set[str] | None:
    """Keyword names `fn` accepts, or None when it takes **kwargs (anything goes)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def create_model(
    model_name: str,
    pretrained: bool = False,
    *,
    pretrained_cfg: PretrainedCfg | dict | str | None = None,
    pretrained_cfg_overlay: dict | None = None,
    checkpoint_path: str | Path | None = None,
    cache_dir: str | Path | None = None,
    num_classes: int | None = None,
    in_chans: int | None = None,
    global_pool: str | None = None,
    drop_rate: float | None = None,
    drop_path_rate: float | None = None,
    img_size: int | tuple[int, int] | None = None,
    features_only: bool = False,
    out_indices: int | Sequence[int] | None = None,
    output_fmt: str = "NCHW",
    device: Any = None,
    dtype: Any = None,
    strict: bool = True,
    **kwargs: Any,
):
    """Build a registered model by name, optionally with pretrained weights.

    Args:
        model_name: 'arch', 'arch.tag', a deprecated alias, 'hf-hub:org/repo' or 'local-dir:/path'.
        pretrained: load the weights of the tag (the default tag when none is given).
        pretrained_cfg: a PretrainedCfg (or dict, or tag name) to use instead of the registered one.
        pretrained_cfg_overlay: fields to change in the cfg, e.g. dict(file='/path/to/weights.safetensors').
        checkpoint_path: a checkpoint of the user's own, loaded after (or instead of) the pretrained weights.
        cache_dir: where downloaded weights are cached (default: the Hugging Face / torch hub caches).
        num_classes: classifier size; 0 removes the classifier, so forward returns pooled features.
        in_chans: input channels; pretrained stems are adapted.
        global_pool: pooling type, as the family supports ('avg', 'max', 'token', ...).
        drop_rate, drop_path_rate: classifier dropout and stochastic depth rates.
        img_size: input size, for models whose shape depends on it (ViT, Swin).
        features_only, out_indices, output_fmt: return a FeatureModel giving feature maps.
        device, dtype: where and in what precision the model ends up.
        strict: refuse checkpoints with missing or unexpected keys.
        **kwargs: architecture-specific arguments; an unknown one raises a TypeError.
    """

    from .weights import loading, sources

    if not isinstance(pretrained, bool):
        raise TypeError(f"pretrained must be True or False, got {pretrained!r}")
    model_args: dict[str, Any] = {}
    cfg: PretrainedCfg | None = None
    if isinstance(model_name, str) and model_name.startswith((_HUB_PREFIX, _LOCAL_PREFIX)):
        arch, cfg, model_args = sources.load_model_config(model_name, cache_dir=cache_dir)
        tag = cfg.tag
    else:
        arch, tag = registry.resolve_model_name(model_name)
    builder = registry.model_entrypoint(arch)
    model_cls = registry.get_model_class(arch)

    # The pretrained cfg: registered, replaced, then overlaid.
    if isinstance(pretrained_cfg, str):
        cfg = registry.get_pretrained_cfg(f"{arch}.{pretrained_cfg}")
    elif isinstance(pretrained_cfg, dict):
        cfg = PretrainedCfg.from_dict({"architecture": arch, "tag": tag, **pretrained_cfg})
    elif isinstance(pretrained_cfg, PretrainedCfg):
        cfg = pretrained_cfg
    elif pretrained_cfg is not None:
        raise TypeError(
            f"pretrained_cfg must be a PretrainedCfg, dict or tag, got {type(pretrained_cfg).__name__}"
        )
    if cfg is None:
        cfg = registry.get_pretrained_cfg(f"{arch}.{tag}" if tag else arch)
    if pretrained_cfg_overlay:
        cfg = cfg.replace(**pretrained_cfg_overlay)

    # Arguments: validate, then fill defaults from the cfg.
    if num_classes is not None:
        _check_int("num_classes", num_classes, 0, MAX_NUM_CLASSES)
    if in_chans is not None:
        _check_int("in_chans", in_chans, 1, MAX_IN_CHANS)
    if drop_rate is not None:
        _check_rate("drop_rate", drop_rate)
    if drop_path_rate is not None:
        _check_rate("drop_path_rate", drop_path_rate)
    if img_size is not None:
        _check_img_size(img_size)
    if global_pool is not None and not isinstance(global_pool, str):
        raise TypeError(f"global_pool must be a string, got {global_pool!r}")
    given = dict(
        num_classes=num_classes,
        in_chans=in_chans,
        global_pool=global_pool,
        drop_rate=drop_rate,
        drop_path_rate=drop_path_rate,
        img_size=img_size,
    )
    build_args = {**model_args, **{k: v for k, v in given.items() if v is not None}, **kwargs}
    accepted = _accepted_kwargs(model_cls or builder)
    if accepted is not None:
        unknown = sorted(k for k in build_args if k not in accepted)
        if unknown:
            raise TypeError(
                f"{arch} does not take the keyword argument(s) {', '.join(unknown)}; "
                f"it takes: {', '.join(sorted(accepted))}"
            )
    if accepted is None or "num_classes" in accepted:
        build_args.setdefault("num_classes", cfg.num_classes)
    # Values may also come from a model folder's config.json or the cfg: check what the builder gets.
    if build_args.get("num_classes") is not None:
        _check_int("num_classes", build_args["num_classes"], 0, MAX_NUM_CLASSES)
    if build_args.get("in_chans") is not None:
        _check_int("in_chans", build_args["in_chans"], 1, MAX_IN_CHANS)

    load_weights = pretrained and (cfg.has_weights or checkpoint_path is None)
    weights_file = None
    if load_weights:
        weights_file = sources.resolve_checkpoint_file(cfg, cache_dir=cache_dir)
    on_meta = weights_file is not None or checkpoint_path is not None
    with loading.meta_init() if on_meta else contextlib.nullcontext():
        model = builder(**build_args)
    checkpoint_filter = registry.get_checkpoint_filter(arch)
    if weights_file is not None:
        loading.load_checkpoint(
            model, weights_file, cfg=cfg, checkpoint_filter=checkpoint_filter, strict=strict
        )
    if checkpoint_path is not None:
        loading.load_checkpoint(
            model,
            checkpoint_path,
            cfg=cfg,
            checkpoint_filter=checkpoint_filter,
            strict=strict,
            keep_head=True,
        )
    model.pretrained_cfg = cfg.copy()  # each model owns its cfg: changing it changes no other model
    model.model_args = dict(build_args)  # what save_pretrained writes to config.json to rebuild it
    if features_only:
        from .features import FeatureModel

        model = FeatureModel(model, out_indices=out_indices, output_fmt=output_fmt)
    elif out_indices is not None:
        raise ValueError("out_indices is only meaningful with features_only=True")
    if device is not None or dtype is not None:
        model = model.to(device=device, dtype=dtype)
    return model
