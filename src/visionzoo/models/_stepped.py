"""A base for CNNs that run as a fixed list of named steps, with feature maps tapped after some of them.

DenseNet, VGG, the Inception family and Xception are plain chains of modules: their `forward_features`
is the chain, their feature maps are the outputs of given links, and their head is pool -> dropout ->
classifier. `SteppedCNN` states that once, so each family only builds its modules and names its taps.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from torch import nn

from ..features import feature_take_indices, to_output_fmt
from ..layers.grad_checkpoint import checkpoint_active, run_blocks
from ..layers.pooling import SelectAdaptivePool2d
from .base import ImageModel, check_num_classes

__all__ = ["SteppedCNN"]


class SteppedCNN(ImageModel):
    """Runs `step_names` (dotted submodule paths) in order; feature map i is the output of step
    `feature_steps[i]`, passed through `feature_taps[i]` when that is set (e.g. a ReLU the next block
    starts with). The head is `global_pool` -> dropout at `drop_rate` -> the classifier at `classifier_name`.

    Subclasses build their modules, then call `_init_steps` and `_init_head`.
    """

    classifier_name: str = "fc"

    def _init_steps(
        self,
        step_names: Sequence[str],
        feature_info: list[dict],
        feature_steps: Sequence[int],
        feature_taps: Sequence[nn.Module | None] | None = None,
    ) -> None:
        if len(feature_info) != len(feature_steps):
            raise ValueError(
                f"{len(feature_info)} feature_info entries for {len(feature_steps)} feature steps"
            )
        self.step_names = list(step_names)
        self.feature_info = feature_info
        self.feature_steps = list(feature_steps)
        self.feature_taps = nn.ModuleList(
            t or nn.Identity() for t in (feature_taps or [None] * len(feature_steps))
        )
        self.grad_checkpointing = False

    def _init_head(self, num_features: int, num_classes: int, global_pool: str, drop_rate: float) -> None:
        self.num_features = num_features
        self.drop_rate = drop_rate
        self.num_classes = 0
        self._set_head(num_classes, global_pool)

    def _set_head(self, num_classes: int, global_pool: str) -> None:
        check_num_classes(num_classes)
        pool = SelectAdaptivePool2d(global_pool, flatten=True)
        if pool.is_identity() and num_classes > 0:
            raise ValueError(
                "global_pool='' (no pooling) needs num_classes=0: the classifier takes pooled features"
            )
        self.global_pool = pool
        self.head_hidden_size = self._pooled_width() * pool.feat_mult()
        fc = nn.Linear(self.head_hidden_size, num_classes) if num_classes > 0 else nn.Identity()
        parent, _, name = self.classifier_name.rpartition(".")
        setattr(self.get_submodule(parent) if parent else self, name, fc)
        self.num_classes = num_classes

    def _pooled_width(self) -> int:
        """Channels of the map the head pools: `num_features` unless a family adds layers before the pool."""
        return self.num_features

    # -- forward --------------------------------------------------------------------------------------

    def _steps(self) -> list[nn.Module]:
        return [self.get_submodule(n) for n in self.step_names]

    def _run(self, step: nn.Module, x: torch.Tensor) -> torch.Tensor:
        has_params = next(step.parameters(), None) is not None  # recomputing a pool saves nothing
        return run_blocks((step,), x, checkpoint_active(self) and has_params)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, F, H/32, W/32)
        for step in self._steps():
            x = self._run(step, x)
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self._pool_drop_classify(x, self.global_pool, self.get_classifier(), pre_logits)

    # -- classifier -----------------------------------------------------------------------------------

    def get_classifier(self) -> nn.Module:
        return self.get_submodule(self.classifier_name)

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Fresh classifier with `num_classes` outputs (0: none), optionally changing the pooling."""
        self._set_head(num_classes, self.global_pool.pool_type if global_pool is None else global_pool)

    # -- features -------------------------------------------------------------------------------------

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | Sequence[int] | None = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """The feature maps at `indices` (see `feature_info`); `norm` has no effect (no final norm)."""
        take, last = feature_take_indices(len(self.feature_info), indices)
        to_output_fmt(x.new_empty(0, 0, 0, 0), output_fmt)  # validate before computing anything
        tapped = {self.feature_steps[i]: i for i in take}
        steps = self._steps()
        end = self.feature_steps[last] + 1 if stop_early or intermediates_only else len(steps)
        maps = []
        for j, step in enumerate(steps[:end]):
            x = self._run(step, x)
            if j in tapped:
                maps.append(to_output_fmt(self.feature_taps[tapped[j]](x), output_fmt))
        if end < len(steps):  # stopped early: end on the tapped map, as a pruned model does
            x = self.feature_taps[last](x)
        return maps if intermediates_only else (x, maps)

    def prune_intermediate_layers(
        self, indices: int | Sequence[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        """Drop the steps after the last map in `indices` (and the head); returns the kept positions."""
        take, last = feature_take_indices(len(self.feature_info), indices)
        end = self.feature_steps[last] + 1
        for j, name in enumerate(self.step_names[end:]):
            # the first dropped step becomes the tap, so forward_features gives the tapped map
            replacement = self.feature_taps[last] if j == 0 else nn.Identity()
            parent, _, attr = name.rpartition(".")
            setattr(self.get_submodule(parent) if parent else self, attr, replacement)
        if last < len(self.feature_info) - 1:
            self.num_features = self.feature_info[last]["num_chs"]
        if prune_head or last < len(self.feature_info) - 1:
            self._prune_head()
        return take

    def step_groups(self) -> list[tuple[str, tuple[int]]]:
        """One parameter group per step that has weights, in order: for `group_matcher`'s 'blocks'."""
        return [
            (rf"^{re.escape(name)}\.", (i,))
            for i, (name, step) in enumerate(zip(self.step_names, self._steps()))
            if next(step.parameters(), None) is not None
        ]

    def _prune_head(self) -> None:
        self.reset_classifier(0, "")
