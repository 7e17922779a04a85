"""The architectures of timm's `efficientnet` module (EfficientNet, -Lite, -V2, -EdgeTPU, MobileNetV1/V2, MNASNet,
MixNet, TinyNet, FBNet-C, SPNASNet, ...) against timm (random weights, strict keys)."""

from __future__ import annotations

import pytest
import torch
import torch.fx

import visionzoo

from .effnet_checks import (
    SIZE,
    check_features_only,
    check_group_matcher,
    check_intermediates,
    check_parity_big,
    check_prune,
    check_training_features,
)
from .harness import check_parity
from .live_weights import check_live_parity

ARCHS = visionzoo.list_models(module="efficientnet")
# timm's `efficientnet` architectures left out, and why (see the family's report)
NOT_BUILT: dict[str, str] = {}  # every architecture of timm 1.0.31's module is built
# norm / attention / space-to-depth variants: compared with live (randomised) norm weights, since timm's
# init leaves GroupNorm / LayerNorm / EvoNorm at identity affines that would hide misplaced parameters
LIVE = (
    "efficientnet_b0_gn",
    "efficientnet_b0_g8_gn",
    "efficientnet_b0_g16_evos",
    "efficientnet_b3_gn",
    "efficientnet_b3_g8_gn",
    "test_efficientnet_gn",
    "test_efficientnet_ln",
    "test_efficientnet_evos",
    "gc_efficientnetv2_rw_t",
    "efficientnet_x_b3",
    "efficientnet_x_b5",
    "efficientnet_h_b5",
)
# the largest variants: built with cheap random weights (check_parity_big), batch 1, 32 px
HUGE = (
    "efficientnet_l2",
    "tf_efficientnet_l2",
    "efficientnetv2_xl",
    "tf_efficientnetv2_xl",
    "efficientnetv2_l",
    "tf_efficientnetv2_l",
    "efficientnet_b8",
    "tf_efficientnet_b8",
)
BIG = (
    "efficientnet_b5",
    "efficientnet_b6",
    "efficientnet_b7",
    "tf_efficientnet_b5",
    "tf_efficientnet_b6",
    "tf_efficientnet_b7",
    "tf_efficientnetv2_m",
    "efficientnetv2_m",
    "efficientnetv2_rw_m",
    "mixnet_xxl",
)
DETAILED = ("efficientnet_b0", "tf_efficientnet_lite0")


def test_every_variant_is_covered():
    import timm

    assert set(ARCHS) == set(timm.list_models(module="efficientnet")) - set(NOT_BUILT)


@pytest.mark.parametrize("arch", [a for a in ARCHS if a not in HUGE and a not in LIVE])
def test_parity(arch):
    check_parity(arch, input_size=(3, 32, 32) if arch in BIG else SIZE, batch_size=1 if arch in BIG else 2)


@pytest.mark.parametrize("arch", LIVE)
def test_parity_live_norms(arch):
    big = arch.endswith("b5")
    check_live_parity(arch, input_size=(3, 32, 32) if big else SIZE, batch_size=1 if big else 2)


@pytest.mark.parametrize("arch", HUGE)
def test_parity_huge(arch):
    check_parity_big(arch)


@pytest.mark.parametrize(
    "arch",
    [
        "tf_efficientnet_lite0",
        "tf_efficientnetv2_b0",
        "tf_mixnet_s",
        "tf_efficientnet_cc_b0_4e",
        "efficientnet_x_b3",
    ],
)
def test_parity_same_padding_odd_size(arch):
    # odd, non-square inputs exercise the asymmetric TF "SAME" padding of strided convs
    check_parity(arch, input_size=(3, 57, 70), batch_size=1)


@pytest.mark.parametrize("arch", DETAILED)
@pytest.mark.parametrize("kwargs", [dict(num_classes=0), dict(num_classes=10), dict(in_chans=1)])
def test_parity_options(arch, kwargs):
    check_parity(arch, input_size=(kwargs.get("in_chans", 3), *SIZE[1:]), batch_size=1, **kwargs)


@pytest.mark.parametrize(
    "kwargs", [dict(global_pool="max"), dict(global_pool="catavgmax"), dict(global_pool="", num_classes=0)]
)
def test_parity_global_pool(kwargs):
    check_parity("efficientnet_b0", input_size=SIZE, batch_size=1, **kwargs)


@pytest.mark.parametrize(
    "arch",
    [
        *DETAILED,
        "mixnet_s",
        "mobilenetv1_100",
        "mobilenet_edgetpu_v2_xs",
        "efficientnet_x_b3",
        "test_efficientnet_gn",
    ],
)
def test_features_only(arch):
    check_features_only(arch)


def test_features_only_out_indices():
    check_features_only("efficientnet_b0", out_indices=(1, 3))


@pytest.mark.parametrize("arch", DETAILED)
def test_forward_intermediates(arch):
    check_intermediates(arch)


