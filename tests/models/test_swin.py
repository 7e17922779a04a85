"""Swin Transformer v1 contract tests that need no oracle: shapes, intermediates, pruning, features_only,
gradient checkpointing, checkpoint conversion helpers, deprecated names and user errors.

A small configuration (width 32, 64x64 input, window 2, two blocks per stage) keeps every test cheap
while still exercising shifted windows in the first stages and clamped windows in the last.
"""

from __future__ import annotations

import re
import warnings

import pytest
import torch

import visionzoo
from tests.memory import saved_activation_bytes
from visionzoo.layers.relative_position import (
    relative_position_index,
    resize_relative_position_bias_table,
)
from visionzoo.models.swin_transformer import SwinTransformer, checkpoint_filter

TINY = "swin_tiny_patch4_window7_224"
SMALL = dict(img_size=64, window_size=2, embed_dim=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8))


def _small(**kwargs) -> SwinTransformer:
    return visionzoo.create_model(TINY, **{**SMALL, **kwargs}).eval()


@torch.no_grad()
def test_shapes_and_nhwc_features():
    model = _small(num_classes=7)
    x = torch.randn(2, 3, 64, 64)
    feats = model.forward_features(x)
    assert feats.shape == (2, 2, 2, 256)  # NHWC, like timm
    assert model.forward_head(feats, pre_logits=True).shape == (2, 256)
    assert model(x).shape == (2, 7)
    assert model.get_classifier().out_features == 7
    assert [f["num_chs"] for f in model.feature_info] == [32, 64, 128, 256]
    assert [f["reduction"] for f in model.feature_info] == [4, 8, 16, 32]
    assert [f["module"] for f in model.feature_info] == [f"layers.{i}" for i in range(4)]


@torch.no_grad()
def test_num_classes_zero_and_reset_classifier():
    model = _small(num_classes=0)
    x = torch.randn(1, 3, 64, 64)
    assert model(x).shape == (1, 256)
    model.reset_classifier(5, global_pool="catavgmax")
    assert model(x).shape == (1, 5)
    assert model.get_classifier().in_features == 2 * 256
    model.reset_classifier(0, global_pool="")
    assert model(x).shape == (1, 2, 2, 256)  # no pooling: the NHWC map
    with pytest.raises(ValueError, match="num_classes"):
        model.reset_classifier(-1)
    with pytest.raises(ValueError, match="global_pool"):
        model.reset_classifier(3, global_pool="token")
    assert model(x).shape == (1, 2, 2, 256) and model.num_classes == 0  # a failed reset changes nothing


@torch.no_grad()
def test_forward_intermediates_formats_and_indices():
    model = _small()
    x = torch.randn(1, 3, 64, 64)
    final, maps = model.forward_intermediates(x)
    assert [tuple(m.shape) for m in maps] == [(1, 32, 16, 16), (1, 64, 8, 8), (1, 128, 4, 4), (1, 256, 2, 2)]
    torch.testing.assert_close(final, model.forward_features(x))
    # the last raw stage output, normed, is what forward_features returns (as NHWC)
    normed = model.forward_intermediates(x, indices=[-1], norm=True, intermediates_only=True)[0]
    torch.testing.assert_close(normed.permute(0, 2, 3, 1), final)
    nhwc = model.forward_intermediates(x, indices=[0, -1], output_fmt="NHWC", intermediates_only=True)
    torch.testing.assert_close(nhwc[0], maps[0].permute(0, 2, 3, 1))
    torch.testing.assert_close(nhwc[1], maps[3].permute(0, 2, 3, 1))
    last_two = model.forward_intermediates(x, indices=2, intermediates_only=True)
    assert [m.shape[1] for m in last_two] == [128, 256]
    early = model.forward_intermediates(x, indices=[1], stop_early=True, intermediates_only=True)
    torch.testing.assert_close(early[0], maps[1])
    with pytest.raises(IndexError):
        model.forward_intermediates(x, indices=[4])
    with pytest.raises(IndexError):
        model.forward_intermediates(x, indices=[-5])
    with pytest.raises(ValueError, match="output_fmt"):
        model.forward_intermediates(x, output_fmt="NCL")


