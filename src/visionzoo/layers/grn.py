"""Global response normalisation (ConvNeXt-V2) and the MLP that carries it."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .mlp import Mlp

__all__ = ["GlobalResponseNorm", "GlobalResponseNormMlp"]


class GlobalResponseNorm(nn.Module):
    """x + bias + weight * x * n, where n is each channel's spatial L2 norm over the mean of those norms.

    Channels compete through their share of the map's total response (Woo et al. 2023). `weight` and
    `bias` start at zero, so a fresh layer is the identity. `channels_last` selects NHWC over NCHW input.
    """

    def __init__(self, dim: int, eps: float = 1e-6, channels_last: bool = True):
        super().__init__()
        self.eps = eps
        self.channels_last = channels_last
        self.weight = nn.Parameter(torch.zeros(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, H, W, C) or (B, C, H, W)
        spatial, channel = ((1, 2), -1) if self.channels_last else ((2, 3), 1)
        shape = (1, 1, 1, -1) if self.channels_last else (1, -1, 1, 1)
        strength = x.norm(p=2, dim=spatial, keepdim=True)  # (B, 1, 1, C) or (B, C, 1, 1)
        share = strength / (strength.mean(dim=channel, keepdim=True) + self.eps)
        return x + torch.addcmul(self.bias.view(shape), self.weight.view(shape), x * share)


class GlobalResponseNormMlp(Mlp):
    """fc1 -> act -> drop -> GRN -> fc2 -> drop; the GRN sits on the hidden width (as `grn`)."""

    def __init__(
        self,
        in_features: int,
        hidden_features: int | None = None,
        out_features: int | None = None,
        act_layer: Callable[[], nn.Module] = nn.GELU,
        bias: bool = True,
        drop: float = 0.0,
        use_conv: bool = False,
    ):
        super().__init__(in_features, hidden_features, out_features, act_layer, None, bias, drop, use_conv)
        del self.norm
        self.grn = GlobalResponseNorm(hidden_features or in_features, channels_last=not use_conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop1(self.act(self.fc1(x)))
        return self.drop2(self.fc2(self.grn(x)))
