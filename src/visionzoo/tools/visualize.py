"""Figures: position-embedding similarity (the ViT paper's figure) and feature maps stage by stage."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..utils.checks import check_int
from ._common import atomic_output, check_output_path, parse_img_size, size_kwargs

__all__ = [
    "pos_embed_similarity",
    "plot_pos_embed",
    "load_image_tensor",
    "feature_maps",
    "plot_feature_maps",
]


def _pyplot():
    try:
        import matplotlib
    except ImportError as e:
        raise ImportError(
            "plotting needs matplotlib, which is not installed: pip install visionzoo[plot]"
        ) from e
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _unwrap(model: nn.Module) -> nn.Module:
    from ..features import FeatureModel

    return model.model if isinstance(model, FeatureModel) else model


def _grid_size(model: nn.Module, num_tokens: int) -> tuple[int, int]:
    """Patch grid (h, w) of a ViT-style model: from its patch embedding, else the largest square that fits."""
    for owner in (getattr(model, "patch_embed", None), model):
        gs = getattr(owner, "grid_size", None)
        if isinstance(gs, (tuple, list)) and len(gs) == 2 and 0 < gs[0] * gs[1] <= num_tokens:
            return int(gs[0]), int(gs[1])
    side = math.isqrt(num_tokens)
    return side, side


def pos_embed_similarity(model: nn.Module) -> torch.Tensor:
    """Cosine similarity between the learned position embeddings of every pair of patches.

    Returns [gh, gw, gh, gw]: entry [i, j] is the similarity map of patch (i, j) to every patch.
    Prefix tokens (class, distillation, register) are left out. Raises a ValueError for models
    without a learned absolute position embedding.
    """
    inner = _unwrap(model)
    pos = getattr(inner, "pos_embed", None)
    name = getattr(getattr(inner, "pretrained_cfg", None), "name", None) or type(inner).__name__
    if not isinstance(pos, torch.Tensor) or pos.dim() != 3 or not isinstance(pos, nn.Parameter):
        raise ValueError(
            f"{name} has no learned absolute position embedding (a `pos_embed` parameter of shape "
            "[1, tokens, dim]); pos-embed plots work for ViT/DeiT-style models"
        )
    if pos.device.type == "meta":
        raise ValueError(f"{name}'s position embedding is on the meta device (weights were never loaded)")
    tokens = pos.shape[1]
    gh, gw = _grid_size(inner, tokens)
    prefix = tokens - gh * gw
    if prefix < 0 or prefix > 16:
        raise ValueError(f"cannot match {tokens} position embeddings of {name} to a {gh}x{gw} patch grid")
    emb = pos[0, prefix:].detach().float().cpu()  # [gh*gw, D]
    emb = torch.nn.functional.normalize(emb, dim=-1)
    sim = emb @ emb.T  # [gh*gw, gh*gw]
    return sim.reshape(gh, gw, gh, gw)


def _mosaic(sim: torch.Tensor, gap: int = 1) -> torch.Tensor:
    """[gh, gw, gh, gw] -> one image of gh x gw tiles (each gh x gw) separated by NaN gaps."""
    gh, gw = sim.shape[:2]
    tile_h, tile_w = gh + gap, gw + gap
    out = torch.full((gh * tile_h - gap, gw * tile_w - gap), float("nan"))
    for i in range(gh):
        for j in range(gw):
            out[i * tile_h : i * tile_h + gh, j * tile_w : j * tile_w + gw] = sim[i, j]
    return out


def _save(fig: Any, output: str | os.PathLike, dpi: int) -> Path:
    plt = _pyplot()
    path = check_output_path(output)
    try:
        with atomic_output(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def _build(
    model: str | nn.Module, pretrained: bool, checkpoint: str | os.PathLike | None, **kwargs: Any
) -> nn.Module:
    if isinstance(model, nn.Module):
        if pretrained or checkpoint is not None:
            raise ValueError(
                "pretrained/checkpoint only apply to a model name; load weights into the module first"
            )
        return model
    if not isinstance(model, str):
        raise TypeError(f"model must be a model name or an nn.Module, got {type(model).__name__}")
    from ..factory import create_model
    from ..registry import get_pretrained_cfg

    if checkpoint is not None:
        if not Path(checkpoint).expanduser().is_file():
            raise FileNotFoundError(f"checkpoint file not found: {str(checkpoint)!r}")
    elif pretrained and not get_pretrained_cfg(model).has_weights:
        raise ValueError(
            f"{model} has no pretrained weights; give a checkpoint (--checkpoint PATH) or drop --pretrained"
        )
    return create_model(
        model, pretrained=pretrained and checkpoint is None, checkpoint_path=checkpoint, **kwargs
    )


def plot_pos_embed(
    model: str | nn.Module,
    output: str | os.PathLike,
    pretrained: bool = False,
    checkpoint: str | os.PathLike | None = None,
    img_size: int | tuple[int, int] | str | None = None,
    dpi: int = 120,
) -> Path:
    """Save the position-embedding similarity figure of a ViT-style model as a PNG; returns its path.

    For each patch position a small gh x gw map of its cosine similarity to all positions, the maps
    laid out in the gh x gw patch grid. `img_size` builds the model for another grid size
    (e.g. 160 with 16-pixel patches gives 10x10).
    """
    check_output_path(output)
    plt = _pyplot()
    kwargs: dict[str, Any] = {}
    if img_size is not None:
        kwargs["img_size"] = parse_img_size(img_size)
        if not isinstance(model, str):
            raise ValueError("img_size only applies to a model name")
    built = _build(model, pretrained, checkpoint, **kwargs)
    sim = pos_embed_similarity(built)  # [gh, gw, gh, gw]
    gh, gw = sim.shape[:2]
    name = model if isinstance(model, str) else type(built).__name__

    side = min(10.0, max(4.0, 0.45 * max(gh, gw)))
    fig, ax = plt.subplots(figsize=(side * gw / max(gh, gw) + 1.2, side * gh / max(gh, gw) + 0.6))
    image = ax.imshow(_mosaic(sim).numpy(), cmap="viridis", vmin=-1, vmax=1, interpolation="nearest")
    tile_h, tile_w = gh + 1, gw + 1
    ax.set_xticks([j * tile_w + (gw - 1) / 2 for j in range(gw)], [str(j + 1) for j in range(gw)], fontsize=6)
    ax.set_yticks([i * tile_h + (gh - 1) / 2 for i in range(gh)], [str(i + 1) for i in range(gh)], fontsize=6)
    ax.set_xlabel("input patch column")
    ax.set_ylabel("input patch row")
    ax.set_title(f"{name}: position embedding similarity ({gh}x{gw} grid)", fontsize=9)
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02, label="cosine similarity")
    return _save(fig, output, dpi)


def load_image_tensor(
    image: str | os.PathLike | Any, input_size: tuple[int, int, int], cfg: Any = None
) -> tuple[torch.Tensor, Any]:
    """Read an image file (or PIL image) and preprocess it as `predict` does for this model.

    The transform is `create_transform` on the cfg's data config (interpolation, crop_pct, crop_mode,
    mean, std) at `input_size`. Returns ([1, C, H, W] tensor, the resized and cropped PIL image shown
    beside the maps).
    """
    from PIL import Image

    from ..data.config import resolve_data_config
    from ..data.datasets import convert_image, load_image
    from ..data.transforms import Compose, Normalize, ToTensor, create_transform

    if isinstance(image, Image.Image):
        image = convert_image(image)
    else:  # upright by its EXIF tag, as predict reads it
        image = load_image(Path(image).expanduser(), exif_transpose=True)
    c, h, w = input_size
    data_cfg = resolve_data_config({"input_size": (3, h, w)}, pretrained_cfg=cfg)
    steps = create_transform(**data_cfg).transforms
    geometric = Compose([t for t in steps if not isinstance(t, (ToTensor, Normalize))])
    to_tensor = Compose([t for t in steps if isinstance(t, (ToTensor, Normalize))])
    shown = geometric(image)
    x = to_tensor(shown)  # [3, H, W]
    if c != 3:
        x = x.mean(0, keepdim=True).expand(c, h, w)
    return x.unsqueeze(0), shown  # [1, C, H, W]


def feature_maps(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The feature maps of a `features_only` model (NCHW) for input `x`, in eval mode without grad."""
    was_training = model.training
    model.eval()
    ref = next(iter(model.parameters()), None)
    if ref is not None:
        x = x.to(device=ref.device, dtype=ref.dtype)
    try:
        with torch.inference_mode():
            out = model(x)
    finally:
        model.train(was_training)
    if isinstance(out, torch.Tensor):
        out = [out]
    return [o.float().cpu() for o in out]


