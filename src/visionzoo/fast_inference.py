"""`optimize`: one call that makes a model fast for inference on its device.

(The module is not named `optimize`: `import visionzoo.optimize` would then replace the package
attribute `visionzoo.optimize`, the function, by the module.)

What is applied, and why (measured on a 2-core AVX-512-BF16 CPU, batch 16, speed-up over eager fp32):

- BatchNorm folded into the convolution before it (resnet50 channels-last 1.43x -> 1.52x).
- Channels-last memory format for convolution-dominated nets only (resnet50 1.43x, efficientnet_b0
  1.46x; it does nothing for ViT and costs ConvNeXt 5%). The choice is made from the model's own
  FLOPs, counted on one probe forward: convolutions above half the FLOPs make it a conv net.
- `reparameterize()` is called on every module that has one (multi-branch blocks collapse to one conv).
- bf16 autocast where the CPU has bf16 instructions (AVX512-BF16 or AMX) and on CUDA; fp16 on CUDA.
- `torch.compile` with weight freezing for every net at every precision (batch 16, fp32: resnet50 1.6x,
  convnext_tiny 1.4x, swin_tiny 1.2x over eager; vit_small about even). Inductor caches its compiled code on
  disk (the FX-graph and AOTAutograd caches, on by default in `$TORCHINDUCTOR_CACHE_DIR`, else
  `/tmp/torchinductor_<user>`), so a second process starts much faster (efficientnet_b0 on the
  loaded machine: optimize() + first forward 247 s in a fresh process, 61 s in the next one).

A compiled model compiles again the first time it sees a new input shape: shapes stay static, since a
dynamic batch dimension made resnet50 at batch 1 slower than eager (0.6x), static graphs 1.6x faster.
Dynamo's recompile limit (`torch._dynamo.config.recompile_limit`, 8) counts per forward function, and
the families share one: many compiled models x shapes in one process can reach it, after which the
extra ones run eager (with a warning).

int8 (`precision="int8"`, `calibration=` a folder or image batches) is post-training static quantization
with torchao's PT2E flow on x86 CPUs with VNNI (module `quantization`, optional extra `visionzoo[int8]`);
it is always compiled. Depthwise convolutions and the classifier stay in floating point, bf16 where the
CPU has it ("int8 + bf16"). Batch 16: resnet50 2.0x bf16 + compile, vit_small 1.6x, tf_efficientnet_lite0
1.3x. Inductor's int8 code is checked against the quantized graph once, and refused with a ValueError
where it computes something else (efficientnet_b0 with random weights, torch 2.14.1 / torchao 0.18).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from typing import Any

import torch
from torch import nn
from torch.utils import _pytree as pytree

from .utils.checks import check_bool
from .utils.device import resolve_device
from .utils.precision import PRECISIONS as AUTOCAST_PRECISIONS
from .utils.precision import resolve_precision

__all__ = [
    "optimize",
    "optimize_if_asked",
    "FixedBatch",
    "fixed_batch_if_compiled",
    "OptimizedModel",
    "OptimizePlan",
    "PRECISIONS",
    "check_precision",
    "cpu_supports_bf16",
    "fastest_precision",
]

_log = logging.getLogger(__name__)

# What optimize() takes: the autocast precisions, and int8 (quantized, x86 CPUs).
PRECISIONS = (*AUTOCAST_PRECISIONS, "int8")

# A model whose convolutions do at least this share of its FLOPs is treated as a conv net.
CONV_NET_SHARE = 0.5


def cpu_supports_bf16() -> bool:
    """True when this CPU has native bf16 arithmetic (AVX512-BF16 or AMX), where bf16 beats fp32."""
    cpu = torch.cpu
    return bool(cpu._is_avx512_bf16_supported() or cpu._is_amx_tile_supported())


def fastest_precision(device: torch.device) -> str:
    """The precision to pick when speed comes first: bf16 where the hardware computes in it (CPUs with
    AVX512-BF16/AMX, CUDA GPUs that support it), fp16 on other GPUs, else fp32."""
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if device.type == "cpu" and cpu_supports_bf16() else "fp32"


def _cpu_supports_fp16() -> bool:
    return bool(torch.cpu._is_amx_fp16_supported())


@dataclasses.dataclass(frozen=True)
class OptimizePlan:
    """What `optimize` decided for one model (also what `OptimizedModel` prints).

    Attributes:
        precision: 'fp32', 'bf16', 'fp16' (bf16/fp16 run under autocast; outputs are returned as fp32) or
            'int8' (PT2E static quantization, compiled).
        device: where the model runs.
        channels_last: inputs and weights use the channels-last memory format.
        compiled: forward runs through torch.compile (Inductor, frozen weights).
        folded_batchnorms: BatchNorm layers folded into the convolution before them.
        reparameterized: modules whose `reparameterize()` was called.
        conv_flop_share: share of the probe forward's FLOPs done by convolutions.
        calibration_images: images the int8 activation ranges were calibrated on (0 for other precisions).
        float_layers: int8 only: layers left in floating point (depthwise convs, the classifier; see
            `quantization.float_module_names`).
        int8_mixed_bf16: int8 only: what is not int8 runs in bf16 (CPUs with bf16 instructions).
    """

    precision: str
    device: torch.device
    channels_last: bool
    compiled: bool
    folded_batchnorms: int
    reparameterized: int
    conv_flop_share: float
    calibration_images: int = 0
    float_layers: int = 0
    int8_mixed_bf16: bool = False

    def summary(self) -> str:
        """One line naming what was applied, e.g. 'bf16 autocast, channels-last, 53 BatchNorms folded, compiled'."""
        if self.precision == "int8":
            n = self.float_layers
            rest = "bf16" if self.int8_mixed_bf16 else "fp32"
            kept = f"; {n} layer{'s' if n != 1 else ''} in {rest}" if n else ""
            name = "int8 + bf16" if self.int8_mixed_bf16 else "int8"
            parts = [f"{name} (PT2E, calibrated on {self.calibration_images} images{kept})"]
        else:
            parts = [f"{self.precision} autocast" if self.precision != "fp32" else "fp32"]
        if self.channels_last:
            parts.append("channels-last")
        if self.folded_batchnorms:
            parts.append(f"{self.folded_batchnorms} BatchNorms folded")
        if self.reparameterized:
            parts.append(f"{self.reparameterized} modules re-parameterized")
        parts.append("compiled" if self.compiled else "not compiled")
        return f"{', '.join(parts)} on {self.device}"


class OptimizedModel(nn.Module):
    """An eval-only model prepared by `optimize`: moves inputs to its device and memory format, runs
    under autocast when the precision asks for it, without autograd, and returns fp32 outputs.

    `model` is the prepared eager module (BatchNorm folded, on the device); its state dict keys are those
    of the original model minus the folded BatchNorm entries. Weights are frozen into compiled code:
    changing them afterwards has no effect on a compiled model, so build a new one instead.
    """

    def __init__(self, model: nn.Module, plan: OptimizePlan, normalizes_inside: bool = False):
        super().__init__()
        self.model = model
        self.plan = plan
        self.normalizes_inside = normalizes_inside  # built from a data.loader.NormalizedModel: takes uint8
        self._autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(plan.precision)
        super().train(False)

    @property
    def pretrained_cfg(self) -> Any:
        """The wrapped model's pretrained cfg (preprocessing, labels), or None."""
        return getattr(self.model, "pretrained_cfg", None)

    @property
    def num_classes(self) -> int | None:
        return getattr(self.model, "num_classes", None)

    def train(self, mode: bool = True) -> OptimizedModel:
        if mode:
            raise ValueError("an optimized model is for inference only; train the original model instead")
        return super().train(False)

    def _prepare_input(self, x: Any) -> Any:
        return _input_preparer(self.plan.device, self.plan.channels_last)(x)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        with torch.inference_mode():  # inputs made here are inference tensors, whoever calls: one guard
            args, kwargs = pytree.tree_map(self._prepare_input, (args, kwargs))
            if self._autocast_dtype is None:
                out = self.model(*args, **kwargs)
            else:
                with torch.autocast(self.plan.device.type, dtype=self._autocast_dtype):
                    out = self.model(*args, **kwargs)
        return pytree.tree_map(
            lambda t: t.float() if isinstance(t, torch.Tensor) and t.is_floating_point() else t, out
        )

    def extra_repr(self) -> str:
        p = self.plan
        return (
            f"precision={p.precision!r}, device={str(p.device)!r}, channels_last={p.channels_last}, "
            f"compiled={p.compiled}, folded_batchnorms={p.folded_batchnorms}"
        )


