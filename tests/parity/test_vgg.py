"""VGG against timm 1.0.31 (the oracle)."""

from __future__ import annotations

import pytest
import torch

import visionzoo
from visionzoo.models.vgg import VARIANTS, checkpoint_filter

from .classic_checks import (
    check_features_only,
    check_grad_checkpointing,
    check_group_matcher_as_timm,
    check_intermediates,
    check_prune,
    check_reset_classifier,
)
from .harness import check_parity

# 32x32 runs every layer (the last map is 1x1 and is pooled up to the 7x7 the MLP's first conv takes)
SIZE = (3, 32, 32)
# Building VGG's 7x7x512 -> 4096 first MLP conv (103M weights) dominates the test time; all but one test
# narrow it to 64 channels (timm's own mlp_ratio option), which keeps the layer and its layout.
NARROW = dict(mlp_ratio=1 / 64)


@pytest.mark.parametrize("arch", list(VARIANTS))
def test_parity(arch):
    check_parity(arch, input_size=SIZE, batch_size=1, **NARROW)


def test_parity_full_width():
    check_parity("vgg11", input_size=SIZE, batch_size=1)


def test_parity_at_full_map_size():
    # 224x224 gives a 7x7 last map: the MLP's 7x7 conv then runs without pooling up, as on ImageNet
    check_parity("vgg11_bn", input_size=(3, 224, 224), batch_size=1, **NARROW)


@pytest.mark.parametrize("num_classes, global_pool", [(0, "avg"), (10, "catavgmax"), (0, "")])
def test_head_options(num_classes, global_pool):
    check_parity("vgg11", input_size=SIZE, num_classes=num_classes, global_pool=global_pool, **NARROW)


def test_in_chans_and_dropout():
    check_parity("vgg11_bn", input_size=(1, 32, 32), in_chans=1, drop_rate=0.3, **NARROW)


@pytest.mark.parametrize("out_indices", [None, (2, 4)])
def test_features_only(out_indices):
    check_features_only("vgg11_bn", (3, 64, 64), out_indices, **NARROW)


def test_forward_intermediates():
    check_intermediates("vgg11_bn", (3, 64, 64), **NARROW)


def test_prune():
    check_prune("vgg11", (3, 64, 64), [1, 3], **NARROW)


def test_reset_classifier():
    check_reset_classifier("vgg11", SIZE, **NARROW)


def test_group_matcher():
    check_group_matcher_as_timm("vgg11_bn", **NARROW)


def test_grad_checkpointing():
    check_grad_checkpointing("vgg11_bn", SIZE, num_classes=5, **NARROW)


def test_pre_logits_width():
    model = visionzoo.create_model("vgg11", num_classes=0, **NARROW).eval()
    with torch.no_grad():
        assert model(torch.randn(1, *SIZE)).shape == (1, 4096)
    assert model.num_features == 512 and model.head_hidden_size == 4096


def test_torchvision_checkpoint_layout():
    """torchvision's Linear classifier (classifier.0/3/6) converts to the conv MLP and head.fc."""
    model = visionzoo.create_model("vgg11", num_classes=10, **NARROW).eval()
    sd = model.state_dict()
    tv = {k: v for k, v in sd.items() if k.startswith("features.")}
    tv["classifier.0.weight"] = sd["pre_logits.fc1.weight"].flatten(1)  # (64, 512 * 7 * 7)
    tv["classifier.0.bias"] = sd["pre_logits.fc1.bias"]
    tv["classifier.3.weight"] = sd["pre_logits.fc2.weight"].flatten(1)
    tv["classifier.3.bias"] = sd["pre_logits.fc2.bias"]
    tv["classifier.6.weight"], tv["classifier.6.bias"] = sd["head.fc.weight"], sd["head.fc.bias"]
    fresh = visionzoo.create_model("vgg11", num_classes=10, **NARROW).eval()
    fresh.load_state_dict(checkpoint_filter(tv, fresh), strict=True)
    x = torch.randn(1, *SIZE)
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), model(x))


def test_bad_layout():
    with pytest.raises(ValueError, match="layout"):
        visionzoo.create_model("vgg11", layout=(64, 128))
