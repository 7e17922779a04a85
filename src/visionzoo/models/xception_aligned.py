"""Aligned Xception (Chollet 2016, "Xception"; Chen et al. 2018, DeepLab v3+), with pre-activation variants.

State dict keys follow timm's layout: `stem.0/1`, `blocks.N.{shortcut,stack.convM.{conv_dw,bn_dw,conv_pw,
bn_pw}}` (pre-activation: `blocks.N.{norm,shortcut,stack.convM.{norm,conv_dw,conv_pw}}`), `head.fc`, so the
`timm/xception41...` checkpoints (converted from TensorFlow DeepLab) load unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..features import feature_take_indices, to_output_fmt
from ..layers.conv_norm_act import ConvNormAct
from ..layers.drop import drop_path_layer
from ..layers.norm_act import BatchNormAct2d
from ..layers.separable_conv import PreActSeparableConv, SeparableConvBnAct
from ..registry import register_variants
from ..utils.checks import check_output_stride
from ._stepped import SteppedCNN

__all__ = ["XceptionAligned", "XceptionModule", "PreXceptionModule", "XBlock", "VARIANTS"]

OUTPUT_STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class XBlock:
    """One Xception module: input width, the widths of its three separable convs, the stride of the last."""

    in_chs: int
    out_chs: tuple[int, int, int]
    stride: int = 1
    no_skip: bool = False  # no residual connection (the exit flow's last module)
    start_with_relu: bool = True  # ReLU before each separable conv; else ReLU after each BN inside them


class XceptionModule(nn.Module):
    """Three separable convs (the last one strided) plus a residual: identity, or a 1x1 conv + BN.

    Keys: `shortcut.{conv,bn}` and `stack.{act1,conv1,act2,conv2,act3,conv3}`.
    """

    def __init__(self, b: XBlock, dilation: int, eps: float, drop_path: float = 0.0):
        super().__init__()
        out = b.out_chs[-1]
        self.no_skip = b.no_skip
        self.shortcut: nn.Module | None = None
        if not b.no_skip and (out != b.in_chs or b.stride != 1):
            self.shortcut = ConvNormAct(b.in_chs, out, 1, b.stride, eps=eps, act=False)
        self.stack = nn.Sequential()
        chs = b.in_chs
        for i, width in enumerate(b.out_chs):
            if b.start_with_relu:
                self.stack.add_module(f"act{i + 1}", nn.ReLU(inplace=i > 0))  # the first keeps x for the skip
            stride = b.stride if i == 2 else 1
            conv = SeparableConvBnAct(chs, width, 3, stride, dilation, eps, act=not b.start_with_relu)
            self.stack.add_module(f"conv{i + 1}", conv)
            chs = width
        self.drop_path = drop_path_layer(drop_path)

    def _residual(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.no_skip:
            return y
        return self.drop_path(y) + (x if self.shortcut is None else self.shortcut(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in, H, W) -> (B, out, H/s, W/s)
        return self._residual(self.stack(x), x)

    def forward_with_tap(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The block output and the input of its last separable conv (the feature map of a strided block)."""
        tap = self.stack[:-1](x)
        return self._residual(self.stack[-1](tap), x), tap

    def prune_to_tap(self) -> None:
        """Keep only what computes the tap: the block then returns it."""
        self.stack[-1] = nn.Identity()
        self.shortcut = None
        self.no_skip = True


