"""Downloading a checkpoint from a plain URL into a local cache, safely.

The file is written to `<name>.partial` next to its final place, resumed with an HTTP Range request
when a previous attempt was cut off, checked against a SHA-256 digest when one is known, and only
then renamed into place. A lock file serialises processes fetching the same file, so concurrent
callers end up sharing one intact copy. This module does not import torch.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from .errors import CorruptCheckpointError, WeightsUnavailableError

_CHUNK = 1 << 20  # bytes read per network call
_TRUE = {"1", "on", "yes", "true"}


def is_offline() -> bool:
    """True when the user asked for no network access.

    HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) as it is set now wins; without it, huggingface_hub's setting counts.
    """
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        value = os.environ.get(var)
        if value is not None and value.strip():
            return value.strip().lower() in _TRUE
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency
        return False
    return bool(constants.is_offline_mode())


def torch_hub_checkpoint_dir() -> Path:
    """`$TORCH_HOME/hub/checkpoints`, with torch's defaults ($XDG_CACHE_HOME/torch, ~/.cache/torch)."""
    home = os.environ.get("TORCH_HOME")
    if not home:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        home = os.path.join(xdg, "torch")
    return Path(home).expanduser() / "hub" / "checkpoints"


def filename_from_url(url: str) -> str:
    """The last path component of `url`, e.g. 'resnet50-0676ba61.pth'."""
    name = os.path.basename(urllib.parse.urlparse(url).path)
    if not name:
        raise ValueError(f"cannot tell a file name from url {url!r}")
    return name


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _progress_bar(total: int | None, initial: int, name: str, enabled: bool):
    from tqdm.auto import tqdm  # installed with huggingface_hub

    return tqdm(
        total=total,
        initial=initial,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=name,
        disable=not enabled,
        file=sys.stderr,
        leave=True,
    )


def _fetch_once(url: str, partial: Path, progress: bool, timeout: float) -> None:
    """One attempt: continue `partial` from its current size (or restart it) until the server is done.

    Raises OSError / http.client.HTTPException when the connection breaks; the bytes received stay in
    `partial` so the next attempt resumes.
    """
    have = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "visionzoo", "Accept-Encoding": "identity"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # the range is past the end: the partial file is useless
            partial.unlink()
            raise ConnectionError("server refused to resume; starting over") from e
        raise
    with response:
        resumed = response.status == 206
        if not resumed:
            have = 0  # the server ignored the Range header: start from scratch
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with (
            open(partial, "ab" if resumed else "wb") as out,
            _progress_bar(total, have, partial.name[: -len(".partial")], progress) as bar,
        ):
            while True:
                block = response.read(_CHUNK)
                if not block:
                    break
                out.write(block)
                bar.update(len(block))
            out.flush()
            os.fsync(out.fileno())
    size = partial.stat().st_size
    if total is not None and size != total:
        raise ConnectionError(f"connection closed after {size} of {total} bytes")


def download_url(
    url: str,
    cache_dir: str | Path | None = None,
    *,
    filename: str | None = None,
    sha256: str | None = None,
    progress: bool | None = None,
    attempts: int = 3,
    timeout: float = 30.0,
) -> Path:
    """Download `url` into `cache_dir` (default: the torch hub checkpoint cache); returns the file's path.

    A file already in the cache is returned without network access. Offline (HF_HUB_OFFLINE=1) with no
    cached copy raises WeightsUnavailableError saying where to put the file. A broken connection is
    resumed up to `attempts` times; after that the partial file is kept for the next call. A digest
    mismatch deletes the download and raises CorruptCheckpointError.
    """
    from filelock import FileLock  # installed with huggingface_hub

    folder = Path(cache_dir).expanduser() if cache_dir is not None else torch_hub_checkpoint_dir()
    dest = folder / (filename or filename_from_url(url))
    if dest.is_file():
        return dest
    if is_offline():
        raise WeightsUnavailableError(
            f"offline (HF_HUB_OFFLINE is set) and {dest} is not cached: unset HF_HUB_OFFLINE to download "
            f"{url}, or download it yourself and save it as {dest}"
        )
    if progress is None:
        progress = os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS", "").strip().lower() not in _TRUE
    folder.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    with FileLock(str(dest) + ".lock"):
        if dest.is_file():  # another process finished it while we waited for the lock
            return dest
        error: Exception | None = None
        for _ in range(max(1, attempts)):
            try:
                _fetch_once(url, partial, progress, timeout)
                error = None
                break
            except urllib.error.HTTPError as e:
                raise WeightsUnavailableError(f"cannot download {url}: HTTP {e.code} {e.reason}") from None
            except (OSError, http.client.HTTPException) as e:
                error = e
        if error is not None:
            kept = partial.stat().st_size if partial.exists() else 0
            raise WeightsUnavailableError(
                f"download of {url} failed after {attempts} attempt(s): {error}; {kept} bytes are kept in "
                f"{partial} and the next call resumes from there"
            )
        if sha256:
            actual = sha256_of(partial)
            if actual.lower() != sha256.lower():
                partial.unlink()
                raise CorruptCheckpointError(
                    f"hash mismatch for {dest} downloaded from {url}: expected sha256 {sha256}, got {actual}; "
                    "the download was deleted"
                )
        os.replace(partial, dest)
    return dest
