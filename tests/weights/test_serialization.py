"""Safe reading: safetensors or weights-only torch.load into owned memory; pickled code is refused unexecuted."""

from __future__ import annotations

import os
import pickle
import sys

import pytest
import torch

import visionzoo
from visionzoo.weights.errors import CorruptCheckpointError, UnsafeCheckpointError
from visionzoo.weights.serialization import read_state_dict

from .tiny import ARCH, Payload, save_safetensors, tiny_state_dict


def test_pickled_code_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "marker"
    sd = tiny_state_dict()
    torch.save({"state_dict": sd, "payload": Payload(str(marker))}, tmp_path / "evil.pth")
    with pytest.raises(UnsafeCheckpointError, match=r"refusing to load .*evil\.pth.*GLOBAL.*open"):
        read_state_dict(tmp_path / "evil.pth")
    assert not marker.exists()
    # also through create_model, and for an old-style (non-zip) pickle file
    with open(tmp_path / "evil_legacy.pth", "wb") as f:
        pickle.dump({"w": Payload(str(marker))}, f, protocol=2)
    for name in ("evil.pth", "evil_legacy.pth"):
        with pytest.raises(UnsafeCheckpointError, match="Nothing in it was executed"):
            visionzoo.create_model(
                ARCH, pretrained=True, pretrained_cfg_overlay=dict(file=str(tmp_path / name))
            )
    assert not marker.exists()
    # the same object really does create the marker when unpickled unsafely: the test can fail
    pickle.loads(pickle.dumps(Payload(str(marker))))
    assert marker.exists()


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: {"state_dict": sd, "epoch": 3, "optimizer": {"lr": 0.1}},
        lambda sd: {"model": sd, "args": {"lr": 1}},
        lambda sd: {"state_dict_ema": sd, "state_dict": {k: torch.zeros_like(v) for k, v in sd.items()}},
        lambda sd: {"module." + k: v for k, v in sd.items()},
        lambda sd: {"state_dict": {"module." + k: v for k, v in sd.items()}},
    ],
    ids=["state_dict", "model", "ema_preferred", "ddp", "nested_ddp"],
)
def test_nested_checkpoints_unwrapped(tmp_path, wrap):
    sd = tiny_state_dict()
    torch.save(wrap(sd), tmp_path / "ckpt.pth")
    out = read_state_dict(tmp_path / "ckpt.pth")
    assert list(out) == list(sd)
    assert all(torch.equal(out[k], sd[k]) for k in sd)
    model = visionzoo.create_model(
        ARCH, pretrained=True, pretrained_cfg_overlay=dict(file=str(tmp_path / "ckpt.pth"))
    )
    assert torch.equal(model.bn1.running_var, sd["bn1.running_var"])


def test_explicit_state_dict_key(tmp_path):
    sd = tiny_state_dict()
    torch.save({"weights_a": sd, "weights_b": tiny_state_dict(seed=2)}, tmp_path / "two.pth")
    out = read_state_dict(tmp_path / "two.pth", state_dict_key="weights_b")
    assert torch.equal(out["fc.bias"], tiny_state_dict(seed=2)["fc.bias"])
    with pytest.raises(CorruptCheckpointError, match=r"no entry 'ema'.*weights_a"):
        read_state_dict(tmp_path / "two.pth", state_dict_key="ema")


@pytest.mark.parametrize("fmt", ["zip", "legacy", "safetensors"])
def test_truncated_files_are_corrupt_errors_naming_the_path(tmp_path, fmt):
    sd = tiny_state_dict()
    path = tmp_path / ("w.safetensors" if fmt == "safetensors" else "w.pth")
    if fmt == "safetensors":
        save_safetensors(sd, path)
    else:
        torch.save(sd, path, _use_new_zipfile_serialization=fmt == "zip")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(CorruptCheckpointError, match=str(path)):
        read_state_dict(path)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all" * 20, b"\x00" * 64])
def test_garbage_is_corrupt_error(tmp_path, content):
    path = tmp_path / "junk.pth"
    path.write_bytes(content)
    with pytest.raises(CorruptCheckpointError, match="junk.pth"):
        read_state_dict(path)


def test_checkpoint_without_tensors_is_corrupt_error(tmp_path):
    torch.save({"epoch": 3, "note": "no weights here"}, tmp_path / "meta.pth")
    with pytest.raises(CorruptCheckpointError, match=r"no dict of tensors.*epoch"):
        read_state_dict(tmp_path / "meta.pth")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        read_state_dict(tmp_path / "nope.pth")


def test_safetensors_content_under_another_name(tmp_path):
    sd = tiny_state_dict()
    save_safetensors(sd, tmp_path / "weights.bin")  # e.g. a URL whose name says nothing
    assert torch.equal(read_state_dict(tmp_path / "weights.bin")["conv2.bias"], sd["conv2.bias"])


def _mapped_ranges(path) -> list[tuple[int, int]]:
    target = os.path.realpath(path)
    ranges = []
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and parts[5] == target:
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                ranges.append((lo, hi))
    return ranges


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
@pytest.mark.parametrize("fmt", ["safetensors", "zip"])
def test_loaded_weights_are_owned_not_memory_mapped(tmp_path, fmt):
    sd = tiny_state_dict(width=64)
    path = tmp_path / f"m.{fmt}"
    if fmt == "safetensors":
        save_safetensors(sd, path)
    else:
        torch.save(sd, path)
    model = visionzoo.create_model(
        ARCH, width=64, pretrained=True, pretrained_cfg_overlay=dict(file=str(path))
    )
    assert _mapped_ranges(path) == []  # nothing of the file stays mapped: the model owns its memory
    assert torch.equal(model.conv2.weight, sd["conv2.weight"])
