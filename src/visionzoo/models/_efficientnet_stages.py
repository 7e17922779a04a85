"""Stage tables of the architectures of `efficientnet.py` (EfficientNet, -Lite, -V2, -EdgeTPU, MobileNetV1/V2,
MNASNet, FBNet-C, SPNASNet, MixNet, TinyNet, ...).

One tuple of `BlockDef(kind, repeats, kernel, stride, out_chs, exp_ratio, se_ratio, ...)` per stage; channel
counts are those of width 1, depth those of depth 1.
"""

from __future__ import annotations

from ._efficient_blocks import BlockDef
from ._efficientnet_pruned import PRUNED_WIDTHS, PrunedWidths

__all__ = ["STAGES"]

B = BlockDef

# Stage tables: one tuple of BlockDef(kind, repeats, kernel, stride, out_chs, exp_ratio, se_ratio, ...) per stage.
_EFFNET = (
    (B("ds", 1, 3, 1, 16, 1, 0.25),),
    (B("ir", 2, 3, 2, 24, 6, 0.25),),
    (B("ir", 2, 5, 2, 40, 6, 0.25),),
    (B("ir", 3, 3, 2, 80, 6, 0.25),),
    (B("ir", 3, 5, 1, 112, 6, 0.25),),
    (B("ir", 4, 5, 2, 192, 6, 0.25),),
    (B("ir", 1, 3, 1, 320, 6, 0.25),),
)
_V2_S = (
    (B("cn", 2, 3, 1, 24, skip=True),),
    (B("er", 4, 3, 2, 48, 4),),
    (B("er", 4, 3, 2, 64, 4),),
    (B("ir", 6, 3, 2, 128, 4, 0.25),),
    (B("ir", 9, 3, 1, 160, 6, 0.25),),
    (B("ir", 15, 3, 2, 256, 6, 0.25),),
)
STAGES: dict[str, tuple[tuple[BlockDef, ...], ...]] = {
    "efficientnet": _EFFNET,
    # Lite: no squeeze-excite (and ReLU6, set by the variant rows)
    "efficientnet_lite": tuple(
        (B(d.kind, d.repeats, d.kernel, d.stride, d.out_chs, d.exp_ratio),) for (d,) in _EFFNET
    ),
    "mobilenetv2": (
        (B("ds", 1, 3, 1, 16),),
        (B("ir", 2, 3, 2, 24, 6),),
        (B("ir", 3, 3, 2, 32, 6),),
        (B("ir", 4, 3, 2, 64, 6),),
        (B("ir", 3, 3, 1, 96, 6),),
        (B("ir", 3, 3, 2, 160, 6),),
        (B("ir", 1, 3, 1, 320, 6),),
    ),
    "efficientnetv2_b0": (
        (B("cn", 1, 3, 1, 16, skip=True),),
        (B("er", 2, 3, 2, 32, 4),),
        (B("er", 2, 3, 2, 48, 4),),
        (B("ir", 3, 3, 2, 96, 4, 0.25),),
        (B("ir", 5, 3, 1, 112, 6, 0.25),),
        (B("ir", 8, 3, 2, 192, 6, 0.25),),
    ),
    "efficientnetv2_s": _V2_S,
    # the first "rw" small model: edge-residual first stage and a wider last stage
    "efficientnetv2_rw_s": ((B("er", 2, 3, 1, 24, 1),), *_V2_S[1:-1], (B("ir", 15, 3, 2, 272, 6, 0.25),)),
    "efficientnetv2_m": (
        (B("cn", 3, 3, 1, 24, skip=True),),
        (B("er", 5, 3, 2, 48, 4),),
        (B("er", 5, 3, 2, 80, 4),),
        (B("ir", 7, 3, 2, 160, 4, 0.25),),
        (B("ir", 14, 3, 1, 176, 6, 0.25),),
        (B("ir", 18, 3, 2, 304, 6, 0.25),),
        (B("ir", 5, 3, 1, 512, 6, 0.25),),
    ),
    "efficientnetv2_l": (
        (B("cn", 4, 3, 1, 32, skip=True),),
        (B("er", 7, 3, 2, 64, 4),),
        (B("er", 7, 3, 2, 96, 4),),
        (B("ir", 10, 3, 2, 192, 4, 0.25),),
        (B("ir", 19, 3, 1, 224, 6, 0.25),),
        (B("ir", 25, 3, 2, 384, 6, 0.25),),
        (B("ir", 7, 3, 1, 640, 6, 0.25),),
    ),
}


