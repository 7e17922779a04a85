"""OpenAI CLIP ResNets (byobnet) against timm 1.0.31: attention-pool and global-average heads."""

from __future__ import annotations

import pytest
import timm
import torch

import visionzoo

from .live_weights import assert_close_scaled, check_live_parity, live_pair

CLIP = ["resnet50_clip", "resnet101_clip", "resnet50x4_clip", "resnet50x16_clip"]
# resnet50x64_clip(_gap) (420M parameters) differ from the others only in depth and width: their
# full-size layouts are compared key for key in test_tag_layouts.py.


@pytest.mark.parametrize("arch", CLIP + [f"{a}_gap" for a in CLIP])
def test_parity(arch):
    # 64x64: the attention pool resamples its position embedding to the 2x2 map
    check_live_parity(arch, input_size=(3, 64, 64), batch_size=1)


def test_parity_native_size():
    # at 224 the position embedding is used as it is (7x7 map)
    check_live_parity("resnet50_clip", input_size=(3, 224, 224), batch_size=1)


@pytest.mark.parametrize("num_classes, global_pool", [(0, "token"), (10, "token"), (0, "")])
def test_attention_head_options(num_classes, global_pool):
    check_live_parity("resnet50_clip", (3, 64, 64), num_classes=num_classes, global_pool=global_pool)


def test_attention_head_errors_and_reset():
    with pytest.raises(ValueError, match="'token' or ''"):
        visionzoo.create_model("resnet50_clip", global_pool="avg")
    ours, theirs = live_pair("resnet50_clip")
    ours.reset_classifier(7)
    theirs.reset_classifier(7)
    ours.head.proj.load_state_dict(theirs.head.proj.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert_close_scaled("reset", ours(x), theirs(x))
    assert ours.get_classifier().out_features == 7 and ours.head_hidden_size == 2048


@pytest.mark.parametrize("out_indices", [(0, 1, 2, 3, 4), (0,)])
def test_features_only_matches_timm_intermediates(out_indices):
    full_ours, theirs = live_pair("resnet50_clip")
    ours = visionzoo.create_model("resnet50_clip", features_only=True, out_indices=out_indices).eval()
    kept = ours.model.state_dict()
    ours.model.load_state_dict({k: v for k, v in full_ours.state_dict().items() if k in kept}, strict=True)
    info = timm.create_model("resnet50_clip", features_only=True, out_indices=out_indices).feature_info
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
    ours, theirs = live_pair("resnet50_clip_gap")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        final_o, maps_o = ours.forward_intermediates(x, indices=[0, 2, -1])
        final_t, maps_t = theirs.forward_intermediates(x, indices=[0, 2, -1])
    assert_close_scaled("final", final_o, final_t)
    for a, b in zip(maps_o, maps_t, strict=True):
        assert_close_scaled("map", a, b)
