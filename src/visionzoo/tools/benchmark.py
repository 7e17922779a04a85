"""`benchmark_model`: throughput, latency and peak memory of inference or training steps."""

from __future__ import annotations

import math
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..utils.checks import check_bool, check_choice, check_int
from ..utils.device import resolve_device
from ..utils.precision import autocast, precision_dtype, resolve_precision
from ._common import model_input_size, parse_img_size, tool_model

__all__ = ["benchmark_model", "format_benchmarks"]


class _CpuPeakMemory:
    """Peak resident memory above the starting level, psutil-free.

    On Linux the high-water mark (VmHWM) is reset through /proc/self/clear_refs, so the peak of this
    run alone is seen; elsewhere the process-lifetime maximum (ru_maxrss) is used, which only grows
    when this run goes above every earlier peak.
    """

    _status = Path("/proc/self/status")

    def _read(self, key: str) -> int | None:
        try:
            for line in self._status.read_text().splitlines():
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    def start(self) -> None:
        self.reset_ok = False
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.reset_ok = True
        except OSError:
            pass
        self.base = self._read("VmRSS") if self.reset_ok else None
        self.base_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def peak_rss_bytes(self) -> int:
        """Peak resident memory of the process (since `start` where it could be reset)."""
        hwm = self._read("VmHWM") if self.reset_ok else None
        return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def peak_bytes(self) -> int:
        if self.reset_ok and self.base is not None:
            hwm = self._read("VmHWM")
            if hwm is not None:
                return max(0, hwm - self.base)
        return max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - self.base_maxrss)


def _spread(values: list[float]) -> dict[str, float]:
    return dict(
        mean=statistics.fmean(values),
        std=statistics.stdev(values) if len(values) > 1 else 0.0,
        min=min(values),
        median=statistics.median(values),
        max=max(values),
    )


def _resolve_precision(precision: Any, amp: bool, amp_dtype: Any, dev: torch.device) -> str:
    """`precision`, or the old `amp`/`amp_dtype` pair (amp alone: fp16 on CUDA, bf16 on the CPU)."""
    if precision is not None:
        if amp or amp_dtype is not None:
            raise ValueError("give either precision or the older amp/amp_dtype, not both")
        return resolve_precision(precision)
    check_bool("amp", amp)
    if not amp:
        return "fp32"
    if amp_dtype is not None:
        return check_choice("amp_dtype", resolve_precision(amp_dtype, "amp_dtype"), ("bf16", "fp16"))
    return "fp16" if dev.type == "cuda" else "bf16"


def _make_step(
    model: nn.Module, x: torch.Tensor, train: bool, precision: str, compile: bool
) -> Callable[[], None]:
    """One timed unit: an inference batch, or a training step (forward, loss, backward, SGD update)."""
    step_model: Any = torch.compile(model) if compile else model
    cast = lambda: autocast(x.device, precision)  # noqa: E731 - a fresh context per step
    if not train:

        def infer() -> None:
            with torch.inference_mode(), cast():
                step_model(x)

        return infer
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-5)

    def train_step() -> None:
        with cast():
            out = step_model(x)
            outs = [out] if isinstance(out, torch.Tensor) else list(out)
            loss = sum(o.float().square().mean() for o in outs)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return train_step


def _time_steps(
    step: Callable[[], None], dev: torch.device, num_warmup: int, num_iters: int
) -> tuple[list[float], dict[str, float]]:
    """Per-step seconds of `num_iters` steps after `num_warmup`, and the peak memory from the first step on.

    Memory is watched from before the first warm-up step, so activations, gradients and optimizer state
    count even when the warm-up already allocated them.
    """

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    sync()
    cpu_mem = _CpuPeakMemory()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
        base_alloc = torch.cuda.memory_allocated(dev)
    else:
        cpu_mem.start()
    for _ in range(num_warmup):
        step()
    sync()
    times = []
    for _ in range(num_iters):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated(dev)
        return times, dict(
            peak_memory_mb=peak / 2**20, peak_memory_above_start_mb=(peak - base_alloc) / 2**20
        )
    return times, dict(
        peak_memory_mb=cpu_mem.peak_rss_bytes() / 2**20,
        peak_memory_above_start_mb=cpu_mem.peak_bytes() / 2**20,
    )


