"""The named ResNet variants: rows of `ResNet` options, composed from a depth, a stem and a block recipe.

Names follow timm's: a suffix letter is the stem (c: deep, d: deep + average-pool shortcuts, s: wide deep,
t: tiered deep + average-pool shortcuts), a prefix the block recipe (se, eca, aa / blur anti-aliasing),
`resnext..._GxWd` the cardinality G and group width W, and `resnetrs` ResNet-RS.
"""

from __future__ import annotations

__all__ = ["VARIANTS", "PRUNED_WIDTHS"]

_BASIC, _BOTTLE = "basic", "bottleneck"

# depth name -> (block, blocks per stage)
_DEPTHS: dict[str, tuple[str, tuple[int, int, int, int]]] = {
    "10": (_BASIC, (1, 1, 1, 1)),
    "14": (_BOTTLE, (1, 1, 1, 1)),
    "18": (_BASIC, (2, 2, 2, 2)),
    "26": (_BOTTLE, (2, 2, 2, 2)),
    "34": (_BASIC, (3, 4, 6, 3)),
    "50": (_BOTTLE, (3, 4, 6, 3)),
    "101": (_BOTTLE, (3, 4, 23, 3)),
    "152": (_BOTTLE, (3, 8, 36, 3)),
    "200": (_BOTTLE, (3, 24, 36, 3)),
    "269": (_BOTTLE, (3, 30, 48, 8)),
}

_STEMS: dict[str, dict] = {
    "": {},
    "c": dict(stem_width=32, stem_type="deep"),
    "d": dict(stem_width=32, stem_type="deep", avg_down=True),
    "s": dict(stem_width=64, stem_type="deep"),
    "t": dict(stem_width=32, stem_type="deep_tiered", avg_down=True),
}

_SE, _ECA = dict(attn="se"), dict(attn="eca")
_BLUR, _AA = dict(aa="blur"), dict(aa="avg")


def _row(depth: str, stem: str = "", *recipes: dict, **extra) -> dict:
    """A variant: the depth's blocks, the stem, then block recipes and extra options merged in order."""
    block, layers = _DEPTHS[depth]
    row: dict = dict(block=block, layers=layers, **_STEMS[stem])
    for recipe in recipes:
        row.update(recipe)
    row.update(extra)
    return row


def _x(groups: int, width: int) -> dict:
    """ResNeXt: `groups` groups of `width` channels in the first stage's 3x3 conv."""
    return dict(cardinality=groups, base_width=width)


# Per-block (1x1, 3x3, output) widths of the Knapsack-pruned ECA-ResNets (Aflalo et al. 2020), one tuple
# per stage of (output width, [(1x1, 3x3), ...]); facts of the published checkpoints.
_PRUNED_50D = (
    (19, [(47, 18), (52, 22), (64, 35)]),
    (171, [(85, 37), (107, 80), (120, 85), (125, 87)]),
    (818, [(198, 126), (255, 232), (256, 233), (253, 235), (256, 225), (256, 239)]),
    (2022, [(492, 237), (512, 500), (512, 490)]),
)
_PRUNED_101D = (
    (26, [(45, 25), (53, 20), (60, 27)]),
    (142, [(81, 24), (93, 49), (102, 54), (122, 78)]),
    (
        278,
        [
            (101, 25), (239, 160), (234, 156), (250, 176), (253, 191), (251, 175), (230, 128), (244, 154),
            (244, 159), (238, 97), (244, 149), (253, 181), (245, 119), (255, 216), (256, 201), (253, 149),
            (254, 141), (256, 190), (256, 217), (255, 156), (256, 155), (256, 232), (256, 214),
        ],
    ),
    (2042, [(499, 289), (512, 512), (512, 502)]),
)  # fmt: skip


def _flatten(stages) -> tuple[tuple[int, int, int], ...]:
    return tuple((a, b, out) for out, blocks in stages for a, b in blocks)


PRUNED_WIDTHS = {"ecaresnet50d_pruned": _flatten(_PRUNED_50D), "ecaresnet101d_pruned": _flatten(_PRUNED_101D)}

# ResNet-RS: deep stem with a strided conv for the stem pool, average-pool shortcuts, SE of ratio 1/4.
_RS = dict(stem_width=32, stem_type="deep", replace_stem_pool=True, avg_down=True, attn="se", se_ratio=0.25)

