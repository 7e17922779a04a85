"""FX-trace, torch.export and torch.compile(fullgraph=True) every registered architecture at a tiny config.

Each architecture is built at `tests/models/tiny_configs.tiny_config` (random weights) and checked four ways,
each against the eager model on the same input:

- fx: `torch.fx.symbolic_trace`, output equal to eager;
- export: `torch.export.export` (static shapes), output equal to eager to 1e-4;
- compile: `torch.compile(fullgraph=True)` in inference (inductor), output equal to eager to 1e-4;
- train: a compiled forward + backward in train mode (`--train-backend`, default aot_eager: Dynamo's
  full-graph capture and AOTAutograd's joint graph without inductor's code generation), loss and
  gradients equal to eager to 1e-4.

A row per architecture goes to the tab-separated OUT file as soon as it is done (arch, family, fx, export,
compile, train, seconds, error head); an existing OUT is resumed (its architectures are skipped).
Architectures run family by family, round-robin, so a partial run covers every family.

    PYTHONPATH=src:. nice -n 19 python scripts/compile_all.py results.tsv [--filter 'vit_*'] [--limit N]
"""

from __future__ import annotations

import argparse
import copy
import fnmatch
import itertools
import sys
import time
import traceback
from pathlib import Path

import torch
import torch.fx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.*

from tests.models.tiny_configs import build_tiny, family  # noqa: E402

import visionzoo  # noqa: E402
from visionzoo import registry  # noqa: E402

COLUMNS = ("arch", "family", "fx", "export", "compile", "train", "seconds", "error")
TOL = dict(rtol=1e-4, atol=1e-4)


def _first(out):
    return out[0] if isinstance(out, (tuple, list)) else out


def _loss(out) -> torch.Tensor:
    outs = out if isinstance(out, (tuple, list)) else (out,)  # distilled models: (cls, dist) while training
    return sum(o.float().pow(2).mean() for o in outs)


def check_fx(model: torch.nn.Module, x: torch.Tensor, want: torch.Tensor) -> None:
    traced = torch.fx.symbolic_trace(model)
    torch.testing.assert_close(_first(traced(x)), want, **TOL)


def check_export(model: torch.nn.Module, x: torch.Tensor, want: torch.Tensor) -> None:
    program = torch.export.export(model, (x,))
    torch.testing.assert_close(_first(program.module()(x)), want, **TOL)


def check_compile(model: torch.nn.Module, x: torch.Tensor, want: torch.Tensor, backend: str) -> None:
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend=backend)
    with torch.no_grad():
        torch.testing.assert_close(_first(compiled(x)), want, **TOL)


def check_train(model: torch.nn.Module, x: torch.Tensor, backend: str) -> None:
    """One compiled forward + backward in train mode against an eager copy of the same model."""
    eager = copy.deepcopy(model).train()
    model = copy.deepcopy(model).train()
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend=backend)
    want = _loss(eager(x))
    want.backward()
    got = _loss(compiled(x))
    got.backward()
    torch.testing.assert_close(got, want, **TOL)
    for (name, p), q in zip(model.named_parameters(), eager.parameters()):
        if q.grad is not None:
            torch.testing.assert_close(p.grad, q.grad, **TOL, msg=lambda m, n=name: f"grad of {n}: {m}")


def _head(e: BaseException) -> str:
    text = f"{type(e).__name__}: {e}".replace("\t", " ")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " | ".join(lines[:2])[:240]


def run_arch(arch: str, backend: str, train_backend: str | None) -> dict:
    row = dict(arch=arch, family=family(arch), fx="-", export="-", compile="-", train="-", error="")
    start = time.perf_counter()
    errors = []
    try:
        model, size = build_tiny(arch)
        torch.manual_seed(1)
        x = torch.randn(2, *size)
        with torch.no_grad():
            want = _first(model(x))
        checks = [
            ("fx", lambda: check_fx(model, x, want)),
            ("export", lambda: check_export(model, x, want)),
            ("compile", lambda: check_compile(model, x, want, backend)),
        ]
        if train_backend:
            checks.append(("train", lambda: check_train(model, x, train_backend)))
        for column, check in checks:
            try:
                check()
                row[column] = "ok"
            except Exception as e:  # noqa: BLE001 - every failure is a row of the table
                row[column] = "FAIL"
                errors.append(f"{column}: {_head(e)}")
    except Exception as e:  # noqa: BLE001
        errors.append(f"build: {_head(e)}")
        traceback.print_exc()
    row["seconds"] = f"{time.perf_counter() - start:.1f}"
    row["error"] = " || ".join(errors)
    return row


def round_robin(archs: list[str]) -> list[str]:
    """Interleave the families (the first of each family first), so a partial run covers every family."""
    by_family: dict[str, list[str]] = {}
    for arch in archs:
        by_family.setdefault(family(arch), []).append(arch)
    lanes = sorted(by_family.values(), key=len)
    return [a for group in itertools.zip_longest(*lanes) for a in group if a is not None]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="tab-separated result file (resumed if it exists)")
    parser.add_argument("--filter", default="*", help="fnmatch pattern on architecture names")
    parser.add_argument("--family", action="append", help="family module(s) to run, e.g. resnet")
    parser.add_argument("--limit", type=int, default=None, help="stop after this many architectures")
    parser.add_argument("--backend", default="inductor", help="torch.compile backend for inference")
    parser.add_argument(
        "--train-backend", default="aot_eager", help="backend of the training step ('' to skip it)"
    )
    args = parser.parse_args(argv)

    torch._dynamo.config.cache_size_limit = 64
    archs = [
        a for a in visionzoo.list_models() if registry.get_arch_module(a).startswith("visionzoo.models.")
    ]
    archs = [a for a in archs if fnmatch.fnmatch(a, args.filter)]
    if args.family:
        archs = [a for a in archs if family(a) in args.family]
    done = set()
    if args.out.exists():
        done = {ln.split("\t", 1)[0] for ln in args.out.read_text().splitlines()[1:] if ln.strip()}
    else:
        args.out.write_text("\t".join(COLUMNS) + "\n")
    todo = [a for a in round_robin(archs) if a not in done][: args.limit]
    print(f"{len(todo)} to run, {len(done)} already in {args.out}", flush=True)
    for i, arch in enumerate(todo, 1):
        row = run_arch(arch, args.backend, args.train_backend or None)
        with args.out.open("a") as f:
            f.write("\t".join(str(row[c]) for c in COLUMNS) + "\n")
        print(f"[{i}/{len(todo)}] {arch} {row['seconds']}s {row['error'][:200]}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
