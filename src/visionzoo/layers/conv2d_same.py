"""TensorFlow-style "SAME" padding for convolutions, and a conv factory choosing the padding mode.

TF "SAME" pads so that the output has ceil(input / stride) pixels, putting the odd pixel of padding on the
bottom/right. PyTorch's symmetric padding gives the same result whenever the stride is 1 (odd kernels); for
strided convs the amount depends on the input size, so it is computed at run time.
"""

from __future__ import annotations

import math

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

__all__ = [
    "same_pad_amount",
    "pad_same",
    "SameConv2d",
    "SamePadAvgPool2d",
    "SamePadMaxPool2d",
    "create_conv2d",
    "PADDING_MODES",
]

PADDING_MODES = ("", "same")


def same_pad_amount(size: int, kernel_size: int, stride: int, dilation: int = 1) -> int:
    """Total padding along one axis so that the output has ceil(size / stride) positions."""
    out = math.ceil(size / stride)
    span = (kernel_size - 1) * dilation + 1
    return max((out - 1) * stride + span - size, 0)


def pad_same(
    x: torch.Tensor,
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    value: float = 0.0,
) -> torch.Tensor:
    """Pad an NCHW map the TF "SAME" way (the extra pixel, if any, goes bottom/right) with `value`
    (zeros; -inf before a max pool)."""
    ih, iw = x.shape[-2:]
    ph = same_pad_amount(ih, kernel_size[0], stride[0], dilation[0])
    pw = same_pad_amount(iw, kernel_size[1], stride[1], dilation[1])
    if ph or pw:
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), value=value)
    return x


# The padding depends on the input size, which torch.fx cannot branch on: traced graphs call pad_same as a leaf.
torch.fx.wrap("pad_same")


class SamePadAvgPool2d(nn.Module):
    """2x2 average pool with TF-"SAME" zero padding (the shortcut pool of a dilated ResNet stage)."""

    def __init__(self, kernel_size: int = 2, stride: int = 1):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = (self.kernel_size,) * 2, (self.stride,) * 2
        return F.avg_pool2d(pad_same(x, k, s, (1, 1)), k, s, ceil_mode=True, count_include_pad=False)


class SamePadMaxPool2d(nn.Module):
    """Max pool with TF-"SAME" padding (by -inf, so padding never wins): ResNetV2's 'same' stem pool."""

    def __init__(self, kernel_size: int = 3, stride: int = 2):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, ceil(H/s), ceil(W/s))
        k, s = (self.kernel_size,) * 2, (self.stride,) * 2
        return F.max_pool2d(pad_same(x, k, s, (1, 1), value=float("-inf")), k, s)


class SameConv2d(nn.Conv2d):
    """nn.Conv2d whose padding is computed per input, as TF "SAME" does (state dict: weight, bias)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = True,
    ):
        super().__init__(in_channels, out_channels, kernel_size, stride, 0, dilation, groups, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, O, ceil(H/s), ceil(W/s))
        padded = pad_same(x, self.kernel_size, self.stride, self.dilation)
        return F.conv2d(padded, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def create_conv2d(
    in_chs: int,
    out_chs: int,
    kernel_size: int,
    stride: int = 1,
    dilation: int = 1,
    groups: int = 1,
    bias: bool = False,
    padding: str = "",
) -> nn.Conv2d:
    """A 2D conv with PyTorch-style symmetric padding (`padding=''`) or TF "SAME" padding (`'same'`).

    'same' uses a plain nn.Conv2d when the padding does not depend on the input size (stride 1), and
    SameConv2d otherwise, so the state dict keys are the same in both modes.
    """
    if padding not in PADDING_MODES:
        raise ValueError(f"padding must be one of {PADDING_MODES}, got {padding!r}")
    span = (kernel_size - 1) * dilation
    if padding == "same" and not (stride == 1 and span % 2 == 0):
        return SameConv2d(in_chs, out_chs, kernel_size, stride, dilation, groups, bias)
    sym = span // 2 if padding == "same" else (stride - 1 + span) // 2
    return nn.Conv2d(in_chs, out_chs, kernel_size, stride, sym, dilation, groups, bias)
