"""`visionzoo validate`: accuracy, loss, per-class accuracy and throughput of a model on a dataset."""

from __future__ import annotations

import argparse
import csv
import json
import sys

from ._common import add_fast_options, add_img_size, plan_line, printable


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "validate",
        help="evaluate a model on an image folder",
        description="Top-1/top-5 accuracy, loss, per-class accuracy and img/s of MODEL on DATA.",
    )
    p.add_argument("model", help="model name, 'local-dir:RUN_FOLDER' or 'hf-hub:org/repo'")
    p.add_argument("--data", required=True, help="dataset root (class folders) or list file")
    p.add_argument("--split", default="val", help="sub-folder or list of DATA to use ('' for DATA itself)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--checkpoint", help="weights to evaluate")
    src.add_argument("--pretrained", action="store_true", help="evaluate the pretrained weights")
    p.add_argument("-b", "--batch-size", type=int, default=64)
    p.add_argument("-j", "--num-workers", type=int, default=2)
    add_img_size(p)
    add_fast_options(p, legacy_amp=True)
    p.add_argument("--device", default=None)
    p.add_argument(
        "--exif-transpose",
        action="store_true",
        help="turn images upright by their EXIF Orientation tag (default off, as timm)",
    )
    p.add_argument("--output", choices=("table", "json", "csv"), default="table")
    p.add_argument("--json", action="store_true", help="same as --output json")
    p.add_argument("--results-file", help="also write the results (JSON or CSV by extension) here")
    return p


def run(args: argparse.Namespace) -> int:
    from ..train.evaluate import validate
    from ..utils.device import resolve_device

    if args.device is not None:
        resolve_device(args.device)

    res = validate(
        args.model,
        args.data,
        split=args.split or None,
        checkpoint_path=args.checkpoint,
        pretrained=args.pretrained,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        amp=args.amp,  # the old --amp spelling: eager autocast
        device=args.device,
        img_size=args.img_size,
        exif_transpose=args.exif_transpose,
        precision=args.precision,
        compile=args.compile,
        fast=args.fast,
        calibration=args.calibration,
    )
    print(plan_line("validate", res.plan), file=sys.stderr)
    out = dict(model=args.model, **res.to_dict())
    fmt = "json" if args.json else args.output
    if args.results_file:
        _write(out, args.results_file)
    if fmt == "json":
        print(json.dumps(out, indent=2))
    elif fmt == "csv":
        _csv(out, sys.stdout)
    else:
        print(
            f"{args.model}: top-1 {res.top1:.2f}%  top-5 {res.top5:.2f}%  loss {res.loss:.4f}  "
            f"{res.num_images} images  {res.img_per_sec:.1f} img/s"
        )
        if res.skipped:
            print(f"skipped unreadable images: {res.skipped}")
        names = {printable(c): acc for c, acc in res.per_class.items()}
        width = max((len(c) for c in names), default=5)
        print(f"{'class':<{width}}  top-1")
        for c, acc in names.items():
            print(f"{c:<{width}}  {acc:6.2f}%")
    return 0


def _csv(out: dict, f) -> None:
    w = csv.writer(f)
    w.writerow(["model", "class", "top1", "top5", "loss", "num_images", "img_per_sec"])
    w.writerow(
        [out["model"], "(all)", out["top1"], out["top5"], out["loss"], out["num_images"], out["img_per_sec"]]
    )
    for c, acc in out["per_class"].items():
        w.writerow([out["model"], printable(c), acc, "", "", "", ""])


def _write(out: dict, path: str) -> None:
    from pathlib import Path

    from ..utils.files import atomic_write

    target = Path(path)
    if not target.parent.exists():
        raise FileNotFoundError(f"cannot write results: folder {target.parent} does not exist")
    with atomic_write(target, newline="") as f:
        if target.suffix.lower() == ".csv":
            _csv(out, f)
        else:
            json.dump(out, f, indent=2)
