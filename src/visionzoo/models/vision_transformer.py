"""Vision Transformer (ViT): "An Image is Worth 16x16 Words" (Dosovitskiy et al., 2020).

Parameter names follow timm's, so timm's ViT checkpoints load unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.fx
from torch import nn

from ..layers.activations import get_act_layer
from ..layers.attention import LatentAttentionPool, RefinementAttentionPool
from ..layers.drop import drop_path_rates
from ..layers.grad_checkpoint import checkpoint_active, run_blocks
from ..layers.mlp import MLP_LAYERS
from ..layers.norm import norm_layer_for
from ..layers.patch_embed import PatchEmbed
from ..layers.pos_embed import resample_abs_pos_embed
from ..layers.transformer_blocks import BLOCK_TYPES, Block, LayerScale
from ..registry import register_variants
from ._token_model import TokenModel
from .base import check_num_classes
from .vision_transformer_checkpoint import checkpoint_filter
from .vision_transformer_variants import VARIANTS

__all__ = ["VisionTransformer", "Block", "LayerScale", "checkpoint_filter", "VARIANTS"]

POOL_TYPES = ("", "token", "avg", "max", "avgmax", "map", "prr")
ATTN_POOLS = ("map", "prr")


def pos_embed_for_grid(
    pos_embed: torch.Tensor, tokens: torch.Tensor, grid_size: tuple[int, int], num_prefix_tokens: int
) -> torch.Tensor:
    """`pos_embed` (laid out for `grid_size`) resampled to the patch grid of `tokens` [B, h, w, C] if it
    differs. A leaf of torch.fx graphs (`torch.fx.wrap`): the grid is known only at run time."""
    h, w = tokens.shape[1:3]
    if (h, w) == tuple(grid_size):
        return pos_embed
    return resample_abs_pos_embed(pos_embed, (h, w), grid_size, num_prefix_tokens=num_prefix_tokens)


torch.fx.wrap("pos_embed_for_grid")


@dataclass(frozen=True)
class BlockOptions:
    """What every block of a ViT shares: layer choices by name, as the variant tables state them.

    norm_layer, norm_eps: 'layernorm' or 'rmsnorm' and its epsilon (also used by pre-norm, final norm,
        fc_norm and the attention-pool head).
    act_layer: MLP activation ('gelu', 'gelu_tanh', 'quick_gelu', 'silu', ...).
    mlp_layer: 'mlp', 'glu_packed' (one fc1 giving value and gate) or 'swiglu' (fc1_g and fc1_x).
    block_type: 'pre' (pre-norm), 'post' (post-norm), 'parallel' (two parallel attention and MLP branches)
        or 'parallel_scaling' (fused attention + MLP input projection).
    proj_bias: bias on the attention and MLP output projections.
    scale_attn_norm, scale_mlp_norm: an extra norm inside attention and MLP.
    """

    norm_layer: str = "layernorm"
    norm_eps: float = 1e-6
    act_layer: str = "gelu"
    mlp_layer: str = "mlp"
    block_type: str = "pre"
    proj_bias: bool = True
    scale_attn_norm: bool = False
    scale_mlp_norm: bool = False

    def __post_init__(self) -> None:
        norm_layer_for(self.norm_layer)  # ValueErrors naming the choices
        get_act_layer(self.act_layer)
        for name, value, known in (
            ("mlp_layer", self.mlp_layer, MLP_LAYERS),
            ("block_type", self.block_type, BLOCK_TYPES),
        ):
            if value not in known:
                raise ValueError(f"unknown {name} {value!r}; known: {', '.join(known)}")

    @property
    def norm(self) -> Callable[[int], nn.Module]:
        return norm_layer_for(self.norm_layer, self.norm_eps)

    def block_kwargs(self) -> dict:
        return dict(
            proj_bias=self.proj_bias,
            scale_attn_norm=self.scale_attn_norm,
            scale_mlp_norm=self.scale_mlp_norm,
            norm_layer=self.norm,
            act_layer=get_act_layer(self.act_layer),
            mlp_layer=MLP_LAYERS[self.mlp_layer],
        )


class VisionTransformer(TokenModel):
    """Vision Transformer: patch tokens plus prefix tokens (class, registers) through a stack of blocks.

    Args:
        img_size: input size the position embedding is laid out for (int or (h, w)).
        patch_size: side of the square patches.
        in_chans: input channels.
        num_classes: classifier size; 0 gives pooled features (an image tower without a classifier).
        global_pool: 'token' (class token), 'avg', 'max', 'avgmax' (patch tokens), 'map' (attention pooling
            with a learned query), 'prr' (parameter-free attention refinement, then token/avg) or '' (none).
        embed_dim, depth, num_heads, mlp_ratio: transformer width, blocks, heads, MLP expansion.
        qkv_bias, qk_norm: bias of the qkv projection, norm on queries and keys.
        init_values: LayerScale init (None: no LayerScale).
        class_token: prepend a class token.
        reg_tokens: number of register tokens after the class token.
        no_embed_class: position embedding covers patch tokens only (prefix tokens get none).
        pre_norm: norm after the embedding, before the blocks (CLIP); the patch projection then has no bias.
        embed_norm: norm on the patch embedding itself (`patch_embed.norm`, AIMv2).
        final_norm: norm at the end (as `norm`, or as `fc_norm` after pooling).
        fc_norm: norm after pooling instead of before; None means "for 'avg', 'max' and 'avgmax'".
        pool_include_prefix: 'avg'/'max'/'avgmax'/'map' pooling also covers the prefix tokens.
        norm_layer, norm_eps, act_layer, mlp_layer, block_type, proj_bias, scale_attn_norm, scale_mlp_norm:
            the layer choices of `BlockOptions`.
        resample_interpolation, resample_antialias: how checkpoint patch / position embeddings of another
            size are resampled on load (FlexiViT's weights prefer 'bilinear' without antialiasing).
        embed_layer: the patch-embedding class (or factory) taking PatchEmbed's arguments and giving an NHWC
            token grid; None is PatchEmbed. The ViT hybrids pass a CNN-stem embedding here.
        dynamic_img_size: accept any input whose sides are multiples of the patch size, resampling the
            position embedding on the fly.
        dynamic_img_pad: pad inputs to a multiple of the patch size.
        drop_rate, pos_drop_rate, proj_drop_rate, attn_drop_rate, drop_path_rate: dropout rates
            (classifier, after position embedding, projections, attention weights, stochastic depth).
    """

    num_distill_tokens = 0  # a distilled subclass adds one token and one head

    def __init__(
        self,
        img_size: int | tuple[int, int] = 224,
        patch_size: int = 16,
        in_chans: int = 3,
        num_classes: int = 1000,
        global_pool: str = "token",
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        qk_norm: bool = False,
        init_values: float | None = None,
        class_token: bool = True,
        reg_tokens: int = 0,
        no_embed_class: bool = False,
        pre_norm: bool = False,
        final_norm: bool = True,
        fc_norm: bool | None = None,
        pool_include_prefix: bool = False,
        dynamic_img_size: bool = False,
        dynamic_img_pad: bool = False,
        drop_rate: float = 0.0,
        pos_drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        *,
        embed_norm: bool = False,
        norm_layer: str = "layernorm",
        norm_eps: float = 1e-6,
        act_layer: str = "gelu",
        mlp_layer: str = "mlp",
        block_type: str = "pre",
        proj_bias: bool = True,
        scale_attn_norm: bool = False,
        scale_mlp_norm: bool = False,
        resample_interpolation: str = "bicubic",
        resample_antialias: bool = True,
        embed_layer: Callable[..., nn.Module] | None = None,
    ):
        super().__init__()
        self._check_pool(global_pool, class_token)
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        if reg_tokens < 0:
            raise ValueError(f"reg_tokens must be >= 0, got {reg_tokens}")
        options = BlockOptions(
            norm_layer=norm_layer,
            norm_eps=norm_eps,
            act_layer=act_layer,
            mlp_layer=mlp_layer,
            block_type=block_type,
            proj_bias=proj_bias,
            scale_attn_norm=scale_attn_norm,
            scale_mlp_norm=scale_mlp_norm,
        )
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.embed_dim = self.num_features = embed_dim
        self.has_class_token = bool(class_token)
        self.num_reg_tokens = reg_tokens
        self.num_prefix_tokens = int(class_token) + self.num_distill_tokens + reg_tokens
        self.no_embed_class = bool(no_embed_class)
        self.dynamic_img_size = bool(dynamic_img_size)
        self.grad_checkpointing = False
        # how a checkpoint's patch and position embeddings are resampled to this model (checkpoint_filter)
        self.resample_interpolation = resample_interpolation
        self.resample_antialias = bool(resample_antialias)

        self._build_embeddings(
            img_size=img_size,
            patch_size=patch_size,
            in_chans=in_chans,
            class_token=class_token,
            reg_tokens=reg_tokens,
            pre_norm=pre_norm,
            embed_norm=embed_norm,
            norm=options.norm,
            pos_drop_rate=pos_drop_rate,
            dynamic_img_size=dynamic_img_size,
            dynamic_img_pad=dynamic_img_pad,
            embed_layer=embed_layer or PatchEmbed,
        )
        self._build_blocks(
            depth=depth,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            qkv_bias=qkv_bias,
            qk_norm=qk_norm,
            init_values=init_values,
            options=options,
            proj_drop_rate=proj_drop_rate,
            attn_drop_rate=attn_drop_rate,
            drop_path_rate=drop_path_rate,
        )
        self._build_head(
            num_classes=num_classes,
            global_pool=global_pool,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            class_token=class_token,
            final_norm=final_norm,
            fc_norm=fc_norm,
            pool_include_prefix=pool_include_prefix,
            options=options,
            drop_rate=drop_rate,
        )
        self._init_weights()

    # ----------------------------------------------------------------- setup
    def _build_embeddings(
        self,
        *,
        img_size: int | tuple[int, int],
        patch_size: int,
        in_chans: int,
        class_token: bool,
        reg_tokens: int,
        pre_norm: bool,
        embed_norm: bool,
        norm: Callable[[int], nn.Module],
        pos_drop_rate: float,
        dynamic_img_size: bool,
        dynamic_img_pad: bool,
        embed_layer: Callable[..., nn.Module] = PatchEmbed,
    ) -> None:
        """Patch embedding, prefix tokens, position embedding (+ dropout) and the optional pre-norm."""
        self.patch_embed = embed_layer(
            img_size,
            patch_size,
            in_chans,
            self.embed_dim,
            bias=not pre_norm,
            norm_layer=norm if embed_norm else None,
            dynamic_img_size=dynamic_img_size,
            dynamic_img_pad=dynamic_img_pad,
        )
        num_patches = self.patch_embed.num_patches
        self._make_prefix_tokens(class_token, reg_tokens)
        pos_len = num_patches if self.no_embed_class else num_patches + self.num_prefix_tokens
        self.pos_embed = nn.Parameter(torch.zeros(1, pos_len, self.embed_dim))  # [1, prefix + h*w, C]
        self.pos_drop = nn.Dropout(pos_drop_rate)
        self.norm_pre = norm(self.embed_dim) if pre_norm else nn.Identity()

    def _build_blocks(
        self,
        *,
        depth: int,
        num_heads: int,
        mlp_ratio: float,
        qkv_bias: bool,
        qk_norm: bool,
        init_values: float | None,
        options: BlockOptions,
        proj_drop_rate: float,
        attn_drop_rate: float,
        drop_path_rate: float,
    ) -> None:
        """The transformer blocks (stochastic depth rising linearly to `drop_path_rate`) and feature info."""
        rates = drop_path_rates(drop_path_rate, depth, float32=True)
        block_cls = BLOCK_TYPES[options.block_type]
        self.blocks = nn.Sequential(
            *(
                block_cls(
                    self.embed_dim,
                    num_heads,
                    mlp_ratio,
                    qkv_bias=qkv_bias,
                    qk_norm=qk_norm,
                    init_values=init_values,
                    proj_drop=proj_drop_rate,
                    attn_drop=attn_drop_rate,
                    drop_path=rate,
                    **options.block_kwargs(),
                )
                for rate in rates
            )
        )
        reduction = self.patch_embed.reduction
        self.feature_info = [
            dict(num_chs=self.embed_dim, reduction=reduction, module=f"blocks.{i}") for i in range(depth)
        ]
        self.default_feature_indices = min(3, depth)  # the last 3 blocks, as timm's features_only

    def _build_head(
        self,
        *,
        num_classes: int,
        global_pool: str,
        num_heads: int,
        mlp_ratio: float,
        class_token: bool,
        final_norm: bool,
        fc_norm: bool | None,
        pool_include_prefix: bool,
        options: BlockOptions,
        drop_rate: float,
    ) -> None:
        """Final norm (before or after pooling), attention pooling if asked, dropout and classifier."""
        dim, norm = self.embed_dim, options.norm
        use_fc_norm = global_pool in ("avg", "max", "avgmax") if fc_norm is None else fc_norm
        self.norm = norm(dim) if final_norm and not use_fc_norm else nn.Identity()
        self.fc_norm = norm(dim) if final_norm and use_fc_norm else nn.Identity()
        self.pool_include_prefix = pool_include_prefix or global_pool == "prr"
        if global_pool == "map":
            self.attn_pool = LatentAttentionPool(
                dim, num_heads, mlp_ratio, norm_layer=norm, act_layer=get_act_layer(options.act_layer)
            )
        elif global_pool == "prr":
            self.attn_pool = RefinementAttentionPool(dim, num_heads, "token" if class_token else "avg")
        else:
            self.attn_pool = None
        self.head_drop = nn.Dropout(drop_rate)
        self.head = self._make_head(num_classes)

    def _check_pool(self, global_pool: str, class_token: bool | None = None) -> None:
        if global_pool not in POOL_TYPES:
            raise ValueError(f"global_pool must be one of {POOL_TYPES}, got {global_pool!r}")
        has_cls = self.has_class_token if class_token is None else class_token
        if global_pool == "token" and not has_cls:
            raise ValueError(
                "global_pool='token' needs the class token; use class_token=True or another pool"
            )

    def _make_prefix_tokens(self, class_token: bool, reg_tokens: int) -> None:
        """Create the learned prefix tokens (`cls_token` [1, 1, C], `reg_token` [1, n, C])."""
        self.cls_token = nn.Parameter(torch.zeros(1, 1, self.embed_dim)) if class_token else None
        self.reg_token = nn.Parameter(torch.zeros(1, reg_tokens, self.embed_dim)) if reg_tokens else None

    def _make_head(self, num_classes: int) -> nn.Module:
        return nn.Linear(self.embed_dim, num_classes) if num_classes > 0 else nn.Identity()

    def _init_weights(self) -> None:
        """timm-style init: truncated normal (std 0.02) for linears and the position embedding."""
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        for token in (self.cls_token, self.reg_token):
            if token is not None:
                nn.init.normal_(token, std=1e-6)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    # ----------------------------------------------------------------- contract
    def no_weight_decay(self) -> set[str]:
        return {"pos_embed", "cls_token", "reg_token", "dist_token"}

    def group_matcher(self, coarse: bool = False) -> dict:
        return dict(
            stem=r"^cls_token|reg_token|dist_token|pos_embed|patch_embed|norm_pre",
            blocks=[(r"^blocks\.(\d+)", None), (r"^norm", (99999,))],
        )

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        check_num_classes(num_classes)
        if global_pool is not None:
            self._check_pool(global_pool)
            if global_pool in ATTN_POOLS and (global_pool != self.global_pool or self.attn_pool is None):
                raise ValueError(
                    f"cannot switch to global_pool={global_pool!r} after construction (it has its own layers); "
                    f"create the model with global_pool={global_pool!r}"
                )
            if global_pool not in ATTN_POOLS:
                self.attn_pool = None
            self.global_pool = global_pool
        self.num_classes = num_classes
        self.head = self._make_head(num_classes)

    # ----------------------------------------------------------------- forward
    def _prefix_tokens(self, batch: int) -> list[torch.Tensor]:
        """Tokens placed before the patch tokens, each [B, n, C]."""
        tokens = [self.cls_token] if self.cls_token is not None else []
        if self.reg_token is not None:
            tokens.append(self.reg_token)
        return [t.expand(batch, -1, -1) for t in tokens]

    @property
    def pos_embed_prefix_tokens(self) -> int:
        """How many prefix tokens have an entry in `pos_embed` (none with `no_embed_class`)."""
        return 0 if self.no_embed_class else self.num_prefix_tokens

    def _pos_embed(self, x: torch.Tensor) -> torch.Tensor:  # [B, h, w, C] -> [B, prefix + h*w, C]
        b, h, w, c = x.shape
        pos_embed = pos_embed_for_grid(
            self.pos_embed, x, self.patch_embed.grid_size, self.pos_embed_prefix_tokens
        )
        x = x.reshape(b, h * w, c)
        prefix = self._prefix_tokens(b)
        if self.no_embed_class:
            x = torch.cat([*prefix, x + pos_embed], dim=1)
        else:
            x = torch.cat([*prefix, x], dim=1) + pos_embed
        return self.pos_drop(x)

    def _embed(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] -> [B, N, D]
        return self.norm_pre(self._pos_embed(self.patch_embed(x)))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] -> [B, N, D]
        x = run_blocks(self.blocks, self._embed(x), checkpoint_active(self))
        return self.norm(x)

    def pool(self, x: torch.Tensor, pool_type: str | None = None) -> torch.Tensor:  # [B, N, D] -> [B, D]
        pool_type = pool_type if pool_type is not None else self.global_pool
        if pool_type in ATTN_POOLS:
            if self.attn_pool is None:
                raise ValueError(
                    f"pool_type {pool_type!r} needs the model to be created with global_pool={pool_type!r}"
                )
            return self.attn_pool(x if self.pool_include_prefix else x[:, self.num_prefix_tokens :])
        if not pool_type:
            return x
        if pool_type == "token":
            return x[:, 0]
        patches = x if self.pool_include_prefix else x[:, self.num_prefix_tokens :]
        if pool_type == "avg":
            return patches.mean(dim=1)
        if pool_type == "max":
            return patches.amax(dim=1)
        return 0.5 * (patches.amax(dim=1) + patches.mean(dim=1))  # avgmax

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head_drop(self.fc_norm(self.pool(x)))
        return self.head(x) if not pre_logits else x

    def _forward_blocks(
        self, x: torch.Tensor, take: Sequence[int] = (), stop: int = -1
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = self._embed(x)
        blocks = self.blocks if stop < 0 else self.blocks[: stop + 1]
        kept = []
        checkpointed = checkpoint_active(self)
        for i, block in enumerate(blocks):
            x = run_blocks((block,), x, checkpointed)
            if i in take:
                kept.append(x)
        return x, kept


# ------------------------------------------------------------------------ variants
register_variants(VARIANTS, VisionTransformer, checkpoint_filter=checkpoint_filter)
