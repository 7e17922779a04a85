"""RegNetX, RegNetY, RegNetZ and RegNetV (Radosavovic et al. 2020, "Designing Network Design Spaces";
Dollar et al. 2021, "Fast and Accurate Model Scaling"), including the SEER and SWAG RegNetY sizes.

Stage widths and depths are generated from the paper's RegNet parameters (w0, wa, wm, depth, group
size); RegNetY adds squeeze-and-excitation, RegNetZ inverted bottlenecks with linear outputs and no
projection shortcuts, RegNetV (timm's) pre-activation blocks. State dict keys follow timm's layout
(`stem`, `s1..s4.bN`, `final_conv`, `head.fc`), so `timm/regnet*` checkpoints load unchanged.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..features import collect_intermediates, feature_take_indices
from ..layers.activations import create_act
from ..layers.conv2d_same import SamePadAvgPool2d
from ..layers.conv_norm_act import ConvNormAct
from ..layers.drop import drop_path_layer, stage_drop_path_rates
from ..layers.grad_checkpoint import checkpoint_active, run_blocks
from ..layers.helpers import first_block_dilation, make_divisible
from ..layers.norm_act import BatchNormAct2d
from ..layers.pooling import SelectAdaptivePool2d
from ..layers.squeeze_excite import SEModule
from ..registry import register_variants
from ..utils.checks import check_output_stride
from .base import ImageModel, check_num_classes

__all__ = [
    "RegNet",
    "RegBottleneck",
    "RegPreBottleneck",
    "RegStageSpec",
    "regnet_stages",
    "checkpoint_filter",
    "VARIANTS",
]

NORM_TYPES = ("batchnorm", "groupnorm")
DOWNSAMPLE_TYPES = ("conv1x1", "avg", "")


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
    group_size: int,
    bottle_ratio: float = 1.0,
    group_min_ratio: float = 0.0,
    quant: int = 8,
) -> list[RegStageSpec]:
    """Stage widths/depths of a RegNet from its design-space parameters (paper, section 3.3).

    Block j gets the continuous width u_j = w0 + wa * j, which is snapped to the nearest power of wm
    times w0 (w0 * wm ** round(log(u_j / w0) / log(wm))) and rounded to a multiple of `quant`. Runs of
    equal width form the stages. Each stage's group width is then capped at its bottleneck width and the
    bottleneck width rounded to a multiple of the group width (to the nearest one, or with
    `group_min_ratio`, torchvision's rounding: the nearest that keeps at least that fraction of the width).
    """
    if w0 <= 0 or wa <= 0 or wm <= 1 or depth < 1 or group_size < 1:
        raise ValueError(
            f"need w0 > 0, wa > 0, wm > 1, depth >= 1, group_size >= 1; got {w0}, {wa}, {wm}, {depth}, {group_size}"
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
        g = min(group_size, inner)
        if group_min_ratio:
            inner = make_divisible(inner, g, round_limit=group_min_ratio)
        else:
            inner = max(g, int(round(inner / g)) * g)  # a whole number of groups
        specs.append(RegStageSpec(width=int(inner / bottle_ratio), depth=n, group_width=g))
    return specs


def _norm_layer(norm: str) -> Callable[[int], nn.Module]:
    """The norm class by channels: BatchNorm2d, or GroupNorm with groups of 16 channels."""
    if norm == "groupnorm":
        return lambda chs: nn.GroupNorm(chs // 16, chs)
    return nn.BatchNorm2d


def _shortcut(
    kind: str,
    in_chs: int,
    out_chs: int,
    stride: int,
    norm: str,
    preact: bool,
    dilation: tuple[int, int] = (1, 1),
) -> nn.Module | None:
    """The shortcut of a block: identity when the shape (and the dilation) stays, else a projection (a
    strided 1x1 conv, or a 2x2 average pool then a 1x1 conv; normed unless `preact`), or None (no residual,
    `kind` ''). In a dilated stage the pool keeps stride 1 ("SAME"-padded) once the block's first dilation
    is above 1."""
    if stride == 1 and in_chs == out_chs and dilation[0] == dilation[1]:
        return nn.Identity()
    if not kind:
        return None
    conv_stride = stride if kind == "conv1x1" else 1
    if preact:
        proj: nn.Module = nn.Conv2d(in_chs, out_chs, 1, conv_stride, bias=False)
    else:
        proj = ConvNormAct(in_chs, out_chs, 1, conv_stride, act=False, norm=_norm_layer(norm))
    if kind == "conv1x1":
        return proj
    pool: nn.Module = nn.Identity()
    if dilation[0] > 1:
        pool = SamePadAvgPool2d(2, 1)
    elif stride > 1:
        pool = nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False)
    return nn.Sequential(pool, proj)


class RegBottleneck(nn.Module):
    """RegNet X/Y/Z block: 1x1 -> grouped 3x3 (strided) -> [SE] -> 1x1, plus shortcut, then the activation.

    The bottleneck is `bottle_ratio` times the output width (RegNetZ: 4, an inverted bottleneck); the SE
    bottleneck width is `se_ratio` times the block's input width. `linear_out` drops the final activation;
    downsample '' drops the residual of blocks that change shape.
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        stride: int = 1,
        group_size: int = 1,
        bottle_ratio: float = 1.0,
        se_ratio: float = 0.0,
        drop_path: float = 0.0,
        act: str = "relu",
        norm: str = "batchnorm",
        downsample: str = "conv1x1",
        linear_out: bool = False,
        dilation: tuple[int, int] = (1, 1),
    ):
        super().__init__()
        inner = int(round(out_chs * bottle_ratio))
        if inner % group_size:
            raise ValueError(f"bottleneck width {inner} is not a multiple of the group size {group_size}")
        norm_layer = _norm_layer(norm)
        self.conv1 = ConvNormAct(in_chs, inner, 1, act=act, norm=norm_layer)
        self.conv2 = ConvNormAct(
            inner,
            inner,
            3,
            stride,
            dilation=dilation[0],
            groups=inner // group_size,
            act=act,
            norm=norm_layer,
        )
        self.se: nn.Module = nn.Identity()
        if se_ratio > 0:
            self.se = SEModule(
                inner, int(round(in_chs * se_ratio)), act_layer=functools.partial(create_act, act)
            )
        self.conv3 = ConvNormAct(inner, out_chs, 1, act=False, norm=norm_layer)
        self.act3 = create_act(None if linear_out else act)
        self.downsample = _shortcut(downsample, in_chs, out_chs, stride, norm, False, dilation)
        self.drop_path = drop_path_layer(drop_path)

    def zero_init_last(self) -> None:
        """Start the residual branch at zero so the block is an identity map at init."""
        nn.init.zeros_(self.conv3.bn.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in, H, W) -> (B, out, H/s, W/s)
        y = self.conv3(self.se(self.conv2(self.conv1(x))))
        if self.downsample is not None:
            y = self.drop_path(y) + self.downsample(x)
        return self.act3(y)