def _input_preparer(device: torch.device, channels_last: bool) -> Any:
    """The function that moves an input to the model's device, fp32 (uint8 images stay uint8) and memory
    format: what `OptimizedModel` does to every input, and int8 calibration to its batches."""

    def prepare(x: Any) -> Any:
        if not isinstance(x, torch.Tensor):
            return x
        x = x.to(device, non_blocking=True)
        if x.is_floating_point() and x.dtype != torch.float32:
            x = x.float()
        if channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    return prepare


def _with_model_info(quantized: nn.Module, source: nn.Module) -> nn.Module:
    """`quantized` carrying the source model's `pretrained_cfg` and `num_classes` (labels, preprocessing)."""
    for name in ("pretrained_cfg", "num_classes"):
        if getattr(source, name, None) is not None:
            setattr(quantized, name, getattr(source, name))
    return quantized


def _check_flag(name: str, value: Any) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise TypeError(f"{name} must be True, False or None (decide automatically), got {value!r}")
    return value


def _model_device(device: Any, model: nn.Module) -> torch.device:
    """`device`, resolved (utils.device); None means where the model's weights already are."""
    if device is None:
        p = next(iter(model.parameters()), None)
        return p.device if p is not None else torch.device("cpu")
    return resolve_device(device, allowed=("cpu", "cuda"))


