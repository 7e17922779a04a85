"""Fixtures for the weight tests: a local HTTP server with Range support and connection cuts."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class ServedFile:
    data: bytes
    cut_after: int | None = None  # close the connection after this many body bytes ...
    cuts_left: int = 0  # ... on this many requests
    chunk_delay: float = 0.0  # seconds slept per 64 KiB chunk
    headers: dict[str, str] = field(default_factory=dict)


class LocalServer:
    """An HTTP server on 127.0.0.1 in a thread; `files` maps paths to ServedFile; `log` records requests."""

    def __init__(self) -> None:
        self.files: dict[str, ServedFile] = {}
        self.log: list[tuple[str, str, str | None, int]] = []  # (method, path, Range header, status)
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _serve(self, body: bool) -> None:
                path = self.path.split("?")[0]
                entry = server.files.get(path)
                rng = self.headers.get("Range")
                if entry is None:
                    self._record(path, rng, 404)
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data, start, status = entry.data, 0, 200
                if rng and rng.startswith("bytes="):
                    start = int(rng[len("bytes=") :].split("-")[0])
                    if start >= len(data):
                        self._record(path, rng, 416)
                        self.send_response(416)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    status = 206
                self._record(path, rng, status)
                part = data[start:]
                self.send_response(status)
                self.send_header("Content-Length", str(len(part)))
                self.send_header("Accept-Ranges", "bytes")
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                for k, v in entry.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                if not body:
                    return
                with server.lock:
                    cut = entry.cut_after if entry.cuts_left > 0 else None
                    if cut is not None:
                        entry.cuts_left -= 1
                limit = len(part) if cut is None else min(cut, len(part))
                for i in range(0, limit, 1 << 16):
                    self.wfile.write(part[i : min(i + (1 << 16), limit)])
                    if entry.chunk_delay:
                        time.sleep(entry.chunk_delay)
                self.wfile.flush()
                if cut is not None:
                    self.close_connection = True

            def _record(self, path: str, rng: str | None, status: int) -> None:
                with server.lock:
                    server.log.append((self.command, path, rng, status))

            def do_GET(self) -> None:
                self._serve(True)

            def do_HEAD(self) -> None:
                self._serve(False)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def gets(self, path: str) -> list[tuple[str, str, str | None, int]]:
        return [e for e in self.log if e[0] == "GET" and e[1] == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = LocalServer()
    yield srv
    srv.close()


@pytest.fixture
def online(monkeypatch):
    """Allow network access to the local server (the suite's conftest sets HF_HUB_OFFLINE=1)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)


@pytest.fixture(scope="session", autouse=True)
def _tiny_models():
    """Register the test architectures when the first weight test runs (after collection)."""
    from .tiny import register

    register()
