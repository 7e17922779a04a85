"""Global pooling with a selectable type, shared by the CNN heads."""

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
