"""Downloading a checkpoint from a plain URL into a local cache, safely.

The file is written to `<name>.partial` next to its final place. Beside it, `<name>.partial.json`
records the server's validator (ETag / Last-Modified) and the announced total size; a later attempt
resumes with `Range` + `If-Range` only when the server confirms the same content, and starts over
otherwise. The finished file must have the announced length and pass every hash check that can be
made: the full `sha256` when the cfg has one, and the torch.hub-style prefix in the file name
(`resnet50-0676ba61.pth`: the hex after the last '-' starts the file's SHA-256). Only then is it
renamed into place, and `<name>.meta.json` records its size and SHA-256.

A cached file is checked cheaply on every read (the record is there, agrees with the size and the
known hashes); `verify_cached_file(..., full=True)` re-hashes it (`visionzoo cache verify`). A bad
entry is deleted and downloaded again. A lock file serialises processes fetching the same file.
This module does not import torch.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import json
import logging
import os
import re
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..utils.files import atomic_write
from .errors import CorruptCheckpointError, WeightsUnavailableError

_CHUNK = 1 << 20  # bytes read per network call
_TRUE = {"1", "on", "yes", "true"}
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_NAME_PREFIX_RE = re.compile(r"[0-9a-f]{8,64}")
PARTIAL_SUFFIX = ".partial"
VALIDATOR_SUFFIX = ".partial.json"  # beside the .partial: what it is a part of
RECORD_SUFFIX = ".meta.json"  # beside a cached file: its size and SHA-256
_SIDE_SUFFIXES = (PARTIAL_SUFFIX, VALIDATOR_SUFFIX, RECORD_SUFFIX, ".lock", ".tmp")

_UNREACHABLE_ERRNOS = {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH}

logger = logging.getLogger(__name__)


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


def is_unreachable_error(error: BaseException) -> bool:
    """True for a failed name lookup or a refused connection: retrying at once will not help."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, (socket.gaierror, ConnectionRefusedError)) or (
            isinstance(error, OSError) and error.errno in _UNREACHABLE_ERRNOS
        ):
            return True
        if isinstance(error, urllib.error.URLError) and isinstance(error.reason, BaseException):
            error = error.reason
        else:
            error = error.__cause__ or error.__context__
    return False


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


