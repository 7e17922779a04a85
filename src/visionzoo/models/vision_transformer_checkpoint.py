"""Fitting ViT/DeiT checkpoints to a `VisionTransformer`: small named fix-ups, applied by `checkpoint_filter`."""

from __future__ import annotations

import logging
import math
import re

import torch
from torch import nn

from ..layers.patch_embed import resample_patch_embed
from ..layers.pos_embed import resample_abs_pos_embed

__all__ = ["checkpoint_filter"]

_logger = logging.getLogger(__name__)


def _square_grid(num_tokens: int) -> tuple[int, int] | None:
    side = math.isqrt(num_tokens)
    return (side, side) if side * side == num_tokens else None


def _strip_prefix(state_dict: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Drop a wrapper prefix (e.g. 'module.' from DistributedDataParallel) when every key has it."""
    if state_dict and all(k.startswith(prefix) for k in state_dict):
        return {k[len(prefix) :]: v for k, v in state_dict.items()}
    return state_dict


def _resample_mode(model: nn.Module) -> tuple[str, bool]:
    """(interpolation, antialias) the model's weights want when resampled (see VisionTransformer)."""
    return getattr(model, "resample_interpolation", "bicubic"), getattr(model, "resample_antialias", True)


def _fit_patch_embed(weight: torch.Tensor, model: nn.Module) -> torch.Tensor:
    """Make the patch projection a conv kernel of the model's patch size: old checkpoints stored it as a
    linear [D, C*p*p]; another patch size is resampled (FlexiViT's pseudo-inverse resize)."""
    ph, pw = model.patch_embed.patch_size
    if weight.ndim == 2:
        weight = weight.reshape(weight.shape[0], -1, ph, pw)
    if tuple(weight.shape[-2:]) != (ph, pw):
        _logger.info("resampling patch embedding %s to patch size %dx%d", tuple(weight.shape), ph, pw)
        weight = resample_patch_embed(weight, (ph, pw), *_resample_mode(model))
    return weight


def _fit_pos_embed(pos_embed: torch.Tensor, model: nn.Module) -> torch.Tensor:
    """Resample a position embedding laid out for another patch grid to the model's grid.

    The checkpoint's grid is taken as square (as every released ViT is); a model grid of another shape,
    even with the same token count (e.g. 16x16 -> 8x32), is resampled too.
    """
    prefix = model.pos_embed_prefix_tokens
    grid = tuple(model.patch_embed.grid_size)
    old_grid = _square_grid(pos_embed.shape[1] - prefix)
    if old_grid is None:
        if pos_embed.shape[1] == model.pos_embed.shape[1]:
            return pos_embed  # a non-square grid of the model's own size
        raise ValueError(
            f"cannot infer the patch grid of a position embedding with {pos_embed.shape[1] - prefix} patch "
            f"tokens (not a square) to resample it to {grid[0]}x{grid[1]}"
        )
    if old_grid == grid:
        return pos_embed
    interpolation, antialias = _resample_mode(model)
    return resample_abs_pos_embed(
        pos_embed, grid, old_grid, num_prefix_tokens=prefix, interpolation=interpolation, antialias=antialias
    )


def _drop_attn_pool(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """A checkpoint with an attention-pool head (SigLIP's 'map') loaded into a model built with another
    `global_pool`: the head's weights are dropped, by name, as the model has no use for them."""
    pool = getattr(model, "attn_pool", None)
    if pool is not None and any(True for _ in pool.parameters()):
        return state_dict
    dropped = [k for k in state_dict if k.startswith("attn_pool.")]
    if not dropped:
        return state_dict
    _logger.info(
        "dropping the checkpoint's attention-pool head (%d tensors: %s): the model was built with "
        "global_pool=%r, which does not use it",
        len(dropped),
        ", ".join(dropped),
        model.global_pool,
    )
    return {k: v for k, v in state_dict.items() if not k.startswith("attn_pool.")}


def checkpoint_filter(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Fit a ViT/DeiT checkpoint to `model`: unwrap 'module.' (DDP, I-JEPA), drop the old
    `pre_logits` layer, fit the patch projection (reshape, resample to the model's patch size), rename
    DeiT-III `gamma_1/2` to `ls1/2.gamma`, resample `pos_embed`, and drop an attention-pool head the model
    was built without."""
    state_dict = _strip_prefix(state_dict, "module.")
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if key.startswith("pre_logits."):
            continue  # representation layer of early in21k checkpoints, unused by the classifier
        if key == "patch_embed.proj.weight":
            value = _fit_patch_embed(value, model)
        elif key == "pos_embed":
            value = _fit_pos_embed(value, model)
        key = re.sub(r"\.gamma_([12])$", r".ls\1.gamma", key)
        out[key] = value
    return _drop_attn_pool(out, model)
