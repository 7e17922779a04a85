"""Side-by-side speed of visionzoo and timm models on the same weights, in one process.

For each model: inference and training-step img/s (forward, backward, SGD step) at each batch size,
eager fp32. Runs alternate between the two libraries so both see the same machine load; the ratio
column is visionzoo / timm (above 1.0 = visionzoo faster). With `--reparameterize`, models that have
re-parameterisable blocks get extra inference rows with both libraries' branches folded.

Usage: python benchmarks/bench_models.py [--models resnet50 ...] [--batches 1 16] [--repeats 5]
       [--threads N] [--reparameterize] [--out results.md]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterator

import torch

import visionzoo
from visionzoo.layers.reparam import is_reparameterizable

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


def _time(fn: Callable[[], None], iters: int) -> float:
    t = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - t) / iters


def _infer_step(model: torch.nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        with torch.inference_mode():
            model(x)

    return step


def _train_step(model: torch.nn.Module, x: torch.Tensor) -> Callable[[], None]:
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)
    target = torch.zeros(x.shape[0], dtype=torch.long)

    def step() -> None:
        out = model(x)
        out = out[0] if isinstance(out, tuple) else out
        loss = torch.nn.functional.cross_entropy(out, target)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)  # frees the gradients while the other library runs

    return step


def _side_by_side(
    ours: torch.nn.Module, theirs: torch.nn.Module, x: torch.Tensor, train: bool, repeats: int
) -> tuple[float, float]:
    """Median img/s of (ours, theirs) on `x`, timed in alternation."""
    steps = {}
    for name, m in (("vz", ours), ("timm", theirs)):
        m.train(train)
        steps[name] = (_train_step if train else _infer_step)(m, x)
        steps[name]()  # warm-up
    t_vz, t_timm = [_time(steps["vz"], 1)], [_time(steps["timm"], 1)]
    one = t_vz[0]
    if one > 5.0:  # long steps average out their own noise: fewer timed repeats are enough
        repeats = min(repeats, 1 if one > 30.0 else 2)
    else:
        t_vz, t_timm = [], []
    iters = max(1, min(20, int(1.0 / max(one, 1e-3))))
    while len(t_vz) < repeats:
        t_vz.append(_time(steps["vz"], iters))
        t_timm.append(_time(steps["timm"], iters))
    batch = x.shape[0]
    return batch / statistics.median(t_vz), batch / statistics.median(t_timm)


def bench(
    arch: str, repeats: int, batches: list[int], reparameterize: bool = False
) -> Iterator[tuple[str, float, float]]:
    """Rows of (run label, visionzoo img/s, timm img/s) for one architecture.

    `arch@N` builds both models at img_size=N instead of the pretrained input size.
    """
    import timm

    arch, _, img = arch.partition("@")
    extra = {"img_size": int(img)} if img else {}
    theirs = timm.create_model(arch, **extra)
    ours = visionzoo.create_model(arch, **extra)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    size = tuple(visionzoo.get_pretrained_cfg(arch).input_size)
    if img:
        size = (size[0], int(img), int(img))
    for train in (False, True):
        for batch in batches:
            x = torch.randn(batch, *size)
            label = f"{'train' if train else 'infer'} b{batch}"
            try:
                vz, tm = _side_by_side(ours, theirs, x, train, repeats)
            except ValueError as e:  # e.g. BatchNorm on a 1x1 map cannot train at batch 1, in either library
                print(f"{arch} {label}: not measurable: {e}", file=sys.stderr)
                vz = tm = float("nan")
            yield label, vz, tm
    if reparameterize and any(is_reparameterizable(m) for m in ours.modules()):
        from timm.utils.model import reparameterize_model

        ours_f, theirs_f = visionzoo.reparameterize(ours.eval()), reparameterize_model(theirs.eval())
        for batch in batches:
            x = torch.randn(batch, *size)
            vz, tm = _side_by_side(ours_f, theirs_f, x, False, repeats)
            yield f"infer b{batch} folded", vz, tm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 16])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--reparameterize", action="store_true", help="add folded inference rows")
    ap.add_argument("--out", default=None, help="also append the table to this file")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    lines = [
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, eager fp32, median of {args.repeats}",
        "| model | run | visionzoo img/s | timm img/s | ratio |",
        "|---|---|---:|---:|---:|",
    ]
    print("\n".join(lines), flush=True)
    for arch in args.models:
        for label, vz, tm in bench(arch, args.repeats, args.batches, args.reparameterize):
            lines.append(f"| {arch} | {label} | {vz:.2f} | {tm:.2f} | {vz / tm:.2f} |")
            print(lines[-1], flush=True)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n\n")


if __name__ == "__main__":
    main()
