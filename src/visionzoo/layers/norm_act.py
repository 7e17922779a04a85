"""Normalisation fused with an activation, and conv + norm + activation."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.fx
from torch import nn

from .activations import create_act

__all__ = ["BatchNormAct2d", "ConvBnAct", "check_4d"]


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


class ConvBnAct(nn.Module):
    """Conv (no bias, symmetric padding) -> norm -> activation; keys `conv` and `bn`.

    `act`: True (ReLU), False (none) or an activation name; `norm`: the norm class by channels (BatchNorm2d).
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_size: int,
        stride: int = 1,
        groups: int = 1,
        act: bool | str = True,
        norm: Callable[[int], nn.Module] = nn.BatchNorm2d,
    ):
        super().__init__()
        self.conv = nn.Conv2d(
            in_chs, out_chs, kernel_size, stride, kernel_size // 2, groups=groups, bias=False
        )
        self.bn = norm(out_chs)
        self.act = create_act("relu" if act is True else act or None, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in, H, W) -> (B, out, H/s, W/s)
        return self.act(self.bn(self.conv(x)))
