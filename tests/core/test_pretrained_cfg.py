"""A model's pretrained_cfg reads like timm's cfg dict, and belongs to that model alone."""

import pytest

import visionzoo
from visionzoo.data.config import resolve_data_config, resolve_model_data_config
from visionzoo.weights.cfg import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, PretrainedCfg

# resnet18's default tag, a1_in1k, as timm publishes it
A1_IN1K = dict(input_size=(3, 224, 224), test_input_size=(3, 288, 288), crop_pct=0.95, test_crop_pct=1.0)


@pytest.fixture(scope="module")
def resnet18():
    return visionzoo.create_model("resnet18")


def test_cfg_reads_as_a_mapping(resnet18):
    cfg = resnet18.pretrained_cfg
    assert cfg["mean"] == IMAGENET_DEFAULT_MEAN and cfg["std"] == IMAGENET_DEFAULT_STD
    assert resnet18.default_cfg["input_size"] == (3, 224, 224)
    assert cfg.get("crop_pct") == 0.95 and cfg.get("test_crop_pct") == 1.0
    assert cfg["classifier"] == "fc" and cfg["first_conv"] == "conv1"
    assert "mean" in cfg and "test_input_size" in cfg
    # like timm's dicts, fields that are None are absent
    assert "label_names" not in cfg and cfg.get("label_names", "absent") == "absent"
    with pytest.raises(KeyError):
        cfg["label_names"]
    with pytest.raises(KeyError):
        cfg["no_such_key"]
    as_dict = dict(cfg)
    assert {k: as_dict[k] for k in A1_IN1K} == A1_IN1K
    assert list(cfg.keys()) == list(as_dict) and len(cfg) == len(as_dict)
    assert "extra" not in as_dict and None not in as_dict.values()

    def takes(crop_pct, mean, **rest):
        return crop_pct, mean

    assert takes(**cfg) == (0.95, IMAGENET_DEFAULT_MEAN)
    assert PretrainedCfg.from_dict(dict(cfg)) == cfg


def test_extra_keys_join_the_mapping():
    cfg = PretrainedCfg.from_dict({"architecture": "x", "min_input_size": [3, 32, 32]})
    assert cfg.extra == {"min_input_size": [3, 32, 32]}
    assert cfg["min_input_size"] == [3, 32, 32] and "min_input_size" in dict(cfg)
    # a field wins over an extra key of the same name
    assert PretrainedCfg(crop_pct=0.9, extra={"crop_pct": 0.1})["crop_pct"] == 0.9


def test_item_assignment_sets_fields():
    cfg = PretrainedCfg()
    cfg["crop_pct"] = 0.5
    cfg["input_size"] = [3, 160, 160]  # a JSON-style list becomes the field's tuple
    cfg.update(interpolation="bilinear", min_input_size=(3, 64, 64))
    assert cfg.crop_pct == 0.5 and cfg.input_size == (3, 160, 160) and cfg.interpolation == "bilinear"
    assert cfg.extra == {"min_input_size": (3, 64, 64)}  # an unknown key is kept in `extra`
    cfg.test_crop_pct = 0.8  # attribute access is unchanged
    assert cfg["test_crop_pct"] == 0.8
    del cfg["test_crop_pct"], cfg["min_input_size"]
    assert cfg.test_crop_pct is None and "test_crop_pct" not in cfg and cfg.extra == {}
    assert cfg.pop("label_set") == "imagenet-1k" and cfg.label_set is None
    with pytest.raises(TypeError, match="'crop_pct' cannot be deleted"):
        del cfg["crop_pct"]
    with pytest.raises(KeyError):
        del cfg["test_crop_pct"]
    with pytest.raises(TypeError, match="keys are strings"):
        cfg[3] = 1
    with pytest.raises(TypeError, match="set `extra` as an attribute"):
        cfg["extra"] = {}


def test_each_model_owns_its_cfg(resnet18):
    changed = visionzoo.create_model("resnet18")
    changed.pretrained_cfg.crop_pct = 0.5
    changed.pretrained_cfg["mean"] = (0.0, 0.0, 0.0)
    changed.pretrained_cfg.extra["seen"] = True
    fresh = visionzoo.create_model("resnet18")
    for cfg in (fresh.pretrained_cfg, resnet18.pretrained_cfg, visionzoo.get_pretrained_cfg("resnet18")):
        assert cfg.crop_pct == 0.95 and cfg["mean"] == IMAGENET_DEFAULT_MEAN and cfg.extra == {}


def test_registry_hands_out_copies():
    got = visionzoo.get_pretrained_cfg("resnet18.a1_in1k")
    got.crop_pct = 0.1
    got.extra["x"] = 1
    assert visionzoo.get_pretrained_cfg("resnet18.a1_in1k").crop_pct == 0.95
    tags = visionzoo.registry.get_pretrained_tags("resnet18")
    tags["a1_in1k"].crop_pct = 0.2
    again = visionzoo.registry.get_pretrained_tags("resnet18")["a1_in1k"]
    assert again.crop_pct == 0.95 and again.extra == {}


def test_models_built_from_one_given_cfg_do_not_share_it():
    mine = visionzoo.get_pretrained_cfg("resnet18").replace(crop_pct=0.9)
    first = visionzoo.create_model("resnet18", pretrained_cfg=mine)
    second = visionzoo.create_model("resnet18", pretrained_cfg=mine)
    first.pretrained_cfg["crop_pct"] = 0.3
    first.pretrained_cfg.extra["k"] = 1
    assert second.pretrained_cfg.crop_pct == 0.9 and mine.crop_pct == 0.9
    assert second.pretrained_cfg.extra == {} and mine.extra == {}


def test_copy_and_replace_do_not_share_extra():
    cfg = PretrainedCfg(extra={"nested": {"a": 1}})
    for other in (cfg.copy(), cfg.replace(crop_pct=0.5)):
        other.extra["nested"]["a"] = 2
        other.extra["new"] = 3
    assert cfg.extra == {"nested": {"a": 1}}


def test_data_config_reads_the_mapping_cfg(resnet18):
    expected = dict(
        input_size=(3, 224, 224),
        interpolation="bicubic",
        mean=IMAGENET_DEFAULT_MEAN,
        std=IMAGENET_DEFAULT_STD,
        crop_pct=0.95,
        crop_mode="center",
    )
    assert resolve_model_data_config(resnet18) == expected
    assert resolve_data_config(model=resnet18) == expected
    assert resolve_data_config(pretrained_cfg=dict(resnet18.pretrained_cfg)) == expected
    test = resolve_model_data_config(resnet18, use_test_size=True)
    assert test["input_size"] == (3, 288, 288) and test["crop_pct"] == 1.0
    model = visionzoo.create_model("resnet18")
    model.pretrained_cfg["crop_pct"] = 0.5
    model.pretrained_cfg["interpolation"] = "bilinear"
    got = resolve_model_data_config(model)
    assert got["crop_pct"] == 0.5 and got["interpolation"] == "bilinear"
