"""Multi-query attention on NCHW maps (Shazeer 2019; the MobileNetV4 form of Qin et al. 2024).

Every head has its own query projection, while one key and one value projection are shared by all heads; the
keys and values may be computed on a map downsampled by a strided depthwise conv, which makes attention cheap at
high resolution. Projections are 1x1 convs, so the module maps (B, C, H, W) to (B, C_out, H, W).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .conv2d_same import create_conv2d

__all__ = ["MultiQueryAttention2d"]


class MultiQueryAttention2d(nn.Module):
    """Multi-query attention over the pixels of an NCHW map; keys `query.proj`, `key.{down_conv,norm,proj}`, ...

    Args:
        dim, dim_out: input and output channels (`dim_out` None: `dim`).
        num_heads: query heads.
        key_dim, value_dim: width of a key / value (the shared key and value have one head).
        kv_stride: stride of the depthwise conv that downsamples the map keys and values are taken from.
        dw_kernel_size: kernel of that conv.
        padding: '' (symmetric) or 'same' (TensorFlow) padding of that conv.
        bn_eps: epsilon of the BatchNorm after it.
        dilation: dilation of that conv (a dilated stage, under `output_stride`).
    """

    def __init__(
        self,
        dim: int,
        dim_out: int | None = None,
        num_heads: int = 8,
        key_dim: int = 64,
        value_dim: int = 64,
        kv_stride: int = 1,
        dw_kernel_size: int = 3,
        padding: str = "",
        bn_eps: float = 1e-5,
        dilation: int = 1,
    ):
        super().__init__()
        if num_heads < 1 or key_dim < 1 or value_dim < 1 or kv_stride < 1:
            raise ValueError(
                f"num_heads, key_dim, value_dim and kv_stride must be >= 1, got "
                f"{num_heads}, {key_dim}, {value_dim}, {kv_stride}"
            )
        self.num_heads, self.key_dim, self.value_dim = num_heads, key_dim, value_dim
        self.query = nn.Sequential()
        self.query.add_module("proj", nn.Conv2d(dim, num_heads * key_dim, 1, bias=False))
        kv = dict(stride=kv_stride, kernel=dw_kernel_size, padding=padding, bn_eps=bn_eps, dilation=dilation)
        self.key = self._kv_branch(dim, key_dim, **kv)
        self.value = self._kv_branch(dim, value_dim, **kv)
        self.output = nn.Sequential()
        self.output.add_module("proj", nn.Conv2d(num_heads * value_dim, dim_out or dim, 1, bias=False))

    @staticmethod
    def _kv_branch(
        dim: int, width: int, stride: int, kernel: int, padding: str, bn_eps: float, dilation: int
    ) -> nn.Sequential:
        branch = nn.Sequential()
        if stride > 1:
            down = create_conv2d(dim, dim, kernel, stride, dilation, groups=dim, padding=padding)
            branch.add_module("down_conv", down)
            branch.add_module("norm", nn.BatchNorm2d(dim, eps=bn_eps))
        branch.add_module("proj", nn.Conv2d(dim, width, 1, bias=False))
        return branch

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C_out, H, W)
        b, _, h, w = x.shape
        # CPU's fused SDPA kernel needs each head's features contiguous; channel-major conv outputs are not
        q = self.query(x).reshape(b, self.num_heads, self.key_dim, h * w).transpose(-1, -2)  # (B, nh, HW, k)
        k = self.key(x).flatten(2).transpose(1, 2).unsqueeze(1)  # (B, 1, hw, k), shared by all heads
        v = self.value(x).flatten(2).transpose(1, 2).unsqueeze(1)  # (B, 1, hw, v)
        q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
        o = F.scaled_dot_product_attention(q, k, v)  # (B, nh, HW, v)
        o = o.transpose(-1, -2).reshape(b, self.num_heads * self.value_dim, h, w)  # contiguous NCHW
        return self.output(o)  # (B, C_out, H, W)
