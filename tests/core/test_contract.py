"""The model contract, checked generically over every registered architecture."""

from __future__ import annotations

import gc

import pytest
import torch

import visionzoo
from tests.small_models import regnet_narrow, resnet_small
from visionzoo import registry


def small_config(arch: str) -> tuple[dict, tuple[int, int, int]]:
    """create_model kwargs and an input size that exercise the whole model cheaply."""
    module = registry.get_arch_module(arch).rsplit(".", 1)[-1]
    if module in ("vision_transformer", "deit"):
        patch = registry._entry(arch).builder.variant_args["patch_size"]
        # depth 2 keeps the billion-parameter towers cheap; the block types are all still exercised
        return dict(img_size=patch * 4, depth=2), (3, patch * 4, patch * 4)
    if module == "vision_transformer_hybrid":  # the whole CNN stem, two blocks, a 2x2-4x4 token grid
        return dict(img_size=64, depth=2), (3, 64, 64)
    if module == "eva":  # one narrow block on a 2x2 patch grid (the family reaches 7B parameters)
        patch = int(arch.split("patch")[1].split("_")[0])
        kv = dict(num_kv_heads=None) if "sapiens2" in arch else {}  # per-block heads are set for full depth
        return dict(img_size=patch * 2, depth=1, embed_dim=64, num_heads=2, **kv), (3, patch * 2, patch * 2)
    if module in ("swin_transformer_v2", "swin_transformer_v2_cr"):
        # swinv2_cr huge and giant hold billions of weights at full depth: fewer blocks, every layer kind
        depths = dict(depths=(1, 1, 2, 1)) if "huge" in arch or "giant" in arch else {}
        return dict(img_size=64, window_size=4, **depths), (3, 64, 64)
    if module == "swin_transformer":
        if "window12" in arch:
            return dict(img_size=192, window_size=6), (3, 192, 192)
        return {}, (3, 224, 224)
    if module == "vgg":
        return dict(mlp_ratio=1 / 64), (3, 32, 32)  # a 64-wide first MLP conv instead of 103M weights
    if module in ("inception_v3", "inception_v4", "inception_resnet_v2"):
        return {}, (3, 75, 75)  # unpadded stems and reductions: the smallest size they accept
    if module == "resnet":
        return resnet_small(arch), (3, 32, 32)
    if module == "regnet":
        return regnet_narrow(arch), (3, 32, 32)
    return {}, (3, 32, 32)


# the library's own families (tests elsewhere register small models of their own)
ARCHS = [a for a in visionzoo.list_models() if registry.get_arch_module(a).startswith("visionzoo.models.")]


def _representatives() -> set[str]:
    """One architecture per (family module, model class), the first by name: these run with real numbers
    (at `small_config`), forward and backward, heads, intermediates.

    Every other architecture runs a lighter check on the meta device at its full input size (output and
    feature shapes, the cfg's stem and classifier names, the feature info), which costs no arithmetic;
    numeric agreement of every architecture with timm is the parity tests' job.
    """
    first: dict[tuple[str, str], str] = {}
    for arch in sorted(ARCHS):
        cls = registry.get_model_class(arch)
        first.setdefault((registry.get_arch_module(arch), getattr(cls, "__qualname__", arch)), arch)
    return set(first.values())


REPRESENTATIVES = _representatives()


