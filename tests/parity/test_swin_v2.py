"""Swin Transformer V2 against timm (the oracle): logits, features, options, window geometry, checkpoints.

Every architecture runs at its default input size (its windows depend on it) with two blocks per stage
(width, heads, windows, pretrained-window scaling, shifted and plain blocks are all exercised); swinv2_tiny
also runs at full depth. Norms, biases and temperatures are randomised first: at init they are ones and
zeros that would hide mistakes. Options and geometries use a narrow model (width 32). Every variant's full
parameter and buffer shapes, windows and shifts are compared with timm's on the meta device.
"""

from __future__ import annotations

import re

import pytest
import torch

import visionzoo
from tests.memory import assert_checkpointing_keeps_gradients
from tests.parity.harness import _close, build_pair, check_parity
from visionzoo.models.swin_transformer_v2 import SwinTransformerV2

timm = pytest.importorskip("timm")

ARCHS = timm.list_models(module="swin_transformer_v2")
TINY = "swinv2_tiny_window8_256"
SHORT = dict(depths=(2, 2, 2, 2))
NARROW = dict(embed_dim=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8))
SMALL_INPUT = dict(img_size=64, window_size=4)  # maps 16, 8, 4, 2: shifted windows, then clamped ones


def test_every_arch_is_covered():
    assert sorted(visionzoo.list_models(module="swin_transformer_v2")) == sorted(ARCHS)
    assert len(ARCHS) == 12


def _randomise(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or name.endswith(("_bias", ".bias", "logit_scale")):
                p.normal_(0.0, 0.5)


@torch.no_grad()
def check_parity_randomised(arch: str, input_size=None, atol: float = 1e-4, **kwargs) -> None:
    ours, theirs = build_pair(arch, **kwargs)
    _randomise(theirs)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    size = input_size or (3, *theirs.patch_embed.img_size)
    x = torch.randn(1, *size)
    f_ours, f_theirs = ours.forward_features(x), theirs.forward_features(x)
    _close(f"{arch} forward_features", f_ours, f_theirs, atol)
    _close(
        f"{arch} forward_head(pre_logits)",
        ours.forward_head(f_ours, pre_logits=True),
        theirs.forward_head(f_theirs, pre_logits=True),
        atol,
    )
    _close(f"{arch} forward", ours(x), theirs(x), atol)


@pytest.mark.parametrize("arch", ARCHS)
def test_parity(arch):
    # base and large: a shifted pair only in stage 2, which keeps the 384 px models cheap
    depths = SHORT if "tiny" in arch or "small" in arch else dict(depths=(1, 1, 2, 1))
    check_parity_randomised(arch, **depths)


def test_parity_full_depth():
    check_parity_randomised(TINY, input_size=(3, 128, 128), img_size=128)


@pytest.mark.parametrize("arch", [a for a in ARCHS if "to" in a])
def test_structure_matches_timm(arch):
    with torch.device("meta"):
        theirs = timm.create_model(arch)
        ours = visionzoo.create_model(arch)
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()
    }
    # timm keeps a zero key-bias buffer (ours is made in forward) and a leading 1 on the coordinate table
    their_buffers = {
        k: tuple(v.shape[1:] if k.endswith("relative_coords_table") else v.shape)
        for k, v in theirs.named_buffers()
        if v is not None and not k.endswith("k_bias")
    }
    our_buffers = {k: v for k, v in ours.named_buffers() if v is not None}
    assert {k: tuple(v.shape) for k, v in our_buffers.items()} == their_buffers
    assert not any(v.is_meta for v in our_buffers.values())
    for our_stage, their_stage in zip(ours.layers, theirs.layers):
        for ob, tb in zip(our_stage.blocks, their_stage.blocks):
            assert (ob.window_size, ob.shift_size) == (tuple(tb.window_size), tuple(tb.shift_size))
            assert ob.attn.pretrained_window == tuple(tb.attn.pretrained_window_size)
    assert ours.feature_info == theirs.feature_info
    assert ours.no_weight_decay() == theirs.no_weight_decay()


@torch.no_grad()
def test_position_coords_match_timm():
    """The log-spaced offsets the bias MLP reads, at a pretrained-window change (12 -> 16) and without."""
    ours, theirs = build_pair("swinv2_base_window12to16_192to256", **NARROW)
    for o, t in (
        (ours.layers[0].blocks[0].attn, theirs.layers[0].blocks[0].attn),
        (ours.layers[3].blocks[1].attn, theirs.layers[3].blocks[1].attn),
    ):
        torch.testing.assert_close(o.relative_coords_table, t.relative_coords_table[0], atol=1e-6, rtol=0)
        torch.testing.assert_close(o.relative_position_index, t.relative_position_index, atol=0, rtol=0)


