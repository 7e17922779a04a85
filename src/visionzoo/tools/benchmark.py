"""`benchmark_model`: throughput, latency and peak memory of inference or training steps."""

from __future__ import annotations

import contextlib
import math
import resource
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ._common import model_input_size, parse_img_size, size_kwargs

__all__ = ["benchmark_model", "format_benchmarks"]


def _check_count(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def _resolve_device(device: Any) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"unknown device {device!r}: {e}") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but CUDA is not available on this machine")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"benchmarks run on 'cpu' or 'cuda', not {dev.type!r}")
    return dev


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


def benchmark_model(
    model: str | nn.Module,
    batch_size: int = 32,
    img_size: int | tuple[int, int] | str | None = None,
    device: str | torch.device = "cpu",
    amp: bool = False,
    amp_dtype: str | torch.dtype | None = None,
    channels_last: bool = False,
    compile: bool = False,
    train: bool = False,
    num_warmup: int = 3,
    num_iters: int = 10,
) -> dict[str, Any]:
    """Time `num_iters` batches after `num_warmup` untimed ones; random weights and inputs.

    Inference runs under `torch.inference_mode`; `train=True` times full steps (forward, loss,
    backward, SGD update). `amp` uses autocast (float16 on CUDA, bfloat16 on CPU unless `amp_dtype`
    says otherwise). Returns img/s and per-batch latency (ms), each with mean/std/min/median/max,
    and peak memory from the first warm-up batch on: `peak_memory_mb` (CUDA: max allocated; CPU:
    peak resident set of the process) and `peak_memory_above_start_mb` (the part above the level
    before the first batch: activations, gradients, optimizer state).
    """
    batch_size = _check_count("batch_size", batch_size, 1)
    num_warmup = _check_count("num_warmup", num_warmup, 0)
    num_iters = _check_count("num_iters", num_iters, 1)
    dev = _resolve_device(device)
    hw = parse_img_size(img_size) if img_size is not None else None
    if amp_dtype is None:
        amp_dtype = torch.float16 if dev.type == "cuda" else torch.bfloat16
    elif isinstance(amp_dtype, str):
        if amp_dtype not in ("float16", "bfloat16"):
            raise ValueError(f"amp_dtype must be 'float16' or 'bfloat16', got {amp_dtype!r}")
        amp_dtype = getattr(torch, amp_dtype)

    if isinstance(model, str):
        from ..factory import create_model
        from ..registry import get_pretrained_cfg

        name = model
        c = get_pretrained_cfg(name).input_size[0]
        size = (c, *hw) if hw else None
        model = create_model(name, **size_kwargs(name, size))
    elif isinstance(model, nn.Module):
        name = type(model).__name__
    else:
        raise TypeError(f"model must be a model name or an nn.Module, got {type(model).__name__}")
    c, h, w = model_input_size(model)
    if hw:
        h, w = hw
    model = model.to(dev)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    if channels_last:
        model = model.to(memory_format=memory_format)
    model.train(train)
    num_params = sum(p.numel() for p in model.parameters())
    step_model: Any = torch.compile(model) if compile else model

    x = torch.randn(batch_size, c, h, w, device=dev).contiguous(memory_format=memory_format)  # [B, C, H, W]
    autocast = torch.autocast(dev.type, dtype=amp_dtype) if amp else contextlib.nullcontext()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-5) if train else None

    def step() -> None:
        if optimizer is None:
            with torch.inference_mode(), autocast:
                step_model(x)
            return
        with autocast:
            out = step_model(x)
            loss = (
                out.float().square().mean()
                if isinstance(out, torch.Tensor)
                else sum(o.float().mean() for o in out)
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    # memory is watched from before the first batch, so activations, gradients and optimizer state
    # count even when the warm-up already allocated them
    sync()
    cpu_mem = _CpuPeakMemory()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
        base_alloc = torch.cuda.memory_allocated(dev)
    else:
        cpu_mem.start()
    try:
        for _ in range(num_warmup):
            step()
        sync()
        times = []
        for _ in range(num_iters):
            t0 = time.perf_counter()
            step()
            sync()
            times.append(time.perf_counter() - t0)
    except torch.OutOfMemoryError as e:
        raise MemoryError(
            f"{name}: out of memory at batch size {batch_size}; try a smaller --batch-size"
        ) from e
    except RuntimeError as e:
        if "size" in str(e).lower() or "shape" in str(e).lower():
            raise ValueError(f"{name} cannot run on a {c}x{h}x{w} input: {e}") from e
        raise
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated(dev)
        peak_mem = dict(peak_memory_mb=peak / 2**20, peak_memory_above_start_mb=(peak - base_alloc) / 2**20)
    else:
        peak_mem = dict(
            peak_memory_mb=cpu_mem.peak_rss_bytes() / 2**20,
            peak_memory_above_start_mb=cpu_mem.peak_bytes() / 2**20,
        )
    latency_ms = [t * 1e3 for t in times]
    img_s = [batch_size / t if t > 0 else math.inf for t in times]
    return dict(
        model=name,
        device=str(dev),
        mode="train" if train else "infer",
        batch_size=batch_size,
        input_size=[c, h, w],
        amp=bool(amp),
        amp_dtype=str(amp_dtype).replace("torch.", "") if amp else None,
        channels_last=bool(channels_last),
        compile=bool(compile),
        params=num_params,
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
            f for f, on in (("amp", r["amp"]), ("cl", r["channels_last"]), ("compile", r["compile"])) if on
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
