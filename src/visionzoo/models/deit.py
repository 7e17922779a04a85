"""DeiT: "Training data-efficient image transformers & distillation through attention" (Touvron et al., 2020).

Plain DeiTs are `VisionTransformer`s; distilled ones add a distillation token after the class token,
read by a second classifier `head_dist`. Parameter names follow timm's (and the original DeiT release).
"""

from __future__ import annotations

import torch
from torch import nn

from ..registry import register_variants
from .vision_transformer import VisionTransformer, checkpoint_filter
from .vision_transformer_variants import variant_row

__all__ = ["DistilledVisionTransformer", "VARIANTS", "DISTILLED_VARIANTS"]


class DistilledVisionTransformer(VisionTransformer):
    """ViT with a distillation token and head (DeiT). Takes the same arguments as `VisionTransformer`.

    Tokens are [class, distillation, (registers), patches]. `forward_head` averages the two heads'
    logits, except in training with `set_distilled_training(True)`, where it returns both
    (class-head logits, distillation-head logits) for a distillation loss.
    """

    num_distill_tokens = 1
    distilled_training = False

    def _check_pool(self, global_pool: str, class_token: bool | None = None) -> None:
        if global_pool not in ("token", ""):
            raise ValueError(
                f"a distilled DeiT reads its class and distillation tokens, so global_pool must be 'token', "
                f"got {global_pool!r}"
            )
        if class_token is False:
            raise ValueError("a distilled DeiT needs the class token (class_token=True)")

    def _make_head(self, num_classes: int) -> nn.Module:
        # called by VisionTransformer.__init__ and reset_classifier: both heads are (re)built together
        self.head_dist = super()._make_head(num_classes)
        return super()._make_head(num_classes)

    def _make_prefix_tokens(self, class_token: bool, reg_tokens: int) -> None:
        super()._make_prefix_tokens(class_token, reg_tokens)
        self.dist_token = nn.Parameter(torch.zeros(1, 1, self.embed_dim))  # [1, 1, C]

    def _init_weights(self) -> None:
        super()._init_weights()
        nn.init.trunc_normal_(self.dist_token, std=0.02)

    def _prefix_tokens(self, batch: int) -> list[torch.Tensor]:
        cls, *regs = super()._prefix_tokens(batch)
        return [cls, self.dist_token.expand(batch, -1, -1), *regs]

    def get_classifier(self) -> tuple[nn.Module, nn.Module]:
        return (self.head, self.head_dist)

    def set_distilled_training(self, enable: bool = True) -> None:
        """Make training-mode `forward` return (class logits, distillation logits) instead of their mean."""
        self.distilled_training = bool(enable)

    def forward_head(
        self, x: torch.Tensor, pre_logits: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:  # [B, N, D] -> [B, classes]
        x_cls, x_dist = self.head_drop(x[:, 0]), self.head_drop(x[:, 1])
        if pre_logits:
            return (x_cls + x_dist) / 2
        x_cls, x_dist = self.head(x_cls), self.head_dist(x_dist)
        if self.distilled_training and self.training:
            return x_cls, x_dist
        return (x_cls + x_dist) / 2


DEIT3 = dict(no_embed_class=True, init_values=1e-6)

# name -> (size, patch size, image size, recipe)
_ARCHS: dict[str, tuple[str, int, int, dict]] = {
    "deit_tiny_patch16_224": ("tiny", 16, 224, {}),
    "deit_small_patch16_224": ("small", 16, 224, {}),
    "deit_base_patch16_224": ("base", 16, 224, {}),
    "deit_base_patch16_384": ("base", 16, 384, {}),
    "deit3_small_patch16_224": ("small", 16, 224, DEIT3),
    "deit3_small_patch16_384": ("small", 16, 384, DEIT3),
    "deit3_medium_patch16_224": ("medium", 16, 224, DEIT3),
    "deit3_base_patch16_224": ("base", 16, 224, DEIT3),
    "deit3_base_patch16_384": ("base", 16, 384, DEIT3),
    "deit3_large_patch16_224": ("large", 16, 224, DEIT3),
    "deit3_large_patch16_384": ("large", 16, 384, DEIT3),
    "deit3_huge_patch14_224": ("huge", 14, 224, DEIT3),
}
_DISTILLED: dict[str, tuple[str, int, int, dict]] = {
    "deit_tiny_distilled_patch16_224": ("tiny", 16, 224, {}),
    "deit_small_distilled_patch16_224": ("small", 16, 224, {}),
    "deit_base_distilled_patch16_224": ("base", 16, 224, {}),
    "deit_base_distilled_patch16_384": ("base", 16, 384, {}),
}

VARIANTS: dict[str, dict] = {name: variant_row(*spec) for name, spec in _ARCHS.items()}
DISTILLED_VARIANTS: dict[str, dict] = {name: variant_row(*spec) for name, spec in _DISTILLED.items()}

register_variants(VARIANTS, VisionTransformer, checkpoint_filter=checkpoint_filter, module=__name__)
register_variants(
    DISTILLED_VARIANTS, DistilledVisionTransformer, checkpoint_filter=checkpoint_filter, module=__name__
)
