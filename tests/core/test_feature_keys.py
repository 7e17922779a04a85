"""features_only state dicts use timm's key layout, family by family: timm-saved ones load strictly."""

from __future__ import annotations

import warnings

import pytest
import torch

import visionzoo
from visionzoo import registry

timm = pytest.importorskip("timm")

# One architecture per registered model class (module, class), plus the builders inside a class that lay out
# their blocks differently (MobileNetV4, LCNet, MixNet, EfficientNetV2, RepVGG / MobileOne, CLIP ResNet,
# HGNetV2, ...). Built on the meta device: only key names and shapes are compared.
LAYOUT_REPS = {
    ("byobnet", "ByobNet"): ["repvgg_a0", "mobileone_s0", "resnet50_clip", "repvgg_d2se"],
    ("convnext", "ConvNeXt"): ["convnext_atto"],
    ("deit", "DistilledVisionTransformer"): ["deit_tiny_distilled_patch16_224"],
    ("deit", "VisionTransformer"): ["deit_tiny_patch16_224"],
    ("densenet", "DenseNet"): ["densenet121"],
    ("efficientnet", "EfficientNet"): [
        "efficientnet_b0",
        "tf_efficientnet_b0",
        "efficientnetv2_rw_t",
        "mixnet_s",
        "efficientnet_cc_b0_4e",
        "mobilenetv2_100",
        "tinynet_e",
    ],
    ("eva", "Eva"): ["eva02_tiny_patch14_224"],
    ("hgnet", "HGNet"): ["hgnet_tiny", "hgnetv2_b0"],
    ("inception_resnet_v2", "InceptionResnetV2"): ["inception_resnet_v2"],
    ("inception_v3", "InceptionV3"): ["inception_v3"],
    ("inception_v4", "InceptionV4"): ["inception_v4"],
    ("mobilenetv3", "MobileNetV3"): [
        "mobilenetv3_small_100",
        "mobilenetv4_conv_small",
        "mobilenetv4_hybrid_medium",
        "lcnet_050",
        "fbnetv3_b",
    ],
    ("regnet", "RegNet"): ["regnetx_002", "regnety_002", "regnetz_005"],
    ("resnet", "ResNet"): ["resnet18", "resnet50d", "seresnext26t_32x4d", "resnetblur18"],
    ("resnetv2", "ResNetV2"): ["resnetv2_18", "resnetv2_50x1_bit"],
    ("swin_transformer", "SwinTransformer"): ["swin_tiny_patch4_window7_224"],
    ("swin_transformer_v2", "SwinTransformerV2"): ["swinv2_tiny_window8_256"],
    ("swin_transformer_v2_cr", "SwinTransformerV2Cr"): ["swinv2_cr_tiny_ns_224"],
    ("vgg", "VGG"): ["vgg11"],
    ("vision_transformer", "VisionTransformer"): ["vit_tiny_patch16_224"],
    ("vision_transformer_hybrid", "VisionTransformer"): ["vit_tiny_r_s16_p8_224", "vit_small_r26_s32_224"],
    ("xception", "Xception"): ["legacy_xception"],
    ("xception_aligned", "XceptionAligned"): ["xception41"],
}

# Small, full-depth real models for a strict load both ways and equal maps; kwargs go to both libraries.
REPS = {
    "resnet18": {},
    "regnetx_002": {},
    "convnext_atto": {},
    "efficientnet_b0": {},
    "mobilenetv3_small_100": {},
    "vit_tiny_patch16_224": dict(img_size=32),
    "deit_tiny_distilled_patch16_224": dict(img_size=32),
    "swin_tiny_patch4_window7_224": dict(img_size=64, window_size=4),
    "densenet121": {},
    "vgg11": {},
    "inception_v3": {},
    "inception_v4": {},
    "inception_resnet_v2": {},
    "legacy_xception": {},
    "xception41": {},
    "eva02_tiny_patch14_224": dict(img_size=28),
    "hgnetv2_b0": {},
    "repvgg_a0": {},
    "resnetv2_18": {},
    "swinv2_cr_tiny_ns_224": dict(img_size=64, window_size=4),
}


def _module_class(arch: str) -> tuple[str, str]:
    return registry.get_arch_module(arch).rsplit(".", 1)[-1], registry.get_model_class(arch).__name__


def test_every_model_class_has_a_layout_representative():
    """A new family (or model class) must add a representative here, so its layout is checked too."""
    ours = [a for a in visionzoo.list_models() if registry.get_arch_module(a).startswith("visionzoo.models.")]
    registered = {_module_class(a) for a in ours}  # models other tests register are not families
    assert registered == set(LAYOUT_REPS)
    for key, archs in LAYOUT_REPS.items():
        assert all(_module_class(a) == key for a in archs), key


def _layout(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("arch", [a for archs in LAYOUT_REPS.values() for a in archs])
def test_features_only_key_layout_matches_timm(arch):
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # timm's deprecation notes for some names
        theirs = timm.create_model(arch, features_only=True)
        ours = visionzoo.create_model(arch, features_only=True)
    theirs_layout, ours_layout = _layout(theirs), _layout(ours)
    assert set(ours_layout) == set(theirs_layout), (
        f"only timm: {sorted(set(theirs_layout) - set(ours_layout))[:5]}, "
        f"only ours: {sorted(set(ours_layout) - set(theirs_layout))[:5]}"
    )
    assert ours_layout == theirs_layout
    assert ours.feature_info.channels() == theirs.feature_info.channels()
    assert ours.feature_info.reduction() == theirs.feature_info.reduction()


def _size(arch: str, kwargs: dict) -> int:
    return kwargs.get("img_size", 96 if "inception" in arch else 64)  # Inception stems need >= 75 px


@pytest.mark.parametrize("arch", REPS)
def test_timm_features_only_state_dict_loads_strictly_and_back(arch):
    kwargs = REPS[arch]
    theirs = timm.create_model(arch, features_only=True, **kwargs).eval()
    ours = visionzoo.create_model(arch, features_only=True, **kwargs).eval()
    ours_layout = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    assert ours_layout == {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    ours.load_state_dict(theirs.state_dict(), strict=True)  # timm -> ours
    x = torch.randn(1, 3, _size(arch, kwargs), _size(arch, kwargs))
    with torch.no_grad():
        for a, b in zip(ours(x), theirs(x), strict=True):
            b = b.permute(0, 3, 1, 2) if b.shape != a.shape else b  # timm's Swin maps are NHWC
            torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    theirs.load_state_dict(ours.state_dict(), strict=True)  # ours -> timm


def test_wrapped_keys_still_load():
    """A features_only state dict saved before the timm layout ('model.' + the model's keys) loads too."""
    ours = visionzoo.create_model("resnet18", features_only=True)
    old = {"model." + k: v for k, v in ours.state_dict().items()}
    fresh = visionzoo.create_model("resnet18", features_only=True)
    fresh.load_state_dict(old, strict=True)
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), ours.state_dict().values()))
