"""RepVGG and MobileOne against timm 1.0.31 (the oracle): parity with live BN weights, and folding."""

from __future__ import annotations

import re

import pytest
import timm
import torch
from timm.utils import reparameterize_model as timm_reparameterize

import visionzoo
from tests.memory import assert_checkpointing_keeps_gradients
from visionzoo.layers.reparam import reparameterize
from visionzoo.models.byobnet import VARIANTS, BlockSpec, ByobNet, MobileOneBlock, RepVggBlock

from .live_weights import assert_close_scaled, check_live_parity, live_pair

REP_ARCHS = [a for a in VARIANTS if a.startswith(("repvgg", "mobileone"))]


@pytest.mark.parametrize("arch", REP_ARCHS)
def test_parity(arch):
    check_live_parity(arch, input_size=(3, 32, 32), batch_size=1)


def test_parity_spatial():
    check_live_parity("repvgg_a0", input_size=(3, 64, 64), batch_size=2)
    check_live_parity("mobileone_s0", input_size=(3, 64, 64), batch_size=2)


# grouped convs (b1g4), SE (d2se, s4), several kxk branches (s0)
@pytest.mark.parametrize("arch", ["repvgg_a0", "repvgg_b1g4", "mobileone_s0", "mobileone_s4"])
def test_reparameterize_matches_unfolded_and_timm(arch):
    ours, theirs = live_pair(arch)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        unfolded = ours(x)
        ours.reparameterize()
        folded = ours(x)
        theirs = timm_reparameterize(theirs)
        timm_folded = theirs(x)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in ours.modules())
    assert_close_scaled(f"{arch} folded vs unfolded", folded, unfolded, 1e-4)
    assert_close_scaled(f"{arch} folded vs timm folded", folded, timm_folded, 1e-4)
    sd_ours = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    assert sd_ours == {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    ours.load_state_dict(theirs.state_dict(), strict=True)  # timm's folded checkpoints load too


def test_reparameterize_function_generic_and_idempotent():
    model = visionzoo.create_model("mobileone_s0").eval()
    copy = reparameterize(model, inplace=False)
    assert any(isinstance(m, MobileOneBlock) and m.reparam_conv is None for m in model.modules())
    assert all(m.reparam_conv is not None for m in copy.modules() if isinstance(m, MobileOneBlock))
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        once = copy(x)
        reparameterize(copy)  # already folded: nothing changes
        assert torch.equal(copy(x), once)
    # a plain container holding blocks is folded too (the function needs no ImageModel)
    block = torch.nn.Sequential(RepVggBlock(8, 8), RepVggBlock(8, 16, stride=2)).eval()
    y = torch.randn(1, 8, 9, 9)
    with torch.no_grad():
        ref = block(y)
        assert_close_scaled("sequential", reparameterize(block)(y), ref)
    with pytest.raises(TypeError, match="nn.Module"):
        reparameterize("repvgg_a0")


@pytest.mark.parametrize("out_indices", [(0, 1, 2, 3, 4), (1, 3), (0,)])
def test_features_only_matches_timm_intermediates(out_indices):
    full_ours, theirs = live_pair("repvgg_a0")
    ours = visionzoo.create_model("repvgg_a0", features_only=True, out_indices=out_indices).eval()
    kept = ours.model.state_dict()
    ours.model.load_state_dict({k: v for k, v in full_ours.state_dict().items() if k in kept}, strict=True)
    info = timm.create_model("repvgg_a0", features_only=True, out_indices=out_indices).feature_info
    assert ours.feature_info.channels() == info.channels()
    assert ours.feature_info.reduction() == info.reduction()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        f_ours = ours(x)
        f_theirs = theirs.forward_intermediates(x, indices=list(out_indices), intermediates_only=True)
    assert len(f_ours) == len(f_theirs) == len(out_indices)
    for a, b in zip(f_ours, f_theirs):
        assert_close_scaled("features", a, b)


def test_forward_intermediates_and_feature_info():
    ours, theirs = live_pair("mobileone_s0")
    assert ours.feature_info == [{k: v for k, v in f.items() if k != "stage"} for f in theirs.feature_info]
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        final_o, maps_o = ours.forward_intermediates(x, indices=[0, 2, -1])
        final_t, maps_t = theirs.forward_intermediates(x, indices=[0, 2, -1])
    assert_close_scaled("final", final_o, final_t)
    for a, b in zip(maps_o, maps_t, strict=True):
        assert_close_scaled("map", a, b)


@pytest.mark.parametrize(
    "num_classes, global_pool", [(0, "avg"), (0, ""), *[(10, p) for p in ["max", "avgmax", "catavgmax"]]]
)
def test_head_options(num_classes, global_pool):
    check_live_parity("repvgg_a0", (3, 32, 32), num_classes=num_classes, global_pool=global_pool)


def test_in_chans_and_dropout():
    check_live_parity("mobileone_s0", (1, 32, 32), in_chans=1, drop_rate=0.2, drop_path_rate=0.1)


def test_reset_classifier_and_errors():
    model = visionzoo.create_model("repvgg_a0")
    model.reset_classifier(7, "max")
    assert model.num_classes == 7 and model.get_classifier().out_features == 7
    with pytest.raises(ValueError, match="global_pool=''"):
        visionzoo.create_model("repvgg_a0", global_pool="", num_classes=10)
    with pytest.raises(ValueError, match="unknown block type"):
        ByobNet([[BlockSpec("dark", 8)]], stem=BlockSpec("rep", 8))
    with pytest.raises(ValueError, match="branches"):
        MobileOneBlock(8, 8, branches=0)


def test_grad_checkpointing_same_gradients():
    stages = [[BlockSpec("rep", 8, 2), BlockSpec("rep", 8)], [BlockSpec("one", 16, 2, branches=2)]]
    model = ByobNet(stages, stem=BlockSpec("rep", 8), num_classes=5)
    assert_checkpointing_keeps_gradients(model, torch.randn(2, 3, 32, 32))


def test_group_matcher_matches_timm():
    model = visionzoo.create_model("repvgg_a0")
    assert model.group_matcher() == timm.create_model("repvgg_a0").group_matcher()
    coarse = model.group_matcher(coarse=True)
    for name, _ in model.named_parameters():
        if not name.startswith("head."):
            assert re.match(coarse["stem"], name) or re.match(coarse["blocks"][0][0], name), name
