"""Hugging Face Hub source, against a local server speaking the Hub's download protocol, then offline from its cache."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import visionzoo
from visionzoo.weights.errors import WeightsUnavailableError

from .conftest import ServedFile
from .tiny import ARCH, tiny_state_dict

REPO_A = "visionzoo-test/tiny.hub_in1k"  # the registered tag's hub id: safetensors and .bin
REPO_B = "visionzoo-test/tiny-cfg"  # a timm-style repo: config.json and only pytorch_model.bin
COMMIT = "0123456789abcdef0123456789abcdef01234567"
ROOT = Path(__file__).resolve().parents[2]

CONFIG_B = {
    "architecture": ARCH,
    "num_classes": 5,
    "num_features": 8,
    "global_pool": "avg",
    "model_args": {"width": 4, "num_classes": 5, "in_chans": 3},
    "label_names": ["cat", "dog", "fox", "owl", "eel"],
    "pretrained_cfg": {
        "tag": "cfgtest",
        "custom_load": False,
        "input_size": [3, 32, 32],
        "crop_pct": 1.0,
        "mean": [0.1, 0.2, 0.3],
        "std": [0.4, 0.5, 0.6],
        "num_classes": 5,
        "first_conv": "conv1",
        "classifier": "fc",
        "license": "mit",
    },
}


def _torch_bytes(sd) -> bytes:
    buf = io.BytesIO()
    torch.save(sd, buf)
    return buf.getvalue()


def _serve(server, repo: str, name: str, data: bytes) -> None:
    etag = f'"{abs(hash((repo, name, len(data)))):x}"'
    server.files[f"/{repo}/resolve/main/{name}"] = ServedFile(
        data, headers={"X-Repo-Commit": COMMIT, "ETag": etag}
    )


_CHILD = """
import sys
sys.path.insert(0, sys.argv[1])
import tests.weights.tiny as tiny
import visionzoo
tiny.register()
a = visionzoo.create_model(tiny.ARCH + ".hub_in1k", pretrained=True)
b = visionzoo.create_model("hf-hub:" + sys.argv[2], pretrained=True)
print("loaded", a.fc.bias.shape[0], b.fc.bias.shape[0])
"""


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory):
    """Download two repos once through HF_ENDPOINT in a fresh process (HF_HOME set); return the HF_HOME."""
    from .conftest import LocalServer

    server = LocalServer()
    sd_a, sd_a_bin, sd_b = (
        tiny_state_dict(seed=1),
        tiny_state_dict(seed=2),
        tiny_state_dict(seed=3, width=4, num_classes=5),
    )
    from safetensors.torch import save

    _serve(server, REPO_A, "model.safetensors", save(sd_a))
    _serve(server, REPO_A, "pytorch_model.bin", _torch_bytes(sd_a_bin))
    _serve(server, REPO_B, "config.json", json.dumps(CONFIG_B).encode())
    _serve(server, REPO_B, "pytorch_model.bin", _torch_bytes(sd_b))
    home = tmp_path_factory.mktemp("hf_home")
    env = {
        **os.environ,
        "HF_ENDPOINT": server.url,
        "HF_HOME": str(home),
        "HF_HUB_OFFLINE": "0",
        "HF_HUB_DISABLE_XET": "1",
    }
    env.pop("HF_HUB_CACHE", None)
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(ROOT), REPO_B],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = list(server.log)
    server.close()
    assert out.returncode == 0, out.stderr[-3000:]
    assert "loaded 10 5" in out.stdout
    return home, log, dict(a=sd_a, a_bin=sd_a_bin, b=sd_b)


def test_hub_download_honours_endpoint_and_hf_home(hub_cache):
    home, log, _ = hub_cache
    gets = [(path, status) for method, path, _, status in log if method == "GET"]
    assert (f"/{REPO_A}/resolve/main/model.safetensors", 200) in gets
    assert not any(p == f"/{REPO_A}/resolve/main/pytorch_model.bin" for p, _ in gets)  # safetensors preferred
    assert (f"/{REPO_B}/resolve/main/pytorch_model.bin", 200) in gets  # fallback when there is no safetensors
    assert (home / "hub" / f"models--{REPO_A.replace('/', '--')}").is_dir()


def test_offline_load_from_hub_cache(hub_cache, monkeypatch):
    home, _, sds = hub_cache
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = visionzoo.create_model(f"{ARCH}.hub_in1k", pretrained=True, cache_dir=home / "hub")
    assert torch.equal(model.conv1.weight, sds["a"]["conv1.weight"])


def test_hf_hub_config_offline(hub_cache, monkeypatch):
    home, _, sds = hub_cache
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = visionzoo.create_model(f"hf-hub:{REPO_B}", pretrained=True, cache_dir=home / "hub")
    assert model.conv1.weight.shape == (4, 3, 3, 3) and model.num_classes == 5
    assert torch.equal(model.fc.weight, sds["b"]["fc.weight"])
    cfg = model.pretrained_cfg
    assert cfg.architecture == ARCH and cfg.tag == "cfgtest" and cfg.hf_hub_id == REPO_B
    assert cfg.input_size == (3, 32, 32) and cfg.mean == (0.1, 0.2, 0.3) and cfg.license == "mit"
    assert cfg.label_names == ("cat", "dog", "fox", "owl", "eel")
    assert cfg.extra.get("custom_load") is False


def test_offline_without_cache_explains(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError) as info:
        visionzoo.create_model(f"{ARCH}.hub_in1k", pretrained=True, cache_dir=tmp_path)
    msg = str(info.value)
    assert REPO_A in msg and "HF_HUB_OFFLINE" in msg
    assert "pretrained_cfg_overlay=dict(file=" in msg and "HF_HOME" in msg
    with pytest.raises(
        WeightsUnavailableError, match=r"config\.json of visionzoo-test/nothing.*HF_HUB_OFFLINE"
    ):
        visionzoo.create_model("hf-hub:visionzoo-test/nothing", cache_dir=tmp_path)


def test_bad_hub_spec():
    with pytest.raises(ValueError, match="expected 'hf-hub:org/repo'"):
        visionzoo.create_model("hf-hub:no-slash")


_UNREACHABLE_CHILD = """
import sys, time
sys.path.insert(0, sys.argv[1])
import tests.weights.tiny as tiny
import visionzoo
from visionzoo.weights.errors import WeightsUnavailableError
tiny.register()
if sys.argv[2] != "-":  # a cached repo still loads when the Hub cannot be reached
    m = visionzoo.create_model(tiny.ARCH + ".hub_in1k", pretrained=True, cache_dir=sys.argv[2])
    print("cached", m.fc.bias.shape[0])