def _same(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.is_meta or b.is_meta:
        assert a.shape == b.shape and a.dtype == b.dtype
    else:
        torch.testing.assert_close(a, b)


def _logits(out):
    # distilled models return (cls, dist) logits while training
    return sum(out) if isinstance(out, (tuple, list)) else out


def _check_names(model, cfg, arch: str) -> None:
    """The cfg's `first_conv` is the RGB stem and its `classifier` a layer of the model."""
    sd = model.state_dict()
    for name in (cfg.first_conv,) if isinstance(cfg.first_conv, str) else cfg.first_conv:
        w = sd.get(f"{name}.weight")
        assert w is not None and w.ndim == 4 and w.shape[1] == 3, f"cfg.first_conv {name!r} is not the stem"
    for name in (cfg.classifier,) if isinstance(cfg.classifier, str) else cfg.classifier:
        assert not cfg.num_classes or f"{name}.weight" in sd, (
            f"cfg.classifier {name!r} is not a layer of {arch}"
        )


@pytest.mark.parametrize("arch", sorted(set(ARCHS) - REPRESENTATIVES))
def test_contract_shapes_on_meta(arch):
    cfg = visionzoo.get_pretrained_cfg(arch)
    with torch.device("meta"):
        model = visionzoo.create_model(arch)
    model.to("meta").eval()  # index buffers are built on the CPU on purpose (they are not in state dicts)
    x = torch.randn(2, *cfg.input_size, device="meta")
    with torch.no_grad(), torch.device("meta"):
        feats = model.forward_features(x)
        _check_layout(feats, model.output_fmt, model.num_features)
        assert model.forward_head(feats, pre_logits=True).shape == (2, model.head_hidden_size)
        assert model.forward_head(feats).shape == (2, cfg.num_classes or model.head_hidden_size)
    _check_names(model, cfg, arch)
    assert model.feature_info and all(
        {"num_chs", "reduction", "module"} <= set(f) for f in model.feature_info
    )
    gm = model.group_matcher()
    assert "stem" in gm and "blocks" in gm


@pytest.mark.parametrize("arch", sorted(REPRESENTATIVES))
def test_contract(arch):
    cfg = visionzoo.get_pretrained_cfg(arch)
    kwargs, size = small_config(arch)
    model = visionzoo.create_model(arch, **kwargs)
    x = torch.randn(2, *size)

    # forward + backward: every parameter receives a gradient
    model.train()
    out = _logits(model(x))
    width = model.head_hidden_size  # pre-logits width: num_features, or the head's hidden width (MobileNetV3)
    assert out.shape == (2, cfg.num_classes or width)  # a headless cfg (num_classes=0) gives features
    out.float().pow(2).mean().backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad, f"parameters without gradient: {no_grad[:5]}"
    _check_names(model, cfg, arch)
    model.zero_grad(set_to_none=True)

    model.eval()
    with torch.no_grad():
        feats = model.forward_features(x)
        _check_layout(feats, model.output_fmt, model.num_features)
        pooled = model.forward_head(feats, pre_logits=True)
        assert pooled.shape == (2, width)
        _check_intermediates(model, x, feats)
        model.reset_classifier(10)
        assert model(x).shape == (2, 10)
        head_sd = model.state_dict()
        for name in (cfg.classifier,) if isinstance(cfg.classifier, str) else cfg.classifier:
            assert f"{name}.weight" in head_sd, f"cfg.classifier {name!r} is not a layer of {arch}"
        assert model.num_classes == 10
        heads = model.get_classifier()
        heads = heads if isinstance(heads, tuple) else (heads,)  # distilled models have two heads
        assert heads and all(h.out_features == 10 for h in heads)
        model.reset_classifier(0)
        assert model(x).shape == (2, width) == (2, model.head_hidden_size)
    assert model.pretrained_cfg is model.default_cfg is not None
    assert isinstance(model.no_weight_decay(), (set, frozenset))
    gm = model.group_matcher()
    assert "stem" in gm and "blocks" in gm
    assert model.feature_info and all(
        {"num_chs", "reduction", "module"} <= set(f) for f in model.feature_info
    )
    del model
    gc.collect()


def _check_layout(feats: torch.Tensor, output_fmt: str, channels: int) -> None:
    """`forward_features` output is laid out as the model's `output_fmt` says."""
    if output_fmt == "NCHW":
        assert feats.ndim == 4 and feats.shape[1] == channels, f"NCHW claimed, got {tuple(feats.shape)}"
    elif output_fmt == "NHWC":
        assert feats.ndim == 4 and feats.shape[-1] == channels, f"NHWC claimed, got {tuple(feats.shape)}"
    else:
        assert output_fmt == "NLC", f"unknown output_fmt {output_fmt!r}"
        assert feats.ndim == 3 and feats.shape[-1] == channels, f"NLC claimed, got {tuple(feats.shape)}"


def _check_intermediates(model, x: torch.Tensor, feats: torch.Tensor) -> None:
    """forward_intermediates takes `indices` as an int (the last n) and as a list (negatives from the end)."""
    info = model.feature_info
    n = len(info)
    final, every = model.forward_intermediates(x)
    _same(final, feats)  # the final output is forward_features'
    assert len(every) == n
    for m, f in zip(every, info):  # NCHW maps with the advertised channels and reduction
        # sizes that do not divide: floor (patches) or ceil (padded strided convs); unpadded stems
        # (Inception, legacy Xception) lose a few pixels more, so their reductions are nominal
        r = f["reduction"]
        assert m.shape[:2] == (2, f["num_chs"])
        assert 1 <= m.shape[2] <= -(-x.shape[2] // r) and 1 <= m.shape[3] <= -(-x.shape[3] // r)
    last_two = model.forward_intermediates(x, indices=min(2, n), intermediates_only=True)
    assert len(last_two) == min(2, n)
    for got, want in zip(last_two, every[-len(last_two) :]):
        _same(got, want)
    ends = model.forward_intermediates(x, indices=[0, -1], intermediates_only=True)
    assert len(ends) == (2 if n > 1 else 1)
    _same(ends[0], every[0])
    _same(ends[-1], every[-1])


@pytest.mark.parametrize("arch", ["resnet50", "vit_tiny_patch16_224", "convnext_atto", "efficientnet_b0"])
def test_num_classes_zero_gives_pooled_features(arch):
    kwargs, size = small_config(arch)
    model = visionzoo.create_model(arch, num_classes=0, **kwargs).eval()
    with torch.no_grad():
        out = model(torch.randn(2, *size))
    expected = {"resnet50": 2048, "vit_tiny_patch16_224": 192, "convnext_atto": 320, "efficientnet_b0": 1280}
    assert out.shape == (2, expected[arch])


# one small representative per family, for the checks against timm
FAMILY_REPS = {
    "resnet18": {},
    "regnetx_002": {},
    "convnext_atto": {},
    "efficientnet_b0": {},
    "mobilenetv3_small_100": {},
    "vit_tiny_patch16_224": dict(img_size=32, depth=2),
    "deit_tiny_distilled_patch16_224": dict(img_size=32, depth=2),
    "swin_tiny_patch4_window7_224": dict(img_size=64, window_size=4, depths=(1, 1, 1, 1)),
}

NON_NCHW = {
    "vit_tiny_patch16_224": "NLC",
    "deit_tiny_distilled_patch16_224": "NLC",
    "swin_tiny_patch4_window7_224": "NHWC",
}


@pytest.mark.parametrize("arch", FAMILY_REPS)
def test_head_hidden_size_and_output_fmt_match_timm(arch):
    import timm

    ours = visionzoo.create_model(arch, **FAMILY_REPS[arch])
    theirs = timm.create_model(arch, **FAMILY_REPS[arch])
    assert ours.head_hidden_size == theirs.head_hidden_size
    # timm sets output_fmt only on Swin (NHWC); ViT/DeiT tokens are NLC here, every CNN NCHW
    assert ours.output_fmt == NON_NCHW.get(arch, "NCHW") == getattr(theirs, "output_fmt", ours.output_fmt)
    if arch.startswith(("resnet", "regnet", "efficientnet", "swin")):  # pooling that widens the pre-logits
        ours.reset_classifier(0, "catavgmax")
        theirs.reset_classifier(0, "catavgmax")
        assert ours.head_hidden_size == theirs.head_hidden_size == 2 * ours.num_features
        wide = visionzoo.create_model(arch, global_pool="catavgmax", **FAMILY_REPS[arch])
        assert wide.head_hidden_size == 2 * wide.num_features


def test_base_class_defaults():
    from tests.core.tinynet import TinyNet

    model = TinyNet(num_classes=3, width=4)
    assert model.head_hidden_size == model.num_features == 8
    assert model.output_fmt == "NCHW"
    model.head_hidden_size = 5  # a family with a wider or narrower head sets its own
    assert model.head_hidden_size == 5 and model.num_features == 8
