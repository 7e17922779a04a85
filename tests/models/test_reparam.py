"""The fold helpers of layers/reparam.py against the modules they replace."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from visionzoo.layers.conv_norm_act import ConvNormAct
from visionzoo.layers.reparam import conv_from_kernel, fuse_bn, fuse_conv_bn, identity_kernel, pad_kernel


def _live_bn(bn: nn.BatchNorm2d) -> nn.BatchNorm2d:
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.normal_()
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
    return bn.eval()


@pytest.mark.parametrize("groups, stride", [(1, 1), (4, 2), (8, 1)])
def test_fuse_conv_bn_equals_conv_then_bn(groups, stride):
    block = ConvNormAct(8, 16, 3, stride, groups=groups).eval()
    _live_bn(block.bn)
    w, b = block.fused_kernel_bias()
    x = torch.randn(2, 8, 11, 11)
    with torch.no_grad():
        torch.testing.assert_close(conv_from_kernel(block.conv, w, b)(x), block(x), atol=1e-5, rtol=1e-5)


def test_fuse_conv_bn_keeps_a_conv_bias():
    conv, bn = nn.Conv2d(3, 4, 1, bias=True), _live_bn(nn.BatchNorm2d(4))
    w, b = fuse_conv_bn(conv.weight, bn, conv.bias)
    x = torch.randn(1, 3, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(F.conv2d(x, w, b), bn(conv(x)), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("groups", [1, 2, 6])
def test_identity_kernel_and_bn_branch(groups):
    x = torch.randn(2, 6, 7, 7)
    torch.testing.assert_close(F.conv2d(x, identity_kernel(6, 3, groups), padding=1, groups=groups), x)
    bn = _live_bn(nn.BatchNorm2d(6))
    w, b = fuse_bn(bn, 3, groups)
    with torch.no_grad():
        torch.testing.assert_close(F.conv2d(x, w, b, padding=1, groups=groups), bn(x), atol=1e-5, rtol=1e-5)


def test_pad_kernel_centres_a_1x1():
    one = torch.randn(4, 3, 1, 1)
    x = torch.randn(1, 3, 8, 8)
    # a strided 1x1 (no padding) equals the padded 3x3 with padding 1 and the same stride
    torch.testing.assert_close(
        F.conv2d(x, pad_kernel(one, 3), stride=2, padding=1), F.conv2d(x, one, stride=2)
    )
    with pytest.raises(ValueError, match="cannot centre"):
        pad_kernel(torch.randn(1, 1, 3, 3), 4)


def test_bad_fold_inputs():
    with pytest.raises(ValueError, match="groups"):
        identity_kernel(6, 3, groups=4)
    with pytest.raises(ValueError, match="odd kernel"):
        identity_kernel(6, 2)
    with pytest.raises(ValueError, match="running statistics"):
        fuse_conv_bn(torch.randn(4, 3, 1, 1), nn.BatchNorm2d(4, track_running_stats=False))


def test_cli_export_and_benchmark_reparameterize(tmp_path):
    """`--reparameterize` folds before exporting and benchmarking; the folded export still verifies."""
    from visionzoo.cli import main

    out = tmp_path / "m.pt2"
    argv = ["export", "mobileone_s0", "--format", "torch-export", "-o", str(out), "--img-size", "32"]
    assert main([*argv, "--reparameterize", "--json"]) == 0 and out.is_file()
    assert (
        main(
            [
                "benchmark",
                "repvgg_a0",
                "--img-size",
                "32",
                "--batch-size",
                "1",
                "--num-iters",
                "1",
                "--num-warmup",
                "0",
                "--reparameterize",
                "--json",
            ]
        )
        == 0
    )


def test_reparameterize_is_public_and_folds_in_place():
    import visionzoo

    model = visionzoo.create_model("repvgg_a0").eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        before = model(x)
        folded = visionzoo.reparameterize(model)
        torch.testing.assert_close(folded(x), before, atol=1e-4, rtol=1e-4)
    assert folded is model
