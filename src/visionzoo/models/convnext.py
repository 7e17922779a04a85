"""ConvNeXt (Liu et al. 2022, "A ConvNet for the 2020s").

State dict keys follow timm's layout (`stem.0/1`, `stages.N.downsample`, `stages.N.blocks.M.{conv_dw,norm,
mlp.fc1,mlp.fc2,gamma}`, `head.{norm,fc}`), so `timm/convnext_*` checkpoints load unchanged. Checkpoints in
the layout of the original FAIR repository (`downsample_layers`, `dwconv`, `pwconv1/2`, ...) are converted by
`checkpoint_filter`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from torch import nn

from ..features import collect_intermediates, feature_take_indices
from ..layers.drop import drop_path_layer, stage_drop_path_rates
from ..layers.grad_checkpoint import checkpoint_active, run_blocks
from ..layers.mlp import Mlp
from ..layers.norm import LayerNorm2d
from ..layers.pooling import SelectAdaptivePool2d
from ..registry import register_variants
from .base import ImageModel, check_num_classes

__all__ = ["ConvNeXt", "ConvNeXtBlock", "ConvNeXtStage", "checkpoint_filter", "VARIANTS"]

# Pool types the norm-then-classify head accepts: the head norm needs the map's own channel count.
HEAD_POOL_TYPES = ("avg", "max", "avgmax", "")


class ConvNeXtBlock(nn.Module):
    """7x7 depthwise conv -> LayerNorm -> MLP (x4) -> layer scale, plus identity shortcut.

    `conv_mlp=True` runs the norm and MLP on NCHW maps (LayerNorm2d, 1x1 convs); otherwise the map is
    permuted to NHWC for nn.LayerNorm and nn.Linear (same maths, different weight shapes).
    """

    def __init__(
        self,
        dim: int,
        kernel_size: int = 7,
        mlp_ratio: float = 4.0,
        conv_mlp: bool = False,
        ls_init_value: float | None = 1e-6,
        norm_eps: float = 1e-6,
        drop_path: float = 0.0,
    ):
        super().__init__()
        self.conv_mlp = conv_mlp
        self.conv_dw = nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = LayerNorm2d(dim, eps=norm_eps) if conv_mlp else nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(mlp_ratio * dim), act_layer=nn.GELU, use_conv=conv_mlp)
        if ls_init_value is not None:
            self.gamma = nn.Parameter(torch.full((dim,), float(ls_init_value)))
        else:
            self.register_parameter("gamma", None)
        self.ls_init_value = ls_init_value
        self.drop_path = drop_path_layer(drop_path)

    def reset_parameters(self) -> None:
        """Re-initialise the layer scale (used when a checkpoint left it unloaded)."""
        if self.gamma is not None:
            with torch.no_grad():
                self.gamma.fill_(float(self.ls_init_value))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, H, W)
        y = self.conv_dw(x)
        if self.conv_mlp:
            y = self.mlp(self.norm(y))
            if self.gamma is not None:
                y = y * self.gamma.view(1, -1, 1, 1)
        else:
            y = y.permute(0, 2, 3, 1)  # (B, H, W, C)
            y = self.mlp(self.norm(y))
            if self.gamma is not None:
                y = y * self.gamma
            y = y.permute(0, 3, 1, 2)  # back to (B, C, H, W)
        return x + self.drop_path(y)


class ConvNeXtStage(nn.Module):
    """Optional downsample (LayerNorm2d + strided conv) followed by a run of ConvNeXt blocks."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        depth: int,
        stride: int = 2,
        kernel_size: int = 7,
        mlp_ratio: float = 4.0,
        conv_mlp: bool = False,
        ls_init_value: float | None = 1e-6,
        norm_eps: float = 1e-6,
        drop_path_rates: Sequence[float] | None = None,
    ):
        super().__init__()
        if in_chs != out_chs or stride > 1:
            self.downsample: nn.Module = nn.Sequential(
                LayerNorm2d(in_chs, eps=norm_eps), nn.Conv2d(in_chs, out_chs, stride, stride)
            )
        else:
            self.downsample = nn.Identity()
        rates = list(drop_path_rates) if drop_path_rates is not None else [0.0] * depth
        self.blocks = nn.Sequential(
            *[
                ConvNeXtBlock(out_chs, kernel_size, mlp_ratio, conv_mlp, ls_init_value, norm_eps, rates[i])
                for i in range(depth)
            ]
        )
        self.grad_checkpointing = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in, H, W) -> (B, out, H/s, W/s)
        return run_blocks(self.blocks, self.downsample(x), checkpoint_active(self))


