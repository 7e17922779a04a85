"""The predict pipeline's data side: images decoded in worker processes, batches sent as uint8.

Workers open each file with `datasets.load_image` (the same hardening as everywhere: FIFOs refused,
bombs and extreme aspect ratios rejected, EXIF orientation applied, 16-bit scaled), let a JPEG much
larger than the input decode at 1/2, 1/4 or 1/8 scale (PIL's draft mode, never below the resize
target), resize and crop it, and send a uint8 [B, C, H, W] batch: a quarter of the bytes of float.
`NormalizedModel` does the float conversion and normalisation on the model side, where `optimize()`
compiles it together with the model.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import nn

from .datasets import ImageReadError, convert_image, load_image
from .transforms import Compose, Normalize, Resize, ResizeKeepRatio, ResizeShorter, ToTensor

__all__ = ["NormalizedModel", "split_normalize", "draft_min_size", "predict_batches", "choose_workers"]

# A JPEG is decoded at reduced scale only down to this multiple of the resize target. Measured on the
# bundled photos enlarged to 900-2400 px, resized to 256 and cropped to 224 (0..255 scale): a decode
# just above the target (1.17x) moved pixels by 2.2 on average (99th percentile 12); at 1.5x or more,
# by at most 0.76 (99th percentile 4).
DRAFT_MARGIN = 1.5

# fewer images than this are decoded in the main process: starting workers would cost more
MIN_IMAGES_FOR_WORKERS = 16


class NormalizedModel(nn.Module):
    """`model` behind a step that turns a uint8 image batch (0..255) into the normalised float input.

    Float inputs are taken as already normalised and passed through unchanged.
    """

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.model = model
        p = next(iter(model.parameters()), None)
        dtype = p.dtype if p is not None and p.is_floating_point() else torch.float32
        device = p.device if p is not None else None
        self.register_buffer("mean", torch.tensor(mean, dtype=dtype, device=device).view(1, -1, 1, 1), False)
        self.register_buffer("std", torch.tensor(std, dtype=dtype, device=device).view(1, -1, 1, 1), False)

    @property
    def pretrained_cfg(self) -> Any:
        return getattr(self.model, "pretrained_cfg", None)

    @property
    def num_classes(self) -> int | None:
        return getattr(self.model, "num_classes", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:  # [B, C, H, W] 0..255
            x = (x.to(self.mean.dtype) / 255.0 - self.mean) / self.std
        return self.model(x)


def split_normalize(transform: Compose) -> tuple[Compose, tuple[float, ...], tuple[float, ...]]:
    """An eval transform ending in ToTensor + Normalize, split into its PIL part, mean and std."""
    steps = list(transform.transforms)
    if len(steps) < 2 or not isinstance(steps[-2], ToTensor) or not isinstance(steps[-1], Normalize):
        raise ValueError(f"expected a transform ending in ToTensor, Normalize; got {transform!r}")
    return Compose(steps[:-2]), steps[-1].mean, steps[-1].std


def draft_min_size(pil_transform: Compose) -> int | None:
    """The smallest side a JPEG may be decoded at: `DRAFT_MARGIN` x the largest side of the transform's
    first resize; None when the transform does not start with a resize (then nothing is drafted)."""
    first = pil_transform.transforms[0] if pil_transform.transforms else None
    if isinstance(first, ResizeShorter):
        target = int(first.size)
    elif isinstance(first, (ResizeKeepRatio, Resize)):
        target = int(max(first.size))
    else:
        return None
    return math.ceil(DRAFT_MARGIN * target)


def _to_uint8(img: Image.Image) -> torch.Tensor:
    arr = np.asarray(img, dtype=np.uint8)  # [H, W] or [H, W, C]
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)  # [C, H, W] uint8


class _PredictImages(torch.utils.data.Dataset):
    """Items (name, path | PIL image | float tensor) -> (name, [C, H, W] tensor or None, failure reason).

    Paths are read with `load_image` (EXIF orientation applied); a file that cannot be read raises when
    `strict`, else comes back with its reason.
    """

    def __init__(
        self, items: Sequence[tuple[str, Any]], pil_transform: Compose, min_size: int | None, strict: bool
    ):
        self.items = list(items)
        self.pil_transform = pil_transform
        self.min_size = min_size
        self.strict = strict

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[str, torch.Tensor | None, str | None]:
        name, obj = self.items[index]
        if isinstance(obj, torch.Tensor):
            return name, obj, None
        if isinstance(obj, str):
            try:
                img = load_image(obj, exif_transpose=True, min_size=self.min_size)
            except (ImageReadError, FileNotFoundError) as e:
                if self.strict:
                    raise
                return name, None, str(e)
        else:
            img = convert_image(ImageOps.exif_transpose(obj), "RGB")
        return name, _to_uint8(self.pil_transform(img)), None


def _collate_runs(samples: list[tuple[str, torch.Tensor | None, str | None]]) -> tuple[list, list]:
    """Stack consecutive images of one shape and dtype: ([(names, [B, C, H, W])...], [(name, reason)...])."""
    runs: list[tuple[list[str], torch.Tensor]] = []
    failed: list[tuple[str, str]] = []
    names: list[str] = []
    tensors: list[torch.Tensor] = []
    for name, t, reason in samples:
        if t is None:
            failed.append((name, reason or "unreadable"))
            continue
        if tensors and (t.shape != tensors[0].shape or t.dtype != tensors[0].dtype):
            runs.append((names, torch.stack(tensors)))  # another size cannot share a batch
            names, tensors = [], []
        names.append(name)
        tensors.append(t)
    if tensors:
        runs.append((names, torch.stack(tensors)))
    return runs, failed


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def choose_workers(num_images: int, num_workers: int | None = None) -> int:
    """Decoding worker processes for `num_images`: `num_workers` if given, else none for a handful of
    images and one per two cores otherwise (at least one); decoding is a small share of the work."""
    if num_workers is not None:
        return num_workers
    if num_images < MIN_IMAGES_FOR_WORKERS:
        return 0
    return max(1, available_cores() // 2)


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)  # PIL decodes on one thread; leave the cores to the model


def predict_batches(
    items: Sequence[tuple[str, Any]],
    pil_transform: Compose,
    batch_size: int,
    strict: bool,
    skipped: list[tuple[str, str]],
    num_workers: int = 0,
    draft: bool = True,
    pin_memory: bool = False,
) -> Iterator[tuple[list[str], torch.Tensor]]:
    """(names, batch) in input order: uint8 [B, C, H, W] for files and PIL images, the given float
    tensors as they are. Unreadable files raise when `strict`, else are appended to `skipped`.

    `num_workers` processes decode ahead of the consumer (0: in this process); `draft` lets JPEGs
    decode at reduced size when that still covers the resize target; `pin_memory` (for a CUDA model)
    gives page-locked batches, so that the copy to the GPU can be non-blocking.
    """
    min_size = draft_min_size(pil_transform) if draft else None
    dataset = _PredictImages(items, pil_transform, min_size, strict)
    context = None
    if num_workers > 0 and "fork" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("fork")  # no re-import of torch in each worker
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=num_workers,
        collate_fn=_collate_runs,
        worker_init_fn=_worker_init if num_workers > 0 else None,
        multiprocessing_context=context,
        prefetch_factor=2 if num_workers > 0 else None,
        pin_memory=pin_memory,
    )
    for runs, failed in loader:
        skipped += failed
        yield from runs