class RegPreBottleneck(nn.Module):
    """Pre-activation RegNet block (RegNetV): norm+act before each conv, the shortcut taken after the first.

    Keys `norm1, conv1, norm2, conv2, se, norm3, conv3, downsample`; no activation after the sum.
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        stride: int = 1,
        group_size: int = 1,
        bottle_ratio: float = 1.0,
        se_ratio: float = 0.0,
        drop_path: float = 0.0,
        act: str = "relu",
        norm: str = "batchnorm",
        downsample: str = "conv1x1",
        linear_out: bool = False,
        dilation: tuple[int, int] = (1, 1),
    ):
        super().__init__()
        if norm != "batchnorm":
            raise ValueError(f"pre-activation RegNets support only norm='batchnorm', got {norm!r}")
        inner = int(round(out_chs * bottle_ratio))
        if inner % group_size:
            raise ValueError(f"bottleneck width {inner} is not a multiple of the group size {group_size}")
        self.norm1 = BatchNormAct2d(in_chs, act=act)
        self.conv1 = nn.Conv2d(in_chs, inner, 1, bias=False)
        self.norm2 = BatchNormAct2d(inner, act=act)
        d = dilation[0]
        self.conv2 = nn.Conv2d(inner, inner, 3, stride, d, d, groups=inner // group_size, bias=False)
        self.se: nn.Module = nn.Identity()
        if se_ratio > 0:
            self.se = SEModule(
                inner, int(round(in_chs * se_ratio)), act_layer=functools.partial(create_act, act)
            )
        self.norm3 = BatchNormAct2d(inner, act=act)
        self.conv3 = nn.Conv2d(inner, out_chs, 1, bias=False)
        self.downsample = _shortcut(downsample, in_chs, out_chs, stride, norm, True, dilation)
        self.drop_path = drop_path_layer(drop_path)

    def zero_init_last(self) -> None:
        """Nothing to zero: the branch ends in a conv, not a norm."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in, H, W) -> (B, out, H/s, W/s)
        x = self.norm1(x)
        y = self.conv1(x)
        y = self.conv2(self.norm2(y))
        y = self.conv3(self.norm3(self.se(y)))
        if self.downsample is not None:
            y = self.drop_path(y) + self.downsample(x)
        return y


