"""`export_model`: ONNX or torch.export files, written atomically and verified against the eager model."""

from __future__ import annotations

import contextlib
import io
import os
import re
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..utils.checks import check_bool, check_choice, check_float, check_int
from ._common import (
    atomic_output,
    check_output_path,
    is_model_spec,
    model_input_size,
    parse_img_size,
    resolve_cfg,
    size_kwargs,
)

__all__ = ["export_model", "ExportError", "ExportVerificationError", "FORMATS"]

FORMATS = {"onnx": ".onnx", "torch-export": ".pt2"}


class ExportError(RuntimeError):
    """The model could not be exported in the asked format; the message says why."""


class ExportVerificationError(ExportError):
    """The exported model's output differs from the eager model's by more than the tolerance."""


def _require_onnx() -> None:
    missing = []
    for mod in ("onnx", "onnxruntime", "onnxscript"):
        try:
            __import__(mod)
        except ImportError:
            missing.append(mod)
    if missing:
        raise ImportError(
            f"ONNX export needs {', '.join(missing)}, which is not installed: pip install visionzoo[export]"
        )


def _outputs(out: Any) -> list[torch.Tensor]:
    """A model output (tensor, or list/tuple of tensors) as a flat list of tensors."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _outputs(o)]
    raise ExportError(f"cannot compare model outputs of type {type(out).__name__}")


def _max_abs_diff(expected: list[torch.Tensor], got: list[Any]) -> float:
    if len(expected) != len(got):
        raise ExportVerificationError(
            f"the exported model returns {len(got)} outputs, the eager model {len(expected)}"
        )
    diff = 0.0
    for e, g in zip(expected, got):
        g = torch.as_tensor(g)
        if tuple(e.shape) != tuple(g.shape):
            raise ExportVerificationError(
                f"exported output shape {tuple(g.shape)} differs from the eager {tuple(e.shape)}"
            )
        diff = max(diff, (e.float() - g.float()).abs().max().item())
    return diff


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}".strip().rstrip(":")


def _why(e: BaseException) -> str:
    """The root cause of an exporter error in one line, with the operator it failed on when known."""
    chain = [e]
    while chain[-1].__cause__ is not None and len(chain) < 20:
        chain.append(chain[-1].__cause__)
    op = None
    for err in chain:
        m = re.search(r"target=torch\.ops\.([\w.]+)", str(err))
        if m:
            op = m.group(1)
            break
    reason = _short(chain[-1])
    return f"{reason} (while converting {op})" if op else reason


def _build(
    name: str,
    pretrained: bool,
    checkpoint: str | os.PathLike | None,
    hw: tuple[int, int] | None,
    model_kwargs: dict[str, Any],
) -> nn.Module:
    from ..factory import create_model

    cfg = resolve_cfg(name)[1]
    if is_model_spec(name) and checkpoint is None:
        pretrained = True  # an 'hf-hub:' / 'local-dir:' name stands for its weights
    if checkpoint is not None:
        ckpt = Path(checkpoint).expanduser()
        if not ckpt.is_file():
            raise FileNotFoundError(f"checkpoint file not found: {str(ckpt)!r}")
    elif pretrained and not cfg.has_weights:
        raise ValueError(
            f"{cfg.name} has no pretrained weights; give a checkpoint (--checkpoint PATH) or drop --pretrained"
        )
    size = (cfg.input_size[0], *hw) if hw else None
    return create_model(
        name,
        pretrained=pretrained and checkpoint is None,
        checkpoint_path=checkpoint,
        **{**size_kwargs(name, size), **model_kwargs},
    )


def _sdpa_math(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> torch.Tensor:
    """Attention as matmul + softmax, for exporters that only convert 4-D fused attention.

    q [..., L, E], k [..., S, E], v [..., S, Ev] -> [..., L, Ev]; any number of leading dims.
    """
    s = scale if scale is not None else q.shape[-1] ** -0.5
    attn = (q * s) @ k.transpose(-2, -1)  # [..., L, S]
    if is_causal:
        keep = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool, device=q.device).tril()
        attn = attn.masked_fill(~keep, float("-inf"))
    if attn_mask is not None:
        attn = (
            attn.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool else attn + attn_mask
        )
    return attn.softmax(-1) @ v


def _error_chain_text(e: BaseException) -> str:
    parts, err = [], e
    while err is not None and len(parts) < 20:
        parts.append(str(err))
        err = err.__cause__
    return "\n".join(parts)


def _export_onnx(
    model: nn.Module, x: torch.Tensor, path: Path, opset: int | None, dynamic_batch: bool
) -> None:
    dynamic_shapes = ({0: torch.export.Dim("batch", min=1, max=4096)},) if dynamic_batch else None

    def convert(target: Any, shapes: Any) -> Any:
        with contextlib.redirect_stdout(io.StringIO()):  # the exporter prints progress lines
            return torch.onnx.export(
                target,
                (x,),
                dynamo=True,
                opset_version=opset,
                dynamic_shapes=shapes,
                input_names=["input"],
                output_names=["output"],
                verbose=False,
            )

    try:
        program = convert(model, dynamic_shapes)
    except Exception as e:
        # the ONNX converter handles fused attention on 4-D inputs only (Swin's windows are 5-D):
        # retry with attention spelled out as matmul + softmax
        if "scaled_dot_product_attention" not in _error_chain_text(e):
            raise
        ep = torch.export.export(model, (x,), dynamic_shapes=dynamic_shapes, strict=False)
        ep = ep.run_decompositions({torch.ops.aten.scaled_dot_product_attention.default: _sdpa_math})
        program = convert(ep, None)
    program.save(path, external_data=False)


def _run_onnx(path: Path) -> Any:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    return lambda x: session.run(None, {input_name: x.numpy()})


def _export_torch(model: nn.Module, x: torch.Tensor, path: Path, dynamic_batch: bool) -> None:
    dynamic_shapes = ({0: torch.export.Dim("batch", min=1, max=4096)},) if dynamic_batch else None
    program = torch.export.export(model, (x,), dynamic_shapes=dynamic_shapes, strict=False)
    torch.export.save(program, path)


def _run_torch(path: Path) -> Any:
    module = torch.export.load(path).module()
    return lambda x: _outputs(module(x))


def _check_args(format: str, opset: Any, batch_size: Any, tolerance: Any) -> None:
    check_choice("format", format, tuple(FORMATS))
    if opset is not None:
        if format != "onnx":
            raise ValueError("opset only applies to --format onnx")
        check_int("opset", opset, 7, 30)
    check_int("batch_size", batch_size, 1)
    check_float("tolerance", tolerance, 0.0)


def _target(
    model: str | nn.Module,
    output: str | os.PathLike | None,
    format: str,
    pretrained: bool,
    checkpoint_path: str | os.PathLike | None,
) -> tuple[str, Path]:
    """The model's display name and the checked output path (default: ARCH.onnx / ARCH.pt2 here)."""
    if isinstance(model, str):
        name, default_out = model, resolve_cfg(model)[0]
    elif isinstance(model, nn.Module):
        if pretrained or checkpoint_path is not None:
            raise ValueError(
                "pretrained/checkpoint only apply to a model name; load weights into the module first"
            )
        name = default_out = type(model).__name__
    else:
        raise TypeError(f"model must be a model name or an nn.Module, got {type(model).__name__}")
    return name, check_output_path(output if output is not None else default_out + FORMATS[format])