@torch.no_grad()
def test_prune_intermediate_layers():
    model = _small()
    x = torch.randn(1, 3, 64, 64)
    full = model.forward_intermediates(x, intermediates_only=True)
    assert model.prune_intermediate_layers([-3, 1], prune_norm=True) == [1]
    assert len(model.layers) == 2
    assert isinstance(model.norm, torch.nn.Identity) and isinstance(model.get_classifier(), torch.nn.Identity)
    torch.testing.assert_close(
        model.forward_intermediates(x, indices=[1], intermediates_only=True)[0], full[1]
    )


@torch.no_grad()
def test_features_only():
    fm = visionzoo.create_model(TINY, features_only=True, out_indices=(-3, -1), **SMALL).eval()
    assert fm.feature_info.channels() == [64, 256]
    assert fm.feature_info.reduction() == [8, 32]
    out = fm(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape) for o in out] == [(1, 64, 8, 8), (1, 256, 2, 2)]  # NCHW
    fm = visionzoo.create_model(TINY, features_only=True, out_indices=[0], output_fmt="NHWC", **SMALL).eval()
    assert len(fm.model.layers) == 1  # later stages pruned
    assert fm(torch.randn(1, 3, 64, 64))[0].shape == (1, 16, 16, 32)


def test_grad_checkpointing_same_output_less_memory():
    model = _small(
        num_classes=10, drop_path_rate=0.0
    )  # no stochastic depth: training forward is deterministic
    x = torch.randn(2, 3, 64, 64)
    model.train()
    ref = model(x)
    ref.sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    plain = saved_activation_bytes(model, x)
    model.zero_grad(set_to_none=True)
    model.set_grad_checkpointing(True)
    assert all(stage.grad_checkpointing for stage in model.layers)
    out = model(x)
    torch.testing.assert_close(out, ref)
    out.sum().backward()
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, grads[n], atol=1e-5, rtol=1e-4, msg=n)
    checkpointed = saved_activation_bytes(model, x)
    assert checkpointed < plain / 2, (checkpointed, plain)


def test_group_matcher_and_no_weight_decay():
    model = _small()
    names = [n for n, _ in model.named_parameters()]
    for coarse in (True, False):
        groups = model.group_matcher(coarse=coarse)
        block_res = (
            [groups["blocks"]] if isinstance(groups["blocks"], str) else [r for r, _ in groups["blocks"]]
        )
        unmatched = [
            n for n in names if not re.match(groups["stem"], n) and not any(re.match(r, n) for r in block_res)
        ]
        head = ["head.fc.weight", "head.fc.bias"]
        assert unmatched == (["norm.weight", "norm.bias", *head] if coarse else head)
    nwd = model.no_weight_decay()
    assert len(nwd) == 8 and all(n.endswith("attn.relative_position_bias_table") for n in nwd)
    assert nwd <= set(names)


def test_meta_build_has_real_buffers():
    with torch.device("meta"):
        model = visionzoo.create_model(TINY, **SMALL)
    buffers = dict(model.named_buffers())
    assert (
        "layers.0.blocks.1.attn_mask" in buffers
        and "layers.0.blocks.0.attn.relative_position_index" in buffers
    )
    assert all(b.device.type == "cpu" for b in buffers.values())
    assert model.patch_embed.proj.weight.is_meta


def test_deprecated_name_warns_and_uses_in22k_head():
    with warnings.catch_warnings(record=True) as caught, torch.device("meta"):
        warnings.simplefilter("always")
        model = visionzoo.create_model("swin_base_patch4_window7_224_in22k")
    dep = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert dep and "swin_base_patch4_window7_224.ms_in22k" in str(dep[0].message)
    assert model.num_classes == 21841 and model.get_classifier().out_features == 21841
    assert model.pretrained_cfg.tag == "ms_in22k"


def test_relative_position_index_brute_force():
    wh, ww = 2, 3
    coords = [(y, x) for y in range(wh) for x in range(ww)]
    offsets = sorted({(a[0] - b[0], a[1] - b[1]) for a in coords for b in coords})  # row-major over (dy, dx)
    expected = torch.tensor([[offsets.index((a[0] - b[0], a[1] - b[1])) for b in coords] for a in coords])
    assert len(offsets) == (2 * wh - 1) * (2 * ww - 1)
    assert torch.equal(relative_position_index((wh, ww)), expected)


