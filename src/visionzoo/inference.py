"""`predict`: labelled, ranked answers for images, preprocessed the way the model's weights expect."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageOps

from .data.config import resolve_data_config
from .data.datasets import ImageReadError, convert_image, load_image, scan_images, warn_skipped
from .data.labels import label_names_for
from .data.transforms import create_transform
from .utils.checks import check_int
from .utils.device import default_device, resolve_device

__all__ = ["predict", "Prediction", "default_device"]


class Prediction(list):
    """Top-k answers for one image: a list of (label, probability), best first.

    Attributes:
        source: the image's path, or '<PIL image 3>' / '<tensor 0>' for in-memory inputs.
        indices: the class indices of the answers, in the same order.
    """

    def __init__(self, items: Iterable[tuple[str, float]], source: str, indices: Sequence[int]) -> None:
        super().__init__(items)
        self.source = source
        self.indices = list(indices)

    @property
    def label(self) -> str:
        """The top answer's label."""
        return self[0][0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "image": self.source,
            "predictions": [
                {"rank": r, "label": lab, "index": i, "probability": p}
                for r, ((lab, p), i) in enumerate(zip(self, self.indices), start=1)
            ],
        }

    def __repr__(self) -> str:
        return f"Prediction({self.source!r}, {list(self)!r})"


# One input image: (source name, path or PIL image or preprocessed [C, H, W] tensor)
_Item = tuple[str, "str | Image.Image | torch.Tensor"]


def _expand(images: Any, skipped: list[tuple[str, str]]) -> list[_Item]:
    """Flatten paths, folders (recursively), PIL images and tensors into single images.

    Image-named entries of folders that are not regular files are added to `skipped` as (path, reason).
    """
    if isinstance(images, (str, os.PathLike, Image.Image, torch.Tensor)):
        images = [images]
    elif not isinstance(images, (list, tuple)):
        raise TypeError(
            f"images must be a path, folder, PIL image, tensor or a list of them, got {type(images).__name__}"
        )
    items: list[_Item] = []
    for n, obj in enumerate(images):
        if isinstance(obj, (str, os.PathLike)):
            p = Path(obj)
            if p.is_dir():
                found, left_out = scan_images(p)
                if not found:
                    hint = f" ({len(left_out)} left out; first: {left_out[0][1]})" if left_out else ""
                    raise ValueError(f"no image files found in folder {p}{hint}")
                skipped += left_out
                items += [(str(f), str(f)) for f in found]
            elif p.exists():
                items.append((str(p), str(p)))
            else:
                raise FileNotFoundError(f"image not found: {p}")
        elif isinstance(obj, Image.Image):
            items.append((f"<PIL image {n}>", obj))
        elif isinstance(obj, torch.Tensor):
            if obj.ndim == 3:
                items.append((f"<tensor {n}>", obj))
            elif obj.ndim == 4:
                items += [(f"<tensor {n}[{b}]>", t) for b, t in enumerate(obj)]
            else:
                raise ValueError(
                    f"a tensor input must be a preprocessed [C, H, W] or [B, C, H, W] image, got shape {tuple(obj.shape)}"
                )
            if not obj.is_floating_point():
                raise TypeError(f"a tensor input must be a normalised float tensor, got {obj.dtype}")
        else:
            raise TypeError(
                f"cannot predict on a {type(obj).__name__}; give paths, folders, PIL images or tensors"
            )
    if not items:
        raise ValueError("no images given")
    return items


def _batches(
    items: list[_Item], transform: Any, batch_size: int, strict: bool, skipped: list[tuple[str, str]]
) -> Iterator[tuple[list[str], torch.Tensor]]:
    """Load, preprocess and stack images; unreadable files raise when `strict`, else go to `skipped`.

    Files and PIL images are turned upright by their EXIF Orientation tag, as a viewer shows them.
    """
    names: list[str] = []
    tensors: list[torch.Tensor] = []
    for name, obj in items:
        if isinstance(obj, str):
            try:
                obj = load_image(obj, exif_transpose=True)
            except (ImageReadError, FileNotFoundError) as e:
                if strict:
                    raise
                skipped.append((name, str(e)))
                continue
        elif isinstance(obj, Image.Image):
            obj = convert_image(ImageOps.exif_transpose(obj), "RGB")
        t = obj if isinstance(obj, torch.Tensor) else transform(obj)  # [C, H, W]
        if tensors and t.shape != tensors[0].shape:
            # tensors of another size cannot share a batch: flush what we have
            yield names, torch.stack(tensors)
            names, tensors = [], []
        names.append(name)
        tensors.append(t)
        if len(tensors) == batch_size:
            yield names, torch.stack(tensors)  # [B, C, H, W]
            names, tensors = [], []
    if tensors:
        yield names, torch.stack(tensors)


