"""RegNet X / Y / Z / V against timm 1.0.31 (the oracle), and the width generator against the paper."""

from __future__ import annotations

import re

import pytest
import timm
import torch

import visionzoo
from tests.memory import assert_checkpointing_keeps_gradients
from tests.small_models import regnet_narrow
from visionzoo.models.regnet import VARIANTS, RegNet, regnet_stages

from .harness import build_pair, check_parity

# timm zero-initialises each block's last BN, which would make every residual branch output zero and
# the comparison blind to it; zero_init_last=False (on both sides) keeps the branches alive.
LIVE = dict(zero_init_last=False)

ARCHS = timm.list_models(module="regnet")  # all 36 architectures of timm 1.0.31's regnet module
SMALL = ["regnetx_002", "regnetx_004", "regnetx_008", "regnety_002", "regnety_004", "regnety_008"]
BIG = [a for a in ARCHS if a not in SMALL]


def test_every_timm_arch_and_tag_is_registered():
    assert sorted(visionzoo.list_models(module="regnet")) == sorted(ARCHS)
    ours = visionzoo.list_models(module="regnet", pretrained=True)
    assert sorted(ours) == sorted(timm.list_models(module="regnet", pretrained=True))


@pytest.mark.parametrize("arch", SMALL)
def test_parity(arch):
    check_parity(arch, input_size=(3, 64, 64), batch_size=2, **LIVE)


@pytest.mark.parametrize("arch", BIG)
def test_parity_big(arch):
    # 32x32 runs every layer (the last stage sees 1x1 maps); spatial code is covered by the 64x64 runs.
    # The widest models (SEER / SWAG sizes) run at 1/8 width: tests/small_models.py.
    live = {} if "zero_init_last" in VARIANTS[arch] else LIVE  # RegNetZ: already off, in timm too
    check_parity(arch, input_size=(3, 32, 32), batch_size=1, atol=2e-4, **live, **regnet_narrow(arch))


@pytest.mark.parametrize("arch", ARCHS)
def test_feature_info_and_keys_match_timm(arch):
    with torch.device("meta"):
        theirs = timm.create_model(arch)
        ours = visionzoo.create_model(arch)
    assert ours.feature_info == theirs.feature_info
    assert ours.num_features == theirs.num_features == ours.head_hidden_size
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()
    }


@pytest.mark.parametrize(
    "num_classes, global_pool", [(0, "avg"), *[(10, p) for p in ["avg", "max", "avgmax", "catavgmax"]]]
)
def test_head_options(num_classes, global_pool):
    check_parity(
        "regnety_002", input_size=(3, 64, 64), num_classes=num_classes, global_pool=global_pool, **LIVE
    )


def test_unpooled_features():
    check_parity("regnety_002", input_size=(3, 64, 64), num_classes=0, global_pool="", **LIVE)


def test_in_chans_and_dropout():
    check_parity("regnety_002", input_size=(1, 64, 64), in_chans=1, drop_rate=0.2, drop_path_rate=0.1, **LIVE)


def test_unpooled_classifier_rejected():
    with pytest.raises(ValueError, match="global_pool=''"):
        visionzoo.create_model("regnety_002", global_pool="", num_classes=10)
    with pytest.raises(ValueError, match="global_pool must be one of"):
        visionzoo.create_model("regnety_002", global_pool="median")


def test_bad_design_parameters():
    with pytest.raises(ValueError, match="3 stages, not 4"):
        RegNet(w0=8, wa=8.0, wm=2.0, depth=4, group_size=8)
    with pytest.raises(ValueError, match="downsample must be one of"):
        visionzoo.create_model("regnetz_005", downsample="max")
    with pytest.raises(ValueError, match="norm must be one of"):
        visionzoo.create_model("regnetx_002", norm="layernorm")
    with pytest.raises(ValueError, match="unknown activation"):
        visionzoo.create_model("regnetx_002", act="swishy")
    with pytest.raises(ValueError, match="only norm='batchnorm'"):
        visionzoo.create_model("regnetv_040", norm="groupnorm")
    with pytest.raises(ValueError, match="wm > 1"):
        regnet_stages(w0=24, wa=36.44, wm=1.0, depth=13, group_size=8)
    with pytest.raises(ValueError, match="depth >= 1"):
        RegNet(w0=24, wa=36.44, wm=2.49, depth=0, group_size=8)


# Stage widths and depths printed in the RegNet paper (Radosavovic et al. 2020, appendix figures).
PAPER = {
    "regnetx_002": ([24, 56, 152, 368], [1, 1, 4, 7]),
    "regnetx_004": ([32, 64, 160, 384], [1, 2, 7, 12]),
    "regnety_002": ([24, 56, 152, 368], [1, 1, 4, 7]),
    "regnety_004": ([48, 104, 208, 440], [1, 3, 6, 6]),
    "regnety_032": ([72, 216, 576, 1512], [2, 5, 13, 1]),
}


@pytest.mark.parametrize("arch", list(PAPER))
def test_generator_matches_paper(arch):
    row = VARIANTS[arch]
    specs = regnet_stages(row["w0"], row["wa"], row["wm"], row["depth"], row["group_size"])
    widths, depths = PAPER[arch]
    assert [s.width for s in specs] == widths
    assert [s.depth for s in specs] == depths


