"""`output_stride` (dilated later stages) in the families timm gives it, checked against timm; DropBlock."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import visionzoo
from visionzoo.layers.drop import DropBlock2d, drop_block_2d

timm = pytest.importorskip("timm")

SIZE = 64
# One representative per family whose timm version dilates. timm's MobileNetV3 classifier has no
# output_stride (only its features_only model), so that family is compared as features_only alone.
REPS = {
    "resnet18": True,
    "seresnext26t_32x4d": True,  # deep stem, average-pool shortcuts (a SAME-padded pool when dilated)
    "regnetx_002": True,
    "efficientnet_b0": True,
    "mixnet_s": True,  # mixed-kernel depthwise convs
    "mobilenetv4_conv_small": False,
    "repvgg_a0": True,
}


def _randomize_norms(model: nn.Module) -> None:
    """Non-trivial BN affine parameters, so zero-initialised residual branches contribute."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d) and m.weight is not None:
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)


def _pair(arch: str, **kwargs) -> tuple[nn.Module, nn.Module]:
    theirs = timm.create_model(arch, **kwargs).eval()
    _randomize_norms(theirs)
    ours = visionzoo.create_model(arch, **kwargs).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    return ours, theirs


@pytest.mark.parametrize("output_stride", [16, 8])
@pytest.mark.parametrize("arch", REPS)
@torch.no_grad()
def test_output_stride_matches_timm(arch, output_stride):
    x = torch.randn(1, 3, SIZE, SIZE)
    if REPS[arch]:
        ours, theirs = _pair(arch, output_stride=output_stride)
        f_ours = ours.forward_features(x)
        assert f_ours.shape[-1] == SIZE // output_stride
        torch.testing.assert_close(f_ours, theirs.forward_features(x), atol=1e-4, rtol=0)
        torch.testing.assert_close(ours(x), theirs(x), atol=1e-4, rtol=0)
    ours, theirs = _pair(arch, output_stride=output_stride, features_only=True)
    assert ours.feature_info.reduction() == theirs.feature_info.reduction()
    assert max(ours.feature_info.reduction()) == output_stride
    maps_ours, maps_theirs = ours(x), theirs(x)
    assert [m.shape for m in maps_ours] == [m.shape for m in maps_theirs]
    for a, b in zip(maps_ours, maps_theirs, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


@pytest.mark.parametrize(
    "arch",
    ["resnet18", "regnetx_002", "efficientnet_b0", "repvgg_a0", "convnext_atto", "resnetv2_50", "xception41"],
)
def test_bad_output_stride(arch):
    with pytest.raises(ValueError, match="output_stride must be one of"):
        visionzoo.create_model(arch, output_stride=4)
    with pytest.raises(TypeError, match="output_stride must be an int"):
        visionzoo.create_model(arch, output_stride="16")


@pytest.mark.parametrize(
    "arch, small",
    [
        ("densenet121", {}),
        ("hgnetv2_b0", {}),
        ("vgg11", dict(mlp_ratio=0.001)),
        ("inception_v4", dict(num_blocks=(1, 1, 1))),
        ("inception_resnet_v2", dict(num_repeats=(1, 1, 1))),
    ],
)
def test_families_without_dilation_refuse_other_strides(arch, small):
    """These families cannot dilate (timm accepts only 32, or has no output_stride): 32 is accepted, another
    int is a ValueError and a non-int a TypeError."""
    with pytest.raises(ValueError, match=r"output_stride must be one of \(32,\) \(this family"):
        visionzoo.create_model(arch, output_stride=16, **small)
    with pytest.raises(TypeError, match="output_stride must be an int"):
        visionzoo.create_model(arch, output_stride="32", **small)
    model = visionzoo.create_model(arch, output_stride=32, num_classes=0, **small)
    assert model.feature_info[-1]["reduction"] == 32


def test_drop_block_is_eval_identity_and_drops_blocks_in_training():
    torch.manual_seed(0)
    ours = visionzoo.create_model("resnet18", drop_block_rate=0.5).eval()
    _randomize_norms(ours)
    plain = visionzoo.create_model("resnet18").eval()
    plain.load_state_dict(ours.state_dict(), strict=True)  # DropBlock adds no state
    assert isinstance(ours.layer3[0].drop_block, DropBlock2d)
    assert isinstance(ours.layer2[0].drop_block, nn.Identity)  # the first two stages never drop
    x = torch.randn(8, 3, 160, 160)  # layer3 maps of 10 x 10, blocks of 5 x 5: ~4 blocks dropped
    with torch.no_grad():
        torch.testing.assert_close(ours(x[:2]), plain(x[:2]), atol=0, rtol=0)
    seen = []  # copies: the in-place ReLU after DropBlock changes its output
    hook = lambda m, i, o: seen.append((i[0].clone(), o.clone()))  # noqa: E731
    ours.layer3[0].drop_block.register_forward_hook(hook)
    ours.train()
    with torch.no_grad():
        ours(x)
    ((before, after),) = seen
    dropped = (after == 0) & (before != 0)
    assert dropped.any() and not dropped.all()
    # the same spatial blocks in every channel
    assert torch.equal(dropped.all(1), dropped.any(1))


def test_drop_block_2d_zeroes_whole_blocks_and_rescales():
    torch.manual_seed(0)
    x = torch.ones(4, 2, 16, 16)
    y = drop_block_2d(x, drop_prob=0.2, block_size=3)
    zero = (y == 0)[:, 0:1].float()  # (B, 1, H, W)
    assert 0 < zero.mean() < 0.6
    # every zero pixel lies in a fully zero 3x3 window
    full = nn.functional.avg_pool2d(zero, 3, stride=1) == 1  # windows that are all zero
    covered = nn.functional.max_pool2d(nn.functional.pad(full.float(), (2, 2, 2, 2)), 3, stride=1)
    assert torch.equal(covered.bool() | ~zero.bool(), torch.ones_like(covered, dtype=torch.bool))
    kept = y[y != 0]
    torch.testing.assert_close(kept, torch.full_like(kept, y.numel() / kept.numel()))
