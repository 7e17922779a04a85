"""`model_info`: size, compute, preprocessing, feature maps and pretrained tags of a model."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ._common import is_model_spec, parse_input_size, resolve_cfg, size_kwargs

__all__ = ["model_info", "count_flops", "format_info"]


def count_flops(model: nn.Module, input_size: tuple[int, int, int], batch_size: int = 1) -> int:
    """FLOPs of one forward pass (torch's FlopCounterMode: convolutions, matmuls and attention).

    The input follows the model's device and dtype, so a model on the meta device is counted
    without computing anything.
    """
    from torch.utils.flop_counter import FlopCounterMode

    ref = next(iter(model.parameters()), None)
    device = ref.device if ref is not None else torch.device("cpu")
    dtype = ref.dtype if ref is not None and ref.is_floating_point() else torch.float32
    x = torch.zeros(batch_size, *input_size, device=device, dtype=dtype)  # [B, C, H, W]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def _flops_at(
    meta_model: nn.Module, model_name: str, input_size: tuple[int, int, int], kwargs: dict[str, Any]
) -> tuple[int, str]:
    """FLOPs counted on the meta-device build (fast, counts attention); falls back to a CPU build."""
    from ..factory import create_model

    try:
        return count_flops(meta_model, input_size), "meta"
    except Exception:  # some models mix CPU buffers into forward; count on real tensors instead
        cpu_model = create_model(model_name, **kwargs)
        try:
            return count_flops(cpu_model, input_size), "cpu"
        except Exception as e:
            size = "x".join(map(str, input_size))
            raise ValueError(f"{model_name} cannot run on a {size} input: {e}") from e


def _tag_rows(model_name: str) -> list[dict[str, Any]]:
    from ..registry import get_pretrained_tags

    rows = []
    for tag, cfg in get_pretrained_tags(model_name).items():
        rows.append(
            dict(
                name=cfg.name,
                tag=tag,
                has_weights=cfg.has_weights,
                license=cfg.license,
                label_set=cfg.label_set,
                num_classes=cfg.num_classes,
                top1=cfg.top1,
                input_size=list(cfg.input_size),
                hf_hub_id=cfg.hf_hub_id,
            )
        )
    return rows


def model_info(
    model_name: str,
    input_size: tuple[int, int, int] | None = None,
    count_compute: bool = True,
) -> dict[str, Any]:
    """Describe a registered model (or an 'hf-hub:' / 'local-dir:' one) without downloading weights.

    Returns a dict with the parameter count, GMACs/GFLOPs at `input_size` (default: the tag's input
    size), preprocessing, `feature_info` (channels and reduction per stage) and every pretrained tag
    with its licence, label set and published top-1 (None where unknown).
    """
    from ..factory import create_model
    from ..registry import get_arch_module

    arch, cfg = resolve_cfg(model_name)
    tag = cfg.tag
    full_name = model_name if is_model_spec(model_name) else (f"{arch}.{tag}" if tag else arch)
    size = parse_input_size(input_size) if input_size is not None else tuple(cfg.input_size)
    kwargs = size_kwargs(full_name, size)  # type: ignore[arg-type]

    with torch.device("meta"):  # structure only: parameters are counted, never filled
        model = create_model(full_name, **kwargs)
    num_params = sum(p.numel() for p in model.parameters())
    info: dict[str, Any] = dict(
        name=full_name,
        architecture=arch,
        tag=tag,
        module=get_arch_module(arch).rsplit(".", 1)[-1],
        params=num_params,
        params_m=round(num_params / 1e6, 3),
        num_classes=getattr(model, "num_classes", None),
        num_features=getattr(model, "num_features", None),
        input_size=list(size),
        preprocessing=dict(
            input_size=list(cfg.input_size),
            test_input_size=list(cfg.test_input_size) if cfg.test_input_size else None,
            fixed_input_size=cfg.fixed_input_size,
            interpolation=cfg.interpolation,
            crop_pct=cfg.crop_pct,
            crop_mode=cfg.crop_mode,
            mean=list(cfg.mean),
            std=list(cfg.std),
        ),
        feature_info=[
            dict(index=i, num_chs=f["num_chs"], reduction=f["reduction"], module=f["module"])
            for i, f in enumerate(getattr(model, "feature_info", None) or [])
        ],
        pretrained_tags=_tag_rows(arch),
    )
    if count_compute:
        flops, counted_on = _flops_at(model, full_name, size, kwargs)  # type: ignore[arg-type]
        info.update(
            flops=flops, macs=flops // 2, gflops=flops / 1e9, gmacs=flops / 2e9, flops_counted_on=counted_on
        )
    return info


def _fmt(v: Any) -> str:
    return "-" if v is None or v == "" else str(v)


def format_info(info: dict[str, Any]) -> str:
    """Human-readable text of a `model_info` dict."""
    pre = info["preprocessing"]
    lines = [
        f"model:        {info['name']}  (family module: {info['module']})",
        f"parameters:   {info['params']:,} ({info['params_m']:.2f} M)",
    ]
    if "gmacs" in info:
        c, h, w = info["input_size"]
        lines.append(f"compute:      {info['gmacs']:.4g} GMACs, {info['gflops']:.4g} GFLOPs at {c}x{h}x{w}")
    lines += [
        f"classes:      {_fmt(info['num_classes'])}   features: {_fmt(info['num_features'])}",
        "preprocessing:",
        f"  input size  {'x'.join(map(str, pre['input_size']))}"
        + (f" (test {'x'.join(map(str, pre['test_input_size']))})" if pre["test_input_size"] else "")
        + (" fixed" if pre["fixed_input_size"] else ""),
        f"  resize      {pre['interpolation']}, crop_pct {pre['crop_pct']}, crop {pre['crop_mode']}",
        f"  mean        {tuple(round(m, 4) for m in pre['mean'])}",
        f"  std         {tuple(round(s, 4) for s in pre['std'])}",
    ]
    if info["feature_info"]:
        lines.append("feature_info:")
        lines.append(f"  {'idx':>3}  {'channels':>8}  {'reduction':>9}  module")
        for f in info["feature_info"]:
            lines.append(f"  {f['index']:>3}  {f['num_chs']:>8}  {f['reduction']:>9}  {f['module']}")
    tags = info["pretrained_tags"]
    lines.append("pretrained tags:" if tags else "pretrained tags: (none)")
    if tags:
        width = max(len(t["tag"] or "(default)") for t in tags)
        lines.append(
            f"  {'tag':<{width}}  {'weights':<7}  {'licence':<14}  {'labels':<17}  {'top-1':>6}  input"
        )
        for t in tags:
            top1 = f"{t['top1']:.2f}" if t["top1"] is not None else "-"
            lines.append(
                f"  {t['tag'] or '(default)':<{width}}  {'yes' if t['has_weights'] else 'no':<7}  "
                f"{_fmt(t['license']):<14}  {_fmt(t['label_set']):<17}  {top1:>6}  "
                f"{'x'.join(map(str, t['input_size'][1:]))}"
            )
    return "\n".join(lines)
