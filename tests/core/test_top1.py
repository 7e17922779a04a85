"""Published ImageNet-1k top-1 in the pretrained weight tables (from timm's results-imagenet.csv)."""

import pytest

import visionzoo

WELL_KNOWN = [
    "resnet50.a1_in1k",
    "resnet18.tv_in1k",
    "vit_base_patch16_224.augreg2_in21k_ft_in1k",
    "deit_small_patch16_224.fb_in1k",
    "efficientnet_b0.ra_in1k",
    "convnext_tiny.fb_in1k",
    "swin_tiny_patch4_window7_224.ms_in1k",
    "mobilenetv3_large_100.ra_in1k",
    "regnety_032.ra_in1k",
]


@pytest.mark.parametrize("name", WELL_KNOWN)
def test_well_known_tags_have_top1(name):
    top1 = visionzoo.get_pretrained_cfg(name).top1
    assert isinstance(top1, float)
    assert 50.0 < top1 < 95.0


def test_known_values():
    # Spot values from the published table (measured at the tag's test size, 288 for resnet50.a1_in1k).
    assert visionzoo.get_pretrained_cfg("resnet50.a1_in1k").top1 == pytest.approx(81.214)
    assert visionzoo.get_pretrained_cfg("resnet50.tv_in1k").top1 == pytest.approx(76.130)


def test_top1_only_for_imagenet_1k_heads():
    names = visionzoo.list_pretrained()
    non_1k = [n for n in names if visionzoo.get_pretrained_cfg(n).num_classes != 1000]
    assert non_1k, "expected some tags with a non-ImageNet-1k head (e.g. in21k / in22k)"
    for name in non_1k:
        assert visionzoo.get_pretrained_cfg(name).top1 is None, name
    with_top1 = [n for n in names if visionzoo.get_pretrained_cfg(n).top1 is not None]
    assert len(with_top1) > 100
    for name in with_top1:
        assert 50.0 < visionzoo.get_pretrained_cfg(name).top1 < 95.0, name
