"""int8 post-training quantization for `optimize(model, "int8", calibration=...)`, x86 CPUs only.

The flow is torchao's PT2E one for Inductor (torchao is the optional `int8` extra, never a core
dependency): `torch.export` (batch dimension dynamic) -> `prepare_pt2e` with `X86InductorQuantizer`
(static, per-channel weights) -> calibration forwards -> `convert_pt2e` -> `torch.compile`, whose
freezing pass turns the quantize/dequantize patterns into oneDNN int8 convolutions and matmuls.

Freezing must be on in Inductor's global config while compiling: passed as
`torch.compile(options={"freezing": True})` the weight pre-packing fails (torch 2.14 / torchao 0.18:
"UnsupportedOperatorException: onednn.qconv_prepack.default"), so each call runs under
`torch._inductor.config.patch(freezing=True)` (a scoped patch, restored after the call; a new input shape
compiles again under it).

Depthwise convolutions and the classifier are not quantized (`float_module_names`); on CPUs with bf16
they, and the operators int8 does not cover, run in bf16 ("int8-mixed-bf16").

Every quantized model is checked once: its compiled output must equal its quantized graph's eager
reference on the first calibration batch, else `optimize` raises (see `_check_lowering`).

Measured on this 2-core AVX-512 VNNI CPU (batch 16, img/s, int8 vs bf16 + compile in one process):
resnet50 73 vs 37, vit_small_patch16_224 52 vs 32, tf_efficientnet_lite0 252 vs 198 (with its depthwise
convs in fp32 instead of bf16: 137).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import nn

__all__ = ["Int8Model", "calibration_batches", "quantize_int8", "MAX_CALIBRATION_IMAGES"]

# A calibration folder is sampled down to this many images (evenly over its sorted files): the observers
# settle long before, and each image costs an eager forward.
MAX_CALIBRATION_IMAGES = 256
CALIBRATION_BATCH = 16
# Largest relative error (`relative_error`) of compiled int8 code against its quantized graph's reference.
LOWERING_TOLERANCE = 0.1


def check_int8_device(device: torch.device) -> None:
    """int8 runs on x86 CPUs with VNNI (AVX512-VNNI or AMX); anything else is a ValueError saying why."""
    if device.type != "cpu":
        raise ValueError(
            f"precision='int8' runs on the CPU only (oneDNN int8 kernels); on {device.type} use 'bf16' or 'fp16'"
        )
    if not (torch.backends.mkldnn.is_available() and torch.cpu._is_vnni_supported()):
        raise ValueError(
            "precision='int8' needs an x86 CPU with VNNI (AVX512-VNNI or AMX), where int8 beats bf16; "
            "this one has none, use precision='fp32'"
        )


def _torchao() -> tuple[Any, Any, Any]:
    try:
        import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as x86
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    except ImportError:
        raise ImportError(
            "precision='int8' needs torchao (PT2E quantization): pip install visionzoo[int8]"
        ) from None
    return x86, prepare_pt2e, convert_pt2e


def _folder_batches(folder: str | os.PathLike, model: nn.Module, takes_uint8: bool) -> Iterator[torch.Tensor]:
    """The folder's images (at most MAX_CALIBRATION_IMAGES) preprocessed as the model's eval transform
    does: uint8 [B, C, H, W] for a model that normalises inside, else normalised float."""
    from pathlib import Path

    from .data.datasets import find_images
    from .data.loader import predict_batches
    from .inference import _preprocessing

    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"calibration folder {str(root)!r} does not exist or is not a folder")
    files = find_images(root)
    if not files:
        raise ValueError(f"calibration folder {str(root)!r} has no images")
    step = max(1, len(files) // MAX_CALIBRATION_IMAGES)
    files = files[::step][:MAX_CALIBRATION_IMAGES]
    pil_transform, mean, std = _preprocessing(model)
    mean_t = torch.tensor(mean).view(1, -1, 1, 1)
    std_t = torch.tensor(std).view(1, -1, 1, 1)
    skipped: list[tuple[str, str]] = []
    items = [(str(f), str(f)) for f in files]
    for _, batch in predict_batches(items, pil_transform, CALIBRATION_BATCH, False, skipped):
        yield batch if takes_uint8 else (batch.float() / 255.0 - mean_t) / std_t


def calibration_batches(calibration: Any, model: nn.Module) -> list[torch.Tensor]:
    """`calibration` as a list of [B, C, H, W] batches: a folder of images (path), one tensor ([C, H, W] or
    [N, C, H, W], cut into batches) or an iterable of such tensors."""
    from .data.loader import NormalizedModel

    if calibration is None:
        raise ValueError("precision='int8' needs calibration=: a folder of images, or image batches")
    if isinstance(calibration, (str, os.PathLike)):
        batches = list(_folder_batches(calibration, model, isinstance(model, NormalizedModel)))
    elif isinstance(calibration, torch.Tensor):
        x = calibration.unsqueeze(0) if calibration.dim() == 3 else calibration
        batches = list(x.split(CALIBRATION_BATCH))
    elif isinstance(calibration, Iterable):
        batches = [t.unsqueeze(0) if isinstance(t, torch.Tensor) and t.dim() == 3 else t for t in calibration]
    else:
        raise TypeError(
            f"calibration must be a folder path, a tensor or an iterable of tensors, got {type(calibration).__name__}"
        )
    if not batches or not all(isinstance(b, torch.Tensor) and b.dim() == 4 and len(b) for b in batches):
        raise ValueError("calibration must give at least one image batch, each [B, C, H, W]")
    return batches


class Int8Model(nn.Module):
    """The compiled int8 graph of a model; each call compiles (first time per shape) and runs with
    Inductor's freezing on, which the int8 weight packing needs."""

    def __init__(self, graph: nn.Module, float_modules: int = 0, mixed_bf16: bool = False) -> None:
        super().__init__()
        self.graph = graph  # the converted PT2E GraphModule (keeps the weights alive)
        self.float_modules = float_modules  # layers left in floating point (`float_module_names`)
        self.mixed_bf16 = mixed_bf16  # what is not int8 runs under bf16 autocast
        self._compiled = torch.compile(graph, dynamic=False)

    def train(self, mode: bool = True) -> Int8Model:
        """Eval only: the flag is kept here, not passed on (an exported graph refuses .train()/.eval())."""
        if mode:
            raise ValueError("an int8 quantized model is for inference only")
        self.training = False
        return self

    def forward(self, x: torch.Tensor) -> Any:
        with torch._inductor.config.patch(freezing=True), _float_autocast(self.mixed_bf16):
            return self._compiled(x)


