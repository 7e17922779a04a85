"""Stage building and the shared backbone of the EfficientNet / MobileNet family.

`build_stages` turns a stage table of `BlockDef`s (the block vocabulary lives in `_efficient_blocks`) into
`nn.Sequential` stages at a width, depth and output stride; `EfficientBackbone` adds the stem, the feature
maps, pruning and checkpointing that EfficientNet and MobileNetV3 share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import torch
from torch import nn

from ..features import feature_take_indices, to_output_fmt
from ..layers.blur_pool import create_aa
from ..layers.conv2d_same import create_conv2d
from ..layers.drop import stage_drop_path_rates
from ..layers.grad_checkpoint import checkpoint_active, run_blocks
from ..layers.norm_act import NORM_ACT_KINDS, create_norm_act
from ..layers.space_to_depth import SPACE_TO_DEPTH_FACTOR
from ..utils.checks import check_output_stride
from ._efficient_blocks import ATTN_LAYERS, BLOCK_TYPES, SE_STYLES, BlockDef, _Ctx
from .base import ImageModel

__all__ = ["DEPTH_TRUNCS", "scale_stage_depth", "build_stages", "init_weights", "EfficientBackbone"]

DEPTH_TRUNCS = ("ceil", "round")


def scale_stage_depth(repeats: Sequence[int], multiplier: float, trunc: str = "ceil") -> list[int]:
    """Scale a stage's repeat counts so their sum is ceil (or round) of sum * multiplier, shared out from the last."""
    remaining = sum(repeats)
    target = math.ceil(remaining * multiplier) if trunc == "ceil" else max(1, round(remaining * multiplier))
    scaled: list[int] = []
    for r in reversed(repeats):
        n = max(1, round(r / remaining * target))
        scaled.append(n)
        remaining -= r
        target -= n
    return scaled[::-1]


