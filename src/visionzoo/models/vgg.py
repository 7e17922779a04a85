"""VGG (Simonyan & Zisserman 2014, "Very Deep Convolutional Networks for Large-Scale Image Recognition").

State dict keys follow timm's layout: the conv body is `features.N` (as in torchvision) and the two
4096-wide fully connected layers are convolutions, `pre_logits.fc1` (7x7) and `pre_logits.fc2` (1x1), so
the network runs on any input size; the classifier is `head.fc`. torchvision's checkpoints
(`classifier.0/3/6` as Linear layers) are converted by `checkpoint_filter`.
"""

from __future__ import annotations

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from ..registry import register_variants
from ..utils.checks import check_output_stride
from ._stepped import SteppedCNN

__all__ = ["VGG", "ConvMlp", "checkpoint_filter", "VARIANTS", "LAYOUTS"]

# Conv widths per layout, 'M' a 2x2 max pool (configurations A, B, D and E of the paper).
LAYOUTS: dict[str, tuple[int | str, ...]] = {
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg13": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "vgg19": (
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        512,
        "M",
    ),
}

MLP_WIDTH = 4096  # output width of the fully connected layers (the pre-logits)


def grow_to_kernel(x: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """`x` pooled up to at least `kernel_size` on each side, so a small input still fits the 7x7 conv.

    A leaf of torch.fx graphs (`torch.fx.wrap`): the branch on the input size is taken at run time.
    """
    h, w = x.shape[-2:]
    if h < kernel_size or w < kernel_size:
        x = F.adaptive_avg_pool2d(x, (max(kernel_size, h), max(kernel_size, w)))
    return x


torch.fx.wrap("grow_to_kernel")


class ConvMlp(nn.Module):
    """VGG's fully connected layers as convolutions: `fc1` (k x k, to `out_chs * mlp_ratio`) -> ReLU ->
    dropout -> `fc2` (1x1, to `out_chs`) -> ReLU.

    Maps smaller than k x k are first average-pooled up to k x k, so any input size gives a map.
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int = 4096,
        kernel_size: int = 7,
        mlp_ratio: float = 1.0,
        drop_rate: float = 0.0,
    ):
        super().__init__()
        mid = int(out_chs * mlp_ratio)
        if mid < 1:
            raise ValueError(f"mlp_ratio {mlp_ratio} leaves no hidden channels")
        self.kernel_size = kernel_size
        self.fc1 = nn.Conv2d(in_chs, mid, kernel_size)
        self.act1 = nn.ReLU(inplace=True)
        self.drop = nn.Dropout(drop_rate)
        self.fc2 = nn.Conv2d(mid, out_chs, 1)
        self.act2 = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, out, H - k + 1, W - k + 1)
        x = grow_to_kernel(x, self.kernel_size)
        x = self.drop(self.act1(self.fc1(x)))
        return self.act2(self.fc2(x))


class VGG(SteppedCNN):
    """VGG classifier: 3x3 convs (optionally with BatchNorm) and 2x2 max pools in `features`, then the
    convolutional `pre_logits` MLP, pool and `head.fc`.

    Feature maps are taken before each max pool (reductions 1 to 16) and after the last one (32).

    Args:
        layout: conv widths, 'M' for a max pool (see `LAYOUTS`).
        batch_norm: BatchNorm after every conv (the `_bn` variants).
        mlp_ratio: width of the first fully connected layer, relative to the 4096 of the second.
        num_classes: classifier size; 0 gives the pooled 4096-wide pre-logits.
        in_chans: input image channels.
        global_pool: 'avg', 'max', 'avgmax', 'catavgmax', or '' (only with num_classes=0).
        drop_rate: dropout in the MLP and before the classifier.
        output_stride: 32 only (accepted for timm-style code; VGG has no dilated stages).
    """

    feature_key_layout = "flat"

    classifier_name = "head.fc"

    def __init__(
        self,
        layout: tuple[int | str, ...] = LAYOUTS["vgg16"],
        batch_norm: bool = False,
        mlp_ratio: float = 1.0,
        num_classes: int = 1000,
        in_chans: int = 3,
        global_pool: str = "avg",
        drop_rate: float = 0.0,
        output_stride: int = 32,
    ):
        super().__init__()
        check_output_stride(output_stride, (32,))
        if (
            not layout
            or layout[-1] != "M"
            or any(v != "M" and (not isinstance(v, int) or v < 1) for v in layout)
        ):
            raise ValueError(f"layout must be conv widths and 'M' pools, ending with 'M'; got {layout!r}")
        layers: list[nn.Module] = []
        info, taps = [], []
        chs, reduction = in_chans, 1
        for v in layout:
            if v == "M":
                info.append(dict(num_chs=chs, reduction=reduction, module=f"features.{len(layers) - 1}"))
                taps.append(len(layers) - 1)
                layers.append(nn.MaxPool2d(2, 2))
                reduction *= 2
            else:
                layers.append(nn.Conv2d(chs, v, 3, padding=1))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(v))
                layers.append(nn.ReLU(inplace=True))
                chs = v
        info.append(dict(num_chs=chs, reduction=reduction, module=f"features.{len(layers) - 1}"))
        taps.append(len(layers) - 1)
        self.features = nn.Sequential(*layers)
        self.pre_logits: nn.Module = ConvMlp(chs, MLP_WIDTH, 7, mlp_ratio, drop_rate)
        self.head = nn.Module()
        self._init_steps([f"features.{i}" for i in range(len(layers))], info, taps)
        self._init_head(chs, num_classes, global_pool, drop_rate)
        self.init_weights()

    def _pooled_width(self) -> int:
        return MLP_WIDTH if isinstance(self.pre_logits, ConvMlp) else self.num_features

    @torch.no_grad()
    def init_weights(self) -> None:
        """Kaiming-normal convs (fan-out), unit/zero BN, N(0, 0.01) classifier."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """MLP (as convs) -> pool -> dropout -> classifier; `pre_logits` stops before the classifier."""
        return super().forward_head(self.pre_logits(x), pre_logits)

    def _prune_head(self) -> None:
        self.pre_logits = nn.Identity()
        self.reset_classifier(0, "")

    def group_matcher(self, coarse: bool = False) -> dict:
        return dict(stem=r"^features\.0", blocks=r"^features\.(\d+)")


# -- checkpoints --------------------------------------------------------------------------------------


def checkpoint_filter(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """timm checkpoints load as they are; torchvision's Linear `classifier.0/3/6` become `pre_logits.fc1/fc2`
    (reshaped to 7x7 / 1x1 convs) and `head.fc`."""
    out = {}
    for k, v in state_dict.items():
        if k.startswith("classifier.0."):
            k = "pre_logits.fc1." + k.split(".", 2)[2]
            if v.ndim == 2:
                v = v.reshape(v.shape[0], -1, 7, 7)  # (4096, C*7*7) -> (4096, C, 7, 7)
        elif k.startswith("classifier.3."):
            k = "pre_logits.fc2." + k.split(".", 2)[2]
            if v.ndim == 2:
                v = v.reshape(*v.shape, 1, 1)
        elif k.startswith("classifier.6."):
            k = "head.fc." + k.split(".", 2)[2]
        out[k] = v
    return out


# -- variants -----------------------------------------------------------------------------------------

VARIANTS: dict[str, dict] = {}
for _name, _layout in LAYOUTS.items():
    VARIANTS[_name] = dict(layout=_layout)
    VARIANTS[f"{_name}_bn"] = dict(layout=_layout, batch_norm=True)

register_variants(VARIANTS, VGG, checkpoint_filter=checkpoint_filter)
