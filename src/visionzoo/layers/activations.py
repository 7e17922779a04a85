"""Activation layers by name, so that architecture tables can name them as strings."""

from __future__ import annotations

from torch import nn

__all__ = ["ACTIVATIONS", "GELUTanh", "get_act_layer", "create_act"]


class GELUTanh(nn.GELU):
    """GELU with the tanh approximation."""

    def __init__(self):
        super().__init__(approximate="tanh")


ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "gelu": nn.GELU,
    "gelu_tanh": GELUTanh,
    "sigmoid": nn.Sigmoid,
    "hard_sigmoid": nn.Hardsigmoid,
    "hard_swish": nn.Hardswish,
    "tanh": nn.Tanh,
    "identity": nn.Identity,
}

_NO_INPLACE = ("sigmoid", "gelu", "gelu_tanh", "tanh", "identity")


def get_act_layer(name: str) -> type[nn.Module]:
    """The activation class registered as `name` (ValueError listing the known names otherwise)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(sorted(ACTIVATIONS))}")
    return ACTIVATIONS[name]


def create_act(name: str | None, inplace: bool = False) -> nn.Module:
    """An activation module by name; None or '' gives nn.Identity."""
    if not name:
        return nn.Identity()
    cls = get_act_layer(name)
    if inplace and name not in _NO_INPLACE:
        return cls(inplace=True)
    return cls()
