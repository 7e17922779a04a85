"""Data: preprocessing config, transforms, label names, datasets and bundled sample photos.

Submodules load on demand (`visionzoo.data.transforms` imports torch; this package does not).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["SAMPLE_IMAGES", "sample_image_path"]

# name -> file in data/samples/ (CC0 photographs from scikit-image; see samples/README.md)
SAMPLE_IMAGES = {"chelsea": "chelsea.png", "coffee": "coffee.png"}


def sample_image_path(name: str = "chelsea") -> Path:
    """Path of a bundled sample photo: 'chelsea' (a tabby cat) or 'coffee' (a cup of coffee)."""
    key = name.lower().removesuffix(".png")
    if key not in SAMPLE_IMAGES:
        raise ValueError(f"unknown sample image {name!r}; choose one of {', '.join(SAMPLE_IMAGES)}")
    return Path(str(resources.files(__name__).joinpath("samples", SAMPLE_IMAGES[key])))
