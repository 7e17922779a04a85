"""Fast parity checks for the ViT families (timm is the oracle).

timm's own init of a large ViT costs seconds; here timm's model is built on the meta device and given
random weights directly (normal, std 0.02; norm scales and layer scales near their usual values), and
ours is built on the meta device and takes timm's tensors with a strict load. The comparison itself is
`harness`'s: forward, forward_features and forward_head(pre_logits=True) to 1e-4, fp32, eval.
"""

from __future__ import annotations

import gc

import torch

import visionzoo

from .harness import ATOL, _close

_POOL_SIZE = 32 * 2**20  # more than the largest tensor of any ViT tested (aimv2_3b fc1 at depth 2: 26M)
_pools: dict[str, torch.Tensor] = {}


def _pool(kind: str) -> torch.Tensor:
    """A shared pool of random values: 'weight' ~ N(0, 0.02), 'scale' ~ 1 + N(0, 0.1) (norms, layer scale)."""
    if kind not in _pools:
        gen = torch.Generator().manual_seed(len(_pools))
        values = torch.randn(_POOL_SIZE, generator=gen)
        _pools[kind] = 0.02 * values if kind == "weight" else 1.0 + 0.1 * values
    return _pools[kind]


@torch.no_grad()
def random_fill(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give a meta-device `model` random CPU weights of a trained-like scale, without allocating them:
    each parameter is a view into a shared random pool at its own offset (read-only use: eval parity)."""
    gen = torch.Generator().manual_seed(seed)
    for module in model.modules():
        for name, p in list(module._parameters.items()):
            if p is None:
                continue
            kind = "scale" if name == "gamma" or (p.ndim == 1 and name == "weight") else "weight"
            pool = _pool(kind)
            if p.numel() > pool.numel():
                raise ValueError(f"{name} {tuple(p.shape)} is larger than the random pool; raise _POOL_SIZE")
            start = int(torch.randint(0, pool.numel() - p.numel() + 1, (1,), generator=gen))
            module._parameters[name] = torch.nn.Parameter(
                pool[start : start + p.numel()].view(p.shape), requires_grad=False
            )
        for name, b in list(module._buffers.items()):
            if b is not None:
                module._buffers[name] = torch.zeros(b.shape, dtype=b.dtype)
    return model.eval()


def fast_pair(arch: str, **kwargs):
    """(ours, timm's): timm's random weights loaded into ours with strict=True; both in eval mode."""
    import timm

    with torch.device("meta"):
        theirs = timm.create_model(arch, pretrained=False, **kwargs)
        ours = visionzoo.create_model(arch, pretrained=False, **kwargs)
    random_fill(theirs)
    ours.load_state_dict(theirs.state_dict(), strict=True, assign=True)
    return ours.eval(), theirs


@torch.no_grad()
def check_outputs(arch: str, ours: torch.nn.Module, theirs: torch.nn.Module, x: torch.Tensor) -> None:
    """forward, forward_features and forward_head(pre_logits=True) agree with timm to 1e-4."""
    f_ours, f_theirs = ours.forward_features(x), theirs.forward_features(x)
    _close(f"{arch} forward_features", f_ours, f_theirs, ATOL)
    _close(
        f"{arch} forward_head(pre_logits)",
        ours.forward_head(f_ours, pre_logits=True),
        theirs.forward_head(f_theirs, pre_logits=True),
        ATOL,
    )
    _close(f"{arch} forward", ours(x), theirs(x), ATOL)


def check_fast_parity(arch: str, input_size: tuple[int, int, int], batch_size: int = 1, **kwargs) -> None:
    """`check_outputs` on a `fast_pair` of `arch` built with `kwargs`."""
    ours, theirs = fast_pair(arch, **kwargs)
    check_outputs(arch, ours, theirs, torch.randn(batch_size, *input_size))
    del ours, theirs
    gc.collect()
