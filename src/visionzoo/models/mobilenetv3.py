"""MobileNetV3 (Howard et al. 2019), large and small, built by the shared builder in `_efficient_blocks`.

State dict keys follow timm's `mobilenetv3.py` (the head is pool -> `conv_head` 1x1 with bias -> act, with no
norm), so `timm/<arch>.<tag>` checkpoints load unchanged. `tf_` variants use TensorFlow "SAME" padding and BN eps
1e-3.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..layers.activations import create_act
from ..layers.pooling import SelectAdaptivePool2d
from ..registry import register_variants
from ._efficient_blocks import BlockDef, EfficientBackbone, init_weights, make_divisible
from .base import check_num_classes

__all__ = ["MobileNetV3", "STAGES", "VARIANTS"]

B = BlockDef
_RE = "relu"  # the early stages use ReLU, the rest the model's hard-swish

STAGES: dict[str, tuple[tuple[BlockDef, ...], ...]] = {
    "mobilenetv3_large": (
        (B("ds", 1, 3, 1, 16, act=_RE),),
        (B("ir", 1, 3, 2, 24, 4, act=_RE), B("ir", 1, 3, 1, 24, 3, act=_RE)),
        (B("ir", 3, 5, 2, 40, 3, 0.25, act=_RE),),
        (B("ir", 1, 3, 2, 80, 6), B("ir", 1, 3, 1, 80, 2.5), B("ir", 2, 3, 1, 80, 2.3)),
        (B("ir", 2, 3, 1, 112, 6, 0.25),),
        (B("ir", 3, 5, 2, 160, 6, 0.25),),
        (B("cn", 1, 1, 1, 960),),
    ),
    "mobilenetv3_small": (
        (B("ds", 1, 3, 2, 16, 1, 0.25, act=_RE),),
        (B("ir", 1, 3, 2, 24, 4.5, act=_RE), B("ir", 1, 3, 1, 24, 3.67, act=_RE)),
        (B("ir", 1, 5, 2, 40, 4, 0.25), B("ir", 2, 5, 1, 40, 6, 0.25)),
        (B("ir", 2, 5, 1, 48, 3, 0.25),),
        (B("ir", 3, 5, 2, 96, 6, 0.25),),
        (B("cn", 1, 1, 1, 576),),
    ),
}


class MobileNetV3(EfficientBackbone):
    """Stem conv -> stage table -> global pool -> 1x1 conv (with bias) + act -> flatten -> dropout -> classifier.

    `forward_features` returns the last stage's map (`num_features` channels, as in timm);
    `head_hidden_size` is the width of the pooled pre-logits, after the head conv.

    Args:
        stages: name of a stage table in `STAGES`.
        width_multiplier: channel scaling (the stem is kept at 16 channels below 0.75).
        num_features: width of the head conv (not scaled).
        act_layer, pad_type, bn_eps: as for EfficientNet.
    """

    def __init__(
        self,
        stages: str = "mobilenetv3_large",
        width_multiplier: float = 1.0,
        depth_multiplier: float = 1.0,
        stem_size: int = 16,
        num_features: int = 1280,
        act_layer: str = "hard_swish",
        pad_type: str = "",
        bn_eps: float = 1e-5,
        num_classes: int = 1000,
        in_chans: int = 3,
        global_pool: str = "avg",
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
    ):
        super().__init__()
        if stages not in STAGES:
            raise ValueError(f"unknown stage table {stages!r}; known: {', '.join(STAGES)}")
        if width_multiplier >= 0.75:
            stem_size = make_divisible(stem_size * width_multiplier)
        self.arch_desc = f"MobileNetV3(stages={stages!r}, width={width_multiplier})"
        self.drop_rate = drop_rate
        chs = self._build_body(
            STAGES[stages],
            in_chans,
            stem_size,
            width_multiplier=width_multiplier,
            depth_multiplier=depth_multiplier,
            fix_first_last=False,
            act=act_layer,
            padding=pad_type,
            bn_eps=bn_eps,
            se_style="mobilenetv3",
            drop_path_rate=drop_path_rate,
        )
        self.global_pool = SelectAdaptivePool2d(global_pool)
        self.conv_head = nn.Conv2d(chs * self.global_pool.feat_mult(), num_features, 1, bias=True)
        self.act2 = create_act(act_layer, inplace=True)
        self.flatten = nn.Identity() if self.global_pool.is_identity() else nn.Flatten(1)
        self.num_features = chs  # channels of forward_features, as in timm
        self.head_hidden_size = num_features  # width of the pooled pre-logits
        self.num_classes = num_classes
        self.classifier = nn.Linear(num_features, num_classes) if num_classes else nn.Identity()
        if global_pool == "" and num_classes:
            raise ValueError("global_pool='' (no pooling) is only possible with num_classes=0")
        init_weights(self)

    def _prune_tail(self, truncated: bool, prune_norm: bool, prune_head: bool) -> None:
        if truncated or prune_head:
            self.conv_head, self.act2 = nn.Identity(), nn.Identity()

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.global_pool(x)  # (B, C, 1, 1)
        x = self.flatten(self.act2(self.conv_head(x)))  # (B, num_features)
        if pre_logits:
            return x
        if self.drop_rate:
            x = F.dropout(x, p=self.drop_rate, training=self.training)
        return self.classifier(x)  # (B, num_classes)

    def get_classifier(self) -> nn.Module:
        return self.classifier

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        check_num_classes(num_classes)
        if global_pool is not None:
            pool = SelectAdaptivePool2d(global_pool)
            if isinstance(self.conv_head, nn.Conv2d) and pool.feat_mult() != self.global_pool.feat_mult():
                raise ValueError(
                    f"global_pool={global_pool!r} changes the pooled width the head conv was built for; "
                    "create the model with this global_pool instead"
                )
            if num_classes and pool.is_identity():
                raise ValueError("global_pool='' (no pooling) is only possible with num_classes=0")
            self.global_pool = pool
            self.flatten = nn.Identity() if pool.is_identity() else nn.Flatten(1)
        self.num_classes = num_classes
        self.classifier = nn.Linear(self.head_hidden_size, num_classes) if num_classes else nn.Identity()

    def group_matcher(self, coarse: bool = False) -> dict:
        blocks = r"^blocks\.(\d+)" if coarse else r"^blocks\.(\d+)\.(\d+)"
        return dict(stem=r"^(conv_stem|bn1)\.", blocks=[(blocks, None), (r"^conv_head\.", (10**5,))])


_TF = dict(pad_type="same", bn_eps=1e-3)
_LARGE = dict(stages="mobilenetv3_large", num_features=1280)
_SMALL = dict(stages="mobilenetv3_small", num_features=1024)

VARIANTS: dict[str, dict] = {
    "mobilenetv3_large_075": dict(width_multiplier=0.75, **_LARGE),
    "mobilenetv3_large_100": dict(**_LARGE),
    "mobilenetv3_small_075": dict(width_multiplier=0.75, **_SMALL),
    "mobilenetv3_small_100": dict(**_SMALL),
    "tf_mobilenetv3_large_100": dict(**_LARGE, **_TF),
    "tf_mobilenetv3_small_100": dict(**_SMALL, **_TF),
}

register_variants(VARIANTS, MobileNetV3)