def check_precision(precision: Any, device: torch.device) -> str:
    """The canonical precision name, if `device` can run it fast; else a ValueError that says what to use."""
    if isinstance(precision, str) and precision.lower() == "int8":
        from .quantization import check_int8_device

        check_int8_device(device)
        return "int8"
    if not isinstance(precision, (str, torch.dtype)):
        raise TypeError(f"precision must be one of {', '.join(PRECISIONS)}, got {type(precision).__name__}")
    try:
        precision = resolve_precision(precision)
    except ValueError:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}") from None
    if device.type == "cpu":
        if precision == "bf16" and not cpu_supports_bf16():
            raise ValueError(
                "precision='bf16' needs a CPU with AVX512-BF16 or AMX (this one has neither, so bf16 "
                "would be slower than fp32); use precision='fp32'"
            )
        if precision == "fp16" and not _cpu_supports_fp16():
            raise ValueError("precision='fp16' needs a CPU with AMX-FP16; use 'bf16' or 'fp32' on this CPU")
    elif precision == "bf16" and not torch.cuda.is_bf16_supported():
        raise ValueError("this GPU does not support bf16; use precision='fp16'")
    return precision


def _example_input(model: nn.Module, input_size: Any, device: torch.device) -> torch.Tensor:
    from .tools._common import model_input_size, parse_input_size

    size = model_input_size(model) if input_size is None else parse_input_size(input_size)
    return torch.randn(1, *size, device=device)


def _reparameterize(model: nn.Module) -> int:
    """Fold every re-parameterisable block (`layers.reparam.reparameterize`); returns how many there were."""
    from .layers.reparam import is_reparameterizable, reparameterize

    count = sum(1 for m in model.modules() if m is not model and is_reparameterizable(m))
    reparameterize(model)
    return count


def _bn_replacement(bn: nn.Module) -> nn.Module:
    """What is left of a folded BatchNorm: the activation of the project's BatchNorm + act layer, or nothing."""
    from .layers.norm_act import BatchNormAct2d

    return bn.act if isinstance(bn, BatchNormAct2d) else nn.Identity()