class RegStage(nn.Module):
    """A run of RegNet blocks `b1..bN`; the first one strides and changes width.

    In a dilated stage (`dilation` > 1) the blocks get (first, dilation) pairs: the first block's 3x3 conv
    dilates by at most 2, the others by `dilation`.
    """

    def __init__(
        self,
        in_chs: int,
        spec: RegStageSpec,
        stride: int,
        drop_path_rates: Sequence[float],
        block_cls: type[RegBottleneck] | type[RegPreBottleneck] = RegBottleneck,
        dilation: int = 1,
        **block_kwargs,
    ):
        super().__init__()
        self.grad_checkpointing = False
        first_dilation = first_block_dilation(dilation)
        for j in range(spec.depth):
            block = block_cls(
                in_chs if j == 0 else spec.width,
                spec.width,
                stride if j == 0 else 1,
                spec.group_width,
                drop_path=drop_path_rates[j],
                dilation=(first_dilation if j == 0 else dilation, dilation),
                **block_kwargs,
            )
            self.add_module(f"b{j + 1}", block)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_blocks(self.children(), x, checkpoint_active(self))


class RegNet(ImageModel):
    """RegNet classifier: 3x3 stem (stride 2), four stages `s1..s4` (stride 2 each), `final_conv`, pool, `head.fc`.

    Args:
        w0, wa, wm, depth, group_size: RegNet design-space parameters (initial width, width slope,
            width multiplier, total blocks, group width of the 3x3 convs).
        se_ratio: squeeze-excite width relative to the block input (0: RegNetX, 0.25: RegNetY).
        bottle_ratio: bottleneck width relative to the block width (RegNetZ: 4).
        group_min_ratio: torchvision's rounding of bottleneck widths to whole groups (0: timm's, nearest).
        stem_width: stem conv channels.
        downsample: shortcut of blocks that change shape: 'conv1x1', 'avg' (2x2 pool, 1x1 conv) or ''
            (none: no residual in those blocks, RegNetZ).
        linear_out: no activation after the residual sum (RegNetZ); the model then ends in one.
        preact: pre-activation blocks and an un-normed stem (RegNetV); the model ends in an activation.
        num_features: width of a final 1x1 conv + norm + act before the pooling (0: none).
        act: 'relu' or another activation name ('silu' for RegNetZ/V).
        norm: 'batchnorm' or 'groupnorm' (groups of 16 channels).
        output_stride: 32, or 16 / 8 to dilate the later stages instead of striding them.
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
        group_size: int = 24,
        se_ratio: float = 0.0,
        bottle_ratio: float = 1.0,
        group_min_ratio: float = 0.0,
        stem_width: int = 32,
        downsample: str = "conv1x1",
        linear_out: bool = False,
        preact: bool = False,
        num_features: int = 0,
        act: str = "relu",
        norm: str = "batchnorm",
        output_stride: int = 32,
        num_classes: int = 1000,
        in_chans: int = 3,
        global_pool: str = "avg",
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        zero_init_last: bool = True,
    ):
        super().__init__()
        if downsample not in DOWNSAMPLE_TYPES:
            raise ValueError(f"downsample must be one of {DOWNSAMPLE_TYPES}, got {downsample!r}")
        if norm not in NORM_TYPES:
            raise ValueError(f"norm must be one of {NORM_TYPES}, got {norm!r}")
        if num_features < 0:
            raise ValueError(f"num_features must be >= 0, got {num_features}")
        check_output_stride(output_stride)
        create_act(act)  # a clear error for an unknown activation name
        specs = regnet_stages(w0, wa, wm, depth, group_size, bottle_ratio, group_min_ratio)
        if len(specs) != 4:
            raise ValueError(f"these RegNet parameters give {len(specs)} stages, not 4")
        self.num_classes = num_classes
        self.drop_rate = drop_rate
        self.grad_checkpointing = False

        # (B, in_chans, H, W) -> (B, stem, H/2, W/2)
        if preact:
            self.stem: nn.Module = nn.Conv2d(in_chans, stem_width, 3, 2, 1, bias=False)
        else:
            self.stem = ConvNormAct(in_chans, stem_width, 3, 2, act=act, norm=_norm_layer(norm))
        self.feature_info = [dict(num_chs=stem_width, reduction=2, module="stem")]
        stage_rates = stage_drop_path_rates(drop_path_rate, [s.depth for s in specs])
        block_kwargs = dict(
            bottle_ratio=bottle_ratio,
            se_ratio=se_ratio,
            act=act,
            norm=norm,
            downsample=downsample,
            linear_out=linear_out,
        )
        block_cls = RegPreBottleneck if preact else RegBottleneck
        chs, reduction, dilation = stem_width, 2, 1
        self.stage_names = []
        for i, (spec, rates) in enumerate(zip(specs, stage_rates), start=1):
            stride = 2
            if reduction >= output_stride:  # dilate instead of striding
                stride, dilation = 1, dilation * 2
            reduction *= stride
            name = f"s{i}"
            stage = RegStage(chs, spec, stride, rates, block_cls, dilation, **block_kwargs)
            self.add_module(name, stage)
            self.stage_names.append(name)
            self.feature_info.append(dict(num_chs=spec.width, reduction=reduction, module=name))
            chs = spec.width
        # after the last stage: a 1x1 conv to num_features, or the activation the blocks left out, or nothing
        if num_features:
            self.final_conv: nn.Module = ConvNormAct(chs, num_features, 1, act=act, norm=_norm_layer(norm))
            chs = num_features
        else:
            self.final_conv = create_act(act if (linear_out or preact) else None)
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
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)
        if zero_init_last:
            for m in self.modules():
                if isinstance(m, (RegBottleneck, RegPreBottleneck)):
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
        return self._pool_drop_classify(x, self.head.global_pool, self.head.fc, pre_logits)

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
        """Stem output (index 0) and each stage's output (1..4). `norm` has no effect (no final norm).

        The returned final map has been through `final_conv` only when every stage ran.
        """
        take, last = feature_take_indices(len(self.feature_info), indices)
        steps = [self.stem, *self._stages()]
        x, maps = collect_intermediates(x, steps, take, output_fmt, stop_early or intermediates_only)
        if intermediates_only:
            return maps
        return (self.final_conv(x) if last == len(self.stage_names) or not stop_early else x), maps

    def prune_intermediate_layers(
        self, indices: int | Sequence[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        """Drop the stages after the last map in `indices` (and the head); returns the kept positions."""
        take, last = feature_take_indices(len(self.feature_info), indices)
        for name in self.stage_names[last:]:
            setattr(self, name, nn.Identity())
        # a final conv is not part of the feature maps: it goes with the later stages or with the head
        prune_end = last < len(self.stage_names) or (
            (prune_norm or prune_head) and isinstance(self.final_conv, ConvNormAct)
        )
        if prune_end:
            self.final_conv = nn.Identity()
            self.num_features = self.feature_info[last]["num_chs"]
        if prune_head or prune_end:
            self.reset_classifier(0, "")
        return take

    def group_matcher(self, coarse: bool = False) -> dict:
        return dict(stem=r"^stem", blocks=r"^s(\d+)" if coarse else r"^s(\d+)\.b(\d+)")


# -- checkpoints --------------------------------------------------------------------------------------

# torchvision's block-internal names -> ours, applied in order to the part after `sN.bM.`
_TV_BLOCK_NAMES = (
    ("f.a.0.", "conv1.conv."),
    ("f.a.1.", "conv1.bn."),
    ("f.b.0.", "conv2.conv."),
    ("f.b.1.", "conv2.bn."),
    ("f.se.", "se."),
    ("f.c.0.", "conv3.conv."),
    ("f.c.1.", "conv3.bn."),
    ("proj.0.", "downsample.conv."),
    ("proj.1.", "downsample.bn."),
)
_TV_BLOCK_KEY = re.compile(r"^trunk_output\.block(\d+)\.block\d+-(\d+)\.(.*)$")


def checkpoint_filter(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Fit a timm or torchvision RegNet checkpoint to `model`.

    timm keys pass through. torchvision's (`stem.0/1`, `trunk_output.blockN.blockN-M.f.{a,b,c}`, `proj`,
    `fc`: the `tv2_in1k` originals) are renamed to timm's.
    """
    if "stem.0.weight" not in state_dict:
        return state_dict
    out = {}
    for key, value in state_dict.items():
        key = key.replace("stem.0.", "stem.conv.").replace("stem.1.", "stem.bn.")
        m = _TV_BLOCK_KEY.match(key)
        if m:
            rest = m.group(3)
            for old, new in _TV_BLOCK_NAMES:
                if rest.startswith(old):
                    rest = new + rest[len(old) :]
                    break
            key = f"s{m.group(1)}.b{int(m.group(2)) + 1}.{rest}"
        elif key.startswith("fc."):
            key = "head." + key
        out[key] = value
    return out


