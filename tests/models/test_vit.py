"""ViT / DeiT model contract: shapes, feature extraction, pruning, classifier resets, checkpoint layouts, errors."""

from __future__ import annotations

import re

import pytest
import torch
from safetensors.torch import save_file

import visionzoo
from visionzoo.layers.pos_embed import resample_abs_pos_embed

TINY = "vit_tiny_patch16_224"
DISTILLED = "deit_tiny_distilled_patch16_224"


def small(arch: str = TINY, **kwargs):
    """A 4-block, 32 px version of `arch` (2x2 patches)."""
    return visionzoo.create_model(arch, **{"img_size": 32, "depth": 4, **kwargs}).eval()


@torch.no_grad()
def test_num_classes_zero_gives_pooled_features():
    model = visionzoo.create_model(TINY, num_classes=0).eval()
    assert model(torch.randn(2, 3, 224, 224)).shape == (2, 192)


@torch.no_grad()
def test_tokens_head_and_feature_info():
    model = small()
    x = torch.randn(2, 3, 32, 32)
    tokens = model.forward_features(x)
    assert tokens.shape == (2, 1 + 4, 192)
    assert model.forward_head(tokens, pre_logits=True).shape == (2, 192)
    assert model.forward_head(tokens).shape == (2, 1000)
    assert model.feature_info == [dict(num_chs=192, reduction=16, module=f"blocks.{i}") for i in range(4)]
    assert small("vit_base_patch32_224", depth=2, img_size=64).feature_info[-1]["reduction"] == 32


@torch.no_grad()
def test_forward_intermediates_formats_and_indices():
    model = small(img_size=(32, 48))
    x = torch.randn(1, 3, 32, 48)
    maps = model.forward_intermediates(x, indices=[-1, 1], intermediates_only=True)
    assert [m.shape for m in maps] == [(1, 192, 2, 3)] * 2
    nhwc = model.forward_intermediates(x, indices=[1, 3], output_fmt="NHWC", intermediates_only=True)
    assert torch.equal(nhwc[0], maps[0].permute(0, 2, 3, 1)) and torch.equal(
        nhwc[1], maps[1].permute(0, 2, 3, 1)
    )
    nlc = model.forward_intermediates(x, indices=1, output_fmt="NLC", intermediates_only=True)
    assert nlc[0].shape == (1, 6, 192)
    early = model.forward_intermediates(x, indices=[1], stop_early=True, intermediates_only=True)
    assert torch.equal(early[0], maps[0])
    final, _ = model.forward_intermediates(x, indices=1)
    assert torch.allclose(final, model.forward_features(x))


def test_forward_intermediates_bad_arguments():
    model = small()
    x = torch.randn(1, 3, 32, 32)
    with pytest.raises(ValueError, match="output_fmt"):
        model.forward_intermediates(x, output_fmt="NCL")
    with pytest.raises(IndexError, match="out of range"):
        model.forward_intermediates(x, indices=[4])
    with pytest.raises(IndexError):
        model.forward_intermediates(x, indices=5)


@torch.no_grad()
def test_prune_intermediate_layers():
    model = small()
    assert model.prune_intermediate_layers([0, -3]) == [0, 1]
    assert len(model.blocks) == 2
    assert isinstance(model.head, torch.nn.Identity) and model.num_classes == 0
    maps = model.forward_intermediates(torch.randn(1, 3, 32, 32), indices=[0, 1], intermediates_only=True)
    assert [m.shape for m in maps] == [(1, 192, 2, 2)] * 2


@torch.no_grad()
@pytest.mark.parametrize("arch", [TINY, DISTILLED])
def test_features_only(arch):
    model = visionzoo.create_model(arch, features_only=True, img_size=32, depth=5).eval()
    assert model.out_indices == (2, 3, 4)  # the last 3 blocks, as timm
    out = model(torch.randn(2, 3, 32, 32))
    assert [o.shape for o in out] == [(2, 192, 2, 2)] * 3
    assert model.feature_info.reduction() == [16] * 3
    nhwc = visionzoo.create_model(
        arch, features_only=True, img_size=32, depth=5, out_indices=(-1,), output_fmt="NHWC"
    )
    assert len(nhwc.model.blocks) == 5
    assert [o.shape for o in nhwc(torch.randn(1, 3, 32, 32))] == [(1, 2, 2, 192)]


@torch.no_grad()
def test_reset_classifier_and_pooling():
    model = small()
    model.reset_classifier(10, "avg")
    assert model.global_pool == "avg"
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    model.reset_classifier(0, "")
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 5, 192)
    with pytest.raises(ValueError, match="global_pool='map'"):
        model.reset_classifier(10, "map")
    with pytest.raises(ValueError, match="global_pool='prr'"):
        model.pool(torch.randn(1, 5, 192), "prr")
    attn_pooled = small(global_pool="map")
    attn_pooled.reset_classifier(3, "avg")
    assert attn_pooled.attn_pool is None and attn_pooled(torch.randn(1, 3, 32, 32)).shape == (1, 3)
    no_cls = small(class_token=False, global_pool="avg")
    with pytest.raises(ValueError, match="class token"):
        no_cls.reset_classifier(10, "token")


