"""EVA family model contract and building blocks: rotary embeddings, SwiGLU, options, errors."""

from __future__ import annotations

import math

import pytest
import torch

import visionzoo
from visionzoo.layers.attention import Attention
from visionzoo.layers.mlp import GluMlp, SwiGLU
from visionzoo.layers.pooling import pool_tokens
from visionzoo.layers.rope import (
    AxialRotaryEmbedding,
    DinoV3RotaryEmbedding,
    MixedRotaryEmbedding,
    apply_rotary,
    create_rope,
)

EVA02 = "eva02_tiny_patch14_224"
DINOV3 = "vit_small_patch16_dinov3"


def small(arch: str = EVA02, **kwargs):
    """A 2-block version of `arch` on a 2x3 patch grid."""
    p = 16 if "patch16" in arch else 14
    return visionzoo.create_model(arch, **{"img_size": (2 * p, 3 * p), "depth": 2, **kwargs}).eval()


# ------------------------------------------------------------------ rotary embeddings
ROPES = [
    AxialRotaryEmbedding(16, ref_feat_shape=(16, 16)),
    AxialRotaryEmbedding(16, temperature=100.0, grid_indexing="xy", rotate_half=True, grid_offset=1.0),
    DinoV3RotaryEmbedding(16),
]


@pytest.mark.parametrize("rope", ROPES, ids=lambda r: type(r).__name__)
def test_rotation_keeps_norms_and_scores_depend_on_offsets_only(rope):
    half = rope.rotate_half
    embed = rope.get_embed((4, 4))  # [16, 32]
    assert embed.shape == (16, 32)
    q, k = torch.randn(16), torch.randn(16)
    rq = apply_rotary(q.expand(16, -1), embed, half)  # the same vector at every position
    rk = apply_rotary(k.expand(16, -1), embed, half)
    assert torch.allclose(rq.norm(dim=-1), q.norm().expand(16), atol=1e-5)
    # a rotation: <R(p) q, R(p') k> depends only on p - p'; position 0 vs 5 equals 10 vs 15 (same offset (1, 1))
    assert torch.allclose(rq[0] @ rk[5], rq[10] @ rk[15], atol=1e-4)
    assert not torch.allclose(rq[0] @ rk[5], rq[0] @ rk[6], atol=1e-4)


def test_axial_reference_grid_rescales_coordinates():
    rope = AxialRotaryEmbedding(16, ref_feat_shape=(8, 8))
    coarse, fine = rope.get_embed((4, 4)), rope.get_embed((8, 8))
    # patch (1, 1) of a 4x4 grid sits where patch (2, 2) of the 8x8 reference grid does
    assert torch.allclose(coarse[1 * 4 + 1], fine[2 * 8 + 2], atol=1e-6)
    assert rope.get_embed((4, 4)) is coarse  # cached per shape and device


def test_dinov3_coordinates_are_normalised_patch_centres():
    rope = DinoV3RotaryEmbedding(8, temperature=100.0)
    # quarter = 2 frequencies per axis, periods 100**0 and 100**0.5; patch (0, 0) of a 2x2 grid is at (-0.5, -0.5)
    embed = rope.get_embed((2, 2))
    angles = (
        2 * math.pi * torch.tensor([-0.5, -0.5]).repeat_interleave(2) / torch.tensor([1.0, 10.0, 1.0, 10.0])
    )
    assert torch.allclose(embed[0, :8], torch.cat([angles.sin(), angles.sin()]), atol=1e-6)


def test_mixed_rope_learns_per_block_frequencies():
    rope = MixedRotaryEmbedding(32, depth=3, num_heads=2)
    embed = rope.get_embed((2, 3))
    assert embed.shape == (3, 2, 6, 32)  # [depth, heads, N, 2 * head_dim]
    assert rope.no_weight_decay() == {"freqs"}
    embed.sum().backward()
    assert rope.freqs.grad is not None and rope.freqs.grad.abs().sum() > 0


def test_rope_errors():
    with pytest.raises(ValueError, match="divisible by 4"):
        AxialRotaryEmbedding(10)
    with pytest.raises(ValueError, match="grid_indexing"):
        DinoV3RotaryEmbedding(16, grid_indexing="yx")
    with pytest.raises(ValueError, match="rope_type must be one of"):
        create_rope("mrope", 64, 4, 2)
    with pytest.raises(ValueError, match="interleaved pairs"):
        create_rope("mixed", 64, 4, 2, rotate_half=True)


# ------------------------------------------------------------------ layers
def test_swiglu_alignment_and_sub_layer_norm():
    mlp = SwiGLU(64, 100, norm_layer=torch.nn.LayerNorm, align_to=8)
    assert mlp.fc1_g.out_features == mlp.fc1_x.out_features == 104
    assert isinstance(mlp.norm, torch.nn.LayerNorm) and mlp.norm.normalized_shape == (104,)
    x = torch.randn(2, 5, 64)
    expected = mlp.fc2(mlp.norm(torch.nn.functional.silu(mlp.fc1_g(x)) * mlp.fc1_x(x)))
    assert torch.allclose(mlp(x), expected)
    packed = GluMlp(64, 200)
    assert packed.fc1.out_features == 200 and packed.fc2.in_features == 100
    with pytest.raises(ValueError, match="even hidden width"):
        GluMlp(64, 101)


