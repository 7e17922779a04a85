"""The model contract, checked generically over every registered architecture."""

from __future__ import annotations

import gc

import pytest
import torch

import visionzoo
from visionzoo import registry


def small_config(arch: str) -> tuple[dict, tuple[int, int, int]]:
    """create_model kwargs and an input size that exercise the whole model cheaply."""
    module = registry.get_arch_module(arch).rsplit(".", 1)[-1]
    if module in ("vision_transformer", "deit"):
        patch = int(arch.split("patch")[1].split("_")[0])
        return dict(img_size=patch * 4), (3, patch * 4, patch * 4)
    if module == "eva":  # one narrow block on a 2x2 patch grid (the family reaches 7B parameters)
        patch = int(arch.split("patch")[1].split("_")[0])
        kv = dict(num_kv_heads=None) if "sapiens2" in arch else {}  # per-block heads are set for full depth
        return dict(img_size=patch * 2, depth=1, embed_dim=64, num_heads=2, **kv), (3, patch * 2, patch * 2)
    if module == "swin_transformer":
        if "window12" in arch:
            return dict(img_size=192, window_size=6), (3, 192, 192)
        return {}, (3, 224, 224)
    return {}, (3, 32, 32)


# the library's own families (tests elsewhere register small models of their own)
ARCHS = [a for a in visionzoo.list_models() if registry.get_arch_module(a).startswith("visionzoo.models.")]


def _logits(out):
    # distilled models return (cls, dist) logits while training
    return sum(out) if isinstance(out, (tuple, list)) else out


@pytest.mark.parametrize("arch", ARCHS)
def test_contract(arch):
    kwargs, size = small_config(arch)
    cfg = visionzoo.get_pretrained_cfg(arch)
    model = visionzoo.create_model(arch, **kwargs)
    x = torch.randn(2, *size)

    # forward + backward: every parameter receives a gradient
    model.train()
    out = _logits(model(x))
    width = getattr(model, "head_hidden_size", None) or model.num_features  # pre-logits width
    assert out.shape == (2, cfg.num_classes or width)  # a headless cfg (num_classes=0) gives features
    out.float().pow(2).mean().backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad, f"parameters without gradient: {no_grad[:5]}"

    # the cfg names real layers
    sd = model.state_dict()
    for name in (cfg.first_conv,) if isinstance(cfg.first_conv, str) else cfg.first_conv:
        w = sd.get(f"{name}.weight")
        assert w is not None and w.ndim == 4 and w.shape[1] == 3, f"cfg.first_conv {name!r} is not the stem"
    model.zero_grad(set_to_none=True)

    model.eval()
    with torch.no_grad():
        feats = model.forward_features(x)
        pooled = model.forward_head(feats, pre_logits=True)
        assert pooled.shape == (2, width)  # num_features, or the head's hidden width (MobileNetV3)
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
        assert model(x).shape == (2, width)
    assert model.pretrained_cfg is model.default_cfg is not None
    assert isinstance(model.no_weight_decay(), (set, frozenset))
    gm = model.group_matcher()
    assert "stem" in gm and "blocks" in gm
    assert model.feature_info and all(
        {"num_chs", "reduction", "module"} <= set(f) for f in model.feature_info
    )
    del model
    gc.collect()


@pytest.mark.parametrize("arch", ["resnet50", "vit_tiny_patch16_224", "convnext_atto", "efficientnet_b0"])
def test_num_classes_zero_gives_pooled_features(arch):
    kwargs, size = small_config(arch)
    model = visionzoo.create_model(arch, num_classes=0, **kwargs).eval()
    with torch.no_grad():
        out = model(torch.randn(2, *size))
    expected = {"resnet50": 2048, "vit_tiny_patch16_224": 192, "convnext_atto": 320, "efficientnet_b0": 1280}
    assert out.shape == (2, expected[arch])
