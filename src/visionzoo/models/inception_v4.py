"""Inception v4 (Szegedy et al. 2016, "Inception-v4, Inception-ResNet and the Impact of Residual
Connections on Learning").

State dict keys follow timm's layout: `features.0..21` (stem convs, Mixed3a/4a/5a, 4 x Inception-A,
Reduction-A, 7 x Inception-B, Reduction-B, 3 x Inception-C; branches `branchN`, each conv `conv` + `bn`)
and `last_linear`, so the `timm/inception_v4.tf_in1k` checkpoint loads unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers.branches import ConcatBranches, valid_avg_pool3x3
from ..layers.conv_norm_act import inception_conv as conv
from ..registry import register_variants
from ..utils.checks import check_output_stride
from ._stepped import SteppedCNN

__all__ = ["InceptionV4", "VARIANTS"]


class Mixed3a(nn.Module):
    """3x3/2 max pool | 3x3/2 conv (64 -> 160 channels)."""

    def __init__(self):
        super().__init__()
        self.maxpool = nn.MaxPool2d(3, 2)
        self.conv = conv(64, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.maxpool(x), self.conv(x)], 1)


class Mixed4a(ConcatBranches):
    """1x1 -> 3x3 | 1x1 -> 1x7 -> 7x1 -> 3x3 (160 -> 192 channels, unpadded 3x3s)."""

    def __init__(self):
        super().__init__()
        self.branch0 = nn.Sequential(conv(160, 64, 1), conv(64, 96, 3))
        self.branch1 = nn.Sequential(
            conv(160, 64, 1),
            conv(64, 64, (1, 7), padding=(0, 3)),
            conv(64, 64, (7, 1), padding=(3, 0)),
            conv(64, 96, 3),
        )


class Mixed5a(nn.Module):
    """3x3/2 conv | 3x3/2 max pool (192 -> 384 channels)."""

    def __init__(self):
        super().__init__()
        self.conv = conv(192, 192, 3, stride=2)
        self.maxpool = nn.MaxPool2d(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), self.maxpool(x)], 1)


class InceptionA(ConcatBranches):
    """35x35 block (384 channels): 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 -> 3x3 | avg pool -> 1x1."""

    def __init__(self):
        super().__init__()
        self.branch0 = conv(384, 96, 1)
        self.branch1 = nn.Sequential(conv(384, 64, 1), conv(64, 96, 3, padding=1))
        self.branch2 = nn.Sequential(conv(384, 64, 1), conv(64, 96, 3, padding=1), conv(96, 96, 3, padding=1))
        self.branch3 = nn.Sequential(valid_avg_pool3x3(), conv(384, 96, 1))


class ReductionA(ConcatBranches):
    """35 -> 17 (384 -> 1024 channels): 3x3/2 | 1x1 -> 3x3 -> 3x3/2 | 3x3/2 max pool."""

    def __init__(self):
        super().__init__()
        self.branch0 = conv(384, 384, 3, stride=2)
        self.branch1 = nn.Sequential(
            conv(384, 192, 1), conv(192, 224, 3, padding=1), conv(224, 256, 3, stride=2)
        )
        self.branch2 = nn.MaxPool2d(3, 2)


class InceptionB(ConcatBranches):
    """17x17 block (1024 channels) with factorised 7x7 convs."""

    def __init__(self):
        super().__init__()
        self.branch0 = conv(1024, 384, 1)
        self.branch1 = nn.Sequential(
            conv(1024, 192, 1), conv(192, 224, (1, 7), padding=(0, 3)), conv(224, 256, (7, 1), padding=(3, 0))
        )
        self.branch2 = nn.Sequential(
            conv(1024, 192, 1),
            conv(192, 192, (7, 1), padding=(3, 0)),
            conv(192, 224, (1, 7), padding=(0, 3)),
            conv(224, 224, (7, 1), padding=(3, 0)),
            conv(224, 256, (1, 7), padding=(0, 3)),
        )
        self.branch3 = nn.Sequential(valid_avg_pool3x3(), conv(1024, 128, 1))


class ReductionB(ConcatBranches):
    """17 -> 8 (1024 -> 1536 channels): 1x1 -> 3x3/2 | 1x1 -> 1x7 -> 7x1 -> 3x3/2 | 3x3/2 max pool."""

    def __init__(self):
        super().__init__()
        self.branch0 = nn.Sequential(conv(1024, 192, 1), conv(192, 192, 3, stride=2))
        self.branch1 = nn.Sequential(
            conv(1024, 256, 1),
            conv(256, 256, (1, 7), padding=(0, 3)),
            conv(256, 320, (7, 1), padding=(3, 0)),
            conv(320, 320, 3, stride=2),
        )
        self.branch2 = nn.MaxPool2d(3, 2)


class InceptionC(nn.Module):
    """8x8 block (1536 channels) whose 3x3 branches end in parallel 1x3 and 3x1 convs."""

    def __init__(self):
        super().__init__()
        self.branch0 = conv(1536, 256, 1)
        self.branch1_0 = conv(1536, 384, 1)
        self.branch1_1a = conv(384, 256, (1, 3), padding=(0, 1))
        self.branch1_1b = conv(384, 256, (3, 1), padding=(1, 0))
        self.branch2_0 = conv(1536, 384, 1)
        self.branch2_1 = conv(384, 448, (3, 1), padding=(1, 0))
        self.branch2_2 = conv(448, 512, (1, 3), padding=(0, 1))
        self.branch2_3a = conv(512, 256, (1, 3), padding=(0, 1))
        self.branch2_3b = conv(512, 256, (3, 1), padding=(1, 0))
        self.branch3 = nn.Sequential(valid_avg_pool3x3(), conv(1536, 256, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1536, H, W) -> (B, 1536, H, W)
        b1 = self.branch1_0(x)
        b1 = torch.cat([self.branch1_1a(b1), self.branch1_1b(b1)], 1)
        b2 = self.branch2_2(self.branch2_1(self.branch2_0(x)))
        b2 = torch.cat([self.branch2_3a(b2), self.branch2_3b(b2)], 1)
        return torch.cat([self.branch0(x), b1, b2, self.branch3(x)], 1)


class InceptionV4(SteppedCNN):
    """Inception v4 classifier: `features` (stem and Inception blocks, see the module docstring), pool,
    `last_linear`. Inputs need at least 75x75 pixels.

    Args:
        num_blocks: how many Inception-A, -B and -C blocks (the paper's 4, 7, 3; fewer for quick tests).
        num_classes: classifier size; 0 gives pooled features.
        in_chans: input image channels.
        global_pool: 'avg', 'max', 'avgmax', 'catavgmax', or '' (only with num_classes=0).
        drop_rate: dropout before the classifier.
        output_stride: 32 only (accepted for timm-style code; Inception v4 has no dilated stages).
    """

    feature_key_layout = "flat"

    classifier_name = "last_linear"

    def __init__(
        self,
        num_blocks: tuple[int, int, int] = (4, 7, 3),
        num_classes: int = 1000,
        in_chans: int = 3,
        global_pool: str = "avg",
        drop_rate: float = 0.0,
        output_stride: int = 32,
    ):
        super().__init__()
        check_output_stride(output_stride, (32,))
        if len(num_blocks) != 3 or any(not isinstance(n, int) or n < 1 for n in num_blocks):
            raise ValueError(f"num_blocks must be three ints >= 1 (Inception-A, -B, -C), got {num_blocks!r}")
        a, b, c = num_blocks
        layers = [conv(in_chans, 32, 3, stride=2), conv(32, 32, 3), conv(32, 64, 3, padding=1)]
        layers += [Mixed3a(), Mixed4a(), Mixed5a()]
        layers += [InceptionA() for _ in range(a)] + [ReductionA()]
        layers += [InceptionB() for _ in range(b)] + [ReductionB()]
        layers += [InceptionC() for _ in range(c)]
        self.features = nn.Sequential(*layers)
        # the maps: stem, Mixed3a, and the last block at each of the three grid sizes
        taps = [(2, 64, 2), (3, 160, 4), (5 + a, 384, 8), (6 + a + b, 1024, 16), (7 + a + b + c, 1536, 32)]
        info = [dict(num_chs=c, reduction=r, module=f"features.{i}") for i, c, r in taps]
        self._init_steps([f"features.{i}" for i in range(len(layers))], info, [i for i, _, _ in taps])
        self._init_head(1536, num_classes, global_pool, drop_rate)

    def group_matcher(self, coarse: bool = False) -> dict:
        return dict(stem=r"^features\.[012]\.", blocks=r"^features\.(\d+)")


VARIANTS: dict[str, dict] = {"inception_v4": {}}

register_variants(VARIANTS, InceptionV4)
