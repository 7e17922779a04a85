"""End to end: `visionzoo.predict` on a folder of real-size JPEGs against timm's own data pipeline.

    PYTHONPATH=src python benchmarks/bench_predict.py [--images 300] [--repeats 3] [--batch-size 32]

The folder: ~300 JPEGs of 500-800 px made from the bundled CC0 photos by random crops, flips and
resizes, written to a temp folder. Model: resnet50 with random weights. Rows, alternated over the
repeats, each in a fresh process (so peak memory is its own):

- timm eager fp32: `timm.data.create_dataset` + `create_loader` (2 workers) + the model.
- timm best: the same pipeline, model channels-last + torch.compile + bf16 autocast.
- visionzoo eager fp32: `visionzoo.predict(model, folder)`.
- visionzoo fast: `visionzoo.predict` with `optimize(NormalizedModel(model), 'bf16')`, which is what
  `visionzoo predict --fast` builds (the model is passed in so that its compiled code is reused).
- visionzoo int8: the same with `optimize(..., 'int8', calibration=FOLDER)`, calibrated on 32 other
  JPEGs made the same way (`visionzoo predict --precision int8 --calibration FOLDER`).

Each process runs the pipeline once untimed on one batch of images (compilation happens there),
then times one pass over the whole folder. Reports img/s (median over repeats, with all runs),
the peak resident memory of the main process and of the biggest worker, and the machine's load average.
A last section times `visionzoo predict` (the CLI) end to end in a fresh process, startup and compilation
included, and the decode + resize cost per image with and without JPEG draft decoding.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROWS = ("timm_eager", "vz_eager", "timm_best", "vz_fast", "vz_int8")
CALIBRATION_IMAGES = 32


def make_folder(root: Path, count: int, seed: int = 0, sub: str = "images") -> Path:
    """`count` JPEGs of 500-800 px (longer side) cut from the bundled sample photos, in root/sub."""
    from PIL import Image, ImageOps

    from visionzoo.data import sample_image_path

    photos = [Image.open(sample_image_path(n)).convert("RGB") for n in ("chelsea", "coffee")]
    rng = random.Random(seed)
    folder = root / sub
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        img = photos[i % len(photos)]
        w, h = img.size
        cw, ch = int(w * rng.uniform(0.6, 1.0)), int(h * rng.uniform(0.6, 1.0))
        left, top = rng.randint(0, w - cw), rng.randint(0, h - ch)
        crop = img.crop((left, top, left + cw, top + ch))
        if rng.random() < 0.5:
            crop = ImageOps.mirror(crop)
        longer = rng.randint(500, 800)
        scale = longer / max(crop.size)
        crop = crop.resize((round(crop.width * scale), round(crop.height * scale)), Image.Resampling.BICUBIC)
        crop.save(folder / f"img_{i:04d}.jpg", quality=90)
    return root


def _calibration_folder(root: Path) -> Path:
    return root.parent / f"{root.name}_calibration"


def _peak_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return round(own, 1), round(workers, 1)


def _timm_pass(model, loader, bf16: bool, limit: int | None = None) -> int:
    import torch

    n = 0
    with torch.inference_mode():
        for x, _ in loader:
            if bf16:
                x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    model(x).float().softmax(-1).topk(5)
            else:
                model(x).softmax(-1).topk(5)
            n += x.shape[0]
            if limit is not None and n >= limit:
                break
    return n


def run_row(row: str, root: Path, batch_size: int, num_workers: int | None, num_threads: int | None) -> dict:
    """One row in this process: untimed warm-up, then one timed pass over the folder."""
    import torch

    folder = root / "images"
    files = sorted(folder.glob("*.jpg"))
    warm = [str(f) for f in files[:batch_size]]
    if row.startswith("timm"):
        import timm
        import timm.data

        model = timm.create_model("resnet50", pretrained=False).eval()
        cfg = timm.data.resolve_data_config(model=model)
        best = row == "timm_best"
        if best:
            model = torch.compile(model.to(memory_format=torch.channels_last))
        dataset = timm.data.create_dataset("", root=str(root))
        loader = timm.data.create_loader(
            dataset,
            input_size=cfg["input_size"],
            batch_size=batch_size,
            is_training=False,
            use_prefetcher=False,
            interpolation=cfg["interpolation"],
            mean=cfg["mean"],
            std=cfg["std"],
            crop_pct=cfg["crop_pct"],
            num_workers=2,
            device=torch.device("cpu"),
        )
        _timm_pass(model, loader, best, limit=batch_size)
        start = time.perf_counter()
        n = _timm_pass(model, loader, best)
        seconds = time.perf_counter() - start
        plan = "channels_last, compiled, bf16 autocast" if best else "eager fp32"
    else:
        import visionzoo
        from visionzoo.data.loader import NormalizedModel
        from visionzoo.inference import _preprocessing

        model = visionzoo.create_model("resnet50", pretrained=False).eval()
        if row in ("vz_fast", "vz_int8"):
            _, mean, std = _preprocessing(model)
            normalized = NormalizedModel(model, mean, std)
            if row == "vz_fast":
                model = visionzoo.optimize(normalized, "bf16")
            else:  # calibrated on other images of the same kind (untimed, like compilation)
                model = visionzoo.optimize(normalized, "int8", calibration=str(_calibration_folder(root)))
        kw = dict(batch_size=batch_size, num_workers=num_workers, num_threads=num_threads, pretrained=False)
        visionzoo.predict(model, warm, **kw)
        start = time.perf_counter()
        out = visionzoo.predict(model, str(folder), **kw)
        seconds = time.perf_counter() - start
        n = len(out)
        plan = out.plan.summary() if out.plan is not None else "eager fp32"
    own, workers = _peak_mb()
    return dict(
        row=row,
        images=n,
        seconds=round(seconds, 2),
        img_per_s=round(n / seconds, 2),
        peak_rss_mb=own,
        peak_worker_rss_mb=workers,
        plan=plan,
    )


def _child(args: list[str]) -> dict:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    out = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{args}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def decode_cost(root: Path, min_size: int) -> dict:
    """ms per image of load_image + resize/crop, with and without draft decoding (one process)."""
    import visionzoo
    from visionzoo.data.datasets import load_image
    from visionzoo.inference import _preprocessing

    pil_transform, _, _ = _preprocessing(visionzoo.create_model("resnet50", pretrained=False))
    files = sorted((root / "images").glob("*.jpg"))
    res = {}
    for label, size in (("full decode", None), ("draft decode", min_size)):
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            for f in files:
                pil_transform(load_image(f, exif_transpose=True, min_size=size))
            best = min(best, time.perf_counter() - start)
        res[label] = round(1000 * best / len(files), 2)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--rows", default=",".join(ROWS))
    ap.add_argument("--num-workers", type=int, default=None)
    ap.add_argument("--num-threads", type=int, default=None)
    ap.add_argument("--root", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--row", default=None, help=argparse.SUPPRESS)  # child mode
    ap.add_argument("--no-cli", action="store_true", help="skip the CLI timing")
    args = ap.parse_args()
    if args.row:
        print(
            json.dumps(
                run_row(args.row, Path(args.root), args.batch_size, args.num_workers, args.num_threads)
            )
        )
        return

    root = (
        Path(args.root)
        if args.root
        else make_folder(Path(tempfile.mkdtemp(prefix="vz_bench_predict_")), args.images)
    )
    rows = args.rows.split(",")
    calibration = _calibration_folder(root)  # beside root: timm reads root whole
    if "vz_int8" in rows and not calibration.is_dir():
        make_folder(calibration.parent, CALIBRATION_IMAGES, seed=1, sub=calibration.name)
    extra = [f"--batch-size={args.batch_size}"]
    if args.num_workers is not None:
        extra.append(f"--num-workers={args.num_workers}")
    if args.num_threads is not None:
        extra.append(f"--num-threads={args.num_threads}")
    runs: dict[str, list[dict]] = {r: [] for r in rows}
    loads = [os.getloadavg()[0]]
    for rep in range(args.repeats):
        for row in rows if rep % 2 == 0 else rows[::-1]:  # alternate the order
            res = _child(["--row", row, "--root", str(root), *extra])
            runs[row].append(res)
            loads.append(os.getloadavg()[0])
            print(json.dumps(res), file=sys.stderr, flush=True)
    base = (
        statistics.median(r["img_per_s"] for r in runs.get("timm_eager", []))
        if "timm_eager" in runs
        else None
    )
    print(
        f"{args.images} JPEGs 500-800 px, resnet50 (random weights), batch {args.batch_size}, "
        f"{os.cpu_count()} cores, load average during the runs {min(loads):.1f}-{max(loads):.1f}"
    )
    print(
        f"{'row':<11} {'img/s (median)':>14} {'vs timm eager':>13} {'peak RSS MB':>11} {'worker MB':>9}  runs img/s; plan"
    )
    for row, rs in runs.items():
        med = statistics.median(r["img_per_s"] for r in rs)
        ratio = f"{med / base:.2f}x" if base else "-"
        print(
            f"{row:<11} {med:>14.2f} {ratio:>13} {statistics.median(r['peak_rss_mb'] for r in rs):>11.0f} "
            f"{statistics.median(r['peak_worker_rss_mb'] for r in rs):>9.0f}  "
            f"{[r['img_per_s'] for r in rs]}; {rs[0]['plan']}"
        )
    import visionzoo
    from visionzoo.data.loader import draft_min_size
    from visionzoo.inference import _preprocessing

    pil_transform, _, _ = _preprocessing(visionzoo.create_model("resnet50", pretrained=False))
    print("decode + resize/crop, ms per image (best of 3):", decode_cost(root, draft_min_size(pil_transform)))
    if not args.no_cli:
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
        for flags in ([], ["--fast"]):
            cmd = [
                sys.executable,
                "-m",
                "visionzoo",
                "predict",
                "resnet50",
                str(root / "images"),
                "--no-pretrained",
                "--no-progress",
                "--output",
                "csv",
                f"--batch-size={args.batch_size}",
                *flags,
            ]
            start = time.perf_counter()
            out = subprocess.run(cmd, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - start
            note = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else ""
            print(
                f"visionzoo predict {' '.join(flags) or '(eager)'}: {wall:.1f} s wall for {args.images} images "
                f"in a fresh process (rc {out.returncode}; stderr: {note})"
            )


if __name__ == "__main__":
    main()
