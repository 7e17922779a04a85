"""The contract every visionzoo classifier keeps, whatever its family."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..weights.cfg import PretrainedCfg


class ImageModel(nn.Module):
    """Base class of all visionzoo image classifiers.

    Subclasses set `num_classes`, `num_features`, `feature_info` (a list of
    `dict(num_chs=, reduction=, module=)`, one per feature map `forward_intermediates` can return)
    and implement `forward_features`, `forward_head`, `get_classifier`, `reset_classifier`,
    `forward_intermediates`, `prune_intermediate_layers` and `group_matcher`.
    """

    num_classes: int
    num_features: int
    feature_info: list[dict]
    pretrained_cfg: PretrainedCfg | None = None
    grad_checkpointing: bool = False

    @property
    def default_cfg(self) -> PretrainedCfg | None:
        """Old name of `pretrained_cfg`."""
        return self.pretrained_cfg

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        raise NotImplementedError

    def get_classifier(self) -> nn.Module:
        raise NotImplementedError

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
        self.grad_checkpointing = enable

    def group_matcher(self, coarse: bool = False) -> dict:
        """Regexes grouping parameter names into stem and blocks, for layer-wise lr decay."""
        raise NotImplementedError

    def no_weight_decay(self) -> set[str]:
        """Parameter names that should not get weight decay (besides norms and biases)."""
        return set()
