"""Learned space-to-depth (EfficientNet-X, Li et al. 2021): a 2x2 stride-2 conv that folds each 2x2 patch
into 4x the channels, so that the following convs run at half the resolution on wider maps.

The conv and its norm are attributes of the block that uses them (timm's keys `conv_s2d`, `bn_s2d` sit on the
block), so this module gives the pieces rather than a wrapper module.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from .conv2d_same import create_conv2d

__all__ = ["SPACE_TO_DEPTH_FACTOR", "space_to_depth_conv", "space_to_depth_kernel"]

SPACE_TO_DEPTH_FACTOR = 4  # channels gained by folding 2x2 patches


def space_to_depth_conv(
    in_chs: int, norm_act: Callable[[int], nn.Module]
) -> tuple[nn.Module, nn.Module, int]:
    """(2x2 stride-2 conv with TF "SAME" padding, its norm, the output channels = 4 * `in_chs`).

    `norm_act` builds the norm (with its activation) from a channel count.
    """
    out_chs = in_chs * SPACE_TO_DEPTH_FACTOR
    return create_conv2d(in_chs, out_chs, 2, stride=2, padding="same"), norm_act(out_chs), out_chs


def space_to_depth_kernel(kernel_size: int) -> int:
    """The kernel that spans about the same input pixels after space-to-depth: ceil(k / 2)."""
    if not isinstance(kernel_size, int) or kernel_size < 1:
        raise ValueError(f"space-to-depth needs a single positive int kernel, got {kernel_size!r}")
    return (kernel_size + 1) // 2
