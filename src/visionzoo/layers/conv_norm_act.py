"""Conv -> BatchNorm -> activation with the keys `conv` and `bn`, foldable into one biased conv."""

from __future__ import annotations

import torch
from torch import nn

from .activations import create_act
from .reparam import fuse_conv_bn

__all__ = ["ConvNormAct", "conv_padding"]


def conv_padding(kernel_size: int, stride: int = 1, dilation: int = 1) -> int:
    """PyTorch-style symmetric padding: ((stride - 1) + dilation * (kernel_size - 1)) // 2."""
    return ((stride - 1) + dilation * (kernel_size - 1)) // 2


class ConvNormAct(nn.Module):
    """Bias-free conv, BatchNorm, then an activation by name (None: none).

    With `anti_alias`, a strided conv runs at stride 1 and a `stride`x`stride` average pool (`aa`)
    follows the activation (CLIP ResNets).

    `fused_kernel_bias()` gives the weight and bias of the single conv equivalent to conv + BN in eval
    mode, which re-parameterisable blocks sum over their branches.
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_size: int = 1,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        act: str | None = None,
        padding: int | None = None,
        eps: float = 1e-5,
        anti_alias: bool = False,
    ):
        super().__init__()
        aa_stride = stride if anti_alias and stride > 1 else 1
        stride = 1 if aa_stride > 1 else stride
        pad = conv_padding(kernel_size, stride, dilation) if padding is None else padding
        self.conv = nn.Conv2d(in_chs, out_chs, kernel_size, stride, pad, dilation, groups, bias=False)
        self.bn = nn.BatchNorm2d(out_chs, eps=eps)
        self.act = create_act(act, inplace=True)
        self.aa = nn.AvgPool2d(aa_stride, aa_stride) if aa_stride > 1 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in, H, W) -> (B, out, H/s, W/s)
        return self.aa(self.act(self.bn(self.conv(x))))

    def fused_kernel_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight, bias) of one conv computing conv + BN (eval statistics)."""
        return fuse_conv_bn(self.conv.weight, self.bn)
