"""features_only state dicts use timm's key layout, family by family: timm-saved ones load strictly."""

from __future__ import annotations

import pytest
import torch

import visionzoo

timm = pytest.importorskip("timm")

# small, full-depth representatives; kwargs go to both libraries
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
}


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