class NormPoolHead(nn.Module):
    """Pool -> LayerNorm2d -> flatten -> dropout -> classifier.

    With `pool_type=''` nothing is pooled or flattened and the classifier is a 1x1 conv, giving
    per-position logits (B, num_classes, H, W).
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        pool_type: str = "avg",
        drop_rate: float = 0.0,
        norm_eps: float = 1e-6,
    ):
        super().__init__()
        self.in_features = in_features
        self.norm = LayerNorm2d(in_features, eps=norm_eps)
        self.drop = nn.Dropout(drop_rate)
        self.reset(num_classes, pool_type)

    def reset(self, num_classes: int, pool_type: str) -> None:
        """New pooling and a freshly initialised classifier; the norm is kept."""
        if pool_type not in HEAD_POOL_TYPES:
            raise ValueError(
                f"ConvNeXt supports global_pool in {HEAD_POOL_TYPES}, got {pool_type!r} "
                "(the head norm needs pooling that keeps the channel count)"
            )
        device = self.norm.weight.device
        self.global_pool = SelectAdaptivePool2d(pool_type, flatten=False)
        self.flatten: nn.Module = nn.Flatten(1) if pool_type else nn.Identity()
        if num_classes == 0:
            self.fc: nn.Module = nn.Identity()
        elif pool_type:
            self.fc = nn.Linear(self.in_features, num_classes, device=device)
        else:
            self.fc = nn.Conv2d(self.in_features, num_classes, 1, device=device)

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:  # (B, C, H, W)
        x = self.norm(self.global_pool(x))  # (B, C, 1, 1), or (B, C, H, W) unpooled
        x = self.drop(self.flatten(x))  # (B, C) when pooled
        return x if pre_logits else self.fc(x)


class ConvNeXt(ImageModel):
    """ConvNeXt classifier: patchify stem, four stages, norm + classifier head.

    Args:
        depths: blocks per stage.
        dims: channels per stage.
        num_classes: classifier size; 0 gives pooled (normalised) features.
        in_chans: input image channels.
        global_pool: 'avg', 'max', 'avgmax', or '' (no pooling: per-position logits from a 1x1 conv).
        kernel_size: depthwise conv kernel size.
        mlp_ratio: MLP hidden width relative to the block width.
        conv_mlp: run the block norm + MLP as LayerNorm2d + 1x1 convs (timm's atto..nano) instead of
            channels-last LayerNorm + Linear.
        ls_init_value: initial layer-scale value (`gamma`); None disables layer scale.
        patch_size: stem patch size (stride of the stem conv).
        norm_eps: LayerNorm epsilon.
        drop_rate: dropout before the classifier.
        drop_path_rate: stochastic depth, rising linearly to this rate over the blocks.
    """

    feature_key_layout = "flat"

    def __init__(
        self,
        depths: Sequence[int] = (3, 3, 9, 3),
        dims: Sequence[int] = (96, 192, 384, 768),
        num_classes: int = 1000,
        in_chans: int = 3,
        global_pool: str = "avg",
        kernel_size: int = 7,
        mlp_ratio: float = 4.0,
        conv_mlp: bool = False,
        ls_init_value: float | None = 1e-6,
        patch_size: int = 4,
        norm_eps: float = 1e-6,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
    ):
        super().__init__()
        depths, dims = tuple(depths), tuple(dims)
        if len(depths) != len(dims) or not depths:
            raise ValueError(f"depths and dims must have the same, non-zero length, got {depths} and {dims}")
        if not all(isinstance(d, int) and d >= 1 for d in depths + dims):
            raise ValueError(f"depths and dims must be positive ints, got {depths} and {dims}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd int, got {kernel_size}")
        self.num_classes = num_classes
        self.drop_rate = drop_rate
        self.grad_checkpointing = False

        # Stem: (B, in_chans, H, W) -> (B, dims[0], H/p, W/p)
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, dims[0], patch_size, patch_size), LayerNorm2d(dims[0], eps=norm_eps)
        )

        stage_rates = stage_drop_path_rates(drop_path_rate, depths)
        stages = []
        self.feature_info = []
        chs, reduction = dims[0], patch_size
        for i, (depth, dim, rates) in enumerate(zip(depths, dims, stage_rates)):
            stride = 1 if i == 0 else 2
            reduction *= stride
            stages.append(
                ConvNeXtStage(
                    chs,
                    dim,
                    depth,
                    stride,
                    kernel_size,
                    mlp_ratio,
                    conv_mlp,
                    ls_init_value,
                    norm_eps,
                    rates,
                )
            )
            chs = dim
            self.feature_info.append(dict(num_chs=dim, reduction=reduction, module=f"stages.{i}"))
        self.stages = nn.Sequential(*stages)
        self.num_features = chs
        self.norm_pre = (
            nn.Identity()
        )  # a pre-head norm slot, kept for timm's layout (head norm is used instead)
        self.head = NormPoolHead(chs, num_classes, global_pool, drop_rate, norm_eps)
        self.init_weights()

    @torch.no_grad()
    def init_weights(self) -> None:
        """Normal (std 0.02, clipped to +-2) conv and linear weights, zero biases.

        Sampling then clipping equals a truncated normal here (the bounds are 100 std away) and is much
        faster than `trunc_normal_` on the large variants.
        """
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight, std=0.02).clamp_(-2.0, 2.0)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    # -- forward --------------------------------------------------------------------------------------

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, F, H/32, W/32)
        x = self.stages(self.stem(x))
        return self.norm_pre(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.head(x, pre_logits=pre_logits)

    # -- classifier -----------------------------------------------------------------------------------

    def get_classifier(self) -> nn.Module:
        return self.head.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Fresh classifier with `num_classes` outputs (0: none), optionally changing the pooling."""
        pool_type = self.head.global_pool.pool_type if global_pool is None else global_pool
        self.head.reset(check_num_classes(num_classes), pool_type)
        self.num_classes = num_classes

    # -- features -------------------------------------------------------------------------------------

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | Sequence[int] | None = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """Output of each stage (indices 0..3). `norm` has no effect: the stage outputs are not normalised."""
        take, _ = feature_take_indices(len(self.feature_info), indices)
        first, *rest = self.stages
        steps = [lambda t: first(self.stem(t)), *rest]
        x, maps = collect_intermediates(x, steps, take, output_fmt, stop_early or intermediates_only)
        return maps if intermediates_only else (self.norm_pre(x), maps)

    def prune_intermediate_layers(
        self, indices: int | Sequence[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        """Drop the stages after the last map in `indices` (and the head); returns the kept positions."""
        take, last = feature_take_indices(len(self.feature_info), indices)
        self.stages = self.stages[: last + 1]
        if prune_norm:
            self.norm_pre = nn.Identity()
        if prune_head:
            self.reset_classifier(0, "")
            if prune_norm:
                self.head.norm = (
                    nn.Identity()
                )  # the head's norm is the last norm: nothing of the head is left
        return take

    def group_matcher(self, coarse: bool = False) -> dict:
        if coarse:
            return dict(stem=r"^stem", blocks=r"^stages\.(\d+)")
        blocks = [
            (r"^stages\.(\d+)\.downsample", (0,)),  # a stage's downsample goes with its first block
            (r"^stages\.(\d+)\.blocks\.(\d+)", None),
            (r"^norm_pre", (99999,)),
        ]
        return dict(stem=r"^stem", blocks=blocks)


# -- checkpoints --------------------------------------------------------------------------------------

_FAIR_BLOCK_RENAMES = {"dwconv": "conv_dw", "pwconv1": "mlp.fc1", "pwconv2": "mlp.fc2"}


def _fair_key_to_timm(key: str) -> str:
    """One key of the original FAIR ConvNeXt layout, renamed to timm's layout."""
    if m := re.match(r"downsample_layers\.0\.(.+)", key):
        return f"stem.{m[1]}"
    if m := re.match(r"downsample_layers\.(\d+)\.(.+)", key):
        return f"stages.{m[1]}.downsample.{m[2]}"
    if m := re.match(r"stages\.(\d+)\.(\d+)\.([a-z0-9_]+)\.(.+)", key):
        stage, block, layer, rest = m.groups()
        return f"stages.{stage}.blocks.{block}.{_FAIR_BLOCK_RENAMES.get(layer, layer)}.{rest}"
    if m := re.match(r"stages\.(\d+)\.(\d+)\.gamma$", key):
        return f"stages.{m[1]}.blocks.{m[2]}.gamma"
    if m := re.match(r"norm\.(weight|bias)$", key):
        return f"head.norm.{m[1]}"
    if m := re.match(r"head\.(weight|bias)$", key):
        return f"head.fc.{m[1]}"
    return key


def convert_fair_convnext(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename a FAIR-layout ConvNeXt state dict to timm's keys and fit MLP weights to the model's shapes.

    FAIR's blocks use nn.Linear for the MLP ([out, in]); models with `conv_mlp` hold 1x1 convs
    ([out, in, 1, 1]), so such weights are reshaped when the model asks for it.
    """
    own = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        new = _fair_key_to_timm(key)
        target = own.get(new)
        if target is not None and target.ndim == 4 and value.ndim == 2:
            value = value[:, :, None, None]  # Linear (out, in) -> 1x1 conv (out, in, 1, 1)
        out[new] = value
    return out


def checkpoint_filter(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Fit a ConvNeXt checkpoint to `model`: timm keys pass through, FAIR-layout keys are converted."""
    if any(k.startswith("downsample_layers.") for k in state_dict):
        return convert_fair_convnext(state_dict, model)
    return dict(state_dict)


# -- variants -----------------------------------------------------------------------------------------

_CONV_MLP = dict(conv_mlp=True)

VARIANTS: dict[str, dict] = {
    "convnext_atto": dict(depths=(2, 2, 6, 2), dims=(40, 80, 160, 320), **_CONV_MLP),
    "convnext_femto": dict(depths=(2, 2, 6, 2), dims=(48, 96, 192, 384), **_CONV_MLP),
    "convnext_pico": dict(depths=(2, 2, 6, 2), dims=(64, 128, 256, 512), **_CONV_MLP),
    "convnext_nano": dict(depths=(2, 2, 8, 2), dims=(80, 160, 320, 640), **_CONV_MLP),
    "convnext_tiny": dict(depths=(3, 3, 9, 3), dims=(96, 192, 384, 768)),
    "convnext_small": dict(depths=(3, 3, 27, 3), dims=(96, 192, 384, 768)),
    "convnext_base": dict(depths=(3, 3, 27, 3), dims=(128, 256, 512, 1024)),
    "convnext_large": dict(depths=(3, 3, 27, 3), dims=(192, 384, 768, 1536)),
    "convnext_xlarge": dict(depths=(3, 3, 27, 3), dims=(256, 512, 1024, 2048)),
}

register_variants(VARIANTS, ConvNeXt, checkpoint_filter=checkpoint_filter)
