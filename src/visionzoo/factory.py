"""`create_model`: resolve the name and cfg, build (on the meta device when weights follow), load, wrap."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import registry
from .utils.checks import check_bool, check_int, check_rate
from .utils.introspect import accepted_kwargs
from .weights.cfg import PretrainedCfg

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

__all__ = ["create_model", "resolve_pretrained_cfg", "FEATURE_CLASSES"]

# Upper bounds, checked before anything is allocated: far above any real model, far below a crash.
MAX_NUM_CLASSES = 10**7
MAX_IN_CHANS = 10**5

# timm's feature-extractor flavours. Every family here implements `forward_intermediates`, so one
# FeatureModel gives the maps each of them would (timm's 'getter' design); the names are accepted so
# code written for timm runs unchanged.
FEATURE_CLASSES = ("getter", "hook", "fx")


def _check_img_size(value: Any) -> None:
    sizes = (value,) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(sizes, (tuple, list)):
        raise TypeError(f"img_size must be an int or a (height, width) pair, got {type(value).__name__}")
    if len(sizes) not in (1, 2):
        raise ValueError(f"img_size must be an int or a (height, width) pair, got {value!r}")
    for s in sizes:
        check_int("img_size", s, 1)


def resolve_pretrained_cfg(
    model_name: str,
    pretrained_cfg: PretrainedCfg | dict | str | None = None,
    pretrained_cfg_overlay: dict | None = None,
    cache_dir: str | Path | None = None,
    warn: bool = True,
) -> tuple[str, PretrainedCfg, dict[str, Any]]:
    """What `create_model(model_name, ...)` would build, without building it.

    Returns (architecture, the pretrained cfg: registered, replaced, then overlaid, and the model
    arguments an 'hf-hub:' / 'local-dir:' config.json gives). `warn=False` silences alias warnings.
    """
    from .weights import sources

    model_args: dict[str, Any] = {}
    cfg: PretrainedCfg | None = None
    if sources.is_model_spec(model_name):
        arch, cfg, model_args = sources.load_model_config(model_name, cache_dir=cache_dir)
        tag = cfg.tag
    else:
        arch, tag = registry.resolve_model_name(model_name, warn=warn)
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
        if not isinstance(pretrained_cfg_overlay, dict):
            raise TypeError(
                f"pretrained_cfg_overlay must be a dict, got {type(pretrained_cfg_overlay).__name__}"
            )
        cfg = cfg.replace(**pretrained_cfg_overlay)
    return arch, cfg, model_args


def _check_sizes(args: dict[str, Any]) -> None:
    """num_classes and in_chans, wherever they came from (arguments, config.json, the cfg)."""
    if args.get("num_classes") is not None:
        check_int("num_classes", args["num_classes"], 0, MAX_NUM_CLASSES)
    if args.get("in_chans") is not None:
        check_int("in_chans", args["in_chans"], 1, MAX_IN_CHANS)


def _build_args(
    arch: str, cfg: PretrainedCfg, model_args: dict[str, Any], given: dict[str, Any], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """The builder's keyword arguments: config.json's, then the caller's; checked, defaults from the cfg."""
    _check_sizes(given)
    for name in ("drop_rate", "drop_path_rate"):
        if given.get(name) is not None:
            check_rate(name, given[name])
    if given.get("img_size") is not None:
        _check_img_size(given["img_size"])
    if given.get("global_pool") is not None and not isinstance(given["global_pool"], str):
        raise TypeError(f"global_pool must be a string, got {given['global_pool']!r}")
    build_args = {**model_args, **{k: v for k, v in given.items() if v is not None}, **kwargs}
    accepted = accepted_kwargs(registry.get_model_class(arch) or registry.model_entrypoint(arch))
    if accepted is not None:
        unknown = sorted(k for k in build_args if k not in accepted)
        if unknown:
            raise TypeError(
                f"{arch} does not take the keyword argument(s) {', '.join(unknown)}; "
                f"it takes: {', '.join(sorted(accepted))}"
            )
    if accepted is None or "num_classes" in accepted:
        build_args.setdefault("num_classes", cfg.num_classes)
    _check_sizes(build_args)
    return build_args


