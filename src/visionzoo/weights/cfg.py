"""`PretrainedCfg`: everything known about one `architecture.tag` weight set, kept apart from the model code."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

IMAGENET_DEFAULT_MEAN = (0.485, 0.456, 0.406)
IMAGENET_DEFAULT_STD = (0.229, 0.224, 0.225)
IMAGENET_INCEPTION_MEAN = (0.5, 0.5, 0.5)
IMAGENET_INCEPTION_STD = (0.5, 0.5, 0.5)

# Label sets a classifier head may predict, keyed by name; values are the class counts.
LABEL_SETS = {
    "imagenet-1k": 1000,
    "imagenet-12k": 11821,
    "imagenet-21k": 21841,  # fall11 release, as used by the Swin/ConvNeXt "in22k" heads
    "imagenet-21k-goog": 21843,  # Google's release, as used by the ViT "in21k" heads
}


def label_set_for(num_classes: int) -> str | None:
    """Best guess of the label set for a head with `num_classes` outputs."""
    for name, n in LABEL_SETS.items():
        if n == num_classes:
            return name
    return None


@dataclass
class PretrainedCfg:
    """Source, preprocessing, head and provenance of one pretrained weight set."""

    architecture: str = ""
    tag: str = ""

    # Where the weights come from, tried in this order: file, package, hub, url.
    file: str | None = None
    package: tuple[str, str] | None = None  # (importable package, path of the file inside it)
    hf_hub_id: str | None = None
    hf_hub_filename: str | None = None
    url: str | None = None
    sha256: str | None = None  # hex digest checked after a url download
    state_dict_key: str | None = None  # key holding the weights inside a nested checkpoint

    # Preprocessing the weights expect.
    input_size: tuple[int, int, int] = (3, 224, 224)
    test_input_size: tuple[int, int, int] | None = None
    fixed_input_size: bool = False
    interpolation: str = "bicubic"
    crop_pct: float = 0.875
    test_crop_pct: float | None = None
    crop_mode: str = "center"
    mean: tuple[float, ...] = IMAGENET_DEFAULT_MEAN
    std: tuple[float, ...] = IMAGENET_DEFAULT_STD

    # The classifier head.
    num_classes: int = 1000
    label_set: str | None = "imagenet-1k"
    label_names: tuple[str, ...] | None = None  # explicit class names (fine-tuned user checkpoints)
    classifier: str | tuple[str, ...] = "head"
    first_conv: str | tuple[str, ...] = "conv1"
    pool_size: tuple[int, int] | None = None

    # Provenance.
    license: str | None = None
    top1: float | None = None
    paper_ids: str | None = None
    origin_url: str | None = None
    notes: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.architecture}.{self.tag}" if self.tag else self.architecture

    @property
    def has_weights(self) -> bool:
        return any((self.file, self.package, self.hf_hub_id, self.url))

    def replace(self, **overlay: Any) -> PretrainedCfg:
        """A copy with some fields changed; unknown field names raise a TypeError naming them."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overlay) - names)
        if unknown:
            raise TypeError(f"unknown pretrained cfg field(s) {unknown}; known fields: {sorted(names)}")
        return dataclasses.replace(self, **overlay)

    def to_dict(self, drop_empty: bool = True) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        if drop_empty:
            out = {k: v for k, v in out.items() if v not in (None, {}, ())}
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PretrainedCfg:
        """Build from a dict, e.g. a hub `config.json`'s `pretrained_cfg`; unknown keys go to `extra`."""
        names = {f.name for f in dataclasses.fields(cls)}
        known = {k: v for k, v in d.items() if k in names and k != "extra"}
        for key in ("input_size", "test_input_size", "mean", "std", "pool_size", "package", "label_names"):
            if isinstance(known.get(key), list):
                known[key] = tuple(known[key])
        if isinstance(known.get("classifier"), list):
            known["classifier"] = tuple(known["classifier"])
        extra = {k: v for k, v in d.items() if k not in names}
        extra.update(d.get("extra") or {})
        return cls(**known, extra=extra)
