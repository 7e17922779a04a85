"""The generated weight tables: checked against timm's pretrained cfgs (the oracle), their layout, and
how the registry finds them."""

import importlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import visionzoo
from visionzoo import registry

timm = pytest.importorskip("timm")

# fields compared with timm's cfg of the same arch.tag
ORACLE_FIELDS = (
    "classifier",
    "first_conv",
    "mean",
    "std",
    "input_size",
    "test_input_size",
    "crop_pct",
    "test_crop_pct",
    "crop_mode",
    "interpolation",
    "fixed_input_size",
    "num_classes",
    "pool_size",
    "hf_hub_id",
)
ARCH_KEYS = ("classifier", "first_conv", "fixed_input_size")
CFGS_DIR = Path(visionzoo.__file__).parent / "weights" / "cfgs"


def _tables():
    return [importlib.import_module(f"visionzoo.weights.cfgs.{name}") for name in registry.FAMILY_TABLES]


def _norm(value):
    return tuple(value) if isinstance(value, list) else value


def test_every_tag_matches_timm():
    names = [name for table in _tables() for name in table.CFGS]
    assert len(names) > 300
    mismatches = []
    for name in names:
        ours, theirs = visionzoo.get_pretrained_cfg(name), timm.models.get_pretrained_cfg(name)
        assert theirs is not None, name
        for key in ORACLE_FIELDS:
            want = _norm(getattr(theirs, key))
            if key in ("classifier", "first_conv") and want is None:
                continue  # timm leaves it unset for a few headless weight sets
            if getattr(ours, key) != want:
                mismatches.append((name, key, getattr(ours, key), want))
    assert not mismatches, mismatches[:10]


def test_default_tags_match_timm():
    for table in _tables():
        for arch in dict.fromkeys(n.partition(".")[0] for n in table.CFGS):
            assert visionzoo.get_pretrained_cfg(arch).tag == timm.models.get_pretrained_cfg(arch).tag, arch


@pytest.mark.parametrize("family", registry.FAMILY_TABLES)
def test_architecture_facts_are_stated_once(family):
    table = importlib.import_module(f"visionzoo.weights.cfgs.{family}")
    assert table.MODULE == f"visionzoo.models.{family}"
    assert set(table.FAMILY_DEFAULTS) == set(ARCH_KEYS)
    archs = {n.partition(".")[0] for n in table.CFGS}
    assert set(table.ARCH_DEFAULTS) <= archs
    for arch, facts in table.ARCH_DEFAULTS.items():
        assert facts and all(table.FAMILY_DEFAULTS[k] != v for k, v in facts.items()), arch
    for name, row in table.CFGS.items():
        arch_facts = {**table.FAMILY_DEFAULTS, **table.ARCH_DEFAULTS.get(name.partition(".")[0], {})}
        repeated = [k for k in ARCH_KEYS if k in row and row[k] == arch_facts[k]]
        assert not repeated, f"{name} repeats {repeated}"


def test_family_exceptions_where_architectures_differ():
    deit = importlib.import_module("visionzoo.weights.cfgs.deit")
    assert deit.ARCH_DEFAULTS["deit_tiny_distilled_patch16_224"] == {"classifier": ("head", "head_dist")}
    assert visionzoo.get_pretrained_cfg("deit_tiny_distilled_patch16_224").classifier == ("head", "head_dist")
    assert visionzoo.get_pretrained_cfg("deit_tiny_patch16_224").classifier == "head"
    assert visionzoo.get_pretrained_cfg("resnet50d").first_conv == "conv1.0"
    assert visionzoo.get_pretrained_cfg("resnet50").first_conv == "conv1"
    assert visionzoo.get_pretrained_cfg("mobilenetv3_small_100").classifier == "classifier"


def test_tables_are_the_modules_on_disk():
    on_disk = sorted(p.stem for p in CFGS_DIR.glob("*.py") if not p.stem.startswith("_"))
    assert list(registry.FAMILY_TABLES) == on_disk
    assert set(on_disk) <= set(visionzoo.list_modules())


def test_a_new_family_needs_only_its_model_module_and_table(tmp_path):
    """A table and a model module put on the path are found; nothing else is edited."""
    (tmp_path / "toyfam_models.py").write_text(
        textwrap.dedent(
            """
            from visionzoo.registry import register_model

            @register_model
            def toy_net(**kwargs):
                return ("toy", kwargs)
            """
        )
    )
    tables = tmp_path / "tables"
    tables.mkdir()
    (tables / "toyfam.py").write_text(
        textwrap.dedent(
            """
            MODULE = "toyfam_models"
            FAMILY_DEFAULTS = {"classifier": "fc", "first_conv": "stem"}
            ARCH_DEFAULTS = {}
            CFGS = {"toy_net.v1": {"hf_hub_id": "org/toy_net", "crop_pct": 0.5}, "toy_net.v2": {}}
            ALIASES = {"toynet": "toy_net.v1"}
            """
        )
    )
    code = textwrap.dedent(
        f"""
        import sys
        import visionzoo.weights.cfgs as tables
        tables.__path__.append({str(tables)!r})
        import visionzoo
        print(visionzoo.list_models("toy*"), visionzoo.list_pretrained("toy*"), "toyfam_models" in visionzoo.list_modules())
        cfg = visionzoo.get_pretrained_cfg("toy_net")
        print(cfg.name, cfg.classifier, cfg.first_conv, cfg.crop_pct)
        print("toyfam_models" in sys.modules, visionzoo.model_entrypoint("toy_net")(num_classes=3))
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "['toy_net'] ['toy_net.v1'] True",
        "toy_net.v1 fc stem 0.5",
        "False ('toy', {'num_classes': 3})",
    ]
