"""Inception v3 (Szegedy et al. 2015, "Rethinking the Inception Architecture for Computer Vision").

State dict keys follow timm's (and torchvision's) layout: `Conv2d_1a_3x3 ... Conv2d_4a_3x3`, `Mixed_5b ...
Mixed_7c` with their branch convs (`branch1x1`, `branch5x5_1`, ...; each `conv` + `bn`) and `fc`. The
auxiliary classifier (`AuxLogits`) is not built: it only serves training, and `checkpoint_filter` drops it
from checkpoints that carry it (torchvision's).
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

from ..layers.conv_norm_act import inception_conv as conv
from ..registry import register_variants
from ._stepped import SteppedCNN

__all__ = ["InceptionV3", "checkpoint_filter", "VARIANTS"]

_log = logging.getLogger(__name__)


class InceptionA(nn.Module):
    """35x35 block: 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | 3x3 avg pool -> 1x1, concatenated."""

    def __init__(self, in_chs: int, pool_chs: int):
        super().__init__()
        self.branch1x1 = conv(in_chs, 64, 1)
        self.branch5x5_1 = conv(in_chs, 48, 1)
        self.branch5x5_2 = conv(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = conv(in_chs, 64, 1)
        self.branch3x3dbl_2 = conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = conv(96, 96, 3, padding=1)
        self.branch_pool = conv(in_chs, pool_chs, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, 224 + pool_chs, H, W)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(F.avg_pool2d(x, 3, 1, 1))
        return torch.cat([self.branch1x1(x), b5, b3, bp], 1)


class InceptionB(nn.Module):
    """Grid reduction 35 -> 17: 3x3/2 | 1x1 -> 3x3 -> 3x3/2 | 3x3/2 max pool."""

    def __init__(self, in_chs: int):
        super().__init__()
        self.branch3x3 = conv(in_chs, 384, 3, stride=2)
        self.branch3x3dbl_1 = conv(in_chs, 64, 1)
        self.branch3x3dbl_2 = conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = conv(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, 480 + C, H', W')
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), b3, F.max_pool2d(x, 3, 2)], 1)


class InceptionC(nn.Module):
    """17x17 block with factorised 7x7 convs (1x7 and 7x1) of width `c7`."""

    def __init__(self, in_chs: int, c7: int):
        super().__init__()
        self.branch1x1 = conv(in_chs, 192, 1)
        self.branch7x7_1 = conv(in_chs, c7, 1)
        self.branch7x7_2 = conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = conv(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = conv(in_chs, c7, 1)
        self.branch7x7dbl_2 = conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = conv(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = conv(in_chs, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, 768, H, W)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for i in range(1, 6):
            bd = getattr(self, f"branch7x7dbl_{i}")(bd)
        bp = self.branch_pool(F.avg_pool2d(x, 3, 1, 1))
        return torch.cat([self.branch1x1(x), b7, bd, bp], 1)


class InceptionD(nn.Module):
    """Grid reduction 17 -> 8: 1x1 -> 3x3/2 | 1x1 -> 1x7 -> 7x1 -> 3x3/2 | 3x3/2 max pool."""

    def __init__(self, in_chs: int):
        super().__init__()
        self.branch3x3_1 = conv(in_chs, 192, 1)
        self.branch3x3_2 = conv(192, 320, 3, stride=2)
        self.branch7x7x3_1 = conv(in_chs, 192, 1)
        self.branch7x7x3_2 = conv(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = conv(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = conv(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, 512 + C, H', W')
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([b3, b7, F.max_pool2d(x, 3, 2)], 1)


class InceptionE(nn.Module):
    """8x8 block whose 3x3 branches end in parallel 1x3 and 3x1 convs (concatenated)."""

    def __init__(self, in_chs: int):
        super().__init__()
        self.branch1x1 = conv(in_chs, 320, 1)
        self.branch3x3_1 = conv(in_chs, 384, 1)
        self.branch3x3_2a = conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = conv(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = conv(in_chs, 448, 1)
        self.branch3x3dbl_2 = conv(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = conv(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = conv(in_chs, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, 2048, H, W)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        bp = self.branch_pool(F.avg_pool2d(x, 3, 1, 1))
        return torch.cat([self.branch1x1(x), b3, bd, bp], 1)


class InceptionV3(SteppedCNN):
    """Inception v3 classifier: unpadded conv stem with two max pools, Mixed_5b-5d (35x35 at 299 px),
    6a-6e (17x17), 7a-7c (8x8), pool, `fc`. Inputs need at least 75x75 pixels.

    Args:
        num_classes: classifier size; 0 gives pooled features.
        in_chans: input image channels.
        global_pool: 'avg', 'max', 'avgmax', 'catavgmax', or '' (only with num_classes=0).
        drop_rate: dropout before the classifier.
    """

    def __init__(
        self, num_classes: int = 1000, in_chans: int = 3, global_pool: str = "avg", drop_rate: float = 0.0
    ):
        super().__init__()
        self.Conv2d_1a_3x3 = conv(in_chans, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = conv(32, 32, 3)
        self.Conv2d_2b_3x3 = conv(32, 64, 3, padding=1)
        self.Pool1 = nn.MaxPool2d(3, 2)
        self.Conv2d_3b_1x1 = conv(64, 80, 1)
        self.Conv2d_4a_3x3 = conv(80, 192, 3)
        self.Pool2 = nn.MaxPool2d(3, 2)
        self.Mixed_5b = InceptionA(192, 32)
        self.Mixed_5c = InceptionA(256, 64)
        self.Mixed_5d = InceptionA(288, 64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, 128)
        self.Mixed_6c = InceptionC(768, 160)
        self.Mixed_6d = InceptionC(768, 160)
        self.Mixed_6e = InceptionC(768, 192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280)
        self.Mixed_7c = InceptionE(2048)
        steps = [name for name, _ in self.named_children()]
        taps = [("Conv2d_2b_3x3", 64, 2), ("Conv2d_4a_3x3", 192, 4), ("Mixed_5d", 288, 8)]
        taps += [("Mixed_6e", 768, 16), ("Mixed_7c", 2048, 32)]
        info = [dict(num_chs=c, reduction=r, module=n) for n, c, r in taps]
        self._init_steps(steps, info, [steps.index(n) for n, _, _ in taps])
        self._init_head(2048, num_classes, global_pool, drop_rate)
        self.init_weights()

    @torch.no_grad()
    def init_weights(self) -> None:
        """Kaiming-normal convs (fan-out), N(0, 0.01) classifier, unit/zero BN.

        (timm and torchvision draw every conv from a truncated normal of std 0.1: with untrained BN
        statistics that scales the eval-mode logits of a fresh model to ~1e8.)
        """
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def group_matcher(self, coarse: bool = False) -> dict:
        """Stem `Conv2d_1a/2a/2b`, then one group per later layer."""
        mixed = [g for g in self.step_groups() if g[0].startswith("^Mixed")]
        return dict(stem=r"^Conv2d_[12]", blocks=[(r"^Conv2d_[34]", (0,)), *mixed])


# -- checkpoints --------------------------------------------------------------------------------------


def checkpoint_filter(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Drop the auxiliary classifier (`AuxLogits.*`, in torchvision's checkpoint), which is not built."""
    aux = [k for k in state_dict if k.startswith("AuxLogits.")]
    if aux:
        _log.info(
            "inception_v3: dropping the %d auxiliary classifier tensors (AuxLogits.*), not used", len(aux)
        )
    return {k: v for k, v in state_dict.items() if not k.startswith("AuxLogits.")}


VARIANTS: dict[str, dict] = {"inception_v3": {}}

register_variants(VARIANTS, InceptionV3, checkpoint_filter=checkpoint_filter)
