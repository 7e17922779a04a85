"""Relative position bias tables of windowed attention: index of each query/key pair, and resizing."""

from __future__ import annotations

import math

import torch

__all__ = [
    "log_pairwise_offsets",
    "log_spaced_relative_coords",
    "relative_position_index",
    "resize_relative_position_bias_table",
    "table_length",
]


def table_length(window: tuple[int, int]) -> int:
    """Rows of the bias table of a (height, width) window: one per distinct (dy, dx) offset."""
    return (2 * window[0] - 1) * (2 * window[1] - 1)


def relative_position_index(window: tuple[int, int], device: torch.device | str = "cpu") -> torch.Tensor:
    """[N, N] long tensor (N = wh * ww): the table row holding the bias of query i attending to key j."""
    wh, ww = window
    ys, xs = torch.meshgrid(
        torch.arange(wh, device=device), torch.arange(ww, device=device), indexing="ij"
    )  # [wh, ww] each
    ys, xs = ys.flatten(), xs.flatten()  # [N]
    dy = ys[:, None] - ys[None, :] + (wh - 1)  # [N, N], in [0, 2wh - 2]
    dx = xs[:, None] - xs[None, :] + (ww - 1)  # [N, N], in [0, 2ww - 2]
    return dy * (2 * ww - 1) + dx


def _stretched_offsets(src: int, dst: int) -> torch.Tensor:
    """Positions of the `src` source offsets on the destination grid, spaced geometrically (as BEiT does).

    The centre offset stays at 0 and the spacing grows by a ratio found by bisection, so that the outermost
    source offset lands near the outermost destination offset; small offsets keep their exact values.
    """
    half, target = src // 2, dst // 2
    lo, hi = 1.01, 1.5
    ratio = lo
    while hi - lo > 1e-6:
        ratio = (lo + hi) / 2
        reach = (1 - ratio**half) / (1 - ratio)  # 1 + ratio + ... + ratio^(half-1)
        if reach > target:
            hi = ratio
        else:
            lo = ratio
    steps, pos = [], 1.0
    for i in range(half):
        steps.append(pos)
        pos += ratio ** (i + 1)
    return torch.tensor([-s for s in reversed(steps)] + [0.0] + steps, dtype=torch.float64)


def _linear_resample_matrix(src: int, dst: int) -> torch.Tensor:
    """[dst, src] matrix mapping values at the stretched source offsets to the integer destination offsets.

    Piecewise-linear interpolation; destination offsets beyond the outermost source offset take its value.
    """
    pos = _stretched_offsets(src, dst)  # [src], increasing
    half = dst // 2
    target = torch.arange(-half, half + 1, dtype=torch.float64).clamp(pos[0], pos[-1])  # [dst]
    right = torch.searchsorted(pos, target).clamp(1, src - 1)
    left = right - 1
    w_right = (target - pos[left]) / (pos[right] - pos[left])
    rows = torch.arange(dst)
    mat = torch.zeros(dst, src, dtype=torch.float64)
    mat[rows, left] = 1 - w_right
    mat[rows, right] += w_right
    return mat


def resize_relative_position_bias_table(
    table: torch.Tensor, new_window: tuple[int, int], old_window: tuple[int, int] | None = None
) -> torch.Tensor:
    """Resample a [(2wh-1)(2ww-1), heads] bias table to another window size.

    Offsets are spread geometrically (BEiT's scheme) and interpolated linearly along each axis, which
    agrees with timm's resizing. `old_window` defaults to the square window the table length implies.
    """
    if table.ndim != 2:
        raise ValueError(f"expected a [rows, heads] bias table, got shape {tuple(table.shape)}")
    if old_window is None:
        side = math.isqrt(table.shape[0])
        if side * side != table.shape[0] or side % 2 == 0:
            raise ValueError(
                f"cannot tell the window size of a bias table with {table.shape[0]} rows; pass old_window"
            )
        old_window = ((side + 1) // 2, (side + 1) // 2)
    if table_length(old_window) != table.shape[0]:
        raise ValueError(
            f"a bias table for window {old_window} has {table_length(old_window)} rows, not {table.shape[0]}"
        )
    if tuple(old_window) == tuple(new_window):
        return table
    sh, sw = 2 * old_window[0] - 1, 2 * old_window[1] - 1
    dh, dw = 2 * new_window[0] - 1, 2 * new_window[1] - 1
    heads = table.shape[1]
    grid = table.detach().to(torch.float64).T.reshape(heads, sh, sw)  # [heads, sh, sw]
    out = _linear_resample_matrix(sh, dh) @ grid @ _linear_resample_matrix(sw, dw).T  # [heads, dh, dw]
    return out.reshape(heads, dh * dw).T.contiguous().to(table.dtype)


def log_spaced_relative_coords(
    window: tuple[int, int],
    pretrained_window: tuple[int, int] | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """[2wh-1, 2ww-1, 2] (dy, dx) offsets of a window, log-spaced for a continuous position bias (Swin V2).

    Offsets are scaled so that the largest of the `pretrained_window` (default: `window`) maps to 8, then
    squashed as sign(t) * log2(1 + |t|) / 3 into [-1, 1]; a larger window than the pretrained one then
    reaches just past the trained range instead of far outside it.
    """
    ref = pretrained_window if pretrained_window is not None and pretrained_window[0] > 0 else window
    axes = [
        torch.arange(-(w - 1), w, dtype=torch.float32, device=device) / max(r - 1, 1)
        for w, r in zip(window, ref)
    ]
    coords = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1) * 8  # [2wh-1, 2ww-1, 2], in [-8, 8]
    return torch.sign(coords) * torch.log2(coords.abs() + 1.0) / math.log2(8)


def log_pairwise_offsets(window: tuple[int, int], device: torch.device | str = "cpu") -> torch.Tensor:
    """[N * N, 2] (dy, dx) offset of key j from query i (row i * N + j, N = wh * ww), as sign(d) * ln(1 + |d|).

    The input of swinv2_cr's position-bias MLP, which is evaluated for every query/key pair.
    """
    ys, xs = torch.meshgrid(
        torch.arange(window[0], dtype=torch.float32, device=device),
        torch.arange(window[1], dtype=torch.float32, device=device),
        indexing="ij",
    )
    pos = torch.stack((ys.flatten(), xs.flatten()), dim=-1)  # [N, 2]
    offsets = (pos[:, None, :] - pos[None, :, :]).reshape(-1, 2)  # [N*N, 2]
    return torch.sign(offsets) * torch.log1p(offsets.abs())
