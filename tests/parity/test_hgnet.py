"""PP-HGNet / PP-HGNetV2 against timm 1.0.31 (the oracle), with live (randomised) BN and affine weights."""

from __future__ import annotations

import re

import pytest
import timm
import torch

import visionzoo
from tests.memory import assert_checkpointing_keeps_gradients
from visionzoo.models.hgnet import VARIANTS, HGNet

from .live_weights import assert_close_scaled, check_live_parity, live_pair

TINY_V2 = dict(
    stem_type="v2",
    stem_chs=(8, 8),
    stages=((8, 8, 16, 1, False, False, 3, 2), (16, 8, 32, 2, True, True, 5, 2)),
    use_lab=True,
    head_hidden_size=32,
)


@pytest.mark.parametrize("arch", list(VARIANTS))
def test_parity(arch):
    # 64x64: StemV2's padded 2x2 branch and every stage's spatial code see more than one pixel
    check_live_parity(arch, input_size=(3, 64, 64), batch_size=1)


@pytest.mark.parametrize("num_classes, global_pool", [(0, "avg"), (0, ""), (10, "max"), (10, "avgmax")])
def test_head_options(num_classes, global_pool):
    check_live_parity("hgnetv2_b0", (3, 64, 64), num_classes=num_classes, global_pool=global_pool)


def test_in_chans_and_dropout():
    check_live_parity("hgnetv2_b0", (1, 64, 64), in_chans=1, drop_rate=0.2, drop_path_rate=0.1)


def test_head_errors():
    with pytest.raises(ValueError, match="pooled width"):
        visionzoo.create_model("hgnetv2_b0", global_pool="catavgmax")
    with pytest.raises(ValueError, match="global_pool=''"):
        visionzoo.create_model("hgnetv2_b0", global_pool="", num_classes=10)
    with pytest.raises(ValueError, match="stem_type"):
        HGNet(**{**TINY_V2, "stem_type": "v3"})


def test_reset_classifier_keeps_hidden_conv():
    ours, theirs = live_pair("hgnetv2_b0")
    ours.reset_classifier(7)
    theirs.reset_classifier(7)
    ours.head.fc.load_state_dict(theirs.head.fc.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert_close_scaled("reset", ours(x), theirs(x))
    assert ours.get_classifier().in_features == 2048 and ours.head_hidden_size == theirs.head_hidden_size


@pytest.mark.parametrize("arch", ["hgnet_tiny", "hgnetv2_b0", "hgnetv2_b4"])
def test_reparameterize_folds_every_bn(arch):
    ours, theirs = live_pair(arch)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref = theirs(x)  # timm has nothing to fold in HGNet: its unfolded output is the reference
        ours.reparameterize()
        folded = ours(x)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in ours.modules())
    assert_close_scaled(f"{arch} folded vs timm", folded, ref, 1e-4)


@pytest.mark.parametrize("out_indices", [(0, 1, 2, 3), (1, 3), (0,)])
def test_features_only_matches_timm_intermediates(out_indices):
    full_ours, theirs = live_pair("hgnetv2_b0")
    ours = visionzoo.create_model("hgnetv2_b0", features_only=True, out_indices=out_indices).eval()
    kept = ours.model.state_dict()
    ours.model.load_state_dict({k: v for k, v in full_ours.state_dict().items() if k in kept}, strict=True)
    info = timm.create_model("hgnetv2_b0", features_only=True, out_indices=out_indices).feature_info
    assert ours.feature_info.channels() == info.channels()
    assert ours.feature_info.reduction() == info.reduction()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        f_ours = ours(x)
        f_theirs = theirs.forward_intermediates(x, indices=list(out_indices), intermediates_only=True)
    assert len(f_ours) == len(f_theirs) == len(out_indices)
    for a, b in zip(f_ours, f_theirs):
        assert_close_scaled("features", a, b)


def test_forward_intermediates_final():
    ours, theirs = live_pair("hgnet_tiny")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        final_o, maps_o = ours.forward_intermediates(x, indices=[0, -1])
        final_t, maps_t = theirs.forward_intermediates(x, indices=[0, -1])
    assert_close_scaled("final", final_o, final_t)
    for a, b in zip(maps_o, maps_t, strict=True):
        assert_close_scaled("map", a, b)


def test_grad_checkpointing_same_gradients():
    model = HGNet(**TINY_V2, num_classes=5)
    assert_checkpointing_keeps_gradients(model, torch.randn(2, 3, 32, 32))


def test_group_matcher_matches_timm():
    model = visionzoo.create_model("hgnetv2_b0")
    assert model.group_matcher() == timm.create_model("hgnetv2_b0").group_matcher()
    coarse = model.group_matcher(coarse=True)
    for name, _ in model.named_parameters():
        if not name.startswith("head."):
            assert re.match(coarse["stem"], name) or re.match(coarse["blocks"], name), name
