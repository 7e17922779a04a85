"""The ViT architecture table: every registered `vision_transformer` architecture as constructor arguments.

A row is a size (width, depth, heads, MLP ratio), a patch and image size, and a recipe: the options a
family of weights was trained with (CLIP's pre-norm and LayerNorm eps 1e-5, SigLIP's attention-pool
head, DINOv2's layer scale and registers, ...). Data only; `vision_transformer` registers it.
"""

from __future__ import annotations

__all__ = ["SIZES", "VARIANTS", "variant_row"]

# size name -> (embed_dim, depth, num_heads, mlp_ratio)
SIZES: dict[str, tuple[int, int, int, float]] = {
    "test": (64, 6, 2, 3.0),
    "test2": (64, 8, 2, 3.0),
    "test3": (96, 9, 3, 2.0),
    "test4": (96, 9, 3, 3.0),
    "tiny": (192, 12, 3, 4.0),
    "xsmall": (256, 10, 4, 4.0),
    "wee": (256, 14, 4, 5.0),
    "pwee": (256, 16, 4, 5.0),
    "little": (320, 14, 5, 5.6),
    "small": (384, 12, 6, 4.0),
    "small36": (384, 36, 6, 4.0),
    "small18": (384, 18, 6, 4.0),
    "medium": (512, 12, 8, 4.0),
    "mediumd": (512, 20, 8, 4.0),
    "betwixt": (640, 12, 10, 4.0),
    "base": (768, 12, 12, 4.0),
    "base16h": (768, 12, 16, 4.0),  # vit_base_patch16_gap_224 uses 16 heads
    "base18": (768, 18, 12, 4.0),
    "so150m2": (832, 21, 13, 34 / 13),
    "plus": (896, 12, 14, 4.0),
    "so150m": (896, 18, 14, 2.572),
    "large": (1024, 24, 16, 4.0),
    "aimv2_large": (1024, 24, 8, 2.75),
    "so400m": (1152, 27, 16, 3.7362),
    "so400m_tips": (1152, 27, 16, 4304 / 1152),
    "huge": (1280, 32, 16, 4.0),
    "giant": (1408, 40, 16, 48 / 11),
    "beit3_giant": (1408, 40, 16, 4.3637),
    "giant2": (1536, 40, 24, 2.66667 * 2),  # DINOv2-g: a packed SwiGLU, so 8192 -> 4096 hidden
    "giant24": (1536, 40, 24, 4.0),
    "giantopt": (1536, 40, 16, 4.0),
    "aimv2_huge": (1536, 24, 12, 2.6667),
    "gigantic": (1664, 48, 16, 64 / 13),
    "aimv2_1b": (2048, 24, 16, 2.75),
    "aimv2_3b": (3072, 24, 24, 2.6667),
}

# recipes: the options a family of weights was trained with
CLIP = dict(pre_norm=True, norm_eps=1e-5)
CLIP_QUICKGELU = dict(CLIP, act_layer="quick_gelu")
SIGLIP = dict(class_token=False, global_pool="map")
SIGLIP_TANH = dict(SIGLIP, act_layer="gelu_tanh")
SIGLIP_GAP = dict(class_token=False, global_pool="avg", fc_norm=False)
SIGLIP_GAP_TANH = dict(SIGLIP_GAP, act_layer="gelu_tanh")
GAP = dict(class_token=False, global_pool="avg", fc_norm=False)
MEDIUM_GAP = dict(GAP, qkv_bias=False, init_values=1e-6)
DINOV2 = dict(init_values=1e-5)
DINOV2_REG4 = dict(DINOV2, reg_tokens=4, no_embed_class=True)
SWIGLU_PACKED = dict(mlp_layer="glu_packed", act_layer="silu")
TIPS = dict(init_values=1.0, reg_tokens=1, no_embed_class=True)
SBB = dict(init_values=1e-5, class_token=False, no_embed_class=True, global_pool="avg")  # sbb 'reg' models
BILINEAR = dict(resample_interpolation="bilinear", resample_antialias=False)  # how the weights resample best
FLEXI = dict(BILINEAR, no_embed_class=True)
RADIO = dict(BILINEAR, no_embed_class=True, final_norm=False)
XP = dict(
    pre_norm=True,
    no_embed_class=True,
    norm_layer="rmsnorm",
    block_type="parallel_scaling",
    qkv_bias=False,
    qk_norm=True,
)
AIMV2 = dict(
    class_token=False,
    fc_norm=False,
    global_pool="avg",
    qkv_bias=False,
    proj_bias=False,
    act_layer="silu",
    norm_layer="rmsnorm",
    norm_eps=1e-5,
    embed_norm=True,
    mlp_layer="swiglu",
)
BEIT3 = dict(scale_attn_norm=True, scale_mlp_norm=True, global_pool="avg", norm_eps=1e-5)

