"""Anti-aliased downsampling (Zhang 2019, "Making Convolutional Networks Shift-Invariant Again")."""

from __future__ import annotations

from math import comb

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AA_TYPES", "AA_LAYERS", "BlurPool2d", "create_aa"]


class BlurPool2d(nn.Module):
    """Blur each channel with a binomial filter, then subsample by `stride`.

    The filter is the outer product of the binomial row [C(n-1, k) / 2^(n-1)] with itself
    (n = `filt_size`); the map is padded with `pad_mode` ('reflect', or 'constant' for zeros) so that the
    output is ceil(H / stride). `channels` may be left out: the filter then fits any input. The filter
    is a non-persistent buffer, refilled by `reset_parameters` after a meta-device build: state dicts
    hold nothing for this layer.
    """

    def __init__(
        self, channels: int | None = None, filt_size: int = 3, stride: int = 2, pad_mode: str = "reflect"
    ):
        super().__init__()
        if filt_size < 2 or stride < 1 or (channels is not None and channels < 1):
            raise ValueError(
                f"need channels >= 1, filt_size >= 2, stride >= 1; got {channels}, {filt_size}, {stride}"
            )
        self.channels, self.filt_size, self.stride, self.pad_mode = channels, filt_size, stride, pad_mode
        total = (stride - 1 + (filt_size - 1)) // 2
        self.padding = (total, total, total, total)
        self.register_buffer("filt", torch.empty(channels or 1, 1, filt_size, filt_size), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Fill the blur filter (it is not loaded from checkpoints)."""
        if self.filt.is_meta:
            return
        row = torch.tensor([comb(self.filt_size - 1, k) for k in range(self.filt_size)], dtype=torch.float32)
        row = row / row.sum()
        with torch.no_grad():
            self.filt.copy_((row[:, None] * row[None, :]).expand_as(self.filt))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, H/s, W/s)
        x = F.pad(x, self.padding, mode=self.pad_mode)
        c = x.shape[1]
        weight = self.filt.to(x.dtype)
        if self.channels is None:
            weight = weight.expand(c, 1, -1, -1)
        return F.conv2d(x, weight, stride=self.stride, groups=c)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, filt_size={self.filt_size}, stride={self.stride}, pad_mode={self.pad_mode!r}"


# anti-aliasing kinds: 'blur' (reflect-padded BlurPool2d), 'blurpc' (zero-padded), 'avg' (average pool)
AA_TYPES = ("", "blur", "avg")  # the ResNet family's ("" for none)
AA_LAYERS = ("avg", "blurpc")  # the efficient-block family's


def create_aa(kind: str | None, channels: int | None = None, stride: int = 2) -> nn.Module:
    """The anti-aliased stride-`stride` downsampler named `kind`; None (or stride 1) gives an identity."""
    if not kind or stride == 1:
        return nn.Identity()
    if kind == "avg":
        return nn.AvgPool2d(stride, stride)
    if kind == "blur":
        return BlurPool2d(channels, stride=stride)
    if kind == "blurpc":
        return BlurPool2d(channels, stride=stride, pad_mode="constant")
    raise ValueError(f"anti-aliasing must be one of 'avg', 'blur', 'blurpc' or None, got {kind!r}")
