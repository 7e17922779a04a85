"""Conditionally parameterised convolution (CondConv, Yang et al. 2019): per-sample kernels mixed from experts."""

from __future__ import annotations

import math

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from .conv2d_same import PADDING_MODES, pad_same

# the padding depends on the input size: a leaf of torch.fx graphs here too (as in conv2d_same)
torch.fx.wrap("pad_same")

__all__ = ["CondConv2d"]


class CondConv2d(nn.Module):
    """A kxk conv whose kernel is, for each sample, the routing-weighted sum of `num_experts` expert kernels.

    `weight` is (num_experts, out_chs * in_chs / groups * k * k), the layout of timm checkpoints; `forward(x,
    routing)` takes the (B, num_experts) routing weights. `padding` is '' (symmetric) or 'same' (TensorFlow).
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_size: int,
        stride: int = 1,
        groups: int = 1,
        padding: str = "",
        num_experts: int = 4,
        dilation: int = 1,
    ):
        super().__init__()
        if padding not in PADDING_MODES:
            raise ValueError(f"padding must be one of {PADDING_MODES}, got {padding!r}")
        if num_experts < 1:
            raise ValueError(f"num_experts must be >= 1, got {num_experts}")
        self.out_chs, self.stride, self.groups, self.dilation = out_chs, stride, groups, dilation
        self.kernel_shape = (out_chs, in_chs // groups, kernel_size, kernel_size)
        span = (kernel_size - 1) * dilation
        # TF "SAME" needs input-dependent padding only when strided or of even span
        self.dynamic_pad = padding == "same" and not (stride == 1 and span % 2 == 0)
        self.padding = (
            0 if self.dynamic_pad else (span // 2 if padding == "same" else (stride - 1 + span) // 2)
        )
        self.weight = nn.Parameter(torch.empty(num_experts, math.prod(self.kernel_shape)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for expert in self.weight.data:
            nn.init.kaiming_uniform_(expert.view(self.kernel_shape), a=math.sqrt(5))

    def forward(self, x: torch.Tensor, routing: torch.Tensor) -> torch.Tensor:  # (B, C, H, W), (B, E)
        b, c, h, w = x.shape
        k = self.kernel_shape[-1]
        kernels = (routing @ self.weight).view(
            b * self.out_chs, *self.kernel_shape[1:]
        )  # one kernel set per sample
        x = x.reshape(1, b * c, h, w)  # samples become channel groups
        if self.dynamic_pad:
            x = pad_same(x, (k, k), (self.stride, self.stride), (self.dilation, self.dilation))
        out = F.conv2d(x, kernels, None, self.stride, self.padding, self.dilation, self.groups * b)
        return out.view(b, self.out_chs, out.shape[-2], out.shape[-1])  # (B, out, H/s, W/s)
