"""2-D rotary position embeddings (RoPE) for patch-token grids.

Three forms are used by the EVA family and its relatives:

- `AxialRotaryEmbedding` (EVA02, Perception Encoder, RoPE-ViT 'axial', SBB ViTs): fixed inverse-frequency
  bands over integer patch coordinates, optionally rescaled to a reference grid so that a model fine-tuned
  at another resolution sees the coordinate range it was pretrained with.
- `DinoV3RotaryEmbedding`: patch-centre coordinates normalised to [-1, 1] with a geometric period schedule.
- `MixedRotaryEmbedding` (RoPE-ViT 'mixed'): learned 2-D frequencies, one set per block and head.

Each module's `get_embed(shape, device)` returns the sines and cosines concatenated on the last dimension,
`[..., N, 2 * head_dim]`, and `apply_rotary` rotates queries or keys with it. Two layouts of the rotated
pairs exist: interleaved (x0, x1), (x2, x3), ... and split halves (x_i, x_{i + D/2}).
"""

from __future__ import annotations

import math

import torch
import torch.fx
from torch import nn

__all__ = [
    "AxialRotaryEmbedding",
    "DinoV3RotaryEmbedding",
    "MixedRotaryEmbedding",
    "apply_rotary",
    "create_rope",
]

ROPE_TYPES = ("cat", "dinov3", "mixed")
GRID_INDEXING = ("ij", "xy")


def _rotate_pairs(x: torch.Tensor) -> torch.Tensor:
    """(x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...): the 90 degree turn of interleaved pairs."""
    return torch.stack([-x[..., 1::2], x[..., ::2]], dim=-1).flatten(-2)


def _rotate_halves(x: torch.Tensor) -> torch.Tensor:
    """(a, b) halves -> (-b, a): the 90 degree turn when pair i is (x_i, x_{i + D/2})."""
    first, second = x.chunk(2, dim=-1)
    return torch.cat([-second, first], dim=-1)


def apply_rotary(x: torch.Tensor, embed: torch.Tensor, half: bool = False) -> torch.Tensor:
    """Rotate `x` [..., N, D] by a [..., N, 2D] (sin | cos) embedding; `half` selects the split-halves layout."""
    sin, cos = embed.chunk(2, dim=-1)
    turned = _rotate_halves(x) if half else _rotate_pairs(x)
    return (x * cos + turned * sin).to(x.dtype)


def _expand_layout(angles: torch.Tensor, half: bool) -> torch.Tensor:
    """Per-frequency values [..., D/2] to the [..., D] layout `apply_rotary` expects."""
    return torch.cat([angles, angles], dim=-1) if half else angles.repeat_interleave(2, dim=-1)


def _stack_coords(ys: torch.Tensor, xs: torch.Tensor, indexing: str) -> torch.Tensor:
    """Per-axis coordinates -> [H*W, 2] in row-major patch order; channels (y, x) for 'ij', (x, y) for 'xy'."""
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    coords = (yy, xx) if indexing == "ij" else (xx, yy)
    return torch.stack(coords, dim=-1).reshape(-1, 2)


def _check_indexing(grid_indexing: str) -> None:
    if grid_indexing not in GRID_INDEXING:
        raise ValueError(f"grid_indexing must be one of {GRID_INDEXING}, got {grid_indexing!r}")


class _CachedRope(nn.Module):
    """Parameter-free RoPE: embeddings are pure functions of the grid shape, cached per (shape, device).

    The cache is a plain dict rather than a buffer, so building on the meta device needs no init and
    state dicts hold nothing.
    """

    def __init__(self) -> None:
        super().__init__()
        self._cache: dict[tuple, torch.Tensor] = {}

    def _build(self, shape: tuple[int, int], device: torch.device) -> torch.Tensor:
        raise NotImplementedError

    def get_embed(self, shape: tuple[int, int], device: torch.device | str = "cpu") -> torch.Tensor:
        """[H*W, 2 * head_dim] (sin | cos) for an (H, W) patch grid, float32.

        Under torch.fx tracing the grid is symbolic: the graph then builds the embedding at run time."""
        if isinstance(shape[0], torch.fx.Proxy) or isinstance(shape[1], torch.fx.Proxy):
            return self._build(shape, device)
        key = (int(shape[0]), int(shape[1]), torch.device(device))
        embed = self._cache.get(key)
        if embed is None:
            # a plain tensor even under inference_mode, so that a later training step can use the cache
            with torch.inference_mode(False), torch.no_grad():
                embed = self._build(key[:2], key[2])
            if not embed.is_meta:
                self._cache[key] = embed
        return embed


