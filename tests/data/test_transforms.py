"""Transforms: eval output against timm's eval transform (the oracle); training augmentation behaviour."""

import functools

import numpy as np
import pytest
import timm.data
import torch
import torchvision.transforms as tvt
from PIL import Image

from visionzoo.data import sample_image_path
from visionzoo.data.transforms import (
    CenterCrop,
    ColorJitter,
    RandomErasing,
    RandomHorizontalFlip,
    RandomResizedCrop,
    ToTensor,
    _shift_hue,
    create_transform,
    rand_augment_transform,
)


@functools.cache
def _images():
    cat = Image.open(sample_image_path("chelsea")).convert("RGB")  # landscape 451x300
    cup = Image.open(sample_image_path("coffee")).convert("RGB").rotate(90, expand=True)  # portrait 400x600
    return {"cat": cat, "cup_portrait": cup, "tiny": cat.resize((97, 61))}  # tiny: upscaled by the transform


EVAL_SETTINGS = [
    dict(input_size=224, crop_pct=0.875, interpolation="bilinear", crop_mode="center"),
    dict(input_size=(3, 240, 240), crop_pct=0.882, interpolation="bicubic"),
    dict(input_size=(192, 256), crop_pct=0.9, interpolation="bicubic", crop_mode="center"),
    dict(input_size=224, crop_pct=1.0, interpolation="bicubic", crop_mode="squash"),
    dict(input_size=(224, 160), crop_pct=0.95, interpolation="bilinear", crop_mode="border"),
    dict(input_size=288, crop_pct=1.0, interpolation="lanczos"),
    dict(input_size=97, crop_pct=0.911, interpolation="nearest", mean=(0.5,) * 3, std=(0.5,) * 3),
]


@pytest.mark.parametrize(
    "kw", EVAL_SETTINGS, ids=lambda kw: f"{kw['input_size']}-{kw['crop_pct']}-{kw['interpolation']}"
)
def test_eval_matches_timm(kw):
    ours, ref = create_transform(**kw), timm.data.create_transform(**kw)
    for name, img in _images().items():
        a, b = ours(img), ref(img)
        assert a.shape == b.shape, name
        assert a.dtype == torch.float32
        # one 8-bit level, in normalised units
        tol = (1 / 255) / min(kw.get("std", timm.data.IMAGENET_DEFAULT_STD)) + 1e-6
        assert (a - b).abs().max().item() <= tol, name


def test_composes_with_torchvision():
    img = _images()["cat"]
    pipeline = tvt.Compose(
        [tvt.Grayscale(num_output_channels=3), create_transform(64, mean=(0.5,) * 3, std=(0.5,) * 3)]
    )
    out = pipeline(img)
    assert out.shape == (3, 64, 64)
    assert torch.allclose(out[0], out[1])  # greyscale in, same normalisation per channel
    mixed = tvt.Compose([CenterCrop(32), tvt.ToTensor()])
    assert torch.equal(mixed(img), ToTensor()(CenterCrop(32)(img)))


def test_center_crop_pads_small_image_with_fill():
    img = Image.new("RGB", (4, 2), (10, 20, 30))
    out = np.asarray(CenterCrop((4, 6), fill=(1, 2, 3))(img))  # [4, 6, 3]
    assert out.shape == (4, 6, 3)
    assert tuple(out[0, 0]) == (1, 2, 3) and tuple(out[1, 1]) == (10, 20, 30)


def test_training_pipeline_shapes_randomness_and_seed():
    img = _images()["cat"]
    t = create_transform(
        (96, 128),
        is_training=True,
        interpolation="random",
        color_jitter=0.4,
        auto_augment="rand-m9-mstd0.5",
        re_prob=0.25,
    )
    torch.manual_seed(1)
    a = t(img)
    b = t(img)
    torch.manual_seed(1)
    a2 = t(img)
    assert a.shape == (3, 96, 128) and a.dtype == torch.float32
    assert not torch.equal(a, b)
    assert torch.equal(a, a2)
    t2 = create_transform(64, is_training=True, color_jitter=(0.2, 0.2, 0.2, 0.1), hflip=0.0, vflip=0.5)
    assert t2(img).shape == (3, 64, 64)


