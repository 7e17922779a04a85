"""Squeeze-and-excitation channel gating (Hu et al. 2017), in the two key layouts timm checkpoints use.

Both gate each channel of an NCHW map by a sigmoid-like function of a two-layer bottleneck on the globally
averaged map; they differ only in their layer names:

- `SEModule` (RegNet): `fc1` -> `act` -> `fc2` -> `gate`;
- `SqueezeExcite` (EfficientNet, MobileNet): `conv_reduce` -> `act1` -> `conv_expand` -> `gate`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .activations import create_act

__all__ = ["SEModule", "SqueezeExcite"]


class _SqueezeExciteBase(nn.Module):
    """The gating computation; subclasses name the four layers (`_layers`)."""

    def _layers(self) -> tuple[nn.Module, nn.Module, nn.Module, nn.Module]:
        """(reduce conv, activation, expand conv, gate)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, H, W)
        reduce, act, expand, gate = self._layers()
        s = x.mean((2, 3), keepdim=True)  # (B, C, 1, 1)
        return x * gate(expand(act(reduce(s))))


def _check_rd(rd_channels: int) -> None:
    if rd_channels < 1:
        raise ValueError(f"rd_channels must be >= 1, got {rd_channels}")


class SEModule(_SqueezeExciteBase):
    """Squeeze-excite with keys `fc1` (channels -> rd_channels, 1x1 conv with bias) and `fc2` (back)."""

    def __init__(
        self,
        channels: int,
        rd_channels: int,
        act_layer: Callable[[], nn.Module] = nn.ReLU,
        gate_layer: Callable[[], nn.Module] = nn.Sigmoid,
    ):
        super().__init__()
        _check_rd(rd_channels)
        self.fc1 = nn.Conv2d(channels, rd_channels, 1)
        self.act = act_layer()
        self.fc2 = nn.Conv2d(rd_channels, channels, 1)
        self.gate = gate_layer()

    def _layers(self) -> tuple[nn.Module, nn.Module, nn.Module, nn.Module]:
        return self.fc1, self.act, self.fc2, self.gate


class SqueezeExcite(_SqueezeExciteBase):
    """Squeeze-excite with keys `conv_reduce` and `conv_expand`; activation and gate named as strings."""

    def __init__(self, channels: int, rd_channels: int, act: str = "relu", gate: str = "sigmoid"):
        super().__init__()
        _check_rd(rd_channels)
        self.conv_reduce = nn.Conv2d(channels, rd_channels, 1, bias=True)
        self.act1 = create_act(act, inplace=True)
        self.conv_expand = nn.Conv2d(rd_channels, channels, 1, bias=True)
        self.gate = create_act(gate)

    def _layers(self) -> tuple[nn.Module, nn.Module, nn.Module, nn.Module]:
        return self.conv_reduce, self.act1, self.conv_expand, self.gate