def _reference(
    model: nn.Module, name: str, size: tuple[int, int, int], batch_size: int, dynamic_batch: bool
) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
    """Example inputs and the eager model's outputs on them.

    With a dynamic batch the export runs at >= 2 (torch.export specialises sizes 0 and 1) and a second
    batch size is checked too.
    """
    c, h, w = size
    export_batch = max(batch_size, 2) if dynamic_batch else batch_size
    batches = [export_batch, export_batch + 1] if dynamic_batch else [export_batch]
    gen = torch.Generator().manual_seed(0)
    inputs = [torch.randn(b, c, h, w, generator=gen) for b in batches]  # [B, C, H, W] each
    try:
        with torch.no_grad():
            return inputs, [_outputs(model(x)) for x in inputs]
    except (RuntimeError, ValueError, AssertionError) as e:
        raise ValueError(f"{name} cannot run on a {c}x{h}x{w} input: {_short(e)}") from e


def _verify(format: str, path: Path, name: str, inputs: list[torch.Tensor], expected: list) -> float:
    """Run the exported file on the example inputs; the largest absolute difference from eager."""
    try:
        run = _run_onnx(path) if format == "onnx" else _run_torch(path)
        return max(_max_abs_diff(exp, run(x)) for exp, x in zip(expected, inputs))
    except ExportVerificationError:
        raise
    except Exception as e:
        raise ExportVerificationError(
            f"the exported {format} model of {name} fails to run: {_short(e)}"
        ) from e


