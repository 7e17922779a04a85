"""Networks assembled from a per-stage list of blocks ("bring your own blocks"): RepVGG (Ding et al. 2021),
MobileOne (Vasu et al. 2022) and OpenAI's CLIP ResNets (Radford et al. 2021).

RepVGG and MobileOne train with parallel linear branches (kxk conv + BN, 1x1 conv + BN, BN on the
identity) that `model.reparameterize()` folds into one conv per block for deployment, giving the same
outputs and the key layout timm's folded models have (`<block>.reparam_conv`). State dict keys follow
timm's `byobnet.py` (`stem`, `stages.N.M`, `final_conv`, `head`), so `timm/repvgg_*`, `timm/mobileone_*`
and `timm/resnet*_clip*` checkpoints load unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..features import collect_intermediates, feature_take_indices
from ..layers.activations import create_act
from ..layers.attention_pool2d import AttentionPool2d
from ..layers.conv2d_same import SamePadAvgPool2d
from ..layers.conv_norm_act import ConvNormAct
from ..layers.drop import drop_path_layer
from ..layers.helpers import first_block_dilation, make_divisible
from ..layers.pooling import SelectAdaptivePool2d
from ..layers.reparam import conv_from_kernel, fuse_bn, pad_kernel, reparameterize
from ..layers.squeeze_excite import SEModule
from ..registry import register_variants
from ..utils.checks import check_output_stride
from .base import ImageModel

__all__ = [
    "ByobNet",
    "BlockSpec",
    "RepVggBlock",
    "MobileOneBlock",
    "BottleneckBlock",
    "checkpoint_filter",
    "VARIANTS",
]


@dataclass(frozen=True)
class BlockSpec:
    """One block: its type ('rep', 'one', 'bottle'), output width, and options.

    stride applies to the first block of a stage only; groups is the conv's group count; se_ratio > 0
    adds squeeze-excite with that reduction (rounded to `se_divisor`); branches is MobileOne's number of
    kxk conv branches; bottle_ratio is a bottleneck's inner width relative to its output.
    """

    type: str
    out_chs: int
    stride: int = 1
    groups: int = 1
    kernel_size: int = 3
    se_ratio: float = 0.0
    se_divisor: int = 8
    branches: int = 1
    bottle_ratio: float = 1.0


def _se(chs: int, spec: BlockSpec) -> nn.Module:
    if spec.se_ratio <= 0:
        return nn.Identity()
    return SEModule(chs, make_divisible(chs * spec.se_ratio, spec.se_divisor, round_limit=0.0))


class RepVggBlock(nn.Module):
    """RepVGG block: kxk conv + BN, 1x1 conv + BN and (when shapes allow) a BN on the identity, summed,
    then optional SE and ReLU. `reparameterize()` folds the branches into `reparam_conv`."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        attn: nn.Module | None = None,
        drop_path: float = 0.0,
        act: str = "relu",
        dilation: tuple[int, int] = (1, 1),
    ):
        super().__init__()
        use_identity = in_chs == out_chs and stride == 1 and dilation[0] == dilation[1]
        self.identity = nn.BatchNorm2d(out_chs) if use_identity else None
        self.conv_kxk = ConvNormAct(in_chs, out_chs, kernel_size, stride, dilation[0], groups=groups)
        self.conv_1x1 = ConvNormAct(in_chs, out_chs, 1, stride, groups=groups)
        self.drop_path = drop_path_layer(drop_path if use_identity else 0.0)
        self.attn = attn if attn is not None else nn.Identity()
        self.act = create_act(act, inplace=True)
        self.reparam_conv: nn.Conv2d | None = None

    def init_weights(self) -> None:
        """RepVGG's init: every branch BN starts near 0.1 scale so no branch dominates."""
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 0.1, 0.1)
                nn.init.normal_(m.bias, 0.0, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in, H, W) -> (B, out, H/s, W/s)
        if self.reparam_conv is not None:
            return self.act(self.attn(self.reparam_conv(x)))
        y = self.conv_kxk(x) + self.conv_1x1(x)
        if self.identity is not None:
            y = self.drop_path(y) + self.identity(x)
        return self.act(self.attn(y))

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Replace the branches by one biased kxk conv computing their sum (eval-mode BN statistics)."""
        if self.reparam_conv is not None:
            return
        k = self.conv_kxk.conv.kernel_size[0]
        groups = self.conv_kxk.conv.groups
        w, b = self.conv_kxk.fused_kernel_bias()
        w1, b1 = self.conv_1x1.fused_kernel_bias()
        w, b = w + pad_kernel(w1, k), b + b1
        if self.identity is not None:
            wi, bi = fuse_bn(self.identity, k, groups)
            w, b = w + wi, b + bi
        conv = conv_from_kernel(self.conv_kxk.conv, w, b)
        for name in ("identity", "conv_kxk", "conv_1x1", "drop_path"):
            delattr(self, name)
        self.identity = None
        self.reparam_conv = conv


class MobileOneBlock(nn.Module):
    """MobileOne block: `branches` kxk conv + BN branches, a 1x1 conv + BN "scale" branch (kxk > 1 only)
    and a BN on the identity when shapes allow, summed, then optional SE and ReLU.

    `dilation` only decides the identity branch: the kxk convs stay undilated, as in timm.
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        branches: int = 1,
        attn: nn.Module | None = None,
        drop_path: float = 0.0,
        act: str = "relu",
        dilation: tuple[int, int] = (1, 1),
    ):
        super().__init__()
        if branches < 1:
            raise ValueError(f"branches must be >= 1, got {branches}")
        use_identity = in_chs == out_chs and stride == 1 and dilation[0] == dilation[1]
        self.identity = nn.BatchNorm2d(out_chs) if use_identity else None
        self.conv_kxk = nn.ModuleList(
            ConvNormAct(in_chs, out_chs, kernel_size, stride, groups=groups) for _ in range(branches)
        )
        self.conv_scale = ConvNormAct(in_chs, out_chs, 1, stride, groups=groups) if kernel_size > 1 else None
        self.drop_path = drop_path_layer(drop_path if use_identity else 0.0)
        self.attn = attn if attn is not None else nn.Identity()
        self.act = create_act(act, inplace=True)
        self.reparam_conv: nn.Conv2d | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in, H, W) -> (B, out, H/s, W/s)
        if self.reparam_conv is not None:
            return self.act(self.attn(self.reparam_conv(x)))
        y = sum(branch(x) for branch in self.conv_kxk)
        if self.conv_scale is not None:
            y = y + self.conv_scale(x)
        y = self.drop_path(y)
        if self.identity is not None:
            y = y + self.identity(x)
        return self.act(self.attn(y))

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Replace the branches by one biased kxk conv computing their sum (eval-mode BN statistics)."""
        if self.reparam_conv is not None:
            return
        first = self.conv_kxk[0].conv
        k, groups = first.kernel_size[0], first.groups
        kernels = [branch.fused_kernel_bias() for branch in self.conv_kxk]
        if self.conv_scale is not None:
            ws, bs = self.conv_scale.fused_kernel_bias()
            kernels.append((pad_kernel(ws, k), bs))
        if self.identity is not None:
            kernels.append(fuse_bn(self.identity, k, groups))
        w = torch.stack([kw for kw, _ in kernels]).sum(0)
        b = torch.stack([kb for _, kb in kernels]).sum(0)
        conv = conv_from_kernel(first, w, b)
        for name in ("identity", "conv_kxk", "conv_scale", "drop_path"):
            delattr(self, name)
        self.identity = self.conv_scale = None
        self.reparam_conv = conv


class DownsampleAvg(nn.Module):
    """Shortcut projection: 2x2 average pool (when strided; stride 1 and "SAME"-padded when dilated) then
    1x1 conv + BN."""

    def __init__(self, in_chs: int, out_chs: int, stride: int, dilation: int = 1):
        super().__init__()
        self.pool: nn.Module = nn.Identity()
        if dilation > 1:
            self.pool = SamePadAvgPool2d(2, 1)
        elif stride > 1:
            self.pool = nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False)
        self.conv = ConvNormAct(in_chs, out_chs, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pool(x))


class BottleneckBlock(nn.Module):
    """1x1 -> 3x3 (strided by an average pool after it, "anti-aliased") -> 1x1, plus shortcut, then ReLU."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        stride: int = 1,
        bottle_ratio: float = 0.25,
        drop_path: float = 0.0,
        dilation: tuple[int, int] = (1, 1),
    ):
        super().__init__()
        mid = make_divisible(out_chs * bottle_ratio)
        if stride != 1 or in_chs != out_chs or dilation[0] != dilation[1]:
            self.shortcut: nn.Module = DownsampleAvg(in_chs, out_chs, stride, dilation[0])
        else:
            self.shortcut = nn.Identity()
        self.conv1_1x1 = ConvNormAct(in_chs, mid, 1, act="relu")
        self.conv2_kxk = ConvNormAct(mid, mid, 3, stride, dilation[0], act="relu", anti_alias=True)
        self.conv3_1x1 = ConvNormAct(mid, out_chs, 1)
        self.drop_path = drop_path_layer(drop_path)
        self.act = nn.ReLU(inplace=True)

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.conv3_1x1.bn.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in, H, W) -> (B, out, H/s, W/s)
        y = self.conv3_1x1(self.conv2_kxk(self.conv1_1x1(x)))
        return self.act(self.drop_path(y) + self.shortcut(x))