def test_resize_bias_table():
    table = torch.randn(13 * 13, 3)
    assert resize_relative_position_bias_table(table, (7, 7)) is table
    out = resize_relative_position_bias_table(table, (8, 8))
    assert out.shape == (15 * 15, 3)
    # the centre offset (0, 0) keeps its value; a constant table stays constant
    torch.testing.assert_close(out[7 * 15 + 7], table[6 * 13 + 6])
    const = resize_relative_position_bias_table(torch.full((169, 2), 0.5), (5, 9))
    torch.testing.assert_close(const, torch.full((9 * 17, 2), 0.5))
    with pytest.raises(ValueError, match="window size"):
        resize_relative_position_bias_table(torch.randn(15 * 13, 3), (7, 7))
    with pytest.raises(ValueError, match="rows"):
        resize_relative_position_bias_table(torch.randn(169, 3), (7, 7), old_window=(6, 6))


def test_checkpoint_filter_converts_microsoft_layout():
    model = visionzoo.create_model(TINY, **SMALL)
    ours = model.state_dict()
    ms = {"layers.0.blocks.0.attn.relative_position_index": torch.zeros(4, 4, dtype=torch.long)}
    ms["layers.0.blocks.1.attn_mask"] = torch.zeros(64, 4, 4)
    for key, value in ours.items():
        if key.startswith("layers.1.downsample."):
            key = key.replace("layers.1.", "layers.0.")
        elif key.startswith("layers.2.downsample."):
            key = key.replace("layers.2.", "layers.1.")
        elif key.startswith("layers.3.downsample."):
            key = key.replace("layers.3.", "layers.2.")
        elif key.startswith("head.fc."):
            key = key.replace("head.fc.", "head.")
        ms[key] = value
    out = checkpoint_filter(ms, model)
    assert sorted(out) == sorted(ours)
    assert all(out[k] is ours[k] for k in ours)
    # a timm-layout checkpoint passes through unchanged
    same = checkpoint_filter(dict(ours), model)
    assert sorted(same) == sorted(ours) and all(same[k] is ours[k] for k in ours)


def test_window_size_checkpoint_resize_through_create_model(tmp_path):
    src = visionzoo.create_model(TINY, **SMALL)
    path = tmp_path / "w2.pth"
    torch.save(src.state_dict(), path)
    model = visionzoo.create_model(TINY, **{**SMALL, "window_size": 4}, checkpoint_path=path)
    table = model.state_dict()["layers.0.blocks.0.attn.relative_position_bias_table"]
    assert table.shape == (49, 1)
    torch.testing.assert_close(
        table[24], src.state_dict()["layers.0.blocks.0.attn.relative_position_bias_table"][4]
    )


def test_user_errors():
    model = _small()
    with pytest.raises(ValueError, match="img_size"):
        model(torch.randn(1, 3, 96, 96))
    with pytest.raises(ValueError, match="window_size"):
        SwinTransformer(window_size=0)
    with pytest.raises(ValueError, match="img_size"):
        SwinTransformer(img_size=(224, 224, 3))
    with pytest.raises(ValueError, match="divisible by patch_size"):
        SwinTransformer(img_size=222)
    with pytest.raises(ValueError, match="depths"):
        SwinTransformer(depths=(2, 2), num_heads=(3, 6, 12))
    with pytest.raises(ValueError, match="heads"):
        SwinTransformer(embed_dim=100, depths=(1,), num_heads=(3,))
    with pytest.raises(ValueError, match="global_pool"):
        visionzoo.create_model(TINY, global_pool="token", **SMALL)
    with pytest.raises(TypeError, match="window_sizes"):
        visionzoo.create_model(TINY, window_sizes=7)


def test_windowed_attention_training_path_equals_sdpa():
    """With gradients, the written-out window attention (mask broadcast over the batch) equals SDPA's."""
    from visionzoo.layers.window import windowed_attention

    torch.manual_seed(0)
    batch, nw, heads, n, hd = 2, 4, 3, 9, 8
    q, k, v = (torch.randn(batch * nw, heads, n, hd) for _ in range(3))
    bias = torch.randn(heads, n, n)
    mask = torch.zeros(nw, n, n).masked_fill(torch.rand(nw, n, n) > 0.7, -100.0)
    for m, scale in ((mask, None), (None, 1.0), (mask, 0.5)):
        with torch.no_grad():
            want = windowed_attention(q, k, v, bias, m, batch, scale=scale)
        qg = q.clone().requires_grad_()
        got = windowed_attention(qg, k, v, bias, m, batch, scale=scale)
        assert got.grad_fn is not None
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
        got.sum().backward()
        assert torch.isfinite(qg.grad).all()
