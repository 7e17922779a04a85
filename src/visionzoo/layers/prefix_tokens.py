"""Prefix tokens (class, register/storage) joined to patch tokens, with an optional absolute position embedding."""

from __future__ import annotations

import torch


def join_prefix_tokens(
    patches: torch.Tensor,
    prefix: list[torch.Tensor | None],
    pos_embed: torch.Tensor | None = None,
    pos_embed_has_prefix: bool = True,
) -> torch.Tensor:
    """[B, N, C] patch tokens -> [B, n + N, C] with the learned `prefix` tokens ([1, k, C] each) in front.

    `pos_embed` ([1, n + N, C] when it `pos_embed_has_prefix`, else [1, N, C]) is added to the tokens it covers.
    """
    b = patches.shape[0]
    tokens = [t.expand(b, -1, -1) for t in prefix if t is not None]
    if pos_embed is not None and not pos_embed_has_prefix:
        patches = patches + pos_embed
        pos_embed = None
    x = torch.cat([*tokens, patches], dim=1) if tokens else patches
    return x + pos_embed if pos_embed is not None else x
