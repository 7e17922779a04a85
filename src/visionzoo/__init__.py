"""visionzoo: PyTorch image models with timm-compatible weights.

Importing the package is cheap: torch and the model families load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .version import __version__

# public name -> module that defines it; resolved lazily on first attribute access
_LAZY = {
    "create_model": "visionzoo.factory",
    "list_models": "visionzoo.registry",
    "list_pretrained": "visionzoo.registry",
    "list_modules": "visionzoo.registry",
    "is_model": "visionzoo.registry",
    "model_entrypoint": "visionzoo.registry",
    "get_pretrained_cfg": "visionzoo.registry",
    "register_model": "visionzoo.registry",
    "register_variants": "visionzoo.registry",
    "PretrainedCfg": "visionzoo.weights.cfg",
    "FeatureInfo": "visionzoo.features",
    "FeatureModel": "visionzoo.features",
    "load_checkpoint": "visionzoo.weights.loading",
    "save_pretrained": "visionzoo.weights.save",
    "predict": "visionzoo.inference",
    "optimize": "visionzoo.fast_inference",
    "reparameterize": "visionzoo.layers.reparam",
    "resolve_data_config": "visionzoo.data.config",
    "resolve_model_data_config": "visionzoo.data.config",
    "create_transform": "visionzoo.data.transforms",
    "ImageNetInfo": "visionzoo.data.labels",
    "model_info": "visionzoo.tools.info",
    "model_summary": "visionzoo.tools.summary",
    "benchmark_model": "visionzoo.tools.benchmark",
    "export_model": "visionzoo.tools.export",
    "train": "visionzoo.train",  # the package, callable as train()
    "validate": "visionzoo.train.evaluate",
}

__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:  # pragma: no cover - the same names, for type checkers and IDEs
    from . import train  # noqa: F401
    from .data.config import resolve_data_config, resolve_model_data_config  # noqa: F401
    from .data.labels import ImageNetInfo  # noqa: F401
    from .data.transforms import create_transform  # noqa: F401
    from .factory import create_model  # noqa: F401
    from .fast_inference import optimize  # noqa: F401
    from .features import FeatureInfo, FeatureModel  # noqa: F401
    from .inference import predict  # noqa: F401
    from .layers.reparam import reparameterize  # noqa: F401
    from .registry import (  # noqa: F401
        get_pretrained_cfg,
        is_model,
        list_models,
        list_modules,
        list_pretrained,
        model_entrypoint,
        register_model,
        register_variants,
    )
    from .tools.benchmark import benchmark_model  # noqa: F401
    from .tools.export import export_model  # noqa: F401
    from .tools.info import model_info  # noqa: F401
    from .tools.summary import model_summary  # noqa: F401
    from .train.evaluate import validate  # noqa: F401
    from .weights.cfg import PretrainedCfg  # noqa: F401
    from .weights.loading import load_checkpoint  # noqa: F401
    from .weights.save import save_pretrained  # noqa: F401


# sub-packages reachable as attributes (`visionzoo.data.create_transform`, as with `timm.data`)
_SUBMODULES = frozenset({"data", "features", "layers", "models", "registry", "tools", "utils", "weights"})


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'visionzoo' has no attribute {name!r}")
    imported = importlib.import_module(module)
    # `train` is a sub-package that is itself callable (see visionzoo/train/__init__.py)
    value = imported if imported.__name__ == f"{__name__}.{name}" else getattr(imported, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