# -- windows, sizes, checkpoints ----------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["swinv2_base_window12to16_192to256", "swinv2_large_window12to24_192to384"])
@torch.no_grad()
def test_pretrained_window_change_matches_timm(tmp_path, arch):
    """Window-12 (192 px) weights load unchanged into the larger-window model; outputs agree with timm's."""
    kw = dict(embed_dim=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8), num_classes=10)
    src = timm.create_model("swinv2_base_window12_192", **kw)
    _randomise(src)
    sd = src.state_dict()
    path = tmp_path / "w12.pth"
    torch.save(sd, path)
    theirs = timm.create_model(arch, **kw).eval()
    theirs.load_state_dict(sd)
    ours = visionzoo.create_model(arch, checkpoint_path=path, **kw).eval()
    size = theirs.patch_embed.img_size
    x = torch.randn(1, 3, *size)
    torch.testing.assert_close(ours(x), theirs(x), atol=1e-4, rtol=0)


GEOMETRIES = [
    dict(img_size=192),
    dict(img_size=200),  # maps that don't divide into windows: padding
    dict(img_size=(128, 192), window_size=(4, 8)),
    dict(img_size=96, window_size=(8, 8, 4, 2), pretrained_window_sizes=(4, 4, 4, 2)),
]


@pytest.mark.parametrize("kwargs", GEOMETRIES, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_non_default_img_size(kwargs):
    size = kwargs["img_size"]
    size = (size, size) if isinstance(size, int) else size
    check_parity_randomised(TINY, input_size=(3, *size), **NARROW, **kwargs)


OPTIONS = [
    dict(num_classes=0),
    dict(num_classes=10),
    dict(global_pool=""),
    dict(global_pool="max"),
    dict(global_pool="catavgmax"),
    dict(in_chans=1),
    dict(qkv_bias=False),
    dict(drop_rate=0.2, drop_path_rate=0.3),
]


@pytest.mark.parametrize("kwargs", OPTIONS, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_options(kwargs):
    check_parity(
        TINY, input_size=(kwargs.get("in_chans", 3), 64, 64), batch_size=1, **NARROW, **SMALL_INPUT, **kwargs
    )


def _to_microsoft_layout(timm_model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """timm layout -> Microsoft's: merging at the end of the previous stage, a bare `head`, buffers saved."""
    out = {}
    for key, value in timm_model.state_dict().items():
        if merge := re.fullmatch(r"layers\.(\d+)\.downsample\.(.+)", key):
            key = f"layers.{int(merge[1]) - 1}.downsample.{merge[2]}"
        elif key.startswith("head.fc."):
            key = "head." + key[len("head.fc.") :]
        out[key] = value.clone()
    for key, value in timm_model.named_buffers():
        if value is not None:
            out[key] = value.clone()
    assert "layers.0.downsample.reduction.weight" in out and any(
        k.endswith("relative_coords_table") for k in out
    )
    return out


@torch.no_grad()
def test_microsoft_checkpoint_loads(tmp_path):
    theirs = timm.create_model(TINY, num_classes=10, **NARROW, **SMALL_INPUT).eval()
    _randomise(theirs)
    path = tmp_path / "swinv2_ms.pth"
    torch.save({"model": _to_microsoft_layout(theirs)}, path)
    ours = visionzoo.create_model(TINY, num_classes=10, checkpoint_path=path, **NARROW, **SMALL_INPUT).eval()
    x = torch.randn(1, 3, 64, 64)
    torch.testing.assert_close(ours(x), theirs(x), atol=1e-4, rtol=0)


# -- features and training --------------------------------------------------------------------------


@torch.no_grad()
def test_forward_intermediates_and_features_only():
    ours, theirs = build_pair(TINY, **NARROW, **SMALL_INPUT)
    _randomise(theirs)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(1, 3, 64, 64)
    for kwargs in (dict(), dict(indices=[-3, 0], norm=True)):
        final, maps = ours.forward_intermediates(x, **kwargs)
        t_final, t_maps = theirs.forward_intermediates(x, **kwargs)
        torch.testing.assert_close(final, t_final, atol=1e-4, rtol=0)
        assert len(maps) == len(t_maps)
        for a, b in zip(maps, t_maps):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    feats = visionzoo.create_model(
        TINY, features_only=True, out_indices=(1, 3), **NARROW, **SMALL_INPUT
    ).eval()
    feats.model.load_state_dict(ours.state_dict(), strict=False)
    got = feats(x)
    assert feats.feature_info.channels() == [64, 256] and feats.feature_info.reduction() == [8, 32]
    t_feats = theirs.forward_intermediates(x, indices=[1, 3], intermediates_only=True)
    for a, b in zip(got, t_feats, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)  # NCHW, like timm's intermediates


def test_grad_checkpointing_same_gradients():
    model = SwinTransformerV2(img_size=32, num_classes=5, window_size=4, drop_path_rate=0.0, **NARROW)
    assert_checkpointing_keeps_gradients(model, torch.randn(2, 3, 32, 32))


def test_bad_arguments():
    with pytest.raises(ValueError, match="pretrained_window_sizes"):
        SwinTransformerV2(pretrained_window_sizes=(12, 12))
    with pytest.raises(ValueError, match="head_dim"):
        SwinTransformerV2(head_dim=16)
    with pytest.raises(ValueError, match="window_size"):
        SwinTransformerV2(window_size=(8, 8, 8))
