"""Evaluation: top-1/top-5 accuracy, loss, per-class accuracy and throughput, on one process or many."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .distributed import DistInfo, all_reduce_sum


@dataclass
class EvalResult:
    top1: float
    top5: float
    loss: float
    num_images: int
    img_per_sec: float
    per_class: dict[str, float] = field(default_factory=dict)
    skipped: int = 0
    plan: Any = field(default=None, repr=False)  # the OptimizePlan applied by validate(), None for eager

    def to_dict(self) -> dict:
        """The figures as plain data; `optimisations` is the plan's one-line summary (None: eager)."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "plan"}
        return {**d, "optimisations": self.plan.summary() if self.plan is not None else None}


def autocast_context(device: torch.device, amp: str | bool | None):
    """autocast in bf16 or fp16 when `amp` asks for it ('bf16', 'fp16', True = the device's best)."""
    if not amp:
        return contextlib.nullcontext()
    if amp is True:
        amp = "bf16" if device.type == "cpu" or torch.cuda.is_bf16_supported() else "fp16"
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(str(amp))
    if dtype is None:
        raise ValueError(f"amp must be 'bf16' or 'fp16', got {amp!r}")
    if device.type == "cpu" and dtype == torch.float16:
        raise ValueError("fp16 autocast is not supported on the CPU; use amp='bf16'")
    return torch.autocast(device.type, dtype=dtype)


def head_indices_for(classes: Sequence[str], model: nn.Module) -> list[int] | None:
    """Map dataset class names onto the model head's classes, when the head predicts a known label set.

    A folder of, say, ten ImageNet classes (named by synset, e.g. 'n01440764', or by class name) is
    validated against those ten outputs of a 1000-class head. Returns None when the dataset's classes
    are the head's own (same count, no known label set match).
    """
    cfg = getattr(model, "pretrained_cfg", None)
    num_classes = getattr(model, "num_classes", None)
    if cfg is not None and cfg.label_names and list(cfg.label_names) == list(classes):
        return None
    if cfg is None or not cfg.label_set:
        return None
    from ..data.labels import ImageNetInfo

    try:
        info = ImageNetInfo(cfg.label_set)
    except (ValueError, KeyError, FileNotFoundError):
        return None
    mapping = []
    for c in classes:
        try:
            idx = info.name_to_index(c)
        except KeyError:
            idx = None
        if idx is None:
            if len(classes) == num_classes:
                return None  # the dataset defines its own classes for this head
            raise ValueError(
                f"dataset class {c!r} is not a {cfg.label_set} class and the head has {num_classes} "
                f"outputs for {len(classes)} dataset classes; name folders by synset or class name"
            )
        mapping.append(idx)
    return mapping


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable,
    classes: Sequence[str] | None = None,
    device: torch.device | str = "cpu",
    amp: str | bool | None = None,
    head_indices: Sequence[int] | None = None,
    dist_info: DistInfo | None = None,
) -> EvalResult:
    """Accuracy and loss of `model` over `loader` (batches of (images, targets)).

    `head_indices` restricts the logits to the head outputs that correspond to the dataset's classes.
    Under DDP every rank evaluates its shard and the sums are reduced.
    """
    dist_info = dist_info or DistInfo()
    device = torch.device(device)
    n_cls = len(classes) if classes is not None else None
    model.eval()
    sums = torch.zeros(4, dtype=torch.float64)  # correct@1, correct@5, loss sum, count
    per_class = None
    t0 = time.perf_counter()
    sel = torch.as_tensor(head_indices, device=device) if head_indices is not None else None
    for images, targets in loader:
        images, targets = images.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        with autocast_context(device, amp):
            logits = model(images)
        logits = logits.float()
        if sel is not None:
            logits = logits.index_select(1, sel)
        k = min(5, logits.shape[1])
        top = logits.topk(k, dim=1).indices
        hit = top.eq(targets.unsqueeze(1))
        sums += torch.tensor(
            [
                hit[:, 0].sum().item(),
                hit.any(1).sum().item(),
                F.cross_entropy(logits, targets, reduction="sum").item(),
                targets.numel(),
            ],
            dtype=torch.float64,
        )
        if n_cls is None:
            n_cls = logits.shape[1]
        if per_class is None:
            per_class = torch.zeros(2, n_cls, dtype=torch.float64)
        per_class[0].index_add_(0, targets.cpu(), hit[:, 0].double().cpu())
        per_class[1].index_add_(0, targets.cpu(), torch.ones_like(targets, dtype=torch.float64).cpu())
    elapsed = time.perf_counter() - t0
    sums = all_reduce_sum(sums, dist_info)
    if per_class is None:
        per_class = torch.zeros(2, n_cls or 0, dtype=torch.float64)
    per_class = all_reduce_sum(per_class, dist_info)
    count = max(1.0, sums[3].item())
    names = list(classes) if classes is not None else [str(i) for i in range(per_class.shape[1])]
    return EvalResult(
        top1=100.0 * sums[0].item() / count,
        top5=100.0 * sums[1].item() / count,
        loss=sums[2].item() / count,
        num_images=int(sums[3].item()),
        img_per_sec=sums[3].item() / max(elapsed, 1e-9),
        per_class={
            names[i]: 100.0 * (per_class[0, i] / per_class[1, i]).item()
            for i in range(per_class.shape[1])
            if per_class[1, i] > 0
        },
    )


