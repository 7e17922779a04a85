"""Vision Transformer against timm (the oracle): logits, tokens, intermediates, options and checkpoint resampling.

To keep the suite fast, variants are compared numerically at full depth on a 2x2-patch input (width, heads,
MLP and patch size are exercised) and vit_tiny at full depth and size; every variant's full depth and
parameter shapes are compared with timm's on the meta device.
"""

from __future__ import annotations

import gc

import pytest
import torch
from safetensors.torch import save_file

import visionzoo
from tests.memory import saved_activation_bytes
from tests.parity.harness import build_pair, check_parity
from tests.parity.vit_checks import check_outputs, fast_pair
from visionzoo.models.vision_transformer_variants import VARIANTS

timm = pytest.importorskip("timm")

ARCHS = sorted(VARIANTS)
TINY = "vit_tiny_patch16_224"

# Widths from 1152 up (so400m, huge, giant, gigantic, giantopt, AIMv2-H/1B/3B, BEiT-3-g) take over 10 s
# each on the shared CI cores even on a 2x2 grid at full depth; they are compared at depth 2 (every block
# is the same block), and their full depth and shapes are checked on the meta device (test_tag_layouts,
# test_untagged_structure_matches_timm).
FULL_DEPTH_MAX_WIDTH = 1024


def _groups(variants: dict[str, dict]) -> dict[str, list[str]]:
    """Architectures whose rows differ only in img_size build the same model on a 2x2 grid: one
    representative (the first) per group, with its members."""
    groups: dict[str, list[str]] = {}
    for name, row in variants.items():
        key = repr(sorted((k, v) for k, v in row.items() if k != "img_size"))
        groups.setdefault(key, []).append(name)
    return {members[0]: members for members in groups.values()}


GROUPS = _groups(VARIANTS)


def small_parity_kwargs(row: dict) -> dict:
    """img_size for a 2x2 patch grid; depth 2 for the widest models."""
    kwargs = dict(img_size=2 * row["patch_size"])
    if row["embed_dim"] > FULL_DEPTH_MAX_WIDTH:
        kwargs["depth"] = 2
    return kwargs


def test_every_timm_arch_is_covered():
    """Every architecture of timm's vision_transformer module is registered here, but the three with
    differential attention (a block type nothing else uses)."""
    left_out = {
        "vit_dwee_patch16_reg1_gap_256",
        "vit_dlittle_patch16_reg1_gap_256",
        "vit_dpwee_patch16_reg1_gap_256",
    }
    assert sorted(visionzoo.list_models(module="vision_transformer")) == ARCHS
    assert set(timm.list_models(module="vision_transformer")) - set(ARCHS) == left_out


def test_default_size_parity():
    check_parity(TINY, batch_size=2)


def check_arch(arch: str, row: dict) -> None:
    """Numerical parity on a 2x2-patch input with timm's random weights, and the attributes that matter."""
    kwargs = small_parity_kwargs(row)
    ours, theirs = fast_pair(arch, **kwargs)
    assert ours.num_prefix_tokens == theirs.num_prefix_tokens
    assert ours.global_pool == theirs.global_pool
    assert ours.dynamic_img_size == theirs.dynamic_img_size
    assert ours.feature_info == theirs.feature_info
    assert ours.num_features == theirs.num_features and ours.num_classes == theirs.num_classes
    side = kwargs["img_size"]
    check_outputs(arch, ours, theirs, torch.randn(1, 3, side, side))
    del ours, theirs
    gc.collect()


@pytest.mark.parametrize("arch", sorted(GROUPS))
def test_parity(arch):
    """Full width (full depth up to ViT-H) on a 2x2-patch input; one architecture per group of those
    that differ only in img_size (the members' full-size layouts: test_tag_layouts, and below)."""
    check_arch(arch, VARIANTS[arch])


# architectures without a pretrained tag, which test_tag_layouts does not reach
UNTAGGED = sorted(a for a in ARCHS if not timm.list_pretrained(f"{a}.*"))


@pytest.mark.parametrize("arch", UNTAGGED)
def test_untagged_structure_matches_timm(arch):
    with torch.device("meta"):
        theirs = timm.create_model(arch)
        ours = visionzoo.create_model(arch)
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()
    }
    assert ours.patch_embed.img_size == theirs.patch_embed.img_size


OPTIONS = [
    dict(num_classes=0),
    dict(num_classes=10),
    dict(global_pool="avg"),
    dict(global_pool="max"),
    dict(global_pool="avgmax"),
    dict(global_pool=""),
    dict(global_pool="map"),
    dict(global_pool="prr"),
    dict(global_pool="prr", class_token=False),
    dict(global_pool="avg", pool_include_prefix=True),
    dict(global_pool="token", fc_norm=True),
    dict(in_chans=1),
    dict(class_token=False, global_pool="avg"),
    dict(reg_tokens=2, no_embed_class=True, global_pool="avg"),
    dict(init_values=0.1, qk_norm=True, pre_norm=True),
]


