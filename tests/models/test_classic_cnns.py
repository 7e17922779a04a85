"""DenseNet, VGG, Inception and Xception behaviour without timm: map shapes against feature_info,
shortened variants, features_only, and errors for bad options."""

from __future__ import annotations

import pytest
import torch

import visionzoo

# (arch, kwargs, input size): every family, shortened where an option allows it
CASES = [
    ("densenet121", dict(block_config=(1, 2, 1, 1)), 64),
    ("densenetblur121d", dict(block_config=(1, 1)), 64),
    ("vgg11_bn", dict(mlp_ratio=1 / 64), 64),
    ("inception_v3", {}, 75),
    ("inception_v4", dict(num_blocks=(1, 2, 1)), 75),
    ("inception_resnet_v2", dict(num_repeats=(1, 2, 1)), 75),
    ("legacy_xception", {}, 64),
    ("xception41p", dict(output_stride=16), 64),
]


@pytest.mark.parametrize("arch, kwargs, size", CASES, ids=[c[0] for c in CASES])
def test_maps_match_feature_info(arch, kwargs, size):
    model = visionzoo.create_model(arch, num_classes=3, **kwargs).eval()
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        final, maps = model.forward_intermediates(x)
        logits = model(x)
    assert logits.shape == (1, 3)
    assert len(maps) == len(model.feature_info)
    for m, info in zip(maps, model.feature_info, strict=True):
        assert m.shape[1] == info["num_chs"], info
        assert 1 <= m.shape[-1] <= -(-size // info["reduction"]), (info, m.shape)  # unpadded nets lose a few
    sides = [m.shape[-1] for m in maps]
    assert sides == sorted(sides, reverse=True)
    assert final.shape[1] == model.num_features
    module_names = dict(model.named_modules())
    for info in model.feature_info:
        assert info["module"] in module_names, info["module"]


def test_features_only_is_nchw_and_pruned():
    fm = visionzoo.create_model(
        "densenet121", features_only=True, out_indices=(1, 2), block_config=(1, 1, 1, 1)
    )
    maps = fm(torch.randn(1, 3, 64, 64))
    assert [m.shape[1] for m in maps] == fm.feature_info.channels()
    assert [m.shape[-1] for m in maps] == [64 // r for r in fm.feature_info.reduction()]
    assert not any(
        k.startswith(("features.denseblock3", "features.norm5", "classifier")) for k in fm.state_dict()
    )


def test_vgg_head_hidden_size():
    model = visionzoo.create_model("vgg11", mlp_ratio=1 / 64, num_classes=0)
    assert model.head_hidden_size == 4096 and model.num_features == 512
    model.prune_intermediate_layers([2])
    assert model.head_hidden_size == model.num_features == 256


@pytest.mark.parametrize(
    "arch, kwargs, match",
    [
        ("inception_v4", dict(num_blocks=(1, 0, 1)), "num_blocks"),
        ("inception_resnet_v2", dict(num_repeats=(1, 1)), "num_repeats"),
        ("vgg11", dict(mlp_ratio=1e-5), "mlp_ratio"),
        ("xception41", dict(output_stride=4), "output_stride"),
        ("inception_v3", dict(global_pool="median"), "global_pool"),
        ("legacy_xception", dict(global_pool="", num_classes=5), "global_pool=''"),
    ],
)
def test_bad_options(arch, kwargs, match):
    with pytest.raises(ValueError, match=match):
        visionzoo.create_model(arch, **kwargs)


def test_unknown_option_is_a_type_error():
    with pytest.raises(TypeError, match="aux_logits"):
        visionzoo.create_model("inception_v3", aux_logits=True)


def test_stepped_head_drops_pooled_features_in_training_only():
    """The SteppedCNN head is pool -> dropout -> classifier: with p=0.5, kept features are doubled."""
    model = visionzoo.create_model("inception_v4", num_blocks=(1, 1, 1), drop_rate=0.5, num_classes=0)
    x = torch.ones(4, model.num_features, 2, 2)
    with torch.no_grad():
        assert torch.equal(model.eval().forward_head(x), torch.ones(4, model.num_features))
        assert set(model.train().forward_head(x).unique().tolist()) == {0.0, 2.0}
