"""ResNet and its variants: ResNet-B/C/D/S/T stems, ResNeXt, Wide ResNet, SE-ResNe(X)t, SENet-154, ECA-ResNet,
anti-aliased (blur / average-pool) ResNets, ResNet-RS and GroupNorm ResNet (He et al. 2015; Xie et al. 2016;
He et al. 2018 "bag of tricks"; Hu et al. 2017; Wang et al. 2019; Zhang 2019; Bello et al. 2021).

Every variant is one `ResNet` with typed options; the table of named variants is in `_resnet_variants.py`.
State dict keys follow timm's `resnet.py`, so `timm/resnet*`, `timm/seresnext*`, ... checkpoints load unchanged,
and torchvision's ResNet / ResNeXt / Wide ResNet checkpoints load through `checkpoint_filter`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..features import collect_intermediates, feature_take_indices
from ..layers.blur_pool import AA_TYPES, BlurPool2d, create_aa
from ..layers.conv2d_same import SamePadAvgPool2d
from ..layers.drop import DropBlock2d, drop_path_layer, stage_drop_path_rates
from ..layers.eca import EcaModule
from ..layers.grad_checkpoint import checkpoint_active, run_blocks
from ..layers.helpers import make_divisible
from ..layers.pooling import SelectAdaptivePool2d
from ..layers.squeeze_excite import SEModule
from ..registry import register_variants
from ..utils.checks import check_output_stride, check_rate
from ._resnet_variants import VARIANTS
from .base import ImageModel, check_num_classes

__all__ = ["ResNet", "BasicBlock", "Bottleneck", "BlockOptions", "checkpoint_filter", "VARIANTS"]

STAGE_PLANES = (64, 128, 256, 512)
STAGE_STRIDES = (1, 2, 2, 2)
STEM_TYPES = ("", "deep", "deep_tiered")
ATTN_TYPES = ("", "se", "eca")
NORM_TYPES = ("batchnorm", "groupnorm")
# DropBlock of each stage (block size, gamma scale); None: not applied. Only the last two stages drop blocks.
DROP_BLOCKS: tuple[tuple[int, float] | None, ...] = (None, None, (5, 0.25), (3, 1.0))


def _conv(
    in_chs: int, out_chs: int, kernel_size: int, stride: int = 1, groups: int = 1, dilation: int = 1
) -> nn.Conv2d:
    """Bias-free conv with 'same'-style padding for odd kernels."""
    padding = dilation * (kernel_size // 2)
    return nn.Conv2d(
        in_chs, out_chs, kernel_size, stride, padding, dilation=dilation, groups=groups, bias=False
    )


def _norm(norm: str, chs: int) -> nn.Module:
    """BatchNorm, or GroupNorm with 32 groups (keys `weight`, `bias` either way)."""
    return nn.GroupNorm(32, chs) if norm == "groupnorm" else nn.BatchNorm2d(chs)


@dataclass(frozen=True)
class BlockOptions:
    """What a variant changes inside every residual block.

    attn: channel attention after the last conv's norm: '' (none), 'se' (squeeze-excite), 'eca'.
    se_ratio: squeeze-excite bottleneck width relative to the block output (rounded to a multiple of 8).
    aa: anti-aliasing of strided blocks: '' (strided 3x3 conv), 'blur' or 'avg' (stride-1 conv, then the pool).
    norm: 'batchnorm' or 'groupnorm' (32 groups).
    reduce_first: divide the first conv's width by this (SENet-154: 2).
    """

    attn: str = ""
    se_ratio: float = 1 / 16
    aa: str = ""
    norm: str = "batchnorm"
    reduce_first: int = 1

    def __post_init__(self):
        if self.attn not in ATTN_TYPES:
            raise ValueError(f"attn must be one of {ATTN_TYPES}, got {self.attn!r}")
        if self.aa not in AA_TYPES:
            raise ValueError(f"aa must be one of {AA_TYPES}, got {self.aa!r}")
        if self.norm not in NORM_TYPES:
            raise ValueError(f"norm must be one of {NORM_TYPES}, got {self.norm!r}")
        if not 0 < self.se_ratio <= 1 or self.reduce_first < 1:
            raise ValueError(
                f"need 0 < se_ratio <= 1 and reduce_first >= 1, got {self.se_ratio} and {self.reduce_first}"
            )

    def attention(self, chs: int, nominal_chs: int) -> nn.Module | None:
        """The attention module for a block output of `chs` channels (ECA sizes its kernel by `nominal_chs`)."""
        if self.attn == "se":
            return SEModule(chs, make_divisible(chs * self.se_ratio, 8, round_limit=0.0))
        if self.attn == "eca":
            return EcaModule(nominal_chs)
        return None

    def stride_and_aa(self, chs: int, stride: int, dilation_grows: bool = False) -> tuple[int, nn.Module]:
        """(conv stride, anti-aliasing step) of a block's strided conv.

        The first block of a dilated stage (`dilation_grows`) keeps its anti-aliasing at stride 1: a blur
        pool still blurs, an average pool becomes an identity.
        """
        if self.aa and stride > 1:
            return 1, create_aa(self.aa, chs, stride)
        if self.aa == "blur" and dilation_grows:
            return stride, BlurPool2d(chs, stride=1)
        return stride, nn.Identity()


class BasicBlock(nn.Module):
    """Two 3x3 convs with an identity (or projected) shortcut; used by ResNet-10/18/34.

    `widths` overrides (first conv, -, output) widths for pruned models. `dilation` dilates the 3x3 convs
    (`first_dilation`, the previous stage's, the first one); `drop_block` follows the first norm.
    """

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
        opts: BlockOptions = BlockOptions(),
        widths: tuple[int, int, int] | None = None,
        *,
        dilation: int = 1,
        first_dilation: int | None = None,
        drop_block: nn.Module | None = None,
    ):
        super().__init__()
        if cardinality != 1 or base_width != 64:
            raise ValueError(
                f"BasicBlock supports only cardinality=1 and base_width=64, got {cardinality} and {base_width}"
            )
        first, _, out_chs = widths or (planes // opts.reduce_first, planes, planes)
        first_dilation = first_dilation or dilation
        conv_stride, self.aa = opts.stride_and_aa(first, stride, first_dilation != dilation)
        self.conv1 = _conv(in_chs, first, 3, conv_stride, dilation=first_dilation)
        self.bn1 = _norm(opts.norm, first)
        self.drop_block = drop_block or nn.Identity()
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = _conv(first, out_chs, 3, dilation=dilation)
        self.bn2 = _norm(opts.norm, out_chs)
        self.se = opts.attention(out_chs, planes * self.expansion)
        self.act2 = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.drop_path = drop_path_layer(drop_path)

    def zero_init_last(self) -> None:
        """Start the residual branch at zero so the block is an identity map at init."""
        nn.init.constant_(self.bn2.weight, 0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, planes, H/s, W/s)
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.aa(self.act1(self.drop_block(self.bn1(self.conv1(x)))))
        y = self.bn2(self.conv2(y))
        if self.se is not None:
            y = self.se(y)
        return self.act2(self.drop_path(y) + shortcut)


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (grouped for ResNeXt) -> 1x1 expand (x4), with a shortcut; ResNet-14/26/50 and up.

    `widths` overrides the (1x1, 3x3, output) widths for pruned models. `first_dilation` dilates the 3x3
    conv; `drop_block` follows its norm.
    """

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
        opts: BlockOptions = BlockOptions(),
        widths: tuple[int, int, int] | None = None,
        *,
        dilation: int = 1,
        first_dilation: int | None = None,
        drop_block: nn.Module | None = None,
    ):
        super().__init__()
        width = int(planes * base_width / 64) * cardinality  # inner width; ResNeXt: groups x group width
        first, width, out_chs = widths or (width // opts.reduce_first, width, planes * self.expansion)
        first_dilation = first_dilation or dilation
        conv_stride, self.aa = opts.stride_and_aa(width, stride, first_dilation != dilation)
        self.conv1 = _conv(in_chs, first, 1)
        self.bn1 = _norm(opts.norm, first)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = _conv(first, width, 3, conv_stride, groups=cardinality, dilation=first_dilation)
        self.bn2 = _norm(opts.norm, width)
        self.drop_block = drop_block or nn.Identity()
        self.act2 = nn.ReLU(inplace=True)
        self.conv3 = _conv(width, out_chs, 1)
        self.bn3 = _norm(opts.norm, out_chs)
        self.se = opts.attention(out_chs, planes * self.expansion)
        self.act3 = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.drop_path = drop_path_layer(drop_path)

    def zero_init_last(self) -> None:
        """Start the residual branch at zero so the block is an identity map at init."""
        nn.init.constant_(self.bn3.weight, 0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, 4 * planes, H/s, W/s)
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.act1(self.bn1(self.conv1(x)))
        y = self.aa(self.act2(self.drop_block(self.bn2(self.conv2(y)))))
        y = self.bn3(self.conv3(y))
        if self.se is not None:
            y = self.se(y)
        return self.act3(self.drop_path(y) + shortcut)


BLOCKS: dict[str, type[BasicBlock] | type[Bottleneck]] = {"basic": BasicBlock, "bottleneck": Bottleneck}


def _shortcut(
    in_chs: int,
    out_chs: int,
    stride: int,
    avg_down: bool,
    kernel_size: int = 1,
    norm: str = "batchnorm",
    dilation: int = 1,
    first_dilation: int = 1,
) -> nn.Sequential:
    """Projection shortcut: strided conv (1x1, or `kernel_size` when strided or dilated) + norm, or
    (ResNet-D) a 2x2 average pool (stride 1, "SAME"-padded, in a dilated stage) then a 1x1 conv + norm."""
    if not avg_down:
        k = kernel_size if stride > 1 or dilation > 1 else 1
        conv = _conv(in_chs, out_chs, k, stride, dilation=first_dilation if k > 1 else 1)
        return nn.Sequential(conv, _norm(norm, out_chs))
    pool: nn.Module = nn.Identity()
    if dilation > 1:
        pool = SamePadAvgPool2d(2, 1)
    elif stride > 1:
        pool = nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False)
    return nn.Sequential(pool, _conv(in_chs, out_chs, 1), _norm(norm, out_chs))


