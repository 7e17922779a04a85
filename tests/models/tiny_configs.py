"""Tiny configurations for the tracing, export and compile sweeps: `small_config` (tests/core/test_contract.py)
with fewer blocks where a family takes a block-count argument, so a graph is short but keeps every kind of
block (a shifted Swin window, a strided stage, a stage after the first).
"""

from __future__ import annotations

import torch

import visionzoo
from tests.core.test_contract import small_config
from visionzoo import registry

__all__ = ["family", "tiny_config", "build_tiny"]

# per family module: keyword arguments that shorten the model further (tried, then dropped if the
# architecture's builder rejects them, e.g. a stage count that differs from four)
FEWER_BLOCKS: dict[str, dict] = {
    "convnext": dict(depths=(1, 1, 1, 1)),
    "efficientnet": dict(depth_multiplier=0.1),  # one block per stage
    "mobilenetv3": dict(depth_multiplier=0.1),
    # 64 px -> 16, 8, 4, 2 tokens a side: windows of 2 tile every stage; 2 blocks keep a shifted one
    "swin_transformer": dict(img_size=64, window_size=2, depths=(2, 1, 1, 1)),
    "swin_transformer_v2": dict(depths=(2, 1, 1, 1)),
    "swin_transformer_v2_cr": dict(depths=(2, 1, 1, 1)),
    "densenet": dict(block_config=(1, 1, 1, 1)),
    "inception_v4": dict(num_blocks=(1, 1, 1)),
    "inception_resnet_v2": dict(num_repeats=(1, 1, 1)),
    "resnetv2": dict(layers=(1, 1, 1, 1)),
}


def family(arch: str) -> str:
    """The family module's short name, e.g. 'vision_transformer'."""
    return registry.get_arch_module(arch).rsplit(".", 1)[-1]


def tiny_config(arch: str) -> tuple[dict, tuple[int, int, int]]:
    """create_model kwargs and a (C, H, W) input size for a short model of `arch`."""
    kwargs, size = small_config(arch)
    extra = FEWER_BLOCKS.get(family(arch), {})
    if "img_size" in extra:
        size = (size[0], extra["img_size"], extra["img_size"])
    return {**kwargs, **extra}, size


def build_tiny(arch: str, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, tuple[int, int, int]]:
    """`arch` at `tiny_config` (or at `small_config` where the extra arguments do not fit it), in eval mode."""
    kwargs, size = tiny_config(arch)
    torch.manual_seed(0)
    with torch.device(device):
        try:
            model = visionzoo.create_model(arch, **kwargs)
        except (TypeError, ValueError):  # a layout the shortening does not fit: the plain small config
            kwargs, size = small_config(arch)
            model = visionzoo.create_model(arch, **kwargs)
    return model.to(device).eval(), size
