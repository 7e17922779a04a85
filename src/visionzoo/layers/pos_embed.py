"""Absolute position embeddings: resampling to another patch grid."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def resample_abs_pos_embed(
    pos_embed: torch.Tensor,
    new_size: tuple[int, int] | list[int],
    old_size: tuple[int, int] | list[int] | None = None,
    num_prefix_tokens: int = 1,
    interpolation: str = "bicubic",
    antialias: bool = True,
) -> torch.Tensor:
    """Resize a [1, prefix + H*W, C] position embedding to a `new_size` (h, w) patch grid.

    The first `num_prefix_tokens` entries (class, distillation or register tokens) are kept as they
    are; the grid part is interpolated. `old_size` defaults to a square grid.
    """
    num_tokens = pos_embed.shape[1]
    new_h, new_w = int(new_size[0]), int(new_size[1])
    if old_size is None:
        side = math.isqrt(num_tokens - num_prefix_tokens)
        if side * side != num_tokens - num_prefix_tokens:
            raise ValueError(
                f"cannot infer the grid of a position embedding with {num_tokens - num_prefix_tokens} patch "
                "tokens (not a square); pass old_size"
            )
        old_size = (side, side)
    old_h, old_w = int(old_size[0]), int(old_size[1])
    if old_h * old_w + num_prefix_tokens != num_tokens:
        raise ValueError(
            f"position embedding has {num_tokens} tokens, which is not {num_prefix_tokens} prefix tokens "
            f"plus a {old_h}x{old_w} grid"
        )
    if (old_h, old_w) == (new_h, new_w):
        return pos_embed
    prefix, grid = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    dim = grid.shape[-1]
    grid = grid.float().reshape(1, old_h, old_w, dim).permute(0, 3, 1, 2)  # [1, C, h, w]
    grid = F.interpolate(grid, size=(new_h, new_w), mode=interpolation, antialias=antialias)
    grid = grid.permute(0, 2, 3, 1).reshape(1, new_h * new_w, dim).to(pos_embed.dtype)  # [1, H*W, C]
    return torch.cat([prefix, grid], dim=1)
