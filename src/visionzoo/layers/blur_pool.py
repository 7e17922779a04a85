"""Anti-aliased downsampling (Zhang 2019, "Making Convolutional Networks Shift-Invariant Again")."""

from __future__ import annotations

from math import comb

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BlurPool2d"]


class BlurPool2d(nn.Module):
    """Blur each channel with a binomial filter, then subsample by `stride`.

    The filter is the outer product of the binomial row [C(n-1, k) / 2^(n-1)] with itself
    (n = `filt_size`); the map is reflect-padded so that the output is ceil(H / stride).
    The filter is a non-persistent buffer: state dicts hold nothing for this layer.
    """

    def __init__(self, channels: int, filt_size: int = 3, stride: int = 2):
        super().__init__()
        if filt_size < 2:
            raise ValueError(f"filt_size must be >= 2, got {filt_size}")
        self.channels = channels
        self.filt_size = filt_size
        self.stride = stride
        total = (stride - 1 + (filt_size - 1)) // 2
        self.padding = (total, total, total, total)
        self.register_buffer("filt", torch.empty(channels, 1, filt_size, filt_size), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Fill the blur filter (it is not loaded from checkpoints)."""
        row = torch.tensor([comb(self.filt_size - 1, k) for k in range(self.filt_size)], dtype=torch.float32)
        row = row / row.sum()
        kernel = (row[:, None] * row[None, :]).expand(self.channels, 1, -1, -1)
        with torch.no_grad():
            self.filt.copy_(kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, H/s, W/s)
        x = F.pad(x, self.padding, mode="reflect")
        return F.conv2d(x, self.filt, stride=self.stride, groups=self.channels)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, filt_size={self.filt_size}, stride={self.stride}"
