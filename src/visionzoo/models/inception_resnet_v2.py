"""Inception-ResNet-v2 (Szegedy et al. 2016, "Inception-v4, Inception-ResNet and the Impact of Residual
Connections on Learning").

State dict keys follow timm's layout: stem `conv2d_1a ... conv2d_4a`, `mixed_5b`, `repeat` (10 x Block35),
`mixed_6a`, `repeat_1` (20 x Block17), `mixed_7a`, `repeat_2` (9 x Block8), `block8`, `conv2d_7b` and
`classif`, so the `timm/inception_resnet_v2.*` checkpoints (converted from TensorFlow) load unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers.branches import ConcatBranches, valid_avg_pool3x3
from ..layers.conv_norm_act import inception_conv as conv
from ..registry import register_variants
from ..utils.checks import check_output_stride
from ._stepped import SteppedCNN

__all__ = ["InceptionResnetV2", "ScaledResidual", "VARIANTS"]


class Mixed5b(ConcatBranches):
    """192 -> 320 channels: 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg pool -> 1x1."""

    def __init__(self):
        super().__init__()
        self.branch0 = conv(192, 96, 1)
        self.branch1 = nn.Sequential(conv(192, 48, 1), conv(48, 64, 5, padding=2))
        self.branch2 = nn.Sequential(conv(192, 64, 1), conv(64, 96, 3, padding=1), conv(96, 96, 3, padding=1))
        self.branch3 = nn.Sequential(valid_avg_pool3x3(), conv(192, 64, 1))


class Mixed6a(ConcatBranches):
    """35 -> 17 (320 -> 1088 channels): 3x3/2 | 1x1 -> 3x3 -> 3x3/2 | 3x3/2 max pool."""

    def __init__(self):
        super().__init__()
        self.branch0 = conv(320, 384, 3, stride=2)
        self.branch1 = nn.Sequential(
            conv(320, 256, 1), conv(256, 256, 3, padding=1), conv(256, 384, 3, stride=2)
        )
        self.branch2 = nn.MaxPool2d(3, 2)


class Mixed7a(ConcatBranches):
    """17 -> 8 (1088 -> 2080 channels): three 1x1 -> 3x3/2 branches and a 3x3/2 max pool."""

    def __init__(self):
        super().__init__()
        self.branch0 = nn.Sequential(conv(1088, 256, 1), conv(256, 384, 3, stride=2))
        self.branch1 = nn.Sequential(conv(1088, 256, 1), conv(256, 288, 3, stride=2))
        self.branch2 = nn.Sequential(
            conv(1088, 256, 1), conv(256, 288, 3, padding=1), conv(288, 320, 3, stride=2)
        )
        self.branch3 = nn.MaxPool2d(3, 2)


class ScaledResidual(nn.Module):
    """Inception-ResNet block: concatenated branches -> 1x1 conv (`conv2d`, with bias) back to the input
    width, scaled by `scale`, added to the input, then ReLU (unless `relu=False`)."""

    def __init__(self, chs: int, branches: list[nn.Module], branch_chs: int, scale: float, relu: bool = True):
        super().__init__()
        for i, branch in enumerate(branches):
            self.add_module(f"branch{i}", branch)
        self.num_branches = len(branches)
        self.conv2d = nn.Conv2d(branch_chs, chs, 1)
        self.scale = scale
        self.act = nn.ReLU() if relu else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, H, W)
        y = torch.cat([getattr(self, f"branch{i}")(x) for i in range(self.num_branches)], 1)
        return self.act(self.conv2d(y) * self.scale + x)


def block35(scale: float = 0.17) -> ScaledResidual:
    """35x35 residual block (320 channels)."""
    return ScaledResidual(
        320,
        [
            conv(320, 32, 1),
            nn.Sequential(conv(320, 32, 1), conv(32, 32, 3, padding=1)),
            nn.Sequential(conv(320, 32, 1), conv(32, 48, 3, padding=1), conv(48, 64, 3, padding=1)),
        ],
        128,
        scale,
    )


def block17(scale: float = 0.10) -> ScaledResidual:
    """17x17 residual block (1088 channels) with a factorised 7x7 branch."""
    branch1 = nn.Sequential(
        conv(1088, 128, 1), conv(128, 160, (1, 7), padding=(0, 3)), conv(160, 192, (7, 1), padding=(3, 0))
    )
    return ScaledResidual(1088, [conv(1088, 192, 1), branch1], 384, scale)


def block8(scale: float = 0.20, relu: bool = True) -> ScaledResidual:
    """8x8 residual block (2080 channels) with a factorised 3x3 branch."""
    branch1 = nn.Sequential(
        conv(2080, 192, 1), conv(192, 224, (1, 3), padding=(0, 1)), conv(224, 256, (3, 1), padding=(1, 0))
    )
    return ScaledResidual(2080, [conv(2080, 192, 1), branch1], 448, scale, relu)


class InceptionResnetV2(SteppedCNN):
    """Inception-ResNet-v2 classifier (layout in the module docstring), pool, `classif`.
    Inputs need at least 75x75 pixels.

    Args:
        num_repeats: how many Block35, Block17 and Block8 in `repeat`, `repeat_1`, `repeat_2` (the paper's
            10, 20, 9; fewer for quick tests).
        num_classes: classifier size; 0 gives pooled features.
        in_chans: input image channels.
        global_pool: 'avg', 'max', 'avgmax', 'catavgmax', or '' (only with num_classes=0).
        drop_rate: dropout before the classifier.
        output_stride: 32 only (accepted for timm-style code; Inception-ResNet-v2 has no dilated stages).
    """

    classifier_name = "classif"

    def __init__(
        self,
        num_repeats: tuple[int, int, int] = (10, 20, 9),
        num_classes: int = 1000,
        in_chans: int = 3,
        global_pool: str = "avg",
        drop_rate: float = 0.0,
        output_stride: int = 32,
    ):
        super().__init__()
        check_output_stride(output_stride, (32,))
        if len(num_repeats) != 3 or any(not isinstance(n, int) or n < 1 for n in num_repeats):
            raise ValueError(f"num_repeats must be three ints >= 1, got {num_repeats!r}")
        self.conv2d_1a = conv(in_chans, 32, 3, stride=2)
        self.conv2d_2a = conv(32, 32, 3)
        self.conv2d_2b = conv(32, 64, 3, padding=1)
        self.maxpool_3a = nn.MaxPool2d(3, 2)
        self.conv2d_3b = conv(64, 80, 1)
        self.conv2d_4a = conv(80, 192, 3)
        self.maxpool_5a = nn.MaxPool2d(3, 2)
        self.mixed_5b = Mixed5b()
        self.repeat = nn.Sequential(*[block35() for _ in range(num_repeats[0])])
        self.mixed_6a = Mixed6a()
        self.repeat_1 = nn.Sequential(*[block17() for _ in range(num_repeats[1])])
        self.mixed_7a = Mixed7a()
        self.repeat_2 = nn.Sequential(*[block8() for _ in range(num_repeats[2])])
        self.block8 = block8(scale=1.0, relu=False)
        self.conv2d_7b = conv(2080, 1536, 1)
        steps = [name for name, _ in self.named_children()]
        taps = [("conv2d_2b", 64, 2), ("conv2d_4a", 192, 4), ("repeat", 320, 8), ("repeat_1", 1088, 16)]
        taps.append(("conv2d_7b", 1536, 32))
        info = [dict(num_chs=c, reduction=r, module=n) for n, c, r in taps]
        self._init_steps(steps, info, [steps.index(n) for n, _, _ in taps])
        self._init_head(1536, num_classes, global_pool, drop_rate)

    def group_matcher(self, coarse: bool = False) -> dict:
        """Stem `conv2d_1a/2a/2b`, then `conv2d_3b/4a`, one group per later layer, `block8` + `conv2d_7b` last."""
        later = [g for g in self.step_groups() if not g[0].startswith(("^conv2d_", "^block8"))]
        return dict(
            stem=r"^conv2d_[12]",
            blocks=[(r"^conv2d_[34]", (0,)), *later, (r"^(?:block8|conv2d_7b)\.", (len(self.step_names),))],
        )


VARIANTS: dict[str, dict] = {"inception_resnet_v2": {}}

register_variants(VARIANTS, InceptionResnetV2)
