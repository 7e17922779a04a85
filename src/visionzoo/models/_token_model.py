"""A base for the ViT-like models (ViT, DeiT, EVA): prefix tokens plus patch tokens through a stack of blocks.

Their feature maps are the patch tokens after chosen blocks, laid back out on the patch grid. The base
states that once; a family says how an image becomes tokens and runs through its blocks
(`_forward_blocks`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..features import feature_take_indices, to_output_fmt
from .base import ImageModel

__all__ = ["OUTPUT_FMTS", "TokenModel"]

OUTPUT_FMTS = ("NCHW", "NHWC", "NLC")


class TokenModel(ImageModel):
    """Contract pieces shared by the token models. A subclass has `blocks` (a sequence of blocks), `norm`
    (the final norm), `fc_norm`, `patch_embed` (with `feat_size`) and `num_prefix_tokens`, and implements
    `_forward_blocks`."""

    output_fmt = "NLC"  # forward_features gives tokens [B, N, D], not a map
    feature_key_layout = "wrapped"

    def _forward_blocks(
        self, x: torch.Tensor, take: Sequence[int] = (), stop: int = -1
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Embed image `x` [B, C, H, W] and run the blocks (up to index `stop` when >= 0): the last tokens
        [B, N, D] and the outputs of the blocks in `take`."""
        raise NotImplementedError

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | Sequence[int] | None = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
        return_prefix_tokens: bool = False,
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """Patch-token maps after the blocks in `indices`: [B, D, h, w] (NCHW), [B, h, w, D] (NHWC) or
        [B, h*w, D] (NLC). With `return_prefix_tokens`, each entry is (map, prefix tokens [B, n, D])."""
        if output_fmt not in OUTPUT_FMTS:
            raise ValueError(f"output_fmt must be one of {OUTPUT_FMTS}, got {output_fmt!r}")
        take, last = feature_take_indices(len(self.blocks), indices)
        b, _, height, width = x.shape
        h, w = self.patch_embed.feat_size((height, width))
        x, kept = self._forward_blocks(x, take, last if stop_early else -1)
        maps, prefixes = [], []
        for y in kept:
            y = self.norm(y) if norm else y
            prefixes.append(y[:, : self.num_prefix_tokens])
            y = y[:, self.num_prefix_tokens :]  # [B, h*w, D]
            if output_fmt != "NLC":
                y = to_output_fmt(y.reshape(b, h, w, -1).permute(0, 3, 1, 2).contiguous(), output_fmt)
            maps.append(y)
        out = list(zip(maps, prefixes)) if return_prefix_tokens else maps
        return out if intermediates_only else (self.norm(x), out)

    def prune_intermediate_layers(
        self, indices: int | Sequence[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        take, last = feature_take_indices(len(self.blocks), indices)
        self.blocks = self.blocks[: last + 1]
        if prune_norm:
            self.norm = nn.Identity()
        if prune_head:
            self.fc_norm = nn.Identity()
            self.reset_classifier(0, "")  # also drops an attention pool
        return take
