"""Inception v3 against timm 1.0.31 (the oracle)."""

from __future__ import annotations

import re

import pytest
import torch

import visionzoo
from visionzoo.models.inception_v3 import checkpoint_filter

from .classic_checks import (
    check_features_only,
    check_grad_checkpointing,
    check_group_matcher,
    check_intermediates,
    check_prune,
    check_reset_classifier,
)
from .harness import check_parity

SIZE = (3, 75, 75)  # the smallest input the unpadded stem and reductions accept (8x8 -> 1x1 at the end)


def test_parity():
    check_parity("inception_v3", input_size=(3, 107, 107), batch_size=2)


@pytest.mark.parametrize("num_classes, global_pool", [(0, "avg"), (10, "avgmax"), (0, "")])
def test_head_options(num_classes, global_pool):
    check_parity(
        "inception_v3", input_size=SIZE, batch_size=1, num_classes=num_classes, global_pool=global_pool
    )


def test_in_chans_and_dropout():
    check_parity("inception_v3", input_size=(1, 75, 75), batch_size=1, in_chans=1, drop_rate=0.2)


@pytest.mark.parametrize("out_indices", [None, (1, 3)])
def test_features_only(out_indices):
    check_features_only("inception_v3", SIZE, out_indices)


def test_forward_intermediates():
    check_intermediates("inception_v3", SIZE)


def test_prune():
    check_prune("inception_v3", SIZE, [2])


def test_reset_classifier():
    check_reset_classifier("inception_v3", SIZE)


def test_group_matcher():
    check_group_matcher("inception_v3", ("fc.",))
    gm = visionzoo.create_model("inception_v3").group_matcher()
    assert re.match(gm["stem"], "Conv2d_2b_3x3.conv.weight") and not re.match(
        gm["stem"], "Conv2d_3b_1x1.bn.bias"
    )


def test_grad_checkpointing():
    check_grad_checkpointing("inception_v3", SIZE, num_classes=5)


def test_aux_classifier_dropped(tmp_path):
    """torchvision's checkpoint carries the auxiliary classifier, which is not built: it is dropped on load."""
    model = visionzoo.create_model("inception_v3").eval()
    sd = dict(model.state_dict())
    sd["AuxLogits.conv0.conv.weight"] = torch.zeros(128, 768, 1, 1)
    sd["AuxLogits.fc.weight"] = torch.zeros(1000, 768)
    assert checkpoint_filter(sd, model).keys() == model.state_dict().keys()
    torch.save(sd, tmp_path / "inception_v3_google.pth")
    loaded = visionzoo.create_model(
        "inception_v3", checkpoint_path=tmp_path / "inception_v3_google.pth"
    ).eval()
    x = torch.randn(1, *SIZE)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))
