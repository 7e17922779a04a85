"""Code written the way timm users write it, with one change: `import visionzoo as timm`.

Everything below the import is timm usage; the real timm only supplies state dicts saved from its own
models, to show that they load into ours.
"""

from __future__ import annotations

import pytest
import torch

import visionzoo as timm  # the only line that differs from a timm project

real_timm = pytest.importorskip("timm")

# one small, full-depth representative per family (kwargs go to both libraries)
REPS = {
    "resnet18": {},
    "regnetx_002": {},
    "convnext_atto": {},
    "efficientnet_b0": {},
    "mobilenetv3_small_100": {},
    "vit_tiny_patch16_224": dict(img_size=32),
    "deit_tiny_distilled_patch16_224": dict(img_size=32),
    "vit_tiny_r_s16_p8_224": dict(img_size=64),
    "swin_tiny_patch4_window7_224": dict(img_size=64, window_size=4),
    "densenet121": {},
    "vgg11": {},
    "inception_v3": {},
    "legacy_xception": {},
    "xception41": {},
    "eva02_tiny_patch14_224": dict(img_size=28),
}


def _input(arch: str, kwargs: dict) -> torch.Tensor:
    size = kwargs.get("img_size", 96 if "inception" in arch else 64)
    return torch.randn(2, 3, size, size)


@pytest.mark.parametrize("arch", REPS)
def test_pretrained_cfg_indexing(arch):
    model = timm.create_model(arch, **REPS[arch])
    cfg = model.pretrained_cfg
    mean, std = cfg["mean"], cfg["std"]
    assert len(mean) == len(std) == 3
    assert model.default_cfg["input_size"][0] == 3
    assert cfg.get("crop_pct", 0.875) > 0 and "mean" in cfg and dict(cfg)["num_classes"] == model.num_classes
    data_config = timm.data.resolve_data_config({}, model=model)
    transform = timm.data.create_transform(**data_config)
    assert "Normalize" in repr(transform)
    model.pretrained_cfg["crop_pct"] = 0.5  # a mutation stays with this model
    assert timm.create_model(arch, **REPS[arch]).pretrained_cfg.get("crop_pct") != 0.5


@pytest.mark.parametrize("arch", REPS)
def test_features_only_backbone_loads_a_timm_saved_state_dict(arch):
    kwargs = REPS[arch]
    saved = real_timm.create_model(arch, features_only=True, **kwargs).state_dict()
    backbone = timm.create_model(arch, features_only=True, **kwargs).eval()
    backbone.load_state_dict(saved, strict=True)
    feats = backbone(_input(arch, kwargs))
    assert [f.shape[1] for f in feats] == backbone.feature_info.channels()


@pytest.mark.parametrize("arch", REPS)
def test_forward_intermediates_with_an_int(arch):
    model = timm.create_model(arch, **REPS[arch]).eval()
    x = _input(arch, REPS[arch])
    with torch.no_grad():
        final, inter = model.forward_intermediates(x, indices=2)
        assert len(inter) == 2
        torch.testing.assert_close(model.forward_head(final), model(x))


@pytest.mark.parametrize("arch", REPS)
def test_create_feature_extractor_on_fx_graph(arch):
    from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

    model = timm.create_model(arch, **REPS[arch]).eval()
    x = _input(arch, REPS[arch])
    _, eval_nodes = get_graph_node_names(model)
    extractor = create_feature_extractor(model, return_nodes={eval_nodes[-1]: "out"})
    with torch.no_grad():
        torch.testing.assert_close(extractor(x)["out"], model(x))
    if model.output_fmt == "NCHW":  # stage outputs named by feature_info are the features_only maps
        names = [f["module"] for f in model.feature_info]
        maps = create_feature_extractor(model, return_nodes={n: n for n in names})
        backbone = timm.create_model(arch, features_only=True, **REPS[arch]).eval()
        # the same weights in both (scaffolding, not timm usage): the trunk inside the wrapper takes them
        loaded = backbone.model.load_state_dict(model.state_dict(), strict=False)  # minus the classifier
        assert not loaded.missing_keys
        with torch.no_grad():
            got = maps(x)
            for name, fmap in zip(names, backbone(x)):
                torch.testing.assert_close(got[name], fmap)
