"""A tiny user-defined architecture used to test the registry and factory without the model families."""

from __future__ import annotations

import torch
from torch import nn

from visionzoo.features import feature_take_indices, to_output_fmt
from visionzoo.models.base import ImageModel


class TinyNet(ImageModel):
    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        width: int = 8,
        drop_rate: float = 0.0,
        global_pool: str = "avg",
    ):
        super().__init__()
        self.num_classes = num_classes
        self.num_features = width * 2
        self.conv1 = nn.Conv2d(in_chans, width, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(width, width * 2, 3, stride=2, padding=1)
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()
        self.feature_info = [
            dict(num_chs=width, reduction=2, module="conv1"),
            dict(num_chs=width * 2, reduction=4, module="conv2"),
        ]

    def forward_features(self, x):
        return self.conv2(torch.relu(self.conv1(x)))

    def forward_head(self, x, pre_logits: bool = False):
        x = self.drop(x.mean((2, 3)))
        return x if pre_logits else self.fc(x)

    def get_classifier(self):
        return self.fc

    def reset_classifier(self, num_classes, global_pool=None):
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()

    def forward_intermediates(
        self, x, indices=None, norm=False, stop_early=False, output_fmt="NCHW", intermediates_only=False
    ):
        take, _ = feature_take_indices(2, indices)
        a = self.conv1(x)
        b = self.conv2(torch.relu(a))
        feats = [to_output_fmt(t, output_fmt) for i, t in enumerate((a, b)) if i in take]
        return feats if intermediates_only else (b, feats)

    def prune_intermediate_layers(self, indices=1, prune_norm=False, prune_head=True):
        take, _ = feature_take_indices(2, indices)
        if prune_head:
            self.reset_classifier(0)
        return take

    def group_matcher(self, coarse=False):
        return dict(stem=r"^conv1", blocks=r"^conv2")
