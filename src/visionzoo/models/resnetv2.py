"""Pre-activation ResNet (ResNet-V2; He et al. 2016 "Identity Mappings") and Big Transfer (BiT; Kolesnikov
et al. 2019).

Each block normalises and activates its input before the convolutions ("pre-activation"), and the
network ends with a norm + activation before pooling. BiT models use weight-standardised convs and
GroupNorm; the other variants use BatchNorm (or EvoNorm / FRN). State dict keys follow timm's layout
(`stem`, `stages.N.blocks.M`, `norm`, `head.fc` as a 1x1 conv), so `timm/resnetv2_*` checkpoints load
unchanged.

With `preact=False` the blocks are post-activation bottlenecks (ResNet-V1.5 order) and the stem conv is
followed by its norm: the BiT-style CNN stem of the ViT hybrids (`vision_transformer_hybrid`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch
import torch.fx
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..features import collect_intermediates, feature_take_indices
from ..layers.conv2d_same import SamePadAvgPool2d, SamePadMaxPool2d
from ..layers.drop import drop_path_layer
from ..layers.helpers import first_block_dilation, make_divisible
from ..layers.norm_act import BatchNormAct2d
from ..layers.pooling import SelectAdaptivePool2d
from ..layers.sample_norm import EvoNorm2dS0, FilterResponseNormTlu2d, GroupNormAct
from ..layers.std_conv import StdConv2d, StdConv2dSame
from ..registry import register_variants
from ..utils.checks import check_output_stride
from .base import ImageModel

__all__ = [
    "ResNetV2",
    "PreActBasic",
    "PreActBottleneck",
    "Bottleneck",
    "create_stem",
    "checkpoint_filter",
    "VARIANTS",
]

NORMS = ("batchnorm", "groupnorm", "evonorm_s0", "frn_tlu")
CONVS = ("plain", "std", "std_same")
STEM_TYPES = ("", "fixed", "same", "deep", "deep_fixed", "tiered")

NormFactory = Callable[..., nn.Module]  # (channels, apply_act=True) -> module
ConvFactory = Callable[..., nn.Module]  # (in, out, kernel, stride=1, dilation=1, groups=1) -> conv


def _batchnorm_relu(num_features: int, apply_act: bool = True) -> nn.Module:
    """The shared BatchNormAct2d with ReLU (or nothing); its state dict is a plain BatchNorm2d's."""
    return BatchNormAct2d(num_features, act="relu" if apply_act else None)


def make_norm(norm: str) -> NormFactory:
    """A factory `(channels, apply_act=True) -> module` for one of NORMS (all fused with ReLU or their own non-linearity)."""
    if norm == "batchnorm":
        return _batchnorm_relu
    if norm == "groupnorm":
        return lambda c, apply_act=True: GroupNormAct(c, 32, apply_act=apply_act)
    if norm == "evonorm_s0":
        return EvoNorm2dS0
    if norm == "frn_tlu":
        return FilterResponseNormTlu2d
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


def make_conv(conv: str, std_eps: float = 1e-6) -> ConvFactory:
    """A bias-free conv factory: 'plain' nn.Conv2d or weight-standardised 'std' with symmetric padding,
    or weight-standardised 'std_same' with TF "SAME" padding."""
    if conv not in CONVS:
        raise ValueError(f"conv must be one of {CONVS}, got {conv!r}")

    def build(in_chs: int, out_chs: int, k: int, stride: int = 1, dilation: int = 1, groups: int = 1):
        if conv == "std_same":
            return StdConv2dSame(in_chs, out_chs, k, stride, dilation, groups, eps=std_eps)
        pad = ((stride - 1) + dilation * (k - 1)) // 2
        if conv == "std":
            return StdConv2d(in_chs, out_chs, k, stride, pad, dilation, groups, eps=std_eps)
        return nn.Conv2d(in_chs, out_chs, k, stride, pad, dilation, groups, bias=False)

    return build


class Shortcut(nn.Module):
    """Projection shortcut: 1x1 conv, after a 2x2 average pool for ResNet-D; a post-activation block's
    is followed by a norm without activation (`norm`)."""

    def __init__(
        self,
        conv: ConvFactory,
        in_chs: int,
        out_chs: int,
        stride: int,
        dilation: int,
        avg_down: bool,
        norm: NormFactory | None = None,
    ):
        super().__init__()
        self.pool: nn.Module = nn.Identity()
        if avg_down:
            if stride > 1:
                self.pool = nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False)
            elif dilation > 1:
                self.pool = SamePadAvgPool2d(2, 1)
            stride = 1
        self.conv = conv(in_chs, out_chs, 1, stride)
        self.norm = norm(out_chs, apply_act=False) if norm is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(self.pool(x)))


