"""Optimiser, parameter groups (weight decay, layer-wise lr decay) and the warmup + cosine schedule."""

from __future__ import annotations

import math
import re

import torch
from torch import nn


def _layer_ids(model: nn.Module) -> tuple[dict[str, int], int]:
    """Map each parameter name to a depth index using the model's `group_matcher()`.

    The stem is layer 0, each block group a following layer, anything unmatched (head, final norm)
    the last layer. Returns the map and the number of layers.
    """
    matcher = model.group_matcher(coarse=False)
    stem = matcher.get("stem")
    blocks = matcher.get("blocks")
    if isinstance(blocks, str):
        blocks = [(blocks, None)]
    rules = [(re.compile(p), suffix) for p, suffix in (blocks or [])]
    stem_re = re.compile(stem) if isinstance(stem, str) else None
    keys: dict[str, tuple] = {}
    for name, _ in model.named_parameters():
        if stem_re is not None and stem_re.match(name):
            keys[name] = (0,)
            continue
        for pattern, suffix in rules:
            m = pattern.match(name)
            if m:
                nums = tuple(
                    float(g) for g in m.groups() if g is not None and g.replace(".", "", 1).isdigit()
                )
                keys[name] = (1, *nums, *(suffix or ()))
                break
        else:
            keys[name] = (math.inf,)
    ordered = sorted(set(keys.values()))
    index = {k: i for i, k in enumerate(ordered)}
    return {n: index[k] for n, k in keys.items()}, len(ordered)


def param_groups(
    model: nn.Module,
    weight_decay: float,
    layer_decay: float | None = None,
) -> list[dict]:
    """Parameter groups: no weight decay for norms, biases (1-D tensors) and `model.no_weight_decay()`;
    with `layer_decay`, the lr of layer i of n is scaled by layer_decay ** (n - 1 - i)."""
    skip = set(getattr(model, "no_weight_decay", lambda: set())())
    layer_of, n_layers = _layer_ids(model) if layer_decay is not None else ({}, 1)
    groups: dict[tuple[int, bool], dict] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        no_wd = p.ndim <= 1 or name.endswith(".bias") or name in skip
        layer = layer_of.get(name, n_layers - 1)
        key = (layer, no_wd)
        if key not in groups:
            scale = layer_decay ** (n_layers - 1 - layer) if layer_decay is not None else 1.0
            groups[key] = dict(params=[], weight_decay=0.0 if no_wd else weight_decay, lr_scale=scale)
        groups[key]["params"].append(p)
    return [groups[k] for k in sorted(groups)]


def create_optimizer(
    model: nn.Module,
    opt: str = "adamw",
    lr: float = 1e-3,
    weight_decay: float = 0.05,
    momentum: float = 0.9,
    layer_decay: float | None = None,
) -> torch.optim.Optimizer:
    """AdamW or SGD (Nesterov momentum) over `param_groups`; each group's lr is lr * its lr_scale."""
    groups = param_groups(model, weight_decay, layer_decay)
    for g in groups:
        g["lr"] = lr * g["lr_scale"]
    opt = opt.lower()
    if opt == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    if opt == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=momentum > 0)
    raise ValueError(f"unknown optimizer {opt!r}; choose 'adamw' or 'sgd'")


def warmup_cosine(total_steps: int, warmup_steps: int = 0, min_ratio: float = 0.0):
    """Multiplier for LambdaLR: linear warmup from ~0 to 1, then cosine decay to `min_ratio`."""

    def factor(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        progress = min(1.0, progress)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor
