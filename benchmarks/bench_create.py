"""Time and memory of `create_model(arch, pretrained=True)` from a local checkpoint, visionzoo vs timm.

Each measurement runs in a fresh Python process: the library is imported first (not timed), then the
model is created with weights from a local safetensors file (timm via `pretrained_cfg_overlay=dict(file=...)`).
Reported: wall time of the call; the peak resident memory added by it, relative to the checkpoint size; and
the same after every weight has been read once (which would page in weights left memory-mapped; visionzoo
reads each tensor into memory the model owns, so both figures are about 1x for it).

    python benchmarks/bench_create.py [--archs resnet50 ...] [--repeats 3] [--workdir /tmp/vz_bench]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

DEFAULT_ARCHS = ("vit_base_patch16_224", "resnet50", "swin_base_patch4_window7_224")

# Runs in the child process: argv = library, arch, checkpoint path. Prints one JSON line.
_CHILD = r"""
import json, resource, sys, time
lib, arch, path = sys.argv[1:4]
import torch
torch.set_num_threads(1)
if lib == "visionzoo":
    import visionzoo
    create = lambda: visionzoo.create_model(arch, pretrained=True, pretrained_cfg_overlay=dict(file=path))
else:
    import timm
    create = lambda: timm.create_model(arch, pretrained=True, pretrained_cfg_overlay=dict(file=path))

def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20

base = rss_mib()
t0 = time.perf_counter()
model = create()
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
# Reading every weight once (as a first forward pass would) brings any memory-mapped pages in too.
n = sum(float(p.sum()) * 0 + p.numel() for p in model.parameters())
touched = max(peak, rss_mib())
print(json.dumps(dict(seconds=seconds, extra_mib=peak - base, touched_mib=touched - base, params=n)))
"""


def make_checkpoint(arch: str, folder: Path) -> Path:
    """A safetensors file with timm's state dict for `arch` (random values; same keys as the published weights)."""
    path = folder / f"{arch}.safetensors"
    if not path.exists():
        code = (
            "import sys, timm, torch; from safetensors.torch import save_file; "
            "m = timm.create_model(sys.argv[1]); "
            "save_file({k: v.contiguous() for k, v in m.state_dict().items()}, sys.argv[2])"
        )
        subprocess.run([sys.executable, "-c", code, arch, str(path)], check=True)
    return path


def measure(lib: str, arch: str, path: Path) -> dict:
    with open(path, "rb") as f:  # warm the page cache, so neither side pays for the disk
        while f.read(1 << 24):
            pass
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, lib, arch, str(path)], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=list(DEFAULT_ARCHS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", default="/tmp/vz_bench_create")
    args = parser.parse_args()
    folder = Path(args.workdir)
    folder.mkdir(parents=True, exist_ok=True)

    header = (
        f"{'architecture':32s} {'ckpt MiB':>8s} {'vz s':>7s} {'timm s':>7s} {'time ratio':>10s} "
        f"{'vz mem/ckpt':>11s} {'timm mem/ckpt':>13s} {'vz mem/ckpt after use':>21s}"
    )
    print(header)
    for arch in args.archs:
        path = make_checkpoint(arch, folder)
        size = path.stat().st_size / 2**20
        runs: dict[str, list[dict]] = {"visionzoo": [], "timm": []}
        for _ in range(args.repeats):
            for lib in runs:  # interleaved, so background load hits both alike
                runs[lib].append(measure(lib, arch, path))
        assert runs["visionzoo"][0]["params"] == runs["timm"][0]["params"], "parameter counts differ"
        t = {lib: statistics.median(r["seconds"] for r in rs) for lib, rs in runs.items()}
        m = {lib: statistics.median(r["extra_mib"] for r in rs) for lib, rs in runs.items()}
        used = statistics.median(r["touched_mib"] for r in runs["visionzoo"])
        print(
            f"{arch:32s} {size:8.0f} {t['visionzoo']:7.3f} {t['timm']:7.3f} {t['visionzoo'] / t['timm']:9.2f}x "
            f"{m['visionzoo'] / size:10.2f}x {m['timm'] / size:12.2f}x {used / size:20.2f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
