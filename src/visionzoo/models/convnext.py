"""ConvNeXt (Liu et al. 2022, "A ConvNet for the 2020s").

State dict keys follow timm's layout (`stem.0/1`, `stages.N.downsample`, `stages.N.blocks.M.{conv_dw,norm,
mlp.fc1,mlp.fc2,gamma}`, `head.{norm,fc}`), so `timm/convnext_*` checkpoints load unchanged. Checkpoints in
the layout of the original FAIR repository (`downsample_layers`, `dwconv`, `pwconv1/2`, ...) are converted by
`checkpoint_filter`.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..features import collect_intermediates, feature_take_indices
from ..layers.activations import get_act_layer
from ..layers.conv2d_same import create_conv2d
from ..layers.drop import drop_path_layer, stage_drop_path_rates
from ..layers.grad_checkpoint import checkpoint_active, run_blocks
from ..layers.grn import GlobalResponseNormMlp
from ..layers.helpers import first_block_dilation, make_divisible
from ..layers.mlp import Mlp
from ..layers.norm import NORM_2D, LayerNorm2d
from ..layers.pooling import SelectAdaptivePool2d
from ..registry import register_variants
from ..utils.checks import check_output_stride
from .base import ImageModel, check_num_classes

_logger = logging.getLogger(__name__)

NormFactory = Callable[[int], nn.Module]
STEM_TYPES = ("patch", "overlap", "overlap_tiered", "overlap_act")

__all__ = ["ConvNeXt", "ConvNeXtBlock", "ConvNeXtStage", "checkpoint_filter", "VARIANTS"]

# Pool types the norm-then-classify head accepts: the head norm needs the map's own channel count.
HEAD_POOL_TYPES = ("avg", "max", "avgmax", "")


class ConvNeXtBlock(nn.Module):
    """Depthwise conv -> norm -> MLP (x4) -> layer scale, plus identity shortcut.

    `conv_mlp=True` runs the norm and MLP on NCHW maps (a 2-D channel norm, 1x1 convs); otherwise the map
    is permuted to NHWC for nn.LayerNorm and nn.Linear (same maths, different weight shapes). `use_grn`
    puts ConvNeXt-V2's global response norm inside the MLP.
    """

    def __init__(
        self,
        dim: int,
        kernel_size: int = 7,
        mlp_ratio: float = 4.0,
        conv_mlp: bool = False,
        ls_init_value: float | None = 1e-6,
        norm_layer: NormFactory | None = None,
        act_layer: Callable[[], nn.Module] = nn.GELU,
        use_grn: bool = False,
        drop_path: float = 0.0,
        dilation: int = 1,
    ):
        super().__init__()
        self.conv_mlp = conv_mlp
        pad = dilation * (kernel_size - 1) // 2
        self.conv_dw = nn.Conv2d(dim, dim, kernel_size, padding=pad, dilation=dilation, groups=dim)
        if norm_layer is None:
            norm_layer = LayerNorm2d if conv_mlp else (lambda c: nn.LayerNorm(c, eps=1e-6))
        self.norm = norm_layer(dim)
        mlp_cls = GlobalResponseNormMlp if use_grn else Mlp
        self.mlp = mlp_cls(dim, int(mlp_ratio * dim), act_layer=act_layer, use_conv=conv_mlp)
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
    """Optional downsample (channel norm + strided conv) followed by a run of ConvNeXt blocks.

    `norm_layer` is the NCHW norm of the downsample; `block_norm` the blocks' own (channels-last unless
    `conv_mlp`). `dilation` is (the downsample's, the blocks'): a stage that dilates instead of striding
    keeps a 2x2 downsample conv at stride 1 with TF-"SAME" padding.
    """

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
        norm_layer: NormFactory = LayerNorm2d,
        block_norm: NormFactory | None = None,
        act_layer: Callable[[], nn.Module] = nn.GELU,
        use_grn: bool = False,
        drop_path_rates: Sequence[float] | None = None,
        dilation: tuple[int, int] = (1, 1),
    ):
        super().__init__()
        first_dilation, block_dilation = dilation
        dilated = first_dilation != block_dilation
        if in_chs != out_chs or stride > 1 or dilated:
            kernel = stride if stride > 1 else 2 if dilated else 1
            if block_dilation > 1:  # a dilated stage: (B, in, H, W) -> (B, out, H, W)
                conv = create_conv2d(
                    in_chs, out_chs, kernel, stride, first_dilation, bias=True, padding="same"
                )
            else:
                conv = nn.Conv2d(in_chs, out_chs, kernel, stride)
            self.downsample: nn.Module = nn.Sequential(norm_layer(in_chs), conv)
        else:
            self.downsample = nn.Identity()
        rates = list(drop_path_rates) if drop_path_rates is not None else [0.0] * depth
        self.blocks = nn.Sequential(
            *[
                ConvNeXtBlock(
                    out_chs,
                    kernel_size,
                    mlp_ratio,
                    conv_mlp,
                    ls_init_value,
                    block_norm,
                    act_layer,
                    use_grn,
                    rates[i],
                    block_dilation,
                )
                for i in range(depth)
            ]
        )
        self.grad_checkpointing = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in, H, W) -> (B, out, H/s, W/s)
        return run_blocks(self.blocks, self.downsample(x), checkpoint_active(self))


class NormPoolHead(nn.Module):
    """Pool -> norm -> flatten -> [hidden fc + GELU] -> dropout -> classifier.

    With `pool_type=''` nothing is pooled or flattened and the linear layers are 1x1 convs, giving
    per-position logits (B, num_classes, H, W). `norm_layer=None` leaves the norm out (the model normalised
    before the head); `hidden_size` adds the pre-logits layer of the CLIP towers (`pre_logits.fc`).
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        pool_type: str = "avg",
        drop_rate: float = 0.0,
        norm_layer: NormFactory | None = LayerNorm2d,
        hidden_size: int | None = None,
    ):
        super().__init__()
        self.in_features = in_features
        self.hidden_size = hidden_size
        self.num_features = hidden_size or in_features
        self.norm = norm_layer(in_features) if norm_layer is not None else nn.Identity()
        self.pre_logits: nn.Module = nn.Identity()
        if hidden_size:
            fc = nn.Linear(in_features, hidden_size) if pool_type else nn.Conv2d(in_features, hidden_size, 1)
            self.pre_logits = nn.Sequential(OrderedDict(fc=fc, act=nn.GELU()))
        self.drop = nn.Dropout(drop_rate)
        self.reset(num_classes, pool_type)

    def reset(self, num_classes: int, pool_type: str) -> None:
        """New pooling and a freshly initialised classifier; the norm and hidden layer are kept."""
        if pool_type not in HEAD_POOL_TYPES:
            raise ValueError(
                f"ConvNeXt supports global_pool in {HEAD_POOL_TYPES}, got {pool_type!r} "
                "(the head norm needs pooling that keeps the channel count)"
            )
        device = next((p.device for p in self.parameters()), None)
        self.global_pool = SelectAdaptivePool2d(pool_type, flatten=False)
        self.flatten: nn.Module = nn.Flatten(1) if pool_type else nn.Identity()
        if self.hidden_size:
            self.pre_logits.fc = _as_linear_or_conv(self.pre_logits.fc, conv=not pool_type)
        if num_classes == 0:
            self.fc: nn.Module = nn.Identity()
        elif pool_type:
            self.fc = nn.Linear(self.num_features, num_classes, device=device)
        else:
            self.fc = nn.Conv2d(self.num_features, num_classes, 1, device=device)

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:  # (B, C, H, W)
        x = self.norm(self.global_pool(x))  # (B, C, 1, 1), or (B, C, H, W) unpooled
        x = self.drop(self.pre_logits(self.flatten(x)))  # (B, C) when pooled
        return x if pre_logits else self.fc(x)


