"""The EVA family's variant table: architecture name -> `Eva` constructor arguments (timm's names).

Each group of models shares a recipe (a function below); a row adds only its size. `img_size` is the
input size of the architecture's pretrained weights.
"""

from __future__ import annotations

from functools import partial

from torch import nn

LN5 = partial(nn.LayerNorm, eps=1e-5)  # DINOv3, PE, RoPE-ViT of LingBot
RMS6 = partial(nn.RMSNorm, eps=1e-6)  # Sapiens2

SWIGLU_RATIO = 4 * 2 / 3  # EVA02's SwiGLU keeps the parameter count of a 4x GELU MLP


def _size(dim: int, depth: int, heads: int, **kw) -> dict:
    return dict(embed_dim=dim, depth=depth, num_heads=heads, **kw)


def eva(img: int, **kw) -> dict:
    """EVA (v1) giant: absolute position embedding, GELU MLP, average pooling."""
    return dict(img_size=img, patch_size=14, **_size(1408, 40, 16), mlp_ratio=6144 / 1408, **kw)


def eva02(img: int, dim: int, depth: int, heads: int, patch: int = 14, big: bool = False, **kw) -> dict:
    """EVA02: axial RoPE rescaled to the 16x16 pretraining grid, SwiGLU; base/large (`big`) split q/k/v and
    add the MLP sub-layer norm."""
    return dict(
        img_size=img,
        patch_size=patch,
        **_size(dim, depth, heads),
        mlp_ratio=SWIGLU_RATIO,
        swiglu_mlp=True,
        use_rot_pos_emb=True,
        ref_feat_shape=(16, 16),
        **(dict(qkv_fused=False, scale_mlp=True) if big else {}),
        **kw,
    )


def sbb(dim: int, depth: int, heads: int, regs: int, qkv_bias: bool = True) -> dict:
    """timm's SBB ViTs: register tokens and no class token, axial RoPE only, LayerScale, average pooling."""
    return dict(
        img_size=256,
        patch_size=16,
        **_size(dim, depth, heads),
        qkv_bias=qkv_bias,
        init_values=1e-5,
        class_token=False,
        num_reg_tokens=regs,
        use_rot_pos_emb=True,
        use_abs_pos_emb=False,
        ref_feat_shape=(16, 16),
    )


def pe(
    img: int, patch: int, dim: int, depth: int, heads: int, kind: str, ref: int = 32, gigantic: bool = False
) -> dict:
    """Perception Encoder towers: 'core' (attention pooling to a CLIP embedding), 'lang' and 'spatial'
    (token outputs, no final norm). Axial RoPE rescaled to a `ref` x `ref` grid; the gigantic towers
    drop the class token and the grid offset."""
    out = dict(
        img_size=img,
        patch_size=patch,
        **_size(dim, depth, heads),
        mlp_ratio=8960 / 1536 if gigantic else 4.0,
        attn_type="rope",
        use_pre_transformer_norm=True,
        use_rot_pos_emb=True,
        ref_feat_shape=(ref, ref),
        rope_grid_indexing="xy",
        norm_layer=LN5,
    )
    if gigantic:
        out["class_token"] = False
    else:
        out["rope_grid_offset"] = 1.0
    if kind == "core":
        out.update(global_pool="map", attn_pool_num_heads=8, attn_pool_mlp_ratio=4.0)
    else:
        out.update(use_post_transformer_norm=False, use_fc_norm=False)
    if kind == "lang" or (kind == "spatial" and gigantic):
        out["init_values"] = 0.1
    return out


def rope_vit(dim: int, depth: int, heads: int, mixed: bool = False, ape: bool = False) -> dict:
    """NAVER's RoPE-ViT (DeiT-III recipe): class-token pooling, LayerScale; axial or mixed (learned) RoPE,
    optionally beside an absolute position embedding on the patch tokens."""
    return dict(
        img_size=224,
        patch_size=16,
        **_size(dim, depth, heads),
        attn_type="rope",
        init_values=1e-5,
        global_pool="token",
        use_abs_pos_emb=ape,
        no_embed_class=ape,
        use_rot_pos_emb=True,
        rope_grid_indexing="xy",
        rope_temperature=10.0 if mixed else 100.0,
        **(dict(rope_type="mixed") if mixed else {}),
    )


