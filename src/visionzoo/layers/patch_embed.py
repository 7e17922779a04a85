"""Image to patch tokens: a strided convolution, optionally normalised, as an NHWC token grid."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from .helpers import to_2tuple

__all__ = ["PatchEmbed", "check_patch_input", "resample_patch_embed"]

_DYNAMIC_HINT = "create it with img_size=(H, W) or dynamic_img_size=True"


def check_patch_input(
    x: torch.Tensor,
    in_chans: int,
    img_size: tuple[int, int] | None,
    patch_size: tuple[int, int] | None,
    size_hint: str,
) -> torch.Tensor:
    """`x` itself, after raising a ValueError when it is not an image batch a patch embedding accepts.

    `img_size` None: any size (then `patch_size`, when given, must divide it). A leaf of torch.fx graphs
    (`torch.fx.wrap`), so that traced models keep the check.
    """
    if x.ndim != 4:
        raise ValueError(f"expected an image batch [B, C, H, W], got a tensor of shape {tuple(x.shape)}")
    c, h, w = x.shape[1:]
    if c != in_chans:
        raise ValueError(f"model takes {in_chans}-channel images, got {c} channels (shape {tuple(x.shape)})")
    if img_size is not None and (h, w) != tuple(img_size):
        raise ValueError(f"model expects input size {img_size[0]}x{img_size[1]}, got {h}x{w}; {size_hint}")
    if img_size is None and patch_size is not None and (h % patch_size[0] or w % patch_size[1]):
        raise ValueError(
            f"input size {h}x{w} is not a multiple of the patch size {patch_size[0]}x{patch_size[1]}; "
            "resize the image or create the model with dynamic_img_pad=True"
        )
    return x


torch.fx.wrap("check_patch_input")


class PatchEmbed(nn.Module):
    """Splits an image into non-overlapping patches and projects each to `embed_dim` (keys `proj`, `norm`).

    Returns an NHWC token grid [B, H/p, W/p, C], normalised by `norm_layer` when one is given. With a fixed
    size (`dynamic_img_size=False`) any other input size is a ValueError ending in `size_hint`; otherwise any
    size is accepted whose sides are multiples of the patch size, or any size at all with `dynamic_img_pad`
    (the image is zero-padded on the bottom/right).
    """

    def __init__(
        self,
        img_size: int | tuple[int, int] = 224,
        patch_size: int | tuple[int, int] = 16,
        in_chans: int = 3,
        embed_dim: int = 768,
        bias: bool = True,
        norm_layer: Callable[[int], nn.Module] | None = None,
        dynamic_img_size: bool = False,
        dynamic_img_pad: bool = False,
        size_hint: str = _DYNAMIC_HINT,
    ):
        super().__init__()
        self.img_size: tuple[int, int] = to_2tuple(img_size, "img_size")
        self.patch_size: tuple[int, int] = to_2tuple(patch_size, "patch_size")
        self.grid_size = self.feat_size(self.img_size, pad=False)
        if min(self.grid_size) < 1:
            raise ValueError(f"img_size {self.img_size} is smaller than one patch {self.patch_size}")
        self.num_patches = math.prod(self.grid_size)
        self.in_chans = in_chans
        self.dynamic_img_size = dynamic_img_size
        self.dynamic_img_pad = dynamic_img_pad
        self.size_hint = size_hint
        self.proj = nn.Conv2d(in_chans, embed_dim, self.patch_size, stride=self.patch_size, bias=bias)
        self.norm = norm_layer(embed_dim) if norm_layer is not None else nn.Identity()

    @property
    def reduction(self) -> int:
        """Input pixels per token along a side (the feature-info reduction of the token maps)."""
        return self.patch_size[0]

    def feat_size(self, img_size: tuple[int, int], pad: bool | None = None) -> tuple[int, int]:
        """Patch grid (h, w) for an input of `img_size` (h, w)."""
        pad = self.dynamic_img_pad if pad is None else pad
        (h, w), (ph, pw) = img_size, self.patch_size
        if pad:
            return math.ceil(h / ph), math.ceil(w / pw)
        return h // ph, w // pw

    def check_input(self, x: torch.Tensor) -> torch.Tensor:
        """`x`, after raising a ValueError when it is not an image batch this embedding accepts."""
        img_size = None if self.dynamic_img_size else self.img_size
        patch_size = None if self.dynamic_img_pad else self.patch_size
        return check_patch_input(x, self.in_chans, img_size, patch_size, self.size_hint)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] -> [B, H/p, W/p, D]
        x = self.check_input(x)
        if self.dynamic_img_pad:
            ph, pw = self.patch_size
            x = F.pad(x, (0, -x.shape[-1] % pw, 0, -x.shape[-2] % ph))
        x = self.proj(x).permute(0, 2, 3, 1)  # [B, h, w, D]
        return self.norm(x)


def resample_patch_embed(
    weight: torch.Tensor,
    new_size: tuple[int, int] | list[int],
    interpolation: str = "bicubic",
    antialias: bool = True,
) -> torch.Tensor:
    """A patch projection kernel [D, C, h, w] resampled to `new_size` (FlexiViT's pseudo-inverse resize).

    Resizing an image patch by `R` (a linear map, here `F.interpolate`) and projecting it with the new
    kernel gives what the old kernel gives on the original patch: new = pinv(R^T) @ old, per (D, C) slice.
    """
    if weight.ndim != 4:
        raise ValueError(f"expected a conv kernel [D, C, h, w], got shape {tuple(weight.shape)}")
    old_h, old_w = weight.shape[-2:]
    new_h, new_w = int(new_size[0]), int(new_size[1])
    if (old_h, old_w) == (new_h, new_w):
        return weight
    basis = torch.eye(old_h * old_w, dtype=torch.float32, device=weight.device)
    basis = basis.reshape(old_h * old_w, 1, old_h, old_w)  # one one-hot image per old pixel
    resize = F.interpolate(basis, size=(new_h, new_w), mode=interpolation, antialias=antialias)
    resize = resize.reshape(old_h * old_w, new_h * new_w)  # R^T: [old pixels, new pixels]
    inverse = torch.linalg.pinv(resize)  # [new pixels, old pixels]; float32 cuts off near-singular directions
    flat = weight.float().reshape(*weight.shape[:2], old_h * old_w)  # [D, C, old pixels]
    out = flat @ inverse.T  # [D, C, new pixels]
    return out.reshape(*weight.shape[:2], new_h, new_w).to(weight.dtype)
