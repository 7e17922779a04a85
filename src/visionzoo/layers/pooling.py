"""Global pooling with a selectable type: NCHW maps (the CNN heads) and token sequences (transformer heads)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

POOL_TYPES = ("avg", "max", "avgmax", "catavgmax", "")


class SelectAdaptivePool2d(nn.Module):
    """Global pooling over H, W of an NCHW map: 'avg', 'max', 'avgmax' (mean of both), 'catavgmax'
    (both, concatenated on channels) or '' (no pooling). `flatten` gives [B, C] instead of [B, C, 1, 1]."""

    def __init__(self, pool_type: str = "avg", flatten: bool = False):
        super().__init__()
        if pool_type not in POOL_TYPES:
            raise ValueError(f"global_pool must be one of {POOL_TYPES}, got {pool_type!r}")
        self.pool_type = pool_type
        self.flatten = flatten and bool(pool_type)

    def feat_mult(self) -> int:
        """How many times the channel count the output has."""
        return 2 if self.pool_type == "catavgmax" else 1

    def is_identity(self) -> bool:
        return not self.pool_type

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        if self.pool_type == "avg":
            x = x.mean((2, 3), keepdim=True)
        elif self.pool_type == "max":
            x = F.adaptive_max_pool2d(x, 1)
        elif self.pool_type == "avgmax":
            x = 0.5 * (x.mean((2, 3), keepdim=True) + F.adaptive_max_pool2d(x, 1))
        elif self.pool_type == "catavgmax":
            x = torch.cat([x.mean((2, 3), keepdim=True), F.adaptive_max_pool2d(x, 1)], dim=1)
        return x.flatten(1) if self.flatten else x

    def extra_repr(self) -> str:
        return f"pool_type={self.pool_type!r}, flatten={self.flatten}"


TOKEN_POOL_TYPES = ("", "token", "avg", "max", "avgmax")


def pool_tokens(x: torch.Tensor, pool_type: str, num_prefix_tokens: int = 1) -> torch.Tensor:
    """Pool a token sequence [B, N, C] -> [B, C]: 'token' (the first token), or 'avg' / 'max' / 'avgmax' over
    the tokens after the `num_prefix_tokens` class/register tokens; '' returns `x` unchanged."""
    if not pool_type:
        return x
    if pool_type == "token":
        return x[:, 0]
    patches = x[:, num_prefix_tokens:]
    if pool_type == "avg":
        return patches.mean(dim=1)
    if pool_type == "max":
        return patches.amax(dim=1)
    if pool_type == "avgmax":
        return 0.5 * (patches.amax(dim=1) + patches.mean(dim=1))
    raise ValueError(f"token pool_type must be one of {TOKEN_POOL_TYPES}, got {pool_type!r}")
