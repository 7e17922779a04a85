"""Transformer MLP block."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class Mlp(nn.Module):
    """fc1 -> act -> drop -> norm -> fc2 -> drop, on the last dimension (or on channels with `use_conv`)."""

    def __init__(
        self,
        in_features: int,
        hidden_features: int | None = None,
        out_features: int | None = None,
        act_layer: Callable[[], nn.Module] = nn.GELU,
        norm_layer: Callable[[int], nn.Module] | None = None,
        bias: bool = True,
        drop: float = 0.0,
        use_conv: bool = False,
    ):
        super().__init__()
        hidden = hidden_features or in_features
        out = out_features or in_features
        linear = (lambda i, o, b: nn.Conv2d(i, o, 1, bias=b)) if use_conv else nn.Linear
        self.fc1 = linear(in_features, hidden, bias)
        self.act = act_layer()
        self.drop1 = nn.Dropout(drop)
        self.norm = norm_layer(hidden) if norm_layer is not None else nn.Identity()
        self.fc2 = linear(hidden, out, bias)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop1(self.act(self.fc1(x)))
        return self.drop2(self.fc2(self.norm(x)))
