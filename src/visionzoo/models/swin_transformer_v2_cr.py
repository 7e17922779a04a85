"""Swin Transformer V2, Christoph Reich's implementation (`swinv2_cr_*`), as timm names it.

The same ideas as models/swin_transformer_v2.py (cosine attention, res-post-norm, a position bias from
an MLP) in another layout: the bias MLP (`meta_mlp`) reads ln-spaced offsets of every query/key pair and
is used as it is (no sigmoid), qkv has an ordinary bias, patch merging normalises before projecting (as in
v1), windows are a fixed fraction of the patch grid (1/8), and instead of a final norm the last block of the
last stage (and, for huge and giant, every sixth block; for the `_ns` models the last block of every stage)
normalises its output (`norm3`). Stages are named `stages`, and `forward_features` is NCHW.
Windowing, blocks, stages and the head come from models/swin_transformer.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..layers.mlp import Mlp
from ..layers.relative_position import log_pairwise_offsets
from ..layers.window import stage_window_sizes, windowed_attention
from ..registry import register_variants
from .swin_transformer import SIZES, SwinBase, SwinBlock, SwinStage

__all__ = ["SwinTransformerV2Cr", "checkpoint_filter"]

Size2 = tuple[int, int]

_MAX_LOGIT_SCALE = math.log(100.0)


class WindowAttentionCr(nn.Module):
    """Cosine attention in windows plus a bias from `meta_mlp` over ln-spaced pair offsets."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: Size2,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        meta_hidden: int = 384,
    ):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by its {num_heads} heads")
        self.num_heads = num_heads
        self.window_size = window_size
        self.qkv = nn.Linear(dim, 3 * dim)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.meta_mlp = Mlp(2, meta_hidden, num_heads, act_layer=nn.ReLU)
        self.meta_mlp.drop1 = nn.Dropout(0.125)  # dropout on the hidden layer only, while training
        self.logit_scale = nn.Parameter(torch.empty(num_heads))
        coords = log_pairwise_offsets(window_size, device="cpu")  # CPU even under meta: not in checkpoints
        self.register_buffer("relative_coordinates_log", coords, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Init this module's own tensors (children have their own)."""
        if self.logit_scale.is_meta:  # meta: weights are assigned later
            return
        with torch.no_grad():
            self.logit_scale.fill_(math.log(10.0))
        self.relative_coordinates_log = log_pairwise_offsets(self.window_size, device=self.logit_scale.device)

    def relative_bias(self) -> torch.Tensor:
        """[heads, N, N] bias of each query/key pair of a window."""
        n = self.window_size[0] * self.window_size[1]
        return self.meta_mlp(self.relative_coordinates_log).transpose(0, 1).reshape(self.num_heads, n, n)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, nw, n, c = x.shape  # [B, nW, N, C]
        qkv = self.qkv(x).view(b * nw, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [B*nW, heads, N, hd]
        scale = torch.clamp(self.logit_scale, max=_MAX_LOGIT_SCALE).exp().view(-1, 1, 1)  # [heads, 1, 1]
        q, k = F.normalize(q, dim=-1) * scale, F.normalize(k, dim=-1)
        dropout_p = self.attn_drop if self.training else 0.0
        out = windowed_attention(q, k, v, self.relative_bias(), mask, b, dropout_p, scale=1.0)
        return self.proj_drop(self.proj(out.reshape(b, nw, n, c)))  # from [B*nW, N, heads, hd]


class SwinCrBlock(SwinBlock):
    """Res-post-norm block: x + norm1(attn(x)), x + norm2(mlp(x)), then `norm3` (identity unless set)."""

    def __init__(self, *args, init_values: float | None = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.norm3: nn.Module = nn.Identity()
        self.init_values = init_values
        if init_values is not None and not self.norm1.weight.is_meta:
            with torch.no_grad():  # residual branches start (near) silent
                self.norm1.weight.fill_(init_values)
                self.norm2.weight.fill_(init_values)

    def _make_attention(
        self,
        dim: int,
        num_heads: int,
        window: Size2,
        head_dim: int | None,
        qkv_bias: bool,
        attn_drop: float,
        proj_drop: float,
    ) -> nn.Module:
        return WindowAttentionCr(dim, num_heads, window, attn_drop, proj_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, H, W, C]
        x = x + self.drop_path1(self.norm1(self._attend(x)))
        x = x + self.drop_path2(self.norm2(self.mlp(x)))
        return self.norm3(x)


class SwinCrStage(SwinStage):
    """A Swin stage of swinv2_cr blocks (v1 patch merging); `extra_norms` lists the blocks given a `norm3`."""

    block_cls = SwinCrBlock

    def __init__(self, *args, extra_norms: Sequence[int] = (), **kwargs):
        super().__init__(*args, **kwargs)
        for i in extra_norms:
            self.blocks[i].norm3 = nn.LayerNorm(self.blocks[i].norm1.normalized_shape[0])


class SwinTransformerV2Cr(SwinBase):
    """swinv2_cr classifier with timm-compatible parameter names; `forward_features` is NCHW.

    Args:
        img_size: input size the windows are laid out for.
        patch_size: patch embedding stride.
        in_chans, num_classes, global_pool, drop_rate: as for every classifier here.
        embed_dim: width of the first stage (doubling per stage).
        depths, num_heads: blocks and heads per stage.
        window_size: one window for all stages, or one per stage; default: the patch grid / `window_ratio`.
        window_ratio: patch grid side over window side when `window_size` is not given.
        mlp_ratio: MLP hidden width relative to the block width.
        init_values: initial scale of the two residual norms (None: LayerNorm's 1).
        extra_norm_period: every N-th block of each stage ends with a norm (0: none).
        extra_norm_stage: the last block of every stage ends with a norm (the last stage's always does).
        proj_drop_rate, attn_drop_rate, drop_path_rate: dropout after projections, on attention, and
            stochastic depth rising linearly over the blocks.
    """

    feature_key_layout = "flat"  # timm's features_only keys: 'stages_0.blocks...'
    stages_name = "stages"

    def __init__(
        self,
        img_size: int | Sequence[int] = 224,
        patch_size: int = 4,
        in_chans: int = 3,
        num_classes: int = 1000,
        global_pool: str = "avg",
        embed_dim: int = 96,
        depths: Sequence[int] = (2, 2, 6, 2),
        num_heads: Sequence[int] = (3, 6, 12, 24),
        window_size: int | Sequence | None = None,
        window_ratio: int = 8,
        mlp_ratio: float = 4.0,
        init_values: float | None = 0.0,
        extra_norm_period: int = 0,
        extra_norm_stage: bool = False,
        drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
    ):
        super().__init__()
        depths, num_heads, dims = self._init_patch_embed(
            img_size, patch_size, in_chans, embed_dim, depths, num_heads
        )
        grid = self.patch_embed.grid_size
        if window_size is None:
            if not isinstance(window_ratio, int) or window_ratio <= 0:
                raise ValueError(f"window_ratio must be a positive int, got {window_ratio!r}")
            window_size = (max(grid[0] // window_ratio, 1), max(grid[1] // window_ratio, 1))
        self.num_features = dims[-1]
        extra_norms = []  # per stage, the blocks that end with a norm
        for i, depth in enumerate(depths):
            last_ends_normed = extra_norm_stage or i == len(depths) - 1
            extra_norms.append(
                [
                    j
                    for j in range(depth)
                    if (extra_norm_period and (j + 1) % extra_norm_period == 0)
                    or (last_ends_normed and j == depth - 1)
                ]
            )
        self._init_stages(
            dims,
            depths,
            num_heads,
            stage_window_sizes(window_size, len(depths)),
            patch_size,
            drop_path_rate,
            per_stage=[dict(extra_norms=e) for e in extra_norms],
            head_dim=None,
            mlp_ratio=mlp_ratio,
            qkv_bias=True,
            proj_drop=proj_drop_rate,
            attn_drop=attn_drop_rate,
            init_values=init_values,
        )
        self._set_head(num_classes, global_pool, drop_rate)
        self._init_weights()

    @torch.no_grad()
    def _init_weights(self) -> None:
        """timm's scheme: uniform qkv (fan over one of q, k, v), Xavier elsewhere, a zero classifier."""
        for name, m in self.named_modules():
            if not isinstance(m, nn.Linear) or m.weight.is_meta:
                continue
            if name.endswith(".qkv"):
                bound = math.sqrt(6.0 / float(m.weight.shape[0] // 3 + m.weight.shape[1]))
                nn.init.uniform_(m.weight, -bound, bound)
            elif name.startswith("head"):
                nn.init.zeros_(m.weight)
            else:
                nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    def _make_stage(self, index: int, **kwargs) -> nn.Module:
        return SwinCrStage(**kwargs)

    def _finish_features(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 3, 1, 2)  # NCHW

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:  # [B, C, H, W]
        return self.head(x.permute(0, 2, 3, 1), pre_logits=pre_logits)

    def no_weight_decay(self) -> set[str]:
        return {n for n, _ in self.named_parameters() if n.endswith("logit_scale") or ".meta_mlp." in n}


# -- checkpoint conversion ----------------------------------------------------------------------


def checkpoint_filter(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Adapt a timm or original swinv2_cr checkpoint to `model`.

    The original layout stores a temperature `tau` where timm keeps `logit_scale = ln(1 / tau)`, and a bare
    `head` linear; the coordinate buffers some checkpoints carry are rebuilt from the geometry.
    """
    out = {}
    for key, value in state_dict.items():
        if key.endswith(("relative_coordinates_log", "attn_mask")):
            continue
        if key.endswith(".tau"):
            key, value = key[: -len("tau")] + "logit_scale", torch.log(1.0 / value)
        elif key in ("head.weight", "head.bias"):
            key = "head.fc." + key.split(".")[-1]
        out[key] = value
    return out


# -- variants -----------------------------------------------------------------------------------

_TINY, _SMALL, _BASE, _LARGE = (SIZES[k] for k in ("tiny", "small", "base", "large"))
_GIANT = dict(embed_dim=512, depths=(2, 2, 42, 2), num_heads=(16, 32, 64, 128), extra_norm_period=6)
_NS = dict(extra_norm_stage=True)  # every stage ends with a norm

VARIANTS: dict[str, dict] = {
    "swinv2_cr_tiny_384": dict(img_size=384, **_TINY),
    "swinv2_cr_tiny_224": dict(img_size=224, **_TINY),
    "swinv2_cr_tiny_ns_224": dict(img_size=224, **_TINY, **_NS),
    "swinv2_cr_small_384": dict(img_size=384, **_SMALL),
    "swinv2_cr_small_224": dict(img_size=224, **_SMALL),
    "swinv2_cr_small_ns_224": dict(img_size=224, **_SMALL, **_NS),
    "swinv2_cr_small_ns_256": dict(img_size=256, **_SMALL, **_NS),
    "swinv2_cr_base_384": dict(img_size=384, **_BASE),
    "swinv2_cr_base_224": dict(img_size=224, **_BASE),
    "swinv2_cr_base_ns_224": dict(img_size=224, **_BASE, **_NS),
    "swinv2_cr_large_384": dict(img_size=384, **_LARGE),
    "swinv2_cr_large_224": dict(img_size=224, **_LARGE),
    # the head counts of huge differ between its two sizes, as in timm
    "swinv2_cr_huge_384": dict(
        img_size=384, embed_dim=352, depths=(2, 2, 18, 2), num_heads=(11, 22, 44, 88), extra_norm_period=6
    ),
    "swinv2_cr_huge_224": dict(
        img_size=224, embed_dim=352, depths=(2, 2, 18, 2), num_heads=(8, 16, 32, 64), extra_norm_period=6
    ),
    "swinv2_cr_giant_384": dict(img_size=384, **_GIANT),
    "swinv2_cr_giant_224": dict(img_size=224, **_GIANT),
}

register_variants(VARIANTS, SwinTransformerV2Cr, checkpoint_filter=checkpoint_filter)
