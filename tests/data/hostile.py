"""Hostile image files for tests: hand-written PNGs (decompression bombs), EXIF-rotated photos,
and a guard that turns a hang into a failure."""

import functools
import struct
import threading
import zlib

import numpy as np
from PIL import Image

from visionzoo.data import sample_image_path


def within(seconds, fn, *args, **kwargs):
    """fn(*args) in a daemon thread; fails (rather than hanging the suite) if it has not returned in time."""
    out: dict = {}

    def target():
        try:
            out["value"] = fn(*args, **kwargs)
        except BaseException as e:  # re-raised in the caller
            out["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"{getattr(fn, '__name__', fn)} still running after {seconds}s (blocked?)"
    if "error" in out:
        raise out["error"]
    return out["value"]


def _png(width, height, bit_depth=1, color_type=0, rows=None):
    """PNG bytes written by hand, so a header may claim any size; `rows` yields each row's raw bytes."""

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    z = zlib.compressobj(9)
    idat = b"".join(z.compress(b"\0" + r) for r in (rows or [])) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@functools.cache
def _black_png(side: int) -> bytes:
    row = bytes((side + 7) // 8)
    return _png(side, side, rows=(row for _ in range(side)))


def write_bomb(path, side=30000):
    """A real decompression bomb: a black 1-bit side x side PNG (30000: 9e8 pixels in ~110 KB)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_black_png(side))
    return path


def write_sideways(path, upright=None):
    """A photo (default: the bundled cat) stored rotated 90 degrees counter-clockwise with EXIF
    Orientation 6 ('rotate 90 clockwise to view'), as a phone writes it. Returns (upright, stored) arrays."""
    upright = Image.open(sample_image_path()).convert("RGB") if upright is None else upright
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    path.parent.mkdir(parents=True, exist_ok=True)
    stored.save(path, exif=exif)
    return np.asarray(upright), np.asarray(stored)


def forbid_huge_resize(monkeypatch, max_pixels=20_000_000):
    """Fail fast instead of allocating gigabytes if anything asks PIL for a resize beyond `max_pixels`."""
    real = Image.Image.resize

    def guarded(self, size, *args, **kwargs):
        assert size[0] * size[1] <= max_pixels, f"resize to {size[0]}x{size[1]} requested"
        return real(self, size, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "resize", guarded)