def _foldable_bn(module: nn.Module) -> bool:
    """Plain BatchNorm2d, or the project's BatchNorm + activation layer, with running statistics."""
    from .layers.norm_act import BatchNormAct2d

    if type(module) is not nn.BatchNorm2d and type(module) is not BatchNormAct2d:
        return False
    return module.track_running_stats and module.running_mean is not None


def _probe(
    model: nn.Module, x: torch.Tensor
) -> tuple[torch.Tensor, float, list[tuple[nn.Conv2d, nn.Module]]]:
    """One forward of `x` that returns the output, the share of FLOPs done by convolutions, and the
    (conv, BatchNorm) pairs where the BatchNorm's input is exactly that conv's output (each run once)."""
    from torch.utils.flop_counter import FlopCounterMode

    calls: dict[nn.Module, int] = {}
    conv_outputs: dict[int, tuple[torch.Tensor, nn.Conv2d]] = {}  # id(output) -> (output kept alive, conv)
    pairs: list[tuple[nn.Conv2d, nn.Module]] = []

    def count(module: nn.Module, *_: Any) -> None:
        calls[module] = calls.get(module, 0) + 1

    def after_conv(module: nn.Module, _inp: Any, out: Any) -> None:
        if isinstance(out, torch.Tensor):
            conv_outputs[id(out)] = (out, module)

    def before_bn(module: nn.Module, inp: tuple[Any, ...]) -> None:
        hit = conv_outputs.get(id(inp[0])) if inp and isinstance(inp[0], torch.Tensor) else None
        if hit is not None and hit[0] is inp[0]:
            pairs.append((hit[1], module))

    handles = []
    for m in model.modules():
        if type(m) in _foldable_convs():
            handles += [m.register_forward_pre_hook(count), m.register_forward_hook(after_conv)]
        elif _foldable_bn(m):
            handles += [m.register_forward_pre_hook(count), m.register_forward_pre_hook(before_bn)]
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as flops:
            out = model(x)
    finally:
        for h in handles:
            h.remove()
    total = flops.get_total_flops()
    conv = sum(v for k, v in flops.get_flop_counts()["Global"].items() if "convolution" in str(k))
    once = [(c, b) for c, b in pairs if calls.get(c) == 1 and calls.get(b) == 1]
    return _tensors(out), (conv / total if total else 0.0), once


def _foldable_convs() -> tuple[type[nn.Module], ...]:
    """Conv classes whose forward is a plain convolution with `weight` and `bias` (padding aside)."""
    from .layers.conv2d_same import SameConv2d

    return (nn.Conv2d, SameConv2d)


def _tensors(out: Any) -> list[torch.Tensor]:
    """Every tensor in a forward's output (a tensor, or a list/tuple/dict of them, as features_only gives)."""
    leaves = [t for t in pytree.tree_leaves(out) if isinstance(t, torch.Tensor)]
    if not leaves:
        raise TypeError("the model's forward returned no tensor; optimize needs a tensor output")
    return leaves


def _set_module(root: nn.Module, target: nn.Module, replacement: nn.Module) -> None:
    for parent in root.modules():
        for name, child in parent.named_children():
            if child is target:
                setattr(parent, name, replacement)


@torch.no_grad()
def _fold_batchnorm(model: nn.Module, pairs: list[tuple[nn.Conv2d, nn.Module]]) -> list[nn.Module]:
    """Fold each BatchNorm into the conv before it (w' = w * g / sqrt(var + eps), b' = (b - mean) * g /
    sqrt(var + eps) + beta) and replace it by its activation (BatchNormAct2d) or an identity; returns the
    replacements, in order. Eval only."""
    replacements = []
    for conv, bn in pairs:
        scale = (
            bn.weight / torch.sqrt(bn.running_var + bn.eps)
            if bn.affine
            else torch.rsqrt(bn.running_var + bn.eps)
        )
        shift = bn.bias if bn.affine else torch.zeros_like(scale)
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        conv.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1).to(conv.weight.dtype))
        new_bias = (bias - bn.running_mean) * scale + shift
        conv.bias = nn.Parameter(new_bias.to(conv.weight.dtype), requires_grad=False)
        replacements.append(_bn_replacement(bn))
        _set_module(model, bn, replacements[-1])
    return replacements


