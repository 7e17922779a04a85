"""Import and creation overhead of visionzoo vs timm, each measured in fresh interpreters.

Reports the time each library adds on top of `import torch`, and the time of a first
`list_models()` and `create_model('resnet50')` after import. Usage: python benchmarks/bench_import.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

PROBE = r"""
import time, json
t0 = time.perf_counter(); import torch; t1 = time.perf_counter()
import {lib}; t2 = time.perf_counter()
{lib}.list_models(); t3 = time.perf_counter()
{lib}.create_model("resnet50"); t4 = time.perf_counter()
print(json.dumps(dict(torch=t1 - t0, imp=t2 - t1, list=t3 - t2, create=t4 - t3)))
"""


def measure(lib: str, runs: int) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", PROBE.format(lib=lib)], capture_output=True, text=True, check=True
        )
        samples.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {k: statistics.median(s[k] for s in samples) for k in samples[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    res = {}
    for _ in range(args.runs):  # interleave the two libraries to share the machine's noise
        for lib in ("visionzoo", "timm"):
            m = measure(lib, 1)
            for k, v in m.items():
                res.setdefault(lib, {}).setdefault(k, []).append(v)
    med = {lib: {k: statistics.median(v) for k, v in d.items()} for lib, d in res.items()}
    print(f"median of {args.runs} fresh interpreters (seconds)")
    print(f"{'step':<28}{'visionzoo':>12}{'timm':>12}{'ratio':>9}")
    for key, label in (
        ("imp", "import (on top of torch)"),
        ("list", "first list_models()"),
        ("create", "create_model('resnet50')"),
    ):
        v, t = med["visionzoo"][key], med["timm"][key]
        print(f"{label:<28}{v:>12.4f}{t:>12.4f}{v / t:>9.3f}")
    print(f"{'import torch itself':<28}{med['visionzoo']['torch']:>12.4f}{med['timm']['torch']:>12.4f}")


if __name__ == "__main__":
    main()
