"""Block vocabulary of the EfficientNet / MobileNet family of mobile CNNs.

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

An architecture is a table of stages, each a tuple of `BlockDef`s, scaled by width and depth multipliers and
built by `_efficient_backbone.build_stages`.
Module names follow timm (`conv_stem`, `bn1`, `blocks.i.j.conv_pw`, ...), so timm checkpoints load as is.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..layers.attention2d import MultiQueryAttention2d
from ..layers.blur_pool import create_aa
from ..layers.cond_conv2d import CondConv2d
from ..layers.conv2d_same import create_conv2d
from ..layers.drop import drop_path_layer
from ..layers.global_context import GlobalContext
from ..layers.helpers import make_divisible
from ..layers.layer_scale import LayerScale2d
from ..layers.mixed_conv2d import create_conv2d_mixed
from ..layers.norm_act import create_norm_act
from ..layers.space_to_depth import SPACE_TO_DEPTH_FACTOR, space_to_depth_conv, space_to_depth_kernel
from ..layers.squeeze_excite import SqueezeExcite

__all__ = [
    "ATTN_LAYERS",
    "BLOCK_TYPES",
    "BlockDef",
    "make_divisible",
    "DepthwiseSeparableConv",
    "InvertedResidual",
    "CondConvResidual",
    "EdgeResidual",
    "ConvBlock",
    "ConvNormAct",
    "UniversalInvertedResidual",
    "MobileAttention",
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


ATTN_LAYERS = ("se", "gc")  # squeeze-excite, or global context (GCNet) in its place


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
