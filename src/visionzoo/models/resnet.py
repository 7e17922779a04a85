"""ResNet, ResNet-D, Wide ResNet and ResNeXt (He et al. 2015; Xie et al. 2016; He et al. 2018 "bag of tricks").

State dict keys follow timm's `resnet.py`, so `timm/resnet*` checkpoints load unchanged, and torchvision's
ResNet / ResNeXt / Wide ResNet checkpoints load through `checkpoint_filter`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..features import collect_intermediates, feature_take_indices
from ..layers.drop import drop_path_layer, stage_drop_path_rates
from ..layers.grad_checkpoint import checkpoint_active, run_blocks
from ..layers.pooling import SelectAdaptivePool2d
from ..registry import register_variants
from .base import ImageModel, check_num_classes

__all__ = ["ResNet", "BasicBlock", "Bottleneck", "checkpoint_filter", "VARIANTS"]

STAGE_PLANES = (64, 128, 256, 512)
STAGE_STRIDES = (1, 2, 2, 2)
STEM_TYPES = ("", "deep")


def _conv(in_chs: int, out_chs: int, kernel_size: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    """Bias-free conv with 'same'-style padding for odd kernels."""
    return nn.Conv2d(
        in_chs, out_chs, kernel_size, stride, padding=kernel_size // 2, groups=groups, bias=False
    )


class BasicBlock(nn.Module):
    """Two 3x3 convs with an identity (or projected) shortcut; used by ResNet-18/34."""

    expansion = 1

    def __init__(
        self,
        in_chs: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        cardinality: int = 1,
        base_width: int = 64,
        drop_path: float = 0.0,
    ):
        super().__init__()
        if cardinality != 1 or base_width != 64:
            raise ValueError(
                f"BasicBlock supports only cardinality=1 and base_width=64, got {cardinality} and {base_width}"
            )
        self.conv1 = _conv(in_chs, planes, 3, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = _conv(planes, planes, 3)
        self.bn2 = nn.BatchNorm2d(planes)
        self.act2 = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.drop_path = drop_path_layer(drop_path)

    def zero_init_last(self) -> None:
        """Start the residual branch at zero so the block is an identity map at init."""
        nn.init.constant_(self.bn2.weight, 0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, planes, H/s, W/s)
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.act1(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.act2(self.drop_path(y) + shortcut)


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (grouped for ResNeXt) -> 1x1 expand (x4), with a shortcut; ResNet-26/50 and up."""

    expansion = 4

    def __init__(
        self,
        in_chs: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        cardinality: int = 1,
        base_width: int = 64,
        drop_path: float = 0.0,
    ):
        super().__init__()
        width = int(planes * base_width / 64) * cardinality  # inner width; ResNeXt: groups x group width
        out_chs = planes * self.expansion
        self.conv1 = _conv(in_chs, width, 1)
        self.bn1 = nn.BatchNorm2d(width)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = _conv(width, width, 3, stride, groups=cardinality)
        self.bn2 = nn.BatchNorm2d(width)
        self.act2 = nn.ReLU(inplace=True)
        self.conv3 = _conv(width, out_chs, 1)
        self.bn3 = nn.BatchNorm2d(out_chs)
        self.act3 = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.drop_path = drop_path_layer(drop_path)

    def zero_init_last(self) -> None:
        """Start the residual branch at zero so the block is an identity map at init."""
        nn.init.constant_(self.bn3.weight, 0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, 4 * planes, H/s, W/s)
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.act1(self.bn1(self.conv1(x)))
        y = self.act2(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.act3(self.drop_path(y) + shortcut)


BLOCKS: dict[str, type[BasicBlock] | type[Bottleneck]] = {"basic": BasicBlock, "bottleneck": Bottleneck}


def _shortcut(in_chs: int, out_chs: int, stride: int, avg_down: bool) -> nn.Sequential:
    """Projection shortcut: strided 1x1 conv + BN, or (ResNet-D) 2x2 average pool then 1x1 conv + BN."""
    if not avg_down:
        return nn.Sequential(_conv(in_chs, out_chs, 1, stride), nn.BatchNorm2d(out_chs))
    pool: nn.Module = nn.Identity()
    if stride > 1:
        pool = nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False)
    return nn.Sequential(pool, _conv(in_chs, out_chs, 1), nn.BatchNorm2d(out_chs))


def _deep_stem(in_chans: int, width: int) -> nn.Sequential:
    """ResNet-D stem: three 3x3 convs (width, width, 2 * width), the first strided; the last BN/act follow as bn1/act1."""
    return nn.Sequential(
        _conv(in_chans, width, 3, 2),
        nn.BatchNorm2d(width),
        nn.ReLU(inplace=True),
        _conv(width, width, 3),
        nn.BatchNorm2d(width),
        nn.ReLU(inplace=True),
        _conv(width, 2 * width, 3),
    )


