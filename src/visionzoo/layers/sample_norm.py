"""Normalisations computed per sample (no batch statistics), with their activation built in.

`GroupNormAct` (GroupNorm then an activation), `EvoNorm2dS0` (Liu et al. 2020, the batch-free S0 form)
and `FilterResponseNormTlu2d` (Singh & Krishnan 2019, FRN with a learned threshold). Each takes
`apply_act=False` to leave out the non-linearity. Parameter names follow timm's layers of the same names.
"""

from __future__ import annotations

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from .activations import create_act
from .helpers import check_4d

# a leaf of torch.fx graphs here too: the check branches on the input's rank
torch.fx.wrap("check_4d")

__all__ = ["GroupNormAct", "EvoNorm2dS0", "FilterResponseNormTlu2d"]


class GroupNormAct(nn.GroupNorm):
    """GroupNorm over `num_groups` channel groups, then an activation (by name; ReLU by default)."""

    def __init__(
        self,
        num_channels: int,
        num_groups: int = 32,
        eps: float = 1e-5,
        affine: bool = True,
        act: str | None = "relu",
        apply_act: bool = True,
    ):
        if num_channels % num_groups:
            raise ValueError(f"{num_channels} channels cannot be split into {num_groups} groups")
        super().__init__(num_groups, num_channels, eps=eps, affine=affine)
        self.act = create_act(act if apply_act else None, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, H, W)
        return self.act(F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps))


class EvoNorm2dS0(nn.Module):
    """EvoNorm-S0: x * sigmoid(v * x) / group_std(x), then a per-channel affine.

    Keys: `weight`, `bias` and (with the activation) `v`. The group std is over `groups` channel groups
    (or groups of `group_size` channels), biased, with `eps` added to the variance.
    """

    def __init__(
        self,
        num_features: int,
        groups: int = 32,
        group_size: int | None = None,
        apply_act: bool = True,
        eps: float = 1e-5,
    ):
        super().__init__()
        if group_size:
            if num_features % group_size:
                raise ValueError(f"{num_features} channels are not a multiple of group_size {group_size}")
            groups = num_features // group_size
        if num_features % groups:
            raise ValueError(f"{num_features} channels cannot be split into {groups} groups")
        self.groups = groups
        self.eps = eps
        self.apply_act = apply_act
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.v = nn.Parameter(torch.ones(num_features)) if apply_act else None

    def reset_parameters(self) -> None:
        nn.init.ones_(self.weight)
        nn.init.zeros_(self.bias)
        if self.v is not None:
            nn.init.ones_(self.v)

    def _group_std(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, H, W)
        b, c, h, w = x.shape
        grouped = x.float().reshape(b, self.groups, c // self.groups, h, w)
        var = grouped.var(dim=(2, 3, 4), unbiased=False, keepdim=True)  # (B, G, 1, 1, 1)
        std = var.add(self.eps).sqrt().to(x.dtype)
        return std.expand(grouped.shape).reshape(b, c, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = check_4d(x)
        shape = (1, -1, 1, 1)
        if self.v is not None:
            x = x * torch.sigmoid(x * self.v.view(shape).to(x.dtype)) / self._group_std(x)
        return x * self.weight.view(shape).to(x.dtype) + self.bias.view(shape).to(x.dtype)


class FilterResponseNormTlu2d(nn.Module):
    """Filter response normalisation: x / sqrt(mean_hw(x^2) + eps), affine, then max(x, tau) (the TLU).

    Keys: `weight`, `bias` and (with the activation) `tau`.
    """

    def __init__(self, num_features: int, apply_act: bool = True, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.apply_act = apply_act
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.tau = nn.Parameter(torch.zeros(num_features)) if apply_act else None

    def reset_parameters(self) -> None:
        nn.init.ones_(self.weight)
        nn.init.zeros_(self.bias)
        if self.tau is not None:
            nn.init.zeros_(self.tau)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = check_4d(x)
        shape = (1, -1, 1, 1)
        nu2 = x.float().square().mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1): mean square per channel
        x = x * nu2.add(self.eps).rsqrt().to(x.dtype)
        x = x * self.weight.view(shape).to(x.dtype) + self.bias.view(shape).to(x.dtype)
        return torch.maximum(x, self.tau.view(shape).to(x.dtype)) if self.tau is not None else x
