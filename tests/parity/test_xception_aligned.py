"""Aligned Xception (and its pre-activation variants) against timm 1.0.31 (the oracle)."""

from __future__ import annotations

import pytest

import visionzoo
from visionzoo.models.xception_aligned import VARIANTS

from .classic_checks import (
    check_features_only,
    check_grad_checkpointing,
    check_group_matcher_as_timm,
    check_intermediates,
    check_prune,
    check_reset_classifier,
)
from .harness import build_pair, check_parity

SIZE = (3, 64, 64)


@pytest.mark.parametrize("arch", list(VARIANTS))
def test_parity(arch):
    small = arch in ("xception41", "xception41p")
    check_parity(arch, input_size=SIZE if small else (3, 32, 32), batch_size=2 if small else 1)


@pytest.mark.parametrize("num_classes, global_pool", [(0, "avg"), (10, "catavgmax"), (0, "")])
def test_head_options(num_classes, global_pool):
    check_parity("xception41p", input_size=SIZE, num_classes=num_classes, global_pool=global_pool)


def test_in_chans_and_dropout():
    check_parity("xception41", input_size=(1, 64, 64), in_chans=1, drop_rate=0.2, drop_path_rate=0.1)


@pytest.mark.parametrize("arch", ["xception41", "xception41p"])
def test_output_stride(arch):
    check_parity(arch, input_size=SIZE, output_stride=8)
    check_intermediates(arch, SIZE, output_stride=16)


def test_drop_path_rates():
    ours, theirs = build_pair("xception41", drop_path_rate=0.2)
    rates = [m.drop_prob for m in ours.modules() if type(m).__name__ == "DropPath"]
    assert rates and rates == [m.drop_prob for m in theirs.modules() if type(m).__name__ == "DropPath"]


@pytest.mark.parametrize("arch, out_indices", [("xception41", None), ("xception41p", (0, 2))])
def test_features_only(arch, out_indices):
    check_features_only(arch, SIZE, out_indices)


@pytest.mark.parametrize("arch", ["xception41", "xception41p"])
def test_forward_intermediates(arch):
    check_intermediates(arch, SIZE)


@pytest.mark.parametrize("arch, indices", [("xception41", [1, 3]), ("xception41p", [2])])
def test_prune(arch, indices):
    check_prune(arch, SIZE, indices)


def test_reset_classifier():
    check_reset_classifier("xception41", SIZE)


def test_group_matcher():
    check_group_matcher_as_timm("xception41p")


@pytest.mark.parametrize("arch", ["xception41", "xception41p"])
def test_grad_checkpointing(arch):
    check_grad_checkpointing(arch, (3, 32, 32), num_classes=5)


def test_bad_output_stride():
    with pytest.raises(ValueError, match="output_stride"):
        visionzoo.create_model("xception41", output_stride=4)
