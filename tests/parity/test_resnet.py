"""ResNet family against timm (the oracle): logits, features, intermediates and feature_info."""

from __future__ import annotations

import copy

import pytest
import torch

import visionzoo
from tests.parity.harness import build_pair, check_parity
from tests.small_models import resnet_small
from visionzoo.models.resnet import VARIANTS

timm = pytest.importorskip("timm")

ARCHS = timm.list_models(module="resnet")  # all 81 architectures of timm 1.0.31's resnet module

# timm zero-initialises each block's last norm, which would make every residual branch output zero and
# the comparison blind to it (and to the SE / ECA after it); zero_init_last=False on both sides keeps them live.
LIVE = dict(zero_init_last=False)

# Compared at (1, 1, 2, 1) blocks per stage and half the stage widths (tests/small_models.py, passed to
# both models): every kind of block, shortcut and attention still runs, and the file stays fast. Full
# depth and width run in the option tests below (resnet18, resnet50d) and for the pruned models, whose
# widths are given per block. Full-size layouts (which fix the SE widths and ECA kernel sizes) are
# compared for every architecture below and for every tag in test_tag_layouts.py, on the meta device.


# 40 px: the layer3 and layer4 inputs are 5x5 and 3x3, so the ResNet-D shortcut's ceil-mode pool and the
# blur pool's reflect padding see odd sizes. The 2x2 average-pool anti-aliasing needs even sizes (in timm
# too): 64 px.
SIZE = (3, 40, 40)
EVEN_SIZE = (3, 64, 64)


def test_every_timm_arch_is_registered():
    assert sorted(visionzoo.list_models(module="resnet")) == sorted(ARCHS)


def test_every_timm_tag_is_registered():
    ours = visionzoo.list_models(module="resnet", pretrained=True)
    assert sorted(ours) == sorted(timm.list_models(module="resnet", pretrained=True))


@pytest.mark.parametrize("arch", ARCHS)
def test_parity(arch):
    size = EVEN_SIZE if VARIANTS[arch].get("aa") == "avg" else SIZE
    check_parity(arch, input_size=size, batch_size=1, **LIVE, **resnet_small(arch, half_width=True))


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


OPTIONS = [
    dict(num_classes=0),
    dict(num_classes=10),
    dict(global_pool="avg"),
    dict(global_pool="max"),
    dict(global_pool="avgmax"),
    dict(global_pool="catavgmax"),
    dict(in_chans=1),
    dict(num_classes=0, global_pool=""),
]


@pytest.mark.parametrize("arch", ["resnet18", "resnet50d"])
@pytest.mark.parametrize("kwargs", OPTIONS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_parity_options(arch, kwargs):
    check_parity(arch, input_size=(kwargs.get("in_chans", 3), *SIZE[1:]), batch_size=2, **kwargs)


@pytest.mark.parametrize(
    "arch, out_indices", [("resnet18", None), ("resnet18", (0, 2, -1)), ("resnet50d", (1, -2))]
)
@torch.no_grad()
def test_features_only_matches_timm(arch, out_indices):
    kw = {} if out_indices is None else {"out_indices": out_indices}
    theirs = timm.create_model(arch, features_only=True, **kw).eval()
    ours = visionzoo.create_model(arch, features_only=True, **kw).eval()
    ours.model.load_state_dict(theirs.state_dict(), strict=True)
    assert ours.feature_info.channels() == theirs.feature_info.channels()
    assert ours.feature_info.reduction() == theirs.feature_info.reduction()
    x = torch.randn(2, *SIZE)
    got, want = ours(x), theirs(x)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape  # NCHW
        torch.testing.assert_close(g, w, atol=1e-4, rtol=0)


@pytest.fixture(scope="module")
def pair_26d():
    return build_pair("resnet26d")


@pytest.fixture(scope="module")
def pair_18():
    return build_pair("resnet18")


@pytest.mark.parametrize("indices", [None, 2, [0, -1], [1, 3]])
@pytest.mark.parametrize("stop_early", [False, True])
@torch.no_grad()
def test_forward_intermediates_matches_timm(pair_26d, indices, stop_early):
    ours, theirs = pair_26d
    x = torch.randn(1, *SIZE)
    got_x, got = ours.forward_intermediates(x, indices=indices, stop_early=stop_early)
    want_x, want = theirs.forward_intermediates(x, indices=indices, stop_early=stop_early)
    torch.testing.assert_close(got_x, want_x, atol=1e-4, rtol=0)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, atol=1e-4, rtol=0)
    only = ours.forward_intermediates(x, indices=indices, intermediates_only=True)
    for g, w in zip(only, want):
        torch.testing.assert_close(g, w, atol=1e-4, rtol=0)


@pytest.mark.parametrize("indices", [1, [0, 2], [-3]])
@torch.no_grad()
def test_prune_intermediate_layers_matches_timm(pair_18, indices):
    ours, theirs = (copy.deepcopy(m) for m in pair_18)
    assert ours.prune_intermediate_layers(indices) == list(theirs.prune_intermediate_layers(indices))
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    x = torch.randn(1, *SIZE)
    got_x, got = ours.forward_intermediates(x, indices=indices)
    want_x, want = theirs.forward_intermediates(x, indices=indices)
    torch.testing.assert_close(got_x, want_x, atol=1e-4, rtol=0)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, atol=1e-4, rtol=0)
    torch.testing.assert_close(ours(x), theirs(x), atol=1e-4, rtol=0)


def test_group_matcher_matches_timm(pair_26d):
    from timm.models import group_parameters

    ours, theirs = pair_26d

    for coarse in (False, True):
        assert group_parameters(ours, ours.group_matcher(coarse)) == group_parameters(
            theirs, theirs.group_matcher(coarse)
        )
