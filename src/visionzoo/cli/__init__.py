"""The `visionzoo` command. Each sub-command lives in its own module with `add_parser` and `run`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ..version import __version__

# sub-command -> module in this package; each module defines add_parser(subparsers) and run(args) -> int
COMMANDS = {
    "list": "listing",
    "info": "info",
    "summary": "summary",
    "predict": "predict",
    "benchmark": "benchmark",
    "export": "export",
    "visualize": "visualize",
    "train": "train",
    "validate": "validate",
    "cache": "cache",
}


class CliError(Exception):
    """A user mistake: reported as one line on stderr, without a traceback (unless --debug)."""


def _user_error_types() -> tuple[type[BaseException], ...]:
    from ..weights.errors import WeightsError

    return (
        CliError,
        ValueError,
        TypeError,
        FileNotFoundError,
        PermissionError,
        IsADirectoryError,
        NotADirectoryError,
        IndexError,
        KeyError,
        WeightsError,
        ImportError,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="visionzoo", description="PyTorch image models with timm-compatible weights."
    )
    parser.add_argument("--version", action="version", version=f"visionzoo {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS.values():
        try:
            mod = importlib.import_module(f"{__name__}.{module}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{module}":
                raise
            continue  # sub-command not built yet
        p = mod.add_parser(sub)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show full tracebacks")
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except _user_error_types() as e:
        if args.debug:
            raise
        msg = str(e).strip().strip('"') or type(e).__name__
        print(f"visionzoo {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
