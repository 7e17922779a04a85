"""Class names for the label sets pretrained heads predict (ImageNet-1k, -12k, -21k, ...).

The synset lists and WordNet lemmas ship with the package as gzip files in `data/labels/`
(regenerate with `scripts/gen_label_files.py`). Nothing here needs torch.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from functools import cache, lru_cache
from importlib import resources
from typing import Any

__all__ = ["ImageNetInfo", "LABEL_SET_SIZES", "label_names_for", "label_set_for", "list_label_sets"]

# The one table of label sets: name (as in PretrainedCfg.label_set) -> number of classes. The sizes are
# distinct, so a head's class count names its label set.
LABEL_SET_SIZES = {
    "imagenet-1k": 1000,
    "imagenet-12k": 11821,
    "imagenet-21k": 21841,  # fall11 release, as used by the Swin/ConvNeXt "in22k" heads
    "imagenet-21k-goog": 21843,  # Google's release, as used by the ViT "in21k" heads
    "imagenet-21k-miil": 11221,  # Alibaba MIIL's processed ImageNet-21k
    "imagenet-22k-ms": 21842,  # Microsoft's release
}

_ALIASES = {
    "imagenet": "imagenet-1k",
    "imagenet1k": "imagenet-1k",
    "in1k": "imagenet-1k",
    "imagenet12k": "imagenet-12k",
    "in12k": "imagenet-12k",
    "imagenet21k": "imagenet-21k",
    "imagenet22k": "imagenet-21k",
    "in22k": "imagenet-21k",
    "imagenet21k-goog": "imagenet-21k-goog",
    "in21k": "imagenet-21k-goog",
}


def list_label_sets() -> list[str]:
    """Names of the label sets that ship with the package."""
    return list(LABEL_SET_SIZES)


def label_set_for(num_classes: int) -> str | None:
    """The label set whose size is `num_classes`, or None when no shipped set has that many classes."""
    return next((name for name, size in LABEL_SET_SIZES.items() if size == num_classes), None)


def _read_gz_lines(filename: str) -> list[str]:
    data = resources.files("visionzoo.data").joinpath("labels", filename).read_bytes()
    return gzip.decompress(data).decode("utf-8").splitlines()


@cache
def _synsets(label_set: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in _read_gz_lines(f"{label_set}.txt.gz") if line.strip())


@lru_cache(maxsize=1)
def _lemmas() -> dict[str, str]:
    out = {}
    for line in _read_gz_lines("synset_lemmas.tsv.gz"):
        synset, _, lemma = line.partition("\t")
        out[synset] = lemma
    return out


def _canonical(subset: str) -> str:
    if not isinstance(subset, str):
        raise TypeError(f"label set must be a string, got {type(subset).__name__}")
    key = subset.strip().lower().replace("_", "-")
    key = _ALIASES.get(key, _ALIASES.get(key.replace("-", ""), key))
    if key not in LABEL_SET_SIZES:
        raise ValueError(f"unknown label set {subset!r}; known label sets: {', '.join(LABEL_SET_SIZES)}")
    return key


class ImageNetInfo:
    """Index <-> synset <-> class name lookup for one ImageNet label set.

    `name` is the first WordNet lemma ('tabby'); where two classes of the set share it
    (ImageNet-1k has two 'crane's), the synset is appended: 'crane (n02012849)'.
    `description` is the full lemma list ('tabby, tabby cat').

    >>> info = ImageNetInfo("imagenet-1k")
    >>> info.index_to_name(281), info.index_to_synset(281), info.name_to_index("tabby")
    ('tabby', 'n02123045', 281)
    """

    def __init__(self, subset: str = "imagenet-1k") -> None:
        self.label_set = _canonical(subset)
        self._synsets = _synsets(self.label_set)
        lemmas = _lemmas()
        self._descriptions = tuple(lemmas.get(s, s) for s in self._synsets)
        short = [d.split(",")[0].strip() for d in self._descriptions]
        counts: dict[str, int] = {}
        for n in short:
            counts[n] = counts.get(n, 0) + 1
        self._names = tuple(n if counts[n] == 1 else f"{n} ({s})" for n, s in zip(short, self._synsets))
        # lookups by unique name, synset, or unambiguous description / short name; exact case first
        self._exact: dict[str, int] = {}
        for i, (name, syn, desc, sh) in enumerate(zip(self._names, self._synsets, self._descriptions, short)):
            self._exact.setdefault(desc, i)
            if counts[sh] == 1:
                self._exact[sh] = i
            self._exact[name] = i
            self._exact[syn] = i
        self._folded: dict[str, int] = {}
        for key, i in self._exact.items():
            self._folded.setdefault(key.lower(), i)

    def __len__(self) -> int:
        return len(self._synsets)

    def __repr__(self) -> str:
        return f"ImageNetInfo({self.label_set!r}, num_classes={len(self)})"

    def num_classes(self) -> int:
        return len(self._synsets)

    def _check(self, index: Any) -> int:
        if isinstance(index, bool) or not hasattr(index, "__index__"):
            raise TypeError(f"class index must be an int, got {type(index).__name__}")
        i = index.__index__()
        if not 0 <= i < len(self._synsets):
            raise IndexError(f"class index {i} out of range for {self.label_set} ({len(self)} classes)")
        return i

    def index_to_name(self, index: int) -> str:
        return self._names[self._check(index)]

    def index_to_synset(self, index: int) -> str:
        return self._synsets[self._check(index)]

    def index_to_description(self, index: int) -> str:
        return self._descriptions[self._check(index)]

    def name_to_index(self, name: str) -> int:
        """Index of a class given its name, full description or synset id (exact case preferred)."""
        key = str(name).strip()
        i = self._exact.get(key, self._folded.get(key.lower()))
        if i is None:
            raise KeyError(f"{name!r} is not a class name or synset of {self.label_set}")
        return i

    def synset_to_index(self, synset: str) -> int:
        return self.name_to_index(synset)

    def names(self) -> list[str]:
        return list(self._names)

    def synsets(self) -> list[str]:
        return list(self._synsets)


def label_names_for(cfg: Any = None, num_classes: int | None = None) -> list[str]:
    """Class names for a classifier head, best source first.

    `cfg.label_names` (explicit names of a fine-tuned checkpoint) win, then the cfg's
    `label_set`, then a shipped label set with `num_classes` classes; otherwise 'class_<i>'.
    """
    n = num_classes if num_classes is not None else getattr(cfg, "num_classes", None)
    explicit: Sequence[str] | None = getattr(cfg, "label_names", None)
    if explicit:
        if n is not None and len(explicit) != n:
            raise ValueError(f"pretrained cfg has {len(explicit)} label_names for a head of {n} classes")
        return list(explicit)
    label_set = getattr(cfg, "label_set", None)
    if label_set and label_set in LABEL_SET_SIZES and (n is None or LABEL_SET_SIZES[label_set] == n):
        return ImageNetInfo(label_set).names()
    if n is not None:
        guess = label_set_for(n)
        return ImageNetInfo(guess).names() if guess else [f"class_{i}" for i in range(n)]
    raise ValueError("cannot tell the class names: no label_names, label_set or num_classes")
