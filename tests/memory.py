"""Activation memory of a training forward pass, measured deterministically (CPU has no peak-memory counter)."""

from __future__ import annotations

import torch
from torch import nn


def saved_activation_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of distinct non-parameter tensors autograd keeps from the forward pass for backward.

    This is the memory gradient checkpointing saves; parameters are excluded since they live anyway.
    """
    params = {p.data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        ptr = t.untyped_storage().data_ptr()
        if ptr not in params:
            seen[ptr] = max(seen.get(ptr, 0), t.untyped_storage().nbytes())
        return t

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(x)
    out = out[0] if isinstance(out, (tuple, list)) else out
    out.float().sum().backward()
    return sum(seen.values())


def assert_checkpointing_keeps_gradients(model: nn.Module, x: torch.Tensor) -> None:
    """Gradients with `set_grad_checkpointing(True)` equal those without it (model in train mode)."""
    model.train()
    model(x).square().sum().backward()
    ref = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    model.set_grad_checkpointing(True)
    model(x).square().sum().backward()
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, ref[n], atol=1e-5, rtol=1e-4, msg=n)
