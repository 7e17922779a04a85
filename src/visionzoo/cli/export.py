"""`visionzoo export MODEL --format onnx|torch-export`: write the file, then verify it against the eager model."""

from __future__ import annotations

import argparse
import json

from ._common import add_img_size


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "export",
        help="export to ONNX or torch.export and verify the result",
        description="Export a model and verify the file: the exported model runs on the same input as the "
        "eager model and the command fails if the maximum absolute difference exceeds --tolerance. "
        "The file is written atomically (nothing is left behind on failure). ONNX needs "
        "`pip install visionzoo[export]`.",
    )
    p.add_argument("model", metavar="MODEL", help="model name, optionally with a tag")
    p.add_argument("--format", choices=["onnx", "torch-export"], default="onnx", help="default: onnx")
    p.add_argument("-o", "--output", default=None, help="output file (default: ARCH.onnx / ARCH.pt2 here)")
    p.add_argument(
        "--static-batch",
        action="store_true",
        help="fix the batch dimension to --batch-size (default: dynamic, checked at two batch sizes)",
    )
    p.add_argument("--dynamic-batch", action="store_true", help=argparse.SUPPRESS)  # the old default-off flag
    p.add_argument(
        "--reparameterize",
        action="store_true",
        help="fold multi-branch blocks first (RepVGG, MobileOne, HGNet)",
    )
    p.add_argument("--opset", type=int, default=None, help="ONNX opset version (default: the exporter's)")
    weights = p.add_mutually_exclusive_group()
    weights.add_argument("--pretrained", action="store_true", help="export with the tag's pretrained weights")
    weights.add_argument(
        "--checkpoint", default=None, metavar="PATH", help="export with weights from this file"
    )
    add_img_size(p)
    p.add_argument("--batch-size", type=int, default=1, help="batch size of the example input (default: 1)")
    p.add_argument("--tolerance", type=float, default=1e-4, help="max abs difference allowed (default: 1e-4)")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    return p


def run(args: argparse.Namespace) -> int:
    from ..tools.export import ExportError, export_model
    from . import CliError

    if args.static_batch and args.dynamic_batch:
        raise CliError("--static-batch and --dynamic-batch contradict each other")

    img_size = args.img_size
    try:
        result = export_model(
            args.model,
            output=args.output,
            format=args.format,
            dynamic_batch=not args.static_batch,
            opset=args.opset,
            pretrained=args.pretrained,
            checkpoint_path=args.checkpoint,
            reparameterize=args.reparameterize,
            img_size=img_size,
            batch_size=args.batch_size,
            tolerance=args.tolerance,
        )
    except ExportError as e:
        raise CliError(str(e)) from e
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"wrote {result['path']} ({result['file_size'] / 2**20:.1f} MiB, {result['format']}, "
            f"{'dynamic' if result['dynamic_batch'] else 'static'} batch) in {result['export_s']:.1f} s\n"
            f"verified at batch size(s) {', '.join(map(str, result['checked_batch_sizes']))}: "
            f"max abs difference {result['max_abs_diff']:.3g} <= tolerance {result['tolerance']:g}"
        )
    return 0