def export_model(
    model: str | nn.Module,
    output: str | os.PathLike | None = None,
    format: str = "onnx",
    dynamic_batch: bool = True,
    opset: int | None = None,
    pretrained: bool = False,
    checkpoint_path: str | os.PathLike | None = None,
    img_size: int | tuple[int, int] | str | None = None,
    batch_size: int = 1,
    tolerance: float = 1e-4,
    verify: bool = True,
    model_kwargs: dict[str, Any] | None = None,
    *,
    reparameterize: bool = False,
    checkpoint: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Export a model to ONNX (`format='onnx'`, .onnx) or torch.export (`'torch-export'`, .pt2), then verify.

    The batch dimension is dynamic unless `dynamic_batch=False`, and verification then checks two batch
    sizes. The file is written to a temporary name and renamed only once export and verification
    succeed, so a failure never leaves a partial file. Verification runs the exported model
    (onnxruntime on CPU, or the reloaded ExportedProgram) on the same random input as the eager model;
    ExportVerificationError when the largest absolute difference exceeds `tolerance`, ExportError when
    the model cannot be exported (the message says why). `checkpoint_path` (old name `checkpoint`)
    and `model_kwargs` apply when `model` is a name; `reparameterize` folds multi-branch blocks (RepVGG,
    MobileOne, HGNet) before export. Returns a dict describing the file and the check.
    """
    if checkpoint is not None:
        warnings.warn("export_model(checkpoint=) is now checkpoint_path=", DeprecationWarning, stacklevel=2)
        checkpoint_path = checkpoint_path if checkpoint_path is not None else checkpoint
    _check_args(format, opset, batch_size, tolerance)
    check_bool("dynamic_batch", dynamic_batch)
    hw = parse_img_size(img_size) if img_size is not None else None
    if format == "onnx":
        _require_onnx()
    name, path = _target(model, output, format, pretrained, checkpoint_path)
    if isinstance(model, str):
        model = _build(model, pretrained, checkpoint_path, hw, dict(model_kwargs or {}))
    model = model.eval().float().cpu()
    check_bool("reparameterize", reparameterize)
    if reparameterize:
        from ..layers.reparam import reparameterize as fold

        model = fold(model)
    c, h, w = model_input_size(model)
    if hw:
        h, w = hw
    inputs, expected = _reference(model, name, (c, h, w), batch_size, dynamic_batch)
    result: dict[str, Any] = dict(
        model=name,
        format=format,
        path=str(path),
        input_size=[c, h, w],
        batch_size=inputs[0].shape[0],
        dynamic_batch=dynamic_batch,
        opset=opset,
        tolerance=tolerance,
        reparameterized=reparameterize,
    )
    with atomic_output(path, suffix=FORMATS[format]) as tmp:
        t0 = time.perf_counter()
        try:
            if format == "onnx":
                _export_onnx(model, inputs[0], tmp, opset, dynamic_batch)
            else:
                _export_torch(model, inputs[0], tmp, dynamic_batch)
        except Exception as e:
            raise ExportError(f"cannot export {name} to {format}: {_why(e)}") from e
        result["export_s"] = time.perf_counter() - t0
        if verify:
            t0 = time.perf_counter()
            diff = _verify(format, tmp, name, inputs, expected)
            result.update(
                verify_s=time.perf_counter() - t0,
                checked_batch_sizes=[x.shape[0] for x in inputs],
                max_abs_diff=diff,
            )
            if diff > tolerance:
                raise ExportVerificationError(
                    f"exported {name} differs from the eager model by {diff:.3g} (max abs), more than the "
                    f"tolerance {tolerance:g}; nothing was written"
                )
        result["file_size"] = tmp.stat().st_size
    return result
