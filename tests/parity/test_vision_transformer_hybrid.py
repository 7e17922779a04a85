"""Hybrid ViTs (a CNN stem as the patch embedding) against timm (the oracle).

Every architecture is compared numerically with its whole CNN backbone and two transformer blocks on a
64 px input (the blocks are the plain ViT's, covered by test_vit); architectures that differ only in
img_size build the same model there, so one of each pair runs. Norm weights and BatchNorm statistics are
randomised first: timm zero-inits the last norm of its ResNet blocks, which would hide the residual branch.
Full-depth, full-size layouts: test_tag_layouts (tags) and test_untagged_structure_matches_timm below.
"""

from __future__ import annotations

import gc

import pytest
import torch

import visionzoo
from tests.memory import saved_activation_bytes
from tests.parity.harness import ATOL, _close
from visionzoo.models.resnetv2 import ResNetV2
from visionzoo.models.vision_transformer_hybrid import (
    VARIANTS,
    HybridBackbone,
    HybridEmbed,
    checkpoint_filter,
    convert_mobileclip,
)

timm = pytest.importorskip("timm")

ARCHS = sorted(VARIANTS)
SMALL = dict(img_size=64, depth=2)
R26 = "vit_small_r26_s32_224"  # the representative with CNN stages (stride 32, 2x2 tokens at 64 px)
STEM = "vit_tiny_r_s16_p8_224"  # the stem alone and 8x8 patches on its map


def _groups() -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for name in ARCHS:
        groups.setdefault(name.rsplit("_", 1)[0], []).append(name)  # '..._224' and '..._384'
    return {members[0]: members for members in groups.values()}


@torch.no_grad()
def _randomize_norms(model: torch.nn.Module, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.GroupNorm, torch.nn.LayerNorm)):
            m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=gen))
            m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=gen))
            m.running_var.copy_(1 + 0.5 * torch.rand(m.running_var.shape, generator=gen))


def pair(arch: str, **kwargs):
    """(ours, timm's), timm's randomised weights loaded into ours strictly, both in eval mode."""
    theirs = timm.create_model(arch, pretrained=False, **kwargs).eval()
    _randomize_norms(theirs)
    ours = visionzoo.create_model(arch, pretrained=False, **kwargs).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    return ours, theirs


@torch.no_grad()
def check_outputs(arch: str, ours, theirs, x: torch.Tensor) -> None:
    f_ours, f_theirs = ours.forward_features(x), theirs.forward_features(x)
    _close(f"{arch} forward_features", f_ours, f_theirs, ATOL)
    _close(
        f"{arch} forward_head(pre_logits)",
        ours.forward_head(f_ours, pre_logits=True),
        theirs.forward_head(f_theirs, pre_logits=True),
        ATOL,
    )
    _close(f"{arch} forward", ours(x), theirs(x), ATOL)


def test_every_timm_arch_and_tag_is_covered():
    module = "vision_transformer_hybrid"
    assert sorted(visionzoo.list_models(module=module)) == sorted(timm.list_models(module=module)) == ARCHS
    ours = visionzoo.list_pretrained([f"{a}.*" for a in ARCHS])
    assert sorted(ours) == sorted(timm.list_pretrained([f"{a}.*" for a in ARCHS]))
    assert len(ARCHS) == 14 and len(ours) == 14


# The R50 backbones (16 GroupNorm + weight-standardised blocks) amplify fp32 rounding (a standardised
# weight differs from timm's by 3e-7) to about 1e-4 at the output; they are compared in float64.
FLOAT64 = ("vit_base_r50_s16_224", "vit_large_r50_s32_224")


@pytest.mark.parametrize("arch", sorted(_groups()))
def test_parity(arch):
    ours, theirs = pair(arch, **SMALL)
    assert ours.feature_info == theirs.feature_info  # reductions: backbone stride x patch size
    assert ours.patch_embed.grid_size == tuple(theirs.patch_embed.grid_size)
    assert ours.num_features == theirs.num_features and ours.num_prefix_tokens == theirs.num_prefix_tokens
    dtype = torch.float64 if arch in FLOAT64 else torch.float32
    ours, theirs = ours.to(dtype), theirs.to(dtype)
    check_outputs(arch, ours, theirs, torch.randn(2, 3, 64, 64, dtype=dtype))
    del ours, theirs
    gc.collect()


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
    assert ours.feature_info == theirs.feature_info


