"""`visionzoo benchmark MODEL...`: img/s, latency and peak memory, several models in one table."""

from __future__ import annotations

import argparse
import json
import sys

from . import CliError
from ._common import add_img_size, add_precision, plan_line


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "benchmark",
        help="throughput, latency and peak memory of one or more models",
        description="Time inference (or training steps with --train) with random weights and inputs, after "
        "warm-up, over repeated runs; reports img/s and ms per batch with their spread and peak memory.",
    )
    p.add_argument("models", nargs="+", metavar="MODEL", help="model names")
    p.add_argument("--batch-size", type=int, default=32, help="images per batch (default: 32)")
    add_img_size(p)
    p.add_argument("--device", default=None, help="cpu or cuda[:N] (default: cuda when available)")
    add_precision(p, legacy_amp=False)
    # the old spelling: --amp (float16 on CUDA, bfloat16 on CPU) [--amp-dtype float16|bfloat16]
    p.add_argument("--amp", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--amp-dtype", choices=["float16", "bfloat16"], default=None, help=argparse.SUPPRESS)
    p.add_argument("--channels-last", action="store_true", help="channels-last memory format")
    p.add_argument("--compile", action="store_true", help="torch.compile the model first")
    p.add_argument(
        "--fast",
        action="store_true",
        help="time the model as visionzoo.optimize prepares it (its automatic choices; --precision "
        "default: the fastest the device computes in; --compile forces compilation)",
    )
    p.add_argument(
        "--reparameterize",
        action="store_true",
        help="fold multi-branch blocks first (RepVGG, MobileOne, HGNet)",
    )
    p.add_argument("--train", action="store_true", help="time training steps (forward, backward, SGD update)")
    p.add_argument("--num-warmup", type=int, default=3, help="untimed batches first (default: 3)")
    p.add_argument("--num-iters", type=int, default=10, help="timed batches (default: 10)")
    p.add_argument("--json", action="store_true", help="print a JSON list of results")
    return p


def run(args: argparse.Namespace) -> int:
    import torch

    from ..registry import resolve_model_name
    from ..tools.benchmark import benchmark_model, format_benchmarks
    from ..utils.checks import check_int
    from ..utils.device import resolve_device

    # check everything before spending time on the first model
    for name in args.models:
        resolve_model_name(name, warn=False)
    device = resolve_device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    check_int("batch_size", args.batch_size, 1)
    check_int("num_iters", args.num_iters, 1)
    check_int("num_warmup", args.num_warmup, 0)
    # --precision, or the old --amp [--amp-dtype] spelling
    precision = (
        dict(precision=args.precision)
        if args.precision is not None
        else dict(amp=args.amp, amp_dtype=args.amp_dtype)
    )
    if args.fast and (args.channels_last or args.train or args.amp or args.amp_dtype):
        raise CliError("--fast makes its own choices: leave out --channels-last, --train and --amp")
    results = []
    for name in args.models:
        if not args.json:
            print(f"benchmarking {name} ...", file=sys.stderr, flush=True)
        model = name
        if args.fast:
            model = _optimized(name, args.precision, args.compile or None, device, args.img_size)
            print(plan_line("benchmark", model.plan), file=sys.stderr, flush=True)
            precision, compile_flag = {}, False  # autocast and compilation happen inside the model
        else:
            compile_flag = args.compile
        result = benchmark_model(
            model,
            batch_size=args.batch_size,
            img_size=args.img_size,
            device=device,
            **precision,
            channels_last=args.channels_last,
            compile=compile_flag,
            reparameterize=args.reparameterize,
            train=args.train,
            num_warmup=args.num_warmup,
            num_iters=args.num_iters,
        )
        if args.fast:
            result.update(
                model=name,
                precision=model.plan.precision,
                compile=model.plan.compiled,
                channels_last=model.plan.channels_last,
                optimized=True,
            )
        results.append(result)
    print(json.dumps(results, indent=2) if args.json else format_benchmarks(results))
    return 0


def _optimized(name: str, precision: str | None, compile: bool | None, device, img_size) -> object:
    """`name` with random weights, prepared by `visionzoo.optimize` (--fast)."""
    from ..fast_inference import fastest_precision, optimize
    from ..tools._common import model_input_size, tool_model

    _, model = tool_model(name, img_size)  # random weights, built for the input size
    input_size = None if img_size is None else (model_input_size(model)[0], *img_size)
    return optimize(
        model,
        precision or fastest_precision(device),
        compile=compile,
        device=device,
        input_size=input_size,
        inplace=True,
    )
