"""`visionzoo benchmark MODEL...`: img/s, latency and peak memory, several models in one table."""

from __future__ import annotations

import argparse
import json
import sys

from ._common import add_img_size, add_precision


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
    results = []
    for name in args.models:
        if not args.json:
            print(f"benchmarking {name} ...", file=sys.stderr, flush=True)
        results.append(
            benchmark_model(
                name,
                batch_size=args.batch_size,
                img_size=args.img_size,
                device=device,
                **precision,
                channels_last=args.channels_last,
                compile=args.compile,
                reparameterize=args.reparameterize,
                train=args.train,
                num_warmup=args.num_warmup,
                num_iters=args.num_iters,
            )
        )
    print(json.dumps(results, indent=2) if args.json else format_benchmarks(results))
    return 0