def _no_weights_error(arch: str, cfg: PretrainedCfg) -> Exception:
    """A tag without weights: say which tags of the architecture have them."""
    from .weights.errors import WeightsUnavailableError

    with_weights = [
        f"{arch}.{t}" for t, c in registry.get_pretrained_tags(arch).items() if t and c.has_weights
    ]
    hint = (
        f"tags with weights: {', '.join(with_weights)}"
        if with_weights
        else f"no tag of {arch!r} has published weights"
    )
    return WeightsUnavailableError(
        f"{cfg.name or arch} has no pretrained weights ({hint}). Use pretrained=False, or give a file: "
        "pretrained_cfg_overlay=dict(file='/path/to/weights.safetensors')"
    )


def _build_and_load(
    arch: str,
    cfg: PretrainedCfg,
    build_args: dict[str, Any],
    pretrained: bool,
    checkpoint_path: str | Path | None,
    cache_dir: str | Path | None,
    strict: bool,
) -> nn.Module:
    """Build the model (on the meta device when weights follow, so no random init is thrown away), then
    load the pretrained weights and the user's checkpoint."""
    from .weights import loading, sources

    weights_file = None
    if pretrained and checkpoint_path is None and not cfg.has_weights:
        raise _no_weights_error(arch, cfg)
    if pretrained and cfg.has_weights:
        weights_file = sources.resolve_checkpoint_file(cfg, cache_dir=cache_dir)
    on_meta = weights_file is not None or checkpoint_path is not None
    with loading.meta_init() if on_meta else contextlib.nullcontext():
        model = registry.model_entrypoint(arch)(**build_args)
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
    return model


def _wrap_features(
    model: nn.Module,
    features_only: bool,
    out_indices: int | Sequence[int] | None,
    output_fmt: str,
    feature_cls: str | None,
) -> nn.Module:
    if feature_cls is not None:
        if not isinstance(feature_cls, str):
            raise TypeError(f"feature_cls must be a str, got {type(feature_cls).__name__}")
        if feature_cls.lower() not in FEATURE_CLASSES:
            raise ValueError(f"feature_cls must be one of {', '.join(FEATURE_CLASSES)}; got {feature_cls!r}")
    if not features_only:
        if out_indices is not None:
            raise ValueError("out_indices is only meaningful with features_only=True")
        return model
    from .features import FeatureModel

    return FeatureModel(model, out_indices=out_indices, output_fmt=output_fmt)


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
    feature_cls: str | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    strict: bool = True,
    **kwargs: Any,
) -> nn.Module:
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
        feature_cls: timm's feature-extractor flavour ('getter', 'hook', 'fx'): all give the same FeatureModel.
        device, dtype: where and in what precision the model ends up.
        strict: refuse checkpoints with missing or unexpected keys.
        **kwargs: architecture-specific arguments; an unknown one raises a TypeError.
    """
    check_bool("pretrained", pretrained)
    check_bool("features_only", features_only)
    arch, cfg, model_args = resolve_pretrained_cfg(
        model_name, pretrained_cfg, pretrained_cfg_overlay, cache_dir
    )
    given = dict(
        num_classes=num_classes,
        in_chans=in_chans,
        global_pool=global_pool,
        drop_rate=drop_rate,
        drop_path_rate=drop_path_rate,
        img_size=img_size,
    )
    build_args = _build_args(arch, cfg, model_args, given, kwargs)
    model = _build_and_load(arch, cfg, build_args, pretrained, checkpoint_path, cache_dir, strict)
    model.pretrained_cfg = cfg.copy()  # each model owns its cfg: changing it changes no other model
    model.model_args = dict(build_args)  # what save_pretrained writes to config.json to rebuild it
    model = _wrap_features(model, features_only, out_indices, output_fmt, feature_cls)
    if device is not None or dtype is not None:
        model = model.to(device=device, dtype=dtype)
    return model