def plot_feature_maps(
    model: str | nn.Module,
    image: str | os.PathLike | Any,
    output: str | os.PathLike,
    pretrained: bool = False,
    checkpoint: str | os.PathLike | None = None,
    num_channels: int = 4,
    img_size: int | tuple[int, int] | str | None = None,
    dpi: int = 110,
) -> Path:
    """Save a PNG of the feature maps, one row per stage: the channel mean, then the `num_channels`
    most active channels. `model` is a name (built with features_only=True) or a features_only model."""
    check_int("num_channels", num_channels, 0, 16)
    check_output_path(output)
    plt = _pyplot()
    from ..features import FeatureModel

    hw = parse_img_size(img_size) if img_size is not None else None
    if isinstance(model, str):
        from ..registry import get_pretrained_cfg

        size = (get_pretrained_cfg(model).input_size[0], *hw) if hw else None
        built = _build(model, pretrained, checkpoint, features_only=True, **size_kwargs(model, size))
        name = model
    else:
        built = _build(model, pretrained, checkpoint)
        if not isinstance(built, FeatureModel):
            raise ValueError(
                "plot_feature_maps needs a features_only model (create_model(..., features_only=True))"
            )
        name = type(built.model).__name__
    cfg = getattr(built, "pretrained_cfg", None)
    c, h, w = tuple(cfg.input_size) if cfg is not None else (3, 224, 224)
    if hw:
        h, w = hw
    x, shown = load_image_tensor(image, (c, h, w), cfg)  # [1, C, H, W]
    maps = feature_maps(built, x)
    info = built.feature_info

    cols = 2 + num_channels
    fig, axes = plt.subplots(len(maps), cols, figsize=(1.9 * cols, 1.9 * len(maps)), squeeze=False)
    for row, fmap in enumerate(maps):
        fm = fmap[0]  # [C, h, w]
        ax_row = axes[row]
        if row == 0:
            ax_row[0].imshow(shown)
            ax_row[0].set_title("input", fontsize=7)
        else:
            ax_row[0].axis("off")
        ax_row[1].imshow(fm.mean(0).numpy(), cmap="magma")
        ax_row[1].set_title(f"stage {info.out_indices[row]}: mean of {fm.shape[0]}", fontsize=7)
        ax_row[1].set_ylabel(f"{fm.shape[1]}x{fm.shape[2]}, /{info.reduction(row)}", fontsize=7)
        strongest = fm.flatten(1).mean(1).argsort(descending=True)[:num_channels].tolist()
        for k, ch in enumerate(strongest):
            ax_row[2 + k].imshow(fm[ch].numpy(), cmap="viridis")
            ax_row[2 + k].set_title(f"ch {ch}", fontsize=7)
        for k in range(2 + len(strongest), cols):
            ax_row[k].set_visible(False)
        for ax in ax_row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(f"{name}: feature maps", fontsize=9)
    fig.tight_layout()
    return _save(fig, output, dpi)