def dinov3(dim: int, depth: int, heads: int, qkv_bias: bool, swiglu: int = 0, img: int = 256, **kw) -> dict:
    """DINOv3: 4 storage tokens, DINOv3 RoPE (split halves), LayerScale, any input size; `swiglu` is the
    hidden-width alignment of the SwiGLU variants (0: GELU MLP)."""
    return dict(
        img_size=img,
        patch_size=16,
        dynamic_img_size=True,
        **_size(dim, depth, heads),
        qkv_bias=qkv_bias,
        init_values=1e-5,
        rope_type="dinov3",
        rope_temperature=100.0,
        rope_rotate_half=True,
        use_rot_pos_emb=True,
        use_abs_pos_emb=False,
        num_reg_tokens=4,
        use_fc_norm=False,
        norm_layer=LN5,
        **(dict(swiglu_mlp=True, swiglu_align_to=swiglu) if swiglu else {}),
        **kw,
    )


def sapiens2(dim: int, depth: int, heads: int, kv_heads: int, full_blocks: int = 8) -> dict:
    """Sapiens2: DINOv3-style RoPE, 8 registers, RMSNorm, q/k norms, SwiGLU, attention-only LayerScale and
    grouped-query attention in all but the first and last `full_blocks` blocks."""
    middle = range(full_blocks, depth - full_blocks)
    return dict(
        img_size=(1024, 768),
        patch_size=16,
        dynamic_img_size=True,
        **_size(dim, depth, heads),
        num_kv_heads=tuple(kv_heads if i in middle else heads for i in range(depth)),
        attn_type="rope",
        qkv_fused=False,
        qk_norm=True,
        global_pool="token",
        swiglu_mlp=True,
        init_values=1.0,
        attn_only_layer_scale=True,
        rope_type="dinov3",
        rope_temperature=100.0,
        rope_rotate_half=True,
        use_rot_pos_emb=True,
        use_abs_pos_emb=False,
        num_reg_tokens=8,
        use_fc_norm=False,
        norm_layer=RMS6,
    )


_CLIP = dict(global_pool="token")
_EVA02_CLIP = dict(scale_attn_inner=True, global_pool="token")

