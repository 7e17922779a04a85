"""Multi-branch blocks: parallel branches on one input, concatenated on channels (Inception style)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ConcatBranches", "valid_avg_pool3x3"]


class ConcatBranches(nn.Module):
    """Runs each child (in registration order, e.g. `branch0`, `branch1`, ...) on the input and
    concatenates the outputs on channels. Subclasses only register their branches."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, sum of branch widths, H', W')
        return torch.cat([branch(x) for branch in self.children()], 1)


def valid_avg_pool3x3() -> nn.AvgPool2d:
    """3x3 stride-1 average pool that averages only the pixels inside the map (Inception v4 / ResNet-v2 pools)."""
    return nn.AvgPool2d(3, 1, 1, count_include_pad=False)
