"""Fine-tuning loop behind `visionzoo train`: one process, or many under torchrun (DDP).

from visionzoo.train import TrainConfig, train
result = train(TrainConfig(model="resnet18", data="path/to/folder", num_classes=10, epochs=5))
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import logging
import math
import os
import pickle
import random
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..utils.files import atomic_write
from .distributed import DistInfo, ShardedSampler, all_reduce_sum, init_distributed
from .evaluate import EvalResult, autocast_context, evaluate
from .mixup import MixupCutmix, soft_cross_entropy
from .optim import create_optimizer, warmup_cosine

_logger = logging.getLogger(__name__)

LAST, BEST, LOCK = "last.pth", "best.pth", ".lock"


@dataclass
class TrainConfig:
    """Every option of a training run; saved as `train_config.json` in the run folder."""

    model: str
    data: str
    num_classes: int | None = None  # default: the number of class folders
    pretrained: bool = False
    init_checkpoint: str | None = None
    train_split: str = "train"
    val_split: str | None = "val"
    img_size: int | tuple[int, int] | None = None  # H or (H, W)
    epochs: int = 10
    batch_size: int = 32  # per process
    opt: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.05
    momentum: float = 0.9
    warmup_epochs: float = 1.0
    min_lr_ratio: float = 0.01
    layer_decay: float | None = None
    accum_steps: int = 1
    clip_grad: float | None = None
    amp: str | None = None  # 'bf16' or 'fp16'
    ema_decay: float | None = None
    grad_checkpointing: bool = False
    freeze_backbone: bool = False  # linear probe: only the classifier trains
    mixup: float = 0.0
    cutmix: float = 0.0
    label_smoothing: float = 0.1
    drop_rate: float | None = None
    drop_path_rate: float | None = None
    hflip: float = 0.5
    scale: tuple[float, float] = (0.08, 1.0)  # random-resized-crop area range
    no_aug: bool = False  # train on the eval transform (no random crops, flips or colour changes)
    color_jitter: float | None = None
    auto_augment: str | None = None
    re_prob: float = 0.0
    exif_transpose: bool = False  # turn images upright by their EXIF tag (timm does not)
    num_workers: int = 2
    seed: int = 42
    output: str = "runs"
    run_name: str | None = None
    resume: bool = False
    overwrite: bool = False  # start afresh in a run folder that holds a finished or stopped run
    tensorboard: bool = False
    progress: bool | None = None  # default: when stderr is a terminal
    device: str | None = None
    max_steps_per_epoch: int | None = None  # for smoke tests and quick looks
    max_epochs_this_run: int | None = None  # stop early (e.g. a pre-emptible job); --resume continues

    def check(self) -> None:
        """Raise a ValueError naming the first option with an impossible value."""
        for name in ("epochs", "batch_size", "accum_steps"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.num_classes is not None and (not isinstance(self.num_classes, int) or self.num_classes < 1):
            raise ValueError(f"num_classes must be a positive integer, got {self.num_classes!r}")
        for f in dataclasses.fields(self):  # inf and nan parse as floats but make no sense anywhere
            values = getattr(self, f.name)
            for v in values if isinstance(values, (tuple, list)) else (values,):
                if isinstance(v, float) and not math.isfinite(v):
                    raise ValueError(f"{f.name} must be a finite number, got {v}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        for name in ("weight_decay", "warmup_epochs", "mixup", "cutmix"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("min_lr_ratio", "hflip", "re_prob", "label_smoothing"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.clip_grad is not None and not self.clip_grad > 0:
            raise ValueError(f"clip_grad must be > 0, got {self.clip_grad}")
        if self.resume and self.overwrite:
            raise ValueError("resume and overwrite exclude each other: continue the run, or start it afresh")
        if self.layer_decay is not None and not 0 < self.layer_decay <= 1:
            raise ValueError(f"layer_decay must be in (0, 1], got {self.layer_decay}")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in (0, 1), got {self.ema_decay}")


@dataclass
class TrainResult:
    run_dir: Path
    best_top1: float | None
    best_epoch: int | None
    history: list[dict] = field(default_factory=list)
    skipped_images: int = 0


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save through `utils.files.atomic_write`: a crash or a full disk leaves the previous file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "wb") as f:
        torch.save(obj, f)


def _rng_state() -> dict:
    """Every random generator's state in types that `torch.load(weights_only=True)` reads back:
    tensors, tuples and numbers (numpy's state is taken apart, its key array stored as a tensor)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = dict(
        python=random.getstate(),
        numpy=dict(
            kind=str(kind),
            keys=torch.from_numpy(keys.astype(np.int64)),
            pos=int(pos),
            has_gauss=int(has_gauss),
            gauss=float(gauss),
        ),
        torch=torch.get_rng_state(),
    )
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    """Restore what `_rng_state` saved."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"][: torch.cuda.device_count()])


_RESUME_KEYS = ("epoch", "model", "optimizer", "scheduler", "scaler", "best_top1", "best_epoch", "history")


def load_train_state(path: Path) -> dict:
    """Read a `last.pth` with `torch.load(weights_only=True)`: tensors and plain containers only, so a
    crafted file cannot run code. Raises UnsafeCheckpointError or CorruptCheckpointError (one line)."""
    from ..weights.errors import CorruptCheckpointError, UnsafeCheckpointError

    if path.stat().st_size == 0:
        raise CorruptCheckpointError(f"cannot resume: {path} is empty")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        named = re.search(r"GLOBAL ([\w.]+)", str(e))
        if named is None:
            raise CorruptCheckpointError(
                f"cannot resume: {path} is truncated or corrupt ({_first_line(e)})"
            ) from None
        if not _only_numpy_arrays(path):
            raise UnsafeCheckpointError(
                f"refusing to resume from {path}: unsafe checkpoint, its pickle calls {named.group(1)}; "
                "nothing in it was executed"
            ) from None
        state = _load_with_numpy_arrays(path)
    except Exception as e:  # noqa: BLE001 - torch raises RuntimeError, EOFError, OSError, ... on bad bytes
        raise CorruptCheckpointError(
            f"cannot resume: {path} is truncated or corrupt ({_first_line(e)})"
        ) from None
    missing = [k for k in _RESUME_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise CorruptCheckpointError(
            f"cannot resume: {path} is not a visionzoo training checkpoint (missing {', '.join(missing)})"
        )
    return state


_NUMPY_ARRAY_GLOBALS = {
    "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray._reconstruct",
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.dtypes.UInt32DType",
}


def _only_numpy_arrays(path: Path) -> bool:
    """True when the only globals the pickle names are numpy's array rebuilders: a last.pth written
    before the RNG state was stored as tensors (numpy's key array was pickled as an ndarray)."""
    try:
        names = set(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # noqa: BLE001 - unreadable: reported as unsafe or corrupt by the caller
        return False
    return bool(names) and names <= _NUMPY_ARRAY_GLOBALS


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _load_with_numpy_arrays(path: Path) -> dict:
    """`torch.load(weights_only=True)` that also rebuilds numpy arrays (and nothing else)."""
    from ..weights.errors import CorruptCheckpointError

    try:
        with torch.serialization.safe_globals(_numpy_array_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - as in load_train_state
        raise CorruptCheckpointError(
            f"cannot resume: {path} is truncated or corrupt ({_first_line(e)})"
        ) from None


def _numpy_array_globals() -> list:
    """numpy's ndarray, dtype and array rebuilder, to let `weights_only` read arrays (nothing callable else)."""
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
    extra = [np.dtypes.UInt32DType] if hasattr(np, "dtypes") else []
    return [_reconstruct, np.ndarray, np.dtype, *extra]


class RunInUseError(FileExistsError):
    """Another live training process holds the run folder."""


class _RunLock:
    """An exclusive `flock` on RUN_DIR/.lock, held for the life of a run.

    The kernel drops the lock when the process ends, however it ends, so a lock left by a killed
    run never blocks the next one. The file stays behind (it records the holder's pid)."""

    def __init__(self, run_dir: Path) -> None:
        self._file = None
        try:
            import fcntl
        except ImportError:  # not POSIX: no locking
            return
        f = open(run_dir / LOCK, "a+")  # noqa: SIM115 - held open until release()
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip()
            f.close()
            raise RunInUseError(
                f"{run_dir} is in use by another training run{f' (pid {holder})' if holder else ''}; "
                "wait for it to end, or choose another --run-name / --output"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        self._file = f

    def release(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()  # closing the descriptor drops the flock


class Trainer:
    """Builds model, data, optimiser and schedule from a TrainConfig and runs the epochs."""

    def __init__(self, cfg: TrainConfig):
        cfg.check()
        self.cfg = cfg
        self.dist: DistInfo = init_distributed(cfg.device)
        self._build_data()
        self._build_model()
        self._build_optim()
        self.run_dir = Path(cfg.output) / (cfg.run_name or f"{cfg.model.replace('/', '_')}")
        self.start_epoch = 0
        self.best_top1: float | None = None
        self.best_epoch: int | None = None
        self.history: list[dict] = []
        self._ema_is_best = False
        self._lock: _RunLock | None = None
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._lock = _RunLock(self.run_dir)
        try:
            if cfg.resume:
                self._resume()
            elif self.dist.is_main and (self.run_dir / LAST).exists():
                if not cfg.overwrite:
                    raise FileExistsError(
                        f"{self.run_dir} already holds a run; pass resume=True (--resume) to continue it, "
                        "overwrite=True (--overwrite) to start it afresh, or choose another run_name/output"
                    )
                for name in (LAST, BEST, "metrics.json", "metrics.csv"):
                    (self.run_dir / name).unlink(missing_ok=True)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the run folder (also done when `fit` returns or fails)."""
        if self._lock is not None:
            self._lock.release()

    # --- set-up -----------------------------------------------------------------------------------
    def _build_data(self) -> None:
        """Data config, transforms, datasets (checked against each other) and sharded loaders."""
        root = Path(self.cfg.data)
        if not root.exists():
            raise FileNotFoundError(f"training data not found: {root}")
        train_tf, eval_tf = self._build_transforms()
        self._build_datasets(root, train_tf, eval_tf)
        self._build_loaders()

    def _build_transforms(self) -> tuple[Any, Any]:
        """(train, eval) transforms from the model's pretrained cfg, read without building the model."""
        from ..data.config import resolve_data_config
        from ..data.transforms import create_transform
        from ..factory import resolve_pretrained_cfg

        cfg = self.cfg
        self.data_cfg = resolve_data_config(pretrained_cfg=resolve_pretrained_cfg(cfg.model, warn=False)[1])
        if cfg.img_size:
            from ..tools._common import parse_img_size

            h, w = parse_img_size(cfg.img_size)
            self.data_cfg["input_size"] = (self.data_cfg["input_size"][0], h, w)
        eval_tf = create_transform(**self.data_cfg, is_training=False)
        train_tf = (
            eval_tf
            if cfg.no_aug
            else create_transform(
                **self.data_cfg,
                is_training=True,
                hflip=cfg.hflip,
                scale=tuple(cfg.scale),
                color_jitter=cfg.color_jitter,
                auto_augment=cfg.auto_augment,
                re_prob=cfg.re_prob,
            )
        )
        return train_tf, eval_tf

    def _build_datasets(self, root: Path, train_tf: Any, eval_tf: Any) -> None:
        """Train and optional val sets; their classes must agree, with each other and with --num-classes."""
        from ..data.datasets import create_dataset

        cfg = self.cfg
        self.train_set = create_dataset(
            str(root), split=cfg.train_split, transform=train_tf, exif_transpose=cfg.exif_transpose
        )
        self.classes = list(self.train_set.classes)
        if len(self.classes) < 2:
            raise ValueError(
                f"training needs at least 2 classes; {root} has {len(self.classes)}: {self.classes}"
            )
        if cfg.num_classes is not None and cfg.num_classes != len(self.classes):
            raise ValueError(
                f"--num-classes {cfg.num_classes} does not match the {len(self.classes)} class folders "
                f"found in the training data ({', '.join(self.classes[:8])}{'...' if len(self.classes) > 8 else ''})"
            )
        self.num_classes = len(self.classes)
        self.val_set = None
        if cfg.val_split:
            try:
                self.val_set = create_dataset(
                    str(root), split=cfg.val_split, transform=eval_tf, exif_transpose=cfg.exif_transpose
                )
            except FileNotFoundError:
                self.val_set = None
            if self.val_set is not None and list(self.val_set.classes) != self.classes:
                raise ValueError(
                    f"validation classes {list(self.val_set.classes)[:8]} differ from training classes "
                    f"{self.classes[:8]}"
                )

    def _build_loaders(self) -> None:
        """Loaders whose samplers deal each epoch's order out across ranks (see ShardedSampler)."""
        from ..data.datasets import create_loader

        cfg = self.cfg
        global_batch = cfg.batch_size * self.dist.world_size
        if len(self.train_set) < global_batch:
            raise ValueError(
                f"{len(self.train_set)} training images is fewer than one batch of {global_batch}; "
                "lower --batch-size"
            )
        self.train_sampler = ShardedSampler(
            len(self.train_set),
            self.dist.rank,
            self.dist.world_size,
            shuffle=True,
            seed=cfg.seed,
            drop_last=True,
            batch_size=cfg.batch_size,
        )
        self.train_loader = create_loader(
            self.train_set,
            batch_size=cfg.batch_size,
            is_training=True,
            num_workers=cfg.num_workers,
            sampler=self.train_sampler,
            drop_last=True,
        )
        self.val_loader = None
        if self.val_set is not None:
            val_sampler = ShardedSampler(
                len(self.val_set), self.dist.rank, self.dist.world_size, shuffle=False
            )
            self.val_loader = create_loader(
                self.val_set,
                batch_size=cfg.batch_size,
                is_training=False,
                num_workers=cfg.num_workers,
                sampler=val_sampler,
            )

    def _build_model(self) -> None:
        from ..factory import create_model

        cfg = self.cfg
        _seed_everything(cfg.seed)
        kwargs = {}
        if cfg.drop_rate is not None:
            kwargs["drop_rate"] = cfg.drop_rate
        if cfg.drop_path_rate is not None:
            kwargs["drop_path_rate"] = cfg.drop_path_rate
        if cfg.init_checkpoint:
            # loaded like pretrained weights, so a head of another size is replaced rather than refused
            kwargs["pretrained_cfg_overlay"] = dict(file=str(cfg.init_checkpoint))
        model = create_model(
            cfg.model,
            pretrained=cfg.pretrained or bool(cfg.init_checkpoint),
            num_classes=self.num_classes,
            **kwargs,
        )
        model.pretrained_cfg = model.pretrained_cfg.replace(
            num_classes=self.num_classes, label_set=None, label_names=tuple(self.classes)
        )
        if cfg.grad_checkpointing:
            model.set_grad_checkpointing(True)
        if cfg.freeze_backbone:
            head = {id(p) for p in model.get_classifier().parameters()}
            if not head:
                raise ValueError(f"{cfg.model} has no classifier parameters to train in linear-probe mode")
            for p in model.parameters():
                p.requires_grad_(id(p) in head)
        model.to(self.dist.device)
        self.model = model
        self.ddp_model: nn.Module = model
        if self.dist.enabled:
            ids = [self.dist.device.index] if self.dist.device.type == "cuda" else None
            self.ddp_model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        self.ema = None
        if cfg.ema_decay:
            from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

            self.ema = AveragedModel(
                model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True
            )

    def _build_optim(self) -> None:
        cfg = self.cfg
        self.optimizer = create_optimizer(
            self.model, cfg.opt, cfg.lr, cfg.weight_decay, cfg.momentum, cfg.layer_decay
        )
        steps_per_epoch = max(1, len(self.train_loader) // cfg.accum_steps)
        if cfg.max_steps_per_epoch:
            steps_per_epoch = min(steps_per_epoch, cfg.max_steps_per_epoch)
        self.steps_per_epoch = steps_per_epoch
        total = steps_per_epoch * cfg.epochs
        warmup = int(round(cfg.warmup_epochs * steps_per_epoch))
        factor = warmup_cosine(total, warmup, cfg.min_lr_ratio)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)
        self.mixup = MixupCutmix(self.num_classes, cfg.mixup, cfg.cutmix, label_smoothing=cfg.label_smoothing)
        use_scaler = cfg.amp == "fp16" and self.dist.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)

    # --- checkpoints ------------------------------------------------------------------------------
    def _state(self, epoch: int) -> dict:
        return dict(
            epoch=epoch,
            model=self.model.state_dict(),
            optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(),
            scaler=self.scaler.state_dict(),
            ema=self.ema.state_dict() if self.ema is not None else None,
            best_top1=self.best_top1,
            best_epoch=self.best_epoch,
            history=self.history,
            classes=self.classes,
            arch=self.cfg.model,
            rng=_rng_state(),
        )

    def _resume(self) -> None:
        if self.dist.is_main:  # temporary files of a run that was killed mid-write
            for stale in self.run_dir.glob(".*.tmp"):
                stale.unlink(missing_ok=True)
        path = self.run_dir / LAST
        if not path.exists():
            raise FileNotFoundError(f"nothing to resume: {path} does not exist")
        state = load_train_state(path)
        if state.get("classes") != self.classes:
            raise ValueError(f"{path} was trained on other classes: {state.get('classes')}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        self.best_top1, self.best_epoch = state["best_top1"], state["best_epoch"]
        self.history = list(state["history"])
        self.start_epoch = state["epoch"] + 1
        if isinstance(state.get("rng"), dict) and isinstance(state["rng"].get("numpy"), dict):
            _set_rng_state(state["rng"])  # (older files hold numpy's own state tuple: not restored)

    def _save(self, epoch: int, is_best: bool) -> None:
        if not self.dist.is_main:
            return
        from ..weights.save import save_pretrained

        atomic_save(self._state(epoch), self.run_dir / LAST)
        if is_best:
            best_model = self.ema.module if self.ema is not None and self._ema_is_best else self.model
            atomic_save(
                dict(
                    state_dict=best_model.state_dict(), arch=self.cfg.model, classes=self.classes, epoch=epoch
                ),
                self.run_dir / BEST,
            )
            save_pretrained(best_model, self.run_dir)

    def _write_metrics(self) -> None:
        if not self.dist.is_main:
            return
        with atomic_write(self.run_dir / "metrics.json") as f:
            json.dump(self.history, f, indent=2)
        keys = list(dict.fromkeys(k for row in self.history for k in row))
        with atomic_write(self.run_dir / "metrics.csv", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(self.history)

    # --- the loop ---------------------------------------------------------------------------------
    def _progress(self, iterable, total: int, desc: str):
        show = self.cfg.progress if self.cfg.progress is not None else sys.stderr.isatty()
        if not (show and self.dist.is_main):
            return iterable
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, leave=False)

    def train_one_epoch(self, epoch: int) -> dict:
        cfg, model, device = self.cfg, self.ddp_model, self.dist.device
        model.train()
        self.train_sampler.set_epoch(epoch)
        _seed_everything(cfg.seed + 1000 * epoch + self.dist.rank)
        sums = torch.zeros(2, dtype=torch.float64)  # loss sum, samples
        t0 = time.perf_counter()
        steps = 0
        self.optimizer.zero_grad(set_to_none=True)
        for i, (images, targets) in enumerate(
            self._progress(self.train_loader, len(self.train_loader), f"epoch {epoch}")
        ):
            images, targets = images.to(device, non_blocking=True), targets.to(device, non_blocking=True)
            images, soft = self.mixup(images, targets)
            last_micro = (i + 1) % cfg.accum_steps == 0
            sync = contextlib.nullcontext() if (last_micro or not self.dist.enabled) else model.no_sync()
            with sync:
                with autocast_context(device, cfg.amp):
                    out = model(images)
                    if isinstance(out, (tuple, list)):  # distilled heads while training
                        out = sum(out) / len(out)
                    loss = soft_cross_entropy(out.float(), soft)
                if not math.isfinite(loss.item()):
                    raise FloatingPointError(f"loss is {loss.item()} at epoch {epoch} step {i}; lower the lr")
                self.scaler.scale(loss / cfg.accum_steps).backward()
            sums += torch.tensor([loss.item() * images.shape[0], images.shape[0]], dtype=torch.float64)
            if not last_micro:
                continue
            if cfg.clip_grad:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_grad)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.optimizer.zero_grad(set_to_none=True)
            self.scheduler.step()
            if self.ema is not None:
                self.ema.update_parameters(self.model)
            steps += 1
            if cfg.max_steps_per_epoch and steps >= cfg.max_steps_per_epoch:
                break
        elapsed = time.perf_counter() - t0
        sums = all_reduce_sum(sums, self.dist)
        return dict(
            epoch=epoch,
            train_loss=sums[0].item() / max(1.0, sums[1].item()),
            train_img_per_sec=sums[1].item() / max(elapsed, 1e-9),
            lr=self.optimizer.param_groups[-1]["lr"],
        )

    def _evaluate(self, model: nn.Module) -> EvalResult:
        return evaluate(model, self.val_loader, self.classes, self.dist.device, self.cfg.amp, None, self.dist)

    def fit(self) -> TrainResult:
        """Run the remaining epochs; the run folder is released at the end, whatever happens."""
        try:
            return self._fit()
        finally:
            self.close()

    def _fit(self) -> TrainResult:
        cfg = self.cfg
        if self.dist.is_main:
            with atomic_write(self.run_dir / "train_config.json") as f:
                json.dump(
                    dict(
                        dataclasses.asdict(cfg),
                        classes=self.classes,
                        data_config=self.data_cfg,
                        world_size=self.dist.world_size,
                    ),
                    f,
                    indent=2,
                    default=str,
                )
        writer = None
        if cfg.tensorboard and self.dist.is_main:
            from torch.utils.tensorboard import SummaryWriter  # needs the [tensorboard] extra

            writer = SummaryWriter(str(self.run_dir / "tensorboard"))
        end = cfg.epochs
        if cfg.max_epochs_this_run:
            end = min(end, self.start_epoch + cfg.max_epochs_this_run)
        for epoch in range(self.start_epoch, end):
            row = self.train_one_epoch(epoch)
            is_best = False
            self._ema_is_best = False
            if self.val_loader is not None:
                res = self._evaluate(self.model)
                row.update(val_top1=res.top1, val_top5=res.top5, val_loss=res.loss)
                score = res.top1
                if self.ema is not None:
                    ema_res = self._evaluate(self.ema.module)
                    row.update(ema_top1=ema_res.top1, ema_loss=ema_res.loss)
                    if ema_res.top1 > score:
                        score, self._ema_is_best = ema_res.top1, True
                if self.best_top1 is None or score > self.best_top1:
                    self.best_top1, self.best_epoch, is_best = score, epoch, True
            else:
                is_best = True  # without validation the latest weights are the ones kept
            row["skipped_images"] = self.train_loader.num_skipped
            self.history.append(row)
            self._save(epoch, is_best)
            self._write_metrics()
            if writer is not None:
                for k, v in row.items():
                    if k != "epoch" and isinstance(v, (int, float)):
                        writer.add_scalar(k, v, epoch)
            if self.dist.is_main:
                _logger.info(
                    "epoch %d: %s", epoch, {k: round(v, 4) for k, v in row.items() if isinstance(v, float)}
                )
        if writer is not None:
            writer.close()
        return TrainResult(
            self.run_dir, self.best_top1, self.best_epoch, self.history, self.train_loader.num_skipped
        )


def train(cfg: TrainConfig | None = None, **kwargs: Any) -> TrainResult:
    """Run a training job: `train(TrainConfig(...))` or `train(model=..., data=..., ...)`."""
    if cfg is None:
        cfg = TrainConfig(**kwargs)
    elif kwargs:
        cfg = dataclasses.replace(cfg, **kwargs)
    return Trainer(cfg).fit()
