"""Options and output helpers shared by the sub-commands: one spelling of each option, one parser each."""

from __future__ import annotations

import argparse
import os
from typing import Any

PRECISIONS = ("fp32", "bf16", "fp16")  # autocast (utils.precision.PRECISIONS, kept import-free here)
OPTIMIZE_PRECISIONS = (*PRECISIONS, "int8")  # what visionzoo.optimize takes (fast_inference.PRECISIONS)


def img_size_type(value: str) -> tuple[int, int]:
    """argparse type of --img-size: '224' or '224x160' -> (height, width)."""
    from ..tools._common import parse_img_size

    try:
        return parse_img_size(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_img_size(p: argparse.ArgumentParser, help: str = "input size, e.g. 224 or 224x160") -> None:
    """--img-size H or HxW (default: the model's)."""
    p.add_argument(
        "--img-size", type=img_size_type, default=None, metavar="SIZE", help=f"{help} (default: the model's)"
    )


def add_precision(
    p: argparse.ArgumentParser,
    *,
    legacy_amp: bool = True,
    choices: tuple[str, ...] = PRECISIONS,
    help: str = "fp32, or autocast in bf16 / fp16 (default: fp32)",
) -> None:
    """--precision {fp32,bf16,fp16}; `legacy_amp` keeps the old `--amp bf16|fp16` as a hidden alias."""
    p.add_argument("--precision", choices=choices, default=None, help=help)
    if legacy_amp:
        p.add_argument("--amp", choices=("bf16", "fp16"), default=None, help=argparse.SUPPRESS)


def amp_of(args: argparse.Namespace) -> str | None:
    """The autocast dtype ('bf16', 'fp16') or None for fp32, from --precision (or the old --amp)."""
    precision = getattr(args, "precision", None)
    if precision is not None:
        return None if precision == "fp32" else precision
    return getattr(args, "amp", None)


def add_fast_options(p: argparse.ArgumentParser, *, legacy_amp: bool = False) -> None:
    """--precision, --compile/--no-compile and --fast (predict, validate): how `visionzoo.optimize`
    prepares the model (`fast_inference.optimize_if_asked`); `legacy_amp` as in `add_precision`."""
    add_precision(
        p,
        legacy_amp=legacy_amp,
        choices=OPTIMIZE_PRECISIONS,
        help="fp32, autocast in bf16 / fp16, or int8 quantized with --calibration (x86 CPUs with VNNI; "
        "needs visionzoo[int8]) (default: fp32)",
    )
    p.add_argument(
        "--calibration",
        default=None,
        metavar="FOLDER",
        help="images to calibrate int8 on (--precision int8): a few dozen to a few hundred like the data",
    )
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="torch.compile the model (first call 10-60 s; default: optimize decides when it runs)",
    )
    p.add_argument(
        "--fast",
        action="store_true",
        help="visionzoo.optimize with its automatic choices and the fastest precision of the device "
        "(bf16 on CPUs with AVX512-BF16/AMX and on CUDA)",
    )


def plan_line(command: str, plan: Any) -> str:
    """The one stderr line saying which optimisations ran (`plan`: an OptimizePlan or None)."""
    if plan is None:
        return f"visionzoo {command}: optimisations: none (eager; --fast to use visionzoo.optimize)"
    return f"visionzoo {command}: optimisations: {plan.summary()}"


def printable(text: Any) -> str:
    """`text` safe to print: bytes of a non-UTF-8 file name (decoded by Python with surrogateescape)
    come back as backslash escapes such as '\\xff' instead of failing to encode."""
    s = str(text)
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        pass
    try:
        raw = os.fsencode(s)  # undoes surrogateescape: the name's original bytes
    except UnicodeEncodeError:  # a lone surrogate that no file system produced
        return s.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")
