"""URL source: download into the cache with progress, resume, hash check, atomic rename and a lock."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest
import torch

import visionzoo
from visionzoo.weights.download import download_url, torch_hub_checkpoint_dir
from visionzoo.weights.errors import CorruptCheckpointError, WeightsUnavailableError

from .conftest import ServedFile
from .tiny import ARCH, save_safetensors, tiny_state_dict


def _payload(n: int = 300_000) -> bytes:
    return bytes((i * 7 + i // 251) % 256 for i in range(n))


def test_download_into_cache_with_progress(server, online, tmp_path, capfd):
    data = _payload()
    server.files["/w/tiny-abc.pth"] = ServedFile(data)
    path = download_url(server.url + "/w/tiny-abc.pth", tmp_path, progress=True)
    assert path == tmp_path / "tiny-abc.pth"
    assert path.read_bytes() == data
    assert not (tmp_path / "tiny-abc.pth.partial").exists()
    err = capfd.readouterr().err
    assert "tiny-abc.pth" in err and "100%" in err  # the progress bar ran to the end
    # a second call is served from the cache: no new request
    assert download_url(server.url + "/w/tiny-abc.pth", tmp_path) == path
    assert len(server.gets("/w/tiny-abc.pth")) == 1


def test_default_cache_is_torch_home(server, online, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert torch_hub_checkpoint_dir() == tmp_path / "th" / "hub" / "checkpoints"
    server.files["/a.bin"] = ServedFile(b"x" * 1000)
    path = download_url(server.url + "/a.bin", progress=False)
    assert path == tmp_path / "th" / "hub" / "checkpoints" / "a.bin"


def test_interrupted_download_resumes_with_range(server, online, tmp_path):
    data = _payload()
    server.files["/r.pth"] = ServedFile(data, cut_after=100_000, cuts_left=1, headers={"ETag": '"v1"'})
    path = download_url(server.url + "/r.pth", tmp_path, progress=False)
    assert path.read_bytes() == data
    gets = server.gets("/r.pth")
    assert [g[3] for g in gets] == [200, 206]
    assert gets[1][2] == "bytes=100000-"  # continued where the cut happened


def test_interrupted_download_leaves_no_file_then_next_call_resumes(server, online, tmp_path):
    data = _payload()
    server.files["/r2.pth"] = ServedFile(data, cut_after=50_000, cuts_left=2, headers={"ETag": '"v1"'})
    with pytest.raises(WeightsUnavailableError, match=r"r2\.pth\.partial.*resumes"):
        download_url(server.url + "/r2.pth", tmp_path, progress=False, attempts=1)
    assert not (tmp_path / "r2.pth").exists()  # nothing corrupt under the final name
    assert (tmp_path / "r2.pth.partial").stat().st_size == 50_000
    with pytest.raises(WeightsUnavailableError):
        download_url(server.url + "/r2.pth", tmp_path, progress=False, attempts=1)
    assert (tmp_path / "r2.pth.partial").stat().st_size == 100_000
    path = download_url(server.url + "/r2.pth", tmp_path, progress=False, attempts=1)
    assert path.read_bytes() == data
    assert [g[2] for g in server.gets("/r2.pth")] == [None, "bytes=50000-", "bytes=100000-"]


def test_stale_partial_without_validator_restarts(server, online, tmp_path):
    data = _payload(50_000)
    server.files["/n.pth"] = ServedFile(data, headers={"ETag": '"new"'})
    (tmp_path / "n.pth.partial").write_bytes(b"z" * 60_000)  # left by an older, different file
    path = download_url(server.url + "/n.pth", tmp_path, progress=False)
    assert path.read_bytes() == data
    assert [(g[2], g[3]) for g in server.gets("/n.pth")] == [(None, 200)]  # nothing says what it was part of


def test_leftover_partial_of_different_content_is_not_resumed(server, online, tmp_path):
    data = _payload()
    server.files["/d.pth"] = ServedFile(data, headers={"ETag": '"new"'})
    # a shorter partial file, recorded as part of an older version of the same URL with the same size
    (tmp_path / "d.pth.partial").write_bytes(b"z" * 50_000)
    validator = {"url": server.url + "/d.pth", "total": len(data), "etag": '"old"', "last_modified": None}
    (tmp_path / "d.pth.partial.json").write_text(json.dumps(validator))
    path = download_url(server.url + "/d.pth", tmp_path, progress=False)
    assert path.read_bytes() == data  # not 50_000 bytes of 'z' followed by the new file's tail
    # this server ignores If-Range: the 206 carries the new ETag, so the client starts over
    assert [(g[2], g[3]) for g in server.gets("/d.pth")] == [("bytes=50000-", 206), (None, 200)]


def test_partial_whose_total_changed_is_not_resumed(server, online, tmp_path):
    data = _payload()
    server.files["/t.pth"] = ServedFile(data, headers={"ETag": '"same"'})
    (tmp_path / "t.pth.partial").write_bytes(data[:40_000])
    validator = {
        "url": server.url + "/t.pth",
        "total": len(data) + 1,
        "etag": '"same"',
        "last_modified": None,
    }
    (tmp_path / "t.pth.partial.json").write_text(json.dumps(validator))
    assert download_url(server.url + "/t.pth", tmp_path, progress=False).read_bytes() == data
    assert [g[3] for g in server.gets("/t.pth")] == [206, 200]


def test_matching_partial_is_resumed_with_if_range(server, online, tmp_path):
    data = _payload()
    server.files["/k.pth"] = ServedFile(data, headers={"ETag": '"v7"'})
    (tmp_path / "k.pth.partial").write_bytes(data[:70_000])
    validator = {"url": server.url + "/k.pth", "total": len(data), "etag": '"v7"', "last_modified": None}
    (tmp_path / "k.pth.partial.json").write_text(json.dumps(validator))
    assert download_url(server.url + "/k.pth", tmp_path, progress=False).read_bytes() == data
    assert [(g[2], g[3]) for g in server.gets("/k.pth")] == [("bytes=70000-", 206)]
    assert not (tmp_path / "k.pth.partial.json").exists()


def test_hash_checked(server, online, tmp_path):
    data = _payload(20_000)
    good = hashlib.sha256(data).hexdigest()
    server.files["/h.pth"] = ServedFile(data)
    assert (
        download_url(server.url + "/h.pth", tmp_path / "a", sha256=good, progress=False).read_bytes() == data
    )
    with pytest.raises(CorruptCheckpointError, match=r"hash mismatch for .*h\.pth.*expected sha256 0{64}"):
        download_url(server.url + "/h.pth", tmp_path / "b", sha256="0" * 64, progress=False)
    assert list((tmp_path / "b").glob("h.pth*")) in ([], [tmp_path / "b" / "h.pth.lock"])


def test_http_error_is_clear(server, online, tmp_path):
    with pytest.raises(WeightsUnavailableError, match="HTTP 404"):
        download_url(server.url + "/missing.pth", tmp_path, progress=False)


def test_offline_without_cache_says_what_to_do(server, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    server.files["/o.pth"] = ServedFile(b"123")
    with pytest.raises(WeightsUnavailableError) as info:
        download_url(server.url + "/o.pth", tmp_path, progress=False)
    msg = str(info.value)
    assert "HF_HUB_OFFLINE" in msg and str(tmp_path / "o.pth") in msg
    assert server.log == []  # no network access at all


_CHILD = """
import sys
from visionzoo.weights.download import download_url
download_url(sys.argv[1], sys.argv[2], sha256=sys.argv[3], progress=False)
"""


def test_two_processes_download_one_intact_file(server, tmp_path):
    data = _payload(1 << 20)
    server.files["/c.pth"] = ServedFile(data, chunk_delay=0.06)  # ~1 s per download, so the two overlap
    env = {**os.environ, "HF_HUB_OFFLINE": "0"}
    args = [server.url + "/c.pth", str(tmp_path), hashlib.sha256(data).hexdigest()]
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD, *args], env=env) for _ in range(2)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    assert (tmp_path / "c.pth").read_bytes() == data
    assert not (tmp_path / "c.pth.partial").exists()
    assert len(server.gets("/c.pth")) == 1  # the second process waited and reused the first one's file


def test_create_model_from_url(server, online, tmp_path):
    sd = tiny_state_dict()
    ckpt = save_safetensors(sd, tmp_path / "src.safetensors")
    server.files["/tiny-1234.safetensors"] = ServedFile(ckpt.read_bytes())
    model = visionzoo.create_model(
        f"{ARCH}.untrained",
        pretrained=True,
        cache_dir=tmp_path / "cache",
        pretrained_cfg_overlay=dict(url=server.url + "/tiny-1234.safetensors"),
    )
    assert torch.equal(model.conv1.weight, sd["conv1.weight"])
    assert (tmp_path / "cache" / "tiny-1234.safetensors").is_file()


@pytest.mark.parametrize("host", ["refused", "nonexistent.invalid"])
def test_unreachable_host_is_not_retried(host, online, tmp_path):
    import socket
    import time

    if host == "refused":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            host = f"127.0.0.1:{s.getsockname()[1]}"  # closed again: nothing listens
    start = time.perf_counter()
    with pytest.raises(
        WeightsUnavailableError, match=r"cannot download http://.*/x-1\.pth: .*(refused|not known)"
    ):
        download_url(f"http://{host}/x-1.pth", tmp_path, progress=False, attempts=5)
    assert time.perf_counter() - start < 5
    assert not (tmp_path / "x-1.pth.partial").exists()
