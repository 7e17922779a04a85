import subprocess
import sys
import warnings

import pytest
import torch

import visionzoo
from visionzoo import registry
from visionzoo.weights.cfg import PretrainedCfg

from .tinynet import TinyNet


@pytest.fixture(scope="module")
def tiny_registered():
    name = "vz_test_tinynet"
    if not visionzoo.is_model(name):

        @visionzoo.register_model(
            name=name,
            model_cls=TinyNet,
            pretrained_cfgs={
                "a": PretrainedCfg(first_conv="conv1", classifier="fc"),
                "b": PretrainedCfg(first_conv="conv1", classifier="fc", num_classes=10),
            },
        )
        def _build(**kwargs):
            return TinyNet(**kwargs)

    return name


def test_import_does_not_load_torch_timm_or_torchvision():
    code = (
        "import sys, visionzoo; visionzoo.list_models(); "
        "bad = [m for m in ('timm', 'torchvision', 'torch') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out


def test_create_model_does_not_import_timm_or_torchvision():
    code = (
        "import sys, visionzoo; visionzoo.create_model('resnet18'); "
        "print([m for m in ('timm', 'torchvision') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_list_models_wildcards_and_natural_sort():
    names = visionzoo.list_models("resnet1*")
    assert names.index("resnet18") < names.index("resnet101") < names.index("resnet152")
    swin = visionzoo.list_models("*swin*")
    assert swin and all("swin" in n for n in swin)
    assert visionzoo.list_models(["resnet18", "resnet34"]) == ["resnet18", "resnet34"]
    assert visionzoo.list_models("no_such_model_*") == []


def test_list_models_filters():
    assert "resnet18d" not in visionzoo.list_models("resnet18*", exclude_filters="*d")
    in_module = set(visionzoo.list_models(module="convnext"))
    assert set(visionzoo.list_models("convnext_*")) <= in_module  # and ConvNeXt-V2, test_convnext*
    assert all(n.startswith(("convnext", "test_convnext")) for n in in_module)
    tagged = visionzoo.list_models("vit_tiny_patch16_224*", pretrained=True)
    assert "vit_tiny_patch16_224.augreg_in21k_ft_in1k" in tagged
    assert all("." in n for n in tagged)
    assert visionzoo.list_pretrained("vit_tiny_patch16_224*") == tagged
    untagged = visionzoo.list_models("vit_tiny_patch16_*", module="vision_transformer", include_tags=False)
    assert untagged == ["vit_tiny_patch16_224", "vit_tiny_patch16_384"]


def test_list_modules_and_is_model():
    mods = visionzoo.list_modules()
    for m in ("resnet", "vision_transformer", "swin_transformer", "efficientnet", "convnext", "regnet"):
        assert m in mods
    assert visionzoo.is_model("resnet50")
    assert visionzoo.is_model("vit_tiny_patch16_224.augreg_in21k_ft_in1k")
    assert not visionzoo.is_model("resnet5")
    assert not visionzoo.is_model("resnet50.no_such_tag")


def test_default_tag_and_pretrained_cfg():
    cfg = visionzoo.get_pretrained_cfg("vit_tiny_patch16_224")
    assert cfg.tag == "augreg_in21k_ft_in1k"
    assert cfg.hf_hub_id == "timm/vit_tiny_patch16_224.augreg_in21k_ft_in1k"
    cfg22 = visionzoo.get_pretrained_cfg("swin_base_patch4_window7_224.ms_in22k")
    assert cfg22.num_classes == 21841 and cfg22.label_set == "imagenet-21k"


def test_unknown_name_suggests_close_names():
    with pytest.raises(ValueError, match="resnet50") as e:
        visionzoo.create_model("resnet5")
    assert "unknown model 'resnet5'" in str(e.value)


def test_unknown_tag_lists_tags():
    with pytest.raises(ValueError, match="a1_in1k"):
        visionzoo.create_model("resnet50.nope")


def test_deprecated_alias_warns_and_resolves():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        arch, tag = registry.resolve_model_name("swin_base_patch4_window7_224_in22k")
    assert (arch, tag) == ("swin_base_patch4_window7_224", "ms_in22k")
    dep = [x for x in w if issubclass(x.category, DeprecationWarning)]
    assert dep and "swin_base_patch4_window7_224.ms_in22k" in str(dep[0].message)


def test_register_model_user_architecture(tiny_registered):
    name = tiny_registered
    assert name in visionzoo.list_models("vz_test_*")
    assert visionzoo.model_entrypoint(name) is not None
    m = visionzoo.create_model(name)
    assert m.num_classes == 1000 and m.pretrained_cfg.tag == "a"
    m10 = visionzoo.create_model(f"{name}.b")
    assert m10.num_classes == 10  # default num_classes follows the tag's cfg


def test_register_twice_is_an_error(tiny_registered):
    with pytest.raises(ValueError, match="already registered"):

        @visionzoo.register_model(name=tiny_registered)
        def _again(**kwargs):
            return TinyNet(**kwargs)

    with pytest.raises(ValueError, match="already registered"):

        @visionzoo.register_model
        def resnet50(**kwargs):  # a family's name
            return TinyNet(**kwargs)


def test_create_model_bad_arguments(tiny_registered):
    name = tiny_registered
    with pytest.raises(TypeError, match="unknown_arg") as e:
        visionzoo.create_model(name, unknown_arg=3)
    assert name in str(e.value)
    with pytest.raises(ValueError, match="num_classes must be >= 0"):
        visionzoo.create_model(name, num_classes=-1)
    with pytest.raises(TypeError, match="num_classes must be an int"):
        visionzoo.create_model(name, num_classes="10")
    with pytest.raises(ValueError, match="in_chans must be >= 1"):
        visionzoo.create_model(name, in_chans=0)
    with pytest.raises(ValueError, match="drop_rate"):
        visionzoo.create_model(name, drop_rate=1.5)
    with pytest.raises(ValueError, match="img_size"):
        visionzoo.create_model("resnet18", img_size=(0, 3))
    with pytest.raises(TypeError, match="model name"):
        visionzoo.create_model(None)
    with pytest.raises(TypeError, match="pretrained must be"):
        visionzoo.create_model(name, pretrained="yes")
    with pytest.raises(ValueError, match="out_indices"):
        visionzoo.create_model(name, out_indices=(0,))


def test_create_model_num_classes_and_features(tiny_registered):
    name = tiny_registered
    x = torch.randn(2, 3, 32, 32)
    assert visionzoo.create_model(name, num_classes=0)(x).shape == (2, 16)
    assert visionzoo.create_model(name, num_classes=7)(x).shape == (2, 7)
    assert visionzoo.create_model(name, in_chans=1)(torch.randn(2, 1, 32, 32)).shape == (2, 1000)
    fm = visionzoo.create_model(name, features_only=True, out_indices=(-1,))
    feats = fm(x)
    assert [f.shape for f in feats] == [torch.Size([2, 16, 8, 8])]
    assert fm.feature_info.channels() == [16] and fm.feature_info.reduction() == [4]
    nhwc = visionzoo.create_model(name, features_only=True, output_fmt="NHWC")(x)
    assert nhwc[0].shape == (2, 16, 16, 8)
    with pytest.raises(IndexError, match="out of range"):
        visionzoo.create_model(name, features_only=True, out_indices=(5,))


def test_create_model_device_and_dtype(tiny_registered):
    m = visionzoo.create_model(tiny_registered, dtype=torch.bfloat16, device="cpu")
    assert next(m.parameters()).dtype == torch.bfloat16


def test_default_cfg_alias(tiny_registered):
    m = visionzoo.create_model(tiny_registered)
    assert m.default_cfg is m.pretrained_cfg


def test_list_models_name_matches_cfg(tiny_registered):
    name = "vz_test_no_cfg"
    if not visionzoo.is_model(name):

        @visionzoo.register_model(name=name)
        def _build(**kwargs):
            return TinyNet(**kwargs)

    assert visionzoo.list_models("vz_test_*") == [name, tiny_registered]
    # a model registered without any pretrained cfg is left out; those with cfgs stay
    assert visionzoo.list_models("vz_test_*", name_matches_cfg=True) == [tiny_registered]
    assert visionzoo.list_models("vz_test_*", include_tags=True, name_matches_cfg=True) == [
        f"{tiny_registered}.a",
        f"{tiny_registered}.b",
    ]
    assert visionzoo.list_models("resnet18*", name_matches_cfg=True) == ["resnet18", "resnet18d"]


def test_create_model_feature_cls_as_timm_spells_it(tiny_registered):
    """timm's feature_cls names build the same features_only model; anything else is a clear error."""
    x = torch.randn(1, 3, 32, 32)
    plain = visionzoo.create_model(tiny_registered, features_only=True).eval()
    for flavour in ("getter", "hook", "fx"):
        m = visionzoo.create_model(tiny_registered, features_only=True, feature_cls=flavour).eval()
        m.load_state_dict(plain.state_dict())
        assert all(torch.equal(a, b) for a, b in zip(m(x), plain(x)))
    with pytest.raises(ValueError, match="feature_cls must be one of getter, hook, fx"):
        visionzoo.create_model(tiny_registered, features_only=True, feature_cls="dict_magic")
    with pytest.raises(TypeError, match="feature_cls must be a str"):
        visionzoo.create_model(tiny_registered, features_only=True, feature_cls=3)
