"""`predict`: labelled, ranked answers for images, preprocessed the way the model's weights expect."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from .data.config import resolve_data_config
from .data.datasets import scan_images, warn_skipped
from .data.labels import label_names_for
from .data.loader import NormalizedModel, choose_workers, predict_batches, split_normalize
from .data.transforms import Compose, create_transform
from .fast_inference import OptimizedModel, OptimizePlan, fixed_batch_if_compiled, optimize_if_asked
from .utils.checks import check_bool, check_int
from .utils.device import default_device, resolve_device

__all__ = ["predict", "Prediction", "Predictions", "default_device"]


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


def _no_classifier_message(name: str) -> str:
    return (
        f"{name} has no classifier (num_classes=0): it gives pooled embeddings, not class scores; to predict "
        "classes, attach a head with create_model(..., num_classes=N) and fine-tune it on labelled images"
    )


class Predictions(list):
    """`list[Prediction]`, one per image read, plus `plan`: what `optimize` applied (None: plain eager)."""

    def __init__(self, items: Iterable[Prediction], plan: OptimizePlan | None = None) -> None:
        super().__init__(items)
        self.plan = plan


def _load_model(
    model_or_name: str | torch.nn.Module, pretrained: bool, checkpoint_path: str | os.PathLike | None
) -> torch.nn.Module:
    """The model named (with its weights) or given."""
    if isinstance(model_or_name, str):
        from .factory import create_model

        return create_model(model_or_name, pretrained=pretrained, checkpoint_path=checkpoint_path)
    if isinstance(model_or_name, torch.nn.Module):
        if checkpoint_path is not None:
            raise ValueError(
                "checkpoint_path applies to a model name; load it into your model instance yourself"
            )
        return model_or_name
    raise TypeError(f"model_or_name must be a model name or an nn.Module, got {type(model_or_name).__name__}")


def _preprocessing(model: torch.nn.Module) -> tuple[Compose, tuple[float, ...], tuple[float, ...]]:
    """The model's eval transform as its PIL part (resize, crop: run in the workers) and mean, std."""
    cfg = getattr(model, "pretrained_cfg", None)
    data_cfg = resolve_data_config(model=model) if cfg is not None else resolve_data_config(args={})
    return split_normalize(create_transform(**data_cfg))


def _prepare_model(
    model: torch.nn.Module,
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device,
    precision: str | None,
    compile: bool | None,
    fast: bool,
    owned: bool,
    calibration: Any = None,
) -> tuple[torch.nn.Module, OptimizePlan | None]:
    """The model behind its normalisation step, optimized when any of precision/compile/fast asks for it.

    `owned`: the model was built here, so `optimize` may change it in place instead of copying it.
    """
    if isinstance(model, OptimizedModel):  # prepared by the caller: used as it is
        if precision is not None or compile is not None or fast:
            raise ValueError("this model is already optimized; give precision/compile/fast with the original")
        if model.normalizes_inside:  # optimize(NormalizedModel(...)): normalising compiled in
            return model, model.plan
        return NormalizedModel(model, mean, std), model.plan
    model = NormalizedModel(model.to(device).eval(), mean, std)
    return optimize_if_asked(
        model, device, precision=precision, compile=compile, fast=fast, inplace=owned, calibration=calibration
    )


@contextlib.contextmanager
def _compute_threads(num_threads: int | None) -> Iterator[None]:
    """Run the block with `num_threads` intra-op threads (None: unchanged), restored afterwards."""
    before = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _classify(
    model: torch.nn.Module,
    batches: Iterable[tuple[list[str], torch.Tensor]],
    labels: Sequence[str],
    k: int,
    device: torch.device,
    bar: Any,
) -> list[Prediction]:
    """Top-k predictions for each batch."""
    num_classes = len(labels)
    p = next(iter(model.parameters()), None)
    dtype = p.dtype if p is not None else torch.float32
    results: list[Prediction] = []
    with torch.inference_mode():
        for names, x in batches:
            n = x.shape[0]
            # uint8 is normalised inside; batches are pinned on CUDA, so the copy does not block
            x = (
                x.to(device, dtype, non_blocking=True)
                if x.is_floating_point()
                else x.to(device, non_blocking=True)
            )
            logits = model(x)  # [B, num_classes]
            if logits.ndim != 2 or logits.shape[1] != num_classes:
                raise ValueError(f"expected model output [B, {num_classes}], got {tuple(logits.shape)}")
            probs = logits.float().softmax(dim=-1)
            top_p, top_i = probs.topk(k, dim=-1)  # [B, k]
            for name, ps, ids in zip(names, top_p.cpu().tolist(), top_i.cpu().tolist()):
                results.append(Prediction(((labels[i], p) for i, p in zip(ids, ps)), name, ids))
            if bar is not None:
                bar.update(n)
    return results


