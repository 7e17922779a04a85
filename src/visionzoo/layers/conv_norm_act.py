"""Conv -> norm -> activation with the keys `conv` and `bn`, foldable into one biased conv, and the padding
rule it uses."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .activations import create_act
from .helpers import to_2tuple
from .reparam import fuse_conv_bn

__all__ = ["ConvNormAct", "conv_padding", "inception_conv", "symmetric_padding"]


def symmetric_padding(
    kernel_size: int | tuple[int, int], stride: int = 1, dilation: int = 1
) -> tuple[int, int]:
    """PyTorch-style symmetric padding per axis: ((stride - 1) + dilation * (k - 1)) // 2."""
    kh, kw = to_2tuple(kernel_size, "kernel_size")
    return ((stride - 1 + dilation * (kh - 1)) // 2, (stride - 1 + dilation * (kw - 1)) // 2)


def conv_padding(kernel_size: int, stride: int = 1, dilation: int = 1) -> int:
    """`symmetric_padding` of a square kernel, as one int."""
    return symmetric_padding(kernel_size, stride, dilation)[0]


class ConvNormAct(nn.Module):
    """Bias-free conv, a norm (BatchNorm with `eps`, or `norm(out_chs)`), then an activation.

    `act`: an activation name, True (ReLU), or None/False (none). `padding=None` pads symmetrically for the
    kernel, stride and dilation; an int or (h, w) pair is used as given. Kernels may be non-square ((1, 7)
    in Inception). With `anti_alias`, a strided conv runs at stride 1 and a `stride`x`stride` average pool
    (`aa`) follows the activation (CLIP ResNets).

    `fused_kernel_bias()` gives the weight and bias of the single conv equivalent to conv + BN in eval
    mode, which re-parameterisable blocks sum over their branches.
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_size: int | tuple[int, int] = 1,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        act: bool | str | None = None,
        padding: int | tuple[int, int] | None = None,
        eps: float = 1e-5,
        anti_alias: bool = False,
        norm: Callable[[int], nn.Module] | None = None,
    ):
        super().__init__()
        aa_stride = stride if anti_alias and stride > 1 else 1
        stride = 1 if aa_stride > 1 else stride
        pad = symmetric_padding(kernel_size, stride, dilation) if padding is None else padding
        self.conv = nn.Conv2d(in_chs, out_chs, kernel_size, stride, pad, dilation, groups, bias=False)
        self.bn = nn.BatchNorm2d(out_chs, eps=eps) if norm is None else norm(out_chs)
        self.act = create_act("relu" if act is True else act or None, inplace=True)
        self.aa = nn.AvgPool2d(aa_stride, aa_stride) if aa_stride > 1 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in, H, W) -> (B, out, H/s, W/s)
        return self.aa(self.act(self.bn(self.conv(x))))

    def fused_kernel_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight, bias) of one conv computing conv + BN (eval statistics)."""
        return fuse_conv_bn(self.conv.weight, self.bn)


def inception_conv(
    in_chs: int,
    out_chs: int,
    kernel_size: int | tuple[int, int],
    stride: int = 1,
    padding: int | tuple[int, int] = 0,
) -> ConvNormAct:
    """The Inception networks' conv unit: ReLU, unpadded unless `padding` is given, BatchNorm eps 1e-3 (TF's)."""
    return ConvNormAct(in_chs, out_chs, kernel_size, stride, act=True, padding=padding, eps=1e-3)
