"""`visionzoo cache verify`: re-hash the downloaded checkpoints and drop the damaged ones."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "cache",
        help="check the checkpoint download cache",
        description="Work on the cache that URL weights are downloaded into ($TORCH_HOME/hub/checkpoints).",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    verify = actions.add_parser(
        "verify",
        help="re-hash every cached file; remove the damaged ones",
        description="Re-hash every cached checkpoint and compare it with the size and SHA-256 recorded when "
        "it was downloaded, and with the hash prefix in its name. Each bad file is reported and removed "
        "(with its record), so the next use downloads it again. Exits with status 1 if any file was bad.",
    )
    verify.add_argument(
        "--cache-dir", metavar="D", help="cache folder (default: $TORCH_HOME/hub/checkpoints)"
    )
    verify.add_argument("--keep", action="store_true", help="report bad files but do not remove them")
    verify.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show full tracebacks"
    )
    return p


def run(args: argparse.Namespace) -> int:
    from ..weights.download import verify_cache

    checked, bad = verify_cache(args.cache_dir, remove=not args.keep)
    for path, problem in bad:
        print(f"bad: {path}: {problem}" + ("" if args.keep else " (removed)"), file=sys.stderr)
    print(f"{checked} file(s) checked, {len(bad)} bad")
    return 1 if bad else 0