class PreActBasic(nn.Module):
    """norm1 -> 3x3 -> norm2 -> 3x3, added to the input (or its projection of the pre-activated input)."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        stride: int,
        dilation: int,
        first_dilation: int,
        mid_chs: int,
        norm: NormFactory,
        conv: ConvFactory,
        shortcut: Shortcut | None,
        drop_path: float = 0.0,
    ):
        super().__init__()
        self.downsample = shortcut
        self.norm1 = norm(in_chs)
        self.conv1 = conv(in_chs, mid_chs, 3, stride, first_dilation)
        self.norm2 = norm(mid_chs)
        self.conv2 = conv(mid_chs, out_chs, 3, 1, dilation)
        self.drop_path = drop_path_layer(drop_path)

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.conv2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in, H, W) -> (B, out, H/s, W/s)
        pre = self.norm1(x)
        shortcut = x if self.downsample is None else self.downsample(pre)
        y = self.conv2(self.norm2(self.conv1(pre)))
        return self.drop_path(y) + shortcut


class PreActBottleneck(nn.Module):
    """norm1 -> 1x1 -> norm2 -> 3x3 (strided) -> norm3 -> 1x1, added to the input or its projection."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        stride: int,
        dilation: int,
        first_dilation: int,
        mid_chs: int,
        norm: NormFactory,
        conv: ConvFactory,
        shortcut: Shortcut | None,
        drop_path: float = 0.0,
    ):
        super().__init__()
        self.downsample = shortcut
        self.norm1 = norm(in_chs)
        self.conv1 = conv(in_chs, mid_chs, 1)
        self.norm2 = norm(mid_chs)
        self.conv2 = conv(mid_chs, mid_chs, 3, stride, first_dilation)
        self.norm3 = norm(mid_chs)
        self.conv3 = conv(mid_chs, out_chs, 1)
        self.drop_path = drop_path_layer(drop_path)

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.conv3.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in, H, W) -> (B, out, H/s, W/s)
        pre = self.norm1(x)
        shortcut = x if self.downsample is None else self.downsample(pre)
        y = self.conv3(self.norm3(self.conv2(self.norm2(self.conv1(pre)))))
        return self.drop_path(y) + shortcut


