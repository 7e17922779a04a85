"""Per-channel learnable output scale (Touvron et al. 2021), for tokens [..., C] and NCHW maps."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LayerScale", "LayerScale2d"]


class LayerScale(nn.Module):
    """Learned per-channel scaling of a residual branch: x * gamma on the last dimension."""

    def __init__(self, dim: int, init_values: float = 1e-5):
        super().__init__()
        self.init_values = init_values
        self.gamma = nn.Parameter(torch.full((dim,), float(init_values)))

    def reset_parameters(self) -> None:
        nn.init.constant_(self.gamma, self.init_values)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [..., C]
        return x * self.gamma


class LayerScale2d(LayerScale):
    """`LayerScale` on the channels of a (B, C, H, W) map."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, H, W)
        return x * self.gamma.view(1, -1, 1, 1)