def predict(
    model_or_name: str | torch.nn.Module,
    images: Any,
    topk: int = 5,
    batch_size: int = 32,
    device: str | torch.device | None = None,
    pretrained: bool = True,
    checkpoint_path: str | os.PathLike | None = None,
    progress: bool = False,
    *,
    precision: str | None = None,
    compile: bool | None = None,
    fast: bool = False,
    num_workers: int | None = None,
    num_threads: int | None = None,
    calibration: Any = None,
) -> Predictions:
    """Classify images; returns one `Prediction` (a list of (label, probability), best first) per image.

    Args:
        model_or_name: a model name ('tf_efficientnet_lite0', 'resnet50.a1_in1k') or a model instance.
            Its `pretrained_cfg` sets the preprocessing and the label names. To reuse one compiled model
            across calls, pass `optimize(NormalizedModel(model, mean, std), ...)` (data.loader).
        images: a path, a folder (searched recursively for image files), a PIL image, a preprocessed
            float tensor [C, H, W] or [B, C, H, W], or a list mixing these.
        topk: answers per image (capped at the number of classes).
        batch_size: images per forward pass.
        device: where to run; default cuda, then mps, then cpu.
        pretrained: load the name's pretrained weights (ignored for a model instance).
        checkpoint_path: a checkpoint of your own to load into the named model.
        progress: show a tqdm progress bar on stderr.
        precision: run the model through `visionzoo.optimize` at this precision ('fp32', 'bf16', 'fp16',
            'int8' with `calibration`);
            None: plain eager, unless `compile` or `fast` ask for `optimize`.
        compile: torch.compile the model (through `optimize`); None lets `optimize` decide when it runs.
        fast: `optimize` with its automatic choices and the fastest precision the device computes in
            (bf16 on CPUs with AVX512-BF16/AMX and on CUDA), unless `precision` says otherwise.
        num_workers: processes decoding images ahead of the model; default 0 for fewer than 16
            images, else one per two cores.
        num_threads: the model's intra-op threads while predicting (restored afterwards); default
            torch's setting.
        calibration: with precision='int8': a folder of images to calibrate on (see `optimize`).

    Returns:
        `Predictions` (a list of `Prediction`) in input order (folders in sorted path order), with
        `.plan`, the `OptimizePlan` applied (None for eager). Each Prediction has `.source` (path or
        '<PIL image i>'), `.indices` (class indices) and `.label` (the top answer).
        Files and PIL images are turned upright by their EXIF Orientation tag first; large JPEGs are
        decoded at reduced size, never below the resize target. With several images, files that cannot
        be read (corrupt, not regular files, decompression bombs beyond `PIL.Image.MAX_IMAGE_PIXELS`,
        more elongated than `MAX_ASPECT_RATIO`:1) are left out, with one UnreadableImageWarning giving
        their count and the first of them; with a single image it raises ImageReadError naming the file.

    Example:
        >>> predict("tf_efficientnet_lite0", "cat.jpg", topk=3)[0]
        [('tabby', 0.61), ('tiger cat', 0.22), ('Egyptian cat', 0.11)]
    """
    check_int("topk", topk, 1)
    check_int("batch_size", batch_size, 1)
    check_bool("fast", fast)
    if compile is not None:
        check_bool("compile", compile)
    if num_workers is not None:
        check_int("num_workers", num_workers, 0)
    if num_threads is not None:
        check_int("num_threads", num_threads, 1)
    dev = resolve_device(device)
    skipped: list[tuple[str, str]] = []  # (source, reason) of images left out
    items = _expand(images, skipped)
    num_left_out = len(skipped)  # by the folder scan, before anything is opened

    if isinstance(model_or_name, str) and checkpoint_path is None:
        from .factory import resolve_pretrained_cfg

        if not resolve_pretrained_cfg(model_or_name, warn=False)[1].num_classes:
            raise ValueError(_no_classifier_message(model_or_name))  # before fetching a headless tower
    model = _load_model(model_or_name, pretrained, checkpoint_path)
    cfg = getattr(model, "pretrained_cfg", None)
    num_classes = getattr(model, "num_classes", None)
    if not num_classes:
        raise ValueError(_no_classifier_message(getattr(cfg, "name", None) or type(model).__name__))
    labels = label_names_for(cfg, num_classes)
    pil_transform, mean, std = _preprocessing(model)
    owned = isinstance(model_or_name, str)
    model, plan = _prepare_model(model, mean, std, dev, precision, compile, fast, owned, calibration)

    strict = len(items) == 1
    workers = 0 if strict else choose_workers(len(items), num_workers)
    batches = predict_batches(
        items, pil_transform, batch_size, strict, skipped, workers, pin_memory=dev.type == "cuda"
    )
    model = fixed_batch_if_compiled(model, plan, batch_size, len(items))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(items), unit="img", desc="predict", leave=False)
    try:
        with _compute_threads(num_threads):
            results = _classify(model, batches, labels, min(topk, num_classes), dev, bar)
    finally:
        if bar is not None:
            bar.close()
    warn_skipped(skipped, len(items) + num_left_out, stacklevel=2)
    if not results:
        raise ValueError("none of the given images could be read")
    return Predictions(results, plan)