def _float_autocast(mixed_bf16: bool) -> Any:
    """bf16 autocast for the layers int8 leaves in floating point, or nothing."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=mixed_bf16)


def float_module_names(model: nn.Module) -> list[str]:
    """The layers int8 leaves in floating point: depthwise convolutions and the final classifier.

    Depthwise convolutions: their per-tensor int8 activations cost MobileNet-style nets most of their
    accuracy (tf_efficientnet_lite0, 102 photo views: top-1 agreement with fp32 81 % with them quantized,
    96-97 % without), for a small share of the FLOPs. The classifier: Inductor's int8 linear lowering
    computed a different function for tf_efficientnet_lite0 (top-1 agreement 0 %; torch 2.14.1, torchao
    0.18) while the graph's reference was right; in floating point it is < 1 % of a CNN's FLOPs.
    """
    names = [
        name
        for name, m in model.named_modules()
        if isinstance(m, nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels
    ]
    # the outermost module with a classifier: the model, or the one a wrapper (NormalizedModel) holds
    owner = next((m for m in model.modules() if callable(getattr(m, "get_classifier", None))), None)
    head = owner.get_classifier() if owner is not None else None
    if isinstance(head, (nn.Linear, nn.Conv2d)):
        names += [name for name, m in model.named_modules() if m is head and name not in names]
    return names


def quantize_int8(
    model: nn.Module,
    batches: list[torch.Tensor],
    prepare_input: Any,
    channels_last: bool,
    mixed_bf16: bool = False,
) -> Int8Model:
    """`model` (eval, BatchNorms folded, on the CPU) quantized to int8 with `batches` as calibration.

    `prepare_input` moves a batch to the model's device and memory format, as `OptimizedModel` will.
    `mixed_bf16`: what stays in floating point (`float_module_names`, and the operators int8 does not
    cover) runs in bf16 ("int8-mixed-bf16"): tf_efficientnet_lite0 b16 1.3x bf16 and 1.8x int8 with fp32
    depthwise convs; resnet50 and vit_small unchanged.
    """
    x86, prepare_pt2e, convert_pt2e = _torchao()
    example = prepare_input(batches[0])
    if example.shape[0] == 1:  # a batch of 1 would fix the batch size of the exported graph
        example = example.expand(2, *example.shape[1:])
        if channels_last:
            example = example.contiguous(memory_format=torch.channels_last)
    dynamic = ({0: torch.export.Dim.AUTO},)
    with torch.no_grad():
        exported = torch.export.export(model, (example,), dynamic_shapes=dynamic, strict=False)
        quantizer = x86.X86InductorQuantizer()
        quantizer.set_global(x86.get_default_x86_inductor_quantization_config())
        kept = float_module_names(model)
        for name in kept:
            quantizer.set_module_name_qconfig(name, None)
        prepared = prepare_pt2e(exported.module(), quantizer)
        for batch in batches:  # observers record the activation ranges
            prepared(prepare_input(batch))
        converted = convert_pt2e(prepared)
        int8 = Int8Model(converted, len(kept), mixed_bf16)
        _check_lowering(int8, converted, prepare_input(batches[0]))
    return int8


def _check_lowering(int8: Int8Model, converted: nn.Module, x: torch.Tensor) -> None:
    """The compiled int8 code must compute what the quantized graph computes (its eager reference): the
    output's relative error (norm of the difference / norm of the reference) at most LOWERING_TOLERANCE,
    else a ValueError. Fused int8 kernels round re-quantization differently from the reference, which
    moves single outputs by a few int8 steps (tf_efficientnet_lite0, real weights and photos: relative
    error 0.02, 0.05 with bf16 for the float layers); a lowering fault computes another function (the int8
    classifier of tf_efficientnet_lite0, torch 2.14.1 / torchao 0.18: relative error 110 %, top-1 agreement
    with fp32 0 %, the reason `float_module_names` keeps classifiers in floating point)."""
    with torch.no_grad():
        with _float_autocast(getattr(int8, "mixed_bf16", False)):  # the reference in the same precision
            expected = converted(x)
        got = int8(x)
    if isinstance(expected, torch.Tensor) and isinstance(got, torch.Tensor):
        error = relative_error(got, expected)
        if not error <= LOWERING_TOLERANCE:
            raise ValueError(
                "precision='int8': the compiled int8 code of this model does not compute what its quantized "
                f"graph does (relative error {error:.2f}: an Inductor int8 lowering fault for one of its "
                "layers); use precision='bf16'"
            )


def relative_error(got: torch.Tensor, expected: torch.Tensor) -> float:
    """||got - expected|| / ||expected|| in float64 (0 when both are zero)."""
    got, expected = got.double(), expected.double()
    norm = expected.norm()
    diff = (got - expected).norm()
    return float(diff / norm) if norm > 0 else float(diff)