def build_stages(
    stages: Sequence[Sequence[BlockDef]],
    in_chs: int,
    *,
    width_multiplier: float = 1.0,
    depth_multiplier: float | Sequence[float] = 1.0,
    fix_first_last: bool = False,
    depth_trunc: str = "ceil",
    round_limit: float = 0.9,
    act: str = "relu",
    padding: str = "",
    bn_eps: float = 1e-5,
    se_style: str = "efficientnet",
    drop_path_rate: float = 0.0,
    layer_scale: float | None = None,
    aa_layer: str | None = None,
    norm_layer: str = "batchnorm",
    norm_group_size: int = 0,
    dw_group_size: int = 1,
    channel_divisor: int = 8,
    attn_layer: str = "se",
    output_stride: int = 32,
) -> tuple[nn.Sequential, list[int], list[int], int]:
    """Instantiate a stage table.

    Returns (blocks, out_chs of each stage, stride of each stage, final channels). `depth_multiplier` is one
    factor or one per stage, its products rounded up (`depth_trunc='ceil'`) or to the nearest ('round'); with
    `fix_first_last` the first and last stages keep their depth. Channels are scaled by `width_multiplier` and
    rounded to multiples of 8, never below `round_limit` times the scaled value. Stochastic depth grows linearly with the block index. `layer_scale`
    is the initial LayerScale of 'uir'/'mqa' blocks (None: none); `aa_layer` ('avg', 'blurpc') makes strided
    convs keep stride 1 and downsample after their norm. `norm_layer` (a kind of `create_norm_act`, with
    `norm_group_size` channels per group) replaces BatchNorm; `dw_group_size` > 1 makes the depthwise convs of
    'ds'/'ir' blocks grouped convs of that many channels per group; `channel_divisor` is the multiple the scaled
    channels are rounded to; `attn_layer` 'gc' puts global context where the table says squeeze-excite.
    Once the reduction (2 after the stem) would pass `output_stride` (8, 16 or 32), strided blocks keep
    stride 1 and the blocks after them dilate instead; the strides returned are the table's.
    """
    check_output_stride(output_stride)
    if se_style not in SE_STYLES:
        raise ValueError(f"se_style must be one of {tuple(SE_STYLES)}, got {se_style!r}")
    if depth_trunc not in DEPTH_TRUNCS:
        raise ValueError(f"depth_trunc must be one of {DEPTH_TRUNCS}, got {depth_trunc!r}")
    if isinstance(depth_multiplier, int | float):
        depth_multiplier = [depth_multiplier] * len(stages)
    elif len(depth_multiplier) != len(stages):
        raise ValueError(f"depth_multiplier has {len(depth_multiplier)} factors for {len(stages)} stages")
    if attn_layer not in ATTN_LAYERS:
        raise ValueError(f"attn_layer must be one of {ATTN_LAYERS}, got {attn_layer!r}")
    create_aa(aa_layer)  # validate the name before building anything
    if norm_layer not in NORM_ACT_KINDS:
        raise ValueError(f"unknown norm layer {norm_layer!r}; known: {', '.join(NORM_ACT_KINDS)}")
    ctx = _Ctx(
        act,
        padding,
        bn_eps,
        se_style,
        layer_scale,
        aa_layer,
        width_multiplier,
        round_limit,
        norm=norm_layer,
        norm_group_size=norm_group_size,
        dw_group_size=dw_group_size,
        divisor=channel_divisor,
        attn=attn_layer,
    )
    plan: list[list[tuple[BlockDef, int]]] = []  # per stage: (def, stride) for every block
    for i, (stage, mult) in enumerate(zip(stages, depth_multiplier, strict=True)):
        fixed = fix_first_last and i in (0, len(stages) - 1)
        counts = scale_stage_depth([d.repeats for d in stage], 1.0 if fixed else mult, depth_trunc)
        blocks = []
        for d, n in zip(stage, counts, strict=True):
            unknown = d.kind not in BLOCK_TYPES
            if unknown:
                raise ValueError(f"unknown block kind {d.kind!r}; known: {sorted(BLOCK_TYPES)}")
            blocks += [(d, d.stride if j == 0 else 1) for j in range(n)]
        plan.append(blocks)
    plan = _space_to_depth_regions(plan)
    stage_rates = stage_drop_path_rates(drop_path_rate, [len(s) for s in plan], reach_end=False)
    out_stages, stage_chs, stage_strides = [], [], []
    reduction, dilation = 2, 1
    for blocks, rates in zip(plan, stage_rates):
        mods = []
        for (d, stride), dpr in zip(blocks, rates):
            out_chs = ctx.scale(d.out_chs) * (SPACE_TO_DEPTH_FACTOR if d.s2d else 1)
            # a block whose stride would pass output_stride keeps stride 1 and the current dilation;
            # the blocks after it dilate by that stride instead
            block_ctx = replace(ctx, dilation=dilation)
            reduction *= 2 if d.s2d == 1 else 1  # the space-to-depth conv downsamples and is never dilated
            if reduction * stride > output_stride:
                stride, dilation = 1, dilation * stride
            reduction *= stride
            mods.append(BLOCK_TYPES[d.kind](block_ctx, d, in_chs, out_chs, stride, dpr))
            in_chs = out_chs
        out_stages.append(nn.Sequential(*mods))
        stage_chs.append(in_chs)
        # a space-to-depth conv downsamples by 2 in a block of stride 1
        stage_strides.append(math.prod(2 if d.s2d == 1 else stride for d, stride in blocks))
    return nn.Sequential(*out_stages), stage_chs, stage_strides, in_chs


def _space_to_depth_regions(plan: list[list[tuple[BlockDef, int]]]) -> list[list[tuple[BlockDef, int]]]:
    """Mark the blocks of each space-to-depth region (see `BlockDef`): s2d=1 on the first, s2d=2 on the rest,
    and end the region at the next strided block, which keeps stride 1 and a quarter of its expansion."""
    region = False
    out = []
    for blocks in plan:
        stage = []
        for d, stride in blocks:
            if region and stride > 1:
                d, stride, region = replace(d, s2d=0, exp_ratio=d.exp_ratio / SPACE_TO_DEPTH_FACTOR), 1, False
            elif region or d.s2d:
                if d.kind not in ("ds", "ir") or stride != 1:
                    raise ValueError(
                        f"space-to-depth needs stride-1 'ds'/'ir' blocks, got {d.kind!r} {stride=}"
                    )
                d = replace(d, s2d=2 if region else 1)
                region = True
            stage.append((d, stride))
        out.append(stage)
    return out


