"""The contract every visionzoo classifier keeps, whatever its family."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..weights.cfg import PretrainedCfg


def check_num_classes(num_classes: object) -> int:
    """`num_classes` itself, after a TypeError unless it is an int and a ValueError if it is negative."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int):
        raise TypeError(f"num_classes must be an int, got {type(num_classes).__name__} {num_classes!r}")
    if num_classes < 0:
        raise ValueError(f"num_classes must be >= 0, got {num_classes}")
    return num_classes


class ImageModel(nn.Module):
    """Base class of all visionzoo image classifiers.

    Subclasses set `num_classes`, `num_features`, `feature_info` (a list of
    `dict(num_chs=, reduction=, module=)`, one per feature map `forward_intermediates` can return)
    and implement `forward_features`, `forward_head`, `get_classifier`, `reset_classifier`,
    `forward_intermediates`, `prune_intermediate_layers` and `group_matcher`. A family whose pooled
    pre-logits are wider or narrower than `num_features` sets `head_hidden_size`; one whose
    `forward_features` map is not NCHW sets `output_fmt`.
    """

    num_classes: int
    num_features: int
    feature_info: list[dict]
    pretrained_cfg: PretrainedCfg | None = None
    grad_checkpointing: bool = False
    drop_rate: float = 0.0  # dropout before the classifier
    output_fmt: str = "NCHW"  # layout of the `forward_features` map
    feature_key_layout: str = (
        "trunk"  # features_only state-dict keys as timm's extractor has them (features.py)
    )

    @property
    def default_cfg(self) -> PretrainedCfg | None:
        """Old name of `pretrained_cfg`."""
        return self.pretrained_cfg

    @property
    def head_hidden_size(self) -> int:
        """Width of `forward_head(x, pre_logits=True)`: `num_features` unless the family set another."""
        return self.__dict__.get("_head_hidden_size", self.num_features)

    @head_hidden_size.setter
    def head_hidden_size(self, value: int) -> None:
        self.__dict__["_head_hidden_size"] = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        raise NotImplementedError

    def get_classifier(self) -> nn.Module:
        raise NotImplementedError

    def _pool_drop_classify(
        self, x: torch.Tensor, global_pool: nn.Module, classifier: nn.Module, pre_logits: bool
    ) -> torch.Tensor:
        """The head tail most CNNs share: `global_pool` -> dropout at `drop_rate` -> `classifier`.

        With `pre_logits` it returns the pooled features after the dropout.
        """
        x = self._head_dropout(global_pool(x))  # (B, F), or (B, 2F) for catavgmax
        return x if pre_logits else classifier(x)

    def _head_dropout(self, x: torch.Tensor) -> torch.Tensor:
        """Dropout of the pooled features at `drop_rate`, in training only (the classifier's input)."""
        return F.dropout(x, self.drop_rate, self.training) if self.drop_rate > 0.0 else x

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        raise NotImplementedError

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | Sequence[int] | None = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        raise NotImplementedError

    def prune_intermediate_layers(
        self, indices: int | Sequence[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        raise NotImplementedError

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute activations in backward instead of storing them (training with autograd only).

        Sets the `grad_checkpointing` flag of the model and of every submodule that has one (the stages
        that run their blocks under `layers.grad_checkpoint.run_blocks`). Outputs are unchanged; BatchNorm
        running statistics are updated again during recomputation.
        """
        self.grad_checkpointing = enable
        for module in self.modules():
            if "grad_checkpointing" in vars(module):
                module.grad_checkpointing = enable

    def group_matcher(self, coarse: bool = False) -> dict:
        """Regexes grouping parameter names into stem and blocks, for layer-wise lr decay."""
        raise NotImplementedError

    def no_weight_decay(self) -> set[str]:
        """Parameter names that should not get weight decay (besides norms and biases)."""
        return set()
