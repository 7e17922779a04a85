"""Shifted-window attention (Swin v1 and v2): window geometry (partition, merge, shift mask, stage sizes) and
the attention over windows folded into the batch."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.fx
import torch.nn.functional as F

from .helpers import to_2tuple

__all__ = [
    "shifted_window_mask",
    "stage_window_sizes",
    "window_merge",
    "window_partition",
    "windowed_attention",
]

# Score added to attention between tokens that came from different image regions after the cyclic shift.
_MASKED = -100.0

Size2 = tuple[int, int]


def window_partition(x: torch.Tensor, window: Size2) -> torch.Tensor:
    """[B, H, W, C] (H, W multiples of the window) -> [B, num_windows, wh * ww, C], windows in row order."""
    b, h, w, c = x.shape
    wh, ww = window
    x = x.view(b, h // wh, wh, w // ww, ww, c).transpose(2, 3)  # [B, H/wh, W/ww, wh, ww, C]
    return x.reshape(b, (h // wh) * (w // ww), wh * ww, c)


def window_merge(windows: torch.Tensor, window: Size2, size: Size2) -> torch.Tensor:
    """Inverse of `window_partition`: [B, num_windows, wh * ww, C] -> [B, H, W, C]."""
    b, _, _, c = windows.shape
    (wh, ww), (h, w) = window, size
    x = windows.view(b, h // wh, w // ww, wh, ww, c).transpose(2, 3)  # [B, H/wh, wh, W/ww, ww, C]
    return x.reshape(b, h, w, c)


def shifted_window_mask(padded_size: Size2, window: Size2, shift: Size2) -> torch.Tensor:
    """[num_windows, N, N] additive mask for attention in cyclically shifted windows.

    After rolling the map by -shift, the last window row / column holds tokens from opposite image
    edges; tokens may only attend to tokens of their own region. Built on the CPU (never on meta).
    """

    def bands(n: int, win: int, s: int) -> torch.Tensor:
        # 0 for the bulk, 1 for the last window strip not wrapped, 2 for the wrapped-around strip
        idx = torch.arange(n, device="cpu")
        return (idx >= n - win).long() + (idx >= n - s).long()

    (hp, wp), (wh, ww), (sh, sw) = padded_size, window, shift
    region = bands(hp, wh, sh)[:, None] * 3 + bands(wp, ww, sw)[None, :]  # [Hp, Wp]
    region = window_partition(region[None, :, :, None], window)[0, :, :, 0]  # [nW, N]
    differs = region[:, :, None] != region[:, None, :]  # [nW, N, N]
    return torch.zeros(differs.shape, device="cpu").masked_fill(differs, _MASKED)


def stage_window_sizes(window_size: int | Sequence, num_stages: int) -> tuple[Size2, ...]:
    """One (h, w) window per stage from an int, an (h, w) pair (always read as one window), or one int or
    pair per stage."""
    if isinstance(window_size, int) or (
        isinstance(window_size, (tuple, list))
        and len(window_size) == 2
        and all(isinstance(v, int) for v in window_size)
    ):
        return (to_2tuple(window_size, "window_size"),) * num_stages
    if not isinstance(window_size, (tuple, list)) or len(window_size) != num_stages:
        raise ValueError(
            f"window_size must be an int, an (h, w) pair or one per stage ({num_stages}), got {window_size!r}"
        )
    return tuple(to_2tuple(w, "window_size") for w in window_size)


def windowed_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    bias: torch.Tensor,
    mask: torch.Tensor | None,
    batch: int,
    dropout_p: float = 0.0,
    scale: float | None = None,
) -> torch.Tensor:
    """Attention inside windows folded into the batch (SDPA's fast kernels, and ONNX, take 4-D inputs).

    q, k, v: [B*nW, heads, N, hd]; bias: [heads, N, N], added to every window's scores; mask: [nW, N, N]
    (shifted windows) or None; batch: B. `scale` is SDPA's (None: 1/sqrt(hd)). Returns [B*nW, N, heads, hd].
    """
    bn, heads, n, hd = q.shape
    tracing = torch.fx._symbolic_trace.is_fx_tracing() or torch.compiler.is_exporting()
    if not tracing and torch.is_grad_enabled() and q.requires_grad:
        # training: CPU SDPA takes its math path here anyway; written out, the window mask broadcasts over
        # the batch instead of being expanded to [B*nW, heads, N, N] (and summed back in backward)
        attn = (q * (hd**-0.5 if scale is None else scale)) @ k.transpose(-2, -1)  # [B*nW, heads, N, N]
        attn = attn + bias.unsqueeze(0)
        if mask is not None:
            attn = (attn.view(batch, -1, heads, n, n) + mask.unsqueeze(1)).view(bn, heads, n, n)
        attn = F.dropout(attn.softmax(dim=-1), dropout_p) if dropout_p > 0 else attn.softmax(dim=-1)
        return (attn @ v).transpose(1, 2)  # [B*nW, N, heads, hd]
    bias = bias.unsqueeze(0)  # [1, heads, N, N]
    if mask is not None:
        bias = bias + mask.unsqueeze(1)  # [nW, heads, N, N]
        bias = bias.unsqueeze(0).expand(batch, -1, -1, -1, -1).reshape(bn, heads, n, n)
    out = F.scaled_dot_product_attention(
        q, k, v, attn_mask=bias.to(q.dtype), dropout_p=dropout_p, scale=scale
    )  # [B*nW, heads, N, hd]
    out = out.transpose(1, 2)  # [B*nW, N, heads, hd]
    if torch.compiler.is_exporting():
        # exporters may lower SDPA to a kernel with another output layout than the traced one
        out = out.clone(memory_format=torch.contiguous_format)
    return out
