"""Image to patch tokens: a strided convolution."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def to_2tuple(v: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """7 -> (7, 7); (h, w) stays (h, w)."""
    if isinstance(v, int):
        return (v, v)
    h, w = v if len(v) == 2 else (v[0], v[0])
    return (int(h), int(w))


class PatchEmbed(nn.Module):
    """Splits an image into non-overlapping patches and projects each to `embed_dim`.

    Returns an NHWC token grid [B, H/p, W/p, C]. With a fixed size (`dynamic_img_size=False`) any other
    input size is a ValueError; otherwise any size is accepted whose sides are multiples of the patch
    size, or any size at all with `dynamic_img_pad` (the image is zero-padded on the bottom/right).
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
    ):
        super().__init__()
        self.img_size: tuple[int, int] = to_2tuple(img_size)
        self.patch_size: tuple[int, int] = to_2tuple(patch_size)
        if min(self.patch_size) < 1:
            raise ValueError(f"patch_size must be positive, got {patch_size!r}")
        self.grid_size = self.feat_size(self.img_size, pad=False)
        if min(self.grid_size) < 1:
            raise ValueError(f"img_size {self.img_size} is smaller than one patch {self.patch_size}")
        self.num_patches = math.prod(self.grid_size)
        self.in_chans = in_chans
        self.dynamic_img_size = dynamic_img_size
        self.dynamic_img_pad = dynamic_img_pad
        self.proj = nn.Conv2d(in_chans, embed_dim, self.patch_size, stride=self.patch_size, bias=bias)
        self.norm = norm_layer(embed_dim) if norm_layer is not None else nn.Identity()

    def feat_size(self, img_size: tuple[int, int], pad: bool | None = None) -> tuple[int, int]:
        """Patch grid (h, w) for an input of `img_size` (h, w)."""
        pad = self.dynamic_img_pad if pad is None else pad
        (h, w), (ph, pw) = img_size, self.patch_size
        if pad:
            return math.ceil(h / ph), math.ceil(w / pw)
        return h // ph, w // pw

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a ValueError when `x` is not an image batch this embedding accepts."""
        if x.ndim != 4:
            raise ValueError(f"expected an image batch [B, C, H, W], got a tensor of shape {tuple(x.shape)}")
        c, h, w = x.shape[1:]
        if c != self.in_chans:
            raise ValueError(
                f"model takes {self.in_chans}-channel images, got {c} channels (shape {tuple(x.shape)})"
            )
        if not self.dynamic_img_size:
            if (h, w) != self.img_size:
                raise ValueError(
                    f"model expects input size {self.img_size[0]}x{self.img_size[1]}, got {h}x{w}; "
                    "create it with img_size=(H, W) or dynamic_img_size=True"
                )
        elif not self.dynamic_img_pad and (h % self.patch_size[0] or w % self.patch_size[1]):
            raise ValueError(
                f"input size {h}x{w} is not a multiple of the patch size "
                f"{self.patch_size[0]}x{self.patch_size[1]}; resize the image or create the model with "
                "dynamic_img_pad=True"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] -> [B, H/p, W/p, D]
        self.check_input(x)
        if self.dynamic_img_pad:
            ph, pw = self.patch_size
            x = F.pad(x, (0, -x.shape[-1] % pw, 0, -x.shape[-2] % ph))
        x = self.proj(x).permute(0, 2, 3, 1)  # [B, h, w, D]
        return self.norm(x)
