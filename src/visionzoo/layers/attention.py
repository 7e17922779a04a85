"""Multi-head self-attention over token sequences (optionally rotary), computed with `F.scaled_dot_product_attention`."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .mlp import Mlp
from .rope import apply_rotary


class Attention(nn.Module):
    """Multi-head self-attention: a `qkv` projection (fused, or `q_proj`/`k_proj`/`v_proj`), optional q/k
    norms, optional rotary position embedding, an optional norm on the output (`scale_norm`), then `proj`.

    Args:
        dim: token width.
        num_heads: query heads.
        qkv_bias: biases on the q/k/v projections.
        qk_norm: `norm_layer` on each head's queries and keys.
        proj_bias: bias on the output projection.
        attn_drop, proj_drop: dropout on the attention weights and after `proj`.
        norm_layer: norm used by `qk_norm` and `scale_norm`.
        qkv_fused: one [3 * dim] projection instead of three.
        k_bias: with `qkv_bias`, whether keys get a bias too. EVA's fused layout has none: it stores
            `q_bias` and `v_bias` beside a bias-free `qkv`.
        scale_norm: `norm_layer` on the attention output before `proj` (EVA-CLIP's sub-layer norm).
        num_kv_heads: key/value heads for grouped-query attention (separate projections only).
        num_prefix_tokens: leading tokens (class, registers) the rotary embedding leaves alone.
        rope_half: the rotary embedding pairs channel i with i + head_dim/2 instead of 2i with 2i+1.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        qkv_bias: bool = False,
        qk_norm: bool = False,
        proj_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        norm_layer: Callable[[int], nn.Module] = nn.LayerNorm,
        qkv_fused: bool = True,
        k_bias: bool = True,
        scale_norm: bool = False,
        num_kv_heads: int | None = None,
        num_prefix_tokens: int = 0,
        rope_half: bool = False,
    ):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        num_kv_heads = num_kv_heads or num_heads
        if num_heads % num_kv_heads:
            raise ValueError(f"num_heads {num_heads} is not divisible by num_kv_heads {num_kv_heads}")
        if qkv_fused and num_kv_heads != num_heads:
            raise ValueError("grouped-query attention (num_kv_heads < num_heads) needs qkv_fused=False")
        self.num_heads = num_heads
        self.num_kv_heads = num_kv_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.num_prefix_tokens = num_prefix_tokens
        self.rope_half = rope_half
        kv_dim = self.head_dim * num_kv_heads
        self.q_bias = self.v_bias = None
        if qkv_fused:
            self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias and k_bias)
            if qkv_bias and not k_bias:
                self.q_bias = nn.Parameter(torch.zeros(dim))
                self.v_bias = nn.Parameter(torch.zeros(dim))
        else:
            self.qkv = None
            self.q_proj = nn.Linear(dim, dim, bias=qkv_bias)
            self.k_proj = nn.Linear(dim, kv_dim, bias=qkv_bias and k_bias)
            self.v_proj = nn.Linear(dim, kv_dim, bias=qkv_bias)
        self.q_norm = norm_layer(self.head_dim) if qk_norm else nn.Identity()
        self.k_norm = norm_layer(self.head_dim) if qk_norm else nn.Identity()
        self.attn_drop = attn_drop
        self.norm = norm_layer(dim) if scale_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim, bias=proj_bias)
        self.proj_drop = nn.Dropout(proj_drop)

    def reset_parameters(self) -> None:
        if self.q_bias is not None:
            nn.init.zeros_(self.q_bias)
            nn.init.zeros_(self.v_bias)

    def _project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q [B, heads, N, hd] and k, v [B, kv_heads, N, hd]."""
        b, n, _ = x.shape
        if self.qkv is None:
            q = self.q_proj(x).reshape(b, n, self.num_heads, self.head_dim).transpose(1, 2)
            k = self.k_proj(x).reshape(b, n, self.num_kv_heads, self.head_dim).transpose(1, 2)
            v = self.v_proj(x).reshape(b, n, self.num_kv_heads, self.head_dim).transpose(1, 2)
            return q, k, v
        if self.q_bias is None:
            qkv = self.qkv(x)
        else:
            bias = torch.cat([self.q_bias, torch.zeros_like(self.q_bias), self.v_bias])
            qkv = F.linear(x, self.qkv.weight, bias)
        q, k, v = qkv.reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        return q, k, v

    def _rotate(self, t: torch.Tensor, rope: torch.Tensor) -> torch.Tensor:
        npt = self.num_prefix_tokens
        if not npt:
            return apply_rotary(t, rope, self.rope_half)
        return torch.cat([t[:, :, :npt], apply_rotary(t[:, :, npt:], rope, self.rope_half)], dim=2)

    def forward(
        self, x: torch.Tensor, attn_mask: torch.Tensor | None = None, rope: torch.Tensor | None = None
    ) -> torch.Tensor:  # [B, N, C]
        """`rope`: a [..., N - prefix, 2 * head_dim] rotary embedding (see layers/rope.py), or None."""
        b, n, c = x.shape
        q, k, v = self._project(x)  # [B, heads, N, head_dim]
        q, k = self.q_norm(q), self.k_norm(k)
        if rope is not None:
            q, k = self._rotate(q, rope).type_as(v), self._rotate(k, rope).type_as(v)
        if self.num_kv_heads != self.num_heads:
            groups = self.num_heads // self.num_kv_heads
            k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
        x = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.attn_drop if self.training else 0.0
        )  # [B, heads, N, head_dim]
        x = self.norm(x.transpose(1, 2).reshape(b, n, c))
        return self.proj_drop(self.proj(x))

    def extra_repr(self) -> str:
        return f"num_heads={self.num_heads}, attn_drop={self.attn_drop}"


class LatentAttentionPool(nn.Module):
    """Pools a token sequence by letting one learned query (`latent`) attend over it, then refines the
    result with a residual MLP: [B, N, C] -> [B, C] (multihead attention pooling, 'map')."""

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        qk_norm: bool = False,
        drop: float = 0.0,
        norm_layer: Callable[[int], nn.Module] = nn.LayerNorm,
        act_layer: Callable[[], nn.Module] = nn.GELU,
    ):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.latent = nn.Parameter(torch.zeros(1, 1, dim))  # [1, 1, C]
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, dim * 2, bias=qkv_bias)
        self.q_norm = norm_layer(self.head_dim) if qk_norm else nn.Identity()
        self.k_norm = norm_layer(self.head_dim) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(drop)
        self.norm = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=act_layer)
        nn.init.trunc_normal_(self.latent, std=dim**-0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, N, C] -> [B, C]
        b, n, c = x.shape
        q = self.q(self.latent.expand(b, -1, -1)).reshape(b, 1, self.num_heads, self.head_dim).transpose(1, 2)
        k, v = self.kv(x).reshape(b, n, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)  # q [B, heads, 1, hd], k/v [B, heads, N, hd]
        x = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, 1, c)
        x = self.proj_drop(self.proj(x))
        return (x + self.mlp(self.norm(x)))[:, 0]


class RefinementAttentionPool(nn.Module):
    """Parameter-free multi-head self-attention over all tokens (no q/k/v projections), then the first
    token ('token') or the mean ('avg'): patch representation refinement pooling, 'prr'. [B, N, C] -> [B, C]."""

    def __init__(self, dim: int, num_heads: int = 8, pool_type: str = "token"):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        if pool_type not in ("token", "avg"):
            raise ValueError(f"pool_type must be 'token' or 'avg', got {pool_type!r}")
        self.num_heads = num_heads
        self.pool_type = pool_type

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, N, C] -> [B, C]
        b, n, c = x.shape
        heads = x.reshape(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)  # [B, heads, N, hd]
        x = F.scaled_dot_product_attention(heads, heads, heads).transpose(1, 2).reshape(b, n, c)
        return x[:, 0] if self.pool_type == "token" else x.mean(dim=1)
