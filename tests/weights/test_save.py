"""save_pretrained: timm's Hub folder layout, atomic writes, round trips through 'local-dir:' (ours and timm's)."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import visionzoo
from visionzoo.weights.save import save_pretrained

from .tiny import ARCH, save_safetensors, tiny_state_dict

LABELS = tuple(f"class_{i}" for i in range(10))


@pytest.fixture
def tiny_model(tmp_path):
    path = save_safetensors(tiny_state_dict(width=4), tmp_path / "w.safetensors")
    return visionzoo.create_model(
        ARCH,
        pretrained=True,
        width=4,
        pretrained_cfg_overlay=dict(file=str(path), label_names=LABELS, top1=12.5),
    )


def test_layout_and_round_trip(tiny_model, tmp_path):
    assert visionzoo.save_pretrained is save_pretrained  # the public name
    out = save_pretrained(tiny_model, tmp_path / "saved")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    config = json.loads((out / "config.json").read_text())
    assert config["architecture"] == ARCH and config["num_classes"] == 10 and config["num_features"] == 8
    assert config["model_args"] == {"width": 4, "num_classes": 10, "in_chans": 3}
    assert config["label_names"] == list(LABELS)
    pcfg = config["pretrained_cfg"]
    assert pcfg["mean"] == [0.5] * 3 and pcfg["first_conv"] == "conv1" and pcfg["classifier"] == "fc"
    assert not {"file", "url", "hf_hub_id", "architecture", "top1"} & set(pcfg)  # no source; timm-only keys
    assert config["visionzoo"] == {"top1": 12.5}

    back = visionzoo.create_model(f"local-dir:{out}", pretrained=True)
    assert back.conv1.weight.shape == (4, 3, 3, 3)
    sd, sd_back = tiny_model.state_dict(), back.state_dict()
    assert all(torch.equal(sd[k], sd_back[k]) for k in sd) and list(sd) == list(sd_back)
    cfg = back.pretrained_cfg
    assert cfg.label_names == LABELS and cfg.top1 == 12.5 and cfg.file == str(out / "model.safetensors")


def test_new_head_drops_old_labels(tmp_path):
    path = save_safetensors(tiny_state_dict(), tmp_path / "w.safetensors")
    model = visionzoo.create_model(
        ARCH, pretrained=True, num_classes=3, pretrained_cfg_overlay=dict(file=str(path), label_names=LABELS)
    )
    config = json.loads((save_pretrained(model, tmp_path / "s") / "config.json").read_text())
    assert config["num_classes"] == 3 and config["pretrained_cfg"]["num_classes"] == 3
    assert "label_names" not in config
    assert visionzoo.create_model(f"local-dir:{tmp_path / 's'}", pretrained=True).fc.out_features == 3


def test_writes_are_atomic(tiny_model, tmp_path, monkeypatch):
    import safetensors.torch

    out = save_pretrained(tiny_model, tmp_path / "s")
    before = (out / "model.safetensors").read_bytes()

    def broken_save(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", broken_save)
    with torch.no_grad():
        tiny_model.fc.bias.add_(1)
    with pytest.raises(OSError, match="disk full"):
        save_pretrained(tiny_model, out)
    assert (out / "model.safetensors").read_bytes() == before  # the previous save is intact
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]  # no temp files


def test_save_errors(tiny_model, tmp_path):
    with pytest.raises(TypeError, match="needs a visionzoo model with a pretrained_cfg"):
        save_pretrained(nn.Linear(2, 2), tmp_path / "a")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        save_pretrained(tiny_model, tmp_path / "file")
    with pytest.raises(ValueError, match=r"model argument act=.*cannot be written to JSON"):
        save_pretrained(tiny_model, tmp_path / "b", model_args={"act": nn.ReLU})


def test_timm_loads_our_folder_and_we_load_timms(tmp_path):
    timm = pytest.importorskip("timm")
    ours = visionzoo.create_model("resnet18", num_classes=3).eval()
    save_pretrained(ours, tmp_path / "ours")
    theirs = timm.create_model(f"local-dir:{tmp_path / 'ours'}", pretrained=True).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(theirs(x), ours(x))

    from timm.models import save_for_hf

    save_for_hf(theirs, tmp_path / "timm", safe_serialization=True)
    back = visionzoo.create_model(f"local-dir:{tmp_path / 'timm'}", pretrained=True).eval()
    assert back.num_classes == 3
    with torch.no_grad():
        torch.testing.assert_close(back(x), ours(x))


def test_saved_files_get_the_umask_mode_not_0600(tiny_model, tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        out = save_pretrained(tiny_model, tmp_path / "saved")
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
    assert modes == {"config.json": 0o644, "model.safetensors": 0o644}
