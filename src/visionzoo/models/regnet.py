"""RegNetX and RegNetY (Radosavovic et al. 2020, "Designing Network Design Spaces").

Stage widths and depths are generated from the paper's RegNet parameters (w0, wa, wm, depth, group
width); RegNetY adds squeeze-and-excitation. State dict keys follow timm's layout (`stem`, `s1..s4.bN`,
`head.fc`), so `timm/regnet*` checkpoints load unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..features import collect_intermediates, feature_take_indices
from ..layers.drop import drop_path_layer, stage_drop_path_rates
from ..layers.grad_checkpoint import checkpoint_active, run_blocks
from ..layers.norm_act import ConvBnAct
from ..layers.pooling import SelectAdaptivePool2d
from ..layers.squeeze_excite import SEModule
from ..registry import register_variants
from .base import ImageModel, check_num_classes

__all__ = ["RegNet", "RegBottleneck", "RegStageSpec", "regnet_stages", "VARIANTS"]


@dataclass(frozen=True)
class RegStageSpec:
    """One generated stage: output width, number of blocks, group width of the 3x3 conv."""

    width: int
    depth: int
    group_width: int


def regnet_stages(
    w0: int,
    wa: float,
    wm: float,
    depth: int,
    group_width: int,
    bottle_ratio: float = 1.0,
    quant: int = 8,
) -> list[RegStageSpec]:
    """Stage widths/depths of a RegNet from its design-space parameters (paper, section 3.3).

    Block j gets the continuous width u_j = w0 + wa * j, which is snapped to the nearest power of wm
    times w0 (w0 * wm ** round(log(u_j / w0) / log(wm))) and rounded to a multiple of `quant`. Runs of
    equal width form the stages. Each stage's group width is then capped at its bottleneck width and the
    bottleneck width rounded to a multiple of the group width.
    """
    if w0 <= 0 or wa <= 0 or wm <= 1 or depth < 1 or group_width < 1:
        raise ValueError(
            f"need w0 > 0, wa > 0, wm > 1, depth >= 1, group_width >= 1; got {w0}, {wa}, {wm}, {depth}, {group_width}"
        )
    widths = []
    for j in range(depth):
        u = w0 + wa * j  # linear ramp of widths
        steps = round(math.log(u / w0) / math.log(wm))  # nearest quantised step
        widths.append(int(round(w0 * wm**steps / quant)) * quant)

    runs: list[list[int]] = []  # [width, count] per run of equal widths
    for w in widths:
        if runs and runs[-1][0] == w:
            runs[-1][1] += 1
        else:
            runs.append([w, 1])

    specs = []
    for w, n in runs:
        inner = int(w * bottle_ratio)  # bottleneck width
        g = min(group_width, inner)
        inner = max(g, int(round(inner / g)) * g)  # a whole number of groups
        specs.append(RegStageSpec(width=int(inner / bottle_ratio), depth=n, group_width=g))
    return specs


class RegBottleneck(nn.Module):
    """RegNet X/Y block: 1x1 -> grouped 3x3 (strided) -> [SE] -> 1x1, plus shortcut, then ReLU.

    The SE bottleneck width is `se_ratio` times the block's input width.
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        stride: int = 1,
        group_width: int = 1,
        bottle_ratio: float = 1.0,
        se_ratio: float = 0.0,
        drop_path: float = 0.0,
    ):
        super().__init__()
        inner = int(round(out_chs * bottle_ratio))
        if inner % group_width:
            raise ValueError(f"bottleneck width {inner} is not a multiple of the group width {group_width}")
        self.conv1 = ConvBnAct(in_chs, inner, 1)
        self.conv2 = ConvBnAct(inner, inner, 3, stride, groups=inner // group_width)
        self.se: nn.Module = SEModule(inner, int(round(in_chs * se_ratio))) if se_ratio > 0 else nn.Identity()
        self.conv3 = ConvBnAct(inner, out_chs, 1, act=False)
        self.act3 = nn.ReLU()
        if stride != 1 or in_chs != out_chs:
            self.downsample: nn.Module = ConvBnAct(in_chs, out_chs, 1, stride, act=False)
        else:
            self.downsample = nn.Identity()
        self.drop_path = drop_path_layer(drop_path)

    def zero_init_last(self) -> None:
        """Start the residual branch at zero so the block is an identity map at init."""
        nn.init.zeros_(self.conv3.bn.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in, H, W) -> (B, out, H/s, W/s)
        y = self.conv3(self.se(self.conv2(self.conv1(x))))
        return self.act3(self.drop_path(y) + self.downsample(x))


class RegStage(nn.Module):
    """A run of RegNet blocks `b1..bN`; the first one strides and changes width."""

    def __init__(
        self,
        in_chs: int,
        spec: RegStageSpec,
        stride: int,
        bottle_ratio: float,
        se_ratio: float,
        drop_path_rates: Sequence[float],
    ):
        super().__init__()
        self.grad_checkpointing = False
        for j in range(spec.depth):
            block = RegBottleneck(
                in_chs if j == 0 else spec.width,
                spec.width,
                stride if j == 0 else 1,
                spec.group_width,
                bottle_ratio,
                se_ratio,
                drop_path_rates[j],
            )
            self.add_module(f"b{j + 1}", block)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_blocks(self.children(), x, checkpoint_active(self))


class RegNet(ImageModel):
    """RegNet classifier: 3x3 stem (stride 2), four stages `s1..s4` (stride 2 each), pool, `head.fc`.

    Args:
        w0, wa, wm, depth, group_width: RegNet design-space parameters (initial width, width slope,
            width multiplier, total blocks, group width of the 3x3 convs).
        se_ratio: squeeze-excite width relative to the block input (0: RegNetX, 0.25: RegNetY).
        bottle_ratio: bottleneck width relative to the block width.
        stem_width: stem conv channels.
        num_classes: classifier size; 0 gives pooled features.
        in_chans: input image channels.
        global_pool: 'avg', 'max', 'avgmax', 'catavgmax', or '' (only with num_classes=0).
        drop_rate: dropout before the classifier.
        drop_path_rate: stochastic depth, rising linearly to this rate over the blocks.
        zero_init_last: zero the last BN of every block at init.
    """

    def __init__(
        self,
        w0: int = 80,
        wa: float = 42.63,
        wm: float = 2.66,
        depth: int = 21,
        group_width: int = 24,
        se_ratio: float = 0.0,
        bottle_ratio: float = 1.0,
        stem_width: int = 32,
        num_classes: int = 1000,
        in_chans: int = 3,
        global_pool: str = "avg",
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        zero_init_last: bool = True,
    ):
        super().__init__()
        specs = regnet_stages(w0, wa, wm, depth, group_width, bottle_ratio)
        self.num_classes = num_classes
        self.drop_rate = drop_rate
        self.grad_checkpointing = False

        self.stem = ConvBnAct(in_chans, stem_width, 3, 2)  # (B, in_chans, H, W) -> (B, stem, H/2, W/2)
        self.feature_info = [dict(num_chs=stem_width, reduction=2, module="stem")]
        stage_rates = stage_drop_path_rates(drop_path_rate, [s.depth for s in specs])
        chs, reduction = stem_width, 2
        self.stage_names = []
        for i, (spec, rates) in enumerate(zip(specs, stage_rates), start=1):
            reduction *= 2
            name = f"s{i}"
            self.add_module(name, RegStage(chs, spec, 2, bottle_ratio, se_ratio, rates))
            self.stage_names.append(name)
            self.feature_info.append(dict(num_chs=spec.width, reduction=reduction, module=name))
            chs = spec.width
        self.final_conv = nn.Identity()  # a projection slot in timm's layout; unused by the X/Y variants
        self.num_features = chs
        self.head = nn.Module()
        self._set_head(num_classes, global_pool)
        self.init_weights(zero_init_last)

    def _set_head(self, num_classes: int, global_pool: str) -> None:
        pool = SelectAdaptivePool2d(global_pool, flatten=True)
        if pool.is_identity() and num_classes > 0:
            raise ValueError(
                "global_pool='' (no pooling) needs num_classes=0: the classifier takes pooled features"
            )
        self.head.global_pool = pool
        in_features = self.head_hidden_size = self.num_features * pool.feat_mult()  # pre-logits width
        self.head.fc = nn.Linear(in_features, num_classes) if num_classes > 0 else nn.Identity()

    @torch.no_grad()
    def init_weights(self, zero_init_last: bool = True) -> None:
        """Kaiming-normal convs (fan-out), unit/zero BN, N(0, 0.01) classifier, optionally zeroed last BNs."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)
        if zero_init_last:
            for m in self.modules():
                if isinstance(m, RegBottleneck):
                    m.zero_init_last()

    # -- forward --------------------------------------------------------------------------------------

    def _stages(self) -> list[nn.Module]:
        return [getattr(self, n) for n in self.stage_names]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, F, H/32, W/32)
        x = self.stem(x)
        for stage in self._stages():
            x = stage(x)
        return self.final_conv(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head.global_pool(x)  # (B, F) or (B, 2F) for catavgmax
        if self.drop_rate > 0.0:
            x = F.dropout(x, p=self.drop_rate, training=self.training)
        return x if pre_logits else self.head.fc(x)

    # -- classifier -----------------------------------------------------------------------------------

    def get_classifier(self) -> nn.Module:
        return self.head.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Fresh classifier with `num_classes` outputs (0: none), optionally changing the pooling."""
        pool_type = self.head.global_pool.pool_type if global_pool is None else global_pool
        self._set_head(check_num_classes(num_classes), pool_type)
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
        """Stem output (index 0) and each stage's output (1..4). `norm` has no effect (no final norm)."""
        take, _ = feature_take_indices(len(self.feature_info), indices)
        steps = [self.stem, *self._stages()]
        x, maps = collect_intermediates(x, steps, take, output_fmt, stop_early or intermediates_only)
        return maps if intermediates_only else (self.final_conv(x), maps)

    def prune_intermediate_layers(
        self, indices: int | Sequence[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        """Drop the stages after the last map in `indices` (and the head); returns the kept positions."""
        take, last = feature_take_indices(len(self.feature_info), indices)
        for name in self.stage_names[last:]:
            setattr(self, name, nn.Identity())
        if last < len(self.stage_names):
            self.final_conv = nn.Identity()
        if prune_head:
            self.reset_classifier(0, "")
        return take

    def group_matcher(self, coarse: bool = False) -> dict:
        return dict(stem=r"^stem", blocks=r"^s(\d+)" if coarse else r"^s(\d+)\.b(\d+)")


# -- variants -----------------------------------------------------------------------------------------

# (w0, wa, wm, depth, group width) per size; from the paper's model tables (as listed in timm's model_cfgs).
_REGNETX = {
    "002": (24, 36.44, 2.49, 13, 8),
    "004": (24, 24.48, 2.54, 22, 16),
    "008": (56, 35.73, 2.28, 16, 16),
    "016": (80, 34.01, 2.25, 18, 24),
    "032": (88, 26.31, 2.25, 25, 48),
    "040": (96, 38.65, 2.43, 23, 40),
    "064": (184, 60.83, 2.07, 17, 56),
    "080": (80, 49.56, 2.88, 23, 120),
    "120": (168, 73.36, 2.37, 19, 112),
    "160": (216, 55.59, 2.1, 22, 128),
    "320": (320, 69.86, 2.0, 23, 168),
}
_REGNETY = {
    "002": (24, 36.44, 2.49, 13, 8),
    "004": (48, 27.89, 2.09, 16, 8),
    "008": (56, 38.84, 2.4, 14, 16),
    "016": (48, 20.71, 2.65, 27, 24),
    "032": (80, 42.63, 2.66, 21, 24),
    "040": (96, 31.41, 2.24, 22, 64),
    "064": (112, 33.22, 2.27, 25, 72),
    "080": (192, 76.82, 2.19, 17, 56),
    "120": (168, 73.36, 2.37, 19, 112),
    "160": (200, 106.23, 2.48, 18, 112),
    "320": (232, 115.89, 2.53, 20, 232),
}
_KEYS = ("w0", "wa", "wm", "depth", "group_width")

VARIANTS: dict[str, dict] = {
    **{f"regnetx_{size}": dict(zip(_KEYS, p)) for size, p in _REGNETX.items()},
    **{f"regnety_{size}": dict(zip(_KEYS, p), se_ratio=0.25) for size, p in _REGNETY.items()},
}

register_variants(VARIANTS, RegNet)  # timm-layout checkpoints load as they are: no filter