# -- variants -----------------------------------------------------------------------------------------

# (w0, wa, wm, depth, group size) per size; from the paper's model tables (as listed in timm's model_cfgs).
_REGNETX = {
    "002": (24, 36.44, 2.49, 13, 8),
    "004": (24, 24.48, 2.54, 22, 16),
    "006": (48, 36.97, 2.24, 16, 24),
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
    "006": (48, 32.54, 2.32, 15, 16),
    "008": (56, 38.84, 2.4, 14, 16),
    "016": (48, 20.71, 2.65, 27, 24),
    "032": (80, 42.63, 2.66, 21, 24),
    "040": (96, 31.41, 2.24, 22, 64),
    "064": (112, 33.22, 2.27, 25, 72),
    "080": (192, 76.82, 2.19, 17, 56),
    "120": (168, 73.36, 2.37, 19, 112),
    "160": (200, 106.23, 2.48, 18, 112),
    "320": (232, 115.89, 2.53, 20, 232),
    # the SEER / SWAG sizes (Goyal et al. 2021; Singh et al. 2022)
    "640": (352, 147.48, 2.4, 20, 328),
    "1280": (456, 160.83, 2.52, 27, 264),
    "2560": (640, 230.83, 2.53, 27, 373),
}
_KEYS = ("w0", "wa", "wm", "depth", "group_size")
_Y = dict(se_ratio=0.25)
_TV = dict(group_min_ratio=0.9)  # torchvision's rounding of the group widths
# RegNetZ: inverted bottlenecks (x4), SiLU, linear block outputs, no projection shortcuts; trained
# without zeroing the last BN
_Z = dict(bottle_ratio=4.0, se_ratio=0.25, downsample="", linear_out=True, act="silu", zero_init_last=False)
_REGNETZ = {"005": (16, 10.7, 2.51, 21, 4), "040": (48, 14.5, 2.226, 28, 8)}
_V = dict(se_ratio=0.25, preact=True, act="silu")  # RegNetV: pre-activation RegNetY


def _row(params: tuple, *recipes: dict, **extra) -> dict:
    row = dict(zip(_KEYS, params))
    for recipe in recipes:
        row.update(recipe)
    return {**row, **extra}


VARIANTS: dict[str, dict] = {
    **{f"regnetx_{size}": _row(p) for size, p in _REGNETX.items()},
    "regnetx_004_tv": _row(_REGNETX["004"], _TV),
    **{f"regnety_{size}": _row(p, _Y) for size, p in _REGNETY.items()},
    **{f"regnety_{size}_tv": _row(_REGNETY[size], _Y, _TV) for size in ("008", "080")},
    "regnety_040_sgn": _row(_REGNETY["040"], _Y, act="silu", norm="groupnorm"),
    "regnetv_040": _row(_REGNETY["040"], _V),
    "regnetv_064": _row(_REGNETY["064"], _V, downsample="avg"),
    "regnetz_005": _row(_REGNETZ["005"], _Z, num_features=1024),
    "regnetz_040": _row(_REGNETZ["040"], _Z),
    "regnetz_040_h": _row(_REGNETZ["040"], _Z, num_features=1536),
}

register_variants(VARIANTS, RegNet, checkpoint_filter=checkpoint_filter)