def test_attention_eva_bias_layout_and_grouped_heads():
    fused = Attention(32, 4, qkv_bias=True, k_bias=False)
    assert set(dict(fused.named_parameters())) == {
        "qkv.weight",
        "q_bias",
        "v_bias",
        "proj.weight",
        "proj.bias",
    }
    split = Attention(32, 4, qkv_bias=True, k_bias=False, qkv_fused=False)
    assert split.k_proj.bias is None and split.q_proj.bias is not None
    gqa = Attention(32, 4, qkv_bias=True, qkv_fused=False, num_kv_heads=2)
    assert gqa.k_proj.out_features == 16
    assert gqa(torch.randn(2, 5, 32)).shape == (2, 5, 32)
    with pytest.raises(ValueError, match="needs qkv_fused=False"):
        Attention(32, 4, num_kv_heads=2)
    with pytest.raises(ValueError, match="not divisible by num_kv_heads"):
        Attention(32, 4, qkv_fused=False, num_kv_heads=3)


def test_attention_rope_leaves_prefix_tokens_alone():
    torch.manual_seed(0)
    attn = Attention(32, 2, qkv_bias=True, num_prefix_tokens=1).eval()
    x = torch.randn(1, 5, 32)
    rope = AxialRotaryEmbedding(16).get_embed((2, 2))
    zero_angle = torch.cat([torch.zeros_like(rope[:, :16]), torch.ones_like(rope[:, 16:])], dim=-1)
    with torch.no_grad():
        assert torch.allclose(attn(x, rope=zero_angle), attn(x), atol=1e-6)  # identity rotation
        assert not torch.allclose(attn(x, rope=rope), attn(x), atol=1e-4)


def test_pool_tokens():
    x = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)
    assert torch.equal(pool_tokens(x, "token"), x[:, 0])
    assert torch.equal(pool_tokens(x, "avg", 1), x[:, 1:].mean(1))
    assert torch.equal(pool_tokens(x, "max", 2), x[:, 2:].amax(1))
    assert pool_tokens(x, "") is x
    with pytest.raises(ValueError, match="token pool_type must be one of"):
        pool_tokens(x, "map")


# ------------------------------------------------------------------ model contract
@torch.no_grad()
def test_shapes_heads_and_feature_info():
    model = small()
    x = torch.randn(2, 3, 28, 42)
    tokens = model.forward_features(x)
    assert tokens.shape == (2, 1 + 6, 192)
    assert model.forward_head(tokens, pre_logits=True).shape == (2, 192)
    assert model.feature_info == [dict(num_chs=192, reduction=14, module=f"blocks.{i}") for i in range(2)]
    model.reset_classifier(7, "token")
    assert model(x).shape == (2, 7) and model.global_pool == "token"
    model.reset_classifier(0)
    assert model(x).shape == (2, 192)


@torch.no_grad()
def test_dinov3_registers_and_any_input_size():
    model = small(DINOV3)  # dynamic_img_size by default, 1 class + 4 storage tokens
    assert model.num_prefix_tokens == 5 and model.reg_token.shape == (1, 4, 384)
    assert model.forward_features(torch.randn(1, 3, 48, 80)).shape == (1, 5 + 15, 384)
    with pytest.raises(ValueError, match="not a multiple of the patch size"):
        model(torch.randn(1, 3, 50, 80))


def test_no_weight_decay_and_group_matcher():
    assert small().no_weight_decay() == {"pos_embed", "cls_token", "reg_token"}
    mixed = small("vit_small_patch16_rope_mixed_224")
    assert "rope.freqs" in mixed.no_weight_decay()
    assert "rope.freqs" in dict(mixed.named_parameters())
    gm = small().group_matcher()
    assert gm["stem"].startswith("^cls_token") and gm["blocks"][0][0] == r"^blocks\.(\d+)"


def test_prune_intermediate_layers_drops_later_blocks_and_head():
    model = small("vit_pe_core_tiny_patch16_384", depth=4)  # attention-pooled head
    assert model.attn_pool is not None
    assert model.prune_intermediate_layers([1]) == [1]
    assert len(model.blocks) == 2 and model.attn_pool is None and model.num_classes == 0


def test_meta_build_allocates_nothing():
    with torch.device("meta"):
        model = visionzoo.create_model("vit_7b_patch16_dinov3")
    assert sum(p.numel() for p in model.parameters()) > 6e9
    assert all(p.is_meta for p in model.parameters())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(global_pool="gem"), "global_pool must be one of"),
        (dict(global_pool="token", class_token=False), "needs the class token"),
        (dict(attn_type="timm"), "attn_type must be one of"),
        (dict(rope_type="mrope"), "rope_type must be one of"),
        (dict(num_kv_heads=(1, 2, 3)), "num_kv_heads has 3 entries for 2 blocks"),
        (dict(depth=0), "depth must be >= 1"),
        (dict(num_reg_tokens=-1), "num_reg_tokens must be >= 0"),
    ],
)
def test_bad_options_are_one_line_value_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        small(**kwargs)


def test_reset_classifier_cannot_add_attention_pooling():
    with pytest.raises(ValueError, match="create the model with global_pool='map'"):
        small().reset_classifier(10, "map")


def test_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError, match="does not take the keyword argument"):
        visionzoo.create_model(EVA02, patch_drop_rate=0.1)


def test_rotary_cache_from_inference_mode_serves_training():
    model = small()
    x = torch.randn(1, 3, 28, 42)
    with torch.inference_mode():
        model(x)  # fills the rotary cache
    model.train()
    model(x).sum().backward()  # the cached embedding is a plain tensor autograd can save
    assert model.patch_embed.proj.weight.grad is not None
