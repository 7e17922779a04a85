"""Smaller versions of the big ResNets and RegNets for tests: keyword arguments that timm's builders and
ours both accept, so a test passes the same ones to both models.

Depth (ResNet) or width (RegNet) is reduced; every kind of block, shortcut and attention still runs. Full-size
layouts are compared on the meta device (tests/parity/test_tag_layouts.py and the family parity tests).
"""

from __future__ import annotations

from visionzoo.models.regnet import VARIANTS as REGNET_VARIANTS
from visionzoo.models.regnet import regnet_stages
from visionzoo.models.resnet import VARIANTS as RESNET_VARIANTS

__all__ = ["resnet_small", "regnet_narrow", "REGNET_WIDE"]

# (1, 1, 2, 1) blocks: one stage still has a block after its first; optionally half the stage widths.
RESNET_SHALLOW = dict(layers=(1, 1, 2, 1))
RESNET_HALF_WIDTH = dict(channels=(32, 64, 128, 256))

# RegNets whose widest stage passes this width run at 1/8 width: w0, wa and group_size divided by 8
# (w0 kept a multiple of 8), which keeps the stage structure. The SEER / SWAG sizes have 0.3-1.3 B parameters.
REGNET_WIDE = 2000


def resnet_small(arch: str, half_width: bool = False) -> dict:
    """RESNET_SHALLOW (and RESNET_HALF_WIDTH) for a ResNet of more than four blocks, except the pruned
    ones (their widths are given per block)."""
    row = RESNET_VARIANTS[arch]
    if sum(row["layers"]) > 4 and "block_widths" not in row:
        return {**RESNET_SHALLOW, **(RESNET_HALF_WIDTH if half_width else {})}
    return {}


def regnet_narrow(arch: str) -> dict:
    """The 1/8-width parameters of a RegNet wider than REGNET_WIDE, else nothing."""
    row = REGNET_VARIANTS[arch]
    if (
        regnet_stages(row["w0"], row["wa"], row["wm"], row["depth"], row["group_size"])[-1].width
        <= REGNET_WIDE
    ):
        return {}
    w0 = max(8, round(row["w0"] / 8 / 8) * 8)
    return dict(w0=w0, wa=row["wa"] * w0 / row["w0"], group_size=max(8, row["group_size"] // 8))
