"""Stage tables of the timm `mobilenetv3` module's architectures (MobileNetV3, MobileNetV4), for `mobilenetv3.py`.

One tuple of `BlockDef(kind, repeats, kernel, stride, out_chs, exp_ratio, se_ratio, ...)` per stage. For
MobileNetV4's 'uir' rows `kernel` is the middle depthwise kernel (0: none) and `dw_start` the one before the
expansion: (start, mid) = (k, k') "extra depthwise", (0, k) inverted residual, (k, 0) ConvNeXt-like, (0, 0) FFN.
"""

from __future__ import annotations

from ._efficient_blocks import BlockDef

__all__ = ["STAGES"]

B = BlockDef
_RE = "relu"  # the early MobileNetV3 stages use ReLU, the rest the model's hard-swish


def _uir(repeats: int, start: int, mid: int, stride: int, out_chs: int, exp: float) -> BlockDef:
    return B("uir", repeats, mid, stride, out_chs, exp, dw_start=start)


def _mqa(out_chs: int, heads: int, key_dim: int, kv_stride: int = 1) -> BlockDef:
    return B("mqa", 1, 3, 1, out_chs, heads=heads, key_dim=key_dim, kv_stride=kv_stride)


U = _uir
_V4_HEAD = (B("cn", 1, 1, 1, 960),)

_V4_CONV_MEDIUM = (
    (B("er", 1, 3, 2, 48, 4),),
    (U(1, 3, 5, 2, 80, 4), U(1, 3, 3, 1, 80, 2)),
    (
        U(1, 3, 5, 2, 160, 6),
        U(2, 3, 3, 1, 160, 4),
        U(1, 3, 5, 1, 160, 4),
        U(1, 3, 3, 1, 160, 4),
        U(1, 3, 0, 1, 160, 4),
        U(1, 0, 0, 1, 160, 2),
        U(1, 3, 0, 1, 160, 4),
    ),
    (
        U(1, 5, 5, 2, 256, 6),
        U(1, 5, 5, 1, 256, 4),
        U(2, 3, 5, 1, 256, 4),
        U(1, 0, 0, 1, 256, 4),
        U(1, 3, 0, 1, 256, 4),
        U(1, 3, 5, 1, 256, 2),
        U(1, 5, 5, 1, 256, 4),
        U(2, 0, 0, 1, 256, 4),
        U(1, 5, 0, 1, 256, 2),
    ),
    _V4_HEAD,
)
_V4_LARGE_STAGE_3 = (
    U(4, 5, 5, 2, 512, 4),
    U(1, 5, 0, 1, 512, 4),
    U(1, 5, 3, 1, 512, 4),
    U(2, 5, 0, 1, 512, 4),
    U(1, 5, 3, 1, 512, 4),
    U(1, 5, 5, 1, 512, 4),
)