OPTIONS = [
    dict(num_classes=0),
    dict(num_classes=10, global_pool="avg"),
    dict(in_chans=1),
    dict(img_size=(64, 96)),  # a non-square, non-default size
]


@pytest.mark.parametrize("kwargs", OPTIONS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_parity_options(kwargs):
    kwargs = {**SMALL, **kwargs}
    ours, theirs = pair(R26, **kwargs)
    h, w = (kwargs["img_size"],) * 2 if isinstance(kwargs["img_size"], int) else kwargs["img_size"]
    check_outputs(R26, ours, theirs, torch.randn(1, kwargs.get("in_chans", 3), h, w))
    assert ours.num_classes == theirs.num_classes


@pytest.mark.parametrize(
    "arch, size, extra",
    [(R26, (64, 128), {}), (STEM, (96, 64), {}), (STEM, (72, 64), dict(dynamic_img_pad=True))],
)
def test_dynamic_img_size_parity(arch, size, extra):
    ours, theirs = pair(arch, dynamic_img_size=True, **SMALL, **extra)
    check_outputs(arch, ours, theirs, torch.randn(1, 3, *size))


def test_fixed_size_rejects_another_input_size():
    model = visionzoo.create_model(R26, **SMALL).eval()
    with pytest.raises(ValueError, match=r"expects input size 64x64, got 96x64"):
        model(torch.randn(1, 3, 96, 64))
    with pytest.raises(ValueError, match="3-channel"):
        model(torch.randn(1, 1, 64, 64))


@torch.no_grad()
@pytest.mark.parametrize("indices", [None, [0, -1]])
def test_forward_intermediates_match_timm(indices):
    ours, theirs = pair(STEM, img_size=(64, 128), depth=3)
    x = torch.randn(1, 3, 64, 128)
    final, maps = ours.forward_intermediates(x, indices=indices)
    t_final, t_maps = theirs.forward_intermediates(x, indices=indices)
    _close("final", final, t_final, ATOL)
    assert len(maps) == len(t_maps)
    for m, t in zip(maps, t_maps, strict=True):
        assert m.shape == (1, 192, 2, 4)  # 64x128 px / (stem stride 4 x patch 8)
        _close("intermediate", m, t, ATOL)


@torch.no_grad()
def test_dynamic_forward_intermediates_follow_the_input_size():
    """A size the stem does not divide: the token grid is ceil(size / 4) // 8 a side, and the last map is
    forward_features' patch tokens laid out on it."""
    model = visionzoo.create_model(STEM, dynamic_img_size=True, **SMALL).eval()
    x = torch.randn(1, 3, 70, 97)  # stem map 18x25 -> 2x3 patches of 8
    maps = model.forward_intermediates(x, indices=1, norm=True, intermediates_only=True)
    assert maps[0].shape == (1, 192, 2, 3)
    tokens = model.forward_features(x)  # [1, 1 + 2*3, 192]
    torch.testing.assert_close(maps[0], tokens[:, 1:].reshape(1, 2, 3, 192).permute(0, 3, 1, 2))


@torch.no_grad()
def test_features_only_matches_timm_and_forward_intermediates():
    kw = dict(img_size=64, depth=3, out_indices=(0, 2))
    theirs = timm.create_model(R26, features_only=True, **kw).eval()
    ours = visionzoo.create_model(R26, features_only=True, **kw).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    assert ours.feature_info.channels() == theirs.feature_info.channels() == [384, 384]
    assert ours.feature_info.reduction() == theirs.feature_info.reduction() == [32, 32]
    x = torch.randn(1, 3, 64, 64)
    mine, ref = ours(x), theirs(x)
    full = visionzoo.create_model(R26, img_size=64, depth=3).eval()
    full.load_state_dict(ours.model.state_dict(), strict=False)  # features_only dropped the head
    direct = full.forward_intermediates(x, indices=[0, 2], intermediates_only=True)
    for m, t, d in zip(mine, ref, direct, strict=True):
        assert m.shape == (1, 384, 2, 2)
        _close("features_only", m, t, ATOL)
        _close("forward_intermediates", m, d, 0.0)


def test_grad_checkpointing_reaches_the_backbone_and_keeps_gradients():
    torch.manual_seed(0)
    model = visionzoo.create_model(R26, **SMALL)
    x = torch.randn(2, 3, 64, 64)
    model.train()
    model(x).square().sum().backward()
    ref = {n: p.grad.clone() for n, p in model.named_parameters()}
    before = saved_activation_bytes(model, x)
    model.zero_grad()
    model.set_grad_checkpointing(True)
    backbone = model.patch_embed.backbone
    assert isinstance(backbone, ResNetV2) and all(s.grad_checkpointing for s in backbone.stages)
    model(x).square().sum().backward()
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, ref[n], atol=1e-5, rtol=1e-4, msg=n)
    assert saved_activation_bytes(model, x) < 0.6 * before


