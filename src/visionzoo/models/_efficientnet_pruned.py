"""Per-layer widths of the pruned EfficientNet-B1/B2/B3 (Aflalo et al. 2020, "Knapsack pruning").

Architecture facts: the numbers were read off the layer shapes timm 1.0.31 lists for these models
(`timm/models/_pruned/efficientnet_b*_pruned.txt`). Each stage gives its output channels and, per block,
(depthwise width, squeeze-excite bottleneck); the depthwise width of an inverted residual is its expanded
width, that of the first stage's depthwise-separable blocks their input width. Stem and head keep the
unpruned widths.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PrunedWidths", "PRUNED_WIDTHS"]


@dataclass(frozen=True)
class PrunedWidths:
    """Stem and head widths, and per stage (out_chs, ((dw_chs, se_chs) per block))."""

    stem: int
    head: int
    stages: tuple[tuple[int, tuple[tuple[int, int], ...]], ...]


PRUNED_WIDTHS: dict[str, PrunedWidths] = {
    "efficientnet_b1_pruned": PrunedWidths(
        stem=32,
        head=1280,
        stages=(
            (16, ((32, 8), (16, 4))),
            (12, ((48, 4), (62, 6), (48, 6))),
            (35, ((70, 6), (61, 10), (51, 10))),
            (74, ((175, 10), (188, 20), (137, 20), (164, 20))),
            (67, ((399, 20), (201, 28), (160, 28), (213, 28))),
            (192, ((637, 27), (806, 48), (798, 48), (891, 48), (990, 48))),
            (320, ((1152, 48), (1912, 80))),
        ),
    ),
    "efficientnet_b2_pruned": PrunedWidths(
        stem=32,
        head=1408,
        stages=(
            (16, ((32, 8), (16, 4))),
            (17, ((54, 4), (69, 6), (61, 6))),
            (42, ((86, 6), (72, 12), (98, 12))),
            (85, ((245, 12), (274, 22), (254, 22), (292, 22))),
            (116, ((502, 22), (315, 30), (354, 30), (443, 30))),
            (208, ((719, 30), (1148, 52), (1160, 52), (1182, 52), (1228, 52))),
            (352, ((1248, 52), (2112, 88))),
        ),
    ),
    "efficientnet_b3_pruned": PrunedWidths(
        stem=40,
        head=1536,
        stages=(
            (24, ((40, 10), (24, 6))),
            (12, ((27, 6), (49, 8), (48, 8))),
            (40, ((83, 8), (90, 12), (85, 12))),
            (93, ((215, 12), (261, 24), (219, 24), (254, 24), (236, 24))),
            (120, ((480, 24), (235, 34), (217, 34), (226, 33), (340, 34))),
            (232, ((802, 34), (1030, 58), (924, 58), (1016, 58), (1130, 58), (1266, 58))),
            (384, ((1392, 58), (2301, 96))),
        ),
    ),
}
