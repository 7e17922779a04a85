"""Xception (Chollet 2016, "Xception: Deep Learning with Depthwise Separable Convolutions"), the original
ImageNet network as ported from Keras (timm's `legacy_xception`).

State dict keys follow timm's layout: `conv1/bn1`, `conv2/bn2`, `block1..12.{skip,skipbn,rep.N}`, `conv3/bn3`,
`conv4/bn4` (separable convs: `conv1` depthwise + `pointwise`) and `fc`.
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers.separable_conv import SeparableConv2d
from ..registry import register_variants
from ._stepped import SteppedCNN

__all__ = ["Xception", "XceptionBlock", "VARIANTS"]


class XceptionBlock(nn.Module):
    """`reps` x (ReLU -> 3x3 separable conv -> BN) in `rep`, a 3x3 max pool when strided, plus a residual:
    identity, or a strided 1x1 conv (`skip`) + BN (`skipbn`) when the width or the size changes.

    `grow_first` widens at the first separable conv (else at the last); without `start_with_relu` the
    first ReLU is left out.
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        reps: int,
        stride: int = 1,
        start_with_relu: bool = True,
        grow_first: bool = True,
    ):
        super().__init__()
        if out_chs != in_chs or stride != 1:
            self.skip: nn.Module | None = nn.Conv2d(in_chs, out_chs, 1, stride, bias=False)
            self.skipbn = nn.BatchNorm2d(out_chs)
        else:
            self.skip = None
        layers: list[nn.Module] = []
        for i in range(reps):
            if grow_first:
                cin, cout = (in_chs if i == 0 else out_chs), out_chs
            else:
                cin, cout = in_chs, (in_chs if i < reps - 1 else out_chs)
            layers += [nn.ReLU(inplace=i > 0), SeparableConv2d(cin, cout, 3, 1, 1), nn.BatchNorm2d(cout)]
        if not start_with_relu:
            layers = layers[1:]
        if stride != 1:
            layers.append(nn.MaxPool2d(3, stride, 1))
        self.rep = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in, H, W) -> (B, out, H/s, W/s)
        shortcut = x if self.skip is None else self.skipbn(self.skip(x))
        return self.rep(x) + shortcut


class Xception(SteppedCNN):
    """Xception classifier: two unpadded 3x3 convs, 12 Xception blocks (entry flow 1-3, middle flow 4-11,
    exit flow 12), two separable convs (`conv3`, `conv4`), pool, `fc`.

    Feature maps: the stem output, the ReLU'd outputs of blocks 1, 2 and 11 (the ReLU the next block
    starts with), and the last separable conv's output.

    Args:
        num_classes: classifier size; 0 gives pooled features.
        in_chans: input image channels.
        global_pool: 'avg', 'max', 'avgmax', 'catavgmax', or '' (only with num_classes=0).
        drop_rate: dropout before the classifier.
    """

    feature_key_layout = "body"

    def __init__(
        self, num_classes: int = 1000, in_chans: int = 3, global_pool: str = "avg", drop_rate: float = 0.0
    ):
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, 32, 3, 2, 0, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(32, 64, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.act2 = nn.ReLU(inplace=True)
        self.block1 = XceptionBlock(64, 128, 2, 2, start_with_relu=False)
        self.block2 = XceptionBlock(128, 256, 2, 2)
        self.block3 = XceptionBlock(256, 728, 2, 2)
        for i in range(4, 12):
            self.add_module(f"block{i}", XceptionBlock(728, 728, 3, 1))
        self.block12 = XceptionBlock(728, 1024, 2, 2, grow_first=False)
        self.conv3 = SeparableConv2d(1024, 1536, 3, 1, 1)
        self.bn3 = nn.BatchNorm2d(1536)
        self.act3 = nn.ReLU(inplace=True)
        self.conv4 = SeparableConv2d(1536, 2048, 3, 1, 1)
        self.bn4 = nn.BatchNorm2d(2048)
        self.act4 = nn.ReLU(inplace=True)
        steps = [name for name, _ in self.named_children()]
        info = [
            dict(num_chs=64, reduction=2, module="act2"),
            dict(num_chs=128, reduction=4, module="block2.rep.0"),
            dict(num_chs=256, reduction=8, module="block3.rep.0"),
            dict(num_chs=728, reduction=16, module="block12.rep.0"),
            dict(num_chs=2048, reduction=32, module="act4"),
        ]
        tap_steps = [steps.index(n) for n in ("act2", "block1", "block2", "block11", "act4")]
        taps = [None, nn.ReLU(), nn.ReLU(), nn.ReLU(), None]
        self._init_steps(steps, info, tap_steps, taps)
        self._init_head(2048, num_classes, global_pool, drop_rate)
        self.init_weights()

    @torch.no_grad()
    def init_weights(self) -> None:
        """Kaiming-normal convs (fan-out), unit/zero BN."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def group_matcher(self, coarse: bool = False) -> dict:
        return dict(stem=r"^conv[12]|bn[12]", blocks=[(r"^block(\d+)", None), (r"^conv[34]|bn[34]", (99,))])


VARIANTS: dict[str, dict] = {"legacy_xception": {}}

register_variants(VARIANTS, Xception)
