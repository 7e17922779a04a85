"""`visionzoo predict`: top-k labels for images, as a table, CSV or JSON."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any

from . import CliError
from ._common import add_fast_options, plan_line, printable

# show a progress bar (stderr) when there are more images than this
_PROGRESS_MIN_IMAGES = 64


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "predict",
        help="classify images with a pretrained model",
        description="Classify images (files or folders, searched recursively) and print the top-k labels.",
        epilog="example: visionzoo predict tf_efficientnet_lite0 --sample",
    )
    p.add_argument("model", help="model name, e.g. tf_efficientnet_lite0 or resnet50.a1_in1k")
    p.add_argument("images", nargs="*", metavar="IMAGE_OR_FOLDER", help="image files or folders")
    p.add_argument(
        "--sample",
        nargs="?",
        const="chelsea",
        default=None,
        metavar="NAME",
        help="also classify a bundled sample photo: chelsea (a cat, the default) or coffee",
    )
    p.add_argument("--topk", type=int, default=5, help="answers per image (default 5)")
    p.add_argument("--batch-size", type=int, default=32, help="images per forward pass (default 32)")
    p.add_argument("--output", choices=("table", "csv", "json"), default="table", help="output format")
    p.add_argument("--json", dest="output", action="store_const", const="json", help="same as --output json")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: the best available)")
    p.add_argument(
        "--checkpoint", default=None, metavar="PATH", help="load your own checkpoint into the model"
    )
    p.add_argument(
        "--pretrained",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="load the model's pretrained weights (default: yes, unless --checkpoint gives the weights)",
    )
    p.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    add_fast_options(p)
    p.add_argument(
        "-j",
        "--num-workers",
        type=int,
        default=None,
        help="processes decoding images (default: none for a few images, else one per two cores)",
    )
    return p


def _format_table(results: list[Any]) -> str:
    lines = []
    for res in results:
        lines.append(printable(res.source))
        labels = [printable(label) for label, _ in res]
        width = max(len(label) for label in labels)
        for rank, (label, (_, prob)) in enumerate(zip(labels, res), start=1):
            lines.append(f"  {rank:>2}. {label:<{width}}  {100 * prob:6.2f}%")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import warnings

    from ..data import sample_image_path
    from ..data.datasets import UnreadableImageWarning
    from ..inference import predict
    from ..utils.device import resolve_device

    images: list[str] = list(args.images)
    if args.sample:
        images.append(str(sample_image_path(args.sample)))
    if not images:
        raise CliError("give at least one image or folder (or --sample to use a bundled photo)")
    if args.topk < 1:
        raise CliError(f"--topk must be at least 1, got {args.topk}")
    if args.batch_size < 1:
        raise CliError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.device is not None:
        resolve_device(args.device)
    if args.num_workers is not None and args.num_workers < 0:
        raise CliError(f"--num-workers must be at least 0, got {args.num_workers}")

    def warn_line(message, category, filename, lineno, file=None, line=None):  # one line, no source echo
        print(f"visionzoo predict: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("always", UnreadableImageWarning)
        warnings.showwarning = warn_line
        results = predict(
            args.model,
            images,
            topk=args.topk,
            batch_size=args.batch_size,
            device=args.device,
            pretrained=args.pretrained and args.checkpoint is None,  # the checkpoint replaces them
            checkpoint_path=args.checkpoint,
            progress=not args.no_progress and _count_hint(images) > _PROGRESS_MIN_IMAGES,
            precision=args.precision,
            compile=args.compile,
            fast=args.fast,
            calibration=args.calibration,
            num_workers=args.num_workers,
        )
    print(plan_line("predict", results.plan), file=sys.stderr)

    if args.output == "json":
        print(json.dumps([r.to_dict() for r in results], indent=2))
    elif args.output == "csv":
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(["image", "rank", "label", "index", "probability"])
        for r in results:
            for rank, ((label, prob), idx) in enumerate(zip(r, r.indices), start=1):
                w.writerow([printable(r.source), rank, printable(label), idx, f"{prob:.6f}"])
    else:
        print(_format_table(results))
    return 0


def _count_hint(images: list[str]) -> int:
    """Rough number of images (folders counted by their image files), to decide on a progress bar."""
    from pathlib import Path

    from ..data.datasets import find_images

    n = 0
    for s in images:
        p = Path(s)
        n += len(find_images(p)) if p.is_dir() else 1
    return n
