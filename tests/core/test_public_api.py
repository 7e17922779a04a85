"""The top-level API: every exported name resolves, has a docstring, and is known to type checkers."""

import ast
import importlib
from pathlib import Path

import visionzoo


def test_every_exported_name_resolves_and_has_a_docstring():
    for name in visionzoo.__all__:
        obj = getattr(visionzoo, name)
        if name == "__version__":
            assert isinstance(obj, str)
            continue
        assert (obj.__doc__ or "").strip(), f"visionzoo.{name} has no docstring"


def test_type_checking_block_covers_every_lazy_name():
    tree = ast.parse(Path(visionzoo.__file__).read_text())
    block = next(
        n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING"
    )
    imported = {alias.name for node in block.body for alias in node.names}
    assert imported == set(visionzoo._LAZY), set(visionzoo._LAZY) ^ imported


def test_lazy_names_point_at_their_defining_module():
    for name, module in visionzoo._LAZY.items():
        if module == f"visionzoo.{name}":  # a callable sub-package (visionzoo.train)
            continue
        obj = getattr(importlib.import_module(module), name)
        assert getattr(obj, "__module__", module) == module, (name, obj.__module__)


def test_train_has_one_meaning_whatever_is_imported_first():
    """`visionzoo.train` is callable and is the package, before and after `visionzoo.validate` is touched."""
    import subprocess
    import sys

    code = (
        "import visionzoo\n"
        "first = visionzoo.train\n"
        "visionzoo.validate\n"
        "import visionzoo.train.evaluate\n"
        "assert visionzoo.train is first, (first, visionzoo.train)\n"
        "assert callable(visionzoo.train) and visionzoo.train.TrainConfig\n"
        "from visionzoo.train import TrainConfig, train\n"
        "assert callable(train)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
