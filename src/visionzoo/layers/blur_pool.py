"""Anti-aliased downsampling (Zhang 2019): blur with a binomial filter, then subsample."""

from __future__ import annotations

from math import comb

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BlurPool2d", "create_aa"]


class BlurPool2d(nn.Module):
    """Depthwise binomial blur (`filt_size` taps per axis) with stride `stride`; the filter is not in the state dict.

    `pad_mode` is the F.pad mode of the (filt_size - 1) // 2 border ('constant' pads with zeros).
    """

    def __init__(self, filt_size: int = 3, stride: int = 2, pad_mode: str = "reflect"):
        super().__init__()
        if filt_size < 2:
            raise ValueError(f"filt_size must be >= 2, got {filt_size}")
        self.stride, self.pad_mode = stride, pad_mode
        self.padding = [(filt_size - 1) // 2] * 4
        taps = torch.tensor([comb(filt_size - 1, k) for k in range(filt_size)], dtype=torch.float32)
        taps = taps / taps.sum()
        self.register_buffer("filt", (taps[:, None] * taps[None, :])[None, None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, H/s, W/s)
        x = F.pad(x, self.padding, mode=self.pad_mode)
        c = x.shape[1]
        weight = self.filt.to(x.dtype).expand(c, 1, -1, -1)
        return F.conv2d(x, weight, stride=self.stride, groups=c)


AA_LAYERS = ("avg", "blurpc")


def create_aa(kind: str | None, stride: int = 2) -> nn.Module:
    """The anti-aliasing downsampler named `kind`: 'avg' (2x2 average pool), 'blurpc' (zero-padded BlurPool2d)."""
    if kind is None or stride == 1:
        return nn.Identity()
    if kind == "avg":
        return nn.AvgPool2d(stride, stride)
    if kind == "blurpc":
        return BlurPool2d(3, stride, pad_mode="constant")
    raise ValueError(f"aa_layer must be one of {AA_LAYERS} or None, got {kind!r}")