def test_random_resized_crop_box_respects_scale():
    rrc = RandomResizedCrop(32, scale=(0.25, 0.5), ratio=(0.5, 2.0))
    for _ in range(50):
        left, top, right, bottom = rrc.box(200, 100)
        assert 0 <= left < right <= 200 and 0 <= top < bottom <= 100
        frac = (right - left) * (bottom - top) / (200 * 100)
        assert 0.2 <= frac <= 0.55  # rounding of sides allows a little slack
    out = rrc(Image.new("RGB", (200, 100)))
    assert out.size == (32, 32)


def test_hflip_mirrors():
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (6, 8, 3), dtype=np.uint8))
    assert torch.equal(ToTensor()(RandomHorizontalFlip(1.0)(img)), ToTensor()(img).flip(-1))
    assert ToTensor()(RandomHorizontalFlip(0.0)(img)).equal(ToTensor()(img))


def test_hue_shift_half_turn_turns_red_cyan():
    red = Image.new("RGB", (4, 4), (255, 0, 0))
    cyan = np.asarray(_shift_hue(red, 0.5)).astype(int)  # [4, 4, 3]
    assert np.abs(cyan[0, 0] - np.array([0, 255, 255])).max() <= 8
    assert np.asarray(ColorJitter(hue=0.0)(red)).tolist() == np.asarray(red).tolist()
    torch.manual_seed(0)
    jittered = np.asarray(ColorJitter(brightness=0.5, hue=0.3)(red))
    assert jittered.shape == (4, 4, 3) and not np.array_equal(jittered, np.asarray(red))


def test_rand_augment_string():
    ra = rand_augment_transform("rand-m7-n3-mstd0.5-p1.0")
    assert (ra.num_ops, ra.magnitude, ra.magnitude_std, ra.prob) == (3, 7.0, 0.5, 1.0)
    img = _images()["tiny"]
    out = ra(img)
    assert out.size == img.size and out.mode == "RGB"
    torch.manual_seed(0)
    changed = sum(not np.array_equal(np.asarray(ra(img)), np.asarray(img)) for _ in range(5))
    assert changed >= 4  # three ops at p=1: almost always a visible change
    for bad in ("rand-x9", "augmix-m5", "rand-m"):
        with pytest.raises(ValueError, match="auto_augment policy"):
            rand_augment_transform(bad)


def test_random_erasing_changes_one_rectangle():
    x = torch.ones(3, 32, 32)
    out = RandomErasing(1.0, mode="const")(x)
    erased = (out == 0).all(dim=0)  # [32, 32]
    assert 0 < erased.sum() < 32 * 32
    rows, cols = erased.any(1).nonzero(), erased.any(0).nonzero()
    # exactly a rectangle
    assert erased.sum() == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
    assert torch.equal(RandomErasing(0.0)(x), x)
    assert torch.equal(x, torch.ones(3, 32, 32))  # input left untouched


def test_errors():
    with pytest.raises(ValueError, match="unknown interpolation 'cubic'"):
        create_transform(224, interpolation="cubic")
    with pytest.raises(ValueError, match="unknown interpolation 'random'"):
        create_transform(224, interpolation="random")  # only for training
    with pytest.raises(ValueError, match="unknown crop_mode 'zoom'"):
        create_transform(224, crop_mode="zoom")
    with pytest.raises(ValueError, match="crop_pct must be > 0"):
        create_transform(224, crop_pct=0.0)
    with pytest.raises(ValueError, match="image size must be"):
        create_transform((224, 224, 3, 1))
    with pytest.raises(ValueError, match="auto_augment policy 'v0'"):
        create_transform(224, is_training=True, auto_augment="v0")
    with pytest.raises(ValueError, match="probability must be in"):
        create_transform(224, is_training=True, re_prob=1.5)
    with pytest.raises(ValueError, match="color_jitter"):
        create_transform(224, is_training=True, color_jitter=(0.1, 0.2))
    with pytest.raises(TypeError, match="expected a PIL image, got Tensor"):
        create_transform(224)(torch.zeros(3, 8, 8))
