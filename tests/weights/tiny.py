"""A tiny registered model (conv stem `conv1`, classifier `fc`) for the weight tests, and checkpoint helpers."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from visionzoo.models.base import ImageModel
from visionzoo.registry import is_model, register_model
from visionzoo.weights.cfg import PretrainedCfg

ARCH = "vz_weights_test_tiny"
OTHER_ARCH = "vz_weights_test_wide"


class TinyNet(ImageModel):
    """conv1 -> bn1 -> relu -> conv2 -> pool -> fc."""

    def __init__(
        self, num_classes: int = 10, in_chans: int = 3, width: int = 8, global_pool: str = "avg"
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.num_features = width * 2
        self.global_pool = global_pool
        self.conv1 = nn.Conv2d(in_chans, width, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width * 2, 3, padding=1)
        self.fc = nn.Linear(width * 2, num_classes) if num_classes else nn.Identity()
        self.feature_info = [dict(num_chs=width * 2, reduction=2, module="conv2")]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(torch.relu(self.bn1(self.conv1(x))))  # [B, 2w, H/2, W/2]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean((2, 3))  # [B, 2w]
        return x if pre_logits else self.fc(x)

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()


_CFG = dict(
    first_conv="conv1", classifier="fc", num_classes=10, label_set=None, mean=(0.5,) * 3, std=(0.5,) * 3
)


def register() -> None:
    """Register the two test architectures (once). Called by a session fixture at run time, not at import,
    so suites that list every registered model while collecting never see them."""
    if is_model(ARCH):
        return
    register_model(
        lambda **kwargs: TinyNet(**kwargs),
        name=ARCH,
        model_cls=TinyNet,
        pretrained_cfgs={
            "untrained": PretrainedCfg(**_CFG),
            "hub_in1k": PretrainedCfg(hf_hub_id="visionzoo-test/tiny.hub_in1k", **_CFG),
            "pkg": PretrainedCfg(package=("vz_no_such_package_xyz", "w.pth"), **_CFG),
        },
    )
    register_model(
        lambda **kwargs: TinyNet(**{"width": 12, **kwargs}),
        name=OTHER_ARCH,
        model_cls=TinyNet,
        pretrained_cfgs={"untrained": PretrainedCfg(**_CFG)},
    )


def tiny_state_dict(seed: int = 1, **kwargs) -> dict[str, torch.Tensor]:
    """Weights of a real TinyNet with random, non-trivial values (BN stats included)."""
    torch.manual_seed(seed)
    model = TinyNet(**kwargs)
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.randn_like(t))
        model.bn1.running_var.abs_().add_(0.5)
    return {k: v.clone() for k, v in model.state_dict().items()}


def save_safetensors(sd: dict[str, torch.Tensor], path: Path) -> Path:
    from safetensors.torch import save_file

    save_file(sd, str(path))
    return path


class Payload:
    """Unpickling this would run `open(marker, 'w')`, creating the marker file: a stand-in for hostile code."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))
