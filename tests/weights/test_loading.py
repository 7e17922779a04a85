"""Adaptation while loading (head, first conv, foreign checkpoints, strictness) and meta-device creation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import visionzoo
from visionzoo.weights.errors import CheckpointMismatchError

from .tiny import ARCH, OTHER_ARCH, save_safetensors, tiny_state_dict


@pytest.fixture
def ckpt(tmp_path):
    sd = tiny_state_dict()
    return sd, save_safetensors(sd, tmp_path / "tiny.safetensors")


def _create(path, **kwargs):
    return visionzoo.create_model(
        ARCH, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)), **kwargs
    )


def test_loaded_model_matches_checkpoint(ckpt):
    sd, path = ckpt
    model = _create(path)
    own = model.state_dict()
    assert list(own) == list(sd) and all(torch.equal(own[k], sd[k]) for k in sd)
    ref = type(model)()
    ref.load_state_dict(sd)
    x = torch.randn(1, 3, 16, 16)
    torch.testing.assert_close(model.eval()(x), ref.eval()(x))


def test_other_num_classes_gets_fresh_head(ckpt):
    sd, path = ckpt
    model = _create(path, num_classes=4)
    assert model.fc.weight.shape == (4, 16)
    assert not model.fc.weight.is_meta and torch.isfinite(model.fc.weight).all()
    assert model.fc.weight.std() > 0  # initialised, not left empty or zero
    assert torch.equal(model.conv2.weight, sd["conv2.weight"])  # the body is the checkpoint's
    headless = _create(path, num_classes=0)
    assert headless(torch.randn(2, 3, 8, 8)).shape == (2, 16)


def test_one_input_channel_sums_rgb_filters(ckpt):
    sd, path = ckpt
    model = _create(path, in_chans=1)
    w = sd["conv1.weight"]  # [8, 3, 3, 3]
    torch.testing.assert_close(model.conv1.weight, w.sum(1, keepdim=True))
    # a grey image through the 1-channel stem equals the same image replicated into RGB in the original
    grey = torch.randn(1, 1, 8, 8)
    torch.testing.assert_close(
        model.conv1(grey), nn.functional.conv2d(grey.expand(-1, 3, -1, -1), w, stride=2, padding=1)
    )


@pytest.mark.parametrize("in_chans", [2, 5, 6])
def test_n_input_channels_repeat_and_rescale(ckpt, in_chans):
    sd, path = ckpt
    model = _create(path, in_chans=in_chans)
    w = sd["conv1.weight"]
    got = model.conv1.weight
    assert got.shape == (8, in_chans, 3, 3)
    for c in range(in_chans):  # channel c copies RGB channel c % 3, scaled by 3 / in_chans
        torch.testing.assert_close(got[:, c], w[:, c % 3] * 3 / in_chans)


def test_checkpoint_of_another_architecture_names_keys_and_shapes(tmp_path):
    path = save_safetensors(tiny_state_dict(width=12), tmp_path / "wide.safetensors")
    with pytest.raises(CheckpointMismatchError) as info:
        _create(path)
    msg = str(info.value)
    assert "conv1.weight: checkpoint (12, 3, 3, 3) vs model (8, 3, 3, 3)" in msg
    assert "another architecture" in msg
    # the right architecture takes it
    wide = visionzoo.create_model(OTHER_ARCH, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)))
    assert wide.conv1.weight.shape[0] == 12


def test_missing_and_unexpected_keys_strict_by_default(ckpt, tmp_path):
    sd, _ = ckpt
    broken = {k: v for k, v in sd.items() if k != "bn1.running_mean"}
    broken["extra.weight"] = torch.zeros(3)
    path = save_safetensors(broken, tmp_path / "broken.safetensors")
    with pytest.raises(
        CheckpointMismatchError,
        match=r"1 missing key\(s\): bn1\.running_mean; 1 unexpected key\(s\): extra\.weight",
    ):
        _create(path)
    model = _create(path, strict=False)  # loads what fits
    assert torch.equal(model.conv1.weight, sd["conv1.weight"])
    assert not model.bn1.running_mean.is_meta


_INITS = (
    "kaiming_normal_",
    "kaiming_uniform_",
    "trunc_normal_",
    "normal_",
    "uniform_",
    "xavier_uniform_",
    "zeros_",
    "ones_",
)


@pytest.fixture
def init_calls(monkeypatch):
    """Record (function, tensor shape, tensor on meta?) for every torch.nn.init call."""
    calls: list[tuple[str, tuple, bool]] = []
    for name in _INITS:
        real = getattr(nn.init, name)

        def spy(tensor, *args, _real=real, _name=name, **kwargs):
            calls.append((_name, tuple(tensor.shape), tensor.is_meta))
            return _real(tensor, *args, **kwargs)

        monkeypatch.setattr(nn.init, name, spy)
    return calls


def test_pretrained_creation_does_no_random_init(ckpt, init_calls):
    _, path = ckpt
    visionzoo.create_model(ARCH)  # without weights: real init happens (the spy sees it)
    assert any(not meta for _, _, meta in init_calls)
    init_calls.clear()
    rng = torch.get_rng_state()
    model = _create(path)
    assert [c for c in init_calls if not c[2]] == []  # any init ran on meta tensors only: free
    assert torch.equal(rng, torch.get_rng_state())  # no random numbers were drawn at all
    assert not any(t.is_meta for t in model.state_dict().values())


def test_fresh_head_is_the_only_real_init(ckpt, init_calls):
    _, path = ckpt
    _create(path, num_classes=4)
    real = {shape for _, shape, meta in init_calls if not meta}
    assert real and real <= {(4, 16), (4,)}


@pytest.mark.parametrize("arch", ["resnet18", "vit_tiny_patch16_224"])
def test_real_families_load_without_random_init(arch, tmp_path):
    if not visionzoo.is_model(arch):
        pytest.skip(f"{arch} not registered yet")
    src = visionzoo.create_model(arch, num_classes=7)
    sd = {k: v.contiguous() for k, v in src.state_dict().items()}
    path = save_safetensors(sd, tmp_path / f"{arch}.safetensors")
    rng = torch.get_rng_state()
    model = visionzoo.create_model(
        arch, pretrained=True, num_classes=7, pretrained_cfg_overlay=dict(file=str(path))
    )
    assert torch.equal(rng, torch.get_rng_state())  # nothing random ran while building and loading
    own = model.state_dict()
    assert all(torch.equal(own[k], sd[k]) for k in sd)
    assert not any(t.is_meta for t in list(model.parameters()) + list(model.buffers()))
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():  # non-persistent buffers too: same outputs as the model the weights came from
        torch.testing.assert_close(model.eval()(x), src.eval()(x))


def test_meta_init_skips_value_writes_but_keeps_metadata_ops():
    from visionzoo.weights.loading import meta_init

    rng = torch.get_rng_state()
    with meta_init():
        w = torch.empty(4, 6)
        assert nn.init.trunc_normal_(w, std=0.02) is w and w.normal_().clamp_(-1, 1) is w
        p = nn.Parameter(torch.zeros(2, 3))
        nn.init.normal_(p, std=1e-6)  # a Parameter reaches the mode as nn.init.normal_ itself
        p.requires_grad_(False)  # flags and shapes still change
        w.t_()
        real = torch.zeros(3, device="cpu").add_(2)  # real tensors are untouched by the mode
    assert w.is_meta and w.shape == (6, 4) and not p.requires_grad
    assert torch.equal(real, torch.full((3,), 2.0))
    assert torch.equal(rng, torch.get_rng_state())


def test_checkpoint_path_of_users_own_training_run(tmp_path):
    sd = tiny_state_dict(num_classes=3)
    torch.save(
        {"epoch": 7, "state_dict": {"module." + k: v for k, v in sd.items()}}, tmp_path / "run.pth.tar"
    )
    model = visionzoo.create_model(ARCH, num_classes=3, checkpoint_path=tmp_path / "run.pth.tar")
    assert torch.equal(model.fc.weight, sd["fc.weight"])
    with pytest.raises(
        CheckpointMismatchError,
        match=r"classifier 'fc' has 3 outputs but the model's has 10: pass num_classes=3",
    ):
        visionzoo.create_model(ARCH, checkpoint_path=tmp_path / "run.pth.tar")
    headless = visionzoo.create_model(ARCH, num_classes=0, checkpoint_path=tmp_path / "run.pth.tar")
    assert torch.equal(headless.conv1.weight, sd["conv1.weight"])  # features only: the head is not needed
