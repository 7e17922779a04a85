"""`visionzoo train`: fine-tune a model on a folder of images (single process or under torchrun)."""

from __future__ import annotations

import argparse
import json

from ._common import add_img_size, add_precision, amp_of


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "train",
        help="fine-tune a model on an image folder",
        description="Fine-tune MODEL on DATA (class folders under DATA/train and DATA/val, or list files). "
        "Run under `torchrun --nproc_per_node N` for DistributedDataParallel.",
    )
    p.add_argument("model", help="model name, e.g. resnet50 or vit_small_patch16_224.augreg_in21k_ft_in1k")
    p.add_argument("--data", required=True, help="dataset root holding the train (and val) split")
    p.add_argument("--num-classes", type=int, default=None, help="must match the class folders (checked)")
    p.add_argument("--pretrained", action="store_true", help="start from the pretrained weights")
    p.add_argument("--checkpoint", metavar="PATH", help="start from these weights (instead of --pretrained)")
    p.add_argument("--train-split", default="train")
    p.add_argument("--val-split", default="val", help="'' to train without validation")
    add_img_size(p, "training and evaluation input size, e.g. 224 or 224x160")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("-b", "--batch-size", type=int, default=32, help="per process")
    p.add_argument("--opt", choices=("adamw", "sgd"), default="adamw")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--warmup-epochs", type=float, default=1.0)
    p.add_argument("--min-lr-ratio", type=float, default=0.01)
    p.add_argument("--layer-decay", type=float, default=None, help="layer-wise lr decay, e.g. 0.75")
    p.add_argument("--accum-steps", type=int, default=1, help="gradient accumulation steps")
    p.add_argument("--clip-grad", type=float, default=None, help="clip the gradient norm to this")
    add_precision(p)
    p.add_argument("--ema-decay", type=float, default=None, help="keep an EMA of the weights, e.g. 0.999")
    p.add_argument("--grad-checkpointing", action="store_true")
    p.add_argument("--freeze-backbone", action="store_true", help="linear probe: train only the classifier")
    p.add_argument("--mixup", type=float, default=0.0, help="mixup alpha")
    p.add_argument("--cutmix", type=float, default=0.0, help="cutmix alpha")
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--drop-rate", type=float, default=None)
    p.add_argument("--drop-path-rate", type=float, default=None)
    p.add_argument("--hflip", type=float, default=0.5, help="horizontal flip probability")
    p.add_argument("--scale", type=float, nargs=2, default=(0.08, 1.0), help="random-resized-crop area range")
    p.add_argument("--no-aug", action="store_true", help="train without augmentation")
    p.add_argument("--color-jitter", type=float, default=None)
    p.add_argument("--auto-augment", default=None, help="RandAugment policy, e.g. rand-m9-mstd0.5")
    p.add_argument("--re-prob", type=float, default=0.0, help="random erasing probability")
    p.add_argument(
        "--exif-transpose",
        action="store_true",
        help="turn images upright by their EXIF Orientation tag (default off, as timm)",
    )
    p.add_argument("-j", "--num-workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--output", default="runs", help="parent folder of run folders")
    p.add_argument("--run-name", default=None, help="run folder name (default: the model name)")
    runs = p.add_mutually_exclusive_group()
    runs.add_argument("--resume", action="store_true", help="continue the run in the run folder")
    runs.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh in a run folder that already holds a run (its checkpoints are deleted)",
    )
    p.add_argument("--tensorboard", action="store_true", help="write TensorBoard logs (needs tensorboard)")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--max-steps-per-epoch", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument(
        "--max-epochs-this-run",
        type=int,
        default=None,
        help="stop after this many epochs (the schedule still spans --epochs); --resume continues",
    )
    p.add_argument("--json", action="store_true", help="print the final metrics as JSON")
    return p


def run(args: argparse.Namespace) -> int:
    from ..train.trainer import TrainConfig, train
    from ..utils.device import resolve_device

    if args.device is not None:
        resolve_device(args.device)

    fields = set(TrainConfig.__dataclass_fields__)
    kwargs = {k: v for k, v in vars(args).items() if k in fields}
    kwargs["val_split"] = kwargs.get("val_split") or None
    kwargs["amp"] = amp_of(args)
    kwargs["init_checkpoint"] = args.checkpoint
    result = train(TrainConfig(**kwargs))
    summary = dict(
        run_dir=str(result.run_dir),
        best_top1=result.best_top1,
        best_epoch=result.best_epoch,
        skipped_images=result.skipped_images,
        last=result.history[-1] if result.history else None,
    )
    import torch.distributed as dist

    if dist.is_initialized():
        rank = dist.get_rank()
        dist.destroy_process_group()
        if rank != 0:
            return 0
    if args.json:
        print(json.dumps(summary))
    else:
        last = summary["last"] or {}
        print(f"run folder: {result.run_dir}")
        if result.best_top1 is not None:
            print(f"best val top-1: {result.best_top1:.2f}% (epoch {result.best_epoch})")
        print(f"last epoch: train loss {last.get('train_loss', float('nan')):.4f}")
        if result.skipped_images:
            print(f"skipped unreadable images: {result.skipped_images}")
    return 0
