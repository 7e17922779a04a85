"""ResNet family behaviour without timm: shapes, options, errors, torchvision checkpoints, grad checkpointing."""

from __future__ import annotations

import copy
import re

import pytest
import torch
from torch import nn

import visionzoo
from tests.memory import saved_activation_bytes
from visionzoo.weights.errors import CheckpointMismatchError

X = (3, 64, 64)


def _blocks(model: nn.Module) -> list[nn.Module]:
    return [b for i in range(1, 5) for b in getattr(model, f"layer{i}")]


# -- shapes and heads ---------------------------------------------------------------------------------


def test_resnet50_num_classes_0_gives_pooled_features():
    model = visionzoo.create_model("resnet50", num_classes=0).eval()
    with torch.no_grad():
        out = model(torch.randn(2, *X))
    assert out.shape == (2, 2048)
    assert model.num_features == 2048
    assert isinstance(model.get_classifier(), nn.Identity)


@pytest.mark.parametrize(
    "arch, chans, width",
    [("resnet18", [64, 64, 128, 256, 512], 64), ("resnet26d", [64, 256, 512, 1024, 2048], 64)],
)
def test_feature_info_and_maps(arch, chans, width):
    model = visionzoo.create_model(arch).eval()
    assert [f["num_chs"] for f in model.feature_info] == chans
    assert [f["reduction"] for f in model.feature_info] == [2, 4, 8, 16, 32]
    assert [f["module"] for f in model.feature_info] == ["act1", "layer1", "layer2", "layer3", "layer4"]
    with torch.no_grad():
        maps = model.forward_intermediates(torch.randn(1, *X), intermediates_only=True)
    assert [tuple(m.shape) for m in maps] == [
        (1, c, width // r, width // r) for c, r in zip(chans, [2, 4, 8, 16, 32])
    ]


def test_group_widths():
    wide = visionzoo.create_model("wide_resnet50_2", num_classes=0)
    assert wide.layer1[0].conv2.weight.shape == (128, 128, 3, 3)
    rx = visionzoo.create_model("resnext50_32x4d", num_classes=0)
    assert rx.layer1[0].conv2.groups == 32
    assert rx.layer1[0].conv2.weight.shape == (128, 4, 3, 3)


def test_catavgmax_doubles_pre_logits_and_fc_input():
    model = visionzoo.create_model("resnet18", global_pool="catavgmax", num_classes=7).eval()
    assert model.fc.in_features == 1024
    with torch.no_grad():
        feats = model.forward_features(torch.randn(2, *X))
        assert model.forward_head(feats, pre_logits=True).shape == (2, 1024)
        assert model.forward_head(feats).shape == (2, 7)


def test_reset_classifier():
    model = visionzoo.create_model("resnet18").eval()
    model.reset_classifier(5, "max")
    assert model.num_classes == 5 and model.fc.out_features == 5
    with torch.no_grad():
        assert model(torch.randn(1, *X)).shape == (1, 5)
    model.reset_classifier(0)
    with torch.no_grad():
        assert model(torch.randn(1, *X)).shape == (1, 512)


def test_in_chans():
    model = visionzoo.create_model("resnet18d", in_chans=5, num_classes=3).eval()
    assert model.conv1[0].weight.shape[1] == 5
    with torch.no_grad():
        assert model(torch.randn(1, 5, 64, 64)).shape == (1, 3)


# -- init ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch, last", [("resnet18", "bn2"), ("resnet26", "bn3")])
def test_zero_init_last(arch, last):
    on = visionzoo.create_model(arch, num_classes=0)
    off = visionzoo.create_model(arch, num_classes=0, zero_init_last=False)
    for b_on, b_off in zip(_blocks(on), _blocks(off)):
        assert torch.count_nonzero(getattr(b_on, last).weight) == 0
        assert torch.all(getattr(b_off, last).weight == 1)
    assert torch.all(on.layer1[0].bn1.weight == 1)
    conv = off.layer1[0].conv1.weight  # (out, in, kh, kw)
    std = (2 / (conv.shape[0] * conv.shape[2] * conv.shape[3])) ** 0.5  # kaiming normal, fan-out, ReLU gain
    assert abs(conv.std().item() - std) < 0.1 * std


def test_drop_path_rates_rise_linearly():
    model = visionzoo.create_model("resnet18", drop_path_rate=0.2)
    rates = [getattr(b.drop_path, "drop_prob", 0.0) for b in _blocks(model)]
    assert rates == pytest.approx([0.2 * i / 7 for i in range(8)])


def test_drop_rate_only_in_training():
    model = visionzoo.create_model("resnet18", drop_rate=0.5, num_classes=0)
    x = torch.randn(2, *X)
    model.eval()
    with torch.no_grad():
        a, b = model(x), model(x)
    torch.testing.assert_close(a, b)
    model.train()
    with torch.no_grad():
        c = model(x)
    assert (c == 0).float().mean() > 0.2  # dropout zeroed roughly half of the pooled features


# -- intermediates and pruning ------------------------------------------------------------------------


@torch.no_grad()
def test_forward_intermediates_agree_with_forward_features():
    model = visionzoo.create_model("resnet26").eval()
    x = torch.randn(1, *X)
    final, maps = model.forward_intermediates(x, indices=[0, -1])
    torch.testing.assert_close(final, model.forward_features(x))
    torch.testing.assert_close(maps[-1], final)
    assert maps[0].shape == (1, 64, 32, 32)
    nhwc = model.forward_intermediates(x, indices=1, output_fmt="NHWC", intermediates_only=True)
    torch.testing.assert_close(nhwc[0], final.permute(0, 2, 3, 1))
    early, maps2 = model.forward_intermediates(x, indices=[2], stop_early=True)
    assert early.shape == (1, 512, 8, 8)
    torch.testing.assert_close(early, maps2[0])


@torch.no_grad()
def test_prune_intermediate_layers():
    model = visionzoo.create_model("resnet18").eval()
    x = torch.randn(1, *X)
    want = model.forward_intermediates(x, indices=[1, 2], intermediates_only=True)
    assert model.prune_intermediate_layers([1, -3]) == [1, 2]
    assert isinstance(model.layer3, nn.Identity) and isinstance(model.layer4, nn.Identity)
    assert isinstance(model.fc, nn.Identity)
    assert not any(k.startswith(("layer3", "layer4", "fc")) for k in model.state_dict())
    got = model.forward_intermediates(x, indices=[1, 2], intermediates_only=True)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)
    assert model(x).shape == (1, 128, 8, 8)  # the head is gone too: unpooled layer2 output