def _deep_stem(in_chans: int, width: int, tiered: bool, norm: str) -> nn.Sequential:
    """Three 3x3 convs, the first strided: (width, width, 2 * width), or tiered (3/4 width, width, 2 * width).

    The last conv's norm and activation follow as the model's bn1/act1.
    """
    first = 3 * (width // 4) if tiered else width
    return nn.Sequential(
        _conv(in_chans, first, 3, 2),
        _norm(norm, first),
        nn.ReLU(inplace=True),
        _conv(first, width, 3),
        _norm(norm, width),
        nn.ReLU(inplace=True),
        _conv(width, 2 * width, 3),
    )


def _stem_pool(chs: int, replace_stem_pool: bool, aa: str, norm: str) -> nn.Module:
    """The stride-2 step after the stem: 3x3 max pool, anti-aliased pooling, or (ResNet-RS) a strided conv."""
    if replace_stem_pool:
        layers = [_conv(chs, chs, 3, 1 if aa else 2)]
        layers += [create_aa(aa, chs, 2)] if aa else []
        return nn.Sequential(*layers, _norm(norm, chs), nn.ReLU(inplace=True))
    if aa == "avg":
        return nn.AvgPool2d(2)
    if aa == "blur":
        return nn.Sequential(nn.MaxPool2d(3, 1, padding=1), BlurPool2d(chs, stride=2))
    return nn.MaxPool2d(3, 2, padding=1)


class ResNet(ImageModel):
    """ResNet family classifier: stem (conv1/bn1/act1/maxpool), four stages `layer1..layer4`, pool, `fc`.

    Args:
        block: 'basic' (two 3x3 convs) or 'bottleneck' (1x1-3x3-1x1, x4 expansion), or one per stage.
        layers: number of blocks in each of the four stages.
        num_classes: classifier size; 0 gives pooled features.
        in_chans: input image channels.
        global_pool: 'avg', 'max', 'avgmax', 'catavgmax', or '' (only with num_classes=0).
        cardinality, base_width: ResNeXt groups and per-group width (Wide ResNet: base_width=128).
        stem_width, stem_type: deep-stem width; '' is the 7x7 conv (always 64 wide), 'deep' the three-conv
            ResNet-C/D stem, 'deep_tiered' its (3/4, 1, 2) x stem_width version (ResNet-T).
        replace_stem_pool: a strided 3x3 conv + norm + ReLU instead of the stem max pool (ResNet-RS).
        avg_down: average-pool (instead of strided conv) in projection shortcuts (ResNet-D).
        down_kernel_size: kernel of strided conv shortcuts (SENet-154: 3).
        channels: the four stages' base widths (block outputs are these x the block expansion).
        attn, se_ratio, aa, norm, block_reduce_first: the `BlockOptions` of every block (aa also sets the
            stem pooling).
        block_widths: per-block (first, inner, output) widths of a pruned model, in block order.
        output_stride: 32, or 16 / 8 to dilate the later stages instead of striding them.
        drop_rate: dropout before the classifier.
        drop_path_rate: stochastic depth, rising linearly to this rate over the blocks.
        drop_block_rate: DropBlock rate in the last two stages (training only).
        zero_init_last: zero the last norm of every block at init.
    """

    def __init__(
        self,
        block: str | Sequence[str] = "bottleneck",
        layers: Sequence[int] = (3, 4, 6, 3),
        num_classes: int = 1000,
        in_chans: int = 3,
        global_pool: str = "avg",
        cardinality: int = 1,
        base_width: int = 64,
        stem_width: int = 64,
        stem_type: str = "",
        replace_stem_pool: bool = False,
        avg_down: bool = False,
        down_kernel_size: int = 1,
        channels: Sequence[int] = STAGE_PLANES,
        attn: str = "",
        se_ratio: float = 1 / 16,
        aa: str = "",
        norm: str = "batchnorm",
        block_reduce_first: int = 1,
        block_widths: Sequence[tuple[int, int, int]] | None = None,
        output_stride: int = 32,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        drop_block_rate: float = 0.0,
        zero_init_last: bool = True,
    ):
        super().__init__()
        blocks_per_stage = (block,) * 4 if isinstance(block, str) else tuple(block)
        if len(blocks_per_stage) != 4 or any(b not in BLOCKS for b in blocks_per_stage):
            raise ValueError(f"block must be one of {tuple(BLOCKS)} or four of them, got {block!r}")
        layers, channels = tuple(layers), tuple(channels)
        for name, val in (("layers", layers), ("channels", channels)):
            if len(val) != 4 or not all(isinstance(n, int) and n >= 1 for n in val):
                raise ValueError(f"{name} must be four positive ints, got {val!r}")
        if stem_type not in STEM_TYPES:
            raise ValueError(f"stem_type must be one of {STEM_TYPES}, got {stem_type!r}")
        if cardinality < 1 or base_width < 1 or stem_width < 1:
            raise ValueError(
                f"cardinality, base_width and stem_width must be >= 1, got {cardinality}, {base_width}, {stem_width}"
            )
        if down_kernel_size < 1 or down_kernel_size % 2 == 0:
            raise ValueError(f"down_kernel_size must be a positive odd int, got {down_kernel_size}")
        if block_widths is not None and len(block_widths) != sum(layers):
            raise ValueError(
                f"block_widths needs one (first, inner, out) triple per block ({sum(layers)}), got {len(block_widths)}"
            )
        check_output_stride(output_stride)
        check_rate("drop_block_rate", drop_block_rate)
        opts = BlockOptions(attn, se_ratio, aa, norm, block_reduce_first)
        self.num_classes = num_classes
        self.drop_rate = drop_rate
        self.grad_checkpointing = False

        # Stem: (B, in_chans, H, W) -> (B, chs, H/2, W/2), then maxpool (or its replacement) to H/4
        if stem_type:
            self.conv1 = _deep_stem(in_chans, stem_width, stem_type == "deep_tiered", norm)
            chs = 2 * stem_width
        else:
            chs = 64
            self.conv1 = nn.Conv2d(in_chans, chs, 7, 2, padding=3, bias=False)
        self.bn1 = _norm(norm, chs)
        self.act1 = nn.ReLU(inplace=True)
        self.maxpool = _stem_pool(chs, replace_stem_pool, aa, norm)
        self.feature_info = [dict(num_chs=chs, reduction=2, module="act1")]

        # Stages, with stochastic depth rising linearly from 0 to drop_path_rate over all blocks. Once the
        # reduction reaches output_stride, stages dilate their convs instead of striding.
        stage_rates = stage_drop_path_rates(drop_path_rate, layers)
        widths = iter(block_widths or [None] * sum(layers))
        reduction, dilation = 4, 1
        stage_specs = zip(blocks_per_stage, channels, STAGE_STRIDES, stage_rates, DROP_BLOCKS)
        for i, (kind, planes, stride, rates, drop_block) in enumerate(stage_specs, start=1):
            block_cls = BLOCKS[kind]
            prev_dilation = dilation
            if reduction >= output_stride:
                dilation, stride = dilation * stride, 1
            reduction *= stride
            blocks = []
            for j, dpr in enumerate(rates):
                s = stride if j == 0 else 1
                first_dilation = prev_dilation if j == 0 else dilation
                w = next(widths)
                out_chs = w[2] if w else planes * block_cls.expansion
                down = None
                if s != 1 or chs != out_chs:
                    down = _shortcut(
                        chs, out_chs, s, avg_down, down_kernel_size, norm, dilation, first_dilation
                    )
                db = DropBlock2d(drop_block_rate, *drop_block) if drop_block and drop_block_rate else None
                blocks.append(
                    block_cls(
                        chs,
                        planes,
                        s,
                        down,
                        cardinality,
                        base_width,
                        dpr,
                        opts,
                        w,
                        dilation=dilation,
                        first_dilation=first_dilation,
                        drop_block=db,
                    )
                )
                chs = out_chs
            self.add_module(f"layer{i}", nn.Sequential(*blocks))
            self.feature_info.append(dict(num_chs=chs, reduction=reduction, module=f"layer{i}"))

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
        """Kaiming-normal convs (fan-out), unit/zero norms, optionally zeroed last norm per block."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
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
        return self._pool_drop_classify(x, self.global_pool, self.fc, pre_logits)

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


# -- variants (the table: _resnet_variants.py) -------------------------------------------------------

register_variants(VARIANTS, ResNet, checkpoint_filter=checkpoint_filter)
