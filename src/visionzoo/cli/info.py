"""`visionzoo info MODEL`: parameters, GMACs/GFLOPs, preprocessing, feature maps and pretrained tags."""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "info",
        help="parameters, compute, preprocessing, features and tags of a model",
        description="Describe a model: parameter count, GMACs/GFLOPs (torch's flop counter) at the default "
        "or given input size, preprocessing, feature_info and pretrained tags (licence, labels, top-1).",
    )
    p.add_argument("model", metavar="MODEL", help="model name, optionally with a tag: arch or arch.tag")
    p.add_argument(
        "--input-size", nargs="+", metavar="N", help="count compute at C H W instead of the default"
    )
    p.add_argument("--no-flops", action="store_true", help="skip the GMACs/GFLOPs count")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    return p


def run(args: argparse.Namespace) -> int:
    from ..tools._common import parse_input_size
    from ..tools.info import format_info, model_info

    size = parse_input_size(args.input_size) if args.input_size else None
    info = model_info(args.model, input_size=size, count_compute=not args.no_flops)
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0