def _edgetpu_v2(chs: tuple[int, ...], group_size: int) -> tuple[tuple[BlockDef, ...], ...]:
    """MobileNet-EdgeTPU-V2 at stage widths `chs`: fused (some grouped) blocks early, inverted residuals late."""
    g = group_size
    return (
        (B("cn", 1, 1, 1, chs[0]),),  # with expansion 1 the first block is only a 1x1 projection
        (B("er", 1, 3, 2, chs[1], 8), B("er", 1, 3, 1, chs[1], 4, group_size=g)),
        (
            B("er", 1, 3, 2, chs[2], 8),
            B("er", 1, 3, 1, chs[2], 4, group_size=g),
            B("er", 1, 3, 1, chs[2], 4),
            B("er", 1, 3, 1, chs[2], 4, group_size=g),
        ),
        (B("er", 1, 3, 2, chs[3], 8), B("ir", 3, 3, 1, chs[3], 4)),
        (B("ir", 1, 3, 1, chs[4], 8), B("ir", 3, 3, 1, chs[4], 4)),
        (B("ir", 1, 3, 2, chs[5], 8), B("ir", 3, 3, 1, chs[5], 4)),
        (B("ir", 1, 3, 1, chs[6], 8),),
    )


STAGES |= {
    "efficientnet_edge": (
        (B("er", 1, 3, 1, 24, 4, skip=False, force_in_chs=24),),
        (B("er", 2, 3, 2, 32, 8),),
        (B("er", 4, 3, 2, 48, 8),),
        (B("ir", 5, 5, 2, 96, 8),),
        (B("ir", 4, 5, 1, 144, 8),),
        (B("ir", 2, 5, 2, 192, 8),),
    ),
    "efficientnetv2_xl": (
        (B("cn", 4, 3, 1, 32, skip=True),),
        (B("er", 8, 3, 2, 64, 4),),
        (B("er", 8, 3, 2, 96, 4),),
        (B("ir", 16, 3, 2, 192, 4, 0.25),),
        (B("ir", 24, 3, 1, 256, 6, 0.25),),
        (B("ir", 32, 3, 2, 512, 6, 0.25),),
        (B("ir", 8, 3, 1, 640, 6, 0.25),),
    ),
    "mobilenetv1": (
        (B("dsa", 1, 3, 1, 64),),
        (B("dsa", 2, 3, 2, 128),),
        (B("dsa", 2, 3, 2, 256),),
        (B("dsa", 6, 3, 2, 512),),
        (B("dsa", 2, 3, 2, 1024),),
    ),
    "mnasnet_a1": (
        (B("ds", 1, 3, 1, 16, skip=False),),
        (B("ir", 2, 3, 2, 24, 6),),
        (B("ir", 3, 5, 2, 40, 3, 0.25),),
        (B("ir", 4, 3, 2, 80, 6),),
        (B("ir", 2, 3, 1, 112, 6, 0.25),),
        (B("ir", 3, 5, 2, 160, 6, 0.25),),
        (B("ir", 1, 3, 1, 320, 6),),
    ),
    "mnasnet_b1": (
        (B("ds", 1, 3, 1, 16, skip=False),),
        (B("ir", 3, 3, 2, 24, 3),),
        (B("ir", 3, 5, 2, 40, 3),),
        (B("ir", 3, 5, 2, 80, 6),),
        (B("ir", 2, 3, 1, 96, 6),),
        (B("ir", 4, 5, 2, 192, 6),),
        (B("ir", 1, 3, 1, 320, 6, skip=False),),
    ),
    "mnasnet_small": (
        (B("ds", 1, 3, 1, 8),),
        (B("ir", 1, 3, 2, 16, 3),),
        (B("ir", 2, 3, 2, 16, 6),),
        (B("ir", 4, 5, 2, 32, 6, 0.25),),
        (B("ir", 3, 3, 1, 32, 6, 0.25),),
        (B("ir", 3, 5, 2, 88, 6, 0.25),),
        (B("ir", 1, 3, 1, 144, 6),),
    ),
    "spnasnet": (
        (B("ds", 1, 3, 1, 16, skip=False),),
        (B("ir", 3, 3, 2, 24, 3),),
        (B("ir", 1, 5, 2, 40, 6), B("ir", 3, 3, 1, 40, 3)),
        (B("ir", 1, 5, 2, 80, 6), B("ir", 3, 3, 1, 80, 3)),
        (B("ir", 1, 5, 1, 96, 6), B("ir", 3, 5, 1, 96, 3)),
        (B("ir", 4, 5, 2, 192, 6),),
        (B("ir", 1, 3, 1, 320, 6, skip=False),),
    ),
    "fbnetc": (
        (B("ir", 1, 3, 1, 16, 1),),
        (B("ir", 1, 3, 2, 24, 6), B("ir", 2, 3, 1, 24, 1)),
        (B("ir", 1, 5, 2, 32, 6), B("ir", 1, 5, 1, 32, 3), B("ir", 1, 5, 1, 32, 6), B("ir", 1, 3, 1, 32, 6)),
        (B("ir", 1, 5, 2, 64, 6), B("ir", 1, 5, 1, 64, 3), B("ir", 2, 5, 1, 64, 6)),
        (B("ir", 3, 5, 1, 112, 6), B("ir", 1, 5, 1, 112, 3)),
        (B("ir", 4, 5, 2, 184, 6),),
        (B("ir", 1, 3, 1, 352, 6),),
    ),
    "mobilenet_edgetpu": (
        (B("cn", 1, 1, 1, 16),),
        (B("er", 1, 3, 2, 32, 8), B("er", 3, 3, 1, 32, 4)),
        (B("er", 1, 3, 2, 48, 8), B("er", 3, 3, 1, 48, 4)),
        (B("ir", 1, 3, 2, 96, 8), B("ir", 3, 3, 1, 96, 4)),
        (B("ir", 1, 3, 1, 96, 8, skip=False), B("ir", 3, 3, 1, 96, 4)),
        (B("ir", 1, 5, 2, 160, 8), B("ir", 3, 5, 1, 160, 4)),
        (B("ir", 1, 3, 1, 192, 8),),
    ),
    "mobilenet_edgetpu_v2_xs": _edgetpu_v2((16, 32, 48, 96, 144, 160, 192), 64),
    "mobilenet_edgetpu_v2_s": _edgetpu_v2((24, 48, 64, 128, 160, 192, 256), 64),
    "mobilenet_edgetpu_v2_m": _edgetpu_v2((32, 64, 80, 160, 192, 240, 320), 64),
    "mobilenet_edgetpu_v2_l": _edgetpu_v2((32, 64, 96, 192, 240, 256, 384), 128),
    "test_efficientnet": (
        (B("cn", 1, 3, 1, 16, skip=True),),
        (B("er", 1, 3, 2, 24, 4),),
        (B("er", 1, 3, 2, 32, 4),),
        (B("ir", 1, 3, 2, 48, 4, 0.25),),
        (B("ir", 1, 3, 2, 64, 4, 0.25),),
    ),
}


