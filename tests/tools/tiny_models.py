"""Two tiny registered models for the tool tests: a 3-stage CNN and a ViT-like model with a learned pos embed."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from visionzoo.features import feature_take_indices
from visionzoo.models.base import ImageModel
from visionzoo.registry import is_model, register_model
from visionzoo.weights.cfg import PretrainedCfg

CNN_NAME = "tools_tiny_cnn"
VIT_NAME = "tools_tiny_vit"


class TinyCnn(ImageModel):
    """stem (/2) -> stage0 (/4) -> stage1 (/8) -> avg pool -> linear."""

    def __init__(self, num_classes: int = 10, in_chans: int = 3, drop_rate: float = 0.0):
        super().__init__()
        self.num_classes = num_classes
        self.stem = nn.Sequential(nn.Conv2d(in_chans, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU())
        self.stages = nn.ModuleList(
            [
                nn.Sequential(nn.Conv2d(8, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU()),
                nn.Sequential(nn.Conv2d(16, 32, 3, 2, 1), nn.BatchNorm2d(32), nn.ReLU()),
            ]
        )
        self.num_features = 32
        self.feature_info = [
            dict(num_chs=8, reduction=2, module="stem"),
            dict(num_chs=16, reduction=4, module="stages.0"),
            dict(num_chs=32, reduction=8, module="stages.1"),
        ]
        self.head = nn.Linear(32, num_classes) if num_classes else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for s in self.stages:
            x = s(x)
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean((2, 3))
        return x if pre_logits else self.head(x)

    def get_classifier(self) -> nn.Module:
        return self.head

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | Sequence[int] | None = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ):
        take, last = feature_take_indices(3, indices)
        out = []
        x = self.stem(x)
        if 0 in take:
            out.append(x)
        for i, s in enumerate(self.stages, start=1):
            if i > last and (stop_early or intermediates_only):
                break
            x = s(x)
            if i in take:
                out.append(x)
        return out if intermediates_only else (x, out)

    def prune_intermediate_layers(self, indices=1, prune_norm=False, prune_head=True):
        take, last = feature_take_indices(3, indices)
        self.stages = self.stages[:last]
        if prune_head:
            self.head = nn.Identity()
        return take


class TinyVit(ImageModel):
    """Patch embedding + class token + learned absolute pos embed + one MLP block + linear head."""

    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 3,
        img_size: int | tuple[int, int] = 32,
        patch_size: int = 8,
    ):
        super().__init__()
        h, w = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        self.num_classes = num_classes
        self.num_features = dim = 16
        self.patch_embed = nn.Conv2d(in_chans, dim, patch_size, patch_size)
        self.grid_size = (h // patch_size, w // patch_size)
        self.num_prefix_tokens = 1
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + self.grid_size[0] * self.grid_size[1], dim) * 0.02)
        self.norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 32), nn.GELU(), nn.Linear(32, dim))
        self.feature_info = [dict(num_chs=dim, reduction=patch_size, module="mlp")]
        self.head = nn.Linear(dim, num_classes) if num_classes else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x).flatten(2).transpose(1, 2)  # [B, N, D]
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return x + self.mlp(self.norm(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x[:, 0]
        return x if pre_logits else self.head(x)

    def forward_intermediates(
        self, x, indices=None, norm=False, stop_early=False, output_fmt="NCHW", intermediates_only=False
    ):
        feature_take_indices(1, indices)
        feats = self.forward_features(x)
        b, (h, w) = feats.shape[0], self.grid_size
        fmap = feats[:, 1:].transpose(1, 2).reshape(b, -1, h, w)  # [B, D, h, w]
        return [fmap] if intermediates_only else (feats, [fmap])

    def prune_intermediate_layers(self, indices=1, prune_norm=False, prune_head=True):
        if prune_head:
            self.head = nn.Identity()
        return feature_take_indices(1, indices)[0]


def register_tiny_models() -> None:
    """Register both models once per process."""
    cfgs = {"": PretrainedCfg(input_size=(3, 32, 32), num_classes=10, label_set=None, license="mit")}
    if not is_model(CNN_NAME):
        register_model(lambda **kw: TinyCnn(**kw), name=CNN_NAME, model_cls=TinyCnn, pretrained_cfgs=cfgs)
    if not is_model(VIT_NAME):
        register_model(lambda **kw: TinyVit(**kw), name=VIT_NAME, model_cls=TinyVit, pretrained_cfgs=cfgs)


register_tiny_models()
