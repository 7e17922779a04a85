"""Checks shared by the EfficientNet and MobileNet parity tests (timm is the oracle)."""

from __future__ import annotations

import re

import torch

import visionzoo

from .harness import _close, build_pair

SIZE = (3, 64, 64)


@torch.no_grad()
def check_features_only(arch: str, out_indices: tuple[int, ...] | None = None) -> None:
    """features_only maps, channels and reductions agree with timm's features_only model."""
    import timm

    kw = {} if out_indices is None else dict(out_indices=out_indices)
    theirs = timm.create_model(arch, features_only=True, **kw).eval()
    ours = visionzoo.create_model(arch, features_only=True, **kw).eval()
    # the head (and any stage after the last map) is pruned away; timm keeps unused trailing stages
    missing, _ = ours.model.load_state_dict(theirs.state_dict(), strict=out_indices is None)
    assert not missing
    assert ours.feature_info.channels() == theirs.feature_info.channels()
    assert ours.feature_info.reduction() == theirs.feature_info.reduction()
    x = torch.randn(1, *SIZE)
    maps, ref = ours(x), theirs(x)
    assert len(maps) == len(ref)
    for i, (a, b) in enumerate(zip(maps, ref, strict=True)):
        _close(f"{arch} feature {i}", a, b, 1e-4)


@torch.no_grad()
def check_intermediates(arch: str) -> None:
    """forward_intermediates (subset, NHWC, not intermediates_only) agrees with timm's."""
    ours, theirs = build_pair(arch)
    x = torch.randn(1, *SIZE)
    final, maps = ours.forward_intermediates(x, indices=[0, -2], output_fmt="NHWC")
    ref_final, ref_maps = theirs.forward_intermediates(x, indices=[0, -2])
    _close(f"{arch} final", final, ref_final, 1e-4)
    assert len(maps) == len(ref_maps) == 2
    for a, b in zip(maps, ref_maps, strict=True):
        _close(f"{arch} intermediate", a.permute(0, 3, 1, 2), b, 1e-4)
    only = ours.forward_intermediates(x, indices=2, intermediates_only=True)
    ref_only = theirs.forward_intermediates(x, indices=2, intermediates_only=True)
    for a, b in zip(only, ref_only, strict=True):
        _close(f"{arch} last-2 intermediates", a, b, 1e-4)


def check_training_features(arch: str) -> None:
    """drop_path_rate gives the same per-block rates as timm; checkpointing leaves outputs and grads unchanged."""
    ours, theirs = build_pair(arch, drop_path_rate=0.2)
    rates = [m.drop_prob for m in ours.modules() if type(m).__name__ == "DropPath"]
    ref = [m.drop_prob for m in theirs.modules() if type(m).__name__ == "DropPath"]
    assert rates and rates == ref

    model = visionzoo.create_model(arch).train()
    x = torch.randn(2, *SIZE)
    out = model(x)
    out.pow(2).mean().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    model.set_grad_checkpointing(True)
    out_ckpt = model(x)
    out_ckpt.pow(2).mean().backward()
    _close(f"{arch} checkpointed forward", out_ckpt, out, 1e-5)
    for n, p in model.named_parameters():
        _close(f"{arch} checkpointed grad {n}", p.grad, grads[n], 1e-5)


def check_group_matcher(arch: str) -> None:
    """Every parameter falls in the stem or a block group, and stem/blocks are told apart."""
    model = visionzoo.create_model(arch)
    gm = model.group_matcher()
    block_res = [r for r, _ in gm["blocks"]]
    for name, _ in model.named_parameters():
        in_stem = re.match(gm["stem"], name) is not None
        in_blocks = any(re.match(r, name) for r in block_res)
        if name.startswith("classifier."):
            assert not in_stem
            continue
        assert in_stem != in_blocks, f"{name}: stem={in_stem} blocks={in_blocks}"
    assert re.match(gm["stem"], "conv_stem.weight") and not re.match(gm["stem"], "blocks.0.0.bn1.weight")
    assert re.match(block_res[0], "blocks.3.1.conv_dw.weight").groups() == ("3", "1")
    assert re.match(model.group_matcher(coarse=True)["blocks"][0][0], "blocks.3.1.x").groups() == ("3",)


def check_prune(arch: str) -> None:
    """After pruning to the first two maps the model is shorter and gives the same maps."""
    model = visionzoo.create_model(arch).eval()
    x = torch.randn(1, *SIZE)
    with torch.no_grad():
        before = model.forward_intermediates(x, indices=[0, 1], intermediates_only=True)
        n_params = sum(p.numel() for p in model.parameters())
        kept = model.prune_intermediate_layers([0, 1])
        after = model.forward_intermediates(x, indices=[0, 1], intermediates_only=True)
    assert kept == [0, 1]
    assert sum(p.numel() for p in model.parameters()) < n_params / 4
    assert not any(k.startswith(("conv_head", "classifier", "bn2")) for k in model.state_dict())
    for a, b in zip(before, after, strict=True):
        _close(f"{arch} pruned map", a, b, 0.0)


@torch.no_grad()
def check_parity_big(arch: str, input_size: tuple[int, int, int] = (3, 32, 32)) -> None:
    """check_parity for the largest variants without paying for two random inits of hundreds of millions of
    weights: timm's model is built on the meta device and filled with cheap random values, ours takes the
    very same tensors (strict load with assign=True). forward_features and forward_head(pre_logits) are compared
    as in check_parity (relative to the feature scale); `forward` is their composition in both libraries."""
    import timm

    gen = torch.Generator().manual_seed(0)
    with torch.device("meta"):
        theirs = timm.create_model(arch)
        ours = visionzoo.create_model(arch)
    theirs = theirs.to_empty(device="cpu").eval()
    for name, t in theirs.state_dict().items():
        if not t.is_floating_point():
            continue
        if t.dim() > 1:  # fan-in scaled weights keep activations of deep nets finite
            t.copy_(torch.randn(t.shape, generator=gen) * (t[0].numel() ** -0.5))
        elif name.endswith("running_var"):
            t.copy_(torch.rand(t.shape, generator=gen) * 0.5 + 0.75)
        elif name.endswith(("bias", "running_mean")):
            t.copy_(torch.randn(t.shape, generator=gen) * 0.1)
        else:  # BN and layer-scale weights
            t.copy_(torch.rand(t.shape, generator=gen) * 0.5 + 0.5)
    for m in theirs.modules():  # buffers outside the state dict (none expected) would stay uninitialised
        assert all(b.device.type == "cpu" for b in m.buffers(recurse=False))
    ours.load_state_dict(theirs.state_dict(), strict=True, assign=True)
    ours.eval()
    x = torch.randn(1, *input_size, generator=gen)
    f_ours, f_theirs = ours.forward_features(x), theirs.forward_features(x)
    scale = f_theirs.abs().max().clamp_min(1.0)
    _close(f"{arch} forward_features", f_ours / scale, f_theirs / scale, 1e-4)
    _close(
        f"{arch} forward_head(pre_logits)",
        ours.forward_head(f_ours, pre_logits=True) / scale,
        theirs.forward_head(f_theirs, pre_logits=True) / scale,
        1e-4,
    )