@torch.no_grad()
def test_features_only():
    fm = visionzoo.create_model("resnet34", features_only=True, out_indices=(1, -1)).eval()
    assert fm.feature_info.channels() == [64, 512]
    assert fm.feature_info.reduction() == [4, 32]
    maps = fm(torch.randn(2, *X))
    assert [tuple(m.shape) for m in maps] == [(2, 64, 16, 16), (2, 512, 2, 2)]


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        (dict(indices=[5]), IndexError),
        (dict(indices=[-6]), IndexError),
        (dict(indices=6), IndexError),
        (dict(output_fmt="NLC"), ValueError),
    ],
)
def test_forward_intermediates_bad_args(kwargs, exc):
    model = visionzoo.create_model("resnet18")
    with pytest.raises(exc):
        model.forward_intermediates(torch.randn(1, *X), **kwargs)


def test_group_matcher_covers_every_parameter():
    model = visionzoo.create_model("resnet18d")
    for coarse in (False, True):
        g = model.group_matcher(coarse)
        blocks = set()
        for name, _ in model.named_parameters():
            if name.startswith("fc."):
                continue
            m = re.match(g["blocks"], name)
            assert m or re.match(g["stem"], name), name
            if m:
                blocks.add(m.groups())
        assert len(blocks) == (4 if coarse else 8)
    assert re.match(model.group_matcher()["stem"], "conv1.3.weight")
    assert model.no_weight_decay() == set()


# -- gradient checkpointing ---------------------------------------------------------------------------


