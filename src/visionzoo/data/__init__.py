"""Data: preprocessing config, transforms, label names, datasets and bundled sample photos.

The names timm users import from `timm.data` are here too (`from visionzoo.data import
resolve_data_config, create_transform`). Submodules load on demand (`visionzoo.data.transforms`
imports torch; this package does not).
"""

from __future__ import annotations

import importlib
from importlib import resources
from pathlib import Path
from typing import Any

# public name -> submodule that defines it, resolved on first access
_LAZY = {
    "resolve_data_config": "config",
    "resolve_model_data_config": "config",
    "create_transform": "transforms",
    "create_dataset": "datasets",
    "create_loader": "datasets",
    "ImageNetInfo": "labels",
    "IMAGENET_DEFAULT_MEAN": "..weights.cfg",
    "IMAGENET_DEFAULT_STD": "..weights.cfg",
    "IMAGENET_INCEPTION_MEAN": "..weights.cfg",
    "IMAGENET_INCEPTION_STD": "..weights.cfg",
}

__all__ = ["SAMPLE_IMAGES", "sample_image_path", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    relative = module if module.startswith("..") else "." + module
    value = getattr(importlib.import_module(relative, __name__), name)
    globals()[name] = value
    return value


# name -> file in data/samples/ (CC0 photographs from scikit-image; see samples/README.md)
SAMPLE_IMAGES = {"chelsea": "chelsea.png", "coffee": "coffee.png"}


def sample_image_path(name: str = "chelsea") -> Path:
    """Path of a bundled sample photo: 'chelsea' (a tabby cat) or 'coffee' (a cup of coffee)."""
    key = name.lower().removesuffix(".png")
    if key not in SAMPLE_IMAGES:
        raise ValueError(f"unknown sample image {name!r}; choose one of {', '.join(SAMPLE_IMAGES)}")
    return Path(str(resources.files(__name__).joinpath("samples", SAMPLE_IMAGES[key])))