def validate(
    model_name: str,
    data: str,
    split: str | None = "val",
    checkpoint_path: str | None = None,
    pretrained: bool = False,
    batch_size: int = 64,
    num_workers: int = 2,
    amp: str | bool | None = None,
    device: str | None = None,
    img_size: int | tuple[int, int] | None = None,
    exif_transpose: bool = False,
    *,
    precision: str | None = None,
    compile: bool | None = None,
    fast: bool = False,
    calibration: Any = None,
) -> EvalResult:
    """Validate a model on an ImageFolder split (or a file list): the library side of `visionzoo validate`.

    `exif_transpose` turns images upright by their EXIF Orientation tag; off by default, as in timm,
    so published accuracies reproduce. `precision`, `compile` and `fast` run the model through
    `visionzoo.optimize` as `predict` does (`fast_inference.optimize_if_asked`; `calibration`: int8's
    images, see `optimize`); `amp` is plain eager
    autocast instead, and cannot be combined with them. The result's `plan` says what was applied.
    """
    from ..data.config import resolve_model_data_config
    from ..data.datasets import create_dataset, create_loader
    from ..data.transforms import create_transform
    from ..factory import create_model
    from ..fast_inference import check_precision, fixed_batch_if_compiled, optimize_if_asked
    from ..weights.sources import is_model_spec

    if amp and (precision is not None or compile is not None or fast):
        raise ValueError("give either amp (eager autocast) or precision/compile/fast (optimize), not both")
    dist_info = _dist(device)
    if precision is not None:
        check_precision(precision, dist_info.device)  # before building anything
    if is_model_spec(model_name) and checkpoint_path is None:
        pretrained = True  # such a name stands for its weights
    model = create_model(model_name, pretrained=pretrained, checkpoint_path=checkpoint_path)
    model.to(dist_info.device)
    data_cfg = resolve_model_data_config(model)
    if img_size:
        from ..tools._common import parse_img_size

        h, w = parse_img_size(img_size)
        data_cfg["input_size"] = (data_cfg["input_size"][0], h, w)
    transform = create_transform(**data_cfg, is_training=False)
    dataset = create_dataset(data, split=split, transform=transform, exif_transpose=exif_transpose)
    sampler = None
    if dist_info.enabled:
        from .distributed import ShardedSampler

        sampler = ShardedSampler(len(dataset), dist_info.rank, dist_info.world_size, shuffle=False)
    loader = create_loader(
        dataset, batch_size=batch_size, is_training=False, num_workers=num_workers, sampler=sampler
    )
    classes = list(dataset.classes)
    head = head_indices_for(classes, model)
    if head is None and len(classes) != model.num_classes:
        raise ValueError(
            f"the dataset has {len(classes)} classes but {model_name} predicts {model.num_classes}; "
            "pass a checkpoint trained on these classes, or name folders by the head's label set"
        )
    model, plan = optimize_if_asked(
        model,
        dist_info.device,
        precision=precision,
        compile=compile,
        fast=fast,
        input_size=data_cfg["input_size"],
        inplace=True,
        calibration=calibration,
    )
    model = fixed_batch_if_compiled(model, plan, batch_size, len(dataset))
    result = evaluate(model, loader, classes, dist_info.device, amp, head, dist_info)
    result.plan = plan
    result.skipped = loader.num_skipped
    return result


def _dist(device: str | None) -> DistInfo:
    from .distributed import init_distributed

    return init_distributed(device)