def benchmark_model(
    model: str | nn.Module,
    batch_size: int = 32,
    img_size: int | tuple[int, int] | str | None = None,
    device: str | torch.device = "cpu",
    precision: str | torch.dtype | None = None,
    channels_last: bool = False,
    compile: bool = False,
    train: bool = False,
    num_warmup: int = 3,
    num_iters: int = 10,
    *,
    reparameterize: bool = False,
    amp: bool = False,
    amp_dtype: str | torch.dtype | None = None,
) -> dict[str, Any]:
    """Time `num_iters` batches after `num_warmup` untimed ones; random weights and inputs.

    Inference runs under `torch.inference_mode`; `train=True` times full steps (forward, loss,
    backward, SGD update). `precision` ('fp32', 'bf16', 'fp16') runs under autocast; the older
    `amp=True` means fp16 on CUDA and bf16 on the CPU unless `amp_dtype` says otherwise.
    `reparameterize` folds multi-branch blocks (RepVGG, MobileOne, HGNet) first, as deployed. Returns img/s
    and per-batch latency (ms), each with mean/std/min/median/max, and peak memory from the first
    warm-up batch on: `peak_memory_mb` (CUDA: max allocated; CPU: peak resident set of the process)
    and `peak_memory_above_start_mb` (the part above the level before the first batch: activations,
    gradients, optimizer state).
    """
    batch_size = check_int("batch_size", batch_size, 1)
    num_warmup = check_int("num_warmup", num_warmup, 0)
    num_iters = check_int("num_iters", num_iters, 1)
    for flag in ("channels_last", "compile", "train", "reparameterize"):
        check_bool(flag, locals()[flag])
    dev = resolve_device(device, allowed=("cpu", "cuda"))
    precision = _resolve_precision(precision, amp, amp_dtype, dev)
    autocast(dev, precision)  # refuses fp16 on the CPU before any model is built
    hw = parse_img_size(img_size) if img_size is not None else None

    name, model = tool_model(model, hw)
    if reparameterize:
        from ..layers.reparam import reparameterize as fold

        model = fold(model)
    c, h, w = model_input_size(model)
    if hw:
        h, w = hw
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(dev, memory_format=memory_format) if channels_last else model.to(dev)
    model.train(train)
    x = torch.randn(batch_size, c, h, w, device=dev).contiguous(memory_format=memory_format)  # [B, C, H, W]
    step = _make_step(model, x, train, precision, compile)
    try:
        times, peak_mem = _time_steps(step, dev, num_warmup, num_iters)
    except torch.OutOfMemoryError as e:
        raise MemoryError(
            f"{name}: out of memory at batch size {batch_size}; try a smaller --batch-size"
        ) from e
    except RuntimeError as e:
        if "size" in str(e).lower() or "shape" in str(e).lower():
            raise ValueError(f"{name} cannot run on a {c}x{h}x{w} input: {e}") from e
        raise
    latency_ms = [t * 1e3 for t in times]
    img_s = [batch_size / t if t > 0 else math.inf for t in times]
    return dict(
        model=name,
        device=str(dev),
        mode="train" if train else "infer",
        batch_size=batch_size,
        input_size=[c, h, w],
        precision=precision,
        amp=precision != "fp32",
        amp_dtype=str(precision_dtype(precision)).replace("torch.", "") if precision != "fp32" else None,
        channels_last=channels_last,
        compile=compile,
        reparameterized=reparameterize,
        params=sum(p.numel() for p in model.parameters()),
        num_warmup=num_warmup,
        num_iters=num_iters,
        img_per_s=dict(overall=batch_size * num_iters / sum(times), **_spread(img_s)),
        latency_ms=_spread(latency_ms),
        **peak_mem,
    )


def format_benchmarks(results: list[dict[str, Any]]) -> str:
    """Table of several `benchmark_model` results, one row per model."""
    header = [
        "model",
        "mode",
        "device",
        "batch",
        "input",
        "img/s (overall ± std)",
        "ms/batch (median [min-max])",
        "peak MB (+run)",
    ]
    rows = []
    for r in results:
        ips, lat = r["img_per_s"], r["latency_ms"]
        flags = [
            f
            for f, on in (
                (r["precision"], r["precision"] != "fp32"),
                ("cl", r["channels_last"]),
                ("compile", r["compile"]),
            )
            if on
        ]
        rows.append(
            [
                r["model"],
                r["mode"] + (f" ({','.join(flags)})" if flags else ""),
                r["device"],
                str(r["batch_size"]),
                "x".join(map(str, r["input_size"][1:])),
                f"{ips['overall']:.1f} ± {ips['std']:.1f}",
                f"{lat['median']:.2f} [{lat['min']:.2f}-{lat['max']:.2f}]",
                f"{r['peak_memory_mb']:.0f} (+{r['peak_memory_above_start_mb']:.0f})",
            ]
        )
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(len(header))]
    right = {3, 5, 6, 7}

    def fmt(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(wd) if i in right else c.ljust(wd) for i, (c, wd) in enumerate(zip(cells, widths))
        )

    return "\n".join([fmt(header), "  ".join("-" * wd for wd in widths), *(fmt(r) for r in rows)])
