"""swinv2_cr (timm's swin_transformer_v2_cr) against timm: logits, features, options, checkpoints.

Every architecture runs with two blocks per stage at its default size; huge and giant at half their size
with one or two blocks per stage, and swinv2_cr_huge_224 with the six blocks that reach its periodic norm. Norms, biases and temperatures are
randomised first (timm starts the residual norms at 0, which would hide every block).
"""

from __future__ import annotations

import pytest
import torch

import visionzoo
from tests.memory import assert_checkpointing_keeps_gradients
from tests.parity.harness import _close, build_pair, check_parity
from visionzoo.models.swin_transformer_v2_cr import SwinTransformerV2Cr, checkpoint_filter

timm = pytest.importorskip("timm")

ARCHS = timm.list_models(module="swin_transformer_v2_cr")
TINY = "swinv2_cr_tiny_224"
NARROW = dict(embed_dim=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8))
SMALL_INPUT = dict(img_size=64, window_size=4)  # maps 16, 8, 4, 2: shifted windows, then clamped ones


def test_every_arch_is_covered():
    assert sorted(visionzoo.list_models(module="swin_transformer_v2_cr")) == sorted(ARCHS)
    assert len(ARCHS) == 16


def _randomise(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or name.endswith((".bias", "logit_scale")):
                p.normal_(0.5, 0.5)
            elif name.startswith("head.fc."):
                p.normal_()  # timm starts the classifier at zero


@torch.no_grad()
def check_parity_randomised(arch: str, input_size=None, atol: float = 1e-4, **kwargs) -> None:
    ours, theirs = build_pair(arch, **kwargs)
    _randomise(theirs)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(1, *(input_size or (3, *theirs.patch_embed.img_size)))
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
    if "huge" in arch or "giant" in arch:
        half = timm.get_pretrained_cfg(arch).input_size[-1] // 2
        # one of them with the six blocks that reach the periodic norm; the rest stay cheap
        depths = (1, 1, 6, 1) if arch == "swinv2_cr_huge_224" else (1, 1, 2, 1)
        check_parity_randomised(arch, input_size=(3, half, half), img_size=half, depths=depths)
    else:
        check_parity_randomised(arch, depths=(2, 2, 2, 2))


@pytest.mark.parametrize("arch", ["swinv2_cr_tiny_ns_224", "swinv2_cr_giant_384"])
def test_structure_matches_timm(arch):
    with torch.device("meta"):
        theirs = timm.create_model(arch)
        ours = visionzoo.create_model(arch)
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()
    }
    for our_stage, their_stage in zip(ours.stages, theirs.stages):
        for ob, tb in zip(our_stage.blocks, their_stage.blocks):
            assert (ob.window_size, ob.shift_size) == (tuple(tb.window_size), tuple(tb.shift_size))
    assert ours.feature_info == theirs.feature_info


GEOMETRIES = [
    dict(img_size=192),
    dict(img_size=200, window_size=7),
    dict(img_size=(128, 192), window_size=(4, 8)),
]


@pytest.mark.parametrize("kwargs", GEOMETRIES, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_non_default_img_size(kwargs):
    size = kwargs["img_size"]
    size = (size, size) if isinstance(size, int) else size
    check_parity_randomised(TINY, input_size=(3, *size), **NARROW, **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(num_classes=0),
        dict(num_classes=10),
        dict(global_pool="max"),
        dict(in_chans=1),
        dict(drop_rate=0.2),
    ],
    ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()),
)
def test_options(kwargs):
    check_parity(
        TINY, input_size=(kwargs.get("in_chans", 3), 64, 64), batch_size=1, **NARROW, **SMALL_INPUT, **kwargs
    )


@torch.no_grad()
def test_tau_checkpoint_loads(tmp_path):
    """The original layout's temperature `tau` (logit_scale = ln(1 / tau)) and bare `head` linear."""
    theirs = timm.create_model(TINY, num_classes=10, **NARROW, **SMALL_INPUT).eval()
    _randomise(theirs)
    sd = {}
    for k, v in theirs.state_dict().items():
        if k.endswith("logit_scale"):
            k, v = k[: -len("logit_scale")] + "tau", torch.exp(-v)
        elif k.startswith("head.fc."):
            k = "head." + k[len("head.fc.") :]
        sd[k] = v
    path = tmp_path / "cr.pth"
    torch.save(sd, path)
    ours = visionzoo.create_model(TINY, num_classes=10, checkpoint_path=path, **NARROW, **SMALL_INPUT).eval()
    x = torch.randn(1, 3, 64, 64)
    torch.testing.assert_close(ours(x), theirs(x), atol=1e-4, rtol=0)
    timm_layout = theirs.state_dict()
    assert checkpoint_filter(timm_layout, ours).keys() == timm_layout.keys()


@torch.no_grad()
def test_forward_intermediates_and_features_only():
    ours, theirs = build_pair(TINY, **NARROW, **SMALL_INPUT)
    _randomise(theirs)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(1, 3, 64, 64)
    final, maps = ours.forward_intermediates(x, indices=[0, 2, 3])
    t_final, t_maps = theirs.forward_intermediates(x, indices=[0, 2, 3])
    torch.testing.assert_close(final, t_final, atol=1e-4, rtol=0)
    assert len(maps) == len(t_maps) == 3
    for a, b in zip(maps, t_maps):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    feats = visionzoo.create_model(
        TINY, features_only=True, out_indices=(1, 3), **NARROW, **SMALL_INPUT
    ).eval()
    feats.model.load_state_dict(ours.state_dict(), strict=False)
    assert feats.feature_info.channels() == [64, 256] and feats.feature_info.reduction() == [8, 32]
    t_feats = theirs.forward_intermediates(x, indices=[1, 3], intermediates_only=True)
    for a, b in zip(feats(x), t_feats, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


def test_grad_checkpointing_same_gradients():
    model = SwinTransformerV2Cr(img_size=32, num_classes=5, window_size=4, init_values=None, **NARROW)
    assert_checkpointing_keeps_gradients(model, torch.randn(2, 3, 32, 32))


def test_bad_arguments():
    with pytest.raises(ValueError, match="window_ratio"):
        SwinTransformerV2Cr(window_ratio=0)
    with pytest.raises(ValueError, match="depths"):
        SwinTransformerV2Cr(depths=(2, 2), num_heads=(1, 2, 4))
    with pytest.raises(ValueError, match="heads"):
        SwinTransformerV2Cr(embed_dim=30, num_heads=(4, 8, 16, 32))
