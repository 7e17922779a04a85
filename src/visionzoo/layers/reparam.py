"""Structural re-parameterisation: fold parallel conv / BN / identity branches into one conv for deployment.

RepVGG, MobileOne and HGNetV2 train with several linear branches side by side (a kxk conv + BN, a 1x1
conv + BN, a BN on the identity) whose outputs are summed before the non-linearity. In eval mode each
branch is a linear map, so their sum is one kxk conv with a bias. The helpers here compute that conv;
`reparameterize(model)` folds every block of a model that knows how (it has a `reparameterize()` method).

Folding uses BN's running statistics, so a folded model computes what the unfolded one does in eval mode.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "fuse_conv_bn",
    "fuse_bn",
    "identity_kernel",
    "pad_kernel",
    "conv_from_kernel",
    "reparameterize",
    "is_reparameterizable",
]


@torch.no_grad()
def fuse_conv_bn(
    weight: torch.Tensor, bn: nn.BatchNorm2d, conv_bias: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight, bias) of the conv equal to conv(`weight`, `conv_bias`) followed by `bn` in eval mode.

    BN computes gamma * (y - mean) / sqrt(var + eps) + beta: the conv's output channels are scaled by
    gamma / sqrt(var + eps) and the shift goes into the bias.
    """
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("cannot fold a BatchNorm without running statistics (track_running_stats=False)")
    std = torch.sqrt(bn.running_var + bn.eps)  # (O,)
    gamma = bn.weight if bn.weight is not None else torch.ones_like(std)
    beta = bn.bias if bn.bias is not None else torch.zeros_like(std)
    scale = gamma / std  # (O,)
    shift = conv_bias - bn.running_mean if conv_bias is not None else -bn.running_mean
    return weight * scale.reshape(-1, 1, 1, 1), beta + shift * scale


def identity_kernel(
    channels: int,
    kernel_size: int,
    groups: int = 1,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """(channels, channels // groups, k, k) kernel of a conv that returns its input (1 at each centre)."""
    if channels % groups:
        raise ValueError(f"{channels} channels cannot be split into {groups} groups")
    if kernel_size % 2 == 0:
        raise ValueError(f"an identity kernel needs an odd kernel size, got {kernel_size}")
    per_group = channels // groups
    kernel = torch.zeros(channels, per_group, kernel_size, kernel_size, dtype=dtype, device=device)
    centre = kernel_size // 2
    kernel[torch.arange(channels), torch.arange(channels) % per_group, centre, centre] = 1.0
    return kernel


def fuse_bn(bn: nn.BatchNorm2d, kernel_size: int, groups: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight, bias) of the kxk conv equal to `bn` alone on an identity branch."""
    w = bn.running_var if bn.running_var is not None else bn.weight
    return fuse_conv_bn(identity_kernel(bn.num_features, kernel_size, groups, w.dtype, w.device), bn)


def pad_kernel(kernel: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Zero-pad a smaller (odd) kernel, e.g. a 1x1, to `kernel_size` around its centre."""
    k = kernel.shape[-1]
    if k > kernel_size or (kernel_size - k) % 2:
        raise ValueError(f"cannot centre a {k}x{k} kernel in {kernel_size}x{kernel_size}")
    pad = (kernel_size - k) // 2
    return F.pad(kernel, [pad, pad, pad, pad]) if pad else kernel


def conv_from_kernel(like: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor) -> nn.Conv2d:
    """A biased nn.Conv2d with `like`'s geometry (stride, padding, dilation, groups) holding `weight`/`bias`."""
    conv = nn.Conv2d(
        like.in_channels,
        like.out_channels,
        like.kernel_size,
        like.stride,
        like.padding,
        like.dilation,
        like.groups,
        bias=True,
        device=weight.device,
        dtype=weight.dtype,
    )
    with torch.no_grad():
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
    return conv


def is_reparameterizable(module: nn.Module) -> bool:
    """Whether `module` has a `reparameterize()` method that folds its branches."""
    return callable(getattr(module, "reparameterize", None))


@torch.no_grad()
def reparameterize(model: nn.Module, inplace: bool = True) -> nn.Module:
    """Fold every re-parameterisable block of `model` (children before parents) and return the model.

    Each block with a `reparameterize()` method replaces its branches by one conv; blocks already
    folded are left as they are, so calling this twice is harmless. With `inplace=False` a deep copy is
    folded and `model` is untouched. The result is meant for inference: put it in eval mode.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"reparameterize expects an nn.Module, got {type(model).__name__}")
    if not inplace:
        model = copy.deepcopy(model)
    for module in reversed(list(model.modules())):
        if module is not model and is_reparameterizable(module):
            module.reparameterize()
    return model