def test_mobileclip_checkpoint_converts_as_timm_does():
    """Apple's MobileCLIP layout (built here from timm's model by the reverse renames) converts to what
    timm's own filter gives, and loads strictly."""
    from timm.models.vision_transformer_hybrid import checkpoint_filter_fn as timm_filter

    theirs = timm.create_model("vit_base_mci_224", img_size=64, depth=1, num_classes=8).eval()
    apple = {"text_encoder.proj": torch.zeros(2), "logit_scale": torch.zeros(())}
    reverse = [
        ("blocks.", "transformer."),
        ("patch_embed.backbone.", "patch_emb."),
        (".conv.", ".block.conv."),
        (".bn.", ".block.norm."),
        ("norm1", "pre_norm_mha.0"),
        ("attn.qkv", "pre_norm_mha.1.qkv_proj"),
        ("attn.proj", "pre_norm_mha.1.out_proj"),
        ("norm2", "pre_norm_ffn.0"),
        ("mlp.fc1", "pre_norm_ffn.1"),
        ("mlp.fc2", "pre_norm_ffn.4"),
    ]
    for k, v in theirs.state_dict().items():
        if k == "pos_embed":
            k, v = "pos_embed.pos_embed.pos_embed", v.unsqueeze(0)
        elif k == "head.weight":
            k, v = "classifier.proj", v.T
        elif k == "head.bias":
            continue
        elif k == "norm.weight" or k == "norm.bias":
            k = k.replace("norm.", "post_transformer_norm.")
        for old, new in reverse:
            k = k.replace(old, new)
        apple[f"image_encoder.model.{k}"] = v
    model = visionzoo.create_model("vit_base_mci_224", img_size=64, depth=1, num_classes=8).eval()
    ours, ref = checkpoint_filter(dict(apple), model), timm_filter(dict(apple), theirs)
    assert sorted(ours) == sorted(ref) and all(torch.equal(ours[k], ref[k]) for k in ref)
    model.load_state_dict(ours, strict=True)
    assert set(convert_mobileclip(apple)) == set(theirs.state_dict())


def test_bad_backbone_options_are_clear_errors():
    with pytest.raises(ValueError, match="backbone kind"):
        HybridBackbone("vgg")
    with pytest.raises(ValueError, match="unknown ResNet architecture"):
        HybridBackbone("resnet", arch="resnet_nonexistent")
    with pytest.raises(TypeError, match="HybridBackbone"):
        HybridEmbed(64, backbone="resnetv2")
    with pytest.raises(ValueError, match="proj=False needs a backbone 192 wide"):
        HybridEmbed(64, 1, 3, 192, backbone=HybridBackbone("resnetv2"), proj=False)
    with pytest.raises(ValueError, match="smaller than one"):
        HybridEmbed(16, 8, backbone=HybridBackbone("resnetv2"))
    with pytest.raises(ValueError, match="preact=False builds bottleneck blocks only"):
        ResNetV2((1, 1), (64, 128), basic=True, preact=False)
