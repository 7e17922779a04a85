"""EfficientNet (Tan & Le 2019), EfficientNet-Lite, EfficientNetV2 (Tan & Le 2021) and MobileNetV2 (Sandler et al.
2018), all built from one stage table per architecture by the shared builder in `_efficient_backbone`.

State dict keys follow timm's `efficientnet.py`, so `timm/<arch>.<tag>` checkpoints load unchanged; checkpoints in
the naming of the `efficientnet-pytorch` package (`_conv_stem`, `_blocks.N._depthwise_conv`, ...) load through
`checkpoint_filter`. `tf_` variants use TensorFlow "SAME" padding and BN eps 1e-3, as the ported weights need.
Beyond the paper models: GroupNorm / LayerNorm / EvoNorm-S0 and grouped-depthwise variants (`norm_layer`,
`dw_group_size`), global-context attention in place of SE (`attn_layer='gc'`), EfficientNet-X/H with
space-to-depth (Li et al. 2021) and the knapsack-pruned B1-B3 (per-block widths in `_efficientnet_pruned`).
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers.conv2d_same import create_conv2d
from ..layers.norm_act import create_norm_act
from ..layers.pooling import SelectAdaptivePool2d
from ..registry import register_variants
from ..weights.errors import CheckpointMismatchError
from ._efficient_backbone import EfficientBackbone, init_weights
from ._efficient_blocks import DepthwiseSeparableConv, InvertedResidual, make_divisible
from ._efficientnet_pruned import PRUNED_WIDTHS
from ._efficientnet_stages import STAGES
from .base import check_num_classes

__all__ = ["EfficientNet", "STAGES", "VARIANTS", "checkpoint_filter", "efficientnet_pytorch_to_timm"]


class EfficientNet(EfficientBackbone):
    """Stem conv -> stage table -> 1x1 head conv + BN/act -> global pool -> dropout -> linear classifier.

    Args:
        stages: name of a stage table in `STAGES`.
        width_multiplier, depth_multiplier: channel and depth scaling (channels rounded to multiples of 8).
        stem_size, num_features: stem and head-conv widths before scaling.
        fix_stem_head: keep the stem and head widths and the first/last stage depths unscaled (Lite, MobileNetV2-d).
        fix_stem: keep the stem width unscaled; scale_head: scale the head width (`num_features`, 0: no head conv).
        stem_kernel_size: kernel of the stem conv.
        round_limit: scaled channels are rounded to multiples of 8 no lower than this fraction of the exact value.
        depth_trunc: 'ceil' or 'round' the scaled stage depths; `depth_multiplier` may give one factor per stage.
        aa_layer: anti-aliased downsampling in the blocks ('avg', 'blurpc'; None: strided convs).
        act_layer: activation name ('swish', 'relu6', 'silu', ...).
        pad_type: '' for PyTorch symmetric padding, 'same' for TensorFlow "SAME" padding.
        bn_eps: BatchNorm epsilon (1e-3 for TensorFlow ports), or that of the norm that replaces it.
        norm_layer: 'batchnorm', 'groupnorm', 'layernorm' or 'evonorm_s0' (`layers.norm_act.create_norm_act`);
            norm_group_size: channels per group of GroupNorm / EvoNorm (0: 32 groups).
        dw_group_size: channels per group of the depthwise convs of 'ds'/'ir' blocks (1: depthwise).
        channel_divisor: scaled channels are rounded to multiples of this.
        attn_layer: 'se' (squeeze-excite) or 'gc' (global context) where the stage table has an SE ratio.
        output_stride: 32, or 16 / 8 to dilate the later stages instead of striding them.
    """

    def __init__(
        self,
        stages: str = "efficientnet",
        width_multiplier: float = 1.0,
        depth_multiplier: float | tuple[float, ...] = 1.0,
        stem_size: int = 32,
        num_features: int = 1280,
        fix_stem_head: bool = False,
        fix_stem: bool = False,
        scale_head: bool = True,
        stem_kernel_size: int = 3,
        round_limit: float = 0.9,
        depth_trunc: str = "ceil",
        aa_layer: str | None = None,
        act_layer: str = "swish",
        pad_type: str = "",
        bn_eps: float = 1e-5,
        norm_layer: str = "batchnorm",
        norm_group_size: int = 0,
        dw_group_size: int = 1,
        channel_divisor: int = 8,
        attn_layer: str = "se",
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
        if not (fix_stem_head or fix_stem):
            stem_size = make_divisible(stem_size * width_multiplier, channel_divisor, round_limit)
        if num_features and scale_head and not fix_stem_head:
            num_features = make_divisible(num_features * width_multiplier, channel_divisor, round_limit)
        self.arch_desc = (
            f"EfficientNet(stages={stages!r}, width={width_multiplier}, depth={depth_multiplier})"
        )
        self.drop_rate = drop_rate
        chs = self._build_body(
            STAGES[stages],
            in_chans,
            stem_size,
            width_multiplier=width_multiplier,
            depth_multiplier=depth_multiplier,
            fix_first_last=fix_stem_head,
            depth_trunc=depth_trunc,
            round_limit=round_limit,
            act=act_layer,
            padding=pad_type,
            bn_eps=bn_eps,
            stem_kernel=stem_kernel_size,
            se_style="efficientnet",
            drop_path_rate=drop_path_rate,
            aa_layer=aa_layer,
            norm_layer=norm_layer,
            norm_group_size=norm_group_size,
            dw_group_size=dw_group_size,
            channel_divisor=channel_divisor,
            attn_layer=attn_layer,
            output_stride=output_stride,
        )
        if num_features:
            self.conv_head = create_conv2d(chs, num_features, 1, padding=pad_type)
            self.bn2 = create_norm_act(norm_layer, num_features, act_layer, bn_eps, norm_group_size)
        else:  # MobileNetV1: pool the last stage directly
            self.conv_head, self.bn2 = nn.Identity(), nn.Identity()
        self.num_features = num_features or chs
        self.num_classes = num_classes
        self.global_pool, self.classifier = self._make_head(num_classes, global_pool)
        init_weights(self)

    def _make_head(self, num_classes: int, global_pool: str) -> tuple[SelectAdaptivePool2d, nn.Module]:
        pool = SelectAdaptivePool2d(global_pool, flatten=True)
        if num_classes and pool.is_identity():
            raise ValueError("global_pool='' (no pooling) is only possible with num_classes=0")
        self.head_hidden_size = self.num_features * pool.feat_mult()  # pre-logits width
        fc = nn.Linear(self.head_hidden_size, num_classes) if num_classes else nn.Identity()
        return pool, fc

    def _head_features(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, h, w) -> (B, F, h, w)
        return self.bn2(self.conv_head(x))

    def _prune_tail(self, truncated: bool, prune_norm: bool, prune_head: bool) -> None:
        if truncated or prune_norm:
            self.conv_head, self.bn2 = nn.Identity(), nn.Identity()

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.global_pool(x)  # (B, F)
        if pre_logits:
            return x
        return self.classifier(self._head_dropout(x))  # (B, num_classes)

    def get_classifier(self) -> nn.Module:
        return self.classifier

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        self.num_classes = check_num_classes(num_classes)
        pool = self.global_pool.pool_type if global_pool is None else global_pool
        self.global_pool, self.classifier = self._make_head(num_classes, pool)


# --- checkpoints in the naming of the `efficientnet-pytorch` package -------------------------------------------

_EP_TOP = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
_EP_SE = {"_se_reduce": "se.conv_reduce", "_se_expand": "se.conv_expand"}
_EP_BLOCKS: dict[type, dict[str, str]] = {
    DepthwiseSeparableConv: {
        "_depthwise_conv": "conv_dw",
        "_bn1": "bn1",
        "_project_conv": "conv_pw",
        "_bn2": "bn2",
        **_EP_SE,
    },
    InvertedResidual: {
        "_expand_conv": "conv_pw",
        "_bn0": "bn1",
        "_depthwise_conv": "conv_dw",
        "_bn1": "bn2",
        "_project_conv": "conv_pwl",
        "_bn2": "bn3",
        **_EP_SE,
    },
}


def efficientnet_pytorch_to_timm(
    state_dict: dict[str, torch.Tensor], model: nn.Module
) -> dict[str, torch.Tensor]:
    """Rename an efficientnet-pytorch state dict (`_blocks.N._expand_conv`, ...) to `model`'s timm-style keys.

    The flat block index N is mapped to `blocks.<stage>.<block>` by walking `model.blocks`, so any variant whose
    blocks are depthwise-separable / inverted-residual works. Raises CheckpointMismatchError when the block count,
    a key or a shape does not fit `model` (the classifier and the stem's input channels are left to the loader,
    which adapts them).
    """
    desc = getattr(model, "arch_desc", type(model).__name__)
    flat = [(f"blocks.{i}.{j}", blk) for i, stage in enumerate(model.blocks) for j, blk in enumerate(stage)]
    n_ckpt = len({k.split(".")[1] for k in state_dict if k.startswith("_blocks.")})
    if n_ckpt != len(flat):
        raise CheckpointMismatchError(
            f"efficientnet-pytorch checkpoint has {n_ckpt} blocks but {desc} has {len(flat)}: "
            "it was trained for another variant"
        )
    out: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    for key, value in state_dict.items():
        head, _, rest = key.partition(".")
        if head == "_blocks":
            num, _, rest = rest.partition(".")
            sub, _, leaf = rest.partition(".")
            prefix, block = flat[int(num)]
            names = _EP_BLOCKS.get(type(block))
            if names is None:
                raise CheckpointMismatchError(
                    f"{prefix} of {desc} is a {type(block).__name__}, which efficientnet-pytorch checkpoints lack"
                )
            if sub not in names:
                raise CheckpointMismatchError(f"unexpected key {key!r} for {type(block).__name__} {prefix}")
            new = f"{prefix}.{names[sub]}.{leaf}"
        elif head in _EP_TOP:
            new = f"{_EP_TOP[head]}.{rest}"
        else:
            raise CheckpointMismatchError(f"unexpected key {key!r} in an efficientnet-pytorch checkpoint")
        out[new], origin[new] = value, key

    own = model.state_dict()
    problems = []
    for key, value in out.items():
        if key.startswith("classifier."):
            continue
        if key not in own:
            problems.append(f"{origin[key]} -> {key} has no place in the model")
            continue
        want, got = tuple(own[key].shape), tuple(value.shape)
        if key == "conv_stem.weight":  # input channels are adapted later
            want, got = want[:1] + want[2:], got[:1] + got[2:]
        if want != got:
            problems.append(f"{key}: checkpoint {tuple(value.shape)} vs model {tuple(own[key].shape)}")
    missing = [k for k in own if k not in out and not k.startswith("classifier.")]
    problems += [f"{k} missing from the checkpoint" for k in missing]
    if problems:
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        raise CheckpointMismatchError(
            f"efficientnet-pytorch checkpoint does not fit {desc}: {'; '.join(problems[:3])}{more}. "
            "Is it for another variant (b0..b7, lite0..4, with or without squeeze-excite)?"
        )
    return out


def checkpoint_filter(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """timm checkpoints load as they are; efficientnet-pytorch ones (`_conv_stem.weight`, ...) are renamed."""
    if any(k.startswith(("_conv_stem.", "_blocks.")) for k in state_dict):
        return efficientnet_pytorch_to_timm(state_dict, model)
    return state_dict


def _rows(prefix: str, stages: str, scales: list[tuple[float, float]], **common) -> dict[str, dict]:
    return {
        f"{prefix}{i}": dict(stages=stages, width_multiplier=w, depth_multiplier=d, **common)
        for i, (w, d) in enumerate(scales)
    }


_TF = dict(pad_type="same", bn_eps=1e-3)
_LITE = dict(act_layer="relu6", fix_stem_head=True)
_B_SCALES = [(1.0, 1.0), (1.0, 1.1), (1.1, 1.2), (1.2, 1.4), (1.4, 1.8), (1.6, 2.2), (1.8, 2.6), (2.0, 3.1)]
_V2 = dict(act_layer="silu", **_TF)

VARIANTS: dict[str, dict] = {
    **_rows("efficientnet_b", "efficientnet", _B_SCALES),
    **_rows("tf_efficientnet_b", "efficientnet", _B_SCALES, **_TF),
    **_rows("efficientnet_lite", "efficientnet_lite", _B_SCALES[:5], **_LITE),
    **_rows("tf_efficientnet_lite", "efficientnet_lite", _B_SCALES[:5], **_LITE, **_TF),
    "efficientnetv2_rw_s": dict(
        stages="efficientnetv2_rw_s", stem_size=24, num_features=1792, act_layer="silu"
    ),
    "tf_efficientnetv2_b0": dict(stages="efficientnetv2_b0", **_V2),
    "tf_efficientnetv2_s": dict(stages="efficientnetv2_s", stem_size=24, **_V2),
    "tf_efficientnetv2_m": dict(stages="efficientnetv2_m", stem_size=24, **_V2),
    "tf_efficientnetv2_l": dict(stages="efficientnetv2_l", **_V2),
    "mobilenetv2_100": dict(stages="mobilenetv2", act_layer="relu6"),
    "mobilenetv2_140": dict(stages="mobilenetv2", width_multiplier=1.4, act_layer="relu6"),
    "mobilenetv2_110d": dict(
        stages="mobilenetv2",
        width_multiplier=1.1,
        depth_multiplier=1.2,
        fix_stem_head=True,
        act_layer="relu6",
    ),
    "mobilenetv2_120d": dict(
        stages="mobilenetv2",
        width_multiplier=1.2,
        depth_multiplier=1.4,
        fix_stem_head=True,
        act_layer="relu6",
    ),
}

_RELU_FIXED_HEAD = dict(act_layer="relu", scale_head=False)  # the NAS models keep a 1280 (or given) head
_EDGE = dict(stages="efficientnet_edge", act_layer="relu")
_TINY = dict(stages="efficientnet", fix_stem=True, scale_head=False, depth_trunc="round")
_V2_BASE = dict(stages="efficientnetv2_b0", round_limit=0.0, **_V2)
_EDGETPU = dict(act_layer="relu", scale_head=False)
_MIXNET = dict(num_features=1536, depth_trunc="round", **_RELU_FIXED_HEAD)  # early stages ReLU, later swish

VARIANTS |= {
    "efficientnet_b8": dict(stages="efficientnet", width_multiplier=2.2, depth_multiplier=3.6),
    "efficientnet_l2": dict(stages="efficientnet", width_multiplier=4.3, depth_multiplier=5.3),
    "tf_efficientnet_b8": dict(stages="efficientnet", width_multiplier=2.2, depth_multiplier=3.6, **_TF),
    "tf_efficientnet_l2": dict(stages="efficientnet", width_multiplier=4.3, depth_multiplier=5.3, **_TF),
    "efficientnet_blur_b0": dict(stages="efficientnet", aa_layer="blurpc"),
    "efficientnet_es": dict(**_EDGE),
    "efficientnet_em": dict(depth_multiplier=1.1, **_EDGE),
    "efficientnet_el": dict(width_multiplier=1.2, depth_multiplier=1.4, **_EDGE),
    "tf_efficientnet_es": dict(**_EDGE, **_TF),
    "tf_efficientnet_em": dict(depth_multiplier=1.1, **_EDGE, **_TF),
    "tf_efficientnet_el": dict(width_multiplier=1.2, depth_multiplier=1.4, **_EDGE, **_TF),
    "efficientnetv2_rw_t": dict(
        stages="efficientnetv2_s", stem_size=24, width_multiplier=0.8, depth_multiplier=0.9, act_layer="silu"
    ),
    "efficientnetv2_rw_m": dict(
        stages="efficientnetv2_rw_s",
        stem_size=24,
        num_features=1792,
        width_multiplier=1.2,
        depth_multiplier=(1.2,) * 4 + (1.6,) * 2,
        act_layer="silu",
    ),
    "efficientnetv2_s": dict(stages="efficientnetv2_s", stem_size=24, act_layer="silu"),
    "efficientnetv2_m": dict(stages="efficientnetv2_m", stem_size=24, act_layer="silu"),
    "efficientnetv2_l": dict(stages="efficientnetv2_l", act_layer="silu"),
    "efficientnetv2_xl": dict(stages="efficientnetv2_xl", act_layer="silu"),
    "tf_efficientnetv2_xl": dict(stages="efficientnetv2_xl", **_V2),
    "tf_efficientnetv2_b1": dict(depth_multiplier=1.1, **_V2_BASE),
    "tf_efficientnetv2_b2": dict(width_multiplier=1.1, depth_multiplier=1.2, **_V2_BASE),
    "tf_efficientnetv2_b3": dict(width_multiplier=1.2, depth_multiplier=1.4, **_V2_BASE),
    "mnasnet_050": dict(stages="mnasnet_b1", width_multiplier=0.5, **_RELU_FIXED_HEAD),
    "mnasnet_075": dict(stages="mnasnet_b1", width_multiplier=0.75, **_RELU_FIXED_HEAD),
    "mnasnet_100": dict(stages="mnasnet_b1", **_RELU_FIXED_HEAD),
    "mnasnet_140": dict(stages="mnasnet_b1", width_multiplier=1.4, **_RELU_FIXED_HEAD),
    "semnasnet_050": dict(stages="mnasnet_a1", width_multiplier=0.5, **_RELU_FIXED_HEAD),
    "semnasnet_075": dict(stages="mnasnet_a1", width_multiplier=0.75, **_RELU_FIXED_HEAD),
    "semnasnet_100": dict(stages="mnasnet_a1", **_RELU_FIXED_HEAD),
    "semnasnet_140": dict(stages="mnasnet_a1", width_multiplier=1.4, **_RELU_FIXED_HEAD),
    "mnasnet_small": dict(stages="mnasnet_small", stem_size=8, **_RELU_FIXED_HEAD),
    "spnasnet_100": dict(stages="spnasnet", **_RELU_FIXED_HEAD),
    "fbnetc_100": dict(stages="fbnetc", stem_size=16, num_features=1984, **_RELU_FIXED_HEAD),
    # below width 1 MobileNetV2 keeps its 1280 head
    "mobilenetv2_035": dict(stages="mobilenetv2", width_multiplier=0.35, act_layer="relu6", scale_head=False),
    "mobilenetv2_050": dict(stages="mobilenetv2", width_multiplier=0.5, act_layer="relu6", scale_head=False),
    "mobilenetv2_075": dict(stages="mobilenetv2", width_multiplier=0.75, act_layer="relu6", scale_head=False),
    "mobilenetv1_100": dict(stages="mobilenetv1", num_features=0, act_layer="relu6"),
    "mobilenetv1_100h": dict(stages="mobilenetv1", num_features=1024, act_layer="relu6"),
    "mobilenetv1_125": dict(stages="mobilenetv1", width_multiplier=1.25, num_features=0, act_layer="relu6"),
    "tinynet_a": dict(width_multiplier=1.0, depth_multiplier=1.2, **_TINY),
    "tinynet_b": dict(width_multiplier=0.75, depth_multiplier=1.1, **_TINY),
    "tinynet_c": dict(width_multiplier=0.54, depth_multiplier=0.85, **_TINY),
    "tinynet_d": dict(width_multiplier=0.54, depth_multiplier=0.695, **_TINY),
    "tinynet_e": dict(width_multiplier=0.51, depth_multiplier=0.6, **_TINY),
    "mobilenet_edgetpu_100": dict(stages="mobilenet_edgetpu", **_EDGETPU),
    "mobilenet_edgetpu_v2_xs": dict(stages="mobilenet_edgetpu_v2_xs", **_EDGETPU),
    "mobilenet_edgetpu_v2_s": dict(
        stages="mobilenet_edgetpu_v2_s", stem_size=64, stem_kernel_size=5, **_EDGETPU
    ),
    "mobilenet_edgetpu_v2_m": dict(
        stages="mobilenet_edgetpu_v2_m", stem_size=64, stem_kernel_size=5, num_features=1344, **_EDGETPU
    ),
    "mobilenet_edgetpu_v2_l": dict(
        stages="mobilenet_edgetpu_v2_l", stem_size=64, stem_kernel_size=7, num_features=1408, **_EDGETPU
    ),
    "efficientnet_cc_b0_4e": dict(stages="efficientnet_cc4"),
    "efficientnet_cc_b0_8e": dict(stages="efficientnet_cc8"),
    "efficientnet_cc_b1_8e": dict(stages="efficientnet_cc8", depth_multiplier=1.1),
    "tf_efficientnet_cc_b0_4e": dict(stages="efficientnet_cc4", **_TF),
    "tf_efficientnet_cc_b0_8e": dict(stages="efficientnet_cc8", **_TF),
    "tf_efficientnet_cc_b1_8e": dict(stages="efficientnet_cc8", depth_multiplier=1.1, **_TF),
    "mixnet_s": dict(stages="mixnet_s", stem_size=16, **_MIXNET),
    "mixnet_m": dict(stages="mixnet_m", stem_size=24, **_MIXNET),
    "mixnet_l": dict(stages="mixnet_m", stem_size=24, width_multiplier=1.3, **_MIXNET),
    "mixnet_xl": dict(stages="mixnet_m", stem_size=24, width_multiplier=1.6, depth_multiplier=1.2, **_MIXNET),
    "mixnet_xxl": dict(
        stages="mixnet_m", stem_size=24, width_multiplier=2.4, depth_multiplier=1.3, **_MIXNET
    ),
    "tf_mixnet_s": dict(stages="mixnet_s", stem_size=16, **_MIXNET, **_TF),
    "tf_mixnet_m": dict(stages="mixnet_m", stem_size=24, **_MIXNET, **_TF),
    "tf_mixnet_l": dict(stages="mixnet_m", stem_size=24, width_multiplier=1.3, **_MIXNET, **_TF),
    "test_efficientnet": dict(
        stages="test_efficientnet", stem_size=24, num_features=256, round_limit=0.0, act_layer="silu"
    ),
}

_GN8 = dict(norm_layer="groupnorm", norm_group_size=8)
_GN16 = dict(norm_layer="groupnorm", norm_group_size=16, channel_divisor=16)
_B3 = dict(stages="efficientnet", width_multiplier=1.2, depth_multiplier=1.4)
_TEST = VARIANTS["test_efficientnet"]
_X = dict(stages="efficientnet_x", act_layer="silu")

VARIANTS |= {
    # norm and grouped-conv experiments on EfficientNet-B0/B3 (the "evos" B0 keeps BatchNorm)
    "efficientnet_b0_gn": dict(stages="efficientnet", **_GN8),
    "efficientnet_b0_g8_gn": dict(stages="efficientnet", dw_group_size=8, **_GN8),
    "efficientnet_b0_g16_evos": dict(stages="efficientnet", dw_group_size=16, channel_divisor=16),
    "efficientnet_b3_gn": dict(**_B3, **_GN16),
    "efficientnet_b3_g8_gn": dict(**_B3, dw_group_size=8, **_GN16),
    "test_efficientnet_gn": dict(**_TEST, **_GN8),
    "test_efficientnet_ln": dict(**_TEST, norm_layer="layernorm"),
    "test_efficientnet_evos": dict(**_TEST, norm_layer="evonorm_s0", norm_group_size=8),
    "gc_efficientnetv2_rw_t": dict(**VARIANTS["efficientnetv2_rw_t"], attn_layer="gc"),
    # the pruned EdgeTPU models only have other weights: their architecture is the unpruned one
    "efficientnet_es_pruned": VARIANTS["efficientnet_es"],
    "efficientnet_el_pruned": VARIANTS["efficientnet_el"],
    "efficientnet_x_b3": dict(width_multiplier=1.2, depth_multiplier=1.4, **_X),
    "efficientnet_x_b5": dict(width_multiplier=1.6, depth_multiplier=2.2, **_X),
    "efficientnet_h_b5": dict(
        stages="efficientnet_h", width_multiplier=1.92, depth_multiplier=2.2, act_layer="silu"
    ),
}

# Knapsack-pruned B1-B3: per-block widths from their own stage tables, kept unrounded (divisor 1), TF padding
VARIANTS |= {
    name: dict(stages=name, stem_size=w.stem, num_features=w.head, channel_divisor=1, **_TF)
    for name, w in PRUNED_WIDTHS.items()
}

register_variants(VARIANTS, EfficientNet, checkpoint_filter=checkpoint_filter)
