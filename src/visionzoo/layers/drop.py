"""Stochastic depth (the DropPath layer and the per-block rate schedules every family uses) and DropBlock."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "drop_path",
    "DropPath",
    "drop_path_layer",
    "drop_path_rates",
    "stage_drop_path_rates",
    "drop_block_2d",
    "DropBlock2d",
]


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


def drop_block_2d(
    x: torch.Tensor, drop_prob: float, block_size: int, gamma_scale: float = 1.0
) -> torch.Tensor:
    """Zero square blocks of an NCHW map (the same blocks in every channel) and rescale what is kept.

    Block centres are drawn where a whole block fits, at a rate that drops about `drop_prob * gamma_scale`
    of the map (Ghiasi et al. 2018, "DropBlock"); a block larger than the map shrinks to fit.
    """
    b, _, h, w = x.shape
    size = min(block_size, h, w)
    valid_h, valid_w = h - size + 1, w - size + 1
    gamma = gamma_scale * drop_prob * h * w / (size**2 * valid_h * valid_w)
    seeds = (torch.rand(b, 1, valid_h, valid_w, device=x.device) < gamma).to(x.dtype)  # (B, 1, h', w')
    seeds = F.pad(seeds, (size // 2, (size - 1) // 2, size // 2, (size - 1) // 2))  # centres -> (B, 1, H, W)
    dropped = F.max_pool2d(seeds, size, stride=1, padding=size // 2)[..., :h, :w]  # grow centres to blocks
    keep = 1.0 - dropped
    return x * keep * (keep.numel() / keep.sum().clamp(min=1.0))


class DropBlock2d(nn.Module):
    """DropBlock during training (`drop_block_2d`); an identity in eval mode or at rate 0."""

    def __init__(self, drop_prob: float = 0.1, block_size: int = 7, gamma_scale: float = 1.0):
        super().__init__()
        if not 0.0 <= drop_prob < 1.0 or block_size < 1:
            raise ValueError(f"need 0 <= drop_prob < 1 and block_size >= 1, got {drop_prob} and {block_size}")
        self.drop_prob, self.block_size, self.gamma_scale = drop_prob, block_size, gamma_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_prob == 0.0:
            return x
        return drop_block_2d(x, self.drop_prob, self.block_size, self.gamma_scale)

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob:.3f}, block_size={self.block_size}"
