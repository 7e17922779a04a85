"""Swin Transformer v1 against timm (the oracle): logits, features, options, window geometry, checkpoints.

To keep the suite fast: every variant is compared at its default input size (the window geometry
depends on it), swin_tiny and swin_small at full depth, the others with two blocks per stage (width,
heads, window size, shifted and plain blocks are all exercised); options, geometries, intermediates and
checkpoint conversions use a narrow swin_tiny (width 32). Every variant's full parameter and buffer
shapes, window sizes and shifts are also compared with timm's on the meta device.
"""

from __future__ import annotations

import re

import pytest
import torch

import visionzoo
from tests.parity.harness import build_pair, check_parity

timm = pytest.importorskip("timm")
from timm.models import swin_transformer as timm_swin  # noqa: E402

ARCHS = [
    "swin_tiny_patch4_window7_224",
    "swin_small_patch4_window7_224",
    "swin_base_patch4_window7_224",
    "swin_large_patch4_window7_224",
    "swin_base_patch4_window12_384",
    "swin_large_patch4_window12_384",
    "swin_s3_tiny_224",
    "swin_s3_small_224",
    "swin_s3_base_224",
]
TINY = "swin_tiny_patch4_window7_224"
FULL_DEPTH = {"swin_small_patch4_window7_224"}
NARROW = dict(embed_dim=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8))
SMALL_INPUT = dict(img_size=64, window_size=2)  # maps 16, 8, 4, 2: shifted windows, then clamped ones


def test_every_table_arch_is_covered():
    assert sorted(visionzoo.list_models(module="swin_transformer")) == sorted(ARCHS)


def test_default_parity_full_depth():
    check_parity(TINY, batch_size=2)


@pytest.mark.parametrize("arch", ARCHS[1:])
def test_parity(arch):
    extra = {} if arch in FULL_DEPTH else dict(depths=(2, 2, 2, 2))
    check_parity(arch, batch_size=1, **extra)


@pytest.mark.parametrize("arch", [a for a in ARCHS[1:] if a not in FULL_DEPTH])
def test_parity_full_depth_half_size(arch):
    # every block of the full-depth model, at half the input size to keep it cheap
    half = visionzoo.get_pretrained_cfg(arch).input_size[-1] // 2
    check_parity(arch, input_size=(3, half, half), batch_size=1, img_size=half)


@pytest.mark.parametrize("arch", ARCHS)
def test_structure_matches_timm(arch):
    with torch.device("meta"):
        theirs = timm.create_model(arch)
        ours = visionzoo.create_model(arch)
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()
    }
    # non-persistent buffers: same geometry, and ours are real (CPU) tensors even when built on meta
    their_buffers = {k: tuple(v.shape) for k, v in theirs.named_buffers() if v is not None}
    our_buffers = {k: v for k, v in ours.named_buffers() if v is not None}
    assert {k: tuple(v.shape) for k, v in our_buffers.items()} == their_buffers
    assert not any(v.is_meta for v in our_buffers.values())
    for our_stage, their_stage in zip(ours.layers, theirs.layers):
        for ob, tb in zip(our_stage.blocks, their_stage.blocks):
            assert (ob.window_size, ob.shift_size) == (tuple(tb.window_size), tuple(tb.shift_size))
    assert ours.feature_info == theirs.feature_info
    assert ours.num_features == theirs.num_features
    assert ours.no_weight_decay() == theirs.no_weight_decay()


# -- options, on swin_tiny --------------------------------------------------------------------------

OPTIONS = [
    dict(num_classes=0),
    dict(num_classes=10),
    dict(global_pool=""),
    dict(global_pool="max"),
    dict(global_pool="avgmax"),
    dict(global_pool="catavgmax"),
    dict(global_pool="", num_classes=0),
    dict(in_chans=1),
    dict(drop_rate=0.2, drop_path_rate=0.3),
]


