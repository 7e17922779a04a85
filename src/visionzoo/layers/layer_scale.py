"""Per-channel learnable output scale (Touvron et al. 2021), for NCHW maps."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LayerScale2d"]


class LayerScale2d(nn.Module):
    """Multiplies channel c of a (B, C, H, W) map by `gamma[c]`, initialised to `init_value`."""

    def __init__(self, dim: int, init_value: float = 1e-5):
        super().__init__()
        self.init_value = init_value
        self.gamma = nn.Parameter(torch.full((dim,), float(init_value)))

    def reset_parameters(self) -> None:
        nn.init.constant_(self.gamma, self.init_value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, H, W)
        return x * self.gamma.view(1, -1, 1, 1)
