"""Efficient channel attention (Wang et al. 2019, "ECA-Net"): a 1-D conv across pooled channels as the gate.

Key layout: a single `conv` (Conv1d, 1 -> 1 channel, no bias), as in timm's ECA-ResNets.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["EcaModule", "eca_kernel_size"]


def eca_kernel_size(channels: int, gamma: float = 2.0, beta: float = 1.0) -> int:
    """The paper's adaptive kernel size: the odd number nearest above (log2(C) + beta) / gamma, at least 3."""
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")
    k = int(abs(math.log2(channels) + beta) / gamma)
    return max(k if k % 2 else k + 1, 3)


class EcaModule(nn.Module):
    """Gate each channel of an NCHW map by a sigmoid of a k-wide 1-D conv over the globally averaged channels.

    Args:
        channels: channels the kernel size is derived from (pruned models keep their unpruned value).
        kernel_size: explicit odd kernel size; overrides `channels`.
    """

    def __init__(self, channels: int | None = None, kernel_size: int | None = None):
        super().__init__()
        if kernel_size is None:
            if channels is None:
                raise ValueError("EcaModule needs channels or kernel_size")
            kernel_size = eca_kernel_size(channels)
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd int, got {kernel_size}")
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, H, W)
        b = x.shape[0]
        y = self.conv(x.mean((2, 3)).view(b, 1, -1))  # (B, 1, C): channels as a sequence
        return x * self.gate(y).view(b, -1, 1, 1)
