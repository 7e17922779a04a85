"""Global-context attention (Cao et al. 2019, GCNet): a squeeze-excite whose squeeze is attention pooling.

The map is pooled with a softmax over positions (weights from a 1x1 conv) instead of a plain mean; the pooled
vector goes through a 1x1-conv bottleneck with a LayerNorm, and the result gates the channels (`fuse_scale`)
and / or is added to every position (`fuse_add`). Keys follow timm's `GlobalContext`: `conv_attn`,
`mlp_scale.{fc1,norm,fc2}`, `mlp_add.{fc1,norm,fc2}`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .activations import create_act
from .norm import LayerNorm2d

__all__ = ["GlobalContext"]


class _ContextMlp(nn.Module):
    """1x1 conv -> LayerNorm (channels) -> activation -> 1x1 conv on a (B, C, 1, 1) context."""

    def __init__(self, channels: int, rd_channels: int, act: str):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, rd_channels, 1)
        self.norm = LayerNorm2d(rd_channels)
        self.act = create_act(act, inplace=True)
        self.fc2 = nn.Conv2d(rd_channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, 1, 1) -> (B, C, 1, 1)
        return self.fc2(self.act(self.norm(self.fc1(x))))


class GlobalContext(nn.Module):
    """Global-context block on `channels` channels with an `rd_channels` bottleneck.

    Args:
        use_attn: pool with a learned softmax over positions (False: a plain mean).
        fuse_scale: gate the channels by `gate`(bottleneck(context)); fuse_add: add bottleneck(context).
        act: the bottleneck's activation; gate: the gating function (names from `layers.activations`).
    """

    def __init__(
        self,
        channels: int,
        rd_channels: int,
        use_attn: bool = True,
        fuse_scale: bool = True,
        fuse_add: bool = False,
        act: str = "relu",
        gate: str = "sigmoid",
    ):
        super().__init__()
        if rd_channels < 1:
            raise ValueError(f"rd_channels must be >= 1, got {rd_channels}")
        if not (fuse_scale or fuse_add):
            raise ValueError("GlobalContext needs fuse_scale or fuse_add")
        self.conv_attn = nn.Conv2d(channels, 1, 1) if use_attn else None
        self.mlp_scale = _ContextMlp(channels, rd_channels, act) if fuse_scale else None
        self.mlp_add = _ContextMlp(channels, rd_channels, act) if fuse_add else None
        self.gate = create_act(gate)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.conv_attn is not None:
            nn.init.kaiming_normal_(self.conv_attn.weight, mode="fan_in", nonlinearity="relu")
        if self.mlp_add is not None:
            nn.init.zeros_(self.mlp_add.fc2.weight)

    def _context(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, 1, 1)
        if self.conv_attn is None:
            return x.mean((2, 3), keepdim=True)
        weights = F.softmax(self.conv_attn(x).flatten(2), dim=-1)  # (B, 1, HW)
        context = torch.matmul(x.flatten(2), weights.transpose(1, 2))  # (B, C, HW) @ (B, HW, 1) -> (B, C, 1)
        return context.unsqueeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, H, W)
        context = self._context(x)
        if self.mlp_scale is not None:
            x = x * self.gate(self.mlp_scale(context))
        if self.mlp_add is not None:
            x = x + self.mlp_add(context)
        return x