def test_feature_info_matches_timm():
    import timm

    picks = (
        "efficientnet_b3",
        "tf_efficientnetv2_s",
        "mobilenetv2_120d",
        "efficientnet_lite4",
        "mobilenetv1_100",
    )
    for arch in (
        *picks,
        "efficientnet_es",
        "mixnet_m",
        "mobilenet_edgetpu_v2_l",
        "tinynet_e",
        "mnasnet_small",
        "efficientnet_x_b3",  # space-to-depth: the stem map, then none until the region ends
        "efficientnet_h_b5",
        "gc_efficientnetv2_rw_t",
    ):
        with torch.device("meta"):
            ours, theirs = visionzoo.create_model(arch), timm.create_model(arch)
        got = [(f["num_chs"], f["reduction"], f["module"]) for f in ours.feature_info]
        ref = [(f["num_chs"], f["reduction"], f["module"]) for f in theirs.feature_info]
        assert got == ref, arch
        assert [r for _, r, _ in got] == [2, 4, 8, 16, 32]


def test_drop_path_and_grad_checkpointing():
    check_training_features("efficientnet_b0")


def test_group_matcher():
    check_group_matcher("efficientnet_b0")


def test_prune_intermediate_layers():
    check_prune("efficientnet_b0")


def test_drop_rate_is_applied_in_training_only():
    model = visionzoo.create_model("efficientnet_lite0", drop_rate=0.5)
    x = torch.randn(2, *SIZE)
    model.train()
    feats = model.forward_features(x).detach()
    assert not torch.equal(model.forward_head(feats), model.forward_head(feats))
    model.eval()
    assert torch.equal(model.forward_head(feats), model.forward_head(feats))


def test_bad_arguments():
    with pytest.raises(ValueError, match="global_pool"):
        visionzoo.create_model("efficientnet_lite0", global_pool="median")
    with pytest.raises(ValueError, match="num_classes=0"):
        visionzoo.create_model("efficientnet_lite0", global_pool="")
    with pytest.raises(ValueError, match="padding"):
        visionzoo.create_model("efficientnet_lite0", pad_type="valid")
    with pytest.raises(ValueError, match="unknown stage table 'efficientnet_b9'"):
        visionzoo.create_model("efficientnet_lite0", stages="efficientnet_b9")
    with pytest.raises(ValueError, match="unknown activation 'mish'"):
        visionzoo.create_model("efficientnet_lite0", act_layer="mish")
    with pytest.raises(TypeError, match="channel_multiplier"):
        visionzoo.create_model("efficientnet_lite0", channel_multiplier=1.2)
    model = visionzoo.create_model("efficientnet_lite0")
    with pytest.raises(IndexError, match="out of range"):
        model.forward_intermediates(torch.randn(1, *SIZE), indices=[7])


def test_global_pool_empty_without_classifier_gives_maps():
    model = visionzoo.create_model("efficientnet_lite0", num_classes=0, global_pool="").eval()
    with torch.no_grad():
        out = model(torch.randn(1, *SIZE))
    assert out.shape == (1, 1280, 2, 2)


@pytest.mark.parametrize(
    "arch, size",
    [
        ("test_efficientnet_evos", 32),
        ("test_efficientnet_ln", 32),
        ("gc_efficientnetv2_rw_t", 32),
        ("efficientnet_x_b3", 33),
    ],
)
@torch.no_grad()
def test_new_layers_trace_with_fx(arch, size):
    # EvoNorm's rank check, LayerNorm's permutes, global-context pooling and the SAME-padded 2x2 space-to-depth
    # conv (odd size) must trace, and the traced graph must give the eager outputs
    model = visionzoo.create_model(arch).eval()
    traced = torch.fx.symbolic_trace(model)
    x = torch.randn(2, 3, size, size)
    torch.testing.assert_close(traced(x), model(x), rtol=0, atol=0)
    with pytest.raises(ValueError, match="4D"):
        torch.fx.symbolic_trace(model.bn1)(torch.randn(24, 8, 8))


def test_bad_norm_attention_and_space_to_depth_options():
    from visionzoo.models._efficient_backbone import build_stages
    from visionzoo.models._efficient_blocks import BlockDef

    with pytest.raises(ValueError, match="unknown norm layer 'batchnorm1d'"):
        visionzoo.create_model("test_efficientnet", norm_layer="batchnorm1d")
    with pytest.raises(ValueError, match="attn_layer must be one of"):
        visionzoo.create_model("test_efficientnet", attn_layer="cbam")
    with pytest.raises(ValueError, match="not a multiple of the norm group size 7"):
        visionzoo.create_model("test_efficientnet", norm_layer="groupnorm", norm_group_size=7)
    with pytest.raises(ValueError, match="groups of 7 channels"):
        visionzoo.create_model("efficientnet_b0", dw_group_size=7)
    with pytest.raises(ValueError, match="space-to-depth needs stride-1 'ds'/'ir' blocks, got 'er'"):
        build_stages([(BlockDef("er", 1, 3, 1, 16, 4, s2d=1),)], 8)