class AxialRotaryEmbedding(_CachedRope):
    """EVA02-style axial RoPE: a quarter of `head_dim` bands per axis, 1 / temperature**(i / bands).

    Args:
        head_dim: width of one attention head (divisible by 4).
        temperature: base of the inverse-frequency schedule.
        ref_feat_shape: grid the coordinates are rescaled to (the pretraining grid), or None for raw indices.
        grid_offset: added to each integer coordinate.
        grid_indexing: 'ij' (row coordinate first) or 'xy' (column first).
        rotate_half: split-halves layout instead of interleaved pairs.
    """

    def __init__(
        self,
        head_dim: int,
        temperature: float = 10000.0,
        ref_feat_shape: tuple[int, int] | None = None,
        grid_offset: float = 0.0,
        grid_indexing: str = "ij",
        rotate_half: bool = False,
    ):
        super().__init__()
        if head_dim % 4:
            raise ValueError(f"rotary embeddings need a head_dim divisible by 4, got {head_dim}")
        _check_indexing(grid_indexing)
        self.head_dim = head_dim
        self.temperature = float(temperature)
        self.ref_feat_shape = tuple(ref_feat_shape) if ref_feat_shape is not None else None
        self.grid_offset = grid_offset
        self.grid_indexing = grid_indexing
        self.rotate_half = rotate_half

    def _build(self, shape: tuple[int, int], device: torch.device) -> torch.Tensor:
        num_bands = self.head_dim // 4
        exponents = torch.arange(num_bands, dtype=torch.int64, device=device).float() / num_bands
        bands = 1.0 / self.temperature**exponents  # [bands]
        axes = [torch.arange(s, dtype=torch.int64, device=device).float() + self.grid_offset for s in shape]
        if self.ref_feat_shape is not None:
            axes = [t / s * r for t, s, r in zip(axes, shape, self.ref_feat_shape)]
        coords = _stack_coords(*axes, self.grid_indexing)  # [N, 2]
        angles = (coords[:, :, None] * bands).flatten(1)  # [N, head_dim / 2]
        sin = _expand_layout(angles.sin(), self.rotate_half)
        cos = _expand_layout(angles.cos(), self.rotate_half)
        return torch.cat([sin, cos], dim=-1)  # [N, 2 * head_dim]

    def extra_repr(self) -> str:
        return (
            f"head_dim={self.head_dim}, temperature={self.temperature}, ref_feat_shape={self.ref_feat_shape}, "
            f"grid_offset={self.grid_offset}, grid_indexing={self.grid_indexing!r}, rotate_half={self.rotate_half}"
        )


