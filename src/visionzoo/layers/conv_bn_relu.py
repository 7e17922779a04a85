"""Conv -> BatchNorm -> ReLU with explicit padding and non-square kernels (Inception / Xception style).

Keys are `conv` (no bias) and `bn`, the layout of timm's `ConvNormAct`, which the Inception v3/v4,
Inception-ResNet-v2 and aligned Xception checkpoints use.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["BatchNormReLU2d", "ConvBnReLU", "inception_conv", "symmetric_padding"]

Size2 = int | tuple[int, int]


def _pair(v: Size2) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def symmetric_padding(kernel_size: Size2, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """PyTorch-style symmetric padding per axis: ((stride - 1) + dilation * (k - 1)) // 2."""
    return tuple((stride - 1 + dilation * (k - 1)) // 2 for k in _pair(kernel_size))  # type: ignore[return-value]


class ConvBnReLU(nn.Module):
    """Bias-free conv, BatchNorm (eps `eps`), then ReLU (or nothing with `act=False`).

    `padding=None` pads symmetrically for the kernel, stride and dilation; an int or (h, w) pair is used
    as given (the Inception stems use 0).
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_size: Size2,
        stride: int = 1,
        padding: Size2 | None = None,
        dilation: int = 1,
        eps: float = 1e-5,
        act: bool = True,
    ):
        super().__init__()
        pad = symmetric_padding(kernel_size, stride, dilation) if padding is None else _pair(padding)
        self.conv = nn.Conv2d(in_chs, out_chs, kernel_size, stride, pad, dilation, bias=False)
        self.bn = nn.BatchNorm2d(out_chs, eps=eps)
        self.act = nn.ReLU(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in, H, W) -> (B, out, H', W')
        return self.act(self.bn(self.conv(x)))


class BatchNormReLU2d(nn.BatchNorm2d):
    """BatchNorm followed by ReLU; its state dict is that of a plain BatchNorm2d (timm's `BatchNormAct2d`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, H, W)
        return torch.relu_(super().forward(x))


def inception_conv(
    in_chs: int, out_chs: int, kernel_size: Size2, stride: int = 1, padding: Size2 = 0
) -> ConvBnReLU:
    """The Inception networks' conv unit: unpadded unless `padding` is given, BatchNorm eps 1e-3 (TF's)."""
    return ConvBnReLU(in_chs, out_chs, kernel_size, stride, padding, eps=1e-3)
