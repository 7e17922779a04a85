"""EfficientNet, EfficientNet-Lite, EfficientNetV2 and MobileNetV2 against timm (random weights, strict keys)."""

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

ARCHS = visionzoo.list_models(module="efficientnet")
# big variants: one sample is enough, model construction dominates anyway
BIG = (
    "efficientnet_b5",
    "efficientnet_b6",
    "efficientnet_b7",
    "tf_efficientnet_b5",
    "tf_efficientnet_b6",
    "tf_efficientnet_b7",
    "tf_efficientnetv2_m",
    "tf_efficientnetv2_l",
)
DETAILED = ("efficientnet_b0", "tf_efficientnet_lite0")


def test_every_variant_is_covered():
    expected = {f"{p}{i}" for p in ("efficientnet_b", "tf_efficientnet_b") for i in range(8)}
    expected |= {f"{p}{i}" for p in ("efficientnet_lite", "tf_efficientnet_lite") for i in range(5)}
    expected |= {
        "efficientnetv2_rw_s",
        "tf_efficientnetv2_b0",
        "tf_efficientnetv2_s",
        "tf_efficientnetv2_m",
        "tf_efficientnetv2_l",
        "mobilenetv2_100",
        "mobilenetv2_110d",
        "mobilenetv2_120d",
        "mobilenetv2_140",
    }
    assert set(ARCHS) == expected


@pytest.mark.parametrize("arch", ARCHS)
def test_parity(arch):
    check_parity(arch, input_size=SIZE, batch_size=1 if arch in BIG else 2)


@pytest.mark.parametrize("arch", ["tf_efficientnet_lite0", "tf_efficientnetv2_b0"])
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


@pytest.mark.parametrize("arch", DETAILED)
def test_features_only(arch):
    check_features_only(arch)


def test_features_only_out_indices():
    check_features_only("efficientnet_b0", out_indices=(1, 3))


@pytest.mark.parametrize("arch", DETAILED)
def test_forward_intermediates(arch):
    check_intermediates(arch)


def test_feature_info_matches_timm():
    import timm

    for arch in ("efficientnet_b3", "tf_efficientnetv2_s", "mobilenetv2_120d", "efficientnet_lite4"):
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
