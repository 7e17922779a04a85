"""Transformer blocks over token sequences [B, N, C]: pre-norm, post-norm and two parallel layouts.

Every block takes the same keyword arguments, so an architecture table can name its block type
(`BLOCK_TYPES`) and keep everything else. Parameter names follow timm's.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .attention import Attention
from .drop import drop_path_layer
from .layer_scale import LayerScale
from .mlp import Mlp

__all__ = [
    "LayerScale",
    "BlockSpec",
    "TransformerBlock",
    "Block",
    "ResPostBlock",
    "ParallelThingsBlock",
    "ParallelScalingBlock",
    "BLOCK_TYPES",
]

NormFactory = Callable[[int], nn.Module]
DEFAULT_NORM: NormFactory = partial(nn.LayerNorm, eps=1e-6)


@dataclass(frozen=True)
class BlockSpec:
    """The arguments every block takes (see `TransformerBlock`), and the sub-layers they describe."""

    dim: int
    num_heads: int
    mlp_ratio: float
    qkv_bias: bool
    qk_norm: bool
    init_values: float | None
    proj_drop: float
    attn_drop: float
    drop_path: float
    proj_bias: bool
    scale_attn_norm: bool
    scale_mlp_norm: bool
    norm_layer: NormFactory
    act_layer: Callable[[], nn.Module]
    mlp_layer: type[nn.Module]

    @property
    def mlp_hidden(self) -> int:
        """Hidden width of the MLP."""
        return int(self.dim * self.mlp_ratio)

    def norm(self) -> nn.Module:
        return self.norm_layer(self.dim)

    def attention(self) -> Attention:
        return Attention(
            self.dim,
            self.num_heads,
            qkv_bias=self.qkv_bias,
            qk_norm=self.qk_norm,
            proj_bias=self.proj_bias,
            attn_drop=self.attn_drop,
            proj_drop=self.proj_drop,
            norm_layer=self.norm_layer,
            scale_norm=self.scale_attn_norm,
        )

    def mlp(self) -> nn.Module:
        return self.mlp_layer(
            self.dim,
            self.mlp_hidden,
            act_layer=self.act_layer,
            norm_layer=self.norm_layer if self.scale_mlp_norm else None,
            bias=self.proj_bias,
            drop=self.proj_drop,
        )

    def layer_scale(self) -> nn.Module:
        """A LayerScale starting at `init_values`, or an identity when that is None."""
        return LayerScale(self.dim, self.init_values) if self.init_values is not None else nn.Identity()

    def drop_path_layer(self) -> nn.Module:
        return drop_path_layer(self.drop_path)


class TransformerBlock(nn.Module):
    """Base of the blocks: the one constructor signature they share. Subclasses build their layers in
    `_build` from the `BlockSpec` it makes.

    Args:
        dim, num_heads, mlp_ratio: width, attention heads, MLP hidden width as a multiple of `dim`.
        qkv_bias, qk_norm, proj_bias: bias of the qkv projection, norms on q and k, bias of the output
            projections (attention and MLP).
        init_values: LayerScale init (None: no LayerScale).
        proj_drop, attn_drop, drop_path: dropout after projections, on attention weights, stochastic depth.
        scale_attn_norm, scale_mlp_norm: an extra norm inside attention (before `proj`) and MLP (before `fc2`).
        norm_layer, act_layer, mlp_layer: norm factory (`dim -> module`), MLP activation class, MLP class
            (`Mlp`, `GluMlp`, `SwiGLU`).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        qk_norm: bool = False,
        init_values: float | None = None,
        proj_drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
        *,
        proj_bias: bool = True,
        scale_attn_norm: bool = False,
        scale_mlp_norm: bool = False,
        norm_layer: NormFactory = DEFAULT_NORM,
        act_layer: Callable[[], nn.Module] = nn.GELU,
        mlp_layer: type[nn.Module] = Mlp,
    ):
        super().__init__()
        self._build(
            BlockSpec(
                dim,
                num_heads,
                mlp_ratio,
                qkv_bias,
                qk_norm,
                init_values,
                proj_drop,
                attn_drop,
                drop_path,
                proj_bias,
                scale_attn_norm,
                scale_mlp_norm,
                norm_layer,
                act_layer,
                mlp_layer,
            )
        )

    def _build(self, spec: BlockSpec) -> None:
        raise NotImplementedError


class Block(TransformerBlock):
    """Pre-norm transformer block: x + attn(norm1(x)), then x + mlp(norm2(x)), each optionally layer-scaled."""

    def _build(self, spec: BlockSpec) -> None:
        self.norm1 = spec.norm()
        self.attn = spec.attention()
        self.ls1 = spec.layer_scale()
        self.drop_path1 = spec.drop_path_layer()
        self.norm2 = spec.norm()
        self.mlp = spec.mlp()
        self.ls2 = spec.layer_scale()
        self.drop_path2 = spec.drop_path_layer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, N, C]
        x = x + self.drop_path1(self.ls1(self.attn(self.norm1(x))))
        return x + self.drop_path2(self.ls2(self.mlp(self.norm2(x))))