@torch.no_grad()
def test_distilled_heads():
    model = small(DISTILLED)
    head, head_dist = model.get_classifier()
    assert head.out_features == head_dist.out_features == 1000
    assert model.forward_features(torch.randn(1, 3, 32, 32)).shape == (1, 2 + 4, 192)
    model.reset_classifier(7)
    assert model.head.out_features == model.head_dist.out_features == 7
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 7)
    model.reset_classifier(0)
    assert isinstance(model.head_dist, torch.nn.Identity) and model(torch.randn(1, 3, 32, 32)).shape == (
        1,
        192,
    )
    with pytest.raises(ValueError, match="distill"):
        model.reset_classifier(10, "avg")


def test_no_weight_decay_and_group_matcher():
    model = small(DISTILLED)
    assert {"pos_embed", "cls_token", "dist_token"} <= model.no_weight_decay()
    groups = model.group_matcher()
    names = [n for n, _ in model.named_parameters()]
    stem = [n for n in names if re.match(groups["stem"], n)]
    assert sorted(stem) == sorted(
        ["cls_token", "dist_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias"]
    )
    block_ids = set()
    for n in names:
        for pattern, _ in groups["blocks"]:
            m = re.match(pattern, n)
            if m and m.groups():
                block_ids.add(int(m.group(1)))
    assert block_ids == {0, 1, 2, 3}


def test_grad_checkpointing_gives_same_gradients():
    model = small(depth=2).train()
    x = torch.randn(2, 3, 32, 32)
    model(x).sum().backward()
    ref = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model.set_grad_checkpointing(True)
    assert model.grad_checkpointing
    model(x).sum().backward()
    for p, g in zip(model.parameters(), ref):
        assert torch.allclose(p.grad, g, atol=1e-6)


@torch.no_grad()
def test_dynamic_img_size_and_pad():
    model = small(dynamic_img_size=True)
    assert model(torch.randn(1, 3, 64, 48)).shape == (1, 1000)
    maps = model.forward_intermediates(torch.randn(1, 3, 64, 48), indices=1, intermediates_only=True)
    assert maps[0].shape == (1, 192, 4, 3)
    padded = small(dynamic_img_size=True, dynamic_img_pad=True)
    maps = padded.forward_intermediates(torch.randn(1, 3, 40, 20), indices=1, intermediates_only=True)
    assert maps[0].shape == (1, 192, 3, 2)


def test_wrong_input_size_is_a_clear_error():
    model = small()
    with pytest.raises(ValueError, match=r"expects input size 32x32, got 48x32"):
        model(torch.randn(1, 3, 48, 32))
    with pytest.raises(ValueError, match="3-channel"):
        model(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        model(torch.randn(3, 32, 32))
    dynamic = small(dynamic_img_size=True)
    with pytest.raises(ValueError, match=r"40x32 is not a multiple of the patch size 16x16"):
        dynamic(torch.randn(1, 3, 40, 32))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(global_pool="gap"), "global_pool must be one of"),
        (dict(class_token=False), "needs the class token"),
        (dict(num_heads=5), "not divisible by num_heads"),
        (dict(depth=0), "depth must be >= 1"),
        (dict(reg_tokens=-1), "reg_tokens"),
        (dict(img_size=8), "smaller than one patch"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        visionzoo.create_model(TINY, **kwargs)


@pytest.mark.parametrize("kwargs", [dict(global_pool="avg"), dict(class_token=False)])
def test_distilled_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="distilled DeiT"):
        visionzoo.create_model(DISTILLED, **kwargs)


def test_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError, match="embed_dims"):
        visionzoo.create_model(TINY, embed_dims=10)


def test_resample_abs_pos_embed_keeps_prefix_and_constants():
    pos = torch.cat([torch.randn(1, 2, 8), torch.full((1, 9, 8), 0.5)], dim=1)  # 2 prefix + 3x3 grid
    out = resample_abs_pos_embed(pos, (4, 5), num_prefix_tokens=2)
    assert out.shape == (1, 2 + 20, 8)
    assert torch.equal(out[:, :2], pos[:, :2])
    assert torch.allclose(out[:, 2:], torch.full((1, 20, 8), 0.5), atol=1e-6)
    assert resample_abs_pos_embed(pos, (3, 3), num_prefix_tokens=2) is pos
    with pytest.raises(ValueError, match="not a square"):
        resample_abs_pos_embed(torch.randn(1, 1 + 6, 8), (2, 2))
    with pytest.raises(ValueError, match="not 1 prefix tokens plus a 2x2 grid"):
        resample_abs_pos_embed(torch.randn(1, 1 + 6, 8), (2, 2), old_size=(2, 2))


@torch.no_grad()
def test_legacy_checkpoint_layout_loads(tmp_path):
    """'module.' prefix, a linear patch projection, a `pre_logits` layer and DeiT-III `gamma_1/2` names."""
    timm = pytest.importorskip("timm")
    ref = timm.create_model(TINY, img_size=32, depth=2, init_values=0.1).eval()
    legacy = {}
    for k, v in ref.state_dict().items():
        if k == "patch_embed.proj.weight":
            v = v.reshape(v.shape[0], -1)
        k = re.sub(r"\.ls([12])\.gamma$", r".gamma_\1", k)
        legacy[f"module.{k}"] = v.contiguous()
    legacy["module.pre_logits.fc.weight"] = torch.zeros(192, 192)
    legacy["module.pre_logits.fc.bias"] = torch.zeros(192)
    path = tmp_path / "legacy.safetensors"
    save_file(legacy, str(path))
    ours = visionzoo.create_model(TINY, img_size=32, depth=2, init_values=0.1, checkpoint_path=path).eval()
    x = torch.randn(1, 3, 32, 32)
    assert torch.allclose(ours(x), ref(x), atol=1e-5)
