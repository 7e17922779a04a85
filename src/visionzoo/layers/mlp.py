"""Transformer MLP blocks: plain (`Mlp`) and gated (`GluMlp`, `SwiGLU`)."""

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


class GluMlp(nn.Module):
    """Gated MLP with one packed input projection: fc1 -> (a, b) halves -> act(a) * b -> norm -> fc2.

    `hidden_features` is the packed width (twice the gated width), as in timm's packed SwiGLU.
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: int,
        out_features: int | None = None,
        act_layer: Callable[[], nn.Module] = nn.SiLU,
        norm_layer: Callable[[int], nn.Module] | None = None,
        bias: bool = True,
        drop: float = 0.0,
    ):
        super().__init__()
        if hidden_features % 2:
            raise ValueError(f"GluMlp needs an even packed hidden width, got {hidden_features}")
        out = out_features or in_features
        self.fc1 = nn.Linear(in_features, hidden_features, bias=bias)
        self.act = act_layer()
        self.drop1 = nn.Dropout(drop)
        self.norm = norm_layer(hidden_features // 2) if norm_layer is not None else nn.Identity()
        self.fc2 = nn.Linear(hidden_features // 2, out, bias=bias)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, value = self.fc1(x).chunk(2, dim=-1)
        x = self.drop1(self.act(gate) * value)
        return self.drop2(self.fc2(self.norm(x)))


class SwiGLU(nn.Module):
    """SwiGLU with separate gate and value projections: silu(fc1_g(x)) * fc1_x(x) -> norm -> fc2.

    `norm_layer` gives the sub-layer norm EVA02 puts before the output projection; `align_to` rounds the
    hidden width up to a multiple (DINOv3's SwiGLU variants).
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: int | None = None,
        out_features: int | None = None,
        act_layer: Callable[[], nn.Module] = nn.SiLU,
        norm_layer: Callable[[int], nn.Module] | None = None,
        bias: bool = True,
        drop: float = 0.0,
        align_to: int = 0,
    ):
        super().__init__()
        hidden = hidden_features or in_features
        if align_to:
            hidden += -hidden % align_to
        out = out_features or in_features
        self.fc1_g = nn.Linear(in_features, hidden, bias=bias)
        self.fc1_x = nn.Linear(in_features, hidden, bias=bias)
        self.act = act_layer()
        self.drop1 = nn.Dropout(drop)
        self.norm = norm_layer(hidden) if norm_layer is not None else nn.Identity()
        self.fc2 = nn.Linear(hidden, out, bias=bias)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop1(self.act(self.fc1_g(x)) * self.fc1_x(x))
        return self.drop2(self.fc2(self.norm(x)))
