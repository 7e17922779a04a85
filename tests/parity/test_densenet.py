"""DenseNet against timm 1.0.31 (the oracle)."""

from __future__ import annotations

import pytest
import torch

import visionzoo
from visionzoo.models.densenet import VARIANTS, checkpoint_filter

from .classic_checks import (
    check_features_only,
    check_grad_checkpointing,
    check_group_matcher,
    check_group_matcher_as_timm,
    check_intermediates,
    check_prune,
    check_reset_classifier,
)
from .harness import check_parity

SIZE = (3, 64, 64)


@pytest.mark.parametrize("arch", list(VARIANTS))
def test_parity(arch):
    # 32x32 runs every layer (the last block sees 1x1 maps); the options below use 64x64
    small = arch in ("densenet121", "densenetblur121d")
    check_parity(arch, input_size=SIZE if small else (3, 32, 32), batch_size=2 if small else 1)


@pytest.mark.parametrize("num_classes, global_pool", [(0, "avg"), (10, "max"), (10, "catavgmax"), (0, "")])
def test_head_options(num_classes, global_pool):
    check_parity("densenet121", input_size=SIZE, num_classes=num_classes, global_pool=global_pool)


def test_in_chans_and_dropout():
    check_parity("densenetblur121d", input_size=(1, 64, 64), in_chans=1, drop_rate=0.2, proj_drop_rate=0.1)


@pytest.mark.parametrize("arch, out_indices", [("densenet121", None), ("densenetblur121d", (1, 3))])
def test_features_only(arch, out_indices):
    check_features_only(arch, SIZE, out_indices)


def test_forward_intermediates():
    check_intermediates("densenet121", SIZE)


def test_prune():
    check_prune("densenetblur121d", SIZE, [0, 2])


def test_reset_classifier():
    check_reset_classifier("densenet121", SIZE)


def test_group_matcher():
    check_group_matcher_as_timm("densenet121")
    check_group_matcher("densenet121", ("classifier.", "features.norm5."))


def test_grad_checkpointing():
    check_grad_checkpointing("densenet121", (3, 32, 32), num_classes=5)


def test_torchvision_checkpoint_keys():
    """torchvision's `denselayerN.norm.1.weight` naming converts to timm's `norm1.weight`."""
    model = visionzoo.create_model("densenet121", num_classes=10)
    sd = model.state_dict()
    tv = {k.replace(".norm1.", ".norm.1.").replace(".conv2.", ".conv.2."): v for k, v in sd.items()}
    assert tv.keys() != sd.keys()
    assert checkpoint_filter(tv, model).keys() == sd.keys()
    fresh = visionzoo.create_model("densenet121", num_classes=10)
    fresh.load_state_dict(checkpoint_filter(tv, fresh), strict=True)
    torch.testing.assert_close(
        fresh.features.denseblock1.denselayer1.norm1.weight,
        tv["features.denseblock1.denselayer1.norm.1.weight"],
    )


def test_bad_options():
    with pytest.raises(ValueError, match="stem_type"):
        visionzoo.create_model("densenet121", stem_type="tiered")
    with pytest.raises(ValueError, match="global_pool=''"):
        visionzoo.create_model("densenet121", global_pool="")
    with pytest.raises(ValueError, match="block_config"):
        visionzoo.create_model("densenet121", block_config=())