def _mix(
    repeats: int,
    kernel: int | tuple[int, ...],
    stride: int,
    out_chs: int,
    exp: float,
    se: float = 0.0,
    grouped_pw: tuple[bool, bool] = (False, False),
    swish: bool = True,
) -> BlockDef:
    """A MixNet inverted residual: `kernel` a tuple for a mixed depthwise conv; `grouped_pw` makes the
    (expansion, projection) 1x1 convs two-group convs."""
    exp_k, pwl_k = ((1, 1) if g else 1 for g in grouped_pw)
    act = "swish" if swish else None
    return B("ir", repeats, kernel, stride, out_chs, exp, se, act=act, exp_kernel=exp_k, pwl_kernel=pwl_k)


M = _mix
_BOTH, _EXP, _PWL = (True, True), (True, False), (False, True)

STAGES |= {
    "mixnet_s": (
        (B("ds", 1, 3, 1, 16),),
        (M(1, 3, 2, 24, 6, grouped_pw=_BOTH, swish=False), M(1, 3, 1, 24, 3, grouped_pw=_BOTH, swish=False)),
        (M(1, (3, 5, 7), 2, 40, 6, 0.5), M(3, (3, 5), 1, 40, 6, 0.5, _BOTH)),
        (M(1, (3, 5, 7), 2, 80, 6, 0.25, _PWL), M(2, (3, 5), 1, 80, 6, 0.25, _PWL)),
        (M(1, (3, 5, 7), 1, 120, 6, 0.5, _BOTH), M(2, (3, 5, 7, 9), 1, 120, 3, 0.5, _BOTH)),
        (M(1, (3, 5, 7, 9, 11), 2, 200, 6, 0.5), M(2, (3, 5, 7, 9), 1, 200, 6, 0.5, _PWL)),
    ),
    "mixnet_m": (
        (B("ds", 1, 3, 1, 24),),
        (
            M(1, (3, 5, 7), 2, 32, 6, grouped_pw=_BOTH, swish=False),
            M(1, 3, 1, 32, 3, grouped_pw=_BOTH, swish=False),
        ),
        (M(1, (3, 5, 7, 9), 2, 40, 6, 0.5), M(3, (3, 5), 1, 40, 6, 0.5, _BOTH)),
        (M(1, (3, 5, 7), 2, 80, 6, 0.25), M(3, (3, 5, 7, 9), 1, 80, 6, 0.25, _BOTH)),
        (M(1, 3, 1, 120, 6, 0.5), M(3, (3, 5, 7, 9), 1, 120, 3, 0.5, _BOTH)),
        (M(1, (3, 5, 7, 9), 2, 200, 6, 0.5), M(3, (3, 5, 7, 9), 1, 200, 6, 0.5, _PWL)),
    ),
}


