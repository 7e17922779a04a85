"""URL cache integrity: hash prefixes in names, the size+sha256 record, `visionzoo cache verify`, lying servers."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Iterator

import pytest

from visionzoo.cli import main
from visionzoo.weights.download import download_url
from visionzoo.weights.errors import CorruptCheckpointError, WeightsUnavailableError

from .conftest import ServedFile


def _payload(n: int = 200_000, seed: int = 3) -> bytes:
    return bytes((i * seed + i // 253) % 256 for i in range(n))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_name_hash_prefix_is_checked(server, online, tmp_path):
    data = _payload()
    good = f"/w-{_sha(data)[:8]}.pth"
    bad = "/w-deadbeef.pth"
    assert not _sha(data).startswith("deadbeef")
    server.files[good] = ServedFile(data)
    server.files[bad] = ServedFile(data)
    assert download_url(server.url + good, tmp_path, progress=False).read_bytes() == data
    with pytest.raises(CorruptCheckpointError, match=r"w-deadbeef\.pth.*starts with deadbeef"):
        download_url(server.url + bad, tmp_path, progress=False)
    assert not any(
        p.name.startswith("w-deadbeef.pth") and not p.name.endswith(".lock") for p in tmp_path.iterdir()
    )


def test_record_beside_cached_file(server, online, tmp_path):
    data = _payload()
    server.files["/rec.pth"] = ServedFile(data)
    path = download_url(server.url + "/rec.pth", tmp_path, progress=False)
    record = json.loads(path.with_name("rec.pth.meta.json").read_text())
    assert record["size"] == len(data) and record["sha256"] == _sha(data)


def test_cached_file_of_wrong_size_is_downloaded_again(server, online, tmp_path):
    data = _payload()
    server.files["/s.pth"] = ServedFile(data)
    path = download_url(server.url + "/s.pth", tmp_path, progress=False)
    path.write_bytes(data[:1000])  # truncated in the cache
    assert download_url(server.url + "/s.pth", tmp_path, progress=False).read_bytes() == data
    assert len(server.gets("/s.pth")) == 2


def test_cached_file_with_bad_record_is_downloaded_again(server, online, tmp_path):
    data = _payload()
    server.files["/b.pth"] = ServedFile(data)
    download_url(server.url + "/b.pth", tmp_path, progress=False)
    (tmp_path / "b.pth.meta.json").write_text("{broken")
    assert download_url(server.url + "/b.pth", tmp_path, progress=False).read_bytes() == data
    assert len(server.gets("/b.pth")) == 2
    assert json.loads((tmp_path / "b.pth.meta.json").read_text())["sha256"] == _sha(data)


def test_file_without_record_is_checked_against_its_name(server, online, tmp_path):
    data = _payload()
    name = f"m-{_sha(data)[:10]}.pth"
    server.files["/" + name] = ServedFile(data)
    (tmp_path / name).write_bytes(data)  # put there by hand or by torch.hub: no record
    assert download_url(f"{server.url}/{name}", tmp_path, progress=False).read_bytes() == data
    assert server.gets("/" + name) == []  # adopted without a download ...
    assert json.loads((tmp_path / (name + ".meta.json")).read_text())["sha256"] == _sha(
        data
    )  # ... and recorded
    (tmp_path / (name + ".meta.json")).unlink()
    (tmp_path / name).write_bytes(b"x" * len(data))  # wrong content under a hash-carrying name
    assert download_url(f"{server.url}/{name}", tmp_path, progress=False).read_bytes() == data
    assert len(server.gets("/" + name)) == 1


def test_cached_file_failing_the_cfg_sha256_is_downloaded_again(server, online, tmp_path):
    data = _payload()
    server.files["/c.pth"] = ServedFile(data)
    download_url(server.url + "/c.pth", tmp_path, progress=False)
    other = _payload(seed=5)
    server.files["/c.pth"] = ServedFile(other)
    # the caller now expects other content: the cached copy's record does not match, so it is replaced
    assert (
        download_url(server.url + "/c.pth", tmp_path, sha256=_sha(other), progress=False).read_bytes()
        == other
    )


def test_offline_with_damaged_cache_entry_says_so(server, online, tmp_path, monkeypatch):
    data = _payload()
    server.files["/o.pth"] = ServedFile(data)
    path = download_url(server.url + "/o.pth", tmp_path, progress=False)
    path.write_bytes(data[:10])
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError, match=r"cached .*o\.pth is damaged \(it has 10 bytes"):
        download_url(server.url + "/o.pth", tmp_path, progress=False)


def test_cache_verify_catches_flipped_bits(server, online, tmp_path, capsys):
    data = _payload()
    server.files["/good.pth"] = ServedFile(data)
    server.files["/flip.pth"] = ServedFile(data)
    download_url(server.url + "/good.pth", tmp_path, progress=False)
    flipped = download_url(server.url + "/flip.pth", tmp_path, progress=False)
    raw = bytearray(flipped.read_bytes())
    raw[12345] ^= 0x10
    flipped.write_bytes(bytes(raw))  # same size: the cheap check on read cannot see it
    assert main(["cache", "verify", "--cache-dir", str(tmp_path), "--keep"]) == 1
    out = capsys.readouterr()
    assert f"bad: {flipped}" in out.err and "good.pth" not in out.err
    assert "2 file(s) checked, 1 bad" in out.out
    assert flipped.exists()  # --keep only reports
    assert main(["cache", "verify", "--cache-dir", str(tmp_path)]) == 1
    assert "(removed)" in capsys.readouterr().err
    assert not flipped.exists() and not (tmp_path / "flip.pth.meta.json").exists()
    assert main(["cache", "verify", "--cache-dir", str(tmp_path)]) == 0
    assert download_url(server.url + "/flip.pth", tmp_path, progress=False).read_bytes() == data
    assert len(server.gets("/flip.pth")) == 2  # replaced, not trusted


def test_cache_verify_missing_folder(tmp_path, capsys):
    assert main(["cache", "verify", "--cache-dir", str(tmp_path / "nope")]) == 2
    assert "cache folder not found" in capsys.readouterr().err


class _LyingServer:
    """A raw HTTP/1.1 server on 127.0.0.1 that sends `body` with whatever headers it is given, then closes."""

    def __init__(self, head: bytes, body: bytes) -> None:
        self.head, self.body, self.requests = head, body, 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                self.requests += 1
                conn.sendall(self.head + b"\r\n" + self.body)


@pytest.fixture
def lying() -> Iterator[list[_LyingServer]]:
    servers: list[_LyingServer] = []
    yield servers
    for s in servers:
        s.sock.close()


def test_short_content_length_is_caught_by_the_name_hash(lying, online, tmp_path):
    data = _payload()
    name = f"short-{_sha(data)[:8]}.pth"
    srv = _LyingServer(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n", data)
    lying.append(srv)
    with pytest.raises(CorruptCheckpointError, match="hash mismatch"):
        download_url(f"{srv.url}/{name}", tmp_path, progress=False)
    assert not (tmp_path / name).exists()
    with pytest.raises(CorruptCheckpointError):  # and the next call does not find a broken file either
        download_url(f"{srv.url}/{name}", tmp_path, progress=False)


def test_long_content_length_keeps_a_partial(lying, online, tmp_path):
    data = _payload()
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(data) + 5000}\r\nConnection: close\r\n".encode()
    srv = _LyingServer(head, data)
    lying.append(srv)
    with pytest.raises(
        WeightsUnavailableError, match=f"closed after {len(data)} of {len(data) + 5000} bytes"
    ):
        download_url(f"{srv.url}/long.pth", tmp_path, progress=False, attempts=2)
    assert not (tmp_path / "long.pth").exists()
    assert (tmp_path / "long.pth.partial").stat().st_size == len(data)


def test_no_content_length_and_no_hash_is_not_cached(lying, online, tmp_path):
    data = _payload()
    srv = _LyingServer(b"HTTP/1.1 200 OK\r\nConnection: close\r\n", data[:5000])  # cut: nobody can tell
    lying.append(srv)
    with pytest.raises(WeightsUnavailableError, match="did not say how long"):
        download_url(f"{srv.url}/nolen.pth", tmp_path, progress=False)
    assert not (tmp_path / "nolen.pth").exists() and not (tmp_path / "nolen.pth.partial").exists()
    # with a sha256 to check against, a complete answer without a length is fine
    full = _LyingServer(b"HTTP/1.1 200 OK\r\nConnection: close\r\n", data)
    lying.append(full)
    path = download_url(f"{full.url}/nolen.pth", tmp_path, sha256=_sha(data), progress=False)
    assert path.read_bytes() == data


def test_206_from_the_wrong_offset_is_not_appended(lying, online, tmp_path):
    data = _payload()
    (tmp_path / "off.pth.partial").write_bytes(data[:50_000])
    head = (
        f'HTTP/1.1 206 Partial Content\r\nContent-Length: {len(data)}\r\nETag: "e"\r\n'
        f"Content-Range: bytes 0-{len(data) - 1}/{len(data)}\r\nConnection: close\r\n"
    ).encode()
    srv = _LyingServer(head, data)
    lying.append(srv)
    url = f"{srv.url}/off.pth"
    validator = {"url": url, "total": len(data), "etag": '"e"', "last_modified": None}
    (tmp_path / "off.pth.partial.json").write_text(json.dumps(validator))
    # the range is answered from byte 0: the client discards the partial and asks again from scratch
    path = download_url(url, tmp_path, progress=False, sha256=_sha(data))
    assert path.read_bytes() == data
    assert srv.requests == 2
