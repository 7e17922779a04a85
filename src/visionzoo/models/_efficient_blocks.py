"""Shared builder of the EfficientNet / MobileNet family of mobile CNNs.

One block vocabulary covers every member:

- 'ds': depthwise-separable conv (depthwise kxk -> optional SE -> pointwise 1x1); 'dsa' is the same with an
  activation after the pointwise conv and no residual (MobileNetV1, LCNet),
- 'ir': inverted residual (1x1 expand -> depthwise kxk -> optional SE -> 1x1 project),
- 'cc': the inverted residual with CondConv (per-sample mixtures of `experts` kernels, routed from the pooled input),
- 'er': edge / fused residual (kxk expand -> optional SE -> 1x1 project),
- 'cn': plain conv + BN + activation (`ConvBlock`),
- 'uir': universal inverted residual of MobileNetV4 (optional depthwise kxk -> 1x1 expand -> optional depthwise
  kxk -> 1x1 project -> optional depthwise kxk), which covers the inverted residual, ConvNeXt-like, FFN and
  "extra depthwise" blocks,
- 'mqa': MobileNetV4's multi-query attention block (BN -> `MultiQueryAttention2d` -> layer scale).

An architecture is a table of stages, each a tuple of `BlockDef`s, scaled by width and depth multipliers.
Module names follow timm (`conv_stem`, `bn1`, `blocks.i.j.conv_pw`, ...), so timm checkpoints load as is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import nn

from ..features import feature_take_indices, to_output_fmt
from ..layers.attention2d import MultiQueryAttention2d
from ..layers.blur_pool import create_aa
from ..layers.cond_conv2d import CondConv2d
from ..layers.conv2d_same import create_conv2d
from ..layers.drop import drop_path_layer, stage_drop_path_rates
from ..layers.global_context import GlobalContext
from ..layers.grad_checkpoint import checkpoint_active, run_blocks
from ..layers.helpers import make_divisible
from ..layers.layer_scale import LayerScale2d
from ..layers.mixed_conv2d import create_conv2d_mixed
from ..layers.norm_act import NORM_ACT_KINDS, create_norm_act
from ..layers.space_to_depth import SPACE_TO_DEPTH_FACTOR, space_to_depth_conv, space_to_depth_kernel
from ..layers.squeeze_excite import SqueezeExcite
from ..utils.checks import check_output_stride
from .base import ImageModel

__all__ = [
    "BlockDef",
    "make_divisible",
    "scale_stage_depth",
    "DepthwiseSeparableConv",
    "InvertedResidual",
    "EdgeResidual",
    "ConvBlock",
    "UniversalInvertedResidual",
    "MobileAttention",
    "build_stages",
    "EfficientBackbone",
    "SE_STYLES",
    "SEStyle",
]


@dataclass(frozen=True)
class BlockDef:
    """`repeats` identical blocks of one kind; only the first has the stride.

    `act` overrides the model's activation; `skip` None means "residual where the shapes allow" for
    'ds'/'ir'/'er'/'uir'/'mqa' and "no residual" for 'cn'; False disables it, True enables it for 'cn'.
    A tuple `kernel` makes the depthwise conv of 'ds'/'ir' a MixedConv2d (MixNet), as tuples `exp_kernel` /
    `pwl_kernel` do for the 1x1 convs of 'ir' (a grouped pointwise conv). `group_size` makes the 'er' expansion conv grouped (output channels per group), `force_in_chs` sizes its expansion
    from that many input channels. For 'uir', `kernel` is the middle depthwise kernel and `dw_start` / `dw_end` those before the expansion and
    after the projection (0: no such conv). For 'mqa', `kernel` is that of the key/value downsampling conv.
    `s2d=1` on a stride-1 'ds'/'ir' def starts a space-to-depth region (EfficientNet-X): its first block
    folds 2x2 patches into 4x the channels with a 2x2 stride-2 conv and halves its depthwise kernel, every
    block of the region has 4x the table's output channels, and the next strided block ends the region by
    running at stride 1 with a quarter of its expansion ratio (the builder marks the region's later
    blocks s2d=2). `mid_chs` / `se_chs` (pruned models) give the expanded width of 'ir' and the squeeze-excite
    bottleneck explicitly instead of deriving them from `exp_ratio` / `se_ratio` (0: derived).
    """

    kind: str
    repeats: int
    kernel: int | tuple[int, ...]
    stride: int
    out_chs: int
    exp_ratio: float = 1.0
    se_ratio: float = 0.0
    act: str | None = None
    skip: bool | None = None
    dw_start: int = 0
    dw_end: int = 0
    group_size: int = 0
    force_in_chs: int = 0
    exp_kernel: int | tuple[int, ...] = 1
    experts: int = 0
    pwl_kernel: int | tuple[int, ...] = 1
    heads: int = 0
    key_dim: int = 0
    kv_stride: int = 1
    s2d: int = 0
    mid_chs: int = 0
    se_chs: int = 0


@dataclass(frozen=True)
class SEStyle:
    """How a model family sizes and gates its squeeze-excite.

    `from_input`: the SE ratio is relative to the block input (else to the expanded width); `round_limit`:
    round the bottleneck with `make_divisible` and this limit (0: to the nearest integer); `act`: the SE's own
    activation (None: the block's); `gate`: the gating function.
    """

    from_input: bool
    round_limit: float
    act: str | None
    gate: str


SE_STYLES: dict[str, SEStyle] = {
    "efficientnet": SEStyle(from_input=True, round_limit=0.0, act=None, gate="sigmoid"),
    "mobilenetv3": SEStyle(from_input=False, round_limit=0.9, act="relu", gate="hard_sigmoid"),
    "mobilenetv3_rw": SEStyle(from_input=False, round_limit=0.0, act=None, gate="hard_sigmoid"),
    "lcnet": SEStyle(from_input=False, round_limit=0.0, act="relu", gate="hard_sigmoid"),
    "fbnetv3": SEStyle(from_input=True, round_limit=0.95, act=None, gate="hard_sigmoid"),
}


DEPTH_TRUNCS = ("ceil", "round")
ATTN_LAYERS = ("se", "gc")  # squeeze-excite, or global context (GCNet) in its place


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


@dataclass(frozen=True)
class _Ctx:
    """Settings shared by every block of a model, and the dilation of the block being built."""

    act: str
    padding: str
    bn_eps: float
    se_style: str
    layer_scale: float | None = None
    aa: str | None = None
    width: float = 1.0
    round_limit: float = 0.9
    norm: str = "batchnorm"
    norm_group_size: int = 0
    dw_group_size: int = 1
    divisor: int = 8
    attn: str = "se"
    dilation: int = 1  # of a block's kxk convs: > 1 in the stages `output_stride` dilates

    def scale(self, chs: int) -> int:
        """A table's channel count at the model's width."""
        return make_divisible(chs * self.width, self.divisor, round_limit=self.round_limit)

    def norm_act(self, chs: int, act: str | None = None) -> nn.Module:
        """The model's norm (BatchNorm unless `norm` says otherwise) on `chs` channels, then `act`."""
        return create_norm_act(self.norm, chs, act, self.bn_eps, self.norm_group_size)


def _strided(ctx: _Ctx, stride: int) -> tuple[int, nn.Module]:
    """(conv stride, downsampler after the norm): with anti-aliasing the conv keeps stride 1 and a pool downsamples."""
    if ctx.aa is None or stride == 1:
        return stride, nn.Identity()
    return 1, create_aa(ctx.aa, stride=stride)


def _layer_scale(ctx: _Ctx, chs: int) -> nn.Module:
    return nn.Identity() if ctx.layer_scale is None else LayerScale2d(chs, ctx.layer_scale)


def _depthwise(
    ctx: _Ctx, chs: int, kernel: int | tuple[int, ...], stride: int, padding: str | None = None
) -> nn.Module:
    """The depthwise kxk conv of 'ds'/'ir' blocks, grouped `ctx.dw_group_size` channels per group."""
    padding = ctx.padding if padding is None else padding
    if ctx.dw_group_size == 1:
        return create_conv2d_mixed(chs, chs, kernel, stride, True, padding, ctx.dilation)
    if isinstance(kernel, tuple) or chs % ctx.dw_group_size:
        raise ValueError(
            f"a {kernel} conv on {chs} channels cannot use groups of {ctx.dw_group_size} channels"
        )
    return create_conv2d(
        chs, chs, kernel, stride, ctx.dilation, groups=chs // ctx.dw_group_size, padding=padding
    )


def _space_to_depth(ctx: _Ctx, d: BlockDef, in_chs: int, act: str) -> tuple[nn.Module | None, ...]:
    """(conv_s2d, bn_s2d, channels after it, depthwise kernel, its padding) of a block; Nones unless s2d=1."""
    if d.s2d != 1:
        return None, None, in_chs, d.kernel, ctx.padding
    conv, norm, chs = space_to_depth_conv(in_chs, lambda c: ctx.norm_act(c, act))
    kernel = space_to_depth_kernel(d.kernel)
    return conv, norm, chs, kernel, "same" if kernel == 2 else ctx.padding  # an even kernel needs SAME


def _make_se(ctx: _Ctx, chs: int, se_ratio: float, exp_ratio: float, act: str, rd_chs: int = 0) -> nn.Module:
    """SE (or global context) on `chs` channels (a block's expanded width), its bottleneck `rd_chs` or sized as
    the model's SE style says."""
    if not se_ratio:
        return nn.Identity()
    style = SE_STYLES[ctx.se_style]
    width = chs * (se_ratio / exp_ratio) if style.from_input else chs * se_ratio
    if ctx.attn == "gc":
        return GlobalContext(chs, rd_chs or make_divisible(width, 1, round_limit=0.0), act=act)
    if rd_chs:
        return SqueezeExcite(chs, rd_chs, act=style.act or act, gate=style.gate)
    rd = make_divisible(width, round_limit=style.round_limit) if style.round_limit else round(width)
    return SqueezeExcite(chs, rd, act=style.act or act, gate=style.gate)


class _Residual(nn.Module):
    """Adds the input back (through stochastic depth) when `has_skip`."""

    has_skip: bool

    def _branch(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self._branch(x)
        if self.has_skip:
            return x + self.drop_path(out)
        return out


class DepthwiseSeparableConv(_Residual):
    """Depthwise kxk (stride) -> BN/act -> SE -> pointwise 1x1 -> BN (/act for 'dsa')."""

    def __init__(self, ctx: _Ctx, d: BlockDef, in_chs: int, out_chs: int, stride: int, drop_path: float):
        super().__init__()
        act = d.act or ctx.act
        pw_act = d.kind == "dsa"
        self.has_skip = not pw_act and d.skip is not False and stride == 1 and in_chs == out_chs
        self.conv_s2d, self.bn_s2d, in_chs, kernel, dw_pad = _space_to_depth(ctx, d, in_chs, act)
        se_ratio = d.se_ratio / SPACE_TO_DEPTH_FACTOR if d.s2d == 1 else d.se_ratio
        conv_stride, self.aa = _strided(ctx, stride)
        self.conv_dw = _depthwise(ctx, in_chs, kernel, conv_stride, dw_pad)
        self.bn1 = ctx.norm_act(in_chs, act)
        self.se = _make_se(ctx, in_chs, se_ratio, 1.0, act, d.se_chs)
        self.conv_pw = create_conv2d(in_chs, out_chs, 1, padding=ctx.padding)
        self.bn2 = ctx.norm_act(out_chs, act if pw_act else None)
        self.drop_path = drop_path_layer(drop_path)

    def _branch(self, x: torch.Tensor) -> torch.Tensor:  # (B, Cin, H, W) -> (B, Cout, H/s, W/s)
        if self.conv_s2d is not None:
            x = self.bn_s2d(self.conv_s2d(x))  # (B, 4 Cin, H/2, W/2)
        x = self.se(self.aa(self.bn1(self.conv_dw(x))))
        return self.bn2(self.conv_pw(x))


class InvertedResidual(_Residual):
    """1x1 expand -> BN/act -> depthwise kxk (stride) -> BN/act -> SE -> 1x1 project -> BN."""

    def __init__(self, ctx: _Ctx, d: BlockDef, in_chs: int, out_chs: int, stride: int, drop_path: float):
        super().__init__()
        act = d.act or ctx.act
        self.has_skip = d.skip is not False and stride == 1 and in_chs == out_chs
        self.conv_s2d, self.bn_s2d, in_chs, kernel, dw_pad = _space_to_depth(ctx, d, in_chs, act)
        se_ratio = d.se_ratio / SPACE_TO_DEPTH_FACTOR if d.s2d == 1 else d.se_ratio
        mid = d.mid_chs or make_divisible(in_chs * d.exp_ratio)
        self.conv_pw = create_conv2d_mixed(in_chs, mid, d.exp_kernel, padding=ctx.padding)
        self.bn1 = ctx.norm_act(mid, act)
        conv_stride, self.aa = _strided(ctx, stride)
        self.conv_dw = _depthwise(ctx, mid, kernel, conv_stride, dw_pad)
        self.bn2 = ctx.norm_act(mid, act)
        self.se = _make_se(ctx, mid, se_ratio, d.exp_ratio, act, d.se_chs)
        self.conv_pwl = create_conv2d_mixed(mid, out_chs, d.pwl_kernel, padding=ctx.padding)
        self.bn3 = ctx.norm_act(out_chs)
        self.drop_path = drop_path_layer(drop_path)

    def _branch(self, x: torch.Tensor) -> torch.Tensor:  # (B, Cin, H, W) -> (B, Cout, H/s, W/s)
        if self.conv_s2d is not None:
            x = self.bn_s2d(self.conv_s2d(x))  # (B, 4 Cin, H/2, W/2)
        x = self.bn1(self.conv_pw(x))  # (B, mid, H, W)
        x = self.se(self.aa(self.bn2(self.conv_dw(x))))  # (B, mid, H/s, W/s)
        return self.bn3(self.conv_pwl(x))


class CondConvResidual(_Residual):
    """An inverted residual whose three convs are CondConv2d, all routed by sigmoid(linear(mean-pooled input))."""

    def __init__(self, ctx: _Ctx, d: BlockDef, in_chs: int, out_chs: int, stride: int, drop_path: float):
        super().__init__()
        if d.experts < 1:
            raise ValueError(f"a 'cc' block needs experts >= 1, got {d.experts}")
        act = d.act or ctx.act
        mid = make_divisible(in_chs * d.exp_ratio)
        self.has_skip = d.skip is not False and stride == 1 and in_chs == out_chs
        e, pad = d.experts, ctx.padding
        self.routing_fn = nn.Linear(in_chs, e)
        self.conv_pw = CondConv2d(in_chs, mid, 1, padding=pad, num_experts=e)
        self.bn1 = ctx.norm_act(mid, act)
        conv_stride, self.aa = _strided(ctx, stride)
        self.conv_dw = CondConv2d(
            mid, mid, d.kernel, conv_stride, groups=mid, padding=pad, num_experts=e, dilation=ctx.dilation
        )
        self.bn2 = ctx.norm_act(mid, act)
        self.se = _make_se(ctx, mid, d.se_ratio, d.exp_ratio, act)
        self.conv_pwl = CondConv2d(mid, out_chs, 1, padding=pad, num_experts=e)
        self.bn3 = ctx.norm_act(out_chs)
        self.drop_path = drop_path_layer(drop_path)

    def _branch(self, x: torch.Tensor) -> torch.Tensor:  # (B, Cin, H, W) -> (B, Cout, H/s, W/s)
        routing = torch.sigmoid(self.routing_fn(x.mean((2, 3))))  # (B, experts)
        x = self.bn1(self.conv_pw(x, routing))
        x = self.se(self.aa(self.bn2(self.conv_dw(x, routing))))
        return self.bn3(self.conv_pwl(x, routing))


class EdgeResidual(_Residual):
    """Fused-MBConv: kxk expand (stride) -> BN/act -> SE -> 1x1 project -> BN."""

    def __init__(self, ctx: _Ctx, d: BlockDef, in_chs: int, out_chs: int, stride: int, drop_path: float):
        super().__init__()
        act = d.act or ctx.act
        # EdgeTPU-EfficientNet's first block is sized as if its input had `force_in_chs` channels
        mid = make_divisible((ctx.scale(d.force_in_chs) if d.force_in_chs else in_chs) * d.exp_ratio)
        self.has_skip = d.skip is not False and stride == 1 and in_chs == out_chs
        conv_stride, self.aa = _strided(ctx, stride)
        groups = mid // d.group_size if d.group_size else 1  # groups counted on the expanded width
        self.conv_exp = create_conv2d(
            in_chs, mid, d.kernel, conv_stride, ctx.dilation, groups=groups, padding=ctx.padding
        )
        self.bn1 = ctx.norm_act(mid, act)
        self.se = _make_se(ctx, mid, d.se_ratio, d.exp_ratio, act)
        self.conv_pwl = create_conv2d(mid, out_chs, 1, padding=ctx.padding)
        self.bn2 = ctx.norm_act(out_chs)
        self.drop_path = drop_path_layer(drop_path)

    def _branch(self, x: torch.Tensor) -> torch.Tensor:  # (B, Cin, H, W) -> (B, Cout, H/s, W/s)
        x = self.se(self.aa(self.bn1(self.conv_exp(x))))  # (B, mid, H/s, W/s)
        return self.bn2(self.conv_pwl(x))


class ConvBlock(_Residual):
    """kxk conv (stride) -> BN/act, with a residual only when asked (`skip=True`) and shapes allow."""

    def __init__(self, ctx: _Ctx, d: BlockDef, in_chs: int, out_chs: int, stride: int, drop_path: float):
        super().__init__()
        self.has_skip = bool(d.skip) and stride == 1 and in_chs == out_chs
        conv_stride, self.aa = _strided(ctx, stride)
        self.conv = create_conv2d(in_chs, out_chs, d.kernel, conv_stride, ctx.dilation, padding=ctx.padding)
        self.bn1 = ctx.norm_act(out_chs, d.act or ctx.act)
        self.drop_path = drop_path_layer(drop_path)

    def _branch(self, x: torch.Tensor) -> torch.Tensor:  # (B, Cin, H, W) -> (B, Cout, H/s, W/s)
        return self.aa(self.bn1(self.conv(x)))


class ConvNormAct(nn.Module):
    """kxk conv (stride, `groups`) -> BN (with `act`) -> anti-aliasing downsampler; keys `conv`, `bn`."""

    def __init__(
        self, ctx: _Ctx, in_chs: int, out_chs: int, kernel: int, stride: int, groups: int, act: str | None
    ):
        super().__init__()
        conv_stride, self.aa = _strided(ctx, stride)
        self.conv = create_conv2d(
            in_chs, out_chs, kernel, conv_stride, ctx.dilation, groups=groups, padding=ctx.padding
        )
        self.bn = ctx.norm_act(out_chs, act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, Cin, H, W) -> (B, Cout, H/s, W/s)
        return self.aa(self.bn(self.conv(x)))


class UniversalInvertedResidual(_Residual):
    """[depthwise kxk] -> 1x1 expand + act -> [depthwise kxk + act] -> SE -> 1x1 project -> [depthwise kxk].

    The stride goes to the first depthwise conv of the middle and start ones that exists, else to the end one;
    the optional convs are nn.Identity when absent, so the keys stay those of timm.
    """

    def __init__(self, ctx: _Ctx, d: BlockDef, in_chs: int, out_chs: int, stride: int, drop_path: float):
        super().__init__()
        if stride > 1 and not (d.dw_start or d.kernel or d.dw_end):
            raise ValueError("a strided 'uir' block needs at least one depthwise conv")
        act = d.act or ctx.act
        mid = make_divisible(in_chs * d.exp_ratio)
        self.has_skip = d.skip is not False and stride == 1 and in_chs == out_chs
        start_stride = 1 if d.kernel else stride
        end_stride = stride if not (d.dw_start or d.kernel) else 1
        self.dw_start = (
            ConvNormAct(ctx, in_chs, in_chs, d.dw_start, start_stride, in_chs, None)
            if d.dw_start
            else nn.Identity()
        )
        self.pw_exp = ConvNormAct(ctx, in_chs, mid, 1, 1, 1, act)
        self.dw_mid = ConvNormAct(ctx, mid, mid, d.kernel, stride, mid, act) if d.kernel else nn.Identity()
        self.se = _make_se(ctx, mid, d.se_ratio, d.exp_ratio, act)
        self.pw_proj = ConvNormAct(ctx, mid, out_chs, 1, 1, 1, None)
        self.dw_end = (
            ConvNormAct(ctx, out_chs, out_chs, d.dw_end, end_stride, out_chs, None)
            if d.dw_end
            else nn.Identity()
        )
        self.layer_scale = _layer_scale(ctx, out_chs)
        self.drop_path = drop_path_layer(drop_path)

    def _branch(self, x: torch.Tensor) -> torch.Tensor:  # (B, Cin, H, W) -> (B, Cout, H/s, W/s)
        x = self.pw_exp(self.dw_start(x))  # (B, mid, H', W')
        x = self.se(self.dw_mid(x))  # (B, mid, H/s, W/s)
        return self.layer_scale(self.dw_end(self.pw_proj(x)))


class MobileAttention(_Residual):
    """BN (no act) -> multi-query attention (keys and values optionally downsampled) -> layer scale."""

    def __init__(self, ctx: _Ctx, d: BlockDef, in_chs: int, out_chs: int, stride: int, drop_path: float):
        super().__init__()
        if stride != 1:
            raise ValueError("'mqa' blocks do not downsample (stride must be 1)")
        self.has_skip = d.skip is not False and in_chs == out_chs
        self.norm = ctx.norm_act(in_chs)
        self.attn = MultiQueryAttention2d(
            in_chs,
            out_chs,
            num_heads=d.heads,
            key_dim=d.key_dim,
            value_dim=d.key_dim,
            kv_stride=d.kv_stride,
            dw_kernel_size=d.kernel,
            padding=ctx.padding,
            bn_eps=ctx.bn_eps,
            dilation=ctx.dilation,
        )
        self.layer_scale = _layer_scale(ctx, out_chs)
        self.drop_path = drop_path_layer(drop_path)

    def _branch(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, Cout, H, W)
        return self.layer_scale(self.attn(self.norm(x)))


BLOCK_TYPES: dict[str, type[_Residual]] = {
    "ds": DepthwiseSeparableConv,
    "dsa": DepthwiseSeparableConv,
    "ir": InvertedResidual,
    "cc": CondConvResidual,
    "er": EdgeResidual,
    "cn": ConvBlock,
    "uir": UniversalInvertedResidual,
    "mqa": MobileAttention,
}


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