VARIANTS: dict[str, dict] = {
    # plain ResNets and their stems (B: 7x7; C, D, S, T: deep)
    **{f"resnet{d}": _row(d) for d in ("18", "26", "34", "50", "101", "152", "200")},
    **{f"resnet{d}t": _row(d, "t") for d in ("10", "14", "26", "50")},
    **{f"resnet{d}d": _row(d, "d") for d in ("18", "26", "34", "50", "101", "152", "200")},
    **{f"resnet{d}{s}": _row(d, s) for s in ("c", "s") for d in ("50", "101", "152")},
    "resnet50_gn": _row("50", norm="groupnorm"),
    "wide_resnet50_2": _row("50", base_width=128),
    "wide_resnet101_2": _row("101", base_width=128),
    # ResNeXt
    "resnext50_32x4d": _row("50", "", _x(32, 4)),
    "resnext50d_32x4d": _row("50", "d", _x(32, 4)),
    "resnext101_32x4d": _row("101", "", _x(32, 4)),
    "resnext101_32x8d": _row("101", "", _x(32, 8)),
    "resnext101_32x16d": _row("101", "", _x(32, 16)),
    "resnext101_32x32d": _row("101", "", _x(32, 32)),
    "resnext101_64x4d": _row("101", "", _x(64, 4)),
    # ECA
    "ecaresnet26t": _row("26", "t", _ECA),
    "ecaresnet50d": _row("50", "d", _ECA),
    "ecaresnet50d_pruned": _row("50", "d", _ECA, block_widths=PRUNED_WIDTHS["ecaresnet50d_pruned"]),
    "ecaresnet50t": _row("50", "t", _ECA),
    "ecaresnetlight": _row("50", "", _ECA, layers=(1, 1, 11, 3), stem_width=32, avg_down=True),
    "ecaresnet101d": _row("101", "d", _ECA),
    "ecaresnet101d_pruned": _row("101", "d", _ECA, block_widths=PRUNED_WIDTHS["ecaresnet101d_pruned"]),
    "ecaresnet200d": _row("200", "d", _ECA),
    "ecaresnet269d": _row("269", "d", _ECA),
    "ecaresnext26t_32x4d": _row("26", "t", _ECA, _x(32, 4)),
    "ecaresnext50t_32x4d": _row("50", "t", _ECA, _x(32, 4)),
    # squeeze-excite
    **{f"seresnet{d}": _row(d, "", _SE) for d in ("18", "34", "50", "101", "152")},
    "seresnet50t": _row("50", "t", _SE),
    **{f"seresnet{d}d": _row(d, "d", _SE) for d in ("152", "200", "269")},
    "seresnext26d_32x4d": _row("26", "d", _SE, _x(32, 4)),
    "seresnext26t_32x4d": _row("26", "t", _SE, _x(32, 4)),
    "seresnext50_32x4d": _row("50", "", _SE, _x(32, 4)),
    "seresnext101_32x4d": _row("101", "", _SE, _x(32, 4)),
    "seresnext101_32x8d": _row("101", "", _SE, _x(32, 8)),
    "seresnext101d_32x8d": _row("101", "d", _SE, _x(32, 8)),
    "seresnext101_64x4d": _row("101", "", _SE, _x(64, 4)),
    # SENet-154: wide deep stem, 3x3 strided shortcuts, halved first conv
    "senet154": _row("152", "", _SE, _x(64, 4), stem_type="deep", down_kernel_size=3, block_reduce_first=2),
    # anti-aliased: blur pool, or 2x2 average pool
    "resnetblur18": _row("18", "", _BLUR),
    "resnetblur50": _row("50", "", _BLUR),
    "resnetblur50d": _row("50", "d", _BLUR),
    "resnetblur101d": _row("101", "d", _BLUR),
    "resnetaa34d": _row("34", "d", _AA),
    "resnetaa50": _row("50", "", _AA),
    "resnetaa50d": _row("50", "d", _AA),
    "resnetaa101d": _row("101", "d", _AA),
    "seresnetaa50d": _row("50", "d", _AA, _SE),
    "seresnextaa101d_32x8d": _row("101", "d", _AA, _SE, _x(32, 8)),
    "seresnextaa201d_32x8d": _row("101", "d", _AA, _SE, _x(32, 8), layers=(3, 24, 36, 4), stem_width=64),
    # ResNet-RS
    **{f"resnetrs{d}": _row(d, "", _RS) for d in ("50", "101", "152", "200")},
    "resnetrs270": _row("50", "", _RS, layers=(4, 29, 53, 4)),
    "resnetrs350": _row("50", "", _RS, layers=(4, 36, 72, 4)),
    "resnetrs420": _row("50", "", _RS, layers=(4, 44, 87, 4)),
    # a tiny mixed-block model for tests
    "test_resnet": _row(
        "10", "d", block=(_BASIC, _BASIC, _BOTTLE, _BASIC), stem_width=16, channels=(32, 48, 48, 96)
    ),
}
