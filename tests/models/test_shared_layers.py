"""The shared mechanics in `layers/` and the base class that every family uses."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import visionzoo
from visionzoo.layers.drop import DropPath, drop_path_rates, stage_drop_path_rates
from visionzoo.layers.helpers import to_2tuple
from visionzoo.layers.squeeze_excite import SEModule, SqueezeExcite

REPS = {
    "resnet18": {},
    "regnetx_002": {},
    "convnext_atto": {},
    "efficientnet_b0": {},
    "mobilenetv3_small_100": {},
    "vit_tiny_patch16_224": dict(img_size=32, depth=3),
    "deit_tiny_distilled_patch16_224": dict(img_size=32, depth=3),
    "swin_tiny_patch4_window7_224": dict(img_size=64, window_size=4, depths=(1, 2, 1, 1)),
}


def test_drop_path_rates():
    assert drop_path_rates(0.3, 4) == pytest.approx([0.0, 0.1, 0.2, 0.3], abs=1e-15)
    assert drop_path_rates(0.4, 4, reach_end=False) == pytest.approx([0.0, 0.1, 0.2, 0.3], abs=1e-15)
    assert drop_path_rates(0.3, 1) == [0.0]
    f32 = drop_path_rates(0.3, 4, float32=True)
    assert f32 == pytest.approx([0.0, 0.1, 0.2, 0.3], abs=1e-7)
    assert all(float(torch.tensor(r, dtype=torch.float32)) == r for r in f32)  # float32 values
    assert stage_drop_path_rates(0.5, [2, 3]) == [[0.0, 0.125], [0.25, 0.375, 0.5]]  # exact in binary
    with torch.device("meta"):  # plain floats, also when models are built on the meta device
        assert isinstance(drop_path_rates(0.3, 4, float32=True)[1], float)


def _drop_probs(model: nn.Module) -> list[float]:
    return [m.drop_prob for m in model.modules() if type(m).__name__ == "DropPath"]


@pytest.mark.parametrize("arch", REPS)
def test_stochastic_depth_schedule_matches_timm(arch):
    import timm

    ours = visionzoo.create_model(arch, drop_path_rate=0.2, **REPS[arch])
    theirs = timm.create_model(arch, drop_path_rate=0.2, **REPS[arch])
    got = [m.drop_prob for m in ours.modules() if isinstance(m, DropPath)]
    assert got and got == pytest.approx(_drop_probs(theirs), abs=1e-7)


@pytest.mark.parametrize("arch", REPS)
def test_set_grad_checkpointing_reaches_every_stage(arch):
    model = visionzoo.create_model(arch, **REPS[arch])
    for enable in (True, False):
        model.set_grad_checkpointing(enable)
        flagged = [m for m in model.modules() if "grad_checkpointing" in vars(m)]
        assert model in flagged and all(m.grad_checkpointing is enable for m in flagged)
    stages = [m for m in model.modules() if m is not model and "grad_checkpointing" in vars(m)]
    # the families whose stages run their own blocks
    assert bool(stages) == arch.startswith(("regnet", "convnext", "swin"))


@pytest.mark.parametrize("arch", REPS)
def test_reset_classifier_rejects_bad_num_classes(arch):
    model = visionzoo.create_model(arch, **REPS[arch])
    with pytest.raises(ValueError, match="num_classes must be >= 0, got -1"):
        model.reset_classifier(-1)
    for bad in (2.5, True, "10"):
        with pytest.raises(TypeError, match="num_classes must be an int"):
            model.reset_classifier(bad)
    model.reset_classifier(3)
    assert model.num_classes == 3


def test_to_2tuple():
    assert to_2tuple(7) == (7, 7)
    assert to_2tuple([5]) == (5, 5)
    assert to_2tuple((3, 4)) == (3, 4)
    for bad in (0, (1, 2, 3), True, "7", 2.5, (2, -1), ()):
        with pytest.raises(ValueError, match="window_size must be a positive int or a pair"):
            to_2tuple(bad, "window_size")


def test_squeeze_excite_key_layouts_compute_the_same_gate():
    torch.manual_seed(0)
    se = SEModule(8, 2)
    ex = SqueezeExcite(8, 2, act="relu", gate="sigmoid")
    assert set(se.state_dict()) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
    assert set(ex.state_dict()) == {
        "conv_reduce.weight",
        "conv_reduce.bias",
        "conv_expand.weight",
        "conv_expand.bias",
    }
    ex.load_state_dict(
        {k.replace("fc1", "conv_reduce").replace("fc2", "conv_expand"): v for k, v in se.state_dict().items()}
    )
    x = torch.randn(2, 8, 5, 5)
    w1, b1 = se.fc1.weight[:, :, 0, 0], se.fc1.bias
    w2, b2 = se.fc2.weight[:, :, 0, 0], se.fc2.bias
    gate = torch.sigmoid(torch.relu(x.mean((2, 3)) @ w1.T + b1) @ w2.T + b2)  # [B, C]
    with torch.no_grad():
        torch.testing.assert_close(se(x), x * gate[:, :, None, None])
        torch.testing.assert_close(ex(x), se(x))
    with pytest.raises(ValueError, match="rd_channels"):
        SEModule(8, 0)


@pytest.mark.parametrize("arch,stage", [("resnet18", "layer4"), ("convnext_atto", "stages.3.blocks")])
def test_forward_hooks_on_stages_fire(arch, stage):
    """Users hook whole stages (Grad-CAM on layer4): the shared block runner must call containers as modules."""
    model = visionzoo.create_model(arch).eval()
    seen = []
    model.get_submodule(stage).register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape)))
    with torch.no_grad():
        model(torch.randn(1, 3, 64, 64))
    assert len(seen) == 1 and seen[0][0] == 1
