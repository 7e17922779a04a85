"""Checks shared by the parity tests of the classic CNN families (DenseNet, VGG, Inception, Xception).

timm is the oracle: timm's models get random weights, which are loaded into ours.
"""

from __future__ import annotations

import re

import torch

import visionzoo
from tests.memory import assert_checkpointing_keeps_gradients

from .harness import _close, build_pair


def _load_in_order(dst: torch.nn.Module, src: dict[str, torch.Tensor]) -> None:
    """Load `src` into timm's features_only wrapper, whose keys are renamed (flattened) but kept in order."""
    dst_sd = dst.state_dict()
    src_items = [(k, v) for k, v in src.items()]
    # the wrapper keeps a prefix of the model's layers: match them in order, shapes checked
    new = {}
    it = iter(src_items)
    for k, v in dst_sd.items():
        sk, sv = next(it)
        assert sv.shape == v.shape, f"{k} {tuple(v.shape)} vs {sk} {tuple(sv.shape)}"
        new[k] = sv
    dst.load_state_dict(new, strict=True)


@torch.no_grad()
def check_features_only(
    arch: str, size: tuple[int, int, int], out_indices: tuple[int, ...] | None = None, **kwargs
) -> None:
    """features_only: same channels, reductions and module names as timm's feature_info, same NCHW maps."""
    import timm

    kw = dict(kwargs) if out_indices is None else dict(kwargs, out_indices=out_indices)
    full = timm.create_model(arch, **kwargs).eval()
    theirs = timm.create_model(arch, features_only=True, **kw).eval()
    ours = visionzoo.create_model(arch, features_only=True, **kw).eval()
    _load_in_order(theirs, full.state_dict())
    missing, _ = ours.model.load_state_dict(full.state_dict(), strict=False)
    assert not missing, missing[:5]
    assert ours.feature_info.channels() == theirs.feature_info.channels()
    assert ours.feature_info.reduction() == theirs.feature_info.reduction()
    assert ours.feature_info.module_name() == theirs.feature_info.module_name()
    x = torch.randn(1, *size)
    maps, ref = ours(x), theirs(x)
    assert len(maps) == len(ref) == len(ours.feature_info)
    for i, (a, b) in enumerate(zip(maps, ref, strict=True)):
        _close(f"{arch} feature {i}", a, b, 1e-4)


@torch.no_grad()
def check_intermediates(arch: str, size: tuple[int, int, int], **kwargs) -> None:
    """feature_info equals timm's; forward_intermediates (subsets, NHWC, intermediates_only) agrees."""
    ours, theirs = build_pair(arch, **kwargs)
    assert ours.feature_info == theirs.feature_info
    x = torch.randn(1, *size)
    final, maps = ours.forward_intermediates(x, indices=[0, -2], output_fmt="NHWC")
    ref_final, ref_maps = theirs.forward_intermediates(x, indices=[0, -2])
    _close(f"{arch} final", final, ref_final, 1e-4)
    assert len(maps) == len(ref_maps) == 2
    for a, b in zip(maps, ref_maps, strict=True):
        _close(f"{arch} intermediate", a.permute(0, 3, 1, 2), b, 1e-4)
    only = ours.forward_intermediates(x, indices=2, intermediates_only=True)
    ref_only = theirs.forward_intermediates(x, indices=2, intermediates_only=True)
    assert len(only) == len(ref_only) == 2
    for a, b in zip(only, ref_only, strict=True):
        _close(f"{arch} last-2 intermediates", a, b, 1e-4)


@torch.no_grad()
def check_prune(arch: str, size: tuple[int, int, int], indices: list[int], **kwargs) -> None:
    """Pruned to `indices`, both models keep the same keys and give the same maps and features."""
    ours, theirs = build_pair(arch, **kwargs)
    assert ours.prune_intermediate_layers(indices) == theirs.prune_intermediate_layers(indices)
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    assert ours.num_features == theirs.num_features and ours.num_classes == theirs.num_classes == 0
    x = torch.randn(1, *size)
    _close(f"{arch} pruned forward_features", ours.forward_features(x), theirs.forward_features(x), 1e-4)
    _close(f"{arch} pruned forward", ours(x), theirs(x), 1e-4)


@torch.no_grad()
def check_reset_classifier(arch: str, size: tuple[int, int, int], **kwargs) -> None:
    """reset_classifier(7, 'max') gives the same head as timm's (weights copied over)."""
    ours, theirs = build_pair(arch, **kwargs)
    ours.reset_classifier(7, "max")
    theirs.reset_classifier(7, "max")
    ours.get_classifier().load_state_dict(theirs.get_classifier().state_dict())
    x = torch.randn(2, *size)
    _close(f"{arch} reset head", ours(x), theirs(x), 1e-4)
    assert ours.num_classes == 7 and ours.get_classifier().out_features == 7


def check_group_matcher(arch: str, head_prefixes: tuple[str, ...]) -> None:
    """Every non-head parameter falls in the stem or in a block group (coarse and fine)."""
    model = visionzoo.create_model(arch)
    for coarse in (False, True):
        gm = model.group_matcher(coarse=coarse)
        blocks = gm["blocks"]
        block_res = [blocks] if isinstance(blocks, str) else [r for r, _ in blocks]
        for name, _ in model.named_parameters():
            if name.startswith(head_prefixes):
                continue
            in_stem = re.match(gm["stem"], name) is not None
            in_blocks = any(re.match(r, name) for r in block_res)
            assert in_stem or in_blocks, f"{name} is in no group (coarse={coarse})"


def check_grad_checkpointing(arch: str, size: tuple[int, int, int], **kwargs) -> None:
    """Gradients with checkpointing equal those without."""
    model = visionzoo.create_model(arch, **kwargs)
    assert_checkpointing_keeps_gradients(model, torch.randn(2, *size))


def _groups(gm: dict, name: str) -> tuple:
    blocks = gm["blocks"]
    block_res = [(blocks, None)] if isinstance(blocks, str) else blocks
    stem = re.match(gm["stem"], name) is not None
    hits = [(m.groups(), extra) for r, extra in block_res if (m := re.match(r, name))]
    return stem, hits[:1]


def check_group_matcher_as_timm(arch: str, **kwargs) -> None:
    """Our group_matcher puts every parameter in the same group as timm's (fine and coarse)."""
    import timm

    model, reference = visionzoo.create_model(arch, **kwargs), timm.create_model(arch, **kwargs)
    for coarse in (False, True):
        ours, theirs = model.group_matcher(coarse=coarse), reference.group_matcher(coarse=coarse)
        for name, _ in reference.named_parameters():
            assert _groups(ours, name) == _groups(theirs, name), f"{name} (coarse={coarse})"