class DinoV3RotaryEmbedding(_CachedRope):
    """DINOv3 RoPE: patch centres normalised to [-1, 1] per axis, periods temperature**(2i / (head_dim/2)).

    Args:
        head_dim: width of one attention head (divisible by 4).
        temperature: base of the period schedule.
        grid_offset: added to each patch-centre coordinate before normalising.
        grid_indexing: 'ij' (row coordinate first) or 'xy'.
        rotate_half: split-halves layout (DINOv3's) instead of interleaved pairs.
    """

    def __init__(
        self,
        head_dim: int,
        temperature: float = 100.0,
        grid_offset: float = 0.0,
        grid_indexing: str = "ij",
        rotate_half: bool = True,
    ):
        super().__init__()
        if head_dim % 4:
            raise ValueError(f"rotary embeddings need a head_dim divisible by 4, got {head_dim}")
        _check_indexing(grid_indexing)
        self.head_dim = head_dim
        self.temperature = float(temperature)
        self.grid_offset = grid_offset
        self.grid_indexing = grid_indexing
        self.rotate_half = rotate_half

    def _build(self, shape: tuple[int, int], device: torch.device) -> torch.Tensor:
        quarter = self.head_dim // 4
        periods = self.temperature ** (
            2.0 * torch.arange(quarter, dtype=torch.float32) / (self.head_dim // 2)
        )
        axes = [(torch.arange(0.5, s, dtype=torch.float32) + self.grid_offset) / s for s in shape]
        coords = 2.0 * _stack_coords(*axes, self.grid_indexing) - 1.0  # [N, 2] in [-1, 1]
        angles = (2 * math.pi * coords[:, :, None] / periods).flatten(1)  # [N, head_dim / 2]
        sin = _expand_layout(angles.sin(), self.rotate_half)
        cos = _expand_layout(angles.cos(), self.rotate_half)
        return torch.cat([sin, cos], dim=-1).to(device)  # [N, 2 * head_dim]

    def extra_repr(self) -> str:
        return f"head_dim={self.head_dim}, temperature={self.temperature}, rotate_half={self.rotate_half}"


class MixedRotaryEmbedding(nn.Module):
    """RoPE-Mixed: learned frequencies `freqs` [2, depth, heads, head_dim/2] mixing both axes, per block and head.

    `get_embed` returns [depth, heads, N, 2 * head_dim] (interleaved layout); block i uses entry i.
    """

    def __init__(
        self, dim: int, depth: int, num_heads: int, temperature: float = 10.0, grid_indexing: str = "xy"
    ):
        super().__init__()
        if dim % num_heads or (dim // num_heads) % 4:
            raise ValueError(
                f"mixed RoPE needs a head_dim (dim / num_heads) divisible by 4; got {dim}/{num_heads}"
            )
        _check_indexing(grid_indexing)
        self.head_dim = dim // num_heads
        self.depth = depth
        self.num_heads = num_heads
        self.temperature = float(temperature)
        self.grid_indexing = grid_indexing
        self.freqs = nn.Parameter(torch.empty(2, depth, num_heads, self.head_dim // 2))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Axial magnitudes, turned by a random angle per block and head (the paper's init)."""
        mags = 1.0 / self.temperature ** (torch.arange(0, self.head_dim, 4).float() / self.head_dim)  # [hd/4]
        theta = torch.rand(self.depth, self.num_heads, 1) * 2 * math.pi  # [depth, heads, 1]
        fx = torch.cat([mags * theta.cos(), mags * (theta + math.pi / 2).cos()], dim=-1)
        fy = torch.cat([mags * theta.sin(), mags * (theta + math.pi / 2).sin()], dim=-1)
        self.freqs.copy_(torch.stack([fx, fy]))

    def no_weight_decay(self) -> set[str]:
        return {"freqs"}

    def get_embed(self, shape: tuple[int, int], device: torch.device | str | None = None) -> torch.Tensor:
        """[depth, heads, H*W, 2 * head_dim] (sin | cos) for an (H, W) grid."""
        freqs = self.freqs.float()
        axes = [torch.arange(s, device=freqs.device).float() for s in shape]
        coords = _stack_coords(*axes, self.grid_indexing)  # [N, 2]
        angles = coords[:, 0, None] * freqs[0].unsqueeze(-2) + coords[:, 1, None] * freqs[1].unsqueeze(-2)
        return torch.cat([_expand_layout(angles.sin(), False), _expand_layout(angles.cos(), False)], dim=-1)


def create_rope(
    rope_type: str,
    dim: int,
    num_heads: int,
    depth: int,
    temperature: float = 10000.0,
    ref_feat_shape: tuple[int, int] | None = None,
    grid_offset: float = 0.0,
    grid_indexing: str = "ij",
    rotate_half: bool = False,
) -> nn.Module:
    """The RoPE module of `rope_type` ('cat': axial, 'dinov3', 'mixed') for a `dim`-wide, `num_heads` model."""
    if rope_type not in ROPE_TYPES:
        raise ValueError(f"rope_type must be one of {ROPE_TYPES}, got {rope_type!r}")
    if dim % num_heads:
        raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
    head_dim = dim // num_heads
    if rope_type == "cat":
        return AxialRotaryEmbedding(
            head_dim, temperature, ref_feat_shape, grid_offset, grid_indexing, rotate_half
        )
    if rope_type == "dinov3":
        return DinoV3RotaryEmbedding(head_dim, temperature, grid_offset, grid_indexing, rotate_half)
    if rotate_half:
        raise ValueError("rope_type='mixed' uses interleaved pairs; rope_rotate_half must be False")
    return MixedRotaryEmbedding(dim, depth, num_heads, temperature, grid_indexing)
