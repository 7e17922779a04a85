"""DenseNet-BC (Huang et al. 2016, "Densely Connected Convolutional Networks"), with the deep-stem and
blur-pool variants (Zhang 2019, "Making Convolutional Networks Shift-Invariant Again").

State dict keys follow timm's (and torchvision's) layout: `features.{conv0,norm0,denseblockN.denselayerM.
{norm1,conv1,norm2,conv2},transitionN.{norm,conv},norm5}`, `classifier`. torchvision's own checkpoints, whose
dense layers name their parts `norm.1` / `conv.2`, are converted by `checkpoint_filter`.
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

from ..layers.blur_pool import BlurPool2d
from ..layers.norm_act import BatchNormAct2d
from ..registry import register_variants
from ..utils.checks import check_output_stride
from ._stepped import SteppedCNN

__all__ = ["DenseNet", "DenseLayer", "DenseBlock", "checkpoint_filter", "VARIANTS"]

STEM_TYPES = ("", "deep")


class DenseLayer(nn.Module):
    """BN-ReLU-1x1 conv (to bn_size * growth) -> BN-ReLU-3x3 conv (to growth) on the concatenated inputs."""

    def __init__(self, in_chs: int, growth_rate: int, bn_size: int, drop_rate: float = 0.0):
        super().__init__()
        inner = bn_size * growth_rate
        self.norm1 = BatchNormAct2d(in_chs, act="relu")
        self.conv1 = nn.Conv2d(in_chs, inner, 1, bias=False)
        self.norm2 = BatchNormAct2d(inner, act="relu")
        self.conv2 = nn.Conv2d(inner, growth_rate, 3, padding=1, bias=False)
        self.drop_rate = drop_rate

    def forward(self, prev: list[torch.Tensor]) -> torch.Tensor:  # [(B, c_i, H, W)] -> (B, growth, H, W)
        x = self.conv1(self.norm1(torch.cat(prev, 1)))
        x = self.conv2(self.norm2(x))
        if self.drop_rate > 0:
            x = F.dropout(x, p=self.drop_rate, training=self.training)
        return x


class DenseBlock(nn.ModuleDict):
    """`denselayer1..N`: each sees the block input and all earlier layers' outputs; returns them all, concatenated."""

    def __init__(self, num_layers: int, in_chs: int, growth_rate: int, bn_size: int, drop_rate: float = 0.0):
        super().__init__()
        for i in range(num_layers):
            self[f"denselayer{i + 1}"] = DenseLayer(in_chs + i * growth_rate, growth_rate, bn_size, drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C + N * growth, H, W)
        maps = [x]
        for layer in self.values():
            maps.append(layer(maps))
        return torch.cat(maps, 1)


class DenseTransition(nn.Sequential):
    """BN-ReLU -> 1x1 conv (halving the channels) -> 2x2 average pool (or blur pool)."""

    def __init__(self, in_chs: int, out_chs: int, blur: bool = False):
        super().__init__()
        self.norm = BatchNormAct2d(in_chs, act="relu")
        self.conv = nn.Conv2d(in_chs, out_chs, 1, bias=False)
        self.pool = BlurPool2d(out_chs, stride=2) if blur else nn.AvgPool2d(2, 2)


