"""Small argument helpers shared by the layers and model families."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["make_divisible", "to_2tuple", "check_4d", "first_block_dilation"]


def check_4d(x: torch.Tensor) -> torch.Tensor:
    """`x`, after raising a ValueError unless it is 4-D (modules calling it make it a torch.fx leaf)."""
    if x.dim() != 4:
        raise ValueError(f"expected 4D input (got {x.dim()}D input)")
    return x


def to_2tuple(value: int | Sequence[int], name: str = "size") -> tuple[int, int]:
    """An (h, w) pair of positive ints from an int (7 -> (7, 7)), a 1-sequence or a pair.

    Anything else raises a ValueError naming `name`.
    """
    is_int = isinstance(value, int) and not isinstance(value, bool)
    pair = (value, value) if is_int else tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(pair) == 1:
        pair = (pair[0], pair[0])
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in pair):
        raise ValueError(f"{name} must be a positive int or a pair of them, got {value!r}")
    return pair  # type: ignore[return-value]


def make_divisible(value: float, divisor: int = 8, round_limit: float = 0.9) -> int:
    """Round `value` to a multiple of `divisor` (at least `divisor`), never going below `round_limit * value`."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < round_limit * value:
        rounded += divisor
    return rounded


def first_block_dilation(dilation: int) -> int:
    """Dilation of a dilated stage's first block: the previous stage's (half of `dilation`), at most 2, at least 1."""
    return min(2, max(1, dilation // 2))