VARIANTS: dict[str, dict] = {
    # EVA02 (MIM-pretrained, then fine-tuned), and the EVA02-CLIP image towers
    "eva02_tiny_patch14_224": eva02(224, 192, 12, 3),
    "eva02_small_patch14_224": eva02(224, 384, 12, 6),
    "eva02_base_patch14_224": eva02(224, 768, 12, 12, big=True),
    "eva02_large_patch14_224": eva02(224, 1024, 24, 16, big=True),
    "eva02_tiny_patch14_336": eva02(336, 192, 12, 3),
    "eva02_small_patch14_336": eva02(336, 384, 12, 6),
    "eva02_base_patch14_448": eva02(448, 768, 12, 12, big=True),
    "eva02_large_patch14_448": eva02(448, 1024, 24, 16, big=True),
    "eva02_base_patch16_clip_224": eva02(224, 768, 12, 12, patch=16, big=True, **_EVA02_CLIP),
    "eva02_large_patch14_clip_224": eva02(224, 1024, 24, 16, big=True, **_EVA02_CLIP),
    "eva02_large_patch14_clip_336": eva02(336, 1024, 24, 16, big=True, **_EVA02_CLIP),
    "eva02_enormous_patch14_clip_224": dict(
        img_size=224,
        patch_size=14,
        **_size(1792, 64, 16),
        mlp_ratio=15360 / 1792,
        use_post_norm=True,
        **_CLIP,
    ),
    # EVA (v1)
    "eva_giant_patch14_224": eva(224),
    "eva_giant_patch14_336": eva(336),
    "eva_giant_patch14_560": eva(560),
    "eva_giant_patch14_clip_224": eva(224, **_CLIP),
    # timm's SBB ViTs with RoPE and registers
    "vit_medium_patch16_rope_reg1_gap_256": sbb(512, 12, 8, 1),
    "vit_mediumd_patch16_rope_reg1_gap_256": sbb(512, 20, 8, 1, qkv_bias=False),
    "vit_betwixt_patch16_rope_reg4_gap_256": sbb(640, 12, 10, 4),
    "vit_base_patch16_rope_reg1_gap_256": sbb(768, 12, 12, 1),
    # Perception Encoder
    "vit_pe_core_tiny_patch16_384": pe(384, 16, 192, 12, 3, "core", ref=24),
    "vit_pe_core_small_patch16_384": pe(384, 16, 384, 12, 6, "core", ref=24),
    "vit_pe_core_base_patch16_224": pe(224, 16, 768, 12, 12, "core", ref=14),
    "vit_pe_core_large_patch14_336": pe(336, 14, 1024, 24, 16, "core", ref=24),
    "vit_pe_core_gigantic_patch14_448": pe(448, 14, 1536, 50, 16, "core", gigantic=True),
    "vit_pe_lang_large_patch14_448": pe(448, 14, 1024, 23, 16, "lang"),
    "vit_pe_lang_gigantic_patch14_448": pe(448, 14, 1536, 47, 16, "lang", gigantic=True),
    "vit_pe_spatial_tiny_patch16_512": pe(512, 16, 192, 12, 3, "spatial"),
    "vit_pe_spatial_small_patch16_512": pe(512, 16, 384, 12, 6, "spatial"),
    "vit_pe_spatial_base_patch16_512": pe(512, 16, 768, 12, 12, "spatial"),
    "vit_pe_spatial_large_patch14_448": pe(448, 14, 1024, 24, 16, "spatial"),
    "vit_pe_spatial_gigantic_patch14_448": pe(448, 14, 1536, 50, 16, "spatial", gigantic=True),
    # RoPE-ViT (NAVER)
    "vit_small_patch16_rope_224": rope_vit(384, 12, 6),
    "vit_base_patch16_rope_224": rope_vit(768, 12, 12),
    "vit_large_patch16_rope_224": rope_vit(1024, 24, 16),
    "vit_small_patch16_rope_mixed_224": rope_vit(384, 12, 6, mixed=True),
    "vit_base_patch16_rope_mixed_224": rope_vit(768, 12, 12, mixed=True),
    "vit_large_patch16_rope_mixed_224": rope_vit(1024, 24, 16, mixed=True),
    "vit_small_patch16_rope_ape_224": rope_vit(384, 12, 6, ape=True),
    "vit_base_patch16_rope_ape_224": rope_vit(768, 12, 12, ape=True),
    "vit_large_patch16_rope_ape_224": rope_vit(1024, 24, 16, ape=True),
    "vit_small_patch16_rope_mixed_ape_224": rope_vit(384, 12, 6, mixed=True, ape=True),
    "vit_base_patch16_rope_mixed_ape_224": rope_vit(768, 12, 12, mixed=True, ape=True),
    "vit_large_patch16_rope_mixed_ape_224": rope_vit(1024, 24, 16, mixed=True, ape=True),
    # DINOv3 (and the EUPE distillations, which share the architectures)
    "vit_tiny_patch16_dinov3_qkvb": dinov3(192, 12, 3, True),
    "vit_small_patch16_dinov3": dinov3(384, 12, 6, False),
    "vit_small_patch16_dinov3_qkvb": dinov3(384, 12, 6, True),
    "vit_small_plus_patch16_dinov3": dinov3(384, 12, 6, False, swiglu=8),
    "vit_small_plus_patch16_dinov3_qkvb": dinov3(384, 12, 6, True, swiglu=8),
    "vit_base_patch16_dinov3": dinov3(768, 12, 12, False),
    "vit_base_patch16_dinov3_qkvb": dinov3(768, 12, 12, True),
    "vit_large_patch16_dinov3": dinov3(1024, 24, 16, False),
    "vit_large_patch16_dinov3_qkvb": dinov3(1024, 24, 16, True),
    "vit_huge_plus_patch16_dinov3": dinov3(1280, 32, 20, False, swiglu=8),
    "vit_huge_plus_patch16_dinov3_qkvb": dinov3(1280, 32, 20, True, swiglu=8),
    "vit_7b_patch16_dinov3": dinov3(4096, 40, 32, False, swiglu=64, mlp_ratio=2.0),
    # LingBot-Vision (DINOv3 architecture, class-token pooling, 512 px)
    "vit_small_patch16_lingbot": dinov3(384, 12, 6, True, img=512, global_pool="token"),
    "vit_base_patch16_lingbot": dinov3(768, 12, 12, True, img=512, global_pool="token"),
    "vit_large_patch16_lingbot": dinov3(1024, 24, 16, True, img=512, global_pool="token"),
    "vit_giant_patch16_lingbot": dinov3(
        1536, 40, 24, False, swiglu=8, img=512, global_pool="token", mlp_ratio=SWIGLU_RATIO
    ),
    # Sapiens2
    "vit_base_patch16_sapiens2": sapiens2(768, 12, 12, 6),
    "vit_large_patch16_sapiens2": sapiens2(1024, 24, 16, 8),
    "vit_huge_patch16_sapiens2": sapiens2(1280, 32, 16, 8),
    "vit_giant_patch16_sapiens2": sapiens2(1536, 40, 24, 12),
    "vit_5b_patch16_sapiens2": sapiens2(2432, 56, 32, 16),
}
