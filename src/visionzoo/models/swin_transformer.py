"""Swin Transformer (v1): hierarchical vision transformer with shifted-window attention.

Liu et al., "Swin Transformer: Hierarchical Vision Transformer using Shifted Windows" (ICCV 2021).
State-dict keys follow timm, so `timm/swin_*` checkpoints load unchanged; the original Microsoft
checkpoints are converted on load. Internally tokens stay NHWC ([B, H, W, C]) throughout, and
`forward_features` returns that NHWC map; `forward_intermediates` returns NCHW maps unless asked.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..features import feature_take_indices, to_output_fmt
from ..layers.drop import drop_path_layer, stage_drop_path_rates
from ..layers.grad_checkpoint import checkpoint_active, run_blocks
from ..layers.helpers import to_2tuple
from ..layers.mlp import Mlp
from ..layers.patch_embed import PatchEmbed
from ..layers.pooling import SelectAdaptivePool2d
from ..layers.relative_position import (
    relative_position_index,
    resize_relative_position_bias_table,
    table_length,
)
from ..layers.window import (
    shifted_window_mask,
    stage_window_sizes,
    window_merge,
    window_partition,
    windowed_attention,
)
from ..registry import register_variants
from .base import ImageModel, check_num_classes

__all__ = [
    "PatchMerging",
    "SwinBase",
    "SwinBlock",
    "SwinHead",
    "SwinStage",
    "SwinTransformer",
    "checkpoint_filter",
]

Size2 = tuple[int, int]


class WindowAttention(nn.Module):
    """Multi-head self-attention inside windows, with a learned bias per relative offset."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: Size2,
        head_dim: int | None = None,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = head_dim or dim // num_heads
        self.window_size = window_size
        inner = num_heads * self.head_dim
        self.relative_position_bias_table = nn.Parameter(torch.empty(table_length(window_size), num_heads))
        self.register_buffer(
            "relative_position_index", relative_position_index(window_size, device="cpu"), persistent=False
        )
        self.qkv = nn.Linear(dim, 3 * inner, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(inner, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Init this module's own tensors (children have their own)."""
        if not self.relative_position_bias_table.is_meta:  # meta: weights are assigned later
            nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
            device = self.relative_position_bias_table.device
            self.relative_position_index = relative_position_index(self.window_size, device=device)

    def relative_bias(self) -> torch.Tensor:
        """[heads, N, N] bias of each query/key pair of a window."""
        n = self.window_size[0] * self.window_size[1]
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]  # [N*N, heads]
        return bias.view(n, n, self.num_heads).permute(2, 0, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, nw, n, _ = x.shape  # [B, nW, N, C]
        # windows folded into the batch: SDPA's fast CPU/GPU kernels (and ONNX) take 4-D inputs
        qkv = self.qkv(x).view(b * nw, n, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [B*nW, heads, N, hd]
        dropout_p = self.attn_drop if self.training else 0.0
        out = windowed_attention(q, k, v, self.relative_bias(), mask, b, dropout_p)  # [B*nW, N, heads, hd]
        out = out.reshape(b, nw, n, self.num_heads * self.head_dim)
        return self.proj_drop(self.proj(out))


class SwinBlock(nn.Module):
    """(Shifted-)window attention and MLP, each pre-norm with a residual, on an NHWC map.

    Subclasses (Swin V2) swap the attention by overriding `_make_attention`.
    """

    def __init__(
        self,
        dim: int,
        feat_size: Size2,
        num_heads: int,
        window_size: Size2,
        shifted: bool,
        head_dim: int | None = None,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        proj_drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
    ):
        super().__init__()
        # A window never exceeds the map; a window covering a whole side has nothing to shift along it.
        self.feat_size = feat_size
        self.window_size = (min(window_size[0], feat_size[0]), min(window_size[1], feat_size[1]))
        self.shift_size = tuple(
            0 if not shifted or size <= win else win // 2 for size, win in zip(feat_size, window_size)
        )
        self.norm1 = nn.LayerNorm(dim)
        self.attn = self._make_attention(
            dim, num_heads, self.window_size, head_dim, qkv_bias, attn_drop, proj_drop
        )
        self.drop_path1 = drop_path_layer(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=proj_drop)
        self.drop_path2 = drop_path_layer(drop_path)
        mask = None
        if any(self.shift_size):
            padded = tuple(math.ceil(s / w) * w for s, w in zip(feat_size, self.window_size))
            mask = shifted_window_mask(padded, self.window_size, self.shift_size)
        self.register_buffer("attn_mask", mask, persistent=False)

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
        """The attention over the (clamped) windows; called once, while the block is built."""
        return WindowAttention(dim, num_heads, window, head_dim, qkv_bias, attn_drop, proj_drop)

    def _attend(self, x: torch.Tensor) -> torch.Tensor:
        _, h, w, _ = x.shape  # [B, H, W, C]
        (wh, ww), (sh, sw) = self.window_size, self.shift_size
        if sh or sw:
            x = torch.roll(x, shifts=(-sh, -sw), dims=(1, 2))
        # the map is cut into windows after the shift; sizes that don't divide get zero padding at the end
        x = F.pad(x, (0, 0, 0, -w % ww, 0, -h % wh))  # [B, Hp, Wp, C]
        padded = (x.shape[1], x.shape[2])
        x = self.attn(window_partition(x, self.window_size), self.attn_mask)  # [B, nW, N, C]
        x = window_merge(x, self.window_size, padded)[:, :h, :w]  # [B, H, W, C]
        if sh or sw:
            x = torch.roll(x, shifts=(sh, sw), dims=(1, 2))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, H, W, C]
        x = x + self.drop_path1(self._attend(self.norm1(x)))
        return x + self.drop_path2(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    """Halve the resolution: each 2x2 neighbourhood is concatenated (4C), normalised and projected."""

    def __init__(self, dim: int, out_dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, out_dim, bias=False)

    @staticmethod
    def gather(x: torch.Tensor) -> torch.Tensor:
        """[B, H, W, C] -> [B, ceil(H/2), ceil(W/2), 4C]: each 2x2 neighbourhood's channels side by side."""
        x = F.pad(x, (0, 0, 0, x.shape[2] % 2, 0, x.shape[1] % 2))  # even H, W
        b, h, w, c = x.shape
        x = x.view(b, h // 2, 2, w // 2, 2, c)  # [B, H/2, dy, W/2, dx, C]
        return x.permute(0, 1, 3, 4, 2, 5).reshape(b, h // 2, w // 2, 4 * c)  # channels ordered (dx, dy, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, H, W, C]
        return self.reduction(self.norm(self.gather(x)))  # [B, H/2, W/2, out_dim]


class SwinStage(nn.Module):
    """Optional patch merging, then `depth` blocks alternating regular and shifted windows.

    `block_cls` and `merge_cls` name the block and merging layers (Swin V2 subclasses swap them);
    `block_kwargs` go to every block as they are.
    """

    block_cls: type[nn.Module] = SwinBlock
    merge_cls: type[nn.Module] = PatchMerging

    def __init__(
        self,
        dim: int,
        out_dim: int,
        feat_size: Size2,
        depth: int,
        downsample: bool,
        num_heads: int,
        window_size: Size2,
        head_dim: int | None,
        mlp_ratio: float,
        qkv_bias: bool,
        proj_drop: float,
        attn_drop: float,
        drop_path: Sequence[float],
        **block_kwargs,
    ):
        super().__init__()
        if downsample:
            self.downsample: nn.Module = self.merge_cls(dim, out_dim)
            feat_size = ((feat_size[0] + 1) // 2, (feat_size[1] + 1) // 2)
        else:
            self.downsample = nn.Identity()
        self.feat_size = feat_size
        self.grad_checkpointing = False
        self.blocks = nn.Sequential(
            *[
                self.block_cls(
                    out_dim,
                    feat_size,
                    num_heads,
                    window_size,
                    shifted=i % 2 == 1,
                    head_dim=head_dim,
                    mlp_ratio=mlp_ratio,
                    qkv_bias=qkv_bias,
                    proj_drop=proj_drop,
                    attn_drop=attn_drop,
                    drop_path=drop_path[i],
                    **block_kwargs,
                )
                for i in range(depth)
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, H, W, C] -> [B, H', W', C']
        return run_blocks(self.blocks, self.downsample(x), checkpoint_active(self))


class SwinHead(nn.Module):
    """Global pooling of the NHWC map, dropout, linear classifier (`fc`; identity when num_classes=0)."""

    def __init__(self, in_features: int, num_classes: int, pool_type: str = "avg", drop_rate: float = 0.0):
        super().__init__()
        self.global_pool = SelectAdaptivePool2d(pool_type, flatten=True)
        self.drop = nn.Dropout(drop_rate)
        fc_in = in_features * self.global_pool.feat_mult()
        self.fc = nn.Linear(fc_in, num_classes) if num_classes > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:  # [B, H, W, C]
        if not self.global_pool.is_identity():
            x = self.global_pool(x.permute(0, 3, 1, 2))  # [B, C] (2C for catavgmax)
        x = self.drop(x)
        return x if pre_logits else self.fc(x)


class SwinBase(ImageModel):
    """What the Swin classifiers share around their stages: the patch embedding, the stage plumbing, the
    head, the feature maps and the parameter groups.

    A subclass names its stage container (`stages_name`), builds its stages through `_make_stage`, says what
    `forward_features` ends with (`_finish_features`) and may have a final `norm`.
    """

    stages_name = "layers"

    def _init_patch_embed(
        self,
        img_size: int | Sequence[int],
        patch_size: int,
        in_chans: int,
        embed_dim: int,
        depths: Sequence[int],
        num_heads: Sequence[int],
    ) -> tuple[tuple[int, ...], tuple[int, ...], list[int]]:
        """Check the geometry, build `patch_embed`; (depths, num_heads, stage widths doubling per stage)."""
        img_size = to_2tuple(img_size, "img_size")
        if not isinstance(patch_size, int) or isinstance(patch_size, bool) or patch_size <= 0:
            raise ValueError(f"patch_size must be a positive int, got {patch_size!r}")
        if img_size[0] % patch_size or img_size[1] % patch_size:
            raise ValueError(f"img_size {img_size} must be divisible by patch_size {patch_size}")
        depths, num_heads = tuple(depths), tuple(num_heads)
        if not depths or len(depths) != len(num_heads):
            raise ValueError(
                f"depths {depths} and num_heads {num_heads} must be non-empty and of equal length"
            )
        self.patch_embed = PatchEmbed(
            img_size,
            patch_size,
            in_chans,
            embed_dim,
            norm_layer=nn.LayerNorm,
            size_hint="build the model with img_size=(H, W) for other sizes (the attention windows depend on it)",
        )
        return depths, num_heads, [embed_dim * 2**i for i in range(len(depths))]

    def _init_stages(
        self,
        dims: Sequence[int],
        depths: Sequence[int],
        num_heads: Sequence[int],
        windows: Sequence[Size2],
        patch_size: int,
        drop_path_rate: float,
        per_stage: Sequence[dict] = (),
        **stage_kwargs,
    ) -> None:
        """The stages (stochastic depth rising linearly over all blocks) and their `feature_info`.

        `stage_kwargs` go to every `_make_stage` call, `per_stage[i]` to stage i's only.
        """
        feat = self.patch_embed.grid_size
        stage_rates = stage_drop_path_rates(drop_path_rate, depths, float32=True)
        stages, self.feature_info = [], []
        for i, (depth, heads, rates) in enumerate(zip(depths, num_heads, stage_rates)):
            stage = self._make_stage(
                i,
                dim=dims[max(i - 1, 0)],
                out_dim=dims[i],
                feat_size=feat,
                depth=depth,
                downsample=i > 0,
                num_heads=heads,
                window_size=windows[i],
                drop_path=rates,
                **stage_kwargs,
                **(per_stage[i] if per_stage else {}),
            )
            feat = stage.feat_size
            stages.append(stage)
            module = f"{self.stages_name}.{i}"
            self.feature_info.append(dict(num_chs=dims[i], reduction=patch_size * 2**i, module=module))
        setattr(self, self.stages_name, nn.Sequential(*stages))

    def _make_stage(self, index: int, **kwargs) -> nn.Module:
        """Stage `index` of the model (Swin V2 overrides this to build its own blocks)."""
        return SwinStage(**kwargs)

    def _stages(self) -> nn.Sequential:
        return getattr(self, self.stages_name)

    def _finish_features(self, x: torch.Tensor) -> torch.Tensor:
        """What `forward_features` does to the last stage's NHWC map."""
        raise NotImplementedError

    # -- classifier -----------------------------------------------------------------------------
    def _set_head(self, num_classes: int, global_pool: str, drop_rate: float) -> None:
        self.head = SwinHead(self.num_features, num_classes, global_pool, drop_rate)  # validates the pool
        self.num_classes, self.global_pool = num_classes, global_pool
        self.head_hidden_size = self.num_features * self.head.global_pool.feat_mult()  # pre-logits width

    def _init_classifier(self, fc: nn.Linear) -> None:
        """Init of a classifier made by `reset_classifier` (default: PyTorch's)."""

    def get_classifier(self) -> nn.Module:
        return self.head.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        check_num_classes(num_classes)
        self._set_head(
            num_classes, self.global_pool if global_pool is None else global_pool, self.head.drop.p
        )
        if isinstance(self.head.fc, nn.Linear):
            self._init_classifier(self.head.fc)

    # -- forward --------------------------------------------------------------------------------
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # [B, C_in, H, W]
        return self._finish_features(self._stages()(self.patch_embed(x)))  # from [B, H/32, W/32, C]

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | Sequence[int] | None = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """Stage outputs (NCHW unless `output_fmt='NHWC'`); `norm` applies the final norm, where the model
        has one, to the last stage."""
        to_output_fmt(torch.empty(0, 0, 0, 0), output_fmt)  # validate before running anything
        all_stages = self._stages()
        take, last = feature_take_indices(len(all_stages), indices)
        stages = all_stages[: last + 1] if stop_early or intermediates_only else all_stages
        final_norm = getattr(self, "norm", None) if norm else None
        x = self.patch_embed(x)  # [B, H, W, C]
        maps = []
        for i, stage in enumerate(stages):
            x = stage(x)
            if i in take:
                y = final_norm(x) if final_norm is not None and i == len(all_stages) - 1 else x
                maps.append(y if output_fmt == "NHWC" else y.permute(0, 3, 1, 2).contiguous())
        if intermediates_only:
            return maps
        return self._finish_features(x), maps

    def prune_intermediate_layers(
        self, indices: int | Sequence[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        take, last = feature_take_indices(len(self._stages()), indices)
        setattr(self, self.stages_name, self._stages()[: last + 1])
        if prune_norm and hasattr(self, "norm"):
            self.norm = nn.Identity()
        if prune_head:
            self.reset_classifier(0, "")
        return take

    # -- training helpers -----------------------------------------------------------------------
    def group_matcher(self, coarse: bool = False) -> dict:
        name = self.stages_name
        if coarse:
            return dict(stem=r"^patch_embed", blocks=rf"^{name}\.(\d+)")
        blocks = [(rf"^{name}\.(\d+)\.downsample", (0,)), (rf"^{name}\.(\d+)\.\w+\.(\d+)", None)]
        if hasattr(self, "norm"):
            blocks.append((r"^norm", (99999,)))
        return dict(stem=r"^patch_embed", blocks=blocks)


class SwinTransformer(SwinBase):
    """Swin Transformer v1 classifier with timm-compatible parameter names; `forward_features` is NHWC."""

    output_fmt = "NHWC"
    feature_key_layout = "flat"

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
        head_dim: int | None = None,
        window_size: int | Sequence[int] = 7,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
    ):
        super().__init__()
        depths, num_heads, dims = self._init_patch_embed(
            img_size, patch_size, in_chans, embed_dim, depths, num_heads
        )
        for d, h in zip(dims, num_heads):
            if head_dim is None and d % h:
                raise ValueError(f"stage width {d} is not divisible by its {h} heads; pass head_dim")
        self.num_features = dims[-1]
        self.patch_size = patch_size
        self._init_stages(
            dims,
            depths,
            num_heads,
            stage_window_sizes(window_size, len(depths)),
            patch_size,
            drop_path_rate,
            head_dim=head_dim,
            mlp_ratio=mlp_ratio,
            qkv_bias=qkv_bias,
            proj_drop=proj_drop_rate,
            attn_drop=attn_drop_rate,
        )
        self.norm = nn.LayerNorm(self.num_features)
        self._set_head(num_classes, global_pool, drop_rate)
        self.apply(_init_linear)

    def _finish_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x)  # NHWC

    def _init_classifier(self, fc: nn.Linear) -> None:
        _init_linear(fc)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.head(x, pre_logits=pre_logits)

    def no_weight_decay(self) -> set[str]:
        return {name for name, _ in self.named_parameters() if name.endswith("relative_position_bias_table")}


def _init_linear(module: nn.Module) -> None:
    if isinstance(module, nn.Linear) and not module.weight.is_meta:  # meta: weights are assigned later
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


# -- checkpoint conversion ----------------------------------------------------------------------

_BUFFER_SUFFIXES = ("relative_position_index", "attn_mask")


def _from_microsoft_layout(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Original Swin checkpoints merge patches at the END of stage i; timm (and we) at the start of i+1.

    Also renames the bare `head` linear to `head.fc`.
    """
    merge_at_end = any(k.startswith("layers.0.downsample.") for k in state_dict)  # stage 0 never merges
    out = {}
    for key, value in state_dict.items():
        m = re.match(r"layers\.(\d+)\.downsample\.(.+)", key)
        if m and merge_at_end:
            key = f"layers.{int(m.group(1)) + 1}.downsample.{m.group(2)}"
        elif key in ("head.weight", "head.bias"):
            key = "head.fc." + key.split(".")[-1]
        out[key] = value
    return out


def _fit_bias_tables(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Resample relative position bias tables trained with another window size to the model's windows."""
    own = dict(model.named_parameters())
    out = dict(state_dict)
    for key, table in state_dict.items():
        if not key.endswith("relative_position_bias_table") or key not in own:
            continue
        if table.shape[0] != own[key].shape[0]:
            window = model.get_submodule(key.rsplit(".", 1)[0]).window_size
            out[key] = resize_relative_position_bias_table(table, window)
    return out


def checkpoint_filter(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Adapt a timm or original Microsoft Swin checkpoint to `model`.

    Drops the index / mask buffers some checkpoints carry (they are rebuilt from the geometry), moves
    Microsoft-layout patch merging into the next stage, and resizes bias tables to the model's windows.
    """
    sd = {k: v for k, v in state_dict.items() if not k.endswith(_BUFFER_SUFFIXES)}
    sd = _from_microsoft_layout(sd)
    return _fit_bias_tables(sd, model)


# -- variants -----------------------------------------------------------------------------------


def _variant(
    embed_dim: int, depths: tuple[int, ...], num_heads: tuple[int, ...], window: int | tuple, img: int
) -> dict:
    return dict(
        img_size=img,
        patch_size=4,
        window_size=window,
        embed_dim=embed_dim,
        depths=depths,
        num_heads=num_heads,
    )


# width, blocks and heads per stage of the Swin sizes, shared by v1, V2 and V2 CR
SIZES: dict[str, dict] = {
    "tiny": dict(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24)),
    "small": dict(embed_dim=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24)),
    "base": dict(embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32)),
    "large": dict(embed_dim=192, depths=(2, 2, 18, 2), num_heads=(6, 12, 24, 48)),
}
_TINY, _SMALL, _BASE, _LARGE = (tuple(SIZES[k].values()) for k in ("tiny", "small", "base", "large"))

VARIANTS: dict[str, dict] = {
    "swin_tiny_patch4_window7_224": _variant(*_TINY, window=7, img=224),
    "swin_small_patch4_window7_224": _variant(*_SMALL, window=7, img=224),
    "swin_base_patch4_window7_224": _variant(*_BASE, window=7, img=224),
    "swin_large_patch4_window7_224": _variant(*_LARGE, window=7, img=224),
    "swin_base_patch4_window12_384": _variant(*_BASE, window=12, img=384),
    "swin_large_patch4_window12_384": _variant(*_LARGE, window=12, img=384),
    # AutoFormerV2 (S3) searched architectures: a window size per stage
    "swin_s3_tiny_224": _variant(96, (2, 2, 6, 2), (3, 6, 12, 24), window=(7, 7, 14, 7), img=224),
    "swin_s3_small_224": _variant(96, (2, 2, 18, 2), (3, 6, 12, 24), window=(14, 14, 14, 7), img=224),
    "swin_s3_base_224": _variant(96, (2, 2, 30, 2), (3, 6, 12, 24), window=(7, 7, 14, 7), img=224),
}

register_variants(VARIANTS, SwinTransformer, checkpoint_filter=checkpoint_filter)
