"""Normalisation fused with an activation, and conv + norm + activation."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.fx
from torch import nn

from .activations import create_act
from .helpers import to_2tuple
from .norm import LayerNorm2d
from .sample_norm import EvoNorm2dS0, GroupNormAct

__all__ = [
    "BatchNormAct2d",
    "LayerNormAct2d",
    "NORM_ACT_KINDS",
    "create_norm_act",
    "ConvBnAct",
    "check_4d",
    "inception_conv",
    "symmetric_padding",
]


def check_4d(x: torch.Tensor) -> torch.Tensor:
    """`x`, after raising a ValueError unless it is 4-D (a leaf of torch.fx graphs: `torch.fx.wrap`)."""
    if x.dim() != 4:
        raise ValueError(f"expected 4D input (got {x.dim()}D input)")
    return x


torch.fx.wrap("check_4d")


class BatchNormAct2d(nn.BatchNorm2d):
    """BatchNorm followed by an activation (by name); its state dict is that of a plain BatchNorm2d."""

    def __init__(self, num_features: int, eps: float = 1e-5, act: str | None = None):
        super().__init__(num_features, eps=eps)
        self.act = create_act(act, inplace=True)

    def _check_input_dim(self, input: torch.Tensor) -> None:
        check_4d(input)  # BatchNorm2d's own check branches on the shape, which torch.fx cannot trace

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, H, W)
        return self.act(super().forward(x))


class LayerNormAct2d(LayerNorm2d):
    """LayerNorm over the channels of an NCHW map, then an activation (by name); keys `weight`, `bias`."""

    def __init__(self, num_channels: int, eps: float = 1e-5, act: str | None = None):
        super().__init__(num_channels, eps=eps)
        self.act = create_act(act, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, H, W)
        return self.act(super().forward(check_4d(x)))


NORM_ACT_KINDS = ("batchnorm", "groupnorm", "layernorm", "evonorm_s0")


def create_norm_act(
    kind: str, num_channels: int, act: str | None = None, eps: float = 1e-5, group_size: int = 0
) -> nn.Module:
    """A norm + activation over `num_channels` NCHW channels, by the names architecture tables use.

    `kind` is one of `NORM_ACT_KINDS`; `group_size` is the channels per group of 'groupnorm' and
    'evonorm_s0' (0: 32 groups). `act` None means no activation; EvoNorm-S0 has its own non-linearity
    (x * sigmoid(v * x) / group std), so for it any `act` only switches that non-linearity on.
    """
    if kind not in NORM_ACT_KINDS:
        raise ValueError(f"unknown norm layer {kind!r}; known: {', '.join(NORM_ACT_KINDS)}")
    if kind == "batchnorm":
        return BatchNormAct2d(num_channels, eps, act)
    if kind == "layernorm":
        return LayerNormAct2d(num_channels, eps, act)
    if group_size and num_channels % group_size:
        raise ValueError(f"{num_channels} channels are not a multiple of the norm group size {group_size}")
    groups = num_channels // group_size if group_size else 32
    if kind == "groupnorm":
        return GroupNormAct(num_channels, groups, eps, act=act)
    return EvoNorm2dS0(num_channels, groups, apply_act=act is not None, eps=eps)


def symmetric_padding(
    kernel_size: int | tuple[int, int], stride: int = 1, dilation: int = 1
) -> tuple[int, int]:
    """PyTorch-style symmetric padding per axis: ((stride - 1) + dilation * (k - 1)) // 2."""
    kh, kw = to_2tuple(kernel_size, "kernel_size")
    return ((stride - 1 + dilation * (kh - 1)) // 2, (stride - 1 + dilation * (kw - 1)) // 2)


class ConvBnAct(nn.Module):
    """Bias-free conv -> norm (BatchNorm, eps `eps`) -> activation; keys `conv` and `bn`.

    `padding=None` pads symmetrically for the kernel, stride and dilation; an int or (h, w) pair is used
    as given (the Inception stems use 0). Kernels may be non-square ((1, 7) in Inception). `act`: True
    (ReLU), False (none) or an activation name; `norm`: another norm class, built from the channel count.
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_size: int | tuple[int, int],
        stride: int = 1,
        padding: int | tuple[int, int] | None = None,
        dilation: int = 1,
        groups: int = 1,
        eps: float = 1e-5,
        act: bool | str = True,
        norm: Callable[[int], nn.Module] | None = None,
    ):
        super().__init__()
        pad = symmetric_padding(kernel_size, stride, dilation) if padding is None else padding
        self.conv = nn.Conv2d(in_chs, out_chs, kernel_size, stride, pad, dilation, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_chs, eps=eps) if norm is None else norm(out_chs)
        self.act = create_act("relu" if act is True else act or None, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in, H, W) -> (B, out, H/s, W/s)
        return self.act(self.bn(self.conv(x)))


def inception_conv(
    in_chs: int,
    out_chs: int,
    kernel_size: int | tuple[int, int],
    stride: int = 1,
    padding: int | tuple[int, int] = 0,
) -> ConvBnAct:
    """The Inception networks' conv unit: unpadded unless `padding` is given, BatchNorm eps 1e-3 (TF's)."""
    return ConvBnAct(in_chs, out_chs, kernel_size, stride, padding, eps=1e-3)
