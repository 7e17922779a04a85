"""Transformer MLP blocks. They take the same arguments, so a table can name one (`MLP_LAYERS`)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class _MlpBase(nn.Module):
    """What every MLP here does after its input projection: act -> drop1 -> norm -> fc2 -> drop2."""

    def _init_output(
        self,
        width: int,
        out_features: int,
        act_layer: Callable[[], nn.Module],
        norm_layer: Callable[[int], nn.Module] | None,
        bias: bool,
        drop: float,
        linear: Callable[[int, int, bool], nn.Module] = nn.Linear,
    ) -> None:
        """`act`, `drop1`, `norm` (on `width`), `fc2` (`width` -> `out_features`) and `drop2`, in that order."""
        self.act = act_layer()
        self.drop1 = nn.Dropout(drop)
        self.norm = norm_layer(width) if norm_layer is not None else nn.Identity()
        self.fc2 = linear(width, out_features, bias)
        self.drop2 = nn.Dropout(drop)


class Mlp(_MlpBase):
    """fc1 -> act -> drop -> norm -> fc2 -> drop, on the last dimension (or on channels with `use_conv`)."""

    def __init__(
        self,
        in_features: int,
        hidden_features: int | None = None,
        out_features: int | None = None,
        act_layer: Callable[[], nn.Module] = nn.GELU,
        norm_layer: Callable[[int], nn.Module] | None = None,
        bias: bool = True,
        drop: float = 0.0,
        use_conv: bool = False,
    ):
        super().__init__()
        hidden = hidden_features or in_features
        linear = (lambda i, o, b: nn.Conv2d(i, o, 1, bias=b)) if use_conv else nn.Linear
        self.fc1 = linear(in_features, hidden, bias)
        self._init_output(hidden, out_features or in_features, act_layer, norm_layer, bias, drop, linear)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop1(self.act(self.fc1(x)))
        return self.drop2(self.fc2(self.norm(x)))


class GluMlp(_MlpBase):
    """Gated MLP with one packed input projection: fc1 gives [a, b], then fc2(act(a) * b) (`gate_last=False`)
    or fc2(a * act(b)). `hidden_features` is fc1's width; the gated width is half of it."""

    def __init__(
        self,
        in_features: int,
        hidden_features: int | None = None,
        out_features: int | None = None,
        act_layer: Callable[[], nn.Module] = nn.SiLU,
        norm_layer: Callable[[int], nn.Module] | None = None,
        bias: bool = True,
        drop: float = 0.0,
        gate_last: bool = False,
    ):
        super().__init__()
        hidden = hidden_features or in_features
        if hidden % 2:
            raise ValueError(f"a packed gated MLP needs an even hidden width, got {hidden}")
        self.gate_last = gate_last
        self.fc1 = nn.Linear(in_features, hidden, bias=bias)
        self._init_output(hidden // 2, out_features or in_features, act_layer, norm_layer, bias, drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [..., C]
        a, b = self.fc1(x).chunk(2, dim=-1)
        x = a * self.act(b) if self.gate_last else self.act(a) * b
        return self.drop2(self.fc2(self.norm(self.drop1(x))))


class SwiGLU(_MlpBase):
    """Gated MLP with separate gate and value projections: fc2(norm(act(fc1_g(x)) * fc1_x(x))).

    `norm_layer` gives the sub-layer norm EVA02 puts before the output projection; `align_to` rounds the
    hidden width up to a multiple (DINOv3's SwiGLU variants).
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: int | None = None,
        out_features: int | None = None,
        act_layer: Callable[[], nn.Module] = nn.SiLU,
        norm_layer: Callable[[int], nn.Module] | None = None,
        bias: bool = True,
        drop: float = 0.0,
        align_to: int = 0,
    ):
        super().__init__()
        hidden = hidden_features or in_features
        if align_to:
            hidden += -hidden % align_to
        self.fc1_g = nn.Linear(in_features, hidden, bias=bias)
        self.fc1_x = nn.Linear(in_features, hidden, bias=bias)
        self._init_output(hidden, out_features or in_features, act_layer, norm_layer, bias, drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [..., C]
        x = self.drop1(self.act(self.fc1_g(x)) * self.fc1_x(x))
        return self.drop2(self.fc2(self.norm(x)))


MLP_LAYERS: dict[str, type[nn.Module]] = {"mlp": Mlp, "glu_packed": GluMlp, "swiglu": SwiGLU}