class Bottleneck(nn.Module):
    """Post-activation bottleneck: 1x1 -> norm1 -> 3x3 (strided) -> norm2 -> 1x1 -> norm3 (no activation),
    added to the input (or its projection), then ReLU."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        stride: int,
        dilation: int,
        first_dilation: int,
        mid_chs: int,
        norm: NormFactory,
        conv: ConvFactory,
        shortcut: Shortcut | None,
        drop_path: float = 0.0,
    ):
        super().__init__()
        self.downsample = shortcut
        self.conv1 = conv(in_chs, mid_chs, 1)
        self.norm1 = norm(mid_chs)
        self.conv2 = conv(mid_chs, mid_chs, 3, stride, first_dilation)
        self.norm2 = norm(mid_chs)
        self.conv3 = conv(mid_chs, out_chs, 1)
        self.norm3 = norm(out_chs, apply_act=False)
        self.drop_path = drop_path_layer(drop_path)
        self.act3 = nn.ReLU(inplace=True)

    def zero_init_last(self) -> None:
        if getattr(self.norm3, "weight", None) is not None:
            nn.init.zeros_(self.norm3.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in, H, W) -> (B, out, H/s, W/s)
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.norm3(self.conv3(self.norm2(self.conv2(self.norm1(self.conv1(x))))))
        return self.act3(self.drop_path(y) + shortcut)


class ResNetStage(nn.Module):
    """A run of pre-activation blocks under `blocks`; the first one strides and projects."""

    def __init__(self, blocks: Sequence[nn.Module]):
        super().__init__()
        self.grad_checkpointing = False
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.grad_checkpointing and self.training and torch.is_grad_enabled():
            for block in self.blocks:
                x = checkpoint(block, x, use_reentrant=False)
            return x
        return self.blocks(x)


class ConvClassifier(nn.Conv2d):
    """A 1x1 conv classifier (timm's `head.fc` layout for ResNet-V2), with Linear-style size attributes."""

    @property
    def in_features(self) -> int:
        return self.in_channels

    @property
    def out_features(self) -> int:
        return self.out_channels


def create_stem(
    in_chans: int,
    out_chs: int,
    stem_type: str,
    conv: ConvFactory,
    norm: NormFactory,
    preact: bool = True,
) -> tuple[nn.Sequential, str]:
    """The stem (a 7x7 conv, or three 3x3 convs for 'deep'/'tiered'; followed by a norm unless `preact`)
    and max pool ('same': TF "SAME" padded); returns it and the name of its stride-2 feature layer (taken
    before the pool)."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    if stem_type in ("deep", "deep_fixed", "tiered"):
        mid = (3 * out_chs // 8, out_chs // 2) if stem_type == "tiered" else (out_chs // 2, out_chs // 2)
        layers["conv1"] = conv(in_chans, mid[0], 3, 2)
        layers["norm1"] = norm(mid[0])
        layers["conv2"] = conv(mid[0], mid[1], 3)
        layers["norm2"] = norm(mid[1])
        layers["conv3"] = conv(mid[1], out_chs, 3)
        feat = "conv3"
        if not preact:
            layers["norm3"] = norm(out_chs)
            feat = "norm3"
    else:
        layers["conv"] = conv(in_chans, out_chs, 7, 2)
        feat = "conv"
        if not preact:
            layers["norm"] = norm(out_chs)
            feat = "norm"
    if stem_type == "same":
        layers["pool"] = SamePadMaxPool2d(3, 2)
    elif "fixed" in stem_type:  # BiT: pad by 1 then an unpadded 3x3/2 max pool
        layers["pad"] = nn.ConstantPad2d(1, 0.0)
        layers["pool"] = nn.MaxPool2d(3, 2, padding=0)
    else:
        layers["pool"] = nn.MaxPool2d(3, 2, padding=1)
    return nn.Sequential(layers), feat


class ResNetV2(ImageModel):
    """Pre-activation ResNet: stem, four stages `stages.0..3`, a final norm + activation, pool, `head.fc`.

    Args:
        layers: blocks per stage.
        channels: output channels per stage (before `width_factor`).
        basic: two-3x3 basic blocks instead of bottlenecks.
        bottle_ratio: bottleneck (inner) width relative to the stage width.
        width_factor: multiplies the stem and stage widths (BiT x1..x4).
        stem_chs, stem_type: stem width; '' (7x7), 'fixed' (7x7, BiT padding), 'same' (7x7, a TF "SAME"
            padded pool), 'deep' or 'tiered' (3x 3x3).
        avg_down: average-pool shortcuts (ResNet-D).
        norm: one of NORMS. conv: 'plain', or weight-standardised 'std' / 'std_same' (TF "SAME" padded),
            with `std_eps` on its variance.
        preact: pre-activation blocks and a final norm; False gives post-activation bottlenecks, a normed
            stem and no final norm (the ViT hybrids' backbone).
        output_stride: 32, 16 or 8 (the later stages dilate instead of striding).
        num_classes, in_chans, global_pool, drop_rate, drop_path_rate: as for every family.
        zero_init_last: zero the last conv of every block at init.
    """

    feature_key_layout = "flat"  # timm's features_only keys: 'stages_0.blocks...'

    def __init__(
        self,
        layers: Sequence[int] = (3, 4, 6, 3),
        channels: Sequence[int] = (256, 512, 1024, 2048),
        basic: bool = False,
        bottle_ratio: float = 0.25,
        width_factor: int = 1,
        stem_chs: int = 64,
        stem_type: str = "",
        avg_down: bool = False,
        norm: str = "groupnorm",
        conv: str = "std",
        std_eps: float = 1e-6,
        output_stride: int = 32,
        preact: bool = True,
        num_classes: int = 1000,
        in_chans: int = 3,
        global_pool: str = "avg",
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        zero_init_last: bool = False,
    ):
        super().__init__()
        layers, channels = tuple(layers), tuple(channels)
        if len(layers) != len(channels) or not all(isinstance(n, int) and n >= 1 for n in layers):
            raise ValueError(f"need one positive block count per stage width, got {layers} and {channels}")
        if stem_type not in STEM_TYPES:
            raise ValueError(f"stem_type must be one of {STEM_TYPES}, got {stem_type!r}")
        check_output_stride(output_stride)
        if basic and not preact:
            raise ValueError("preact=False builds bottleneck blocks only; use basic=False")
        norm_fn, conv_fn = make_norm(norm), make_conv(conv, std_eps)
        self.num_classes = num_classes
        self.drop_rate = drop_rate
        self.grad_checkpointing = False

        stem_chs = make_divisible(stem_chs * width_factor)
        self.stem, feat = create_stem(in_chans, stem_chs, stem_type, conv_fn, norm_fn, preact)
        self.stem_feat_idx = list(self.stem._modules).index(feat)
        self.feature_info = [dict(num_chs=stem_chs, reduction=2, module=f"stem.{feat}")]

        rates = torch.linspace(0, drop_path_rate, sum(layers), device="cpu").split(list(layers))
        block_cls = (PreActBasic if basic else PreActBottleneck) if preact else Bottleneck
        shortcut_norm = None if preact else norm_fn
        prev, reduction, dilation = stem_chs, 4, 1
        stages = []
        for i, (depth, width, dprs) in enumerate(zip(layers, channels, rates)):
            out_chs = make_divisible(width * width_factor)
            mid = make_divisible(out_chs * bottle_ratio)
            stride = 1 if i == 0 else 2
            if reduction >= output_stride:
                dilation, stride = dilation * stride, 1
            first_dilation = first_block_dilation(dilation)
            blocks = []
            for j in range(depth):
                s = stride if j == 0 else 1
                needs_proj = j == 0 and (not basic or s != 1 or first_dilation != dilation or prev != out_chs)
                shortcut = (
                    Shortcut(conv_fn, prev, out_chs, s, dilation, avg_down, shortcut_norm)
                    if needs_proj
                    else None
                )
                blocks.append(
                    block_cls(
                        prev,
                        out_chs,
                        s,
                        dilation,
                        first_dilation,
                        mid,
                        norm_fn,
                        conv_fn,
                        shortcut,
                        float(dprs[j]),
                    )
                )
                prev, first_dilation = out_chs, dilation
            reduction *= stride
            stages.append(ResNetStage(blocks))
            self.feature_info.append(dict(num_chs=out_chs, reduction=reduction, module=f"stages.{i}"))
        self.stages = nn.Sequential(*stages)
        self.num_features = prev
        self.norm = norm_fn(prev) if preact else nn.Identity()
        self.head = nn.Module()
        self._set_head(num_classes, global_pool)
        self.init_weights(zero_init_last)

    def _set_head(self, num_classes: int, global_pool: str) -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
            raise ValueError(f"num_classes must be an int >= 0, got {num_classes!r}")
        pool = SelectAdaptivePool2d(global_pool, flatten=False)
        if pool.is_identity() and num_classes > 0:
            raise ValueError(
                "global_pool='' (no pooling) needs num_classes=0: the classifier takes pooled features"
            )
        self.head.global_pool = pool
        in_features = self.num_features * pool.feat_mult()
        self.head.fc = ConvClassifier(in_features, num_classes, 1) if num_classes > 0 else nn.Identity()

    @torch.no_grad()
    def init_weights(self, zero_init_last: bool = False) -> None:
        """Kaiming-normal convs (fan-out), N(0, 0.01) classifier, unit/zero norms; optionally zeroed last convs."""
        for m in self.modules():
            if isinstance(m, ConvClassifier):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_last:  # after the loop above, which reaches a block's layers after the block itself
            for m in self.modules():
                if isinstance(m, (PreActBasic, PreActBottleneck, Bottleneck)):
                    m.zero_init_last()

    # -- forward --------------------------------------------------------------------------------------

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, F, H/32, W/32)
        return self.norm(self.stages(self.stem(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self._head_dropout(self.head.global_pool(x))  # (B, F, 1, 1), or (B, 2F, 1, 1) for catavgmax
        if pre_logits or isinstance(self.head.fc, nn.Identity):
            return x.flatten(1) if self.head.global_pool.pool_type else x
        return self.head.fc(x).flatten(1)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each block in backward instead of storing its activations (training only)."""
        self.grad_checkpointing = enable
        for stage in self.stages:
            stage.grad_checkpointing = enable

    # -- classifier -----------------------------------------------------------------------------------

    def get_classifier(self) -> nn.Module:
        return self.head.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Fresh classifier with `num_classes` outputs (0: none), optionally changing the pooling."""
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
        """The stem's stride-2 conv output (index 0) and each stage's output (1..4); `norm` applies the
        final norm to the last stage's map."""
        take, _ = feature_take_indices(len(self.feature_info), indices)
        stem = list(self.stem)
        head_part, pool_part = stem[: self.stem_feat_idx + 1], stem[self.stem_feat_idx + 1 :]
        last = len(self.stages)

        def run(mods: Sequence[nn.Module]) -> Callable[[torch.Tensor], torch.Tensor]:
            def f(t: torch.Tensor) -> torch.Tensor:
                for m in mods:
                    t = m(t)
                return t

            return f

        steps = [run(head_part)]
        for i, stage in enumerate(self.stages, start=1):
            mods = ([*pool_part] if i == 1 else []) + [stage]
            if i == last and norm:
                mods.append(self.norm)
            steps.append(run(mods))
        early = stop_early or intermediates_only
        x, maps = collect_intermediates(x, steps, take, output_fmt, early)
        if intermediates_only:
            return maps
        if not norm and not (early and max(take) < last):  # the final norm, unless stopped before the end
            x = self.norm(x)
        return x, maps

    def prune_intermediate_layers(
        self, indices: int | Sequence[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        """Drop the stages after the last map in `indices` (and the final norm and head); returns the kept positions."""
        take, last = feature_take_indices(len(self.feature_info), indices)
        if prune_norm or last < len(self.stages):
            self.norm = nn.Identity()
        self.stages = self.stages[:last]
        if last == 0:
            self.stem = self.stem[: self.stem_feat_idx + 1]
        if last < len(self.feature_info) - 1:
            self.num_features = self.feature_info[last]["num_chs"]
        if prune_head or last < len(self.feature_info) - 1:
            self.reset_classifier(0, "")
        return take

    def group_matcher(self, coarse: bool = False) -> dict:
        if coarse:
            return dict(stem=r"^stem", blocks=r"^stages\.(\d+)")
        return dict(stem=r"^stem", blocks=[(r"^stages\.(\d+)\.blocks\.(\d+)", None), (r"^norm", (99999,))])


# -- checkpoints --------------------------------------------------------------------------------------


def checkpoint_filter(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """ResNet-V2 checkpoints in timm's layout load as they are (the original BiT .npz files are not read)."""
    return dict(state_dict)


# -- variants -----------------------------------------------------------------------------------------

_BIT = dict(stem_type="fixed", conv="std", std_eps=1e-8, norm="groupnorm")
_BN = dict(conv="plain", norm="batchnorm")
_BASIC = dict(channels=(64, 128, 256, 512), basic=True, bottle_ratio=1.0, **_BN)
_D = dict(stem_type="deep", avg_down=True)
_DEPTH = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}

VARIANTS: dict[str, dict] = {
    **{
        f"resnetv2_{d}x{w}_bit": dict(layers=_DEPTH[d], width_factor=w, **_BIT)
        for d, w in ((50, 1), (50, 3), (101, 1), (101, 3), (152, 2), (152, 4))
    },
    "resnetv2_18": dict(layers=_DEPTH[18], **_BASIC),
    "resnetv2_18d": dict(layers=_DEPTH[18], **_BASIC, **_D),
    "resnetv2_34": dict(layers=_DEPTH[34], **_BASIC),
    "resnetv2_34d": dict(layers=_DEPTH[34], **_BASIC, **_D),
    "resnetv2_50": dict(layers=_DEPTH[50], **_BN),
    "resnetv2_50d": dict(layers=_DEPTH[50], **_BN, **_D),
    "resnetv2_50t": dict(layers=_DEPTH[50], **_BN, stem_type="tiered", avg_down=True),
    "resnetv2_101": dict(layers=_DEPTH[101], **_BN),
    "resnetv2_101d": dict(layers=_DEPTH[101], **_BN, **_D),
    "resnetv2_152": dict(layers=_DEPTH[152], **_BN),
    "resnetv2_152d": dict(layers=_DEPTH[152], **_BN, **_D),
    "resnetv2_50d_gn": dict(layers=_DEPTH[50], conv="plain", norm="groupnorm", **_D),
    "resnetv2_50d_evos": dict(layers=_DEPTH[50], conv="plain", norm="evonorm_s0", **_D),
    "resnetv2_50d_frn": dict(layers=_DEPTH[50], conv="plain", norm="frn_tlu", **_D),
}

register_variants(VARIANTS, ResNetV2, checkpoint_filter=checkpoint_filter)