def _same_outputs(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    """Equal to 1e-4 of each output's scale (folding reorders float arithmetic, so not bit-exact)."""
    return len(a) == len(b) and all(
        x.shape == y.shape and bool((x - y).abs().max() <= 1e-4 * y.abs().max().clamp_min(1.0))
        for x, y in zip(a, b)
    )


def _fold_checked(model: nn.Module, pairs: list, x: torch.Tensor, reference: list[torch.Tensor]) -> int:
    """Fold BatchNorms, then check the output on the probe input; undo the fold if it changed."""
    if not pairs:
        return 0
    saved = [(c, c.weight.detach().clone(), c.bias, b) for c, b in pairs]
    replacements = _fold_batchnorm(model, pairs)
    with torch.no_grad():
        folded = _tensors(model(x))
    if _same_outputs(folded, reference):
        return len(pairs)
    _log.warning("BatchNorm folding changed this model's output, so it was undone")
    with torch.no_grad():
        for (conv, weight, bias, bn), replacement in zip(saved, replacements):
            conv.weight.copy_(weight)
            conv.bias = bias
            _set_module(model, replacement, bn)
    return 0


def optimize(
    model: nn.Module,
    precision: str = "fp32",
    *,
    compile: bool | None = None,
    channels_last: bool | None = None,
    device: str | torch.device | None = None,
    input_size: tuple[int, int, int] | None = None,
    inplace: bool = False,
    calibration: Any = None,
) -> OptimizedModel:
    """Prepare `model` for fast inference and return it wrapped in an `OptimizedModel`.

    Args:
        model: any visionzoo (or plain) nn.Module taking an image batch.
        precision: 'fp32' (same outputs as eager, to 1e-4), 'bf16' (CPU with AVX512-BF16/AMX, or CUDA)
            or 'fp16' (CUDA). bf16/fp16 run under autocast and return fp32 outputs.
        compile: torch.compile the forward (None: yes, it paid off on every family measured). The first
            call compiles (10-60 s on a small CPU); later processes reuse Inductor's on-disk cache.
        channels_last: use the channels-last memory format; None decides per model (conv nets only).
        device: where to run; default the device of the model's parameters.
        input_size: (C, H, W) of the probe input; default the model's own input size.
        inplace: prepare `model` itself instead of a deep copy (saves memory; the original is changed).
        calibration: for 'int8' only: a folder of images (preprocessed as the model's eval transform, at
            most `quantization.MAX_CALIBRATION_IMAGES`), or a tensor / iterable of image batches as the
            model takes them. A few dozen to a few hundred images like the ones to classify.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"optimize needs an nn.Module, got {type(model).__name__}")
    if isinstance(model, OptimizedModel):
        raise ValueError("this model is already optimized; pass the original model")
    compile_flag = _check_flag("compile", compile)
    channels_last_flag = _check_flag("channels_last", channels_last)
    check_bool("inplace", inplace)
    dev = _model_device(device, model)
    precision = check_precision(precision, dev)
    if precision == "int8":
        if calibration is None:
            raise ValueError("precision='int8' needs calibration=: a folder of images, or image batches")
        if compile_flag is False:
            raise ValueError(
                "precision='int8' runs compiled only (eager int8 simulates it, slower than fp32)"
            )
    elif calibration is not None:
        raise ValueError(f"calibration is for precision='int8' only, not {precision!r}")

    from .data.loader import NormalizedModel

    normalizes_inside = isinstance(model, NormalizedModel)
    model = model if inplace else copy.deepcopy(model)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    model.to(dev)
    reparameterized = _reparameterize(model)
    x = _example_input(model, input_size, dev)
    reference, conv_share, pairs = _probe(model, x)
    folded = _fold_checked(model, pairs, x, reference)

    conv_net = conv_share >= CONV_NET_SHARE
    use_channels_last = conv_net if channels_last_flag is None else channels_last_flag
    use_compile = True if compile_flag is None else compile_flag
    if use_channels_last:
        model.to(memory_format=torch.channels_last)
    calibration_images = float_layers = 0
    int8_mixed = False
    if precision == "int8":
        from .quantization import calibration_batches, quantize_int8

        batches = calibration_batches(calibration, model)
        calibration_images = sum(len(b) for b in batches)
        prepare = _input_preparer(dev, use_channels_last)
        mixed = cpu_supports_bf16()  # layers left in float run in bf16 where the CPU computes in it
        quantized = quantize_int8(model, batches, prepare, use_channels_last, mixed)  # compiled
        model, use_compile = _with_model_info(quantized, model), True
        float_layers, int8_mixed = quantized.float_modules, quantized.mixed_bf16
    elif use_compile:
        model.compile(dynamic=False, options={"freezing": True})  # one static graph per input shape
    plan = OptimizePlan(
        precision=precision,
        device=dev,
        channels_last=use_channels_last,
        compiled=use_compile,
        folded_batchnorms=folded,
        reparameterized=reparameterized,
        conv_flop_share=round(conv_share, 4),
        calibration_images=calibration_images,
        float_layers=float_layers,
        int8_mixed_bf16=int8_mixed,
    )
    _log.info("optimize: %s", plan)
    return OptimizedModel(model, plan, normalizes_inside)


def optimize_if_asked(
    model: nn.Module,
    device: torch.device,
    *,
    precision: str | None = None,
    compile: bool | None = None,
    fast: bool = False,
    input_size: tuple[int, int, int] | None = None,
    inplace: bool = False,
    calibration: Any = None,
) -> tuple[nn.Module, OptimizePlan | None]:
    """What `predict`, `validate` and `benchmark` do with their precision/compile/fast options: the model
    through `optimize` when any of them asks for it, else `model` unchanged; returns (model, plan or None).

    `precision` None means fp32, or with `fast` the fastest precision the device computes in
    (`fastest_precision`); `compile` None lets `optimize` decide; `input_size` (C, H, W) of the probe
    (default the model's); `inplace`: the caller built the model, so it may be changed instead of copied;
    `calibration`: int8's images (see `optimize`).
    """
    check_bool("fast", fast)
    _check_flag("compile", compile)
    if precision is None and compile is None and not fast:
        return model, None
    if precision is None:
        precision = fastest_precision(device) if fast else "fp32"
    fast_model = optimize(
        model,
        precision,
        compile=compile,
        device=device,
        input_size=input_size,
        inplace=inplace,
        calibration=calibration,
    )
    return fast_model, fast_model.plan


class FixedBatch(nn.Module):
    """`model` fed batches of one size: a smaller batch (the last of a dataset) is padded with copies of its
    last image up to `batch_size` and the output cut back, so that a compiled model reuses its code for
    that shape instead of compiling again (10-60 s). The output's first dimension must be the batch."""

    def __init__(self, model: nn.Module, batch_size: int) -> None:
        super().__init__()
        self.model = model
        self.batch_size = batch_size

    def forward(self, x: torch.Tensor) -> Any:
        n = x.shape[0]  # x: [B, C, H, W]
        if n < self.batch_size:
            x = torch.cat([x, x[-1:].expand(self.batch_size - n, *x.shape[1:])])  # [batch_size, C, H, W]
        return pytree.tree_map(lambda t: t[:n] if isinstance(t, torch.Tensor) else t, self.model(x))


def fixed_batch_if_compiled(
    model: nn.Module, plan: OptimizePlan | None, batch_size: int, num_images: int
) -> nn.Module:
    """`FixedBatch(model, batch_size)` when `plan` says the model is compiled and `num_images` fill more
    than one batch (a smaller last batch would compile again), else `model` itself."""
    if plan is not None and plan.compiled and num_images > batch_size:
        return FixedBatch(model, batch_size)
    return model
