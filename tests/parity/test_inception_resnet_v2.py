"""Inception-ResNet-v2 against timm 1.0.31 (the oracle)."""

from __future__ import annotations

import re

import pytest

import visionzoo

from .classic_checks import (
    check_features_only,
    check_grad_checkpointing,
    check_group_matcher,
    check_intermediates,
    check_prune,
    check_reset_classifier,
)
from .harness import check_parity

ARCH = "inception_resnet_v2"
SIZE = (3, 75, 75)  # the smallest input the unpadded stem and reductions accept (the last map is 1x1)


def test_parity():
    check_parity(ARCH, input_size=(3, 107, 107), batch_size=2)


@pytest.mark.parametrize("num_classes, global_pool", [(0, "avg"), (10, "catavgmax"), (0, "")])
def test_head_options(num_classes, global_pool):
    check_parity(ARCH, input_size=SIZE, batch_size=1, num_classes=num_classes, global_pool=global_pool)


def test_in_chans_and_dropout():
    check_parity(ARCH, input_size=(1, 75, 75), batch_size=1, in_chans=1, drop_rate=0.2)


@pytest.mark.parametrize(
    "out_indices",
    [
        None,
        (
            1,
            3,
        ),
    ],
)
def test_features_only(out_indices):
    check_features_only(ARCH, SIZE, out_indices)


def test_forward_intermediates():
    check_intermediates(ARCH, SIZE)


def test_prune():
    check_prune(ARCH, SIZE, [2])


def test_reset_classifier():
    check_reset_classifier(ARCH, SIZE)


def test_group_matcher():
    check_group_matcher(ARCH, ("classif.",))
    gm = visionzoo.create_model(ARCH).group_matcher()
    assert re.match(gm["stem"], "conv2d_2b.conv.weight") and not re.match(gm["stem"], "conv2d_3b.conv.weight")


def test_grad_checkpointing():
    check_grad_checkpointing(ARCH, SIZE, num_classes=5)
