"""Fine-tuning and evaluation: `train(TrainConfig(...))`, `validate(...)`, `evaluate(model, loader)`.

`visionzoo.train` has one meaning: this package, which is also callable as the `train()` function, so
`visionzoo.train(cfg)` and `from visionzoo.train import TrainConfig` both work whatever was imported first.
"""

import sys
import types

from .evaluate import EvalResult, evaluate, validate
from .trainer import TrainConfig, Trainer, TrainResult, train

__all__ = ["EvalResult", "TrainConfig", "TrainResult", "Trainer", "evaluate", "train", "validate"]


class _CallablePackage(types.ModuleType):
    """The `visionzoo.train` package; calling it runs `train()`."""

    def __call__(self, *args, **kwargs) -> TrainResult:
        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
