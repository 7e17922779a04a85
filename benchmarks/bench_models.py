"""Side-by-side speed of visionzoo and timm models on the same weights, in one process.

For each model: inference img/s at batch 1 and batch 16, and training-step img/s (forward, backward,
SGD step), eager fp32. Runs alternate between the two libraries so both see the same machine load;
the ratio column is visionzoo / timm (above 1.0 = visionzoo faster).

Usage: python benchmarks/bench_models.py [--models resnet50 vit_small_patch16_224 ...] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import visionzoo

DEFAULT_MODELS = [
    "resnet50",
    "vit_small_patch16_224",
    "vit_base_patch16_224",
    "swin_tiny_patch4_window7_224",
    "efficientnet_b0",
    "tf_efficientnet_lite0",
    "mobilenetv3_large_100",
    "convnext_tiny",
    "regnety_040",
]


def _time(fn, iters: int) -> float:
    t = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - t) / iters


def _infer_step(model, x):
    def step():
        with torch.inference_mode():
            model(x)

    return step


def _train_step(model, x):
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)
    target = torch.zeros(x.shape[0], dtype=torch.long)

    def step():
        out = model(x)
        out = out[0] if isinstance(out, tuple) else out
        loss = torch.nn.functional.cross_entropy(out, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def bench(arch: str, repeats: int, train_batch: int) -> list[tuple[str, float, float]]:
    import timm

    theirs = timm.create_model(arch)
    ours = visionzoo.create_model(arch)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    size = tuple(visionzoo.get_pretrained_cfg(arch).input_size)
    rows = []
    for label, batch, train in (
        ("infer b1", 1, False),
        ("infer b16", 16, False),
        (f"train b{train_batch}", train_batch, True),
    ):
        x = torch.randn(batch, *size)
        steps = {}
        for name, m in (("vz", ours), ("timm", theirs)):
            m.train(train)
            steps[name] = (_train_step if train else _infer_step)(m, x)
            steps[name]()  # warm-up
            steps[name]()
        one = _time(steps["vz"], 1)
        iters = max(1, min(20, int(1.0 / max(one, 1e-3))))
        t_vz, t_timm = [], []
        for _ in range(repeats):
            t_vz.append(_time(steps["vz"], iters))
            t_timm.append(_time(steps["timm"], iters))
        rows.append((label, batch / statistics.median(t_vz), batch / statistics.median(t_timm)))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--train-batch", type=int, default=16)
    args = ap.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, eager fp32, median of {args.repeats}"
    )
    print("| model | run | visionzoo img/s | timm img/s | ratio |\n|---|---|---:|---:|---:|")
    for arch in args.models:
        for label, vz, tm in bench(arch, args.repeats, args.train_batch):
            print(f"| {arch} | {label} | {vz:.1f} | {tm:.1f} | {vz / tm:.2f} |", flush=True)


if __name__ == "__main__":
    main()