@pytest.mark.parametrize("kwargs", OPTIONS, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_options(kwargs):
    check_parity(
        TINY, input_size=(kwargs.get("in_chans", 3), 64, 64), batch_size=1, **NARROW, **SMALL_INPUT, **kwargs
    )


# Sizes whose maps don't divide into windows (padding), windows clamped to a small last stage,
# non-square inputs and windows, and a shift along one axis only.
GEOMETRIES = [
    dict(img_size=256),
    dict(img_size=192),
    dict(img_size=200),
    dict(img_size=(224, 256), window_size=8),
    dict(img_size=(64, 128), window_size=2),
    dict(img_size=(48, 96), window_size=(3, 4)),
]


@pytest.mark.parametrize("kwargs", GEOMETRIES, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_geometry(kwargs):
    size = kwargs["img_size"]
    size = (size, size) if isinstance(size, int) else size
    check_parity(TINY, input_size=(3, *size), batch_size=1, **NARROW, **kwargs)


@torch.no_grad()
def test_forward_intermediates_match_timm():
    ours, theirs = build_pair(TINY, **NARROW, **SMALL_INPUT)
    x = torch.randn(1, 3, 64, 64)
    for kwargs in (dict(), dict(norm=True), dict(indices=[-3, 0], norm=True), dict(indices=2)):
        final, maps = ours.forward_intermediates(x, **kwargs)
        t_final, t_maps = theirs.forward_intermediates(x, **kwargs)
        torch.testing.assert_close(final, t_final, atol=1e-4, rtol=0)
        assert len(maps) == len(t_maps)
        for a, b in zip(maps, t_maps):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=0)  # both NCHW
        nhwc = ours.forward_intermediates(x, output_fmt="NHWC", intermediates_only=True, **kwargs)
        for a, b in zip(nhwc, t_maps):
            torch.testing.assert_close(a, b.permute(0, 2, 3, 1), atol=1e-4, rtol=0)


@torch.no_grad()
def test_features_only_matches_timm():
    out_indices = (-4, -2, -1)
    kwargs = dict(features_only=True, out_indices=out_indices, **NARROW, **SMALL_INPUT)
    theirs = timm.create_model(TINY, **kwargs).eval()
    ours = visionzoo.create_model(TINY, **kwargs).eval()
    # timm's feature net names stages layers_N; after pruning ours keeps exactly the same tensors
    ours.model.load_state_dict({re.sub(r"^layers_", "layers.", k): v for k, v in theirs.state_dict().items()})
    assert ours.feature_info.channels() == theirs.feature_info.channels() == [32, 128, 256]
    assert ours.feature_info.reduction() == theirs.feature_info.reduction() == [4, 16, 32]
    x = torch.randn(1, 3, 64, 64)
    mine, ref = ours(x), theirs(x)
    assert len(mine) == len(ref) == 3
    for a, b in zip(mine, ref):
        torch.testing.assert_close(a, b.permute(0, 3, 1, 2), atol=1e-4, rtol=0)  # timm: NHWC, ours: NCHW


# -- checkpoints ------------------------------------------------------------------------------------


def _to_microsoft_layout(timm_model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """timm state dict -> the original Microsoft layout: patch merging at the end of the previous stage,
    a bare `head` linear, and the index / mask buffers saved along."""
    out = {}
    for key, value in timm_model.state_dict().items():
        merge = re.fullmatch(r"layers\.(\d+)\.downsample\.(.+)", key)
        if merge:
            key = f"layers.{int(merge.group(1)) - 1}.downsample.{merge.group(2)}"
        elif key.startswith("head.fc."):
            key = "head." + key[len("head.fc.") :]
        out[key] = value.clone()
    for key, value in timm_model.named_buffers():
        if value is not None:
            out[key] = value.clone()
    assert any(k.endswith("attn_mask") for k in out) and "layers.0.downsample.reduction.weight" in out
    return out


@torch.no_grad()
def test_microsoft_checkpoint_loads(tmp_path):
    theirs = timm.create_model(TINY, num_classes=10, **NARROW, **SMALL_INPUT).eval()
    path = tmp_path / "swin_ms.pth"
    torch.save({"model": _to_microsoft_layout(theirs)}, path)
    ours = visionzoo.create_model(TINY, num_classes=10, checkpoint_path=path, **NARROW, **SMALL_INPUT).eval()
    x = torch.randn(1, 3, 64, 64)
    torch.testing.assert_close(ours(x), theirs(x), atol=1e-4, rtol=0)


@pytest.mark.parametrize(
    "target", [dict(img_size=256, window_size=8), dict(img_size=192, window_size=6)], ids=["w7to8", "w7to6"]
)
@torch.no_grad()
def test_window_size_change_matches_timm(tmp_path, target):
    src = timm.create_model(TINY, **NARROW)
    sd = src.state_dict()
    path = tmp_path / "swin_w7.pth"
    torch.save(sd, path)
    theirs = timm.create_model(TINY, **NARROW, **target).eval()
    theirs.load_state_dict(timm_swin.checkpoint_filter_fn(dict(sd), theirs))
    ours = visionzoo.create_model(TINY, checkpoint_path=path, **NARROW, **target).eval()
    key = "layers.0.blocks.0.attn.relative_position_bias_table"
    assert ours.state_dict()[key].shape != sd[key].shape  # really resized
    torch.testing.assert_close(ours.state_dict()[key], theirs.state_dict()[key], atol=1e-5, rtol=0)
    x = torch.randn(1, 3, target["img_size"], target["img_size"])
    torch.testing.assert_close(ours(x), theirs(x), atol=1e-4, rtol=0)
