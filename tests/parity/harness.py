"""Shared parity check: timm is the oracle. A timm model's weights load strictly into ours and outputs agree."""

from __future__ import annotations

import gc

import torch

import visionzoo

ATOL = 1e-4


def _close(name: str, ours: torch.Tensor, theirs: torch.Tensor, atol: float) -> None:
    assert ours.shape == theirs.shape, f"{name}: shape {tuple(ours.shape)} vs timm {tuple(theirs.shape)}"
    diff = (ours - theirs).abs().max().item()
    assert diff <= atol, f"{name}: max abs diff {diff:.3e} > {atol}"


def build_pair(arch: str, **kwargs):
    """(ours, timm's) with timm's random weights loaded into ours with strict=True; both in eval mode."""
    import timm

    theirs = timm.create_model(arch, pretrained=False, **kwargs).eval()
    ours = visionzoo.create_model(arch, pretrained=False, **kwargs).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    return ours, theirs


@torch.no_grad()
def check_parity(
    arch: str,
    input_size: tuple[int, int, int] | None = None,
    batch_size: int = 2,
    atol: float = ATOL,
    **kwargs,
) -> None:
    """forward, forward_features and forward_head(pre_logits=True) agree with timm within `atol`."""
    ours, theirs = build_pair(arch, **kwargs)
    if input_size is None:
        input_size = tuple(visionzoo.get_pretrained_cfg(arch).input_size)
        if "in_chans" in kwargs:
            input_size = (kwargs["in_chans"], *input_size[1:])
    x = torch.randn(batch_size, *input_size)
    f_ours, f_theirs = ours.forward_features(x), theirs.forward_features(x)
    _close(f"{arch} forward_features", f_ours, f_theirs, atol)
    _close(
        f"{arch} forward_head(pre_logits)",
        ours.forward_head(f_ours, pre_logits=True),
        theirs.forward_head(f_theirs, pre_logits=True),
        atol,
    )
    _close(f"{arch} forward", ours(x), theirs(x), atol)
    del ours, theirs
    gc.collect()
