"""Normalisation layers that are not in torch.nn."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LayerNorm2d", "RmsNorm", "RmsNorm2d", "SimpleNorm2d", "NORM_LAYERS", "NORM_2D", "norm_layer_for"]


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channel dimension of an NCHW map (each spatial position normalised on its own).

    Parameters are named `weight` and `bias`, like `nn.LayerNorm` over the last dimension.
    """

    def __init__(self, num_channels: int, eps: float = 1e-6, affine: bool = True):
        super().__init__(num_channels, eps=eps, elementwise_affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, H, W)
        x = x.permute(0, 2, 3, 1)  # (B, H, W, C): normalise the last dim
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class RmsNorm(nn.Module):
    """Root-mean-square norm over the last dimension, with a learned scale (`weight`) and no bias."""

    def __init__(self, num_features: int, eps: float = 1e-6, affine: bool = True):
        super().__init__()
        self.normalized_shape = (num_features,)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_features)) if affine else None

    def reset_parameters(self) -> None:
        if self.weight is not None:
            nn.init.ones_(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [..., C]
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape[0]}, eps={self.eps}"


NORM_LAYERS: dict[str, type[nn.Module]] = {"layernorm": nn.LayerNorm, "rmsnorm": RmsNorm}


def norm_layer_for(name: str, eps: float = 1e-6) -> Callable[[int], nn.Module]:
    """A `dim -> norm module` factory for a norm named in an architecture table ('layernorm', 'rmsnorm')."""
    if name not in NORM_LAYERS:
        raise ValueError(f"unknown norm layer {name!r}; known: {', '.join(NORM_LAYERS)}")
    return partial(NORM_LAYERS[name], eps=eps)


class RmsNorm2d(nn.Module):
    """RMS norm over the channels of an NCHW map: x / sqrt(mean(x^2) + eps) * weight (no centring, no bias)."""

    def __init__(self, num_channels: int, eps: float = 1e-6, affine: bool = True):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_channels)) if affine else None

    @staticmethod
    def _second_moment(y: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, 1, H, W)
        """The per-position statistic the map is divided by the root of: the mean square here."""
        return y.pow(2).mean(dim=1, keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, H, W)
        y = x.float()
        y = y * torch.rsqrt(self._second_moment(y) + self.eps)
        if self.weight is not None:
            y = y * self.weight.float().view(1, -1, 1, 1)
        return y.to(x.dtype)


class SimpleNorm2d(RmsNorm2d):
    """Scale-only norm over the channels of an NCHW map: x / sqrt(var(x) + eps) * weight.

    Unlike LayerNorm the mean is not subtracted; the variance is the unbiased (n - 1) one, as in timm.
    """

    @staticmethod
    def _second_moment(y: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, 1, H, W)
        return y.var(dim=1, keepdim=True)


# Channel norms of NCHW maps by the names architecture tables use.
NORM_2D: dict[str, type[nn.Module]] = {
    "layernorm": LayerNorm2d,
    "rmsnorm": RmsNorm2d,
    "simplenorm": SimpleNorm2d,
}
