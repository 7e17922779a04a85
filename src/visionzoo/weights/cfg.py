"""`PretrainedCfg`: everything known about one `architecture.tag` weight set, kept apart from the model code."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

IMAGENET_DEFAULT_MEAN = (0.485, 0.456, 0.406)
IMAGENET_DEFAULT_STD = (0.229, 0.224, 0.225)
IMAGENET_INCEPTION_MEAN = (0.5, 0.5, 0.5)
IMAGENET_INCEPTION_STD = (0.5, 0.5, 0.5)

# Fields held as tuples; lists given for them (JSON, item assignment) are converted.
_TUPLE_FIELDS = (
    "input_size",
    "test_input_size",
    "mean",
    "std",
    "pool_size",
    "package",
    "label_names",
    "classifier",
    "first_conv",
)


def _as_field_value(key: str, value: Any) -> Any:
    return tuple(value) if key in _TUPLE_FIELDS and isinstance(value, list) else value


@dataclass
class PretrainedCfg(MutableMapping):
    """Source, preprocessing, head and provenance of one pretrained weight set.

    Fields read as attributes (`cfg.mean`) or, as timm's cfg dicts, as items (`cfg["mean"]`,
    `cfg.get("crop_pct")`, `dict(cfg)`, `**cfg`). The mapping view holds the fields that are not None,
    then the keys of `extra`; assigning an item sets the field (an unknown key goes to `extra`), and
    deleting one sets an optional field to None. Every model gets its own copy, so changing a model's
    cfg changes no other model's.
    """

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
        """A copy (with its own `extra`) with some fields changed; unknown field names raise a TypeError."""
        unknown = sorted(set(overlay) - _FIELD_NAMES)
        if unknown:
            raise TypeError(
                f"unknown pretrained cfg field(s) {unknown}; known fields: {sorted(_FIELD_NAMES)}"
            )
        overlay.setdefault("extra", copy.deepcopy(self.extra))
        return dataclasses.replace(self, **overlay)

    def copy(self) -> PretrainedCfg:
        """An independent copy: changing it changes nothing in this cfg."""
        return self.replace()

    # The mapping view, for code written against timm's dict cfgs.
    def __getitem__(self, key: str) -> Any:
        if key in _ITEM_FIELD_SET:
            value = getattr(self, key)
            if value is not None:
                return value
        elif key in self.extra:
            return self.extra[key]
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        yield from (k for k in _ITEM_FIELDS if getattr(self, k) is not None)
        yield from (k for k in self.extra if k not in _FIELD_NAMES)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str):
            raise TypeError(f"pretrained cfg keys are strings, got {type(key).__name__}")
        if key in _ITEM_FIELD_SET:
            setattr(self, key, _as_field_value(key, value))
        elif key == "extra":
            raise TypeError("set `extra` as an attribute (cfg.extra = {...}), not as an item")
        else:
            self.extra[key] = value

    def __delitem__(self, key: str) -> None:
        if key in _ITEM_FIELD_SET:
            if getattr(self, key) is None:
                raise KeyError(key)
            if key not in _OPTIONAL_FIELDS:
                raise TypeError(f"pretrained cfg field {key!r} cannot be deleted; assign a new value instead")
            setattr(self, key, None)
        else:
            del self.extra[key]

    def to_dict(self, drop_empty: bool = True) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        if drop_empty:
            out = {k: v for k, v in out.items() if v not in (None, {}, ())}
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PretrainedCfg:
        """Build from a dict, e.g. a hub `config.json`'s `pretrained_cfg`; unknown keys go to `extra`."""
        known = {k: _as_field_value(k, v) for k, v in d.items() if k in _ITEM_FIELD_SET}
        extra = {k: v for k, v in d.items() if k not in _FIELD_NAMES}
        extra.update(d.get("extra") or {})
        return cls(**known, extra=extra)


_FIELDS = dataclasses.fields(PretrainedCfg)
_FIELD_NAMES = frozenset(f.name for f in _FIELDS)
_ITEM_FIELDS = tuple(f.name for f in _FIELDS if f.name != "extra")  # `extra` is flattened into the view
_ITEM_FIELD_SET = frozenset(_ITEM_FIELDS)
_OPTIONAL_FIELDS = frozenset(f.name for f in _FIELDS if "None" in str(f.type))  # deleting sets them to None