def _no_classifier_message(name: str) -> str:
    return (
        f"{name} has no classifier (num_classes=0): it gives pooled embeddings, not class scores; to predict "
        "classes, attach a head with create_model(..., num_classes=N) and fine-tune it on labelled images"
    )


def predict(
    model_or_name: str | torch.nn.Module,
    images: Any,
    topk: int = 5,
    batch_size: int = 32,
    device: str | torch.device | None = None,
    pretrained: bool = True,
    checkpoint_path: str | os.PathLike | None = None,
    progress: bool = False,
) -> list[Prediction]:
    """Classify images; returns one `Prediction` (a list of (label, probability), best first) per image.

    Args:
        model_or_name: a model name ('tf_efficientnet_lite0', 'resnet50.a1_in1k') or a model instance.
            Its `pretrained_cfg` sets the preprocessing and the label names.
        images: a path, a folder (searched recursively for image files), a PIL image, a preprocessed
            float tensor [C, H, W] or [B, C, H, W], or a list mixing these.
        topk: answers per image (capped at the number of classes).
        batch_size: images per forward pass.
        device: where to run; default cuda, then mps, then cpu.
        pretrained: load the name's pretrained weights (ignored for a model instance).
        checkpoint_path: a checkpoint of your own to load into the named model.
        progress: show a tqdm progress bar on stderr.

    Returns:
        `list[Prediction]` in input order (folders in sorted path order). Each Prediction also has
        `.source` (path or '<PIL image i>'), `.indices` (class indices) and `.label` (the top answer).
        Files and PIL images are turned upright by their EXIF Orientation tag first. With several
        images, files that cannot be read (corrupt, not regular files, decompression bombs beyond
        `PIL.Image.MAX_IMAGE_PIXELS`, more elongated than `MAX_ASPECT_RATIO`:1) are left out, with
        one UnreadableImageWarning giving their count and the first of them; with a single image
        it raises ImageReadError naming the file.

    Example:
        >>> predict("tf_efficientnet_lite0", "cat.jpg", topk=3)[0]
        [('tabby', 0.61), ('tiger cat', 0.22), ('Egyptian cat', 0.11)]
    """
    check_int("topk", topk, 1)
    check_int("batch_size", batch_size, 1)
    dev = resolve_device(device)
    skipped: list[tuple[str, str]] = []  # (source, reason) of images left out
    items = _expand(images, skipped)
    num_left_out = len(skipped)  # by the folder scan, before anything is opened

    if isinstance(model_or_name, str):
        from .factory import create_model, resolve_pretrained_cfg

        if checkpoint_path is None and not resolve_pretrained_cfg(model_or_name, warn=False)[1].num_classes:
            raise ValueError(_no_classifier_message(model_or_name))  # before fetching a headless tower
        model = create_model(model_or_name, pretrained=pretrained, checkpoint_path=checkpoint_path)
    elif isinstance(model_or_name, torch.nn.Module):
        if checkpoint_path is not None:
            raise ValueError(
                "checkpoint_path applies to a model name; load it into your model instance yourself"
            )
        model = model_or_name
    else:
        raise TypeError(
            f"model_or_name must be a model name or an nn.Module, got {type(model_or_name).__name__}"
        )
    cfg = getattr(model, "pretrained_cfg", None)
    num_classes = getattr(model, "num_classes", None)
    if not num_classes:
        raise ValueError(_no_classifier_message(getattr(cfg, "name", None) or type(model).__name__))
    labels = label_names_for(cfg, num_classes)
    data_cfg = resolve_data_config(model=model) if cfg is not None else resolve_data_config(args={})
    transform = create_transform(**data_cfg)
    k = min(topk, num_classes)

    model = model.to(dev).eval()
    dtype = next(model.parameters()).dtype
    strict = len(items) == 1
    results: list[Prediction] = []
    batches = _batches(items, transform, batch_size, strict, skipped)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(items), unit="img", desc="predict", leave=False)
    try:
        with torch.inference_mode():
            for names, x in batches:
                logits = model(x.to(dev, dtype))  # [B, num_classes]
                if logits.ndim != 2 or logits.shape[1] != num_classes:
                    raise ValueError(f"expected model output [B, {num_classes}], got {tuple(logits.shape)}")
                probs = logits.float().softmax(dim=-1)
                top_p, top_i = probs.topk(k, dim=-1)  # [B, k]
                for name, ps, ids in zip(names, top_p.cpu().tolist(), top_i.cpu().tolist()):
                    results.append(Prediction(((labels[i], p) for i, p in zip(ids, ps)), name, ids))
                if bar is not None:
                    bar.update(len(names))
    finally:
        if bar is not None:
            bar.close()
    warn_skipped(skipped, len(items) + num_left_out, stacklevel=2)
    if not results:
        raise ValueError("none of the given images could be read")
    return results