def _condconv(experts: int) -> tuple[tuple[BlockDef, ...], ...]:
    """EfficientNet-B0's table with CondConv (`experts` kernels per conv) in the last three stages."""
    late = tuple(
        (B("cc", d.repeats, d.kernel, d.stride, d.out_chs, 6, 0.25, experts=experts),) for (d,) in _EFFNET[4:]
    )
    return (*_EFFNET[:4], *late)


STAGES |= {"efficientnet_cc4": _condconv(4), "efficientnet_cc8": _condconv(8)}


def _effnet_x(early_exp: float) -> tuple[tuple[BlockDef, ...], ...]:
    """EfficientNet-X (Li et al. 2021): space-to-depth in the first stage, ReLU fused (edge) blocks in the next
    two, expansion `early_exp` in stages 1-3 (6: X, 4: the "H" version)."""
    e = early_exp
    return (
        (B("ds", 1, 3, 1, 16, 1, 0.25, s2d=1),),
        (B("er", 2, 3, 2, 24, e, 0.25, act="relu"),),
        (B("er", 2, 5, 2, 40, e, 0.25, act="relu"),),
        (B("ir", 3, 3, 2, 80, e, 0.25),),
        *_EFFNET[4:],
    )


STAGES |= {"efficientnet_x": _effnet_x(6), "efficientnet_h": _effnet_x(4)}


def _pruned(widths: PrunedWidths) -> tuple[tuple[BlockDef, ...], ...]:
    """EfficientNet's table with one def per block, each with its pruned widths (used at width and depth 1)."""
    stages = []
    for (d,), (out_chs, blocks) in zip(_EFFNET, widths.stages, strict=True):
        defs = []
        for j, (dw_chs, se_chs) in enumerate(blocks):
            mid = 0 if d.kind == "ds" else dw_chs  # a 'ds' block's depthwise width is its input width
            stride = d.stride if j == 0 else 1
            defs.append(
                B(d.kind, 1, d.kernel, stride, out_chs, d.exp_ratio, d.se_ratio, mid_chs=mid, se_chs=se_chs)
            )
        stages.append(tuple(defs))
    return tuple(stages)


STAGES |= {name: _pruned(w) for name, w in PRUNED_WIDTHS.items()}
