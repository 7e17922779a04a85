"""Weight-standardised convolution (Qiao et al. 2019), as used by the BiT ResNet-V2 models."""

from __future__ import annotations

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from .conv2d_same import pad_same

__all__ = ["StdConv2d", "StdConv2dSame"]

# traced graphs call pad_same as a leaf here too (torch.fx.wrap patches the calling module only)
torch.fx.wrap("pad_same")


class StdConv2d(nn.Conv2d):
    """nn.Conv2d whose filters are standardised (zero mean, unit variance over fan-in) on every call.

    The stored `weight` is the raw, unstandardised filter; `eps` is added to the variance. Padding is
    symmetric, ((stride - 1) + dilation * (kernel_size - 1)) // 2, unless given.
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_size: int,
        stride: int = 1,
        padding: int | None = None,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = False,
        eps: float = 1e-6,
    ):
        if padding is None:
            padding = ((stride - 1) + dilation * (kernel_size - 1)) // 2
        super().__init__(in_chs, out_chs, kernel_size, stride, padding, dilation, groups, bias)
        self.eps = eps

    def standardized_weight(self) -> torch.Tensor:
        """The filters after standardisation, shaped like `weight`."""
        w = self.weight.reshape(self.out_channels, -1)  # (O, I*kh*kw)
        # layer_norm over the fan-in is exactly (w - mean) / sqrt(biased var + eps), in one fused kernel
        # (about 10x faster than var_mean and arithmetic, which made BiT 0.6x timm at batch 1)
        return F.layer_norm(w, (w.shape[1],), eps=self.eps).reshape_as(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, I, H, W) -> (B, O, H/s, W/s)
        return F.conv2d(
            x, self.standardized_weight(), self.bias, self.stride, self.padding, self.dilation, self.groups
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, eps={self.eps}"


class StdConv2dSame(StdConv2d):
    """StdConv2d with TF "SAME" padding computed per input (the ViT-hybrid ResNet backbones)."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_size: int,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = False,
        eps: float = 1e-6,
    ):
        super().__init__(in_chs, out_chs, kernel_size, stride, 0, dilation, groups, bias, eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, I, H, W) -> (B, O, ceil(H/s), ceil(W/s))
        x = pad_same(x, self.kernel_size, self.stride, self.dilation)
        return F.conv2d(x, self.standardized_weight(), self.bias, self.stride, 0, self.dilation, self.groups)
