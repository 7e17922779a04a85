"""EVA family side by side with timm: inference and training step at batch 1 and 16, eager fp32.

Uses bench_models.py's timing steps. Runs alternate between the two libraries so both see the same machine
load; ratio = visionzoo / timm img/s (above 1.0 = visionzoo faster). Both models hold the same weights.

Usage: python benchmarks/bench_eva.py [--models eva02_base_patch14_224 vit_base_patch16_dinov3] [--repeats 3]
       [--batches 1 16] [--img-size 112]
"""

from __future__ import annotations

import argparse
import statistics

import torch
from bench_models import _infer_step, _time, _train_step

import visionzoo

DEFAULT_MODELS = ["eva02_base_patch14_224", "vit_base_patch16_dinov3"]


def bench(
    arch: str, repeats: int, num_classes: int, batches: list[int], img_size: int | None = None
) -> list[tuple[str, float, float]]:
    import timm

    size = tuple(visionzoo.get_pretrained_cfg(arch).input_size)
    extra = {}
    if img_size is not None:
        size, extra = (size[0], img_size, img_size), dict(img_size=img_size)
    theirs = timm.create_model(arch, num_classes=num_classes, **extra)
    ours = visionzoo.create_model(arch, num_classes=num_classes, **extra)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    rows = []
    for kind, batch in [(k, b) for k in ("infer", "train") for b in batches]:
        x = torch.randn(batch, *size)
        steps = {}
        for name, m in (("vz", ours), ("timm", theirs)):
            m.train(kind == "train")
            steps[name] = (_train_step if kind == "train" else _infer_step)(m, x)
            one = _time(steps[name], 1)  # warm-up
        iters = max(1, min(20, int(1.0 / max(one, 1e-3))))
        t_vz, t_timm = [], []
        for _ in range(repeats):
            t_vz.append(_time(steps["vz"], iters))
            t_timm.append(_time(steps["timm"], iters))
        rows.append(
            (
                f"{kind} b{batch} {size[-1]}px",
                batch / statistics.median(t_vz),
                batch / statistics.median(t_timm),
            )
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--num-classes", type=int, default=1000, help="classifier for the training step")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--img-size", type=int, default=None, help="input side (default: the pretrained cfg's)")
    args = ap.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, eager fp32, median of {args.repeats}"
    )
    print("| model | run | visionzoo img/s | timm img/s | ratio |\n|---|---|---:|---:|---:|")
    for arch in args.models:
        for label, vz, tm in bench(arch, args.repeats, args.num_classes, args.batches, args.img_size):
            print(f"| {arch} | {label} | {vz:.2f} | {tm:.2f} | {vz / tm:.2f} |", flush=True)


if __name__ == "__main__":
    main()
