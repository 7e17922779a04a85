"""Normalisation fused with an activation (conv + norm + activation is `conv_norm_act.ConvNormAct`)."""

from __future__ import annotations

import torch
import torch.fx
from torch import nn

from .activations import create_act

__all__ = ["BatchNormAct2d", "check_4d"]


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
