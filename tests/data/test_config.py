"""resolve_data_config against timm's resolve_data_config (the oracle)."""

import argparse

import pytest
import timm
import timm.data
import torch

from visionzoo.data.config import resolve_data_config, resolve_model_data_config
from visionzoo.registry import get_pretrained_cfg

NAMES = [
    "tf_efficientnet_lite0.in1k",
    "efficientnet_lite1",
    "vit_base_patch16_384.augreg_in21k_ft_in1k",
    "convnext_tiny.in12k_ft_in1k",  # has test_input_size / test_crop_pct
    "deit_tiny_patch16_224.fb_in1k",
]

KEYS = ("input_size", "interpolation", "mean", "std", "crop_pct", "crop_mode")


def _norm(d):
    return {k: tuple(d[k]) if isinstance(d[k], (list, tuple)) else d[k] for k in KEYS}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("use_test_size", [False, True])
def test_matches_timm_for_pretrained_cfgs(name, use_test_size):
    ours = resolve_data_config(pretrained_cfg=get_pretrained_cfg(name), use_test_size=use_test_size)
    ref = timm.data.resolve_data_config(
        pretrained_cfg=timm.models.get_pretrained_cfg(name).to_dict(), use_test_size=use_test_size
    )
    assert _norm(ours) == _norm(ref)


@pytest.mark.parametrize(
    "args",
    [
        dict(img_size=256, crop_pct=0.9, interpolation="bilinear"),
        dict(input_size=(3, 160, 192), mean=(0.5,), std=(0.25,)),
        dict(in_chans=1, img_size=64, mean=(0.4,), std=(0.2,), crop_mode="squash"),
    ],
)
def test_args_override_like_timm(args):
    name = "convnext_tiny.in12k_ft_in1k"
    ours = resolve_data_config(args=args, pretrained_cfg=get_pretrained_cfg(name))
    ref = timm.data.resolve_data_config(
        args=args, pretrained_cfg=timm.models.get_pretrained_cfg(name).to_dict()
    )
    assert _norm(ours) == _norm(ref)


def test_model_and_namespace_args():
    model = torch.nn.Identity()
    model.pretrained_cfg = get_pretrained_cfg("tf_efficientnet_lite0")
    cfg = resolve_model_data_config(model)
    assert cfg["mean"] == (0.5, 0.5, 0.5) and cfg["input_size"] == (3, 224, 224)
    ns = argparse.Namespace(img_size=300, crop_pct=None, mean=None)
    assert resolve_data_config(args=ns, model=model)["input_size"] == (3, 300, 300)
    assert resolve_data_config(args={})["input_size"] == (3, 224, 224)


def test_errors():
    with pytest.raises(ValueError, match="at least one of"):
        resolve_data_config()
    with pytest.raises(ValueError, match="unknown crop_mode 'zoom'"):
        resolve_data_config(args=dict(crop_mode="zoom"))
    with pytest.raises(ValueError, match="mean has 2 values for 3 input channels"):
        resolve_data_config(args=dict(mean=(0.1, 0.2)))
    with pytest.raises(ValueError, match="input_size must be"):
        resolve_data_config(args=dict(input_size=(224, 224)))
    with pytest.raises(TypeError, match="args must be"):
        resolve_data_config(args=[1, 2])
    with pytest.raises(ValueError, match="has no pretrained_cfg"):
        resolve_model_data_config(torch.nn.Identity())
