"""Stochastic depth: the DropPath layer and the per-block rate schedules every family uses."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["drop_path", "DropPath", "drop_path_layer", "drop_path_rates", "stage_drop_path_rates"]


def drop_path(x: torch.Tensor, drop_prob: float = 0.0, training: bool = False) -> torch.Tensor:
    """Zero whole samples of a residual branch with probability `drop_prob`, rescaling the rest."""
    if drop_prob == 0.0 or not training:
        return x
    keep = 1.0 - drop_prob
    mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
    return x * mask.div_(keep)


class DropPath(nn.Module):
    """Per-sample stochastic depth for residual branches."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob:.3f}"


def drop_path_layer(drop_prob: float) -> nn.Module:
    """`DropPath(drop_prob)` for a residual branch, or nn.Identity when the rate is zero."""
    return DropPath(drop_prob) if drop_prob > 0 else nn.Identity()


def drop_path_rates(
    drop_path_rate: float, num_blocks: int, *, reach_end: bool = True, float32: bool = False
) -> list[float]:
    """Stochastic-depth rate of each of `num_blocks` blocks, rising linearly from 0.

    reach_end: the last block gets `drop_path_rate` (block i: rate * i / (n - 1)); False gives rate * i / n,
        which never reaches it (the EfficientNet family's schedule).
    float32: the ramp as a float32 `torch.linspace` gives it (the transformer families' schedule; the rates
        differ from the float64 ones in the last bits).
    Plain floats, computed on the CPU (safe under a meta-device context).
    """
    if float32:
        return torch.linspace(0, drop_path_rate, num_blocks, device="cpu").tolist()
    denominator = max(num_blocks - 1, 1) if reach_end else max(num_blocks, 1)
    return [drop_path_rate * i / denominator for i in range(num_blocks)]


def stage_drop_path_rates(
    drop_path_rate: float, depths: Sequence[int], *, reach_end: bool = True, float32: bool = False
) -> list[list[float]]:
    """`drop_path_rates` over all blocks of all stages, split into one list per stage (`depths` blocks each)."""
    rates = drop_path_rates(drop_path_rate, sum(depths), reach_end=reach_end, float32=float32)
    starts = [sum(depths[:i]) for i in range(len(depths))]
    return [rates[start : start + depth] for start, depth in zip(starts, depths)]