def _as_linear_or_conv(layer: nn.Module, conv: bool) -> nn.Module:
    """The same weights as a 1x1 conv (`conv`) or a Linear layer; `layer` itself when it already is one."""
    if isinstance(layer, nn.Conv2d) == conv:
        return layer
    out_f, in_f = layer.weight.shape[:2]
    new = nn.Conv2d(in_f, out_f, 1) if conv else nn.Linear(in_f, out_f)
    new = new.to(layer.weight.device)
    with torch.no_grad():
        new.weight.copy_(layer.weight.reshape(new.weight.shape))
        new.bias.copy_(layer.bias)
    return new


class ConvNeXt(ImageModel):
    """ConvNeXt classifier: patchify stem, four stages, norm + classifier head.

    Args:
        depths: blocks per stage.
        dims: channels per stage.
        num_classes: classifier size; 0 gives pooled (normalised) features.
        in_chans: input image channels.
        global_pool: 'avg', 'max', 'avgmax', or '' (no pooling: per-position logits from a 1x1 conv).
        kernel_size: depthwise conv kernel size, one for all stages or one per stage.
        mlp_ratio: MLP hidden width relative to the block width.
        conv_mlp: run the block norm + MLP on NCHW maps (2-D norm + 1x1 convs, timm's atto..nano) instead
            of channels-last LayerNorm + Linear.
        ls_init_value: initial layer-scale value (`gamma`); None disables layer scale.
        stem_type: 'patch' (one conv with stride `patch_size`), or two stride-2 3x3 convs: 'overlap'
            (both of width dims[0]), 'overlap_tiered' (the first of half width) or 'overlap_act' (an
            activation between them).
        patch_size: stem patch size (stride of the patch stem).
        norm_layer: 'layernorm', 'rmsnorm' or 'simplenorm' (the latter two need `conv_mlp`).
        norm_eps: norm epsilon.
        act_layer: MLP activation by name.
        use_grn: global response norm in the MLP (ConvNeXt-V2).
        head_norm_first: normalise the map before pooling (`norm_pre`) instead of after.
        head_hidden_size: width of a hidden fc + GELU before the classifier (the CLIP towers).
        drop_rate: dropout before the classifier.
        drop_path_rate: stochastic depth, rising linearly to this rate over the blocks.
        output_stride: 32, or 16 / 8 to dilate the later stages instead of striding them.
    """

    feature_key_layout = "flat"

    def __init__(
        self,
        depths: Sequence[int] = (3, 3, 9, 3),
        dims: Sequence[int] = (96, 192, 384, 768),
        num_classes: int = 1000,
        in_chans: int = 3,
        global_pool: str = "avg",
        kernel_size: int | Sequence[int] = 7,
        mlp_ratio: float = 4.0,
        conv_mlp: bool = False,
        ls_init_value: float | None = 1e-6,
        stem_type: str = "patch",
        patch_size: int = 4,
        norm_layer: str = "layernorm",
        norm_eps: float = 1e-6,
        act_layer: str = "gelu",
        use_grn: bool = False,
        head_norm_first: bool = False,
        head_hidden_size: int | None = None,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        output_stride: int = 32,
    ):
        super().__init__()
        check_output_stride(output_stride)
        depths, dims = tuple(depths), tuple(dims)
        if len(depths) != len(dims) or not depths:
            raise ValueError(f"depths and dims must have the same, non-zero length, got {depths} and {dims}")
        if not all(isinstance(d, int) and d >= 1 for d in depths + dims):
            raise ValueError(f"depths and dims must be positive ints, got {depths} and {dims}")
        kernel_sizes = (kernel_size,) * len(depths) if isinstance(kernel_size, int) else tuple(kernel_size)
        if len(kernel_sizes) != len(depths) or any(
            not isinstance(k, int) or k < 1 or k % 2 == 0 for k in kernel_sizes
        ):
            raise ValueError(f"kernel_size must be a positive odd int (or one per stage), got {kernel_size}")
        if stem_type not in STEM_TYPES:
            raise ValueError(f"stem_type must be one of {STEM_TYPES}, got {stem_type!r}")
        if norm_layer not in NORM_2D:
            raise ValueError(f"norm_layer must be one of {tuple(NORM_2D)}, got {norm_layer!r}")
        if norm_layer != "layernorm" and not conv_mlp:
            raise ValueError(f"norm_layer={norm_layer!r} needs conv_mlp=True (it only exists for NCHW maps)")
        if head_norm_first and head_hidden_size:
            raise ValueError(
                "head_hidden_size needs head_norm_first=False (the hidden layer follows the head norm)"
            )
        act = get_act_layer(act_layer)
        norm2d_cls = NORM_2D[norm_layer]

        def norm2d(c: int) -> nn.Module:
            return norm2d_cls(c, eps=norm_eps)

        def block_norm(c: int) -> nn.Module:
            return norm2d(c) if conv_mlp else nn.LayerNorm(c, eps=norm_eps)

        self.num_classes = num_classes
        self.drop_rate = drop_rate
        self.grad_checkpointing = False

        # Stem: (B, in_chans, H, W) -> (B, dims[0], H/s, W/s)
        if stem_type == "patch":
            self.stem = nn.Sequential(nn.Conv2d(in_chans, dims[0], patch_size, patch_size), norm2d(dims[0]))
            stem_stride = patch_size
        else:
            mid = make_divisible(dims[0] // 2) if stem_type == "overlap_tiered" else dims[0]
            layers = [nn.Conv2d(in_chans, mid, 3, 2, 1)]
            if stem_type == "overlap_act":
                layers.append(act())
            layers += [nn.Conv2d(mid, dims[0], 3, 2, 1), norm2d(dims[0])]
            self.stem = nn.Sequential(*layers)
            stem_stride = 4

        stage_rates = stage_drop_path_rates(drop_path_rate, depths)
        stages = []
        self.feature_info = []
        chs, reduction, dilation = dims[0], stem_stride, 1
        for i, (depth, dim, rates) in enumerate(zip(depths, dims, stage_rates)):
            stride = 1 if i == 0 else 2
            if reduction * stride > output_stride:  # past output_stride: dilate instead of striding
                stride, dilation = 1, dilation * stride
            reduction *= stride
            stages.append(
                ConvNeXtStage(
                    chs,
                    dim,
                    depth,
                    stride,
                    kernel_sizes[i],
                    mlp_ratio,
                    conv_mlp,
                    ls_init_value,
                    norm2d,
                    block_norm,
                    act,
                    use_grn,
                    rates,
                    (first_block_dilation(dilation), dilation),
                )
            )
            chs = dim
            self.feature_info.append(dict(num_chs=dim, reduction=reduction, module=f"stages.{i}"))
        self.stages = nn.Sequential(*stages)
        self.num_features = chs
        # Either the map is normalised before pooling (`norm_pre`), or the pooled vector in the head.
        self.norm_pre = norm2d(chs) if head_norm_first else nn.Identity()
        head_norm = None if head_norm_first else norm2d
        self.head = NormPoolHead(chs, num_classes, global_pool, drop_rate, head_norm, head_hidden_size)
        self.head_hidden_size = self.head.num_features
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
_FAIR_GRN_RENAMES = {"grn.gamma": "mlp.grn.weight", "grn.beta": "mlp.grn.bias"}


def _fair_key_to_timm(key: str) -> str:
    """One key of the original FAIR ConvNeXt (V1 or V2) layout, renamed to timm's layout."""
    if m := re.match(r"downsample_layers\.0\.(.+)", key):
        return f"stem.{m[1]}"
    if m := re.match(r"downsample_layers\.(\d+)\.(.+)", key):
        return f"stages.{m[1]}.downsample.{m[2]}"
    if m := re.match(r"stages\.(\d+)\.(\d+)\.(grn\.(?:gamma|beta))$", key):
        return f"stages.{m[1]}.blocks.{m[2]}.{_FAIR_GRN_RENAMES[m[3]]}"
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
    """Rename a FAIR-layout ConvNeXt state dict to timm's keys and fit weights to the model's shapes.

    FAIR's blocks use nn.Linear for the MLP ([out, in]); models with `conv_mlp` hold 1x1 convs
    ([out, in, 1, 1]), so such weights are reshaped when the model asks for it. ConvNeXt-V2's GRN
    parameters are stored as [1, 1, 1, C] and become vectors.
    """
    own = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        new = _fair_key_to_timm(key)
        target = own.get(new)
        if target is not None and target.ndim == 4 and value.ndim == 2:
            value = value[:, :, None, None]  # Linear (out, in) -> 1x1 conv (out, in, 1, 1)
        elif new.endswith((".grn.weight", ".grn.bias")):
            value = value.reshape(-1)  # [1, 1, 1, C] -> [C]
        out[new] = value
    return out


def convert_open_clip_convnext(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An open_clip image tower (`visual.trunk.*` + `visual.head.*`) as a timm-layout ConvNeXt.

    The projection becomes the classifier (open_clip's has no bias: a zero one is added); an MLP
    projection becomes the pre-logits layer and the classifier.
    """
    out = {k[len("visual.trunk.") :]: v for k, v in state_dict.items() if k.startswith("visual.trunk.")}
    head = {k[len("visual.head.") :]: v for k, v in state_dict.items() if k.startswith("visual.head.")}
    if "proj.weight" in head:
        out["head.fc.weight"] = head["proj.weight"]
    elif "mlp.fc1.weight" in head:
        out["head.pre_logits.fc.weight"] = head["mlp.fc1.weight"]
        out["head.pre_logits.fc.bias"] = head["mlp.fc1.bias"]
        out["head.fc.weight"] = head["mlp.fc2.weight"]
    if "head.fc.weight" in out:
        out["head.fc.bias"] = torch.zeros(out["head.fc.weight"].shape[0], dtype=out["head.fc.weight"].dtype)
    return out


def _fill_headless(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """FCMAE pre-training checkpoints end at the last stage: no head norm. It keeps the model's init."""
    own = model.state_dict()
    norm_keys = [k for k in own if k.startswith("head.norm.")]
    if norm_keys and not any(k.startswith("head.") for k in state_dict):
        _logger.info("checkpoint has no head (FCMAE pre-training): %s keep their init values", norm_keys)
        # the norm's init (scale 1, shift 0), made here: the model may still be on the meta device
        init = {k: (torch.ones if k.endswith(".weight") else torch.zeros)(own[k].shape) for k in norm_keys}
        return {**state_dict, **init}
    return state_dict


def checkpoint_filter(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Fit a ConvNeXt checkpoint to `model`: timm keys pass through; FAIR-layout and open_clip keys are
    converted; a headless (FCMAE) checkpoint keeps the model's head norm."""
    if any(k.startswith("visual.trunk.") for k in state_dict):
        sd = convert_open_clip_convnext(state_dict)
    elif any(k.startswith("downsample_layers.") for k in state_dict):
        sd = convert_fair_convnext(state_dict, model)
    else:
        sd = dict(state_dict)
    return _fill_headless(sd, model)


# -- variants -----------------------------------------------------------------------------------------

_CONV_MLP = dict(conv_mlp=True)
_V2 = dict(use_grn=True, ls_init_value=None)
_D2262 = (2, 2, 6, 2)
_D33_27_3 = (3, 3, 27, 3)

VARIANTS: dict[str, dict] = {
    "convnext_zepto_rms": dict(
        depths=(2, 2, 4, 2), dims=(32, 64, 128, 256), norm_layer="simplenorm", **_CONV_MLP
    ),
    "convnext_zepto_rms_ols": dict(
        depths=(2, 2, 4, 2),
        dims=(32, 64, 128, 256),
        norm_layer="simplenorm",
        stem_type="overlap_act",
        **_CONV_MLP,
    ),
    "convnext_atto": dict(depths=_D2262, dims=(40, 80, 160, 320), **_CONV_MLP),
    "convnext_atto_ols": dict(
        depths=_D2262, dims=(40, 80, 160, 320), stem_type="overlap_tiered", **_CONV_MLP
    ),
    "convnext_atto_rms": dict(depths=_D2262, dims=(40, 80, 160, 320), norm_layer="rmsnorm", **_CONV_MLP),
    "convnext_femto": dict(depths=_D2262, dims=(48, 96, 192, 384), **_CONV_MLP),
    "convnext_femto_ols": dict(
        depths=_D2262, dims=(48, 96, 192, 384), stem_type="overlap_tiered", **_CONV_MLP
    ),
    "convnext_pico": dict(depths=_D2262, dims=(64, 128, 256, 512), **_CONV_MLP),
    "convnext_pico_ols": dict(
        depths=_D2262, dims=(64, 128, 256, 512), stem_type="overlap_tiered", **_CONV_MLP
    ),
    "convnext_nano": dict(depths=(2, 2, 8, 2), dims=(80, 160, 320, 640), **_CONV_MLP),
    "convnext_nano_ols": dict(
        depths=(2, 2, 8, 2), dims=(80, 160, 320, 640), stem_type="overlap", **_CONV_MLP
    ),
    "convnext_tiny_hnf": dict(
        depths=(3, 3, 9, 3), dims=(96, 192, 384, 768), head_norm_first=True, **_CONV_MLP
    ),
    "convnext_tiny": dict(depths=(3, 3, 9, 3), dims=(96, 192, 384, 768)),
    "convnext_small": dict(depths=_D33_27_3, dims=(96, 192, 384, 768)),
    "convnext_base": dict(depths=_D33_27_3, dims=(128, 256, 512, 1024)),
    "convnext_large": dict(depths=_D33_27_3, dims=(192, 384, 768, 1536)),
    "convnext_large_mlp": dict(depths=_D33_27_3, dims=(192, 384, 768, 1536), head_hidden_size=1536),
    "convnext_xlarge": dict(depths=_D33_27_3, dims=(256, 512, 1024, 2048)),
    "convnext_xxlarge": dict(depths=(3, 4, 30, 3), dims=(384, 768, 1536, 3072), norm_eps=1e-5),
    # ConvNeXt-V2: global response norm in every MLP, no layer scale
    "convnextv2_atto": dict(depths=_D2262, dims=(40, 80, 160, 320), **_V2, **_CONV_MLP),
    "convnextv2_femto": dict(depths=_D2262, dims=(48, 96, 192, 384), **_V2, **_CONV_MLP),
    "convnextv2_pico": dict(depths=_D2262, dims=(64, 128, 256, 512), **_V2, **_CONV_MLP),
    "convnextv2_nano": dict(depths=(2, 2, 8, 2), dims=(80, 160, 320, 640), **_V2, **_CONV_MLP),
    "convnextv2_tiny": dict(depths=(3, 3, 9, 3), dims=(96, 192, 384, 768), **_V2),
    "convnextv2_small": dict(depths=_D33_27_3, dims=(96, 192, 384, 768), **_V2),
    "convnextv2_base": dict(depths=_D33_27_3, dims=(128, 256, 512, 1024), **_V2),
    "convnextv2_large": dict(depths=_D33_27_3, dims=(192, 384, 768, 1536), **_V2),
    "convnextv2_huge": dict(depths=_D33_27_3, dims=(352, 704, 1408, 2816), **_V2),
    # timm's small test models
    "test_convnext": dict(depths=(1, 2, 4, 2), dims=(24, 32, 48, 64), norm_eps=1e-5, act_layer="gelu_tanh"),
    "test_convnext2": dict(depths=(1, 1, 1, 1), dims=(32, 64, 96, 128), norm_eps=1e-5, act_layer="gelu_tanh"),
    "test_convnext3": dict(
        depths=(1, 1, 1, 1), dims=(32, 64, 96, 128), norm_eps=1e-5, kernel_size=(7, 5, 5, 3), act_layer="silu"
    ),
}

register_variants(VARIANTS, ConvNeXt, checkpoint_filter=checkpoint_filter)