class DeepStem(nn.Sequential):
    """Three 3x3 ConvNormActs (the first strided) and a 2x2 average pool: (B, C, H, W) -> (B, c3, H/4, W/4).

    A Sequential, as timm's, so that a features_only state dict flattens it ('stem_conv1...').
    """

    def __init__(self, in_chans: int, chs: Sequence[int]):
        super().__init__()
        if len(chs) != 3:
            raise ValueError(f"a deep stem takes three widths, got {tuple(chs)}")
        self.conv1 = ConvNormAct(in_chans, chs[0], 3, 2, act="relu")
        self.conv2 = ConvNormAct(chs[0], chs[1], 3, act="relu")
        self.conv3 = ConvNormAct(chs[1], chs[2], 3, act="relu")
        self.pool: nn.Module = nn.AvgPool2d(2)

    def convs(self, x: torch.Tensor) -> torch.Tensor:  # the stride-2 feature map, before the pool
        return self.conv3(self.conv2(self.conv1(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.convs(x))


def create_block(
    spec: BlockSpec,
    in_chs: int,
    stride: int,
    drop_path: float,
    attn: nn.Module,
    dilation: tuple[int, int] = (1, 1),
) -> nn.Module:
    """The block a spec describes; `dilation` is (its first kxk conv's, the stage's)."""
    if spec.type == "rep":
        return RepVggBlock(
            in_chs, spec.out_chs, spec.kernel_size, stride, spec.groups, attn, drop_path, dilation=dilation
        )
    if spec.type == "one":
        return MobileOneBlock(
            in_chs,
            spec.out_chs,
            spec.kernel_size,
            stride,
            spec.groups,
            spec.branches,
            attn,
            drop_path,
            dilation=dilation,
        )
    if spec.type == "bottle":
        return BottleneckBlock(in_chs, spec.out_chs, stride, spec.bottle_ratio, drop_path, dilation)
    raise ValueError(f"unknown block type {spec.type!r}; known: 'rep', 'one', 'bottle'")


class ByobNet(ImageModel):
    """Stem, stages `stages.0..N` of blocks, an optional `final_conv`, and a pooled classifier (`head.fc`)
    or CLIP's attention pool (`head.q/k/v/proj`, `head.pos_embed`).

    Args:
        stages: per stage, the list of its blocks (`BlockSpec`); the first block's stride strides the stage.
        stem: a `BlockSpec` for a single stem block (stride 2), or three widths for a deep 3x3 stem with a
            2x2 average pool (stride 4).
        head_type: 'classifier' (global pool + linear) or 'attn_abs' (attention pooling; global_pool
            'token' or '').
        img_size: input size the attention pool's position embedding is laid out for (resampled otherwise).
        output_stride: 32, or 16 / 8 to dilate the later stages instead of striding them.
        zero_init_last: zero the last BN of each bottleneck at init.
        num_classes, in_chans, global_pool, drop_rate, drop_path_rate: as for every family.
    """

    feature_key_layout = "flat"  # timm's features_only keys: 'stages_0.0...'

    def __init__(
        self,
        stages: Sequence[Sequence[BlockSpec]],
        stem: BlockSpec | Sequence[int],
        head_type: str = "classifier",
        img_size: int | Sequence[int] = 224,
        output_stride: int = 32,
        zero_init_last: bool = True,
        num_classes: int = 1000,
        in_chans: int = 3,
        global_pool: str | None = None,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
    ):
        super().__init__()
        if not stages or not all(stages):
            raise ValueError("need at least one stage, each with at least one block")
        if head_type not in ("classifier", "attn_abs"):
            raise ValueError(f"head_type must be 'classifier' or 'attn_abs', got {head_type!r}")
        check_output_stride(output_stride)
        self.num_classes = num_classes
        self.drop_rate = drop_rate
        self.grad_checkpointing = False
        self.head_type = head_type

        if isinstance(stem, BlockSpec):
            self.stem: nn.Module = create_block(stem, in_chans, 2, 0.0, _se(stem.out_chs, stem))
            self.feature_info = [dict(num_chs=stem.out_chs, reduction=2, module="stem")]
            prev, reduction = stem.out_chs, 2
        else:
            self.stem = DeepStem(in_chans, stem)
            self.feature_info = [dict(num_chs=stem[-1], reduction=2, module="stem.conv3")]
            prev, reduction = stem[-1], 4
        depths = [len(s) for s in stages]
        rates = torch.linspace(0, drop_path_rate, sum(depths), device="cpu").split(depths)
        built, dilation = [], 1
        for i, (specs, dprs) in enumerate(zip(stages, rates)):
            stride = specs[0].stride
            if reduction >= output_stride and stride > 1:  # dilate instead of striding
                stride, dilation = 1, dilation * stride
            first_dilation = first_block_dilation(dilation)
            blocks = []
            for j, spec in enumerate(specs):
                s = stride if j == 0 else 1
                pair = (first_dilation if j == 0 else dilation, dilation)
                blocks.append(create_block(spec, prev, s, float(dprs[j]), _se(spec.out_chs, spec), pair))
                prev = spec.out_chs
            reduction *= stride
            built.append(nn.Sequential(*blocks))
            self.feature_info.append(dict(num_chs=prev, reduction=reduction, module=f"stages.{i}"))
        self.stages = nn.Sequential(*built)
        self.final_conv = nn.Identity()
        self.feature_info[-1]["module"] = "final_conv"
        self.num_features = prev
        size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        self.feat_size = (size[0] // reduction, size[1] // reduction)
        self.head = nn.Module()
        default_pool = "token" if head_type == "attn_abs" else "avg"
        self._set_head(num_classes, default_pool if global_pool is None else global_pool)
        self.init_weights(zero_init_last)

    def _set_head(self, num_classes: int, global_pool: str) -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
            raise ValueError(f"num_classes must be an int >= 0, got {num_classes!r}")
        if self.head_type == "attn_abs":
            if isinstance(self.head, AttentionPool2d):
                if global_pool not in ("token", ""):
                    raise ValueError(
                        f"attention pooling takes global_pool 'token' or '', got {global_pool!r}"
                    )
                self.head.pool_type = global_pool
                self.head.set_out_features(num_classes)
            else:
                self.head = AttentionPool2d(
                    self.num_features,
                    self.feat_size,
                    num_classes,
                    pool_type=global_pool,
                    drop_rate=self.drop_rate,
                )
            self.head_hidden_size = self.head.embed_dim
            return
        self.head_hidden_size = self.num_features
        pool = SelectAdaptivePool2d(global_pool, flatten=True)
        if pool.is_identity() and num_classes > 0:
            raise ValueError(
                "global_pool='' (no pooling) needs num_classes=0: the classifier takes pooled features"
            )
        self.head.global_pool = pool
        in_features = self.num_features * pool.feat_mult()
        self.head.fc = nn.Linear(in_features, num_classes) if num_classes > 0 else nn.Identity()

    @torch.no_grad()
    def init_weights(self, zero_init_last: bool = True) -> None:
        """Kaiming-normal convs (fan-out per group), N(0, 0.01) classifier, unit/zero BN, then per-block init."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
                nn.init.normal_(m.weight, 0.0, (2.0 / fan_out) ** 0.5)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.modules():
            if isinstance(m, RepVggBlock):
                m.init_weights()
            elif zero_init_last and isinstance(m, BottleneckBlock):
                m.zero_init_last()
            elif isinstance(m, AttentionPool2d):
                m.init_weights()

    def reparameterize(self) -> ByobNet:
        """Fold every block's parallel branches into one conv (for inference); returns the model."""
        reparameterize(self)
        return self

    # -- forward --------------------------------------------------------------------------------------

    def _run_stage(self, stage: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.grad_checkpointing and self.training and torch.is_grad_enabled():
            for block in stage:
                x = checkpoint(block, x, use_reentrant=False)
            return x
        return stage(x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, F, H/32, W/32)
        x = self.stem(x)
        for stage in self.stages:
            x = self._run_stage(stage, x)
        return self.final_conv(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if isinstance(self.head, AttentionPool2d):
            return self.head(x, pre_logits=pre_logits)  # (B, D), or (B, D, H, W) unpooled
        return self._pool_drop_classify(x, self.head.global_pool, self.head.fc, pre_logits)

    # -- classifier -----------------------------------------------------------------------------------

    def get_classifier(self) -> nn.Module:
        return self.head.proj if isinstance(self.head, AttentionPool2d) else self.head.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Fresh classifier with `num_classes` outputs (0: none), optionally changing the pooling.

        With attention pooling only the output projection is replaced (the attention is the pooling)."""
        if isinstance(self.head, AttentionPool2d):
            pool_type = self.head.pool_type if global_pool is None else global_pool
        else:
            pool_type = self.head.global_pool.pool_type if global_pool is None else global_pool
        self._set_head(num_classes, pool_type)
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
        """The stem output (index 0) and each stage's (the last after `final_conv`); `norm` has no effect."""
        take, _ = feature_take_indices(len(self.feature_info), indices)
        final = len(self.feature_info) - 2  # the stage whose output final_conv follows (if still there)
        deep = isinstance(self.stem, DeepStem)  # its feature map is taken before its pool
        steps = [self.stem.convs if deep else self.stem]
        for i, stage in enumerate(self.stages):
            pre = self.stem.pool if deep and i == 0 else nn.Identity()
            if i == final:
                steps.append(lambda t, s=stage, p=pre: self.final_conv(self._run_stage(s, p(t))))
            else:
                steps.append(lambda t, s=stage, p=pre: self._run_stage(s, p(t)))
        x, maps = collect_intermediates(x, steps, take, output_fmt, stop_early or intermediates_only)
        return maps if intermediates_only else (x, maps)

    def prune_intermediate_layers(
        self, indices: int | Sequence[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        """Drop the stages after the last map in `indices` (and the head); returns the kept positions."""
        take, last = feature_take_indices(len(self.feature_info), indices)
        if last < len(self.stages):
            self.stages = self.stages[:last]
            self.final_conv = nn.Identity()
            self.num_features = self.feature_info[last]["num_chs"]
        if last == 0 and isinstance(self.stem, DeepStem):
            self.stem.pool = nn.Identity()  # the stem map is taken before its pool
        if prune_head or last < len(self.feature_info) - 1:
            self.head_type = "classifier"  # an attention pool is replaced by an empty pooled head
            self.head = nn.Module()
            self._set_head(0, "")
            self.num_classes = 0
        return take

    def group_matcher(self, coarse: bool = False) -> dict:
        blocks = r"^stages\.(\d+)" if coarse else r"^stages\.(\d+)\.(\d+)"
        return dict(stem=r"^stem", blocks=[(blocks, None), (r"^final_conv", (99999,))])


# -- checkpoints --------------------------------------------------------------------------------------


def checkpoint_filter(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Checkpoints in timm's layout load as they are; a folded (`reparam_conv`) checkpoint into an unfolded
    model is refused by the strict load, so fold the model first (`model.reparameterize()`)."""
    return dict(state_dict)


# -- variants -----------------------------------------------------------------------------------------

_BASE_WIDTHS = (64, 128, 256, 512)


def repvgg_stages(
    depths: Sequence[int], width_factors: Sequence[float], groups: int = 1, se_ratio: float = 0.0
) -> list[list[BlockSpec]]:
    """RepVGG stages (stride 2 each); with `groups` > 1 every second block of a stage is a grouped conv."""
    stages = []
    for depth, base, wf in zip(depths, _BASE_WIDTHS, width_factors):
        out = int(base * wf)
        stages.append(
            [
                BlockSpec(
                    "rep", out, 2, groups if groups > 1 and j % 2 == 1 else 1, se_ratio=se_ratio, se_divisor=1
                )
                for j in range(depth)
            ]
        )
    return stages


def mobileone_stages(
    width_factors: Sequence[float],
    depths: Sequence[int] = (2, 8, 10, 1),
    se_blocks: Sequence[int] = (0, 0, 0, 0),
    branches: int = 1,
) -> list[list[BlockSpec]]:
    """MobileOne stages (stride 2 each): per unit a depthwise 3x3 block then a pointwise 1x1 block; the last
    `se_blocks[i]` units of stage i get squeeze-excite."""
    prev = min(64, int(_BASE_WIDTHS[0] * width_factors[0]))
    stages = []
    for depth, base, wf, n_se in zip(depths, _BASE_WIDTHS, width_factors, se_blocks):
        out = int(base * wf)
        blocks = []
        for j in range(depth):
            se = 1 / 16 if j >= depth - n_se else 0.0
            blocks.append(BlockSpec("one", prev, 2, prev, 3, se, branches=branches))  # depthwise
            blocks.append(BlockSpec("one", out, 2, 1, 1, se, branches=branches))  # pointwise
            prev = out
        stages.append(blocks)
    return stages


def _rep(depths, wf, stem_chs=64, groups=1, se_ratio=0.0) -> dict:
    stages = repvgg_stages(depths, wf, groups, se_ratio)
    return dict(stages=stages, stem=BlockSpec("rep", stem_chs, 2, se_ratio=se_ratio, se_divisor=1))


def _one(wf, stem_chs=64, **kw) -> dict:
    return dict(stages=mobileone_stages(wf, **kw), stem=BlockSpec("one", stem_chs, 2))


def _clip(depths: Sequence[int], width_factor: float, img_size: int, attn_pool: bool = True) -> dict:
    """OpenAI CLIP ResNet: deep stem, anti-aliased bottlenecks, attention pooling (or global average: gap)."""
    stages = [
        [BlockSpec("bottle", make_divisible(width * width_factor), 1 if i == 0 else 2, bottle_ratio=0.25)] * d
        for i, (d, width) in enumerate(zip(depths, (256, 512, 1024, 2048)))
    ]
    stem = tuple(int(round(c * width_factor)) for c in (32, 32, 64))
    head = "attn_abs" if attn_pool else "classifier"
    return dict(stages=stages, stem=stem, head_type=head, img_size=img_size)


_CLIP = {
    "resnet50": ((3, 4, 6, 3), 1.0, 224),
    "resnet101": ((3, 4, 23, 3), 1.0, 224),
    "resnet50x4": ((4, 6, 10, 6), 1.25, 288),
    "resnet50x16": ((6, 8, 18, 8), 1.5, 384),
    "resnet50x64": ((3, 15, 36, 10), 2.0, 448),
}

_A, _B = (2, 4, 14, 1), (4, 6, 16, 1)

VARIANTS: dict[str, dict] = {
    "repvgg_a0": _rep(_A, (0.75, 0.75, 0.75, 2.5), stem_chs=48),
    "repvgg_a1": _rep(_A, (1, 1, 1, 2.5)),
    "repvgg_a2": _rep(_A, (1.5, 1.5, 1.5, 2.75)),
    "repvgg_b0": _rep(_B, (1, 1, 1, 2.5)),
    "repvgg_b1": _rep(_B, (2, 2, 2, 4)),
    "repvgg_b1g4": _rep(_B, (2, 2, 2, 4), groups=4),
    "repvgg_b2": _rep(_B, (2.5, 2.5, 2.5, 5)),
    "repvgg_b2g4": _rep(_B, (2.5, 2.5, 2.5, 5), groups=4),
    "repvgg_b3": _rep(_B, (3, 3, 3, 5)),
    "repvgg_b3g4": _rep(_B, (3, 3, 3, 5), groups=4),
    "repvgg_d2se": _rep((8, 14, 24, 1), (2.5, 2.5, 2.5, 5), se_ratio=0.0625),
    "mobileone_s0": _one((0.75, 1.0, 1.0, 2.0), stem_chs=48, branches=4),
    "mobileone_s1": _one((1.5, 1.5, 2.0, 2.5)),
    "mobileone_s2": _one((1.5, 2.0, 2.5, 4.0)),
    "mobileone_s3": _one((2.0, 2.5, 3.0, 4.0)),
    "mobileone_s4": _one((3.0, 3.5, 3.5, 4.0), se_blocks=(0, 0, 5, 1)),
    **{f"{name}_clip": _clip(*row) for name, row in _CLIP.items()},
    **{f"{name}_clip_gap": _clip(*row, attn_pool=False) for name, row in _CLIP.items()},
}

register_variants(VARIANTS, ByobNet, checkpoint_filter=checkpoint_filter)
