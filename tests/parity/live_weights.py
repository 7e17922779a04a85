"""Parity against timm with "live" weights: norm layers get random affine parameters and running statistics.

timm's random init leaves BatchNorm at identity statistics (mean 0, var 1, weight 1, bias 0) and some
norms' extra parameters at constants, which would hide eps, statistics or fold mistakes. Deep random
networks grow large activations, so differences are judged relative to the output's scale.
"""

from __future__ import annotations

import gc

import torch
from torch import nn

import visionzoo

ATOL = 1e-4


@torch.no_grad()
def randomize_norms(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every 1-D parameter (norm scales/biases, EvoNorm `v`, FRN `tau`, conv biases) and every BN
    running statistic a random value, reproducibly."""
    gen = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        if p.ndim == 1:
            p.mul_(torch.empty(p.shape).uniform_(0.5, 1.5, generator=gen))
            p.add_(0.1 * torch.randn(p.shape, generator=gen))
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
            m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=gen))
            m.running_var.copy_(torch.empty(m.running_var.shape).uniform_(0.5, 1.5, generator=gen))
    return model


def assert_close_scaled(name: str, ours: torch.Tensor, theirs: torch.Tensor, atol: float = ATOL) -> None:
    """Max abs difference within `atol` times the reference's magnitude (at least 1)."""
    assert ours.shape == theirs.shape, f"{name}: shape {tuple(ours.shape)} vs {tuple(theirs.shape)}"
    scale = max(1.0, theirs.abs().max().item())
    diff = (ours - theirs).abs().max().item()
    assert diff <= atol * scale, f"{name}: max abs diff {diff:.3e} > {atol} x {scale:.3g}"


def live_pair(arch: str, **kwargs):
    """(ours, timm's), timm's norms randomised and its state dict loaded into ours strictly; both eval."""
    import timm

    theirs = randomize_norms(timm.create_model(arch, pretrained=False, **kwargs)).eval()
    ours = visionzoo.create_model(arch, pretrained=False, **kwargs).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    return ours, theirs


@torch.no_grad()
def check_live_parity(
    arch: str, input_size: tuple[int, int, int], batch_size: int = 2, atol: float = ATOL, **kwargs
) -> None:
    """forward_features, forward_head(pre_logits=True) and forward agree with timm (live weights)."""
    ours, theirs = live_pair(arch, **kwargs)
    x = torch.randn(batch_size, *input_size, generator=torch.Generator().manual_seed(1))
    f_ours, f_theirs = ours.forward_features(x), theirs.forward_features(x)
    assert_close_scaled(f"{arch} forward_features", f_ours, f_theirs, atol)
    assert_close_scaled(
        f"{arch} forward_head(pre_logits)",
        ours.forward_head(f_ours, pre_logits=True),
        theirs.forward_head(f_theirs, pre_logits=True),
        atol,
    )
    assert_close_scaled(f"{arch} forward", ours(x), theirs(x), atol)
    del ours, theirs
    gc.collect()
