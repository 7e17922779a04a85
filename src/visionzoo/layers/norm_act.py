"""Normalisation fused with an activation (conv + norm + activation is `conv_norm_act.ConvNormAct`)."""

from __future__ import annotations

import torch
import torch.fx
from torch import nn

from .activations import create_act
from .helpers import check_4d
from .norm import LayerNorm2d
from .sample_norm import EvoNorm2dS0, GroupNormAct

__all__ = ["BatchNormAct2d", "LayerNormAct2d", "NORM_ACT_KINDS", "create_norm_act", "check_4d"]


# a leaf of torch.fx graphs (torch.fx.wrap patches the calling module): the check branches on the rank
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
