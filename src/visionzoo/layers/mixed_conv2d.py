"""Mixed depthwise convolution (Tan & Le 2019, MixNet): channel groups convolved with different kernel sizes."""

from __future__ import annotations

import torch
from torch import nn

from .conv2d_same import create_conv2d

__all__ = ["MixedConv2d", "split_channels", "create_conv2d_mixed"]


def split_channels(channels: int, groups: int) -> list[int]:
    """`channels` in `groups` near-equal parts, the remainder going to the first."""
    split = [channels // groups] * groups
    split[0] += channels - sum(split)
    return split


class MixedConv2d(nn.Module):
    """Splits the input channels in len(kernel_sizes) groups, convolves group i with a kernel_sizes[i] conv
    (depthwise when `depthwise`), and concatenates the results; the convs are children '0', '1', ...
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_sizes: tuple[int, ...],
        stride: int = 1,
        depthwise: bool = False,
        padding: str = "",
        dilation: int = 1,
    ):
        super().__init__()
        if not kernel_sizes:
            raise ValueError("kernel_sizes must name at least one kernel")
        self.splits = split_channels(in_chs, len(kernel_sizes))
        out_splits = split_channels(out_chs, len(kernel_sizes))
        for i, (k, cin, cout) in enumerate(zip(kernel_sizes, self.splits, out_splits, strict=True)):
            groups = cin if depthwise else 1
            conv = create_conv2d(cin, cout, k, stride, dilation, groups=groups, padding=padding)
            self.add_module(str(i), conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, Cin, H, W) -> (B, Cout, H/s, W/s)
        parts = torch.split(x, self.splits, dim=1)  # indexed, not iterated: torch.fx cannot unpack a split
        return torch.cat([conv(parts[i]) for i, conv in enumerate(self.children())], dim=1)


def create_conv2d_mixed(
    in_chs: int,
    out_chs: int,
    kernel: int | tuple[int, ...],
    stride: int = 1,
    depthwise: bool = False,
    padding: str = "",
    dilation: int = 1,
) -> nn.Module:
    """A plain (`create_conv2d`) conv for an int kernel, a MixedConv2d for a tuple of kernels."""
    if isinstance(kernel, tuple):
        return MixedConv2d(in_chs, out_chs, kernel, stride, depthwise, padding, dilation)
    groups = in_chs if depthwise else 1
    return create_conv2d(in_chs, out_chs, kernel, stride, dilation, groups=groups, padding=padding)
