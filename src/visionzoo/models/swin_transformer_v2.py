"""Swin Transformer V2: shifted windows with scaled cosine attention and a continuous position bias.

Liu et al., "Swin Transformer V2: Scaling Up Capacity and Resolution" (CVPR 2022). The model is Swin v1's
(models/swin_transformer.py: patch embedding, window geometry, stages, head, features) with three
changes, each a layer here:
- attention is the cosine similarity of queries and keys times a learned per-head temperature;
- the relative position bias comes from a small MLP over log-spaced (dy, dx) offsets, so it exists for
  any window size: a model built with larger windows than it was trained with (`pretrained_window_sizes`,
  the `window12to16_192to256` architectures) loads the same weights;
- norms follow attention and MLP inside the residual (res-post-norm), and patch merging normalises after
  its projection.
State-dict keys follow timm, so `timm/swinv2_*` checkpoints load unchanged; original Microsoft checkpoints
(patch merging at the end of a stage) are converted by `checkpoint_filter`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..layers.relative_position import log_spaced_relative_coords, relative_position_index
from ..layers.window import windowed_attention
from ..registry import register_variants
from .swin_transformer import SIZES, PatchMerging, SwinBlock, SwinStage, SwinTransformer

__all__ = ["SwinTransformerV2", "WindowAttentionV2", "checkpoint_filter"]

Size2 = tuple[int, int]

# Cap of the learned attention temperature (exp(logit_scale) <= 100), as in the paper.
_MAX_LOGIT_SCALE = math.log(100.0)


class WindowAttentionV2(nn.Module):
    """Cosine attention inside windows plus a continuous relative position bias.

    scores = cos(q, k) * exp(min(logit_scale, log 100)) + 16 * sigmoid(cpb_mlp(offsets)). The key has no
    bias (`q_bias` and `v_bias` only). `pretrained_window` sets the offset scaling the bias MLP was trained
    with (default: this window).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: Size2,
        pretrained_window: Size2 = (0, 0),
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        cpb_hidden: int = 512,
    ):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by its {num_heads} heads")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.window_size = window_size
        self.pretrained_window = pretrained_window
        self.logit_scale = nn.Parameter(torch.empty(num_heads, 1, 1))
        self.cpb_mlp = nn.Sequential(
            nn.Linear(2, cpb_hidden), nn.ReLU(inplace=True), nn.Linear(cpb_hidden, num_heads, bias=False)
        )
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        if qkv_bias:
            self.q_bias = nn.Parameter(torch.empty(dim))
            self.v_bias = nn.Parameter(torch.empty(dim))
        else:
            self.register_parameter("q_bias", None)
            self.register_parameter("v_bias", None)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self._build_buffers("cpu")  # built on the CPU even under a meta device: they are not in checkpoints
        self.reset_parameters()

    def _build_buffers(self, device: torch.device | str) -> None:
        coords = log_spaced_relative_coords(self.window_size, self.pretrained_window, device=device)
        self.register_buffer("relative_coords_table", coords, persistent=False)  # [2wh-1, 2ww-1, 2]
        index = relative_position_index(self.window_size, device=device)
        self.register_buffer("relative_position_index", index, persistent=False)  # [N, N]

    def reset_parameters(self) -> None:
        """Init this module's own tensors (children have their own)."""
        if self.logit_scale.is_meta:  # meta: weights are assigned later
            return
        with torch.no_grad():
            self.logit_scale.fill_(math.log(10.0))
            if self.q_bias is not None:
                self.q_bias.zero_()
                self.v_bias.zero_()
        self._build_buffers(self.logit_scale.device)

    def relative_bias(self) -> torch.Tensor:
        """[heads, N, N] bias of each query/key pair of a window, in (0, 16)."""
        n = self.window_size[0] * self.window_size[1]
        table = self.cpb_mlp(self.relative_coords_table).view(-1, self.num_heads)  # [(2wh-1)(2ww-1), heads]
        bias = table[self.relative_position_index.view(-1)].view(n, n, self.num_heads).permute(2, 0, 1)
        return 16 * torch.sigmoid(bias)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, nw, n, c = x.shape  # [B, nW, N, C]
        bias = None
        if self.q_bias is not None:
            bias = torch.cat((self.q_bias, torch.zeros_like(self.q_bias), self.v_bias))
        qkv = F.linear(x, self.qkv.weight, bias).view(b * nw, n, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [B*nW, heads, N, hd]
        scale = torch.clamp(self.logit_scale, max=_MAX_LOGIT_SCALE).exp()  # [heads, 1, 1]
        q = F.normalize(q, dim=-1) * scale
        k = F.normalize(k, dim=-1)
        dropout_p = self.attn_drop if self.training else 0.0
        out = windowed_attention(q, k, v, self.relative_bias(), mask, b, dropout_p, scale=1.0)
        out = out.reshape(b, nw, n, c)  # from [B*nW, N, heads, hd]
        return self.proj_drop(self.proj(out))


class SwinV2Block(SwinBlock):
    """Swin v1's windowing with V2 attention, and res-post-norm: x + norm(attn(x)), x + norm(mlp(x))."""

    def __init__(self, *args, pretrained_window_size: Size2 = (0, 0), **kwargs):
        # a plain tuple (settable before Module.__init__), read by _make_attention while SwinBlock builds
        self.pretrained_window_size = pretrained_window_size
        super().__init__(*args, **kwargs)

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
        return WindowAttentionV2(
            dim, num_heads, window, self.pretrained_window_size, qkv_bias, attn_drop, proj_drop
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, H, W, C]
        x = x + self.drop_path1(self.norm1(self._attend(x)))
        return x + self.drop_path2(self.norm2(self.mlp(x)))


class PatchMergingV2(PatchMerging):
    """2x2 neighbourhoods concatenated (4C), projected, then normalised (over the output width)."""

    def __init__(self, dim: int, out_dim: int):
        nn.Module.__init__(self)
        self.reduction = nn.Linear(4 * dim, out_dim, bias=False)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, H, W, C] -> [B, H/2, W/2, out_dim]
        return self.norm(self.reduction(self.gather(x)))


