"""Label sets shipped with the package, checked against timm's ImageNetInfo (the oracle)."""

import gzip
from pathlib import Path

import pytest
import timm.data

import visionzoo
import visionzoo.registry
import visionzoo.weights.cfg
from visionzoo.data.labels import (
    LABEL_SET_SIZES,
    ImageNetInfo,
    label_names_for,
    label_set_for,
    list_label_sets,
)
from visionzoo.weights.cfg import PretrainedCfg

LABEL_DIR = Path(visionzoo.__file__).parent / "data" / "labels"

# our name -> timm's name for the same list
TIMM_NAMES = {
    "imagenet-1k": "imagenet-1k",
    "imagenet-12k": "imagenet-12k",
    "imagenet-21k": "imagenet-22k",
    "imagenet-21k-goog": "imagenet-21k-goog",
    "imagenet-22k-ms": "imagenet-22k-ms",
}


@pytest.mark.parametrize("ours,theirs", TIMM_NAMES.items())
def test_synsets_and_descriptions_match_timm(ours, theirs):
    info, ref = ImageNetInfo(ours), timm.data.ImageNetInfo(theirs)
    assert len(info) == ref.num_classes() == LABEL_SET_SIZES[ours]
    assert info.synsets() == [ref.index_to_label_name(i) for i in range(ref.num_classes())]
    for i in (0, 1, len(info) // 2, len(info) - 1):
        assert info.index_to_description(i) == ref.index_to_description(i)


def test_label_set_for_names_each_shipped_set_by_its_size():
    for name in list_label_sets():
        lines = gzip.decompress((LABEL_DIR / f"{name}.txt.gz").read_bytes()).decode().split()
        assert label_set_for(len(lines)) == name
    assert label_set_for(11221) == "imagenet-21k-miil"
    assert label_set_for(3) is None and label_set_for(0) is None


def test_one_label_set_table():
    # the cfg module keeps no label-set table of its own
    assert not hasattr(visionzoo.weights.cfg, "LABEL_SETS")
    assert not hasattr(visionzoo.weights.cfg, "label_set_for")
    # every weight set of the tables has a shipped label set of the head's size, or none
    for name in visionzoo.list_models(module=visionzoo.registry.FAMILY_TABLES, include_tags=True):
        cfg = visionzoo.get_pretrained_cfg(name)
        if cfg.label_set is not None:
            assert LABEL_SET_SIZES[cfg.label_set] == cfg.num_classes, name
    assert visionzoo.get_pretrained_cfg("mobilenetv3_large_100.miil_in21k").label_set == "imagenet-21k-miil"


def test_known_imagenet_1k_classes():
    info = ImageNetInfo("imagenet-1k")
    assert [info.index_to_name(i) for i in (281, 282, 285)] == ["tabby", "tiger cat", "Egyptian cat"]
    assert info.index_to_synset(281) == "n02123045"
    assert info.name_to_index("tabby") == 281
    assert info.name_to_index("Tabby, Tabby Cat") == 281  # description, case-insensitive
    assert info.synset_to_index("n02123045") == 281
    # two classes share the lemma 'crane': names stay unique
    assert info.index_to_name(134) == "crane (n02012849)"
    assert info.index_to_name(517) == "crane (n03126707)"
    names = info.names()
    assert len(set(names)) == 1000
    assert all(info.name_to_index(n) == i for i, n in enumerate(names))


def test_aliases():
    assert ImageNetInfo("in1k").label_set == "imagenet-1k"
    assert ImageNetInfo("imagenet22k").label_set == "imagenet-21k"
    assert len(ImageNetInfo("in21k")) == 21843


def test_errors():
    with pytest.raises(ValueError, match="unknown label set 'places365'"):
        ImageNetInfo("places365")
    info = ImageNetInfo()
    with pytest.raises(IndexError, match="1000 out of range"):
        info.index_to_name(1000)
    with pytest.raises(TypeError, match="must be an int"):
        info.index_to_name("3")
    with pytest.raises(KeyError, match="not a class name"):
        info.name_to_index("unicorn")


def test_label_names_for_priority():
    explicit = PretrainedCfg(num_classes=2, label_names=("cat", "dog"), label_set=None)
    assert label_names_for(explicit) == ["cat", "dog"]
    assert label_names_for(PretrainedCfg(num_classes=21841, label_set="imagenet-21k"))[0] == "organism"
    # no label set named: found by size; unknown size: generic names
    assert label_names_for(PretrainedCfg(num_classes=1000, label_set=None))[281] == "tabby"
    assert label_names_for(PretrainedCfg(num_classes=3, label_set=None)) == ["class_0", "class_1", "class_2"]
    # a head resized away from its label set does not get that set's names
    assert label_names_for(PretrainedCfg(label_set="imagenet-1k"), num_classes=10)[9] == "class_9"
    with pytest.raises(ValueError, match="2 label_names for a head of 5 classes"):
        label_names_for(explicit, num_classes=5)
