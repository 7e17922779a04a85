"""Hybrid Vision Transformers: a ViT whose patch embedding is a CNN (Dosovitskiy et al. 2020, "R50+ViT";
Steiner et al. 2021, "How to train your ViT?"; MobileCLIP's `vit_base_mci_224`).

The CNN's last feature map is cut into patches (usually 1x1) and projected to the transformer width; the
rest is the plain `VisionTransformer`, given `HybridEmbed` as its `embed_layer`. The backbones are this
library's own: a post-activation, TF-"SAME"-padded ResNet-V2 (`resnetv2.ResNetV2(preact=False)`, or its
stem alone), a `resnet.ResNet` cut after a stage, or MobileCLIP's three-conv stem. State-dict keys are
timm's (`patch_embed.backbone.stem.conv.weight`, `patch_embed.proj.weight`, ...).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from ..layers.conv_norm_act import ConvNormAct
from ..layers.helpers import to_2tuple
from ..layers.patch_embed import check_patch_input
from ..registry import register_variants
from .resnet import VARIANTS as RESNET_VARIANTS
from .resnet import ResNet
from .resnetv2 import ResNetV2, create_stem, make_conv, make_norm
from .vision_transformer import VisionTransformer
from .vision_transformer import checkpoint_filter as vit_checkpoint_filter
from .vision_transformer_variants import SIZES

__all__ = [
    "HybridBackbone",
    "HybridEmbed",
    "build_backbone",
    "checkpoint_filter",
    "convert_mobileclip",
    "VARIANTS",
]

BACKBONE_KINDS = ("resnetv2", "resnet", "mci")
# traced graphs keep the input check as a leaf (torch.fx.wrap patches the calling module only)
torch.fx.wrap("check_patch_input")
_SIZE_HINT = "create the model with img_size=(H, W) or dynamic_img_size=True"


@dataclass(frozen=True)
class HybridBackbone:
    """Which CNN runs in front of a hybrid ViT's token projection.

    kind: 'resnetv2' (BiT-style post-activation ResNet-V2 with TF "SAME" padding, `layers` blocks per
        stage; no stages: its stem alone), 'resnet' (the ResNet architecture `arch`, cut after stage
        `out_index`) or 'mci' (MobileCLIP's 4x4/2x2/2x2 conv stem, 768 wide).
    """

    kind: str
    layers: tuple[int, ...] = ()
    arch: str = ""
    out_index: int = 4

    def __post_init__(self) -> None:
        if self.kind not in BACKBONE_KINDS:
            raise ValueError(f"backbone kind must be one of {BACKBONE_KINDS}, got {self.kind!r}")
        if self.kind == "resnet" and self.arch not in RESNET_VARIANTS:
            raise ValueError(f"unknown ResNet architecture {self.arch!r} for a hybrid backbone")
        if self.kind == "resnet" and not 1 <= self.out_index <= 4:
            raise ValueError(f"out_index must be a ResNet stage 1..4, got {self.out_index!r}")


@dataclass(frozen=True)
class BackboneOutput:
    """What a built backbone gives: its feature map's channels and stride, and whether each strided layer
    rounds the map size up (padded convs and pools) or down (unpadded ones)."""

    channels: int
    stride: int
    ceil: bool = True


def _mci_stem(in_chans: int) -> nn.Sequential:
    """MobileCLIP's stem: 4x4/4 and 2x2/2 conv + BN + GELU, then a biased 2x2/2 conv to 768 channels."""
    return nn.Sequential(
        ConvNormAct(in_chans, 192, 4, 4, act="gelu", padding=0),
        ConvNormAct(192, 192, 2, 2, act="gelu", padding=0),
        nn.Sequential(OrderedDict(conv=nn.Conv2d(192, 768, 2, 2, bias=True))),
    )


def build_backbone(spec: HybridBackbone, in_chans: int) -> tuple[nn.Module, BackboneOutput]:
    """The CNN of `spec` for `in_chans`-channel images, and what its feature map looks like."""
    if spec.kind == "mci":
        return _mci_stem(in_chans), BackboneOutput(768, 16, ceil=False)
    if spec.kind == "resnet":
        model = ResNet(**RESNET_VARIANTS[spec.arch], num_classes=0, global_pool="", in_chans=in_chans)
        model.prune_intermediate_layers([spec.out_index], prune_head=True)
        info = model.feature_info[spec.out_index]
        return model, BackboneOutput(info["num_chs"], info["reduction"])
    # BiT's ResNet-V2 as the ViT paper's hybrids use it: post-activation, 'same' padding, variance eps 1e-8
    if not spec.layers:
        conv, norm = make_conv("std_same", 1e-8), make_norm("groupnorm")
        stem, _ = create_stem(in_chans, 64, "same", conv, norm, preact=False)
        return stem, BackboneOutput(64, 4)
    options = dict(stem_type="same", conv="std_same", std_eps=1e-8, norm="groupnorm", preact=False)
    channels = (256, 512, 1024, 2048)[: len(spec.layers)]
    model = ResNetV2(spec.layers, channels, num_classes=0, global_pool="", in_chans=in_chans, **options)
    info = model.feature_info[-1]
    return model, BackboneOutput(info["num_chs"], info["reduction"])


class HybridEmbed(nn.Module):
    """A CNN's feature map as patch tokens: the backbone (`backbone`), then a patch projection (`proj`,
    kernel = stride = `patch_size` on the feature map) to `embed_dim`, as an NHWC token grid [B, h, w, D].

    Takes PatchEmbed's arguments, so it is a `VisionTransformer` `embed_layer`; `backbone` says which CNN
    and `proj=False` leaves the projection out (the backbone's width must then be `embed_dim`). With
    `dynamic_img_pad` the feature map is zero-padded (bottom/right) to a multiple of the patch size.
    """

    def __init__(
        self,
        img_size: int | tuple[int, int] = 224,
        patch_size: int | tuple[int, int] = 1,
        in_chans: int = 3,
        embed_dim: int = 768,
        bias: bool = True,
        norm_layer: Callable[[int], nn.Module] | None = None,
        dynamic_img_size: bool = False,
        dynamic_img_pad: bool = False,
        *,
        backbone: HybridBackbone,
        proj: bool = True,
    ):
        super().__init__()
        if not isinstance(backbone, HybridBackbone):
            raise TypeError(f"backbone must be a HybridBackbone, got {type(backbone).__name__}")
        self.img_size: tuple[int, int] = to_2tuple(img_size, "img_size")
        self.patch_size: tuple[int, int] = to_2tuple(patch_size, "patch_size")
        self.in_chans = in_chans
        self.dynamic_img_size = dynamic_img_size
        self.dynamic_img_pad = dynamic_img_pad
        self.backbone, self.backbone_output = build_backbone(backbone, in_chans)
        self.grid_size = self.feat_size(self.img_size, pad=False)
        if min(self.grid_size) < 1:
            raise ValueError(
                f"img_size {self.img_size} gives a feature map smaller than one {self.patch_size} patch"
            )
        self.num_patches = math.prod(self.grid_size)
        channels = self.backbone_output.channels
        if proj:
            self.proj = nn.Conv2d(channels, embed_dim, self.patch_size, stride=self.patch_size, bias=bias)
        elif channels != embed_dim:
            raise ValueError(f"proj=False needs a backbone {embed_dim} wide (embed_dim), it is {channels}")
        else:
            self.proj = nn.Identity()
        self.norm = norm_layer(embed_dim) if norm_layer is not None else nn.Identity()

    @property
    def reduction(self) -> int:
        """Input pixels per token along a side: the backbone's stride times the patch size."""
        return self.backbone_output.stride * self.patch_size[0]

    def feat_size(self, img_size: tuple[int, int], pad: bool | None = None) -> tuple[int, int]:
        """Token grid (h, w) for an input of `img_size` (h, w)."""
        pad = self.dynamic_img_pad if pad is None else pad
        stride = self.backbone_output.stride
        if self.backbone_output.ceil:  # -(-a // b): ceil division that torch.fx can trace
            fh, fw = -(-img_size[0] // stride), -(-img_size[1] // stride)
        else:
            fh, fw = img_size[0] // stride, img_size[1] // stride
        (ph, pw) = self.patch_size
        if pad:
            return -(-fh // ph), -(-fw // pw)
        return fh // ph, fw // pw

    def check_input(self, x: torch.Tensor) -> torch.Tensor:
        """`x`, after raising a ValueError when it is not an image batch this embedding accepts."""
        img_size = None if self.dynamic_img_size else self.img_size
        return check_patch_input(x, self.in_chans, img_size, None, _SIZE_HINT)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] -> [B, h, w, D]
        x = self.check_input(x)
        if isinstance(self.backbone, (ResNet, ResNetV2)):
            x = self.backbone.forward_features(x)  # [B, F, H/s, W/s]
        else:
            x = self.backbone(x)
        if self.dynamic_img_pad:
            ph, pw = self.patch_size
            x = F.pad(x, (0, -x.shape[-1] % pw, 0, -x.shape[-2] % ph))
        x = self.proj(x).permute(0, 2, 3, 1)  # [B, h, w, D]
        return self.norm(x)


# -- checkpoints ------------------------------------------------------------------------------------

_MOBILECLIP_PREFIX = "image_encoder.model."
# Apple's MobileCLIP image-encoder names -> timm's, applied in order to each key (substring renames)
_MOBILECLIP_RENAMES = (
    ("patch_emb.", "patch_embed.backbone."),
    ("block.conv", "conv"),
    ("block.norm", "bn"),
    ("post_transformer_norm.", "norm."),
    ("pre_norm_mha.0", "norm1"),
    ("pre_norm_mha.1", "attn"),
    ("pre_norm_ffn.0", "norm2"),
    ("pre_norm_ffn.1", "mlp.fc1"),
    ("pre_norm_ffn.4", "mlp.fc2"),
    ("qkv_proj.", "qkv."),
    ("out_proj.", "proj."),
    ("transformer.", "blocks."),
)


def convert_mobileclip(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An original MobileCLIP checkpoint (the whole CLIP model) as the image tower in timm's layout: the
    text tower is dropped, names are renamed, the position embedding loses its extra leading dim and the
    bias-free projection `classifier.proj` [D, E] becomes the head (weight [E, D], zero bias)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if not key.startswith(_MOBILECLIP_PREFIX):
            continue  # the text tower and the logit scale
        key = key[len(_MOBILECLIP_PREFIX) :]
        if key == "pos_embed.pos_embed.pos_embed":  # [1, 1, N, D]
            out["pos_embed"] = value.squeeze(0)
            continue
        if key == "classifier.proj":
            out["head.weight"] = value.T
            out["head.bias"] = value.new_zeros(value.shape[1])
            continue
        for old, new in _MOBILECLIP_RENAMES:
            key = key.replace(old, new)
        out[key] = value
    return out


def checkpoint_filter(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """A hybrid ViT checkpoint fitted to `model`: Apple's MobileCLIP layout converted, then the ViT fix-ups
    (`vision_transformer.checkpoint_filter`: position / patch embedding resampling, old names)."""
    if any(k.startswith(_MOBILECLIP_PREFIX + "patch_emb.") for k in state_dict):
        state_dict = convert_mobileclip(state_dict)
    return vit_checkpoint_filter(state_dict, model)


# -- variants -----------------------------------------------------------------------------------------


def _row(
    size: str | tuple[int, int, int, float],
    img_size: int,
    backbone: HybridBackbone,
    patch_size: int = 1,
    proj: bool = True,
    **extra,
) -> dict:
    """A hybrid: the transformer size (a SIZES name or (width, depth, heads, MLP ratio)), input size,
    backbone and patch size on its feature map."""
    dim, depth, heads, mlp = SIZES[size] if isinstance(size, str) else size
    embed = partial(HybridEmbed, backbone=backbone, proj=proj)
    return dict(
        embed_layer=embed,
        img_size=img_size,
        patch_size=patch_size,
        embed_dim=dim,
        depth=depth,
        num_heads=heads,
        mlp_ratio=mlp,
        **extra,
    )


_STEM = HybridBackbone("resnetv2")
_R26 = HybridBackbone("resnetv2", layers=(2, 2, 2, 2))
_R50_S16 = HybridBackbone("resnetv2", layers=(3, 4, 9))  # three stages: stride 16
_R50 = HybridBackbone("resnetv2", layers=(3, 4, 6, 3))
_CUSTOM_SMALL = (768, 8, 8, 3.0)  # the timm-trained 'small' hybrids: base width, 8 blocks

VARIANTS: dict[str, dict] = {
    "vit_tiny_r_s16_p8_224": _row("tiny", 224, _STEM, patch_size=8),
    "vit_tiny_r_s16_p8_384": _row("tiny", 384, _STEM, patch_size=8),
    "vit_small_r26_s32_224": _row("small", 224, _R26),
    "vit_small_r26_s32_384": _row("small", 384, _R26),
    "vit_base_r26_s32_224": _row("base", 224, _R26),
    "vit_base_r50_s16_224": _row("base", 224, _R50_S16),
    "vit_base_r50_s16_384": _row("base", 384, _R50_S16),
    "vit_large_r50_s32_224": _row("large", 224, _R50),
    "vit_large_r50_s32_384": _row("large", 384, _R50),
    "vit_small_resnet26d_224": _row(_CUSTOM_SMALL, 224, HybridBackbone("resnet", arch="resnet26d")),
    "vit_small_resnet50d_s16_224": _row(
        _CUSTOM_SMALL, 224, HybridBackbone("resnet", arch="resnet50d", out_index=3)
    ),
    "vit_base_resnet26d_224": _row("base", 224, HybridBackbone("resnet", arch="resnet26d")),
    "vit_base_resnet50d_224": _row("base", 224, HybridBackbone("resnet", arch="resnet50d")),
    "vit_base_mci_224": _row("base", 224, HybridBackbone("mci"), proj=False, no_embed_class=True),
}

register_variants(VARIANTS, VisionTransformer, checkpoint_filter=checkpoint_filter, module=__name__)
