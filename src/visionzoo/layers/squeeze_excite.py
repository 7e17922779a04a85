"""Squeeze-and-excitation channel gating (Hu et al. 2017), with RegNet / timm `SEModule` key names."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["SqueezeExcite"]


class SqueezeExcite(nn.Module):
    """Gate each channel by a sigmoid of a two-layer bottleneck on the globally averaged map.

    Keys: `fc1` (channels -> rd_channels, 1x1 conv with bias) and `fc2` (rd_channels -> channels).
    """

    def __init__(
        self,
        channels: int,
        rd_channels: int,
        act_layer: Callable[[], nn.Module] = nn.ReLU,
        gate_layer: Callable[[], nn.Module] = nn.Sigmoid,
    ):
        super().__init__()
        if rd_channels < 1:
            raise ValueError(f"rd_channels must be >= 1, got {rd_channels}")
        self.fc1 = nn.Conv2d(channels, rd_channels, 1)
        self.act = act_layer()
        self.fc2 = nn.Conv2d(rd_channels, channels, 1)
        self.gate = gate_layer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, H, W)
        s = x.mean((2, 3), keepdim=True)  # (B, C, 1, 1)
        s = self.fc2(self.act(self.fc1(s)))
        return x * self.gate(s)