def test_grad_checkpointing_same_outputs_less_memory():
    torch.manual_seed(0)
    plain = visionzoo.create_model("resnet18", num_classes=10, zero_init_last=False)
    ckpt = copy.deepcopy(plain)
    ckpt.set_grad_checkpointing(True)
    x = torch.randn(2, *X)
    plain.train(), ckpt.train()
    out_p, out_c = plain(x), ckpt(x)
    torch.testing.assert_close(out_c, out_p, atol=0, rtol=0)
    out_p.square().sum().backward()
    out_c.square().sum().backward()
    for (name, p), (_, q) in zip(plain.named_parameters(), ckpt.named_parameters()):
        torch.testing.assert_close(q.grad, p.grad, atol=1e-5, rtol=1e-4, msg=name)
    plain.zero_grad(), ckpt.zero_grad()
    full = saved_activation_bytes(plain, x)
    saved = saved_activation_bytes(ckpt, x)
    assert saved < 0.5 * full, (saved, full)


# -- errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(block="dense"), "block must be one of"),
        (dict(layers=(2, 2, 2)), "layers must be four"),
        (dict(layers=(2, 0, 2, 2)), "layers must be four"),
        (dict(stem_type="tiered"), "stem_type must be one of"),
        (dict(cardinality=32, base_width=4), "BasicBlock supports only"),
        (dict(cardinality=0), "cardinality, base_width and stem_width"),
        (dict(global_pool="mean"), "global_pool must be one of"),
        (dict(global_pool=""), "needs num_classes=0"),
        (dict(attn="cbam"), "attn must be one of"),
        (dict(aa="max"), "aa must be one of"),
        (dict(norm="layernorm"), "norm must be one of"),
        (dict(attn="se", se_ratio=0.0), "se_ratio"),
        (dict(block_reduce_first=0), "reduce_first"),
        (dict(down_kernel_size=2), "down_kernel_size must be a positive odd int"),
        (dict(channels=(64, 128, 256)), "channels must be four"),
        (dict(block=("basic",) * 3), "block must be one of"),
        (dict(block_widths=[(8, 8, 8)]), "block_widths needs one"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        visionzoo.create_model("resnet18", **kwargs)


def test_unknown_kwarg_rejected():
    with pytest.raises(TypeError, match="patch_size"):
        visionzoo.create_model("resnet18", patch_size=16)


def test_reset_classifier_bad_args():
    model = visionzoo.create_model("resnet18")
    with pytest.raises(ValueError, match="num_classes"):
        model.reset_classifier(-1)
    with pytest.raises(ValueError, match="global_pool"):
        model.reset_classifier(10, "sum")


# -- torchvision checkpoints --------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["resnet50", "resnext50_32x4d"])
def test_torchvision_checkpoint(tmp_path, arch):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(1)
    tv = getattr(torchvision.models, arch)().eval()
    with torch.no_grad():  # non-trivial BN statistics, so a mis-mapped buffer shows up
        for m in tv.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
    path = tmp_path / "tv.pth"
    torch.save(tv.state_dict(), path)
    ours = visionzoo.create_model(arch, checkpoint_path=path).eval()
    x = torch.randn(1, *X)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), tv(x), atol=1e-4, rtol=0)


def test_legacy_torchvision_checkpoint_without_bn_counters(tmp_path):
    torchvision = pytest.importorskip("torchvision")
    tv = torchvision.models.resnet18(num_classes=10).eval()
    sd = {f"module.{k}": v for k, v in tv.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "legacy.pth"
    torch.save({"state_dict": sd}, path)
    ours = visionzoo.create_model("resnet18", num_classes=10, checkpoint_path=path).eval()
    assert int(ours.bn1.num_batches_tracked) == 0
    x = torch.randn(1, *X)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), tv(x), atol=1e-4, rtol=0)


def test_checkpoint_of_other_depth_is_refused(tmp_path):
    path = tmp_path / "r18.pth"
    torch.save(visionzoo.create_model("resnet18").state_dict(), path)
    with pytest.raises(CheckpointMismatchError, match="shape mismatch"):
        visionzoo.create_model("resnet26", checkpoint_path=path)
