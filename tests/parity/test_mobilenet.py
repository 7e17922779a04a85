"""MobileNetV3 (large, small, TF ports) against timm (random weights, strict keys)."""

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
    assert set(ARCHS) == {
        "mobilenetv3_large_100",
        "mobilenetv3_small_100",
        "mobilenetv3_large_075",
        "mobilenetv3_small_075",
        "tf_mobilenetv3_large_100",
        "tf_mobilenetv3_small_100",
    }


@pytest.mark.parametrize("arch", ARCHS)
def test_parity(arch):
    check_parity(arch, input_size=SIZE)


def test_parity_same_padding_odd_size():
    check_parity("tf_mobilenetv3_small_100", input_size=(3, 57, 70), batch_size=1)


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


@pytest.mark.parametrize("arch", [DETAILED, "mobilenetv3_small_100"])
def test_features_only(arch):
    # the small model downsamples in its first stage, so its first map is the stem's
    check_features_only(arch)


def test_forward_intermediates():
    check_intermediates(DETAILED)


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


def test_drop_path_and_grad_checkpointing():
    check_training_features(DETAILED)


def test_group_matcher():
    check_group_matcher(DETAILED)


def test_prune_intermediate_layers():
    check_prune(DETAILED)


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