def test_reset_classifier_matches_timm():
    ours, theirs = build_pair("regnety_002", **LIVE)
    ours.reset_classifier(7, "max")
    theirs.reset_classifier(7, "max")
    ours.head.fc.load_state_dict(theirs.head.fc.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), atol=1e-4, rtol=0)
    assert ours.num_classes == 7 and ours.get_classifier().out_features == 7


@pytest.mark.parametrize("out_indices", [(0, 1, 2, 3, 4), (1, 3), (-2,)])
def test_features_only(out_indices):
    theirs = timm.create_model("regnety_002", features_only=True, out_indices=out_indices, **LIVE).eval()
    ours = visionzoo.create_model("regnety_002", features_only=True, out_indices=out_indices, **LIVE).eval()
    ours.model.load_state_dict(theirs.state_dict(), strict=True)  # same keys: stem, s1.. (pruned alike)
    assert ours.feature_info.channels() == theirs.feature_info.channels()
    assert ours.feature_info.reduction() == theirs.feature_info.reduction()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        f_ours, f_theirs = ours(x), theirs(x)
    assert len(f_ours) == len(f_theirs) == len(ours.feature_info)
    for a, b in zip(f_ours, f_theirs):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


def test_forward_intermediates_and_feature_info():
    ours, theirs = build_pair("regnety_002", **LIVE)
    assert ours.feature_info == theirs.feature_info
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        final_o, maps_o = ours.forward_intermediates(x, indices=[0, 2, -1])
        final_t, maps_t = theirs.forward_intermediates(x, indices=[0, 2, -1])
        nhwc = ours.forward_intermediates(x, indices=[2], output_fmt="NHWC", intermediates_only=True)
    torch.testing.assert_close(final_o, final_t, atol=1e-4, rtol=0)
    for a, b in zip(maps_o, maps_t, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    torch.testing.assert_close(nhwc[0], maps_t[1].permute(0, 2, 3, 1), atol=1e-4, rtol=0)
    with pytest.raises(IndexError):
        ours.forward_intermediates(x, indices=[5])


def test_grad_checkpointing_same_gradients():
    model = RegNet(w0=8, wa=8.0, wm=1.5, depth=5, group_size=8, se_ratio=0.25, num_classes=5, **LIVE)
    assert_checkpointing_keeps_gradients(model, torch.randn(2, 3, 32, 32))


def test_group_matcher_covers_body():
    model = visionzoo.create_model("regnety_002")
    fine, coarse = model.group_matcher(), model.group_matcher(coarse=True)
    assert fine == timm.create_model("regnety_002").group_matcher()
    for name, _ in model.named_parameters():
        if name.startswith("head."):
            continue
        assert re.match(coarse["stem"], name) or re.match(coarse["blocks"], name), name
        assert re.match(fine["stem"], name) or re.match(fine["blocks"], name), name


def test_loads_timm_checkpoint_file(tmp_path):
    """A timm state dict saved to disk loads through create_model(checkpoint_path=...) unchanged."""
    theirs = timm.create_model("regnetx_002", **LIVE).eval()
    path = tmp_path / "regnetx_002.pth"
    torch.save(theirs.state_dict(), path)
    ours = visionzoo.create_model("regnetx_002", checkpoint_path=path).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), atol=1e-4, rtol=0)


@pytest.mark.parametrize("arch", ["regnetz_005", "regnetv_040"])
@torch.no_grad()
def test_final_conv_intermediates_and_pruning_match_timm(arch):
    """RegNetZ's final 1x1 conv and RegNetV's final activation follow the last stage only."""
    import copy

    pair = build_pair(arch, **({} if "zero_init_last" in VARIANTS[arch] else LIVE))
    x = torch.randn(1, 3, 64, 64)
    for kw in (dict(indices=[1, 3]), dict(indices=[1, 2], stop_early=True), dict(indices=None)):
        (got_x, got), (want_x, want) = (m.forward_intermediates(x, **kw) for m in pair)
        torch.testing.assert_close(got_x, want_x, atol=1e-4, rtol=0)
        for g, w in zip(got, want, strict=True):
            torch.testing.assert_close(g, w, atol=1e-4, rtol=0)
    for indices, prune_head in (([1, 2], True), ([4], True), ([4], False)):
        ours, theirs = (copy.deepcopy(m) for m in pair)
        kept = ours.prune_intermediate_layers(indices, prune_head=prune_head)
        assert kept == list(theirs.prune_intermediate_layers(indices, prune_head=prune_head))
        assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
        assert ours.num_features == theirs.num_features
        torch.testing.assert_close(ours(x), theirs(x), atol=1e-4, rtol=0)


@pytest.mark.parametrize(
    "tv_name, arch", [("regnet_x_400mf", "regnetx_004_tv"), ("regnet_y_800mf", "regnety_008_tv")]
)
def test_torchvision_checkpoint(tmp_path, tv_name, arch):
    """torchvision's RegNet layout (the tv2_in1k originals) loads through the family's checkpoint filter."""
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    tv = getattr(torchvision.models, tv_name)().eval()
    with torch.no_grad():  # non-trivial BN statistics and weights, so a mis-mapped tensor shows up
        for m in tv.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
    path = tmp_path / "tv.pth"
    torch.save(tv.state_dict(), path)
    ours = visionzoo.create_model(arch, checkpoint_path=path).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), tv(x), atol=1e-4, rtol=0)
