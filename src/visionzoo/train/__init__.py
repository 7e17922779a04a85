"""Fine-tuning and evaluation: `train(TrainConfig(...))`, `validate(...)`, `evaluate(model, loader)`."""

from .evaluate import EvalResult, evaluate, validate
from .trainer import TrainConfig, Trainer, TrainResult, train

__all__ = ["EvalResult", "TrainConfig", "TrainResult", "Trainer", "evaluate", "train", "validate"]
