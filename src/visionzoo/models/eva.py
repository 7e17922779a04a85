"""EVA-style Vision Transformers: EVA, EVA02, DINOv3, Perception Encoder, RoPE-ViT and their relatives.

One model class covers them all. What sets them apart is a handful of options: rotary position
embeddings (layers/rope.py) instead of or beside a learned absolute one, SwiGLU MLPs with EVA02's
sub-layer norm, LayerScale, class and register ("storage") tokens, pre/post/fc norms and the pooling.

Papers: EVA (arXiv:2211.07636), EVA-02 (arXiv:2303.11331), EVA-CLIP (arXiv:2303.15389), Perception
Encoder (arXiv:2504.13181), RoPE for ViT (arXiv:2403.13298), DINOv3 (arXiv:2508.10104), Sapiens2
(arXiv:2604.21681). Parameter names follow timm's, so timm's checkpoints load unchanged. The variant
table (architecture name -> constructor arguments) is in eva_variants.py.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from functools import partial

import torch
import torch.fx
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..layers.attention import Attention, LatentAttentionPool
from ..layers.drop import drop_path_layer
from ..layers.grad_checkpoint import checkpoint_active
from ..layers.mlp import GluMlp, Mlp, SwiGLU
from ..layers.patch_embed import PatchEmbed, to_2tuple
from ..layers.pooling import pool_tokens
from ..layers.pos_embed import resample_abs_pos_embed
from ..layers.prefix_tokens import join_prefix_tokens
from ..layers.rope import ROPE_TYPES, create_rope
from ..registry import register_variants
from ._token_model import TokenModel
from .eva_variants import VARIANTS
from .vision_transformer import pos_embed_for_grid

# the grid is known only at run time: traced graphs resample the position embedding in a leaf (as ViT's do)
torch.fx.wrap("pos_embed_for_grid")

__all__ = ["Eva", "EvaBlock", "checkpoint_filter"]

POOL_TYPES = ("", "token", "avg", "max", "avgmax", "map")
ATTN_TYPES = ("eva", "rope")

LayerNorm = partial(nn.LayerNorm, eps=1e-6)


class EvaBlock(nn.Module):
    """Transformer block with optional LayerScale (`gamma_1`, `gamma_2`), rotary attention and a gated MLP.

    Pre-norm: x + attn(norm1(x)), x + mlp(norm2(x)). With `post_norm` (EVA02-CLIP-E): x + norm1(attn(x)),
    x + norm2(mlp(x)), no LayerScale.

    Args:
        dim, num_heads, mlp_ratio: width, attention heads, MLP expansion.
        attn_type: 'eva' (fused qkv with `q_bias`/`v_bias` and no key bias, or q/k/v projections with a
            bias-free `k_proj`) or 'rope' (every projection biased, as a plain ViT).
        qkv_bias, qkv_fused, qk_norm, num_kv_heads: attention projections (see layers/attention.py).
        swiglu_mlp: SwiGLU instead of a GELU MLP; packed `fc1` unless `scale_mlp` or `swiglu_align_to`.
        scale_mlp, scale_attn_inner: EVA02's sub-layer norms inside the MLP and before the attention output.
        init_values: LayerScale init (None: no LayerScale); `attn_only_layer_scale` scales attention only.
        num_prefix_tokens, rope_half: tokens the rotary embedding skips, and its layout.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        attn_type: str = "eva",
        qkv_bias: bool = True,
        qkv_fused: bool = True,
        qk_norm: bool = False,
        num_kv_heads: int | None = None,
        swiglu_mlp: bool = False,
        swiglu_align_to: int = 0,
        scale_mlp: bool = False,
        scale_attn_inner: bool = False,
        init_values: float | None = None,
        attn_only_layer_scale: bool = False,
        post_norm: bool = False,
        num_prefix_tokens: int = 1,
        rope_half: bool = False,
        proj_drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
        norm_layer: Callable[[int], nn.Module] = LayerNorm,
    ):
        super().__init__()
        self.post_norm = post_norm
        self.init_values = init_values
        self.norm1 = norm_layer(dim)
        self.attn = Attention(
            dim,
            num_heads,
            qkv_bias=qkv_bias,
            qk_norm=qk_norm,
            attn_drop=attn_drop,
            proj_drop=proj_drop,
            norm_layer=norm_layer,
            qkv_fused=qkv_fused,
            k_bias=attn_type == "rope",
            scale_norm=scale_attn_inner,
            num_kv_heads=num_kv_heads,
            num_prefix_tokens=num_prefix_tokens,
            rope_half=rope_half,
        )
        use_ls = init_values is not None and not post_norm
        self.gamma_1 = nn.Parameter(torch.full((dim,), float(init_values))) if use_ls else None
        self.drop_path1 = drop_path_layer(drop_path)
        self.norm2 = norm_layer(dim)
        hidden = int(dim * mlp_ratio)
        sub_norm = norm_layer if scale_mlp else None
        if swiglu_mlp and (scale_mlp or swiglu_align_to):
            self.mlp = SwiGLU(dim, hidden, norm_layer=sub_norm, drop=proj_drop, align_to=swiglu_align_to)
        elif swiglu_mlp:
            self.mlp = GluMlp(dim, hidden * 2, act_layer=nn.SiLU, drop=proj_drop)
        else:
            self.mlp = Mlp(dim, hidden, norm_layer=sub_norm, drop=proj_drop)
        use_ls2 = use_ls and not attn_only_layer_scale
        self.gamma_2 = nn.Parameter(torch.full((dim,), float(init_values))) if use_ls2 else None
        self.drop_path2 = drop_path_layer(drop_path)

    def reset_parameters(self) -> None:
        for gamma in (self.gamma_1, self.gamma_2):
            if gamma is not None:
                nn.init.constant_(gamma, self.init_values)

    def forward(self, x: torch.Tensor, rope: torch.Tensor | None = None) -> torch.Tensor:  # [B, N, C]
        if self.post_norm:
            x = x + self.drop_path1(self.norm1(self.attn(x, rope=rope)))
            return x + self.drop_path2(self.norm2(self.mlp(x)))
        y = self.attn(self.norm1(x), rope=rope)
        x = x + self.drop_path1(y if self.gamma_1 is None else self.gamma_1 * y)
        y = self.mlp(self.norm2(x))
        return x + self.drop_path2(y if self.gamma_2 is None else self.gamma_2 * y)


