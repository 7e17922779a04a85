"""Feature extraction: `FeatureInfo`, index helpers and the `features_only` wrapper shared by all families."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["FeatureInfo", "FeatureModel", "collect_intermediates", "feature_take_indices", "to_output_fmt"]


def feature_take_indices(
    num_features: int, indices: int | Sequence[int] | None = None
) -> tuple[list[int], int]:
    """Normalise `indices` into sorted, non-negative positions among `num_features` feature points.

    An int `n` means "the last n"; a sequence may hold negative positions counted from the end.
    Returns the positions and the largest one. Out-of-range positions raise an IndexError.
    """
    if indices is None:
        indices = num_features
    if isinstance(indices, int):
        if not 0 < indices <= num_features:
            raise IndexError(f"asked for the last {indices} feature maps, but the model has {num_features}")
        taken = list(range(num_features - indices, num_features))
    else:
        taken = []
        for i in indices:
            j = i + num_features if i < 0 else i
            if not 0 <= j < num_features:
                raise IndexError(
                    f"feature index {i} out of range for a model with {num_features} feature maps"
                )
            taken.append(j)
        if not taken:
            raise IndexError("out_indices is empty")
    taken = sorted(set(taken))
    return taken, taken[-1]


def to_output_fmt(x: torch.Tensor, output_fmt: str) -> torch.Tensor:
    """Convert an NCHW map to `output_fmt` ('NCHW' or 'NHWC')."""
    if output_fmt == "NCHW":
        return x
    if output_fmt == "NHWC":
        return x.permute(0, 2, 3, 1)
    raise ValueError(f"output_fmt must be 'NCHW' or 'NHWC', got {output_fmt!r}")


def collect_intermediates(
    x: torch.Tensor,
    steps: Sequence[Callable[[torch.Tensor], torch.Tensor]],
    take: Sequence[int],
    output_fmt: str = "NCHW",
    stop_early: bool = False,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Run `steps` in turn, keeping the output of step i (as `output_fmt`) when i is in `take`.

    The CNN families' `forward_intermediates` are this loop over their stem and stages. With
    `stop_early`, steps after the last kept one are skipped. Returns the last output and the kept maps.
    """
    to_output_fmt(x.new_empty(0, 0, 0, 0), output_fmt)  # validate before computing anything
    end = max(take) + 1 if stop_early else len(steps)
    maps: list[torch.Tensor] = []
    for i, step in enumerate(steps[:end]):
        x = step(x)
        if i in take:
            maps.append(to_output_fmt(x, output_fmt))
    return x, maps


class FeatureInfo:
    """Channels, reduction and module name of each feature map a model can return."""

    def __init__(self, info: list[dict], out_indices: Sequence[int]):
        self.info = list(info)
        self.out_indices = tuple(out_indices)

    def _get(self, key: str, idx: int | Sequence[int] | None):
        if idx is None:
            return [self.info[i][key] for i in self.out_indices]
        if isinstance(idx, int):
            return self.info[self.out_indices[idx]][key]
        return [self.info[self.out_indices[i]][key] for i in idx]

    def channels(self, idx: int | Sequence[int] | None = None):
        return self._get("num_chs", idx)

    def reduction(self, idx: int | Sequence[int] | None = None):
        return self._get("reduction", idx)

    def module_name(self, idx: int | Sequence[int] | None = None):
        return self._get("module", idx)

    def get_dicts(self) -> list[dict]:
        return [dict(self.info[i]) for i in self.out_indices]

    def __getitem__(self, i: int) -> dict:
        return self.info[self.out_indices[i]]

    def __len__(self) -> int:
        return len(self.out_indices)

    def __repr__(self) -> str:
        return f"FeatureInfo(channels={self.channels()}, reduction={self.reduction()})"


FEATURE_KEY_LAYOUTS = ("trunk", "flat", "wrapped", "body")


