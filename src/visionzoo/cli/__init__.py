"""The `visionzoo` command. Each sub-command lives in its own module with `add_parser` and `run`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

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


_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def _raised_by_visionzoo(e: BaseException) -> bool:
    """True when the innermost frame of `e`'s traceback is visionzoo's own code (a deliberate raise)."""
    tb = e.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(_PACKAGE_DIR)


def is_user_error(e: BaseException) -> bool:
    """Errors that describe a mistake in the input, reported in one line; anything else is a bug
    and keeps its traceback.

    User errors: CliError, the weights errors, missing or unwritable files, a missing optional
    dependency, and the ValueErrors (and FloatingPointError, MemoryError) that visionzoo raises on
    purpose. A ValueError, KeyError, IndexError or TypeError from deep inside torch is not one.
    """
    from ..weights.errors import WeightsError

    if isinstance(e, (CliError, WeightsError, FileNotFoundError, FileExistsError, PermissionError)):
        return True
    if isinstance(e, (IsADirectoryError, NotADirectoryError)):
        return True
    if isinstance(e, ImportError):  # an optional extra that is not installed, not a broken import of ours
        return "pip install" in str(e) or (e.name is not None and not e.name.startswith("visionzoo"))
    if isinstance(e, (ValueError, FloatingPointError, MemoryError)) and not isinstance(e, UnicodeError):
        return _raised_by_visionzoo(e)
    return False


class _IntermixedParser(argparse.ArgumentParser):
    """A sub-command parser that takes options anywhere, also between positional arguments
    (`predict MODEL --topk 1 a.jpg`), which plain argparse refuses for nargs='*' positionals."""

    _parsing = False

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        if self._parsing or self._subparsers is not None:  # intermixed parsing calls back in here
            return super().parse_known_args(args, namespace)
        self._parsing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._parsing = False

    def error(self, message: str):  # type: ignore[override]
        """A usage error in one line, like every other user error (the usage is one --help away)."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="visionzoo", description="PyTorch image models with timm-compatible weights."
    )
    parser.add_argument("--version", action="version", version=f"visionzoo {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_IntermixedParser)
    for module in COMMANDS.values():
        mod = importlib.import_module(f"{__name__}.{module}")
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
    except Exception as e:
        if args.debug or not is_user_error(e):
            raise
        msg = str(e).strip().strip('"') or type(e).__name__
        print(f"visionzoo {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