class Eva(TokenModel):
    """Vision Transformer with absolute and/or rotary position embeddings (EVA, EVA02, DINOv3, PE, ...).

    Argument names are timm's. Beyond `VisionTransformer`'s:
        num_reg_tokens: register ("storage") tokens after the class token.
        use_abs_pos_emb, use_rot_pos_emb: learned absolute position embedding, rotary embedding.
        rope_type: 'cat' (EVA02 axial), 'dinov3' or 'mixed' (learned per-block frequencies).
        rope_temperature, rope_grid_offset, rope_grid_indexing ('ij'/'xy'), rope_rotate_half: rotary options.
        ref_feat_shape: patch grid the axial rotary coordinates are rescaled to (EVA02's pretraining grid).
        attn_type, qkv_fused, num_kv_heads, swiglu_mlp, swiglu_align_to, scale_mlp, scale_attn_inner,
            attn_only_layer_scale: block options (see `EvaBlock`).
        use_post_norm: post-norm blocks (EVA02-CLIP-E).
        use_pre_transformer_norm: norm before the blocks (the patch projection then has no bias).
        use_post_transformer_norm: final `norm`; None means "unless `fc_norm` is used".
        use_fc_norm: norm after pooling; None means "with 'avg' pooling".
        global_pool: 'avg', 'token', 'max', 'avgmax', 'map' (attention pooling, heads and MLP ratio from
            attn_pool_num_heads / attn_pool_mlp_ratio) or ''.
        norm_layer: norm constructor (LayerNorm eps 1e-6 by default).
        head_init_scale: scale of the classifier's init.
    """

    def __init__(
        self,
        img_size: int | tuple[int, int] = 224,
        patch_size: int = 16,
        in_chans: int = 3,
        num_classes: int = 1000,
        global_pool: str = "avg",
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        num_kv_heads: int | Sequence[int | None] | None = None,
        qkv_bias: bool = True,
        qkv_fused: bool = True,
        qk_norm: bool = False,
        mlp_ratio: float = 4.0,
        swiglu_mlp: bool = False,
        swiglu_align_to: int = 0,
        scale_mlp: bool = False,
        scale_attn_inner: bool = False,
        attn_type: str = "eva",
        drop_rate: float = 0.0,
        pos_drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        norm_layer: Callable[[int], nn.Module] = LayerNorm,
        init_values: float | None = None,
        attn_only_layer_scale: bool = False,
        class_token: bool = True,
        num_reg_tokens: int = 0,
        no_embed_class: bool = False,
        use_abs_pos_emb: bool = True,
        use_rot_pos_emb: bool = False,
        rope_type: str = "cat",
        rope_grid_offset: float = 0.0,
        rope_grid_indexing: str = "ij",
        rope_temperature: float = 10000.0,
        rope_rotate_half: bool = False,
        use_post_norm: bool = False,
        use_pre_transformer_norm: bool = False,
        use_post_transformer_norm: bool | None = None,
        use_fc_norm: bool | None = None,
        attn_pool_num_heads: int | None = None,
        attn_pool_mlp_ratio: float | None = None,
        dynamic_img_size: bool = False,
        dynamic_img_pad: bool = False,
        ref_feat_shape: int | tuple[int, int] | None = None,
        head_init_scale: float = 0.001,
    ):
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        if num_reg_tokens < 0:
            raise ValueError(f"num_reg_tokens must be >= 0, got {num_reg_tokens}")
        if attn_type not in ATTN_TYPES:
            raise ValueError(f"attn_type must be one of {ATTN_TYPES}, got {attn_type!r}")
        if use_rot_pos_emb and rope_type not in ROPE_TYPES:
            raise ValueError(f"rope_type must be one of {ROPE_TYPES}, got {rope_type!r}")
        self.has_class_token = bool(class_token)
        self._check_pool(global_pool)
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.embed_dim = self.num_features = self.head_hidden_size = embed_dim
        self.num_prefix_tokens = int(class_token) + num_reg_tokens
        self.no_embed_class = bool(no_embed_class)
        self.dynamic_img_size = bool(dynamic_img_size)
        self.grad_checkpointing = False
        self.head_init_scale = head_init_scale
        use_fc_norm = global_pool == "avg" if use_fc_norm is None else use_fc_norm
        use_final_norm = not use_fc_norm if use_post_transformer_norm is None else use_post_transformer_norm

        self.patch_embed = PatchEmbed(
            img_size,
            patch_size,
            in_chans,
            embed_dim,
            bias=not use_pre_transformer_norm,
            dynamic_img_size=dynamic_img_size,
            dynamic_img_pad=dynamic_img_pad,
        )
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if class_token else None
        self.reg_token = nn.Parameter(torch.zeros(1, num_reg_tokens, embed_dim)) if num_reg_tokens else None
        num_pos = self.patch_embed.num_patches + (0 if no_embed_class else self.num_prefix_tokens)
        self.pos_embed = nn.Parameter(torch.zeros(1, num_pos, embed_dim)) if use_abs_pos_emb else None
        self.pos_drop = nn.Dropout(pos_drop_rate)
        self.rope_mixed = use_rot_pos_emb and rope_type == "mixed"
        self.rope = None
        if use_rot_pos_emb:
            self.rope = create_rope(
                rope_type,
                embed_dim,
                num_heads,
                depth,
                temperature=rope_temperature,
                ref_feat_shape=to_2tuple(ref_feat_shape) if ref_feat_shape is not None else None,
                grid_offset=rope_grid_offset,
                grid_indexing=rope_grid_indexing,
                rotate_half=rope_rotate_half,
            )
        self.norm_pre = norm_layer(embed_dim) if use_pre_transformer_norm else nn.Identity()

        kv_heads = list(num_kv_heads) if isinstance(num_kv_heads, Sequence) else [num_kv_heads] * depth
        if len(kv_heads) != depth:
            raise ValueError(f"num_kv_heads has {len(kv_heads)} entries for {depth} blocks")
        rates = torch.linspace(0, drop_path_rate, depth, device="cpu").tolist()
        self.blocks = nn.ModuleList(
            EvaBlock(
                embed_dim,
                num_heads,
                mlp_ratio,
                attn_type=attn_type,
                qkv_bias=qkv_bias,
                qkv_fused=qkv_fused,
                qk_norm=qk_norm,
                num_kv_heads=kv_heads[i],
                swiglu_mlp=swiglu_mlp,
                swiglu_align_to=swiglu_align_to,
                scale_mlp=scale_mlp,
                scale_attn_inner=scale_attn_inner,
                init_values=init_values,
                attn_only_layer_scale=attn_only_layer_scale,
                post_norm=use_post_norm,
                num_prefix_tokens=self.num_prefix_tokens,
                rope_half=rope_rotate_half,
                proj_drop=proj_drop_rate,
                attn_drop=attn_drop_rate,
                drop_path=rates[i],
                norm_layer=norm_layer,
            )
            for i in range(depth)
        )
        reduction = max(self.patch_embed.patch_size)
        self.feature_info = [
            dict(num_chs=embed_dim, reduction=reduction, module=f"blocks.{i}") for i in range(depth)
        ]
        self.default_feature_indices = min(3, depth)  # the last 3 blocks, as timm's features_only

        self.norm = norm_layer(embed_dim) if use_final_norm else nn.Identity()
        self.attn_pool = None
        if global_pool == "map":
            self.attn_pool = LatentAttentionPool(
                embed_dim,
                attn_pool_num_heads or num_heads,
                attn_pool_mlp_ratio or mlp_ratio,
                norm_layer=norm_layer,
            )
        self.fc_norm = norm_layer(embed_dim) if use_fc_norm else nn.Identity()
        self.head_drop = nn.Dropout(drop_rate)
        self.head = self._make_head(num_classes)
        self._init_weights()

    # ----------------------------------------------------------------- setup
    def _check_pool(self, global_pool: str) -> None:
        if global_pool not in POOL_TYPES:
            raise ValueError(f"global_pool must be one of {POOL_TYPES}, got {global_pool!r}")
        if global_pool == "token" and not self.has_class_token:
            raise ValueError(
                "global_pool='token' needs the class token; use class_token=True or another pool"
            )

    def _make_head(self, num_classes: int) -> nn.Module:
        if num_classes <= 0:
            return nn.Identity()
        head = nn.Linear(self.embed_dim, num_classes)
        nn.init.trunc_normal_(head.weight, std=0.02)
        nn.init.zeros_(head.bias)
        return head

    @torch.no_grad()
    def _init_weights(self) -> None:
        """BEiT-style init: truncated normal (std 0.02), output projections shrunk with depth, a small head."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        for t in (self.pos_embed, self.cls_token, self.reg_token):
            if t is not None:
                nn.init.trunc_normal_(t, std=0.02)
        for i, block in enumerate(self.blocks):
            block.attn.proj.weight.div_(math.sqrt(2.0 * (i + 1)))
            block.mlp.fc2.weight.div_(math.sqrt(2.0 * (i + 1)))
        if isinstance(self.head, nn.Linear) and self.head_init_scale:
            self.head.weight.mul_(self.head_init_scale)

    # ----------------------------------------------------------------- contract
    def no_weight_decay(self) -> set[str]:
        names = {"pos_embed", "cls_token", "reg_token"}
        if self.rope is not None and hasattr(self.rope, "no_weight_decay"):
            names |= {f"rope.{n}" for n in self.rope.no_weight_decay()}
        return names

    def group_matcher(self, coarse: bool = False) -> dict:
        return dict(
            stem=r"^cls_token|reg_token|pos_embed|patch_embed|norm_pre",
            blocks=[(r"^blocks\.(\d+)", None), (r"^norm", (99999,))],
        )

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        if global_pool is not None:
            self._check_pool(global_pool)
            if global_pool == "map" and self.attn_pool is None:
                raise ValueError(
                    "cannot switch to global_pool='map' after construction (it has its own layers); "
                    "create the model with global_pool='map'"
                )
            if global_pool != "map":
                self.attn_pool = None
            self.global_pool = global_pool
        self.num_classes = num_classes
        self.head = self._make_head(num_classes)

    # ----------------------------------------------------------------- forward
    def _embed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Image [B, C, H, W] -> tokens [B, prefix + h*w, D] and the rotary embedding for the h x w grid."""
        x = self.patch_embed(x)  # [B, h, w, D]
        b, h, w, d = x.shape
        pos_embed = self.pos_embed
        if pos_embed is not None:
            prefix = 0 if self.no_embed_class else self.num_prefix_tokens
            pos_embed = pos_embed_for_grid(pos_embed, x, self.patch_embed.grid_size, prefix)
        x = join_prefix_tokens(
            x.reshape(b, h * w, d), [self.cls_token, self.reg_token], pos_embed, not self.no_embed_class
        )
        rope = self.rope.get_embed((h, w), x.device) if self.rope is not None else None
        return self.norm_pre(self.pos_drop(x)), rope

    def _run_blocks(
        self, x: torch.Tensor, rope: torch.Tensor | None, take: Sequence[int] = (), stop: int = -1
    ):
        """Run the blocks (up to index `stop` when >= 0), collecting the outputs of those in `take`."""
        kept = []
        blocks = self.blocks if stop < 0 else self.blocks[: stop + 1]
        for i, block in enumerate(blocks):
            r = rope[i] if self.rope_mixed else rope  # mixed RoPE: [depth, heads, N, 2 hd]
            if checkpoint_active(self):
                x = checkpoint(block, x, r, use_reentrant=False)
            else:
                x = block(x, r)
            if i in take:
                kept.append(x)
        return x, kept

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] -> [B, N, D]
        x, rope = self._embed(x)
        x, _ = self._run_blocks(x, rope)
        return self.norm(x)

    def pool(self, x: torch.Tensor, pool_type: str | None = None) -> torch.Tensor:  # [B, N, D] -> [B, D]
        if self.attn_pool is not None:
            return self.attn_pool(x)
        pool_type = self.global_pool if pool_type is None else pool_type
        return pool_tokens(x, pool_type, self.num_prefix_tokens)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head_drop(self.fc_norm(self.pool(x)))
        return x if pre_logits else self.head(x)

    def _forward_blocks(
        self, x: torch.Tensor, take: Sequence[int] = (), stop: int = -1
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x, rope = self._embed(x)
        return self._run_blocks(x, rope, take, stop)


# ------------------------------------------------------------------------ checkpoints
# original BAAI EVA02 and Meta DINOv3 parameter names -> timm's
_RENAMES = (
    (r"\.mlp\.ffn_ln\.", ".mlp.norm."),
    (r"\.attn\.inner_attn_ln\.", ".attn.norm."),
    (r"\.mlp\.w12\.", ".mlp.fc1."),
    (r"\.mlp\.w1\.", ".mlp.fc1_g."),
    (r"\.mlp\.w2\.", ".mlp.fc1_x."),
    (r"\.mlp\.w3\.", ".mlp.fc2."),
    (r"\.ls([12])\.gamma$", r".gamma_\1"),
    (r"^storage_tokens$", "reg_token"),
)
# pretraining-only or recomputed entries of those checkpoints
_DROPPED = re.compile(r"(^|\.)(mask_token|periods|bias_mask)$|^lm_head\.|^local_cls_norm\.|^projectors\.")


def _fit_pos_embed(pos_embed: torch.Tensor, model: Eva) -> torch.Tensor:
    """Resample a position embedding trained on another (square) grid to the model's patch grid."""
    prefix = 0 if model.no_embed_class else model.num_prefix_tokens
    if model.pos_embed is None or pos_embed.shape[1] == model.pos_embed.shape[1]:
        return pos_embed
    side = math.isqrt(pos_embed.shape[1] - prefix)
    return resample_abs_pos_embed(
        pos_embed, model.patch_embed.grid_size, (side, side), num_prefix_tokens=prefix
    )


def checkpoint_filter(state_dict: dict[str, torch.Tensor], model: Eva) -> dict[str, torch.Tensor]:
    """Fit an EVA-family checkpoint to `model`: unwrap 'module.', drop recomputed rotary buffers and
    pretraining-only entries, rename original EVA02/DINOv3 keys, split a fused `qkv.bias` into `q_bias`/`v_bias`
    (EVA attention has no key bias) and resample `pos_embed` to the model's grid (other `img_size`)."""
    if state_dict and all(k.startswith("module.") for k in state_dict):
        state_dict = {k[len("module.") :]: v for k, v in state_dict.items()}
    own = model.state_dict().keys()
    has_q_bias = any(k.endswith(".attn.q_bias") for k in own)
    has_qkv_bias = any(k.endswith(".attn.qkv.bias") for k in own)
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if (key.startswith("rope.") and key != "rope.freqs") or _DROPPED.search(key):
            continue
        for pattern, repl in _RENAMES:
            key = re.sub(pattern, repl, key)
        if key.endswith(".attn.qkv.bias") and has_q_bias:
            q, _, v = value.chunk(3)
            out[key.replace("qkv.bias", "q_bias")], out[key.replace("qkv.bias", "v_bias")] = q, v
            continue
        if key.endswith(".attn.qkv.bias") and not has_qkv_bias and not value.any():
            continue  # all-zero biases of DINOv3 checkpoints for models built without (a non-zero one stays: strict load names it)
        if key == "pos_embed":
            value = _fit_pos_embed(value, model)
        out[key] = value
    return out


register_variants(VARIANTS, Eva, checkpoint_filter=checkpoint_filter)
