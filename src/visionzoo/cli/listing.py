"""`visionzoo list`: registered model names, one per line."""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("list", help="list model names", description="List registered model names.")
    p.add_argument("filters", nargs="*", metavar="FILTER", help="shell-style wildcards, e.g. '*swin*'")
    p.add_argument("--pretrained", action="store_true", help="only weight sets with a source (arch.tag)")
    p.add_argument("--module", action="append", default=[], help="only this family module (repeatable)")
    p.add_argument("--exclude", action="append", default=[], help="wildcards to leave out (repeatable)")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    return p


def run(args: argparse.Namespace) -> int:
    from ..registry import list_models

    names = list_models(
        args.filters, module=args.module, pretrained=args.pretrained, exclude_filters=args.exclude
    )
    if args.json:
        print(json.dumps(names))
    else:
        for n in names:
            print(n)
    return 0