class PreXceptionModule(nn.Module):
    """Pre-activation Xception module: BN + ReLU (`norm`), then three separable convs (BN + ReLU in front of
    the second and third), plus a residual from the normalised input: identity or a 1x1 conv."""

    def __init__(self, b: XBlock, dilation: int, eps: float, drop_path: float = 0.0):
        super().__init__()
        out = b.out_chs[-1]
        self.no_skip = b.no_skip
        if not b.no_skip and (out != b.in_chs or b.stride != 1):
            self.shortcut: nn.Module = nn.Conv2d(b.in_chs, out, 1, b.stride, bias=False)
        else:
            self.shortcut = nn.Identity()
        self.norm = BatchNormAct2d(b.in_chs, eps=eps, act="relu")
        self.stack = nn.Sequential()
        chs = b.in_chs
        for i, width in enumerate(b.out_chs):
            stride = b.stride if i == 2 else 1
            self.stack.add_module(
                f"conv{i + 1}", PreActSeparableConv(chs, width, 3, stride, dilation, eps, first_act=i > 0)
            )
            chs = width
        self.drop_path = drop_path_layer(drop_path)

    def _residual(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return y if self.no_skip else self.drop_path(y) + self.shortcut(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in, H, W) -> (B, out, H/s, W/s)
        x = self.norm(x)
        return self._residual(self.stack(x), x)

    def forward_with_tap(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The block output and the input of its last separable conv (the feature map of a strided block)."""
        x = self.norm(x)
        tap = self.stack[:-1](x)
        return self._residual(self.stack[-1](tap), x), tap

    def prune_to_tap(self) -> None:
        """Keep only what computes the tap: the block then returns it."""
        self.stack[-1] = nn.Identity()
        self.shortcut = nn.Identity()
        self.no_skip = True


class XceptionAligned(SteppedCNN):
    """Aligned Xception classifier: two 3x3 convs (stem), Xception modules, (a final ReLU for the
    pre-activation variants), pool, `head.fc`.

    Feature maps are taken inside each strided module, at the input of its strided separable conv
    (reductions 2, 4, 8, 16), and at the last module's output (32, or `output_stride`).

    Args:
        blocks: the modules, in order (see `XBlock`).
        preact: pre-activation modules (the `p` variants).
        norm_eps: BatchNorm epsilon.
        output_stride: 32, or 16 / 8 to dilate the later modules instead of striding them.
        num_classes: classifier size; 0 gives pooled features.
        in_chans: input image channels.
        global_pool: 'avg', 'max', 'avgmax', 'catavgmax', or '' (only with num_classes=0).
        drop_rate: dropout before the classifier.
        drop_path_rate: stochastic depth, rising linearly from 0 over the modules to this rate.
    """

    feature_key_layout = "flat"

    classifier_name = "head.fc"

    def __init__(
        self,
        blocks: Sequence[XBlock],
        preact: bool = False,
        norm_eps: float = 1e-3,
        output_stride: int = 32,
        num_classes: int = 1000,
        in_chans: int = 3,
        global_pool: str = "avg",
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
    ):
        super().__init__()
        check_output_stride(output_stride, OUTPUT_STRIDES)
        if not blocks:
            raise ValueError("blocks must name at least one Xception module")
        second: nn.Module = (
            nn.Conv2d(32, 64, 3, padding=1, bias=False)
            if preact
            else ConvNormAct(32, 64, 3, act=True, eps=norm_eps)
        )
        self.stem = nn.Sequential(ConvNormAct(in_chans, 32, 3, 2, act=True, eps=norm_eps), second)
        module_cls = PreXceptionModule if preact else XceptionModule
        tap_name = "conv2" if preact else "act3"
        self.blocks = nn.Sequential()
        info, taps = [], []
        stride, dilation = 2, 1
        for i, b in enumerate(blocks):
            rate = drop_path_rate * i / max(len(blocks) - 1, 1)
            block_dilation = dilation
            if b.stride > 1:
                info.append(
                    dict(num_chs=b.out_chs[-2], reduction=stride, module=f"blocks.{i}.stack.{tap_name}")
                )
                taps.append(i + 1)  # step index: the stem is step 0
                if stride * b.stride > output_stride:
                    dilation *= b.stride
                    b = XBlock(b.in_chs, b.out_chs, 1, b.no_skip, b.start_with_relu)
                else:
                    stride *= b.stride
            self.blocks.add_module(str(i), module_cls(b, block_dilation, norm_eps, rate))
        width = blocks[-1].out_chs[-1]
        info.append(dict(num_chs=width, reduction=stride, module=f"blocks.{len(blocks) - 1}"))
        taps.append(len(blocks))
        self.act = nn.ReLU(inplace=True) if preact else nn.Identity()
        self.head = nn.Module()
        steps = ["stem", *(f"blocks.{i}" for i in range(len(blocks))), "act"]
        self._init_steps(steps, info, taps)
        self._init_head(width, num_classes, global_pool, drop_rate)

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | Sequence[int] | None = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """The feature maps at `indices` (see `feature_info`); `norm` has no effect."""
        take, last = feature_take_indices(len(self.feature_info), indices)
        to_output_fmt(x.new_empty(0, 0, 0, 0), output_fmt)
        inner = {s: i for i, s in enumerate(self.feature_steps[:-1])}  # steps tapped inside the block
        steps = self._steps()
        end = self.feature_steps[last] + 1 if stop_early or intermediates_only else len(steps)
        ckpt = self.grad_checkpointing and self.training and torch.is_grad_enabled()
        maps = []
        for j, step in enumerate(steps[:end]):
            if j in inner:
                run = step.forward_with_tap
                x, tap = checkpoint(run, x, use_reentrant=False) if ckpt else run(x)
                if inner[j] in take:
                    maps.append(to_output_fmt(tap, output_fmt))
            else:
                x = self._run(step, x)
                if j == self.feature_steps[-1] and last == len(self.feature_info) - 1:
                    maps.append(to_output_fmt(x, output_fmt))
        return maps if intermediates_only else (x, maps)

    def prune_intermediate_layers(
        self, indices: int | Sequence[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        """Drop the modules after the last map in `indices` (and the head); returns the kept positions."""
        take, last = feature_take_indices(len(self.feature_info), indices)
        end = self.feature_steps[last]
        for j in range(end + 1, len(self.blocks) + 1):
            self.blocks[j - 1] = nn.Identity()
        if last < len(self.feature_info) - 1:
            self.get_submodule(self.step_names[end]).prune_to_tap()
            self.act = nn.Identity()
            self.num_features = self.feature_info[last]["num_chs"]
        if prune_head or last < len(self.feature_info) - 1:
            self._prune_head()
        return take

    def group_matcher(self, coarse: bool = False) -> dict:
        return dict(stem=r"^stem", blocks=r"^blocks\.(\d+)")


# -- variants -----------------------------------------------------------------------------------------


def _blocks(middle: int, entry: Sequence[tuple[int, int, int]], preact: bool) -> tuple[XBlock, ...]:
    """Entry flow (in, out, stride), `middle` 728-wide modules, and the two exit-flow modules."""
    flow = [XBlock(i, (o, o, o), s) for i, o, s in entry]
    flow += [XBlock(728, (728, 728, 728), 1)] * middle
    flow.append(XBlock(728, (728, 1024, 1024), 2))
    flow.append(XBlock(1024, (1536, 1536, 2048), 1, no_skip=True, start_with_relu=preact))
    return tuple(flow)


_ENTRY = ((64, 128, 2), (128, 256, 2), (256, 728, 2))
_ENTRY71 = ((64, 128, 2), (128, 256, 1), (256, 256, 2), (256, 728, 1), (728, 728, 2))

VARIANTS: dict[str, dict] = {
    "xception41": dict(blocks=_blocks(8, _ENTRY, False)),
    "xception41p": dict(blocks=_blocks(8, _ENTRY, True), preact=True, norm_eps=1e-5),
    "xception65": dict(blocks=_blocks(16, _ENTRY, False)),
    "xception65p": dict(blocks=_blocks(16, _ENTRY, True), preact=True),
    "xception71": dict(blocks=_blocks(16, _ENTRY71, False)),
}

register_variants(VARIANTS, XceptionAligned)