start = time.perf_counter()
for name in ("hf-hub:visionzoo-test/not-cached", tiny.ARCH + ".hub_in1k"):  # config.json; two weight files
    try:
        visionzoo.create_model(name, pretrained=True)
    except WeightsUnavailableError as e:
        print("error", " ".join(str(e).splitlines()[:2]))
print(f"elapsed {time.perf_counter() - start:.2f}")
"""


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once it is closed: connections are refused


@pytest.mark.parametrize("endpoint", ["refused", "http://nonexistent.invalid"])
def test_unreachable_hub_fails_fast_without_offline_flag(endpoint, hub_cache, tmp_path):
    """huggingface_hub retries a connection error 5 times with back-off (~23 s a file); a dead host must not."""
    home, _, _ = hub_cache
    if endpoint == "refused":
        endpoint = f"http://127.0.0.1:{_closed_port()}"
    env = {**os.environ, "HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_DISABLE_XET": "1"}
    env.pop("HF_HUB_OFFLINE", None)
    env.pop("HF_HUB_CACHE", None)
    out = subprocess.run(
        [sys.executable, "-c", _UNREACHABLE_CHILD, str(ROOT), str(home / "hub")],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "cached 10" in out.stdout
    elapsed = float(out.stdout.split("elapsed ")[1])
    assert elapsed < 5, f"took {elapsed:.1f} s to report an unreachable Hub"
    errors = [line for line in out.stdout.splitlines() if line.startswith("error ")]
    assert len(errors) == 2 and all("cannot be reached" in e for e in errors)
    assert "config.json of visionzoo-test/not-cached" in errors[0]
    assert f"model.safetensors of {REPO_A}" in errors[1] and f"pytorch_model.bin of {REPO_A}" in errors[1]