class DenseNet(SteppedCNN):
    """DenseNet classifier: stem (7x7 conv, or three 3x3 convs with `stem_type='deep'`) and max pool, four
    dense blocks joined by transitions, a final BN-ReLU (`features.norm5`), pool, `classifier`.

    Args:
        growth_rate: channels each dense layer adds (k in the paper); the stem has 2k.
        block_config: dense layers per block.
        bn_size: bottleneck width of a dense layer, in multiples of the growth rate.
        stem_type: '' (7x7 conv) or 'deep' (3x3 convs, widths k, k, 2k).
        blur: anti-aliased downsampling (a stride-1 max pool followed by a blur pool) in the stem.
        blur_transitions: blur pools in the transitions too (default: average pools).
        num_classes: classifier size; 0 gives pooled features.
        in_chans: input image channels.
        global_pool: 'avg', 'max', 'avgmax', 'catavgmax', or '' (only with num_classes=0).
        drop_rate: dropout before the classifier.
        proj_drop_rate: dropout after each dense layer.
        memory_efficient: start with gradient checkpointing on (as `set_grad_checkpointing()`).
        output_stride: 32 only (accepted for timm-style code; DenseNet has no dilated stages).
    """

    feature_key_layout = "flat"

    classifier_name = "classifier"

    def __init__(
        self,
        growth_rate: int = 32,
        block_config: tuple[int, ...] = (6, 12, 24, 16),
        bn_size: int = 4,
        stem_type: str = "",
        blur: bool = False,
        blur_transitions: bool = False,
        num_classes: int = 1000,
        in_chans: int = 3,
        global_pool: str = "avg",
        drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
        memory_efficient: bool = False,
        output_stride: int = 32,
    ):
        super().__init__()
        check_output_stride(output_stride, (32,))
        if stem_type not in STEM_TYPES:
            raise ValueError(f"stem_type must be one of {STEM_TYPES}, got {stem_type!r}")
        if not block_config or any(n < 1 for n in block_config):
            raise ValueError(f"block_config needs at least one block of >= 1 layers, got {block_config!r}")
        width = 2 * growth_rate
        self.features = f = nn.Sequential()
        if stem_type == "deep":
            f.conv0 = nn.Conv2d(in_chans, growth_rate, 3, 2, 1, bias=False)
            f.norm0 = BatchNormAct2d(growth_rate, act="relu")
            f.conv1 = nn.Conv2d(growth_rate, growth_rate, 3, 1, 1, bias=False)
            f.norm1 = BatchNormAct2d(growth_rate, act="relu")
            f.conv2 = nn.Conv2d(growth_rate, width, 3, 1, 1, bias=False)
            f.norm2 = BatchNormAct2d(width, act="relu")
            stem_tap = "norm2"
        else:
            f.conv0 = nn.Conv2d(in_chans, width, 7, 2, 3, bias=False)
            f.norm0 = BatchNormAct2d(width, act="relu")
            stem_tap = "norm0"
        if blur:
            f.pool0 = nn.Sequential(nn.MaxPool2d(3, 1, 1), BlurPool2d(width, stride=2))
        else:
            f.pool0 = nn.MaxPool2d(3, 2, 1)
        info = [dict(num_chs=width, reduction=2, module=f"features.{stem_tap}")]
        taps = [stem_tap]
        chs, reduction = width, 4
        for i, n in enumerate(block_config, start=1):
            f.add_module(f"denseblock{i}", DenseBlock(n, chs, growth_rate, bn_size, proj_drop_rate))
            chs += n * growth_rate
            if i < len(block_config):
                info.append(dict(num_chs=chs, reduction=reduction, module=f"features.denseblock{i}"))
                taps.append(f"denseblock{i}")
                f.add_module(f"transition{i}", DenseTransition(chs, chs // 2, blur and blur_transitions))
                chs, reduction = chs // 2, reduction * 2
        f.norm5 = BatchNormAct2d(chs, act="relu")
        info.append(dict(num_chs=chs, reduction=reduction, module="features.norm5"))
        taps.append("norm5")
        names = list(f._modules)
        self._init_steps([f"features.{n}" for n in names], info, [names.index(t) for t in taps])
        self._init_head(chs, num_classes, global_pool, drop_rate)
        self.grad_checkpointing = memory_efficient
        self.init_weights()

    @torch.no_grad()
    def init_weights(self) -> None:
        """Kaiming-normal convs, unit/zero BN, zero classifier bias."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def group_matcher(self, coarse: bool = False) -> dict:
        blocks = r"^features\.(?:denseblock|transition)(\d+)"
        if not coarse:
            blocks = [
                (r"^features\.denseblock(\d+)\.denselayer(\d+)", None),
                (r"^features\.transition(\d+)", (99999,)),
            ]
        return dict(stem=r"^features\.(?:conv|norm|pool)[012]", blocks=blocks)


# -- checkpoints --------------------------------------------------------------------------------------

# torchvision's dense layers were saved as `norm.1`, `relu.1`, `conv.1`, ... (module names with dots)
_TV_DENSE_LAYER = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12])\.(weight|bias|running_mean|running_var|num_batches_tracked)$"
)


def checkpoint_filter(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """timm checkpoints load as they are; torchvision's `denselayerN.norm.1.weight` keys become `norm1.weight`."""
    return {_TV_DENSE_LAYER.sub(r"\1\2.\3", k): v for k, v in state_dict.items()}


# -- variants -----------------------------------------------------------------------------------------

VARIANTS: dict[str, dict] = {
    "densenet121": dict(growth_rate=32, block_config=(6, 12, 24, 16)),
    "densenet161": dict(growth_rate=48, block_config=(6, 12, 36, 24)),
    "densenet169": dict(growth_rate=32, block_config=(6, 12, 32, 32)),
    "densenet201": dict(growth_rate=32, block_config=(6, 12, 48, 32)),
    "densenet264d": dict(growth_rate=48, block_config=(6, 12, 64, 48), stem_type="deep"),
    "densenetblur121d": dict(growth_rate=32, block_config=(6, 12, 24, 16), stem_type="deep", blur=True),
}

register_variants(VARIANTS, DenseNet, checkpoint_filter=checkpoint_filter)
