"""MobileNetV3 (Howard et al. 2019) and MobileNetV4 (Qin et al. 2024), built by the shared builder in
`_efficient_backbone` from the stage tables in `_mobilenet_stages`.

State dict keys follow timm's `mobilenetv3.py` (the head is pool -> `conv_head` 1x1 -> act, with a BN for
MobileNetV4), so `timm/<arch>.<tag>` checkpoints load unchanged. `tf_` variants use TensorFlow "SAME" padding and BN eps
1e-3.
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers.activations import create_act
from ..layers.helpers import make_divisible
from ..layers.norm_act import BatchNormAct2d
from ..layers.pooling import SelectAdaptivePool2d
from ..registry import register_variants
from ._efficient_backbone import EfficientBackbone, init_weights
from ._mobilenet_stages import STAGES
from .base import check_num_classes

__all__ = ["MobileNetV3", "STAGES", "VARIANTS"]


class MobileNetV3(EfficientBackbone):
    """Stem conv -> stage table -> global pool -> 1x1 conv + [BN] act -> flatten -> dropout -> classifier.

    `forward_features` returns the last stage's map (`num_features` channels, as in timm);
    `head_hidden_size` is the width of the pooled pre-logits, after the head conv.

    Args:
        stages: name of a stage table in `STAGES`.
        width_multiplier: channel scaling.
        fix_stem: keep the stem width unscaled.
        num_features: width of the head conv (not scaled).
        head_norm: BN (with the activation) after the head conv, which then has no bias (MobileNetV4).
        head_bias: bias in the head conv when there is no head norm.
        layer_scale: initial LayerScale of 'uir'/'mqa' blocks (None: none).
        aa_layer: anti-aliased downsampling in the blocks ('avg', 'blurpc'; None: strided convs).
        se_style: how squeeze-excite is sized and gated (a key of `_efficient_blocks.SE_STYLES`).
        act_layer, pad_type, bn_eps: as for EfficientNet.
        output_stride: 32, or 16 / 8 to dilate the later stages instead of striding them.
    """

    def __init__(
        self,
        stages: str = "mobilenetv3_large",
        width_multiplier: float = 1.0,
        depth_multiplier: float = 1.0,
        stem_size: int = 16,
        fix_stem: bool = False,
        num_features: int = 1280,
        head_norm: bool = False,
        head_bias: bool = True,
        layer_scale: float | None = None,
        aa_layer: str | None = None,
        se_style: str = "mobilenetv3",
        act_layer: str = "hard_swish",
        pad_type: str = "",
        bn_eps: float = 1e-5,
        output_stride: int = 32,
        num_classes: int = 1000,
        in_chans: int = 3,
        global_pool: str = "avg",
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
    ):
        super().__init__()
        if stages not in STAGES:
            raise ValueError(f"unknown stage table {stages!r}; known: {', '.join(STAGES)}")
        if not fix_stem:
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
            se_style=se_style,
            drop_path_rate=drop_path_rate,
            layer_scale=layer_scale,
            aa_layer=aa_layer,
            output_stride=output_stride,
        )
        self.global_pool = SelectAdaptivePool2d(global_pool)
        pooled = chs * self.global_pool.feat_mult()
        self.conv_head = nn.Conv2d(pooled, num_features, 1, bias=head_bias and not head_norm)
        self.norm_head = BatchNormAct2d(num_features, bn_eps, act_layer) if head_norm else nn.Identity()
        self.act2 = nn.Identity() if head_norm else create_act(act_layer, inplace=True)
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
            self.conv_head, self.norm_head, self.act2 = nn.Identity(), nn.Identity(), nn.Identity()

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.global_pool(x)  # (B, C, 1, 1)
        x = self.flatten(self.act2(self.norm_head(self.conv_head(x))))  # (B, num_features)
        if pre_logits:
            return x
        return self.classifier(self._head_dropout(x))  # (B, num_classes)

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
        return dict(
            stem=r"^(conv_stem|bn1)\.", blocks=[(blocks, None), (r"^(conv_head|norm_head)\.", (10**5,))]
        )


_TF = dict(pad_type="same", bn_eps=1e-3)


def _v3(stages: str, width: float = 1.0, **kw) -> dict:
    """A MobileNetV3 row: the stem is kept at 16 channels below width 0.75."""
    num_features = 1024 if "small" in stages else 1280
    return dict(stages=stages, width_multiplier=width, fix_stem=width < 0.75, num_features=num_features, **kw)


def _v4(stages: str, stem: int, width: float = 1.0, act: str = "relu", **kw) -> dict:
    """A MobileNetV4 row: BN in the head, the stem unscaled below width 1."""
    return dict(
        stages=f"mobilenetv4_{stages}",
        stem_size=stem,
        width_multiplier=width,
        fix_stem=width < 1.0,
        num_features=1280,
        head_norm=True,
        act_layer=act,
        **kw,
    )


_HYBRID = dict(layer_scale=1e-5)
_LCNET = dict(stages="lcnet", se_style="lcnet")
_FBNETV3 = dict(num_features=1984, head_bias=False, se_style="fbnetv3")

VARIANTS: dict[str, dict] = {
    "mobilenetv3_large_075": _v3("mobilenetv3_large", 0.75),
    "mobilenetv3_large_100": _v3("mobilenetv3_large"),
    "mobilenetv3_large_150d": _v3("mobilenetv3_large", 1.5, depth_multiplier=1.2),
    "mobilenetv3_small_050": _v3("mobilenetv3_small", 0.5),
    "mobilenetv3_small_075": _v3("mobilenetv3_small", 0.75),
    "mobilenetv3_small_100": _v3("mobilenetv3_small"),
    "mobilenetv3_rw": _v3("mobilenetv3_rw", head_bias=False, se_style="mobilenetv3_rw", bn_eps=1e-3),
    "tf_mobilenetv3_large_075": _v3("mobilenetv3_large", 0.75, **_TF),
    "tf_mobilenetv3_large_100": _v3("mobilenetv3_large", **_TF),
    "tf_mobilenetv3_large_minimal_100": _v3("mobilenetv3_large_minimal", act_layer="relu", **_TF),
    "tf_mobilenetv3_small_075": _v3("mobilenetv3_small", 0.75, **_TF),
    "tf_mobilenetv3_small_100": _v3("mobilenetv3_small", **_TF),
    "tf_mobilenetv3_small_minimal_100": _v3("mobilenetv3_small_minimal", act_layer="relu", **_TF),
    "fbnetv3_b": dict(stages="fbnetv3_b", stem_size=16, **_FBNETV3),
    "fbnetv3_d": dict(stages="fbnetv3_d", stem_size=24, **_FBNETV3),
    "fbnetv3_g": dict(stages="fbnetv3_g", stem_size=32, **_FBNETV3),
    "lcnet_035": dict(width_multiplier=0.35, **_LCNET),
    "lcnet_050": dict(width_multiplier=0.5, **_LCNET),
    "lcnet_075": dict(width_multiplier=0.75, **_LCNET),
    "lcnet_100": dict(**_LCNET),
    "lcnet_150": dict(width_multiplier=1.5, **_LCNET),
    "mobilenetv4_conv_small_035": _v4("conv_small", 32, 0.35),
    "mobilenetv4_conv_small_050": _v4("conv_small", 32, 0.5),
    "mobilenetv4_conv_small": _v4("conv_small", 32),
    "mobilenetv4_conv_medium": _v4("conv_medium", 32),
    "mobilenetv4_conv_large": _v4("conv_large", 24),
    "mobilenetv4_conv_aa_medium": _v4("conv_medium", 32, aa_layer="avg"),
    "mobilenetv4_conv_blur_medium": _v4("conv_medium", 32, aa_layer="blurpc"),
    "mobilenetv4_conv_aa_large": _v4("conv_large", 24, aa_layer="avg"),
    "mobilenetv4_hybrid_medium_075": _v4("hybrid_medium", 32, 0.75, **_HYBRID),
    "mobilenetv4_hybrid_medium": _v4("hybrid_medium", 32, **_HYBRID),
    "mobilenetv4_hybrid_large_075": _v4("hybrid_large", 24, 0.75, act="gelu", **_HYBRID),
    "mobilenetv4_hybrid_large": _v4("hybrid_large", 24, act="gelu", **_HYBRID),
}

register_variants(VARIANTS, MobileNetV3)
