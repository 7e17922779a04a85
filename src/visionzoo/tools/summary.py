"""`model_summary`: a layer table with output shapes and parameter counts, from forward hooks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..utils.checks import check_bool, check_int
from ._common import model_input_size, parse_input_size, tool_model

__all__ = ["model_summary", "ModelSummary", "LayerRow"]


@dataclass
class LayerRow:
    """One module call seen during the forward pass."""

    name: str
    type: str
    depth: int
    output_shape: Any  # list of ints, or a list of such lists for several outputs
    params: int
    trainable: int
    calls: int = 1


@dataclass
class ModelSummary:
    """What `model_summary` returns; `str()` gives the table, `to_dict()` a JSON-ready dict."""

    model_name: str
    input_size: tuple[int, ...]
    dtype: str
    device: str
    rows: list[LayerRow] = field(default_factory=list)
    total_params: int = 0
    trainable_params: int = 0
    output_shape: Any = None

    def to_dict(self) -> dict[str, Any]:
        return dict(
            model=self.model_name,
            input_size=list(self.input_size),
            dtype=self.dtype,
            device=self.device,
            total_params=self.total_params,
            trainable_params=self.trainable_params,
            output_shape=self.output_shape,
            layers=[vars(r) for r in self.rows],
        )

    def __str__(self) -> str:
        def shape_text(s: Any) -> str:
            if s and isinstance(s[0], list):
                return ", ".join(shape_text(x) for x in s)
            return "[" + ", ".join(map(str, s)) + "]" if s is not None else "-"

        names = [("  " * (r.depth - 1)) + r.name + f" ({r.type})" for r in self.rows]
        shapes = [shape_text(r.output_shape) for r in self.rows]
        w_name = max([len("layer (type)"), *map(len, names)])
        w_shape = max([len("output shape"), *map(len, shapes)])
        header = f"{'layer (type)':<{w_name}}  {'output shape':<{w_shape}}  {'params':>12}"
        rule = "=" * len(header)
        lines = [
            f"{self.model_name}: input {list(self.input_size)} {self.dtype} on {self.device}",
            rule,
            header,
            rule,
        ]
        for n, s, r in zip(names, shapes, self.rows):
            calls = f"  x{r.calls}" if r.calls > 1 else ""
            lines.append(f"{n:<{w_name}}  {s:<{w_shape}}  {r.params:>12,}{calls}")
        lines += [
            rule,
            f"total params:      {self.total_params:,}",
            f"trainable params:  {self.trainable_params:,}",
            f"output shape:      {shape_text(self.output_shape)}",
        ]
        return "\n".join(lines)


def _shapes(out: Any) -> Any:
    if isinstance(out, torch.Tensor):
        return list(out.shape)
    if isinstance(out, (list, tuple)):
        shapes = [_shapes(o) for o in out]
        return [s for s in shapes if s is not None] or None
    if isinstance(out, dict):
        return _shapes(list(out.values()))
    return None


def _device_and_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """Where the model's weights live and their floating dtype, so the example input matches them."""
    ref = next(iter(model.parameters()), None)
    if ref is None:
        ref = next(iter(model.buffers()), None)
    run_device = ref.device if ref is not None else torch.device("cpu")
    run_dtype = ref.dtype if ref is not None and ref.is_floating_point() else torch.float32
    return run_device, run_dtype


def _record_layers(model: nn.Module, x: torch.Tensor, depth: int, name: str) -> tuple[list[LayerRow], Any]:
    """Run `model(x)` once with a forward hook on each module up to `depth`; the rows, parents first."""
    from ..features import FeatureModel

    rows: dict[str, LayerRow] = {}
    order: list[str] = []

    def hook_for(mod_name: str, module: nn.Module, level: int):
        params = sum(p.numel() for p in module.parameters())
        trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)

        def hook(_mod: nn.Module, _inp: Any, out: Any) -> None:
            if mod_name in rows:
                rows[mod_name].calls += 1
                return
            rows[mod_name] = LayerRow(mod_name, type(module).__name__, level, _shapes(out), params, trainable)
            order.append(mod_name)

        return hook

    # a features_only wrapper calls its inner model's methods, not the inner model: count depth below it
    root, prefix = (model.model, "model.") if isinstance(model, FeatureModel) else (model, "")
    handles = []
    for sub_name, module in root.named_modules():
        level = sub_name.count(".") + 1 if sub_name else 0
        if 1 <= level <= depth:
            handles.append(module.register_forward_hook(hook_for(prefix + sub_name, module, level)))
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            out = model(x)
    except (RuntimeError, ValueError, AssertionError) as e:
        raise ValueError(f"{name} cannot run on an input of size {list(x.shape)}: {e}") from e
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    # a parent's hook fires after its children's; show parents first, in the order they started
    ordered = sorted(order, key=lambda n: _first_start(n, order))
    return [rows[n] for n in ordered], out


def model_summary(
    model: str | nn.Module,
    input_size: tuple[int, int, int] | None = None,
    depth: int = 3,
    batch_size: int = 1,
    features_only: bool = False,
    device: Any = None,
    dtype: Any = None,
) -> ModelSummary:
    """Run one forward pass with hooks on every module up to `depth` levels deep.

    `model` is a registered name (built with random weights; `features_only` gives the feature
    extractor) or an already-built module. The example input [batch_size, C, H, W] is created on the
    model's device and in its dtype, so a CUDA or bfloat16 model just works. `input_size` defaults
    to the model's own input size.
    """
    check_int("depth", depth, 1)
    check_int("batch_size", batch_size, 1)
    check_bool("features_only", features_only)
    size = parse_input_size(input_size) if input_size is not None else None
    built_here = isinstance(model, str)
    name, model = tool_model(model, size, features_only=features_only)
    if built_here and (device is not None or dtype is not None):
        model = model.to(device=device, dtype=dtype)  # a module passed in stays where it is
    size = size or model_input_size(model)
    run_device, run_dtype = _device_and_dtype(model)
    x = torch.randn(batch_size, *size, device=run_device, dtype=run_dtype)  # [B, C, H, W]
    rows, out = _record_layers(model, x, depth, name)
    return ModelSummary(
        model_name=name,
        input_size=(batch_size, *size),
        dtype=str(run_dtype).replace("torch.", ""),
        device=str(run_device),
        rows=rows,
        total_params=sum(p.numel() for p in model.parameters()),
        trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        output_shape=_shapes(out),
    )


def _first_start(name: str, order: list[str]) -> tuple[int, int]:
    """Sort key: a module starts when its first recorded descendant (or itself) finished first."""
    prefix = name + "."
    first = min(i for i, n in enumerate(order) if n == name or n.startswith(prefix))
    return (first, name.count("."))
