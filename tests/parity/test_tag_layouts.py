"""Every pretrained tag, at full size, on the meta device: our state-dict layout is timm's, key for key.

A tag's model differs from its architecture's only in what the tag's cfg sets (num_classes, input
size), so tags that would build the same model are checked once. New families are covered as soon as
their weight table is registered.
"""

from __future__ import annotations

import pytest
import torch

import visionzoo

timm = pytest.importorskip("timm")


def _layout_groups() -> dict[str, str]:
    """One representative `arch.tag` per distinct (architecture, num_classes, input size)."""
    seen: dict[tuple, str] = {}
    for name in visionzoo.list_pretrained():
        cfg = visionzoo.get_pretrained_cfg(name)
        key = (cfg.architecture, cfg.num_classes, tuple(cfg.input_size))
        seen.setdefault(key, name)
    return {name: name for name in seen.values()}


TAGS = sorted(_layout_groups())


def _layout(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", TAGS)
def test_tag_layout_matches_timm(name):
    with torch.device("meta"):
        theirs = timm.create_model(name, pretrained=False)
        ours = visionzoo.create_model(name, pretrained=False)
    assert _layout(ours) == _layout(theirs)
    assert ours.num_classes == theirs.num_classes
    assert ours.num_features == theirs.num_features
