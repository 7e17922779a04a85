"""Depthwise-separable convolutions (a per-channel k x k conv, then a 1x1 conv), as the Xception networks use.

Three key layouts, one per checkpoint lineage:
- `SeparableConv2d`: `conv1` (depthwise) and `pointwise`, no norm (the original Keras/TF Xception port);
- `SeparableConvBnAct`: `conv_dw`, `bn_dw`, `conv_pw`, `bn_pw`, each conv followed by BatchNorm and an
  optional ReLU (DeepLab's aligned Xception);
- `PreActSeparableConv`: an optional BatchNorm + ReLU `norm` in front of `conv_dw` and `conv_pw` (the
  pre-activation aligned Xception).
"""

from __future__ import annotations

import torch
from torch import nn

from .conv_norm_act import symmetric_padding
from .norm_act import BatchNormAct2d

__all__ = ["SeparableConv2d", "SeparableConvBnAct", "PreActSeparableConv"]


def _depthwise(chs: int, kernel_size: int, stride: int, dilation: int, padding: int | None) -> nn.Conv2d:
    pad = symmetric_padding(kernel_size, stride, dilation) if padding is None else (padding, padding)
    return nn.Conv2d(chs, chs, kernel_size, stride, pad, dilation, groups=chs, bias=False)


class SeparableConv2d(nn.Module):
    """Depthwise k x k conv (`conv1`) -> 1x1 conv (`pointwise`), both without bias or norm."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | None = None,
        dilation: int = 1,
    ):
        super().__init__()
        self.conv1 = _depthwise(in_chs, kernel_size, stride, dilation, padding)
        self.pointwise = nn.Conv2d(in_chs, out_chs, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in, H, W) -> (B, out, H/s, W/s)
        return self.pointwise(self.conv1(x))


class SeparableConvBnAct(nn.Module):
    """Depthwise conv -> BN (-> ReLU) -> 1x1 conv -> BN (-> ReLU); ReLUs only with `act=True`."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        eps: float = 1e-5,
        act: bool = True,
    ):
        super().__init__()
        self.conv_dw = _depthwise(in_chs, kernel_size, stride, dilation, None)
        self.bn_dw = nn.BatchNorm2d(in_chs, eps=eps)
        self.act_dw = nn.ReLU(inplace=True) if act else nn.Identity()
        self.conv_pw = nn.Conv2d(in_chs, out_chs, 1, bias=False)
        self.bn_pw = nn.BatchNorm2d(out_chs, eps=eps)
        self.act_pw = nn.ReLU(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in, H, W) -> (B, out, H/s, W/s)
        x = self.act_dw(self.bn_dw(self.conv_dw(x)))
        return self.act_pw(self.bn_pw(self.conv_pw(x)))


class PreActSeparableConv(nn.Module):
    """(BN -> ReLU, with `first_act`) -> depthwise conv -> 1x1 conv."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        eps: float = 1e-5,
        first_act: bool = True,
    ):
        super().__init__()
        self.norm = BatchNormAct2d(in_chs, eps=eps, act="relu") if first_act else nn.Identity()
        self.conv_dw = _depthwise(in_chs, kernel_size, stride, dilation, None)
        self.conv_pw = nn.Conv2d(in_chs, out_chs, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in, H, W) -> (B, out, H/s, W/s)
        return self.conv_pw(self.conv_dw(self.norm(x)))