def hash_prefix_from_name(name: str) -> str | None:
    """The SHA-256 prefix a torch.hub-style name carries: 'resnet50-0676ba61.pth' -> '0676ba61'.

    The hex (8 to 64 digits) between the last '-' and the following '.'; None when there is none.
    """
    _, dash, rest = name.rpartition("-")
    if not dash:
        return None
    candidate = rest.split(".", 1)[0]
    return candidate if _NAME_PREFIX_RE.fullmatch(candidate) else None


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_sha256_arg(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    if not isinstance(sha256, str):
        raise TypeError(f"sha256 must be a hex string, got {type(sha256).__name__}")
    if not _SHA256_RE.fullmatch(sha256.strip().lower()):
        raise ValueError(f"sha256 must be 64 hex digits, got {sha256!r}")
    return sha256.strip().lower()


def _side_path(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _validator_path(partial: Path) -> Path:
    """`<name>.partial.json` beside `<name>.partial`."""
    return partial.with_name(partial.name + ".json")


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write `data` as JSON atomically (see utils.files)."""
    with atomic_write(path, encoding="utf-8") as f:
        json.dump(data, f)


def _read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`, or None when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _unlink(*paths: Path) -> None:
    for p in paths:
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def remove_cached_file(path: Path) -> None:
    """Delete a cached file together with its record, so the next call downloads it again."""
    _unlink(path, _side_path(path, RECORD_SUFFIX))


def _hash_problem(digest: str, sha256: str | None, prefix: str | None) -> str | None:
    if sha256 is not None and digest != sha256:
        return f"expected sha256 {sha256}, got {digest}"
    if prefix is not None and not digest.startswith(prefix):
        return f"its name says its sha256 starts with {prefix}, but it is {digest}"
    return None


def verify_cached_file(path: Path, sha256: str | None = None, *, full: bool = False) -> str | None:
    """Why the cached file `path` cannot be trusted, or None when it can.

    Cheap by default: the record `<file>.meta.json` must exist, be well formed, match the file's
    size and agree with `sha256` and the name's hash prefix. A file without a record (put there by
    hand or by torch.hub) is hashed once and the record written when it passes. `full=True`
    re-hashes the file and compares with the record too.
    """
    sha256 = _check_sha256_arg(sha256)
    prefix = hash_prefix_from_name(path.name)
    size = path.stat().st_size
    record_path = _side_path(path, RECORD_SUFFIX)
    record = _read_json(record_path)
    if record is None and record_path.exists():
        return f"its record {record_path.name} is unreadable"
    if record is None:
        digest = sha256_of(path)
        problem = _hash_problem(digest, sha256, prefix)
        if problem is None:
            try:
                _write_json_atomic(record_path, {"size": size, "sha256": digest})
            except OSError:  # a read-only cache is still usable
                pass
        return problem
    recorded_size, recorded_sha = record.get("size"), record.get("sha256")
    if (
        not isinstance(recorded_size, int)
        or not isinstance(recorded_sha, str)
        or not _SHA256_RE.fullmatch(recorded_sha)
    ):
        return f"its record {record_path.name} is malformed"
    if recorded_size != size:
        return f"it has {size} bytes but its record says {recorded_size}"
    problem = _hash_problem(recorded_sha, sha256, prefix)
    if problem is None and full:
        digest = sha256_of(path)
        if digest != recorded_sha:
            problem = f"its content hashes to {digest}, not to the recorded {recorded_sha}"
    return problem


def iter_cached_files(folder: Path) -> Iterator[Path]:
    """The downloaded files in a cache folder (not the .partial, .lock and record files beside them)."""
    if not folder.is_dir():
        return
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.startswith(".") and not path.name.endswith(_SIDE_SUFFIXES):
            yield path


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


def _validator(headers: http.client.HTTPMessage) -> dict[str, str | None]:
    etag = headers.get("ETag")
    if etag is not None and etag.startswith("W/"):
        etag = None  # a weak ETag cannot be used with If-Range
    return {"etag": etag, "last_modified": headers.get("Last-Modified")}


def _content_range(value: str | None) -> tuple[int, int | None] | None:
    """'bytes 100-199/300' -> (100, 300); '.../*' -> (100, None); anything else -> None."""
    m = re.fullmatch(r"\s*bytes\s+(\d+)-\d+/(\d+|\*)\s*", value or "")
    if not m:
        return None
    return int(m.group(1)), None if m.group(2) == "*" else int(m.group(2))


def _fetch_once(url: str, partial: Path, progress: bool, timeout: float) -> int | None:
    """One attempt: continue `partial` (when it is the same content) or restart it, until the server is done.

    Returns the total size the server announced (None when it did not say). Raises OSError /
    http.client.HTTPException when the connection breaks; the bytes received stay in `partial`, with
    the validator beside it, so the next attempt resumes.
    """
    validator_path = _validator_path(partial)
    have = partial.stat().st_size if partial.exists() else 0
    saved = _read_json(validator_path) if have else None
    if have and (
        saved is None
        or saved.get("url") != url
        or not isinstance(saved.get("total"), int)
        or not (saved.get("etag") or saved.get("last_modified"))
    ):
        _unlink(partial, validator_path)  # nothing says what this partial file is part of
        have, saved = 0, None
    request = urllib.request.Request(url, headers={"User-Agent": "visionzoo", "Accept-Encoding": "identity"})
    if have and saved is not None:
        request.add_header("Range", f"bytes={have}-")
        request.add_header("If-Range", saved.get("etag") or saved["last_modified"])
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # the range is past the end: the partial file is useless
            _unlink(partial, validator_path)
            raise ConnectionError("server refused to resume; starting over") from e
        raise
    with response:
        validator = _validator(response.headers)
        length = response.headers.get("Content-Length")
        if response.status == 206 and saved is not None:
            span = _content_range(response.headers.get("Content-Range"))
            same = (
                span is not None
                and span == (have, saved["total"])
                and all(validator[k] in (None, saved.get(k)) for k in ("etag", "last_modified"))
            )
            if not same:  # the server answered the range from different content
                response.close()
                _unlink(partial, validator_path)
                return _fetch_once(url, partial, progress, timeout)
            total: int | None = saved["total"]
            mode = "ab"
        else:  # a full answer: the content changed, or the server does not do ranges
            have, mode = 0, "wb"
            total = int(length) if length is not None and length.isdigit() else None
            if response.status == 206:  # a part we did not ask for: only a part from byte 0 will do
                span = _content_range(response.headers.get("Content-Range"))
                if span is None or span[0] != 0:
                    raise ConnectionError("server sent part of the file without being asked to")
                total = span[1]
            if total is not None and (validator["etag"] or validator["last_modified"]):
                _write_json_atomic(validator_path, {"url": url, "total": total, **validator})
            else:
                _unlink(validator_path)  # without a validator this partial file cannot be resumed
        with (
            open(partial, mode) as out,
            _progress_bar(total, have, partial.name[: -len(PARTIAL_SUFFIX)], progress) as bar,
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
    if total is not None and size < total:
        raise ConnectionError(f"connection closed after {size} of {total} bytes")
    if total is not None and size > total:
        _unlink(partial, validator_path)
        raise ConnectionError(f"server sent {size} bytes but announced {total}; starting over")
    return total


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

    A cached file that passes the cheap check of `verify_cached_file` is returned without network
    access; one that fails it is deleted and downloaded again. Offline (HF_HUB_OFFLINE=1) with no
    good cached copy raises WeightsUnavailableError saying where to put the file. A broken connection
    is resumed up to `attempts` times (a failed name lookup or a refused connection is not retried);
    after that the partial file is kept for the next call. A download shorter than announced, or
    failing its sha256 or its name's hash prefix, never reaches the cache: the length error keeps the
    .partial (WeightsUnavailableError), a hash error deletes it (CorruptCheckpointError).
    """
    from filelock import FileLock  # installed with huggingface_hub

    sha256 = _check_sha256_arg(sha256)
    folder = Path(cache_dir).expanduser() if cache_dir is not None else torch_hub_checkpoint_dir()
    dest = folder / (filename or filename_from_url(url))
    problem = verify_cached_file(dest, sha256) if dest.is_file() else None
    if dest.is_file() and problem is None:
        return dest
    if is_offline():
        damaged = f"the cached {dest} is damaged ({problem}) and " if problem else ""
        raise WeightsUnavailableError(
            f"offline (HF_HUB_OFFLINE is set) and {damaged}{dest} is not cached: unset HF_HUB_OFFLINE to "
            f"download {url}, or download it yourself and save it as {dest}"
        )
    if progress is None:
        progress = os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS", "").strip().lower() not in _TRUE
    folder.mkdir(parents=True, exist_ok=True)
    partial = _side_path(dest, PARTIAL_SUFFIX)
    with FileLock(str(dest) + ".lock"):
        if dest.is_file():  # another process may have finished it while we waited for the lock
            problem = verify_cached_file(dest, sha256)
            if problem is None:
                return dest
            logger.warning("cached %s is damaged (%s); downloading it again", dest, problem)
            remove_cached_file(dest)
        error: Exception | None = None
        total: int | None = None
        for _ in range(max(1, attempts)):
            try:
                total = _fetch_once(url, partial, progress, timeout)
                error = None
                break
            except urllib.error.HTTPError as e:
                raise WeightsUnavailableError(f"cannot download {url}: HTTP {e.code} {e.reason}") from None
            except (OSError, http.client.HTTPException) as e:
                error = e
                if is_unreachable_error(e):
                    raise WeightsUnavailableError(f"cannot download {url}: {e}") from None
        if error is not None:
            kept = partial.stat().st_size if partial.exists() else 0
            raise WeightsUnavailableError(
                f"download of {url} failed after {attempts} attempt(s): {error}; {kept} bytes are kept in "
                f"{partial} and the next call resumes from there"
            )
        prefix = hash_prefix_from_name(dest.name)
        if total is None and sha256 is None and prefix is None:
            _unlink(partial, _validator_path(partial))
            raise WeightsUnavailableError(
                f"the server did not say how long {url} is and no sha256 is known, so a cut-off download "
                "cannot be told from a complete one; it was not cached (give sha256=, or download it yourself)"
            )
        digest = sha256_of(partial)
        problem = _hash_problem(digest, sha256, prefix)
        if problem is not None:
            _unlink(partial, _validator_path(partial))
            raise CorruptCheckpointError(
                f"hash mismatch for {dest} downloaded from {url}: {problem}; the download was deleted"
            )
        os.replace(partial, dest)
        _unlink(_validator_path(partial))
        _write_json_atomic(
            _side_path(dest, RECORD_SUFFIX), {"size": dest.stat().st_size, "sha256": digest, "url": url}
        )
    return dest


def verify_cache(
    cache_dir: str | Path | None = None, *, remove: bool = True
) -> tuple[int, list[tuple[Path, str]]]:
    """Re-hash every file in a URL cache folder (default: the torch hub checkpoint cache).

    Returns (files checked, [(path, problem), ...] for the bad ones). With `remove`, each bad file and
    its record are deleted, so the next call downloads it again.
    """
    from filelock import FileLock

    folder = Path(cache_dir).expanduser() if cache_dir is not None else torch_hub_checkpoint_dir()
    if not folder.is_dir():
        raise FileNotFoundError(f"cache folder not found: {folder}")
    checked, bad = 0, []
    for path in iter_cached_files(folder):
        checked += 1
        problem = verify_cached_file(path, full=True)
        if problem is None:
            continue
        bad.append((path, problem))
        if remove:
            with FileLock(str(path) + ".lock"):
                remove_cached_file(path)
    return checked, bad
