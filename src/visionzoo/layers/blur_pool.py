"""Anti-aliased downsampling (Zhang 2019, "Making Convolutional Networks Shift-Invariant Again").

`BlurPool2d` low-pass filters with a fixed binomial kernel, then subsamples. The kernel is a
non-persistent buffer, so models that use it keep the state-dict keys of their un-blurred version.
`create_aa` builds the anti-aliasing step by name ('blur' or 'avg') for the CNN families.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BlurPool2d", "AA_TYPES", "create_aa"]

AA_TYPES = ("", "blur", "avg")


class BlurPool2d(nn.Module):
    """Depthwise binomial blur (`filt_size` taps per axis, reflect-padded) with stride `stride`."""

    def __init__(self, channels: int, filt_size: int = 3, stride: int = 2):
        super().__init__()
        if channels < 1 or filt_size < 2 or stride < 1:
            raise ValueError(
                f"need channels >= 1, filt_size >= 2, stride >= 1; got {channels}, {filt_size}, {stride}"
            )
        self.channels, self.filt_size, self.stride = channels, filt_size, stride
        pad_total = filt_size - 1
        self.padding = (pad_total // 2, pad_total - pad_total // 2) * 2  # (left, right, top, bottom)
        # built on the CPU even under a meta-device context: a value, not a weight to be loaded
        taps = [math.comb(filt_size - 1, k) for k in range(filt_size)]
        taps = torch.tensor(taps, dtype=torch.float32, device="cpu") / sum(taps)
        kernel = (taps[:, None] * taps[None, :]).expand(channels, 1, filt_size, filt_size).contiguous()
        self.register_buffer("filt", kernel, persistent=False)  # (C, 1, k, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, H/s, W/s)
        x = F.pad(x, self.padding, mode="reflect")
        return F.conv2d(x, self.filt, stride=self.stride, groups=self.channels)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, filt_size={self.filt_size}, stride={self.stride}"


def create_aa(aa: str, channels: int, stride: int = 2) -> nn.Module:
    """The anti-aliased stride-`stride` step: 'blur' (BlurPool2d), 'avg' (stride x stride average pool)."""
    if aa == "blur":
        return BlurPool2d(channels, stride=stride)
    if aa == "avg":
        return nn.AvgPool2d(stride)
    raise ValueError(f"aa must be one of {AA_TYPES[1:]}, got {aa!r}")
