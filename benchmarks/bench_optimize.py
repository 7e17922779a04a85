"""Inference speed of `visionzoo.optimize` beside eager timm and eager visionzoo, in one process.

For each model and batch size: img/s of eager fp32 timm, eager fp32 visionzoo (same weights), and
`optimize(model, precision)` at each precision with its automatic choices (BatchNorm folding,
channels-last, compile). Timed runs alternate between the variants so all see the same machine load;
each figure is the median of --repeats timed runs; ratios are over eager fp32 timm and over timm's
best settings (channels-last + torch.compile + bf16 autocast where bf16 is measured), and over timm's best
settings at the row's own precision (fp32 rows: channels-last + compile in fp32). The first-call
column is the time of the first forward at that batch size (compilation included).

--cache-check ARCH compiles ARCH in two fresh processes that share one new Inductor cache directory,
and prints how long optimize() plus the first forward took in each.

Usage: python benchmarks/bench_optimize.py [--models resnet50 ...] [--batch-sizes 16 1] [--repeats 5]
       python benchmarks/bench_optimize.py --cache-check efficientnet_b0
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

import visionzoo
from visionzoo.fast_inference import optimize

DEFAULT_MODELS = [
    "resnet50",
    "convnext_tiny",
    "efficientnet_b0",
    "tf_efficientnet_lite0",
    "vit_small_patch16_224",
    "swin_tiny_patch4_window7_224",
]


class _TimmBest(torch.nn.Module):
    """timm's best settings by hand: channels-last weights and input, torch.compile, bf16 autocast."""

    def __init__(self, model: torch.nn.Module, device: str, dtype: torch.dtype | None) -> None:
        super().__init__()
        self.device_type, self.dtype = device, dtype
        self.model = torch.compile(model.to(memory_format=torch.channels_last))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        if self.dtype is None:
            return self.model(x)
        with torch.autocast(self.device_type, dtype=self.dtype):
            return self.model(x)


def _default_precisions(device: str) -> list[str]:
    from visionzoo.fast_inference import cpu_supports_bf16

    if device == "cuda":
        return ["fp32", "bf16", "fp16"]
    return ["fp32", "bf16"] if cpu_supports_bf16() else ["fp32"]


def _timed(fn, iters: int) -> float:
    t = time.perf_counter()
    for _ in range(iters):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / iters


def _eager(model, x):
    def step():
        with torch.inference_mode():
            model(x)

    return step


def bench(
    arch: str,
    batch_sizes: list[int],
    precisions: list[str],
    repeats: int,
    device: str,
    timm_best: bool = True,
) -> list[dict]:
    import timm

    theirs = timm.create_model(arch).eval().to(device)
    ours = visionzoo.create_model(arch).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    ours.to(device)
    size = tuple(visionzoo.get_pretrained_cfg(arch).input_size)
    variants: dict[str, torch.nn.Module] = {"timm eager": theirs, "visionzoo eager": ours}
    if timm_best:
        best_dtype = None if "bf16" not in precisions else torch.bfloat16
        if device == "cuda" and "fp16" in precisions:
            best_dtype = torch.float16
        variants["timm best"] = _TimmBest(copy.deepcopy(theirs), device, best_dtype)
        if best_dtype is not None and "fp32" in precisions:  # the fp32 rows' own yardstick
            variants["timm best fp32"] = _TimmBest(copy.deepcopy(theirs), device, None)
    plans = {}
    for p in precisions:
        t = time.perf_counter()
        try:
            # int8 speed does not depend on what it was calibrated on: a batch of the model's input size
            calib = [torch.randn(16, *size)] if p == "int8" else None
            fast = optimize(ours, p, device=device, calibration=calib)
        except (ValueError, RuntimeError) as e:  # e.g. int8 refused for a model it lowers wrongly
            print(f"{arch} {p}: {e}", file=sys.stderr, flush=True)
            continue
        plans[p] = (fast.plan, time.perf_counter() - t)
        variants[f"optimize {p}"] = fast
    rows = []
    for batch in batch_sizes:
        x = torch.randn(batch, *size, device=device)
        steps, first = {}, {}
        for name, model in variants.items():
            steps[name] = _eager(model, x)
            first[name] = _timed(steps[name], 1)  # compiles a compiled variant for this shape
            steps[name]()
        one = min(_timed(steps["timm eager"], 1), 5.0)
        iters = max(1, min(20, int(1.0 / max(one, 1e-3))))
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(repeats):
            for name, step in steps.items():
                times[name].append(_timed(step, iters))
        base = statistics.median(times["timm eager"])
        best = statistics.median(times["timm best"]) if "timm best" in times else float("nan")
        best_fp32 = statistics.median(times["timm best fp32"]) if "timm best fp32" in times else best
        for name in variants:
            med = statistics.median(times[name])
            same = best_fp32 if name in ("optimize fp32", "timm best fp32", "visionzoo eager") else best
            plan = plans.get(name.removeprefix("optimize "), (None, 0.0))[0]
            how = plan.summary() if plan is not None else ""
            rows.append(
                dict(
                    arch=arch,
                    batch=batch,
                    variant=name,
                    img_s=batch / med,
                    ratio=base / med,
                    vs_best=best / med,
                    vs_same=same / med,
                    first_s=first[name],
                    how=how,
                )
            )
    return rows


def _first_call(arch: str, precision: str) -> None:
    """Child process of --cache-check: time optimize() + the first forward, print JSON."""
    size = tuple(visionzoo.get_pretrained_cfg(arch).input_size)
    model = visionzoo.create_model(arch).eval()
    t = time.perf_counter()
    fast = optimize(model, precision)
    fast(torch.randn(16, *size))
    print(json.dumps(dict(seconds=time.perf_counter() - t, compiled=fast.plan.compiled)))


def cache_check(arch: str, precision: str) -> None:
    with tempfile.TemporaryDirectory(prefix="inductor-cache-") as cache:
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}
        cmd = [sys.executable, __file__, "--first-call", arch, "--precision", precision]
        for label in ("first process (empty cache)", "second process (warm cache)"):
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
            res = json.loads(out.strip().splitlines()[-1])
            print(
                f"{arch} {precision}, {label}: optimize() + first forward {res['seconds']:.1f} s", flush=True
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    ap.add_argument("--batch-sizes", nargs="+", type=int, default=[16, 1])
    ap.add_argument("--precisions", nargs="+", default=None)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--cache-check", metavar="ARCH")
    ap.add_argument("--first-call", metavar="ARCH", help=argparse.SUPPRESS)
    ap.add_argument("--precision", default="fp32", help="precision of --cache-check")
    args = ap.parse_args()
    if args.first_call:
        return _first_call(args.first_call, args.precision)
    if args.cache_check:
        return cache_check(args.cache_check, args.precision)
    precisions = args.precisions or _default_precisions(args.device)
    # every family shares one forward function, and Dynamo's recompile limit counts per function: this
    # process compiles models x precisions x batch sizes graphs, more than the default 8
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.device}, median of {args.repeats}"
    )
    print(
        "| model | batch | variant | img/s | vs timm eager | vs timm best | vs timm best, same precision "
        "| first call s | applied |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---|")
    for arch in args.models:
        for r in bench(arch, args.batch_sizes, precisions, args.repeats, args.device):
            print(
                f"| {r['arch']} | {r['batch']} | {r['variant']} | {r['img_s']:.1f} | {r['ratio']:.2f} | {r['vs_best']:.2f} | {r['vs_same']:.2f} | "
                f"{r['first_s']:.1f} | {r['how']} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
