"""Xception (timm's `legacy_xception`) against timm 1.0.31 (the oracle)."""

from __future__ import annotations

import pytest
import torch

from .classic_checks import (
    check_features_only,
    check_grad_checkpointing,
    check_group_matcher_as_timm,
    check_intermediates,
    check_prune,
    check_reset_classifier,
)
from .harness import _close, build_pair, check_parity

ARCH = "legacy_xception"
SIZE = (3, 64, 64)


def test_parity():
    check_parity(ARCH, input_size=SIZE, batch_size=2)


@pytest.mark.parametrize("num_classes, global_pool", [(0, "avg"), (10, "max"), (0, "")])
def test_head_options(num_classes, global_pool):
    check_parity(ARCH, input_size=(3, 32, 32), batch_size=1, num_classes=num_classes, global_pool=global_pool)


def test_in_chans_and_dropout():
    check_parity(ARCH, input_size=(1, 32, 32), batch_size=1, in_chans=1, drop_rate=0.2)


@pytest.mark.parametrize("out_indices", [None, (1, 3)])
def test_features_only(out_indices):
    check_features_only(ARCH, SIZE, out_indices)


def test_forward_intermediates():
    check_intermediates(ARCH, SIZE)


@torch.no_grad()
def test_stop_early_ends_on_the_tapped_map():
    ours, theirs = build_pair(ARCH)
    x = torch.randn(1, *SIZE)
    final, maps = ours.forward_intermediates(x, indices=[2], stop_early=True)
    ref_final, ref_maps = theirs.forward_intermediates(x, indices=[2], stop_early=True)
    _close("stop_early final", final, ref_final, 1e-4)
    _close("stop_early map", maps[0], ref_maps[0], 1e-4)


@pytest.mark.parametrize("indices", [[1, 3], [0], [4]])
def test_prune(indices):
    check_prune(ARCH, SIZE, indices)


def test_reset_classifier():
    check_reset_classifier(ARCH, SIZE)


def test_group_matcher():
    check_group_matcher_as_timm(ARCH)


def test_grad_checkpointing():
    check_grad_checkpointing(ARCH, (3, 32, 32), num_classes=5)