class ResPostBlock(TransformerBlock):
    """Post-norm (res-post) block: x + norm1(attn(x)), then x + norm2(mlp(x)). The norms' scales start at
    `init_values` (instead of a LayerScale)."""

    def _build(self, spec: BlockSpec) -> None:
        self.init_values = spec.init_values
        self.attn = spec.attention()
        self.norm1 = spec.norm()
        self.drop_path1 = spec.drop_path_layer()
        self.mlp = spec.mlp()
        self.norm2 = spec.norm()
        self.drop_path2 = spec.drop_path_layer()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.init_values is not None:
            for norm in (self.norm1, self.norm2):
                nn.init.constant_(norm.weight, self.init_values)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, N, C]
        x = x + self.drop_path1(self.norm1(self.attn(x)))
        return x + self.drop_path2(self.norm2(self.mlp(x)))


class ParallelThingsBlock(TransformerBlock):
    """`num_parallel` pre-norm attention branches summed into one residual, then as many MLP branches
    ("Three things everyone should know about ViTs"). Keys `attns.i.*` and `ffns.i.*`. The arguments of
    `TransformerBlock`, plus `num_parallel`."""

    def __init__(self, *args: Any, num_parallel: int = 2, **kwargs: Any):
        self.num_parallel = (
            num_parallel  # a plain int, so it may be set before Module.__init__; read by _build
        )
        super().__init__(*args, **kwargs)

    def _build(self, spec: BlockSpec) -> None:
        self.attns = nn.ModuleList()
        self.ffns = nn.ModuleList()
        for _ in range(self.num_parallel):
            attn, mlp = spec.attention(), spec.mlp()
            for branches, name, module in ((self.attns, "attn", attn), (self.ffns, "mlp", mlp)):
                branches.append(
                    nn.Sequential(
                        OrderedDict(
                            norm=spec.norm(),
                            **{name: module},
                            ls=spec.layer_scale(),
                            drop_path=spec.drop_path_layer(),
                        )
                    )
                )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, N, C]
        x = x + torch.stack([branch(x) for branch in self.attns]).sum(dim=0)
        return x + torch.stack([branch(x) for branch in self.ffns]).sum(dim=0)


class ParallelScalingBlock(TransformerBlock):
    """Attention and MLP in parallel from one norm and one fused input projection (ViT-22B style):
    x + ls(attn_out_proj(attn(q, k, v)) + mlp_out_proj(act(h))), where [h, q, k, v] = in_proj(in_norm(x)).

    Without `qkv_bias` the MLP keeps its own bias (`mlp_bias`). The scale norms and `mlp_layer` do not apply.
    """

    def _build(self, spec: BlockSpec) -> None:
        dim, num_heads, qkv_bias = spec.dim, spec.num_heads, spec.qkv_bias
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        if spec.scale_attn_norm or spec.scale_mlp_norm:
            raise ValueError("ParallelScalingBlock has no scale norms (scale_attn_norm/scale_mlp_norm)")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        mlp_hidden = spec.mlp_hidden
        self.in_split = [mlp_hidden, dim, dim, dim]
        self.in_norm = spec.norm()
        self.in_proj = nn.Linear(dim, mlp_hidden + 3 * dim, bias=qkv_bias)
        self.mlp_bias = None if qkv_bias else nn.Parameter(torch.zeros(mlp_hidden))
        self.q_norm = spec.norm_layer(self.head_dim) if spec.qk_norm else nn.Identity()
        self.k_norm = spec.norm_layer(self.head_dim) if spec.qk_norm else nn.Identity()
        self.attn_drop = spec.attn_drop
        self.mlp_drop = nn.Dropout(spec.proj_drop)
        self.mlp_act = spec.act_layer()
        self.attn_out_proj = nn.Linear(dim, dim, bias=spec.proj_bias)
        self.mlp_out_proj = nn.Linear(mlp_hidden, dim, bias=spec.proj_bias)
        self.ls = spec.layer_scale()
        self.drop_path = spec.drop_path_layer()

    def reset_parameters(self) -> None:
        if self.mlp_bias is not None:
            nn.init.zeros_(self.mlp_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, N, C]
        b, n, c = x.shape
        h, q, k, v = torch.split(self.in_proj(self.in_norm(x)), self.in_split, dim=-1)
        if self.mlp_bias is not None:
            h = h + self.mlp_bias
        q = self.q_norm(q.view(b, n, self.num_heads, self.head_dim)).transpose(1, 2)  # [B, heads, N, hd]
        k = self.k_norm(k.view(b, n, self.num_heads, self.head_dim)).transpose(1, 2)
        v = v.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)
        attn = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop if self.training else 0.0)
        attn = attn.transpose(1, 2).reshape(b, n, c)
        y = self.attn_out_proj(attn) + self.mlp_out_proj(self.mlp_drop(self.mlp_act(h)))
        return x + self.drop_path(self.ls(y))


BLOCK_TYPES: dict[str, type[nn.Module]] = {
    "pre": Block,
    "post": ResPostBlock,
    "parallel": ParallelThingsBlock,
    "parallel_scaling": ParallelScalingBlock,
}