class ResNet(ImageModel):
    """ResNet family classifier: stem (conv1/bn1/act1/maxpool), four stages `layer1..layer4`, pool, `fc`.

    Args:
        block: 'basic' (two 3x3 convs) or 'bottleneck' (1x1-3x3-1x1, x4 expansion).
        layers: number of blocks in each of the four stages.
        num_classes: classifier size; 0 gives pooled features.
        in_chans: input image channels.
        global_pool: 'avg', 'max', 'avgmax', 'catavgmax', or '' (only with num_classes=0).
        cardinality, base_width: ResNeXt groups and per-group width (Wide ResNet: base_width=128).
        stem_width, stem_type: stem channels; 'deep' is the three-conv ResNet-D stem.
        avg_down: average-pool (instead of strided conv) in projection shortcuts (ResNet-D).
        drop_rate: dropout before the classifier.
        drop_path_rate: stochastic depth, rising linearly to this rate over the blocks.
        zero_init_last: zero the last BN of every block at init.
    """

    def __init__(
        self,
        block: str = "bottleneck",
        layers: Sequence[int] = (3, 4, 6, 3),
        num_classes: int = 1000,
        in_chans: int = 3,
        global_pool: str = "avg",
        cardinality: int = 1,
        base_width: int = 64,
        stem_width: int = 64,
        stem_type: str = "",
        avg_down: bool = False,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        zero_init_last: bool = True,
    ):
        super().__init__()
        if block not in BLOCKS:
            raise ValueError(f"block must be one of {tuple(BLOCKS)}, got {block!r}")
        layers = tuple(layers)
        if len(layers) != 4 or not all(isinstance(n, int) and n >= 1 for n in layers):
            raise ValueError(f"layers must be four positive block counts, got {layers!r}")
        if stem_type not in STEM_TYPES:
            raise ValueError(f"stem_type must be one of {STEM_TYPES}, got {stem_type!r}")
        if cardinality < 1 or base_width < 1 or stem_width < 1:
            raise ValueError(
                f"cardinality, base_width and stem_width must be >= 1, got {cardinality}, {base_width}, {stem_width}"
            )
        block_cls = BLOCKS[block]
        self.num_classes = num_classes
        self.drop_rate = drop_rate
        self.grad_checkpointing = False

        # Stem: (B, in_chans, H, W) -> (B, 64, H/4, W/4)
        if stem_type == "deep":
            self.conv1 = _deep_stem(in_chans, stem_width)
            chs = 2 * stem_width
        else:
            self.conv1 = nn.Conv2d(in_chans, stem_width, 7, 2, padding=3, bias=False)
            chs = stem_width
        self.bn1 = nn.BatchNorm2d(chs)
        self.act1 = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, padding=1)
        self.feature_info = [dict(num_chs=chs, reduction=2, module="act1")]

        # Stages, with stochastic depth rising linearly from 0 to drop_path_rate over all blocks.
        stage_rates = stage_drop_path_rates(drop_path_rate, layers)
        reduction = 4
        stage_specs = zip(STAGE_PLANES, STAGE_STRIDES, stage_rates)
        for i, (planes, stride, rates) in enumerate(stage_specs, start=1):
            out_chs = planes * block_cls.expansion
            blocks = []
            for j, dpr in enumerate(rates):
                s = stride if j == 0 else 1
                down = _shortcut(chs, out_chs, s, avg_down) if (s != 1 or chs != out_chs) else None
                blocks.append(block_cls(chs, planes, s, down, cardinality, base_width, dpr))
                chs = out_chs
            reduction *= stride
            self.add_module(f"layer{i}", nn.Sequential(*blocks))
            self.feature_info.append(dict(num_chs=out_chs, reduction=reduction, module=f"layer{i}"))

        self.num_features = chs
        self.global_pool, self.fc = self._make_head(num_classes, global_pool)
        self.init_weights(zero_init_last)

    def _make_head(self, num_classes: int, global_pool: str) -> tuple[SelectAdaptivePool2d, nn.Module]:
        pool = SelectAdaptivePool2d(global_pool, flatten=True)
        if pool.is_identity() and num_classes > 0:
            raise ValueError(
                "global_pool='' (no pooling) needs num_classes=0: the classifier takes pooled features"
            )
        in_features = self.head_hidden_size = self.num_features * pool.feat_mult()  # pre-logits width
        fc = nn.Linear(in_features, num_classes) if num_classes > 0 else nn.Identity()
        return pool, fc

    @torch.no_grad()
    def init_weights(self, zero_init_last: bool = True) -> None:
        """Kaiming-normal convs (fan-out), unit/zero BN, optionally zeroed last BN per block."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_last:
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)):
                    m.zero_init_last()

    # -- stages ---------------------------------------------------------------------------------------

    def _stages(self) -> list[nn.Module]:
        return [self.layer1, self.layer2, self.layer3, self.layer4]

    def _run_stage(self, stage: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if isinstance(stage, nn.Sequential):  # a pruned stage is an nn.Identity
            return run_blocks(stage, x, checkpoint_active(self))
        return stage(x)

    def _stem_act(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, chs, H/2, W/2)
        return self.act1(self.bn1(self.conv1(x)))

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        return run_blocks((self._stem_act,), x, checkpoint_active(self))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, F, H/32, W/32)
        x = self.maxpool(self._stem(x))
        for stage in self._stages():
            x = self._run_stage(stage, x)
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.global_pool(x)  # (B, F) or (B, 2F) for catavgmax
        if self.drop_rate > 0.0:
            x = F.dropout(x, p=self.drop_rate, training=self.training)
        return x if pre_logits else self.fc(x)

    # -- classifier -----------------------------------------------------------------------------------

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replace the classifier by a fresh one with `num_classes` outputs (0: none), optionally changing pooling."""
        pool_type = self.global_pool.pool_type if global_pool is None else global_pool
        self.global_pool, self.fc = self._make_head(check_num_classes(num_classes), pool_type)
        self.num_classes = num_classes

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
        """Feature maps after the stem activation (index 0) and each stage (1..4).

        `norm` has no effect (ResNets have no final norm). With `stop_early` or `intermediates_only`, stages
        past the last requested map are skipped.
        """
        take, _ = feature_take_indices(len(self.feature_info), indices)
        first, *rest = self._stages()
        steps = [
            self._stem,
            lambda t: self._run_stage(first, self.maxpool(t)),
            *(functools.partial(self._run_stage, stage) for stage in rest),
        ]
        x, maps = collect_intermediates(x, steps, take, output_fmt, stop_early or intermediates_only)
        return maps if intermediates_only else (x, maps)

    def prune_intermediate_layers(
        self, indices: int | Sequence[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        """Drop the stages after the last map in `indices` (and the head); returns the kept positions."""
        take, last = feature_take_indices(len(self.feature_info), indices)
        for i in range(last + 1, len(self.feature_info)):
            setattr(self, f"layer{i}", nn.Identity())
        if prune_head:
            self.reset_classifier(0, "")
        return take

    def group_matcher(self, coarse: bool = False) -> dict:
        stage_re = r"^layer(\d+)" if coarse else r"^layer(\d+)\.(\d+)"
        return dict(stem=r"^conv1|^bn1|^maxpool", blocks=stage_re)


# -- checkpoints --------------------------------------------------------------------------------------


def _add_missing_bn_counters(
    state_dict: dict[str, torch.Tensor], model: nn.Module
) -> dict[str, torch.Tensor]:
    """Old torchvision files (saved before PyTorch 0.4.1) lack BN `num_batches_tracked`; add zeros."""
    out = dict(state_dict)
    for name, mod in model.named_modules():
        if isinstance(mod, nn.BatchNorm2d) and mod.track_running_stats:
            key = f"{name}.num_batches_tracked"
            if key not in out and f"{name}.running_mean" in out:
                out[key] = torch.zeros((), dtype=torch.long)
    return out


def checkpoint_filter(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Fit a timm or torchvision ResNet checkpoint to `model`.

    timm keys pass through. torchvision's ResNet/ResNeXt/Wide ResNet use the very same key names and shapes
    (conv1, bn1, layerN.M.convK/bnK, downsample.0/1, fc), so the only conversion is for legacy files that
    predate BN's `num_batches_tracked` counter. A DDP `module.` prefix is stripped when reading the file.
    """
    return _add_missing_bn_counters(state_dict, model)


# -- variants -----------------------------------------------------------------------------------------

_DEPTHS: dict[str, dict] = {
    "resnet18": dict(block="basic", layers=(2, 2, 2, 2)),
    "resnet26": dict(block="bottleneck", layers=(2, 2, 2, 2)),
    "resnet34": dict(block="basic", layers=(3, 4, 6, 3)),
    "resnet50": dict(block="bottleneck", layers=(3, 4, 6, 3)),
    "resnet101": dict(block="bottleneck", layers=(3, 4, 23, 3)),
    "resnet152": dict(block="bottleneck", layers=(3, 8, 36, 3)),
}
_RESNET_D = dict(stem_width=32, stem_type="deep", avg_down=True)

VARIANTS: dict[str, dict] = {
    **_DEPTHS,
    **{f"{name}d": {**row, **_RESNET_D} for name, row in _DEPTHS.items()},
    "wide_resnet50_2": dict(_DEPTHS["resnet50"], base_width=128),
    "wide_resnet101_2": dict(_DEPTHS["resnet101"], base_width=128),
    "resnext50_32x4d": dict(_DEPTHS["resnet50"], cardinality=32, base_width=4),
    "resnext101_32x4d": dict(_DEPTHS["resnet101"], cardinality=32, base_width=4),
    "resnext101_32x8d": dict(_DEPTHS["resnet101"], cardinality=32, base_width=8),
    "resnext101_64x4d": dict(_DEPTHS["resnet101"], cardinality=64, base_width=4),
}

register_variants(VARIANTS, ResNet, checkpoint_filter=checkpoint_filter)
