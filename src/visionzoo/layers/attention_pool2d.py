"""Attention pooling of a feature map (CLIP's ResNet head): the mean token attends over all positions."""

from __future__ import annotations

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from .pos_embed import resample_abs_pos_embed


def _pos_embed_for_map(pos_embed: torch.Tensor, x: torch.Tensor, feat_size: tuple[int, int]) -> torch.Tensor:
    """`pos_embed` [1 + H*W, C] (laid out for `feat_size`) as [1, 1 + h*w, C] for the grid of `x` [B, C, h, w].
    A leaf of torch.fx graphs (`torch.fx.wrap`): the grid is known only at run time."""
    return resample_abs_pos_embed(pos_embed.unsqueeze(0), x.shape[-2:], feat_size, num_prefix_tokens=1)


torch.fx.wrap("_pos_embed_for_map")

__all__ = ["AttentionPool2d"]


class AttentionPool2d(nn.Module):
    """Multi-head attention over [mean token, H*W position tokens] with a learned absolute position
    embedding; the mean token's output, projected by `proj`, is the pooled result.

    Keys: `pos_embed` ([1 + h*w, C] for the `feat_size` grid; resampled for other sizes), `q`, `k`, `v`
    (separate projections) and `proj` (C -> out_features; nn.Identity when out_features is 0).
    pool_type 'token' returns [B, out]; '' returns the position tokens as a map [B, out, H, W].
    """

    def __init__(
        self,
        in_features: int,
        feat_size: tuple[int, int] = (7, 7),
        out_features: int | None = None,
        embed_dim: int | None = None,
        head_dim: int = 64,
        pool_type: str = "token",
        drop_rate: float = 0.0,
    ):
        super().__init__()
        if pool_type not in ("token", ""):
            raise ValueError(f"attention pooling takes global_pool 'token' or '', got {pool_type!r}")
        embed_dim = embed_dim or in_features
        if embed_dim % head_dim:
            raise ValueError(f"embed_dim {embed_dim} is not a multiple of head_dim {head_dim}")
        self.in_features, self.embed_dim = in_features, embed_dim
        self.num_heads, self.head_dim = embed_dim // head_dim, head_dim
        self.feat_size = tuple(feat_size)
        self.pool_type = pool_type
        self.q = nn.Linear(in_features, embed_dim)
        self.k = nn.Linear(in_features, embed_dim)
        self.v = nn.Linear(in_features, embed_dim)
        self.drop = nn.Dropout(drop_rate)
        self.pos_embed = nn.Parameter(torch.zeros(self.feat_size[0] * self.feat_size[1] + 1, in_features))
        self.proj: nn.Module = nn.Identity()
        self.set_out_features(in_features if out_features is None else out_features)
        self.init_weights()

    @torch.no_grad()
    def init_weights(self) -> None:
        std = self.in_features**-0.5
        for lin in (self.q, self.k, self.v):
            nn.init.trunc_normal_(lin.weight, std=std, a=-2 * std, b=2 * std)
            nn.init.zeros_(lin.bias)
        nn.init.trunc_normal_(self.pos_embed, std=std, a=-2 * std, b=2 * std)

    def set_out_features(self, out_features: int) -> None:
        """A fresh output projection to `out_features` (0: none, the attention output is returned)."""
        self.proj = nn.Linear(self.embed_dim, out_features) if out_features > 0 else nn.Identity()
        self.out_features = out_features if out_features > 0 else self.embed_dim

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:  # (B, C, H, W)
        b, _, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)  # (B, HW, C)
        tokens = torch.cat([tokens.mean(1, keepdim=True), tokens], dim=1)  # (B, 1 + HW, C)
        pos = _pos_embed_for_map(self.pos_embed, x, self.feat_size)  # [1, 1 + HW, C]
        tokens = tokens + pos

        def heads(t: torch.Tensor) -> torch.Tensor:  # (B, N, D) -> (B, heads, N, head_dim)
            return t.reshape(b, h * w + 1, self.num_heads, self.head_dim).transpose(1, 2)

        out = F.scaled_dot_product_attention(
            heads(self.q(tokens)), heads(self.k(tokens)), heads(self.v(tokens))
        )
        out = self.drop(out.transpose(1, 2).reshape(b, h * w + 1, self.embed_dim))
        if not pre_logits:
            out = self.proj(out)
        if self.pool_type == "token":
            return out[:, 0]
        return out[:, 1:].reshape(b, h, w, -1).permute(0, 3, 1, 2)  # (B, D, H, W)