def _feature_key_map(model: nn.Module) -> dict[str, str]:
    """Key prefixes {ours: timm's} of a features_only state dict, from the model's `feature_key_layout`.

    timm's feature extractors differ by family, and checkpoints saved from them follow suit:
    'trunk' - the trunk's own keys ('conv1.weight': ResNet, RegNet, EfficientNet, MobileNet);
    'flat' - the trunk's keys with top-level sequences flattened ('stages_0.blocks...': ConvNeXt, Swin v1/v2
        and v2 CR, DenseNet, VGG, Inception-v4, aligned Xception, ResNetV2, HGNet, ByobNet);
    'wrapped' - the whole model under 'model.' ('model.blocks.0...': ViT, DeiT);
    'body' - the whole model under 'body.' (timm's hook-based extractor: legacy Xception).
    """
    layout = getattr(model, "feature_key_layout", "trunk")
    if layout not in FEATURE_KEY_LAYOUTS:
        raise ValueError(f"feature_key_layout must be one of {FEATURE_KEY_LAYOUTS}, got {layout!r}")
    if layout == "wrapped":
        return {}
    if layout == "body":
        return {"model.": "body."}
    mapping = {"model.": ""}
    if layout == "flat":  # a top-level sequence's children become top-level modules named 'seq_child'
        for name, child in model.named_children():
            if isinstance(child, (nn.Sequential, nn.ModuleList)):
                mapping.update(
                    {f"model.{name}.{sub}.": f"{name}_{sub}." for sub, _ in child.named_children()}
                )
    return mapping


def _rename(state_dict: dict, prefix: str, mapping: dict[str, str]) -> None:
    """Rename keys under `prefix` in place, longest matching `mapping` prefix first, keeping their order."""
    if not mapping:
        return
    olds = sorted(mapping, key=len, reverse=True)
    items = list(state_dict.items())
    state_dict.clear()
    for key, value in items:
        if key.startswith(prefix):
            rest = key[len(prefix) :]
            old = next((o for o in olds if rest.startswith(o)), None)
            if old is not None:
                key = prefix + mapping[old] + rest[len(old) :]
        state_dict[key] = value


def _save_in_feature_layout(
    module: FeatureModel, state_dict: dict, prefix: str, local_metadata: dict
) -> None:
    _rename(state_dict, prefix, module._key_map)


def _load_from_feature_layout(module: FeatureModel, state_dict: dict, prefix: str, *args: Any) -> None:
    """Accept timm's layout (what `state_dict()` gives) and the wrapped one ('model.' + the model's keys)."""
    if not module._key_map or any(k.startswith(prefix + "model.") for k in state_dict):
        return
    _rename(state_dict, prefix, {new: old for old, new in module._key_map.items()})


class FeatureModel(nn.Module):
    """Wraps a classifier so that `forward` returns a list of feature maps (NCHW unless asked otherwise).

    Built on the model's own `forward_intermediates`; layers after the last requested map are pruned.
    """

    def __init__(
        self,
        model: nn.Module,
        out_indices: int | Sequence[int] | None = None,
        output_fmt: str = "NCHW",
        norm: bool = False,
    ):
        super().__init__()
        info = list(model.feature_info)
        if out_indices is None:
            out_indices = getattr(model, "default_feature_indices", None) or len(info)
        indices, _ = feature_take_indices(len(info), out_indices)
        to_output_fmt(torch.empty(0, 0, 0, 0), output_fmt)  # validates output_fmt early
        model.prune_intermediate_layers(indices, prune_norm=not norm, prune_head=True)
        self.model = model
        self.out_indices = tuple(indices)
        self.output_fmt = output_fmt
        self.norm = norm
        self.feature_info = FeatureInfo(info, indices)
        self.pretrained_cfg = getattr(model, "pretrained_cfg", None)
        self._key_map = _feature_key_map(model)
        self.register_state_dict_post_hook(_save_in_feature_layout)
        self.register_load_state_dict_pre_hook(_load_from_feature_layout)

    @property
    def default_cfg(self):
        return self.pretrained_cfg

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.model.set_grad_checkpointing(enable)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.model.forward_intermediates(
            x,
            indices=list(self.out_indices),
            norm=self.norm,
            output_fmt=self.output_fmt,
            intermediates_only=True,
        )
