"""Real data for the training tests: scikit-learn's handwritten digits, written out as an image folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def write_digits(root: Path, n_train: int | None = None, n_val: int | None = None, size: int = 32) -> Path:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images, labels = digits.images, digits.target  # (1797, 8, 8) values 0..16
    order = np.random.default_rng(0).permutation(len(labels))
    images, labels = images[order], labels[order]
    split = int(0.8 * len(labels))
    parts = {
        "train": slice(0, split if n_train is None else n_train),
        "val": slice(split, len(labels) if n_val is None else split + n_val),
    }
    for part, sl in parts.items():
        for i, (img, lab) in enumerate(zip(images[sl], labels[sl])):
            d = root / part / str(lab)
            d.mkdir(parents=True, exist_ok=True)
            arr = (img * (255.0 / 16.0)).astype(np.uint8)
            Image.fromarray(arr, "L").resize((size, size), Image.BILINEAR).save(d / f"{i:04d}.png")
    return root


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory) -> Path:
    """The full digits set: 1437 training and 360 validation images in 10 class folders."""
    return write_digits(tmp_path_factory.mktemp("digits"))


@pytest.fixture(scope="session")
def small_digits_dir(tmp_path_factory) -> Path:
    """128 training and 64 validation digits, for tests about mechanics rather than accuracy."""
    return write_digits(tmp_path_factory.mktemp("digits_small"), n_train=128, n_val=64)