@pytest.mark.parametrize("kwargs", OPTIONS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_parity_options(kwargs):
    check_parity(TINY, input_size=(kwargs.get("in_chans", 3), 48, 32), img_size=(48, 32), depth=3, **kwargs)


@pytest.mark.parametrize("size", [(48, 80), (96, 96)])
def test_dynamic_img_size_parity(size):
    check_parity(TINY, input_size=(3, *size), batch_size=1, dynamic_img_size=True, img_size=64, depth=3)


@torch.no_grad()
@pytest.mark.parametrize("indices", [None, 2, [0, -1], [-3]])
def test_forward_intermediates_match_timm(indices):
    ours, theirs = build_pair(TINY, img_size=(48, 64), depth=4)
    x = torch.randn(2, 3, 48, 64)
    final, maps = ours.forward_intermediates(x, indices=indices)
    t_final, t_maps = theirs.forward_intermediates(x, indices=indices)
    assert torch.allclose(final, t_final, atol=1e-4)
    assert len(maps) == len(t_maps)
    for m, t in zip(maps, t_maps):
        assert m.shape == t.shape and m.shape[1:] == (192, 3, 4)
        assert torch.allclose(m, t, atol=1e-4)
    normed = ours.forward_intermediates(
        x, indices=indices, norm=True, output_fmt="NHWC", intermediates_only=True
    )
    t_normed = theirs.forward_intermediates(x, indices=indices, norm=True, intermediates_only=True)
    for m, t in zip(normed, t_normed):
        assert torch.allclose(m, t.permute(0, 2, 3, 1), atol=1e-4)


@torch.no_grad()
def test_forward_intermediates_prefix_tokens_match_timm():
    ours, theirs = build_pair(TINY, img_size=32, depth=2, reg_tokens=1)
    x = torch.randn(1, 3, 32, 32)
    mine = ours.forward_intermediates(x, indices=1, return_prefix_tokens=True, intermediates_only=True)
    ref = theirs.forward_intermediates(x, indices=1, return_prefix_tokens=True, intermediates_only=True)
    (m_map, m_prefix), (t_map, t_prefix) = mine[0], ref[0]
    assert m_prefix.shape == (1, 2, 192)
    assert torch.allclose(m_map, t_map, atol=1e-4) and torch.allclose(m_prefix, t_prefix, atol=1e-4)


@torch.no_grad()
@pytest.mark.parametrize("out_indices", [None, (0, -1)])
def test_features_only_matches_timm(out_indices):
    kw = dict(img_size=32, depth=4)
    if out_indices is not None:
        kw["out_indices"] = out_indices
    theirs = timm.create_model(TINY, features_only=True, **kw).eval()
    ours = visionzoo.create_model(TINY, features_only=True, **kw).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(1, 3, 32, 32)
    mine, ref = ours(x), theirs(x)
    assert ours.feature_info.channels() == theirs.feature_info.channels()
    assert ours.feature_info.reduction() == theirs.feature_info.reduction()
    assert len(mine) == len(ref)
    for m, t in zip(mine, ref):
        assert torch.allclose(m, t, atol=1e-4)


def test_pretrained_pos_embed_resampled_like_timm(tmp_path):
    """A 224 checkpoint loaded at img_size=160: our checkpoint_filter resamples pos_embed as timm's does."""
    source = timm.create_model(TINY, depth=2)
    path = tmp_path / "vit224.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    theirs = timm.create_model(
        TINY, depth=2, img_size=160, pretrained=True, pretrained_cfg_overlay=dict(file=str(path))
    ).eval()
    ours = visionzoo.create_model(TINY, depth=2, img_size=160, checkpoint_path=path).eval()
    assert ours.pos_embed.shape == (1, 1 + 10 * 10, 192)
    x = torch.randn(1, 3, 160, 160)
    with torch.no_grad():
        assert torch.allclose(ours(x), theirs(x), atol=1e-4)


def test_grad_checkpointing_same_outputs_less_memory():
    ours, _ = build_pair(TINY, img_size=48, depth=3)
    x = torch.randn(2, 3, 48, 48)
    plain = saved_activation_bytes(ours, x)
    grads = [p.grad.clone() for p in ours.parameters()]
    out = ours(x)
    ours.zero_grad()
    ours.set_grad_checkpointing(True)
    ckpt = saved_activation_bytes(ours, x)
    assert torch.allclose(ours(x), out, atol=1e-6)
    for p, g in zip(ours.parameters(), grads):
        assert torch.allclose(p.grad, g, atol=1e-5)
    assert ckpt < plain / 2