STAGES: dict[str, tuple[tuple[BlockDef, ...], ...]] = {
    "mobilenetv3_large": (
        (B("ds", 1, 3, 1, 16, act=_RE),),
        (B("ir", 1, 3, 2, 24, 4, act=_RE), B("ir", 1, 3, 1, 24, 3, act=_RE)),
        (B("ir", 3, 5, 2, 40, 3, 0.25, act=_RE),),
        (B("ir", 1, 3, 2, 80, 6), B("ir", 1, 3, 1, 80, 2.5), B("ir", 2, 3, 1, 80, 2.3)),
        (B("ir", 2, 3, 1, 112, 6, 0.25),),
        (B("ir", 3, 5, 2, 160, 6, 0.25),),
        (B("cn", 1, 1, 1, 960),),
    ),
    "mobilenetv3_small": (
        (B("ds", 1, 3, 2, 16, 1, 0.25, act=_RE),),
        (B("ir", 1, 3, 2, 24, 4.5, act=_RE), B("ir", 1, 3, 1, 24, 3.67, act=_RE)),
        (B("ir", 1, 5, 2, 40, 4, 0.25), B("ir", 2, 5, 1, 40, 6, 0.25)),
        (B("ir", 2, 5, 1, 48, 3, 0.25),),
        (B("ir", 3, 5, 2, 96, 6, 0.25),),
        (B("cn", 1, 1, 1, 576),),
    ),
    "mobilenetv4_conv_small": (
        (B("cn", 1, 3, 2, 32), B("cn", 1, 1, 1, 32)),
        (B("cn", 1, 3, 2, 96), B("cn", 1, 1, 1, 64)),
        (U(1, 5, 5, 2, 96, 3), U(4, 0, 3, 1, 96, 2), U(1, 3, 0, 1, 96, 4)),
        (
            U(1, 3, 3, 2, 128, 6),
            U(1, 5, 5, 1, 128, 4),
            U(1, 0, 5, 1, 128, 4),
            U(1, 0, 5, 1, 128, 3),
            U(2, 0, 3, 1, 128, 4),
        ),
        _V4_HEAD,
    ),
    "mobilenetv4_conv_medium": _V4_CONV_MEDIUM,
    "mobilenetv4_conv_large": (
        (B("er", 1, 3, 2, 48, 4),),
        (U(1, 3, 5, 2, 96, 4), U(1, 3, 3, 1, 96, 4)),
        (
            U(1, 3, 5, 2, 192, 4),
            U(3, 3, 3, 1, 192, 4),
            U(1, 3, 5, 1, 192, 4),
            U(5, 5, 3, 1, 192, 4),
            U(1, 3, 0, 1, 192, 4),
        ),
        (*_V4_LARGE_STAGE_3, U(3, 5, 0, 1, 512, 4)),
        _V4_HEAD,
    ),
    "mobilenetv4_hybrid_medium": (
        (B("er", 1, 3, 2, 48, 4),),
        (U(1, 3, 5, 2, 80, 4), U(1, 3, 3, 1, 80, 2)),
        (
            U(1, 3, 5, 2, 160, 6),
            U(1, 0, 0, 1, 160, 2),
            U(1, 3, 3, 1, 160, 4),
            U(1, 3, 5, 1, 160, 4),
            _mqa(160, 4, 64, 2),
            U(1, 3, 3, 1, 160, 4),
            _mqa(160, 4, 64, 2),
            U(1, 3, 0, 1, 160, 4),
            _mqa(160, 4, 64, 2),
            U(1, 3, 3, 1, 160, 4),
            _mqa(160, 4, 64, 2),
            U(1, 3, 0, 1, 160, 4),
        ),
        (
            U(1, 5, 5, 2, 256, 6),
            U(1, 5, 5, 1, 256, 4),
            U(2, 3, 5, 1, 256, 4),
            U(1, 0, 0, 1, 256, 2),
            U(1, 3, 5, 1, 256, 2),
            U(1, 0, 0, 1, 256, 2),
            U(1, 0, 0, 1, 256, 4),
            _mqa(256, 4, 64),
            U(1, 3, 0, 1, 256, 4),
            _mqa(256, 4, 64),
            U(1, 5, 5, 1, 256, 4),
            _mqa(256, 4, 64),
            U(1, 5, 0, 1, 256, 4),
            _mqa(256, 4, 64),
            U(1, 5, 0, 1, 256, 4),
        ),
        _V4_HEAD,
    ),
    "mobilenetv4_hybrid_large": (
        (B("er", 1, 3, 2, 48, 4),),
        (U(1, 3, 5, 2, 96, 4), U(1, 3, 3, 1, 96, 4)),
        (
            U(1, 3, 5, 2, 192, 4),
            U(3, 3, 3, 1, 192, 4),
            U(1, 3, 5, 1, 192, 4),
            U(2, 5, 3, 1, 192, 4),
            _mqa(192, 8, 48, 2),
            U(1, 5, 3, 1, 192, 4),
            _mqa(192, 8, 48, 2),
            U(1, 5, 3, 1, 192, 4),
            _mqa(192, 8, 48, 2),
            U(1, 5, 3, 1, 192, 4),
            _mqa(192, 8, 48, 2),
            U(1, 3, 0, 1, 192, 4),
        ),
        (
            *_V4_LARGE_STAGE_3,
            _mqa(512, 8, 64),
            U(1, 5, 0, 1, 512, 4),
            _mqa(512, 8, 64),
            U(1, 5, 0, 1, 512, 4),
            _mqa(512, 8, 64),
            U(1, 5, 0, 1, 512, 4),
            _mqa(512, 8, 64),
            U(1, 5, 0, 1, 512, 4),
        ),
        _V4_HEAD,
    ),
}