def init_weights(model: nn.Module) -> None:
    """He-normal (fan-out) convs, unit BN, small uniform linear layers."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            r = 1.0 / math.sqrt(m.out_features)
            nn.init.uniform_(m.weight, -r, r)
            nn.init.zeros_(m.bias)


class EfficientBackbone(ImageModel):
    """Stem + stage table, feature maps, pruning and checkpointing shared by EfficientNet and MobileNetV3.

    Subclasses build the head and implement `_head_features` (what `forward_features` adds after the blocks),
    `forward_head`, `get_classifier` and `reset_classifier`.
    """

    def _build_body(
        self,
        stages: Sequence[Sequence[BlockDef]],
        in_chans: int,
        stem_chs: int,
        *,
        act: str,
        padding: str,
        bn_eps: float,
        stem_kernel: int = 3,
        norm_layer: str = "batchnorm",
        norm_group_size: int = 0,
        **stage_options,
    ) -> int:
        """Create conv_stem, bn1 and blocks, and the feature info; returns the body's output channels.

        `stage_options` are the other keyword arguments of `build_stages` (width, depth, SE style, ...).
        """
        self.conv_stem = create_conv2d(in_chans, stem_chs, stem_kernel, stride=2, padding=padding)
        self.bn1 = create_norm_act(norm_layer, stem_chs, act, bn_eps, norm_group_size)
        self.blocks, chs, strides, out_chs = build_stages(
            stages,
            stem_chs,
            act=act,
            padding=padding,
            bn_eps=bn_eps,
            norm_layer=norm_layer,
            norm_group_size=norm_group_size,
            **stage_options,
        )
        # A feature point (0 = stem, p = after stage p-1) is kept where the next stage downsamples, and at the end.
        self.feature_info, self._stage_ends = [], []
        # Reductions stop growing at output_stride (the stages after it dilate).
        reduction, output_stride = 2, stage_options.get("output_stride", 32)
        point_chs = [stem_chs, *chs]
        next_stride = [*strides, 2]
        for p in range(len(point_chs)):
            if p > 0:
                reduction = min(reduction * strides[p - 1], output_stride)
            if next_stride[p] > 1 or p == len(chs):
                module = "bn1" if p == 0 else f"blocks.{p - 1}"
                self.feature_info.append(
                    dict(num_chs=point_chs[p], reduction=reduction, module=module, stage=p)
                )
                self._stage_ends.append(p)
        return out_chs

    def _head_features(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def _run_stage(self, stage: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return run_blocks((stage,), x, checkpoint_active(self))  # a whole stage per checkpoint

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, F, H/32, W/32)
        x = self.bn1(self.conv_stem(x))
        for stage in self.blocks:
            x = self._run_stage(stage, x)
        return self._head_features(x)

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | Sequence[int] | None = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """Maps at each reduction (see `feature_info`): stage outputs, or the stem when stage 1 downsamples.

        `norm` has no effect (the maps are taken before the head). With `stop_early` or `intermediates_only`,
        stages after the last requested map are skipped; otherwise the final features go through the head
        conv as in `forward_features`.
        """
        take, last = feature_take_indices(len(self.feature_info), indices)
        to_output_fmt(x.new_empty(0, 0, 0, 0), output_fmt)  # validate before computing anything
        points = {self._stage_ends[i] for i in take}
        last_point = self._stage_ends[last]
        maps: list[torch.Tensor] = []
        x = self.bn1(self.conv_stem(x))
        if 0 in points:
            maps.append(to_output_fmt(x, output_fmt))
        stages = list(self.blocks)
        if stop_early or intermediates_only:
            stages = stages[:last_point]
        for p, stage in enumerate(stages, start=1):
            x = self._run_stage(stage, x)
            if p in points:
                maps.append(to_output_fmt(x, output_fmt))
        if intermediates_only:
            return maps
        if len(stages) == len(self.blocks):
            x = self._head_features(x)
        return x, maps

    def _prune_tail(self, truncated: bool, prune_norm: bool, prune_head: bool) -> None:
        """Replace the layers after the blocks that pruning makes useless by nn.Identity."""
        raise NotImplementedError

    def prune_intermediate_layers(
        self, indices: int | Sequence[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        """Drop stages after the last map in `indices`, the head conv and (with `prune_head`) the classifier."""
        take, last = feature_take_indices(len(self.feature_info), indices)
        last_point = self._stage_ends[last]
        self._prune_tail(last_point < len(self.blocks), prune_norm, prune_head)
        self.blocks = self.blocks[:last_point]
        if prune_head:
            self.reset_classifier(0, "")
        return take

    def group_matcher(self, coarse: bool = False) -> dict:
        blocks = r"^blocks\.(\d+)" if coarse else r"^blocks\.(\d+)\.(\d+)"
        return dict(stem=r"^(conv_stem|bn1)\.", blocks=[(blocks, None), (r"^(conv_head|bn2)\.", (10**5,))])
