"""Small argument helpers shared by the layers and model families."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["to_2tuple"]


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
