"""Activation (gradient) checkpointing: when it applies, and running blocks under it."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

__all__ = ["checkpoint_active", "run_blocks"]


def checkpoint_active(module: nn.Module) -> bool:
    """Whether `module` should recompute its blocks in backward now: it asked for it (its
    `grad_checkpointing` flag), it is training, and autograd is recording (not under no_grad or TorchScript)."""
    return (
        bool(getattr(module, "grad_checkpointing", False))
        and module.training
        and torch.is_grad_enabled()
        and not torch.jit.is_scripting()
    )


def run_blocks(
    blocks: Iterable[Callable[[torch.Tensor], torch.Tensor]], x: torch.Tensor, checkpointed: bool
) -> torch.Tensor:
    """Apply `blocks` in turn; with `checkpointed`, each one's activations are recomputed in backward.

    Without checkpointing a container (nn.Sequential) is called as the module it is, so forward hooks on
    it (a Grad-CAM hook on `layer4`, a summary's hooks) fire as they would on any model.
    """
    if not checkpointed and isinstance(blocks, nn.Module):
        return blocks(x)
    for block in blocks:
        x = checkpoint(block, x, use_reentrant=False) if checkpointed else block(x)
    return x
