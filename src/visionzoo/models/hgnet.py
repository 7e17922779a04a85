"""PP-HGNet and PP-HGNetV2 (PaddlePaddle's "high performance GPU networks"; V2 is the RT-DETR / D-FINE
backbone).

Each block runs a chain of convs and concatenates the input with every intermediate output before a 1x1
aggregation (ESE attention in V1, a squeeze/excite pair of 1x1 convs in V2). V2 has a two-branch stem and,
in its small variants, learnable affine scales after each activation. The head is pool -> 1x1 conv (2048)
-> ReLU -> fc. State dict keys follow timm's `hgnet.py`, so `timm/hgnet*` checkpoints load unchanged.

`model.reparameterize()` folds every conv + BN pair into one biased conv for inference (timm has no folded
layout for these models; the folded keys are `<layer>.conv.weight` / `.bias`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..features import collect_intermediates, feature_take_indices
from ..layers.conv_norm_act import conv_padding
from ..layers.drop import drop_path_layer
from ..layers.pooling import SelectAdaptivePool2d
from ..layers.reparam import conv_from_kernel, fuse_conv_bn, reparameterize
from ..registry import register_variants
from ..utils.checks import check_output_stride
from .base import ImageModel

__all__ = ["HGNet", "HGBlock", "ConvBNAct", "checkpoint_filter", "VARIANTS"]


class LearnableAffine(nn.Module):
    """y = scale * x + bias with one learned scalar each (keys `scale`, `bias`, shape [1])."""

    def __init__(self, scale: float = 1.0, bias: float = 0.0):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor([scale]))
        self.bias = nn.Parameter(torch.tensor([bias]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x + self.bias


class ConvBNAct(nn.Module):
    """Conv (symmetric padding, no bias) -> BN -> ReLU [-> learnable affine]; keys `conv`, `bn`, `lab`."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_size: int,
        stride: int = 1,
        groups: int = 1,
        use_act: bool = True,
        use_lab: bool = False,
    ):
        super().__init__()
        pad = conv_padding(kernel_size, stride)
        self.conv = nn.Conv2d(in_chs, out_chs, kernel_size, stride, pad, groups=groups, bias=False)
        self.bn: nn.Module = nn.BatchNorm2d(out_chs)
        self.act = nn.ReLU() if use_act else nn.Identity()
        self.lab = LearnableAffine() if use_act and use_lab else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lab(self.act(self.bn(self.conv(x))))

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Fold the BN into the conv (eval statistics); the BN becomes an identity."""
        if not isinstance(self.bn, nn.BatchNorm2d):
            return
        w, b = fuse_conv_bn(self.conv.weight, self.bn, self.conv.bias)
        self.conv = conv_from_kernel(self.conv, w, b)
        self.bn = nn.Identity()


class LightConvBNAct(nn.Module):
    """1x1 conv + BN (no activation), then a depthwise kxk ConvBNAct."""

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int, use_lab: bool = False):
        super().__init__()
        self.conv1 = ConvBNAct(in_chs, out_chs, 1, use_act=False, use_lab=use_lab)
        self.conv2 = ConvBNAct(out_chs, out_chs, kernel_size, groups=out_chs, use_lab=use_lab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x))


class EseModule(nn.Module):
    """Effective squeeze-excite: x * sigmoid(conv1x1(mean_hw(x)))."""

    def __init__(self, chs: int):
        super().__init__()
        self.conv = nn.Conv2d(chs, chs, 1)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.sigmoid(self.conv(x.mean((2, 3), keepdim=True)))


class StemV1(nn.Module):
    """A chain of 3x3 ConvBNActs (the first strided) and a 3x3/2 max pool; keys `stem.N`."""

    def __init__(self, chs: Sequence[int]):
        super().__init__()
        self.stem = nn.Sequential(
            *(ConvBNAct(chs[i], chs[i + 1], 3, 2 if i == 0 else 1) for i in range(len(chs) - 1))
        )
        self.pool = nn.MaxPool2d(3, 2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, chs[-1], H/4, W/4)
        return self.pool(self.stem(x))


class StemV2(nn.Module):
    """3x3/2 conv, then a 2x2 conv pair and a 2x2 max pool side by side (concatenated), 3x3/2 conv, 1x1 conv."""

    def __init__(self, in_chs: int, mid_chs: int, out_chs: int, use_lab: bool = False):
        super().__init__()
        self.stem1 = ConvBNAct(in_chs, mid_chs, 3, 2, use_lab=use_lab)
        self.stem2a = ConvBNAct(mid_chs, mid_chs // 2, 2, use_lab=use_lab)
        self.stem2b = ConvBNAct(mid_chs // 2, mid_chs, 2, use_lab=use_lab)
        self.stem3 = ConvBNAct(mid_chs * 2, mid_chs, 3, 2, use_lab=use_lab)
        self.stem4 = ConvBNAct(mid_chs, out_chs, 1, use_lab=use_lab)
        self.pool = nn.MaxPool2d(2, 1, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, out, H/4, W/4)
        x = F.pad(self.stem1(x), (0, 1, 0, 1))  # the 2x2 convs and pool keep the size after this pad
        branch = self.stem2b(F.pad(self.stem2a(x), (0, 1, 0, 1)))
        x = torch.cat([self.pool(x), branch], dim=1)  # (B, 2 * mid, H/2, W/2)
        return self.stem4(self.stem3(x))


class HGBlock(nn.Module):
    """`layer_num` chained convs; input and all their outputs concatenated, then aggregated by 1x1 convs.

    agg 'ese' (V1): 1x1 ConvBNAct + ESE; 'se' (V2): 1x1 to out/2 then 1x1 to out. With `residual` the
    input is added back.
    """

    def __init__(
        self,
        in_chs: int,
        mid_chs: int,
        out_chs: int,
        layer_num: int,
        kernel_size: int = 3,
        residual: bool = False,
        light_block: bool = False,
        use_lab: bool = False,
        agg: str = "ese",
        drop_path: float = 0.0,
    ):
        super().__init__()
        if agg not in ("ese", "se"):
            raise ValueError(f"agg must be 'ese' or 'se', got {agg!r}")
        self.residual = residual
        self.layers = nn.ModuleList()
        for i in range(layer_num):
            chs = in_chs if i == 0 else mid_chs
            if light_block:
                self.layers.append(LightConvBNAct(chs, mid_chs, kernel_size, use_lab=use_lab))
            else:
                self.layers.append(ConvBNAct(chs, mid_chs, kernel_size, use_lab=use_lab))
        total = in_chs + layer_num * mid_chs
        if agg == "se":
            self.aggregation = nn.Sequential(
                ConvBNAct(total, out_chs // 2, 1, use_lab=use_lab),
                ConvBNAct(out_chs // 2, out_chs, 1, use_lab=use_lab),
            )
        else:
            self.aggregation = nn.Sequential(
                ConvBNAct(total, out_chs, 1, use_lab=use_lab), EseModule(out_chs)
            )
        self.drop_path = drop_path_layer(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in, H, W) -> (B, out, H, W)
        outs = [x]
        y = x
        for layer in self.layers:
            y = layer(y)
            outs.append(y)
        y = self.aggregation(torch.cat(outs, dim=1))  # (B, in + n * mid, H, W) -> (B, out, H, W)
        return self.drop_path(y) + x if self.residual else y


class HGStage(nn.Module):
    """Optional depthwise 3x3/2 conv + BN (`downsample`), then blocks; the first block has no residual."""

    def __init__(
        self,
        in_chs: int,
        mid_chs: int,
        out_chs: int,
        block_num: int,
        layer_num: int,
        downsample: bool,
        light_block: bool,
        kernel_size: int,
        use_lab: bool,
        agg: str,
        drop_path: Sequence[float],
    ):
        super().__init__()
        self.grad_checkpointing = False
        if downsample:
            self.downsample: nn.Module = ConvBNAct(
                in_chs, in_chs, 3, 2, groups=in_chs, use_act=False, use_lab=use_lab
            )
        else:
            self.downsample = nn.Identity()
        self.blocks = nn.Sequential(
            *(
                HGBlock(
                    in_chs if i == 0 else out_chs,
                    mid_chs,
                    out_chs,
                    layer_num,
                    kernel_size,
                    residual=i > 0,
                    light_block=light_block,
                    use_lab=use_lab,
                    agg=agg,
                    drop_path=drop_path[i],
                )
                for i in range(block_num)
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.downsample(x)
        if self.grad_checkpointing and self.training and torch.is_grad_enabled():
            for block in self.blocks:
                x = checkpoint(block, x, use_reentrant=False)
            return x
        return self.blocks(x)


class HGNet(ImageModel):
    """PP-HGNet (V1 stem and ESE aggregation) or PP-HGNetV2 (V2 stem, SE-style aggregation).

    Args:
        stem_type: 'v1' or 'v2'. stem_chs: V1: the stem conv widths; V2: (mid, out).
        stages: four rows (in, mid, out, blocks, downsample, light_block, kernel_size, layer_num).
        use_lab: learnable affine after each activation (HGNetV2-B0..B3).
        head_hidden_size: width of the head's 1x1 conv before the classifier (None: no such conv).
        output_stride: 32 only (accepted for timm-style code; HGNet has no dilated stages).
        num_classes, in_chans, global_pool ('avg', 'max', 'avgmax' or ''), drop_rate, drop_path_rate.
    """

    feature_key_layout = "flat"  # timm's features_only keys: 'stages_0.blocks...'

    def __init__(
        self,
        stem_type: str,
        stem_chs: Sequence[int],
        stages: Sequence[Sequence],
        use_lab: bool = False,
        head_hidden_size: int | None = 2048,
        output_stride: int = 32,
        num_classes: int = 1000,
        in_chans: int = 3,
        global_pool: str = "avg",
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
    ):
        super().__init__()
        if stem_type not in ("v1", "v2"):
            raise ValueError(f"stem_type must be 'v1' or 'v2', got {stem_type!r}")
        check_output_stride(output_stride, (32,))
        self.num_classes = num_classes
        self.drop_rate = drop_rate
        self.use_lab = use_lab
        self.grad_checkpointing = False
        if stem_type == "v2":
            self.stem: nn.Module = StemV2(in_chans, stem_chs[0], stem_chs[1], use_lab)
        else:
            self.stem = StemV1([in_chans, *stem_chs])
        depths = [row[3] for row in stages]
        rates = torch.linspace(0, drop_path_rate, sum(depths), device="cpu").split(depths)
        self.feature_info = []
        built, reduction = [], 4
        for i, (row, dprs) in enumerate(zip(stages, rates)):
            in_chs, mid, out, blocks, down, light, k, layers = row
            agg = "ese" if stem_type == "v1" else "se"
            built.append(
                HGStage(in_chs, mid, out, blocks, layers, down, light, k, use_lab, agg, dprs.tolist())
            )
            reduction *= 2 if down else 1
            self.feature_info.append(dict(num_chs=out, reduction=reduction, module=f"stages.{i}"))
        self.stages = nn.Sequential(*built)
        self.num_features = stages[-1][2]
        self._head_width = head_hidden_size
        self.head = nn.Module()
        self._set_head(num_classes, global_pool, keep_hidden=True)
        self.init_weights()

    def _set_head(self, num_classes: int, global_pool: str, keep_hidden: bool) -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
            raise ValueError(f"num_classes must be an int >= 0, got {num_classes!r}")
        pool = SelectAdaptivePool2d(global_pool, flatten=False)
        if pool.feat_mult() != 1:
            raise ValueError(
                f"global_pool {global_pool!r} changes the pooled width, which HGNet's head does not take"
            )
        if pool.is_identity() and num_classes > 0:
            raise ValueError(
                "global_pool='' (no pooling) needs num_classes=0: the classifier takes pooled features"
            )
        self.head.global_pool = pool
        if not keep_hidden:
            self._head_width = None
            self.head.last_conv = nn.Identity()
        elif self._head_width is not None and not hasattr(self.head, "last_conv"):
            layers = [nn.Conv2d(self.num_features, self._head_width, 1, bias=False), nn.ReLU()]
            if self.use_lab:
                layers.append(LearnableAffine())
            self.head.last_conv = nn.Sequential(*layers)
        elif not hasattr(self.head, "last_conv"):
            self.head.last_conv = nn.Identity()
        self.head_hidden_size = self._head_width or self.num_features
        self.head.fc = nn.Linear(self.head_hidden_size, num_classes) if num_classes > 0 else nn.Identity()

    @torch.no_grad()
    def init_weights(self) -> None:
        """Kaiming-normal convs (fan-out), unit/zero BN, zero classifier bias."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def reparameterize(self) -> HGNet:
        """Fold every conv + BN into one biased conv (for inference); returns the model."""
        reparameterize(self)
        return self

    # -- forward --------------------------------------------------------------------------------------

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, F, H/32, W/32)
        return self.stages(self.stem(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self._head_dropout(self.head.last_conv(self.head.global_pool(x)))  # (B, hidden, 1, 1)
        if self.head.global_pool.pool_type:
            x = x.flatten(1)
        if pre_logits:
            return x
        return self.head.fc(x)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each block in backward instead of storing its activations (training only)."""
        self.grad_checkpointing = enable
        for stage in self.stages:
            stage.grad_checkpointing = enable

    # -- classifier -----------------------------------------------------------------------------------

    def get_classifier(self) -> nn.Module:
        return self.head.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Fresh classifier with `num_classes` outputs (0: none); the head's 1x1 conv is kept."""
        pool_type = self.head.global_pool.pool_type if global_pool is None else global_pool
        self._set_head(num_classes, pool_type, keep_hidden=True)
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
        """Each stage's output (indices 0..3); `norm` has no effect."""
        take, _ = feature_take_indices(len(self.feature_info), indices)
        stages = list(self.stages)
        steps = [lambda t, s=stages[0]: s(self.stem(t)), *stages[1:]]
        x, maps = collect_intermediates(x, steps, take, output_fmt, stop_early or intermediates_only)
        return maps if intermediates_only else (x, maps)

    def prune_intermediate_layers(
        self, indices: int | Sequence[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        """Drop the stages after the last map in `indices` (and the head, 1x1 conv included)."""
        take, last = feature_take_indices(len(self.feature_info), indices)
        self.stages = self.stages[: last + 1]
        if last < len(self.feature_info) - 1:
            self.num_features = self.feature_info[last]["num_chs"]
        if prune_head or last < len(self.feature_info) - 1:
            self._set_head(0, "avg", keep_hidden=False)
            self.num_classes = 0
        return take

    def group_matcher(self, coarse: bool = False) -> dict:
        if coarse:
            return dict(stem=r"^stem", blocks=r"^stages\.(\d+)")
        return dict(
            stem=r"^stem",
            blocks=[(r"^stages\.(\d+)\.downsample", (0,)), (r"^stages\.(\d+)\.blocks\.(\d+)", None)],
        )


# -- checkpoints --------------------------------------------------------------------------------------


def checkpoint_filter(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """HGNet checkpoints in timm's layout load as they are."""
    return dict(state_dict)


# -- variants -----------------------------------------------------------------------------------------

# per stage: (in, mid, out, blocks, downsample, light_block, kernel_size, layer_num); PaddleClas' tables
_V1 = {
    "tiny": ((48, 48, 96), 5, ((96, 96, 224, 1), (224, 128, 448, 1), (448, 160, 512, 2), (512, 192, 768, 1))),
    "small": (
        (64, 64, 128),
        6,
        ((128, 128, 256, 1), (256, 160, 512, 1), (512, 192, 768, 2), (768, 224, 1024, 1)),
    ),
    "base": (
        (96, 96, 160),
        7,
        ((160, 192, 320, 1), (320, 224, 640, 2), (640, 256, 960, 3), (960, 288, 1280, 2)),
    ),
}
_V2 = {  # stem (mid, out), layer_num, stage widths/blocks
    "b0": ((16, 16), 3, ((16, 16, 64, 1), (64, 32, 256, 1), (256, 64, 512, 2), (512, 128, 1024, 1))),
    "b1": ((24, 32), 3, ((32, 32, 64, 1), (64, 48, 256, 1), (256, 96, 512, 2), (512, 192, 1024, 1))),
    "b2": ((24, 32), 4, ((32, 32, 96, 1), (96, 64, 384, 1), (384, 128, 768, 3), (768, 256, 1536, 1))),
    "b3": ((24, 32), 5, ((32, 32, 128, 1), (128, 64, 512, 1), (512, 128, 1024, 3), (1024, 256, 2048, 1))),
    "b4": ((32, 48), 6, ((48, 48, 128, 1), (128, 96, 512, 1), (512, 192, 1024, 3), (1024, 384, 2048, 1))),
    "b5": ((32, 64), 6, ((64, 64, 128, 1), (128, 128, 512, 2), (512, 256, 1024, 5), (1024, 512, 2048, 2))),
    "b6": ((48, 96), 6, ((96, 96, 192, 2), (192, 192, 512, 3), (512, 384, 1024, 6), (1024, 768, 2048, 3))),
}


def _stages(rows, layer_num: int, v2: bool) -> tuple:
    """Full stage rows: stage 1 keeps its resolution; V2's last two stages use light 5x5 blocks."""
    out = []
    for i, row in enumerate(rows):
        light = v2 and i >= 2
        out.append((*row, i > 0, light, 5 if light else 3, layer_num))
    return tuple(out)


VARIANTS: dict[str, dict] = {
    **{
        f"hgnet_{size}": dict(stem_type="v1", stem_chs=stem, stages=_stages(rows, n, False))
        for size, (stem, n, rows) in _V1.items()
    },
    **{
        f"hgnetv2_{size}": dict(
            stem_type="v2",
            stem_chs=stem,
            stages=_stages(rows, n, True),
            use_lab=size in ("b0", "b1", "b2", "b3"),
        )
        for size, (stem, n, rows) in _V2.items()
    },
}

register_variants(VARIANTS, HGNet, checkpoint_filter=checkpoint_filter)
