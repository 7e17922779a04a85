"""validate on a subset of the head's label set, with real pretrained weights and real photos."""

from __future__ import annotations

import shutil

import pytest

from visionzoo.data import sample_image_path
from visionzoo.train import validate


@pytest.mark.parametrize("naming", ["synset", "name"])
def test_validate_imagenet_subset_maps_classes(tmp_path, naming):
    folders = {"synset": ("n02123045", "n07920052"), "name": ("tabby", "espresso")}[naming]
    for folder, sample in zip(folders, ("chelsea", "coffee")):
        (tmp_path / "val" / folder).mkdir(parents=True)
        shutil.copy(sample_image_path(sample), tmp_path / "val" / folder / f"{sample}.png")
    res = validate("tf_efficientnet_lite0", str(tmp_path), pretrained=True, num_workers=0)
    assert res.num_images == 2
    # restricted to the two matching outputs of the 1000-class head, both photos are right
    assert res.top1 == 100.0
    assert set(res.per_class) == set(folders)


def test_validate_rejects_unmappable_classes(tmp_path):
    for folder in ("cats", "mugs"):
        (tmp_path / "val" / folder).mkdir(parents=True)
        shutil.copy(sample_image_path("chelsea"), tmp_path / "val" / folder / "x.png")
    with pytest.raises(ValueError, match="not a imagenet-1k class"):
        validate("tf_efficientnet_lite0", str(tmp_path), pretrained=True, num_workers=0)
