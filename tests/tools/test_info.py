import json

import pytest

from visionzoo.tools.info import count_flops, model_info

from .conftest import assert_user_error
from .tiny_models import CNN_NAME, VIT_NAME, TinyCnn

# TinyCnn at 3x32x32: conv 3->8 (16x16 out), 8->16 (8x8), 16->32 (4x4), linear 32->10; biases not counted
TINY_CNN_MACS_32 = 8 * 3 * 9 * 16 * 16 + 16 * 8 * 9 * 8 * 8 + 32 * 16 * 9 * 4 * 4 + 32 * 10


def test_info_counts_params_and_macs():
    info = model_info(CNN_NAME)
    assert info["params"] == sum(p.numel() for p in TinyCnn().parameters())
    assert info["macs"] == TINY_CNN_MACS_32
    assert info["flops"] == 2 * TINY_CNN_MACS_32
    assert info["gmacs"] == pytest.approx(TINY_CNN_MACS_32 / 1e9)
    assert info["input_size"] == [3, 32, 32]
    assert [f["num_chs"] for f in info["feature_info"]] == [8, 16, 32]
    assert [f["reduction"] for f in info["feature_info"]] == [2, 4, 8]
    assert info["preprocessing"]["crop_pct"] == 0.875
    assert info["pretrained_tags"][0]["license"] == "mit"


def test_info_input_size_scales_conv_macs():
    # 64x64 has 4x the positions of 32x32 everywhere except the linear head
    info = model_info(CNN_NAME, input_size=(3, 64, 64))
    assert info["macs"] == 4 * (TINY_CNN_MACS_32 - 320) + 320


def test_info_vit_img_size_changes_pos_embed():
    small, large = model_info(VIT_NAME), model_info(VIT_NAME, input_size=(3, 64, 64))
    assert large["params"] - small["params"] == (64 - 16) * 16  # 48 more position embeddings of dim 16


def test_count_flops_on_meta_counts_attention():
    import torch
    from torch import nn

    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(1))  # puts the model (and so the input) on meta

        def forward(self, x):  # x [1, 3, 8, 16] as (B, heads, tokens, dim)
            x = x * self.scale
            return nn.functional.scaled_dot_product_attention(x, x, x)

    with torch.device("meta"):
        m = Attn()
    assert count_flops(m, (3, 8, 16)) == 4 * 3 * 8 * 8 * 16  # QK^T and AV: 2 * (2 * h * n * n * d)


def test_info_real_family():
    pytest.importorskip("visionzoo.models.resnet")
    info = model_info("resnet18")
    assert info["params"] == 11_689_512
    assert info["gmacs"] == pytest.approx(1.82, abs=0.01)  # published: 1.8 GMACs at 224
    assert [f["num_chs"] for f in info["feature_info"]] == [64, 64, 128, 256, 512]
    assert any(t["has_weights"] for t in info["pretrained_tags"])


def test_info_cli_json(cli):
    code, out, err = cli("info", CNN_NAME, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["macs"] == TINY_CNN_MACS_32 and data["params"] > 0


def test_info_cli_text(cli):
    code, out, _ = cli("info", CNN_NAME)
    assert code == 0
    assert "feature_info" in out and "pretrained tags" in out and "GMACs" in out


def test_info_cli_errors(cli):
    assert_user_error(cli("info", "no_such_model_xyz"), "unknown model")
    assert_user_error(cli("info", CNN_NAME, "--input-size", "3", "32"), "input size")
    assert_user_error(cli("info", CNN_NAME, "--input-size", "3", "-1", "32"), "input size")
    assert_user_error(cli("info", VIT_NAME + ".nope"), "unknown pretrained tag")


def test_info_debug_shows_traceback(cli):
    with pytest.raises(ValueError, match="unknown model"):
        cli("info", "no_such_model_xyz", "--debug")
