"""ResNet-V2 / BiT against timm 1.0.31 (the oracle), with live (randomised) norm weights."""

from __future__ import annotations

import re

import pytest
import timm
import torch

import visionzoo
from tests.memory import assert_checkpointing_keeps_gradients
from visionzoo.models.resnetv2 import VARIANTS, ResNetV2

from .live_weights import assert_close_scaled, check_live_parity, live_pair, randomize_norms

# The wide BiT models (up to 936M parameters) differ from resnetv2_*x1_bit only in width_factor; their
# numerics are compared at width 1 through their own builders, and their full-size layouts key for key
# in test_tag_layouts.py.
WIDE = ["resnetv2_50x3_bit", "resnetv2_101x3_bit", "resnetv2_152x2_bit", "resnetv2_152x4_bit"]


@pytest.mark.parametrize("arch", [a for a in VARIANTS if a not in WIDE])
def test_parity(arch):
    check_live_parity(arch, input_size=(3, 32, 32), batch_size=1)


@pytest.mark.parametrize("arch", WIDE)
def test_parity_wide_bit_at_width_1(arch):
    from functools import partial

    from timm.layers import StdConv2d
    from timm.models.resnetv2 import ResNetV2 as TimmResNetV2

    layers = VARIANTS[arch]["layers"]
    theirs = TimmResNetV2(layers, stem_type="fixed", conv_layer=partial(StdConv2d, eps=1e-8))
    theirs = randomize_norms(theirs).eval()
    ours = visionzoo.create_model(arch, width_factor=1).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert_close_scaled(arch, ours(x), theirs(x))


def test_parity_spatial():
    # 64x64 so that every stage sees more than one pixel (the 32x32 runs end on 1x1 maps)
    check_live_parity("resnetv2_50x1_bit", input_size=(3, 64, 64), batch_size=2)
    check_live_parity("resnetv2_18d", input_size=(3, 64, 64), batch_size=2)


@pytest.mark.parametrize(
    "num_classes, global_pool", [(0, "avg"), (0, ""), *[(10, p) for p in ["max", "avgmax", "catavgmax"]]]
)
def test_head_options(num_classes, global_pool):
    check_live_parity("resnetv2_18", (3, 64, 64), num_classes=num_classes, global_pool=global_pool)


def test_in_chans_dropout_output_stride():
    check_live_parity("resnetv2_18d", (1, 64, 64), in_chans=1, drop_rate=0.2, drop_path_rate=0.1)
    check_live_parity("resnetv2_50d", (3, 64, 64), output_stride=8)
    check_live_parity("resnetv2_18", (3, 64, 64), output_stride=16)


def test_bad_arguments():
    with pytest.raises(ValueError, match="global_pool=''"):
        visionzoo.create_model("resnetv2_18", global_pool="", num_classes=10)
    with pytest.raises(ValueError, match="norm must be one of"):
        ResNetV2(norm="layernorm")
    with pytest.raises(ValueError, match="stem_type"):
        ResNetV2(stem_type="deep_same")
    with pytest.raises(ValueError, match="output_stride"):
        ResNetV2(output_stride=4)


def test_reset_classifier_matches_timm():
    ours, theirs = live_pair("resnetv2_18")
    ours.reset_classifier(7, "max")
    theirs.reset_classifier(7, "max")
    ours.head.fc.load_state_dict(theirs.head.fc.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert_close_scaled("reset", ours(x), theirs(x))
    assert ours.num_classes == 7 and ours.get_classifier().out_features == 7


@pytest.mark.parametrize("out_indices", [(0, 1, 2, 3, 4), (1, 3), (0,)])
def test_features_only_matches_timm_intermediates(out_indices):
    full_ours, theirs = live_pair("resnetv2_18d")
    ours = visionzoo.create_model("resnetv2_18d", features_only=True, out_indices=out_indices).eval()
    kept = ours.model.state_dict()
    ours.model.load_state_dict({k: v for k, v in full_ours.state_dict().items() if k in kept}, strict=True)
    ref_info = timm.create_model("resnetv2_18d", features_only=True, out_indices=out_indices).feature_info
    assert ours.feature_info.channels() == ref_info.channels()
    assert ours.feature_info.reduction() == ref_info.reduction()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        f_ours = ours(x)
        f_theirs = theirs.forward_intermediates(x, indices=list(out_indices), intermediates_only=True)
    assert len(f_ours) == len(f_theirs) == len(out_indices)
    for a, b in zip(f_ours, f_theirs):
        assert_close_scaled("features", a, b)


@pytest.mark.parametrize("norm", [False, True])
def test_forward_intermediates(norm):
    ours, theirs = live_pair("resnetv2_50x1_bit")
    assert ours.feature_info == [{k: v for k, v in f.items() if k != "stage"} for f in theirs.feature_info]
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        final_o, maps_o = ours.forward_intermediates(x, indices=[0, 2, -1], norm=norm)
        final_t, maps_t = theirs.forward_intermediates(x, indices=[0, 2, -1], norm=norm)
        early_o, _ = ours.forward_intermediates(x, indices=[1], stop_early=True)
        early_t, _ = theirs.forward_intermediates(x, indices=[1], stop_early=True)
    assert_close_scaled("final", final_o, final_t)
    assert_close_scaled("early", early_o, early_t)
    for a, b in zip(maps_o, maps_t, strict=True):
        assert_close_scaled("map", a, b)
    with pytest.raises(IndexError):
        ours.forward_intermediates(x, indices=[5])


def test_grad_checkpointing_same_gradients():
    model = ResNetV2(layers=(1, 2), channels=(32, 64), stem_chs=32, norm="batchnorm", num_classes=5)
    assert_checkpointing_keeps_gradients(model, torch.randn(2, 3, 32, 32))


def test_group_matcher_matches_timm():
    model = visionzoo.create_model("resnetv2_18")
    assert model.group_matcher() == timm.create_model("resnetv2_18").group_matcher()
    coarse = model.group_matcher(coarse=True)
    for name, _ in model.named_parameters():
        if not name.startswith(("head.", "norm.")):
            assert re.match(coarse["stem"], name) or re.match(coarse["blocks"], name), name


@pytest.mark.parametrize(
    "opts, last",
    [(dict(basic=True, bottle_ratio=1.0), "conv2"), (dict(), "conv3"), (dict(preact=False), "norm3")],
    ids=["preact_basic", "preact_bottleneck", "bottleneck"],
)
def test_zero_init_last_zeroes_the_last_layer_of_every_block(opts, last):
    def last_weights(zero_init_last: bool) -> list[torch.Tensor]:
        model = ResNetV2(
            layers=(1, 2),
            channels=(16, 32),
            stem_chs=8,
            norm="batchnorm",
            num_classes=0,
            zero_init_last=zero_init_last,
            **opts,
        )
        return [getattr(block, last).weight for stage in model.stages for block in stage.blocks]

    assert all(torch.count_nonzero(w) == 0 for w in last_weights(True))
    assert all(torch.count_nonzero(w) > 0 for w in last_weights(False))