# name -> (size, patch size, image size, recipe)
_ARCHS: dict[str, tuple[str, int, int, dict]] = {
    # --- original ViT and AugReg sizes
    "vit_tiny_patch16_224": ("tiny", 16, 224, {}),
    "vit_tiny_patch16_384": ("tiny", 16, 384, {}),
    "vit_small_patch32_224": ("small", 32, 224, {}),
    "vit_small_patch32_384": ("small", 32, 384, {}),
    "vit_small_patch16_224": ("small", 16, 224, {}),
    "vit_small_patch16_384": ("small", 16, 384, {}),
    "vit_small_patch8_224": ("small", 8, 224, {}),
    "vit_base_patch32_224": ("base", 32, 224, {}),
    "vit_base_patch32_384": ("base", 32, 384, {}),
    "vit_base_patch16_224": ("base", 16, 224, {}),
    "vit_base_patch16_384": ("base", 16, 384, {}),
    "vit_base_patch8_224": ("base", 8, 224, {}),
    "vit_large_patch32_224": ("large", 32, 224, {}),
    "vit_large_patch32_384": ("large", 32, 384, {}),
    "vit_large_patch16_224": ("large", 16, 224, {}),
    "vit_large_patch16_384": ("large", 16, 384, {}),
    "vit_large_patch14_224": ("large", 14, 224, {}),
    "vit_huge_patch14_224": ("huge", 14, 224, {}),
    "vit_giant_patch14_224": ("giant", 14, 224, {}),
    "vit_gigantic_patch14_224": ("gigantic", 14, 224, {}),
    "vit_base_patch16_224_miil": ("base", 16, 224, dict(qkv_bias=False)),
    # --- global-average-pooled (no class token)
    "vit_medium_patch16_gap_240": ("medium", 16, 240, MEDIUM_GAP),
    "vit_medium_patch16_gap_256": ("medium", 16, 256, MEDIUM_GAP),
    "vit_medium_patch16_gap_384": ("medium", 16, 384, MEDIUM_GAP),
    "vit_betwixt_patch16_gap_256": ("betwixt", 16, 256, MEDIUM_GAP),
    "vit_base_patch16_gap_224": ("base16h", 16, 224, GAP),
    "vit_huge_patch14_gap_224": ("huge", 14, 224, GAP),  # I-JEPA
    "vit_huge_patch16_gap_448": ("huge", 16, 448, GAP),
    "vit_giant_patch16_gap_224": ("giant", 16, 224, GAP),
    # --- CLIP image towers (OpenAI, LAION, DataComp, MetaCLIP, DFN)
    "vit_xsmall_patch16_clip_224": ("xsmall", 16, 224, CLIP),
    "vit_medium_patch32_clip_224": ("medium", 32, 224, CLIP),
    "vit_medium_patch16_clip_224": ("medium", 16, 224, CLIP),
    "vit_betwixt_patch32_clip_224": ("betwixt", 32, 224, CLIP),
    "vit_base_patch32_clip_224": ("base", 32, 224, CLIP),
    "vit_base_patch32_clip_256": ("base", 32, 256, CLIP),
    "vit_base_patch32_clip_384": ("base", 32, 384, CLIP),
    "vit_base_patch32_clip_448": ("base", 32, 448, CLIP),
    "vit_base_patch16_clip_224": ("base", 16, 224, CLIP),
    "vit_base_patch16_clip_384": ("base", 16, 384, CLIP),
    "vit_base_patch16_plus_clip_240": ("plus", 16, 240, CLIP),
    "vit_large_patch14_clip_224": ("large", 14, 224, CLIP),
    "vit_large_patch14_clip_336": ("large", 14, 336, CLIP),
    "vit_huge_patch14_clip_224": ("huge", 14, 224, CLIP),
    "vit_huge_patch14_clip_336": ("huge", 14, 336, CLIP),
    "vit_huge_patch14_clip_378": ("huge", 14, 378, CLIP),
    "vit_giant_patch14_clip_224": ("giant", 14, 224, CLIP),
    "vit_gigantic_patch14_clip_224": ("gigantic", 14, 224, CLIP),
    "vit_gigantic_patch14_clip_378": ("gigantic", 14, 378, CLIP),
    "vit_base_patch32_clip_quickgelu_224": ("base", 32, 224, CLIP_QUICKGELU),
    "vit_base_patch16_clip_quickgelu_224": ("base", 16, 224, CLIP_QUICKGELU),
    "vit_large_patch14_clip_quickgelu_224": ("large", 14, 224, CLIP_QUICKGELU),
    "vit_large_patch14_clip_quickgelu_336": ("large", 14, 336, CLIP_QUICKGELU),
    "vit_huge_patch14_clip_quickgelu_224": ("huge", 14, 224, CLIP_QUICKGELU),
    "vit_huge_patch14_clip_quickgelu_378": ("huge", 14, 378, CLIP_QUICKGELU),
    "vit_gigantic_patch14_clip_quickgelu_224": ("gigantic", 14, 224, CLIP_QUICKGELU),
    # --- layer-scaled, post-norm and parallel blocks
    "vit_base_patch32_plus_256": ("plus", 32, 256, dict(init_values=1e-5)),
    "vit_base_patch16_plus_240": ("plus", 16, 240, dict(init_values=1e-5)),
    "vit_base_patch16_rpn_224": (
        "base",
        16,
        224,
        dict(qkv_bias=False, init_values=1e-5, class_token=False, block_type="post", global_pool="avg"),
    ),
    "vit_small_patch16_36x1_224": ("small36", 16, 224, dict(init_values=1e-5)),
    "vit_small_patch16_18x2_224": ("small18", 16, 224, dict(init_values=1e-5, block_type="parallel")),
    "vit_base_patch16_18x2_224": ("base18", 16, 224, dict(init_values=1e-5, block_type="parallel")),
    # --- EVA-02-style ViTs converted to plain blocks, FlexiViT, ViT-22B-style parallel ('xp')
    "eva_large_patch14_196": ("large", 14, 196, dict(global_pool="avg")),
    "eva_large_patch14_336": ("large", 14, 336, dict(global_pool="avg")),
    "flexivit_small": ("small", 16, 240, FLEXI),
    "flexivit_base": ("base", 16, 240, FLEXI),
    "flexivit_large": ("large", 16, 240, FLEXI),
    "vit_base_patch16_xp_224": ("base", 16, 224, XP),
    "vit_large_patch14_xp_224": ("large", 14, 224, XP),
    "vit_huge_patch14_xp_224": ("huge", 14, 224, XP),
    # --- DINOv2 (with and without registers) and TIPSv2
    "vit_small_patch14_dinov2": ("small", 14, 518, DINOV2),
    "vit_base_patch14_dinov2": ("base", 14, 518, DINOV2),
    "vit_large_patch14_dinov2": ("large", 14, 518, DINOV2),
    "vit_giant_patch14_dinov2": ("giant2", 14, 518, dict(DINOV2, **SWIGLU_PACKED)),
    "vit_small_patch14_reg4_dinov2": ("small", 14, 518, DINOV2_REG4),
    "vit_base_patch14_reg4_dinov2": ("base", 14, 518, DINOV2_REG4),
    "vit_large_patch14_reg4_dinov2": ("large", 14, 518, DINOV2_REG4),
    "vit_giant_patch14_reg4_dinov2": ("giant2", 14, 518, dict(DINOV2_REG4, **SWIGLU_PACKED)),
    "vit_base_patch14_reg1_tipsv2": ("base", 14, 448, TIPS),
    "vit_large_patch14_reg1_tipsv2": ("large", 14, 448, TIPS),
    "vit_so400m_patch14_reg1_tipsv2": ("so400m_tips", 14, 448, TIPS),
    "vit_giant_patch14_reg1_tipsv2": ("giant2", 14, 448, dict(TIPS, **SWIGLU_PACKED)),
    # --- SigLIP / SigLIP 2 image towers: attention-pool ('map') and average-pool ('gap') heads
    "vit_base_patch32_siglip_256": ("base", 32, 256, SIGLIP_TANH),
    "vit_base_patch16_siglip_224": ("base", 16, 224, SIGLIP),
    "vit_base_patch16_siglip_256": ("base", 16, 256, SIGLIP),
    "vit_base_patch16_siglip_384": ("base", 16, 384, SIGLIP),
    "vit_base_patch16_siglip_512": ("base", 16, 512, SIGLIP),
    "vit_large_patch16_siglip_256": ("large", 16, 256, SIGLIP),
    "vit_large_patch16_siglip_384": ("large", 16, 384, SIGLIP),
    "vit_large_patch16_siglip_512": ("large", 16, 512, SIGLIP_TANH),
    "vit_so400m_patch14_siglip_224": ("so400m", 14, 224, SIGLIP),
    "vit_so400m_patch14_siglip_378": ("so400m", 14, 378, SIGLIP),
    "vit_so400m_patch14_siglip_384": ("so400m", 14, 384, SIGLIP),
    "vit_so400m_patch16_siglip_256": ("so400m", 16, 256, SIGLIP_TANH),
    "vit_so400m_patch16_siglip_384": ("so400m", 16, 384, SIGLIP_TANH),
    "vit_so400m_patch16_siglip_512": ("so400m", 16, 512, SIGLIP_TANH),
    "vit_giantopt_patch16_siglip_256": ("giantopt", 16, 256, SIGLIP_TANH),
    "vit_giantopt_patch16_siglip_384": ("giantopt", 16, 384, SIGLIP_TANH),
    "vit_base_patch32_siglip_gap_256": ("base", 32, 256, SIGLIP_GAP_TANH),
    "vit_base_patch16_siglip_gap_224": ("base", 16, 224, SIGLIP_GAP),
    "vit_base_patch16_siglip_gap_256": ("base", 16, 256, SIGLIP_GAP),
    "vit_base_patch16_siglip_gap_384": ("base", 16, 384, SIGLIP_GAP),
    "vit_base_patch16_siglip_gap_512": ("base", 16, 512, SIGLIP_GAP),
    "vit_large_patch16_siglip_gap_256": ("large", 16, 256, SIGLIP_GAP),
    "vit_large_patch16_siglip_gap_384": ("large", 16, 384, SIGLIP_GAP),
    "vit_large_patch16_siglip_gap_512": ("large", 16, 512, SIGLIP_GAP_TANH),
    "vit_so400m_patch14_siglip_gap_224": ("so400m", 14, 224, SIGLIP_GAP),
    "vit_so400m_patch14_siglip_gap_378": ("so400m", 14, 378, SIGLIP_GAP),
    "vit_so400m_patch14_siglip_gap_384": ("so400m", 14, 384, SIGLIP_GAP),
    "vit_so400m_patch14_siglip_gap_448": ("so400m", 14, 448, SIGLIP_GAP),
    "vit_so400m_patch14_siglip_gap_896": ("so400m", 14, 896, SIGLIP_GAP),
    "vit_so400m_patch16_siglip_gap_256": ("so400m", 16, 256, SIGLIP_GAP_TANH),
    "vit_so400m_patch16_siglip_gap_384": ("so400m", 16, 384, SIGLIP_GAP_TANH),
    "vit_so400m_patch16_siglip_gap_512": ("so400m", 16, 512, SIGLIP_GAP_TANH),
    "vit_giantopt_patch16_siglip_gap_256": ("giantopt", 16, 256, SIGLIP_GAP_TANH),
    "vit_giantopt_patch16_siglip_gap_384": ("giantopt", 16, 384, SIGLIP_GAP_TANH),
    # --- 'searching for better baselines' (sbb) recipes with registers
    "vit_wee_patch16_reg1_gap_256": ("wee", 16, 256, dict(SBB, reg_tokens=1)),
    "vit_pwee_patch16_reg1_gap_256": (
        "pwee",
        16,
        256,
        dict(SBB, reg_tokens=1, block_type="parallel_scaling"),
    ),
    "vit_little_patch16_reg1_gap_256": ("little", 16, 256, dict(SBB, reg_tokens=1)),
    "vit_little_patch16_reg4_gap_256": ("little", 16, 256, dict(SBB, reg_tokens=4)),
    "vit_medium_patch16_reg1_gap_256": ("medium", 16, 256, dict(SBB, reg_tokens=1)),
    "vit_medium_patch16_reg4_gap_256": ("medium", 16, 256, dict(SBB, reg_tokens=4)),
    "vit_mediumd_patch16_reg4_gap_256": ("mediumd", 16, 256, dict(SBB, reg_tokens=4)),
    "vit_mediumd_patch16_reg4_gap_384": ("mediumd", 16, 384, dict(SBB, reg_tokens=4)),
    "vit_betwixt_patch16_reg1_gap_256": ("betwixt", 16, 256, dict(SBB, reg_tokens=1)),
    "vit_betwixt_patch16_reg4_gap_256": ("betwixt", 16, 256, dict(SBB, reg_tokens=4)),
    "vit_betwixt_patch16_reg4_gap_384": ("betwixt", 16, 384, dict(SBB, reg_tokens=4)),
    "vit_base_patch16_reg4_gap_256": (
        "base",
        16,
        256,
        dict(class_token=False, no_embed_class=True, global_pool="avg", reg_tokens=4),
    ),
    "vit_so150m_patch16_reg4_map_256": (
        "so150m",
        16,
        256,
        dict(class_token=False, reg_tokens=4, global_pool="map"),
    ),
    "vit_so150m_patch16_reg4_gap_256": ("so150m", 16, 256, dict(GAP, reg_tokens=4)),
    "vit_so150m_patch16_reg4_gap_384": ("so150m", 16, 384, dict(GAP, reg_tokens=4)),
    "vit_so150m2_patch16_reg1_gap_256": (
        "so150m2",
        16,
        256,
        dict(init_values=1e-5, qkv_bias=False, class_token=False, reg_tokens=1, global_pool="avg"),
    ),
    "vit_so150m2_patch16_reg1_gap_384": (
        "so150m2",
        16,
        384,
        dict(init_values=1e-5, qkv_bias=False, class_token=False, reg_tokens=1, global_pool="avg"),
    ),
    "vit_so150m2_patch16_reg1_gap_448": (
        "so150m2",
        16,
        448,
        dict(init_values=1e-5, qkv_bias=False, class_token=False, reg_tokens=1, global_pool="avg"),
    ),
    # --- InternViT, AIMv2, BEiT-3 towers, RADIO
    "vit_intern300m_patch14_448": (
        "large",
        14,
        448,
        dict(init_values=0.1, final_norm=False, dynamic_img_size=True),
    ),
    "aimv2_large_patch14_224": ("aimv2_large", 14, 224, AIMV2),
    "aimv2_huge_patch14_224": ("aimv2_huge", 14, 224, AIMV2),
    "aimv2_1b_patch14_224": ("aimv2_1b", 14, 224, AIMV2),
    "aimv2_3b_patch14_224": ("aimv2_3b", 14, 224, AIMV2),
    "aimv2_large_patch14_336": ("aimv2_large", 14, 336, AIMV2),
    "aimv2_huge_patch14_336": ("aimv2_huge", 14, 336, AIMV2),
    "aimv2_1b_patch14_336": ("aimv2_1b", 14, 336, AIMV2),
    "aimv2_3b_patch14_336": ("aimv2_3b", 14, 336, AIMV2),
    "aimv2_large_patch14_448": ("aimv2_large", 14, 448, AIMV2),
    "aimv2_huge_patch14_448": ("aimv2_huge", 14, 448, AIMV2),
    "aimv2_1b_patch14_448": ("aimv2_1b", 14, 448, AIMV2),
    "aimv2_3b_patch14_448": ("aimv2_3b", 14, 448, AIMV2),
    "beit3_base_patch16_224": ("base", 16, 224, BEIT3),
    "beit3_large_patch16_224": ("large", 16, 224, BEIT3),
    "beit3_giant_patch14_224": ("beit3_giant", 14, 224, BEIT3),
    "beit3_giant_patch14_336": ("beit3_giant", 14, 336, BEIT3),
    "vit_base_patch16_radio_v3": ("base", 16, 512, dict(RADIO, init_values=1e-5, reg_tokens=7)),
    "vit_large_patch16_radio_v3": ("large", 16, 512, dict(RADIO, init_values=1e-5, reg_tokens=7)),
    "vit_huge_patch16_radio_v3": ("huge", 16, 512, dict(RADIO, reg_tokens=7)),
    "vit_giant_patch16_radio_v3": ("giant24", 16, 512, dict(RADIO, reg_tokens=7)),
    "vit_so400m_patch16_radio_v4": ("so400m_tips", 16, 512, dict(RADIO, reg_tokens=9)),
    "vit_huge_patch16_radio_v4": ("huge", 16, 512, dict(RADIO, reg_tokens=9)),
    # --- tiny test models
    "test_vit": ("test", 16, 160, dict(dynamic_img_size=True)),
    "test_vit2": (
        "test2",
        16,
        160,
        dict(class_token=False, reg_tokens=1, global_pool="avg", init_values=1e-5, dynamic_img_size=True),
    ),
    "test_vit3": (
        "test3",
        16,
        160,
        dict(class_token=False, reg_tokens=1, global_pool="map", pool_include_prefix=True, init_values=1e-5),
    ),
    "test_vit4": (
        "test4",
        16,
        160,
        dict(
            class_token=False,
            reg_tokens=1,
            global_pool="avg",
            init_values=1e-5,
            dynamic_img_size=True,
            norm_layer="rmsnorm",
        ),
    ),
}


def variant_row(size: str, patch: int, img: int, recipe: dict | None = None) -> dict:
    """Constructor arguments of one table row."""
    dim, depth, heads, mlp_ratio = SIZES[size]
    row = dict(img_size=img, patch_size=patch, embed_dim=dim, depth=depth, num_heads=heads)
    if mlp_ratio != 4.0:
        row["mlp_ratio"] = mlp_ratio
    return {**row, **(recipe or {})}


VARIANTS: dict[str, dict] = {name: variant_row(*spec) for name, spec in _ARCHS.items()}
