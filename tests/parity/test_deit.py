"""DeiT (plain and distilled) against timm (the oracle).

Variants are compared numerically at full depth on a 2x2-patch input, the tiny ones also at full size;
every variant's full depth and parameter shapes are compared with timm's on the meta device.
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

import visionzoo
from tests.parity.harness import build_pair, check_parity
from tests.parity.vit_checks import check_fast_parity

timm = pytest.importorskip("timm")

ARCHS = [
    "deit_tiny_patch16_224",
    "deit_small_patch16_224",
    "deit_base_patch16_224",
    "deit_base_patch16_384",
    "deit_tiny_distilled_patch16_224",
    "deit_small_distilled_patch16_224",
    "deit_base_distilled_patch16_224",
    "deit_base_distilled_patch16_384",
    "deit3_small_patch16_224",
    "deit3_small_patch16_384",
    "deit3_medium_patch16_224",
    "deit3_base_patch16_224",
    "deit3_base_patch16_384",
    "deit3_large_patch16_224",
    "deit3_large_patch16_384",
    "deit3_huge_patch14_224",
]
DISTILLED = "deit_tiny_distilled_patch16_224"


def test_every_table_arch_is_covered():
    assert (
        sorted(visionzoo.list_models(module="deit"))
        == sorted(ARCHS)
        == sorted(timm.list_models(module="deit"))
    )


def test_every_timm_tag_is_registered():
    assert sorted(visionzoo.list_pretrained("deit*")) == sorted(timm.list_pretrained("deit*"))


@pytest.mark.parametrize("arch", ["deit_tiny_patch16_224", DISTILLED])
def test_default_size_parity(arch):
    check_parity(arch, batch_size=1)


@pytest.mark.parametrize("arch", ARCHS)
def test_parity(arch):
    """Full depth and width on a 2x2-patch input (DeiT-III: no class-token position, layer scale)."""
    patch = 14 if "patch14" in arch else 16
    check_fast_parity(arch, input_size=(3, 2 * patch, 2 * patch), img_size=2 * patch)


@pytest.mark.parametrize("arch", ARCHS)
def test_structure_matches_timm(arch):
    with torch.device("meta"):
        theirs = timm.create_model(arch)
        ours = visionzoo.create_model(arch)
    assert type(ours).__name__ == (
        "DistilledVisionTransformer" if "distilled" in arch else "VisionTransformer"
    )
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()
    }
    assert ours.blocks[0].attn.num_heads == theirs.blocks[0].attn.num_heads
    assert ours.patch_embed.img_size == theirs.patch_embed.img_size
    assert ours.feature_info == theirs.feature_info
    assert ours.num_prefix_tokens == theirs.num_prefix_tokens
    assert ours.no_embed_class == theirs.no_embed_class


OPTIONS = [dict(num_classes=0), dict(num_classes=10), dict(global_pool="token"), dict(in_chans=1)]


@pytest.mark.parametrize("kwargs", OPTIONS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_distilled_parity_options(kwargs):
    check_parity(
        DISTILLED, input_size=(kwargs.get("in_chans", 3), 48, 32), img_size=(48, 32), depth=3, **kwargs
    )


@pytest.mark.parametrize("size", [(48, 80), (96, 96)])
def test_distilled_dynamic_img_size_parity(size):
    check_parity(DISTILLED, input_size=(3, *size), batch_size=1, dynamic_img_size=True, img_size=64, depth=3)


def test_distilled_training_returns_both_heads_like_timm():
    ours, theirs = build_pair(DISTILLED, img_size=32, depth=2)
    x = torch.randn(2, 3, 32, 32)
    for model in (ours, theirs):
        model.train()
    # plain training forward: the mean of both heads, as at eval
    assert torch.allclose(ours(x), theirs(x), atol=1e-4)
    ours.set_distilled_training(True)
    theirs.set_distilled_training(True)
    (cls, dist), (t_cls, t_dist) = ours(x), theirs(x)
    assert cls.shape == dist.shape == (2, 1000)
    assert torch.allclose(cls, t_cls, atol=1e-4) and torch.allclose(dist, t_dist, atol=1e-4)
    ours.eval()
    assert torch.allclose(ours(x), (cls + dist) / 2, atol=1e-4)


@torch.no_grad()
def test_distilled_forward_intermediates_match_timm():
    ours, theirs = build_pair(DISTILLED, img_size=(32, 48), depth=3)
    x = torch.randn(1, 3, 32, 48)
    final, maps = ours.forward_intermediates(x, indices=[0, -1], norm=True)
    t_final, t_maps = theirs.forward_intermediates(x, indices=[0, -1], norm=True)
    assert torch.allclose(final, t_final, atol=1e-4)
    assert [m.shape for m in maps] == [t.shape for t in t_maps] == [(1, 192, 2, 3)] * 2
    for m, t in zip(maps, t_maps):
        assert torch.allclose(m, t, atol=1e-4)


@torch.no_grad()
def test_distilled_pos_embed_resampled_like_timm(tmp_path):
    """A 224 distilled checkpoint (2 prefix tokens), wrapped as the original DeiT release does
    ({'model': ...}), loaded at img_size=160 matches timm's own resampling."""
    source = timm.create_model(DISTILLED, depth=2)
    path = tmp_path / "deit224.pth"
    torch.save({"model": source.state_dict()}, path)
    flat = tmp_path / "deit224.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(flat))
    theirs = timm.create_model(
        DISTILLED, depth=2, img_size=160, pretrained=True, pretrained_cfg_overlay=dict(file=str(flat))
    ).eval()
    ours = visionzoo.create_model(DISTILLED, depth=2, img_size=160, checkpoint_path=path).eval()
    assert ours.pos_embed.shape == (1, 2 + 10 * 10, 192)
    x = torch.randn(1, 3, 160, 160)
    assert torch.allclose(ours(x), theirs(x), atol=1e-4)
