"""`visionzoo summary MODEL`: layer table with output shapes and parameter counts."""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "summary",
        help="layer table with output shapes and parameter counts",
        description="Run one forward pass with random weights and list every module (up to --depth levels) "
        "with its output shape and parameter count.",
    )
    p.add_argument("model", metavar="MODEL", help="model name")
    p.add_argument("--input-size", nargs="+", metavar="N", help="input C H W (default: the model's)")
    p.add_argument("--depth", type=int, default=3, help="module nesting levels to show (default: 3)")
    p.add_argument("--batch-size", type=int, default=1, help="batch size of the example input (default: 1)")
    p.add_argument(
        "--features-only", action="store_true", help="summarise the features_only feature extractor"
    )
    p.add_argument("--device", default="cpu", help="device to run on (default: cpu)")
    p.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], default=None, help="model dtype")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    return p


def run(args: argparse.Namespace) -> int:
    import torch

    from ..tools._common import parse_input_size
    from ..tools.summary import model_summary
    from ..utils.device import resolve_device

    size = parse_input_size(args.input_size) if args.input_size else None
    device = resolve_device(args.device)
    dtype = getattr(torch, args.dtype) if args.dtype else None
    summary = model_summary(
        args.model,
        input_size=size,
        depth=args.depth,
        batch_size=args.batch_size,
        features_only=args.features_only,
        device=device,
        dtype=dtype,
    )
    print(json.dumps(summary.to_dict(), indent=2) if args.json else summary)
    return 0
