"""Every architecture of timm's `mobilenetv3` module (MobileNetV3, LCNet, FBNetV3, MobileNetV4 conv, anti-aliased
and hybrid) against timm (random weights, strict keys)."""

from __future__ import annotations

import pytest
import torch

import visionzoo

from .effnet_checks import (
    SIZE,
    check_features_only,
    check_group_matcher,
    check_intermediates,
    check_prune,
    check_training_features,
)
from .harness import check_parity

ARCHS = visionzoo.list_models(module="mobilenetv3")
DETAILED = "mobilenetv3_large_100"


def test_every_variant_is_covered():
    import timm

    assert set(ARCHS) == set(timm.list_models(module="mobilenetv3"))


@pytest.mark.parametrize("arch", ARCHS)
def test_parity(arch):
    check_parity(arch, input_size=SIZE)


def test_parity_same_padding_odd_size():
    check_parity("tf_mobilenetv3_small_100", input_size=(3, 57, 70), batch_size=1)


@pytest.mark.parametrize("arch", ["mobilenetv4_hybrid_medium", "mobilenetv4_conv_blur_medium"])
def test_parity_v4_odd_size(arch):
    # odd sizes: the key/value downsampling of the attention blocks and the blur pool's padding
    check_parity(arch, input_size=(3, 71, 57), batch_size=1)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(num_classes=0),
        dict(num_classes=10),
        dict(in_chans=1),
        dict(global_pool="catavgmax"),
        dict(num_classes=0, global_pool=""),
    ],
)
def test_parity_options(kwargs):
    check_parity(DETAILED, input_size=(kwargs.get("in_chans", 3), *SIZE[1:]), batch_size=1, **kwargs)


@pytest.mark.parametrize(
    "arch",
    [DETAILED, "mobilenetv3_small_100", "mobilenetv4_conv_small", "mobilenetv4_hybrid_medium", "lcnet_050"],
)
def test_features_only(arch):
    # the small model downsamples in its first stage, so its first map is the stem's
    check_features_only(arch)


@pytest.mark.parametrize("arch", [DETAILED, "mobilenetv4_hybrid_medium"])
def test_forward_intermediates(arch):
    check_intermediates(arch)


def test_num_features_and_pre_logits_width_match_timm():
    import timm

    theirs = timm.create_model(DETAILED, num_classes=0)
    model = visionzoo.create_model(DETAILED, num_classes=0).eval()
    assert (model.num_features, model.head_hidden_size) == (theirs.num_features, theirs.head_hidden_size)
    x = torch.randn(1, *SIZE)
    with torch.no_grad():
        feats = model.forward_features(x)
        assert feats.shape == (1, model.num_features, 2, 2) == (1, 960, 2, 2)
        assert model(x).shape == (1, model.head_hidden_size) == (1, 1280)


@pytest.mark.parametrize("arch", [DETAILED, "mobilenetv4_hybrid_medium"])
def test_drop_path_and_grad_checkpointing(arch):
    check_training_features(arch)


@pytest.mark.parametrize("arch", [DETAILED, "mobilenetv4_hybrid_medium"])
def test_group_matcher(arch):
    check_group_matcher(arch)


@pytest.mark.parametrize("arch", [DETAILED, "mobilenetv4_conv_medium"])
def test_prune_intermediate_layers(arch):
    check_prune(arch)


def test_v4_head_has_norm_and_no_bias():
    # MobileNetV4's head conv is followed by a BN + act; pruning for features drops both
    model = visionzoo.create_model("mobilenetv4_conv_small")
    assert model.conv_head.bias is None and "norm_head.running_var" in model.state_dict()
    model.prune_intermediate_layers([0, 1])
    assert not any(k.startswith(("conv_head", "norm_head")) for k in model.state_dict())


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_classes=0"):
        visionzoo.create_model(DETAILED, global_pool="")
    model = visionzoo.create_model(DETAILED)
    with pytest.raises(ValueError, match="head conv"):
        model.reset_classifier(10, global_pool="catavgmax")
    with pytest.raises(ValueError, match="global_pool"):
        model.reset_classifier(10, global_pool="median")
    with pytest.raises(ValueError, match="unknown stage table"):
        visionzoo.create_model(DETAILED, stages="mobilenetv4")
    with pytest.raises(ValueError, match="must be one of 'avg', 'blur', 'blurpc'"):
        visionzoo.create_model("mobilenetv4_conv_small", aa_layer="max")