class SwinV2Stage(SwinStage):
    """A Swin stage of V2 blocks and V2 patch merging."""

    block_cls = SwinV2Block
    merge_cls = PatchMergingV2


class SwinTransformerV2(SwinTransformer):
    """Swin Transformer V2 classifier with timm-compatible parameter names; `forward_features` is NHWC.

    Takes Swin v1's arguments (`window_size` may be one per stage) plus `pretrained_window_sizes`: the
    window each stage's position-bias MLP was trained with (0: its own window).
    """

    def __init__(self, *, pretrained_window_sizes: int | Sequence[int] = 0, **kwargs):
        depths = tuple(kwargs.get("depths", (2, 2, 6, 2)))
        if isinstance(pretrained_window_sizes, int):
            pretrained_window_sizes = (pretrained_window_sizes,) * len(depths)
        if len(pretrained_window_sizes) != len(depths) or any(
            not isinstance(w, int) or w < 0 for w in pretrained_window_sizes
        ):
            raise ValueError(
                f"pretrained_window_sizes must be one int >= 0 per stage ({len(depths)}), "
                f"got {pretrained_window_sizes!r}"
            )
        if kwargs.get("head_dim") is not None:
            raise ValueError("Swin V2 has no head_dim option: heads split the stage width evenly")
        # read by _make_stage while the parent constructor builds the stages (a plain attribute, not a tensor)
        self._pretrained_windows = tuple((w, w) for w in pretrained_window_sizes)
        super().__init__(**kwargs)

    def _make_stage(self, index: int, **kwargs) -> nn.Module:
        return SwinV2Stage(pretrained_window_size=self._pretrained_windows[index], **kwargs)

    def no_weight_decay(self) -> set[str]:
        return {n for n, _ in self.named_parameters() if n.endswith("logit_scale") or ".cpb_mlp." in n}


# -- checkpoint conversion ----------------------------------------------------------------------

_BUFFER_SUFFIXES = ("relative_position_index", "relative_coords_table", "attn_mask", "attn.k_bias")


def checkpoint_filter(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Adapt a timm or original Microsoft Swin V2 checkpoint to `model`.

    Drops the buffers some checkpoints carry (rebuilt from the geometry; the key bias is always zero) and, for Microsoft's layout
    (patch merging at the end of stage i, so stage 0 has one), moves merging into stage i + 1 and renames
    the bare `head` linear to `head.fc`. Nothing depends on the window size, so no table is resized.
    """
    sd = {k: v for k, v in state_dict.items() if not k.endswith(_BUFFER_SUFFIXES)}
    if not any(k.startswith("layers.0.downsample.") for k in sd):
        return sd
    out = {}
    for key, value in sd.items():
        if m := re.match(r"layers\.(\d+)\.downsample\.(.+)", key):
            key = f"layers.{int(m[1]) + 1}.downsample.{m[2]}"
        elif key in ("head.weight", "head.bias"):
            key = "head.fc." + key.split(".")[-1]
        out[key] = value
    return out


# -- variants -----------------------------------------------------------------------------------

_TINY, _SMALL, _BASE, _LARGE = (SIZES[k] for k in ("tiny", "small", "base", "large"))
# fine-tuned at a larger window from window-12 (192 px) pre-training; the last stage's map was 6 wide
_FROM_12 = dict(pretrained_window_sizes=(12, 12, 12, 6))

VARIANTS: dict[str, dict] = {
    "swinv2_tiny_window16_256": dict(img_size=256, window_size=16, **_TINY),
    "swinv2_tiny_window8_256": dict(img_size=256, window_size=8, **_TINY),
    "swinv2_small_window16_256": dict(img_size=256, window_size=16, **_SMALL),
    "swinv2_small_window8_256": dict(img_size=256, window_size=8, **_SMALL),
    "swinv2_base_window16_256": dict(img_size=256, window_size=16, **_BASE),
    "swinv2_base_window8_256": dict(img_size=256, window_size=8, **_BASE),
    "swinv2_base_window12_192": dict(img_size=192, window_size=12, **_BASE),
    "swinv2_base_window12to16_192to256": dict(img_size=256, window_size=16, **_BASE, **_FROM_12),
    "swinv2_base_window12to24_192to384": dict(img_size=384, window_size=24, **_BASE, **_FROM_12),
    "swinv2_large_window12_192": dict(img_size=192, window_size=12, **_LARGE),
    "swinv2_large_window12to16_192to256": dict(img_size=256, window_size=16, **_LARGE, **_FROM_12),
    "swinv2_large_window12to24_192to384": dict(img_size=384, window_size=24, **_LARGE, **_FROM_12),
}

register_variants(VARIANTS, SwinTransformerV2, checkpoint_filter=checkpoint_filter)
