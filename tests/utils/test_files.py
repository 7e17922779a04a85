"""atomic_write / atomic_path: the old file or the whole new one, with open()'s permissions."""

import os
import stat

import pytest

from visionzoo.utils.files import atomic_path, atomic_write


def _mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_atomic_write_gives_open_mode_under_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "a.txt") as f:
            f.write("hello")
        with open(tmp_path / "b.txt", "w") as f:
            f.write("hello")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").read_text() == "hello"
    assert _mode(tmp_path / "a.txt") == _mode(tmp_path / "b.txt") == 0o644


def test_atomic_write_failure_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as f:
        f.write("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_atomic_path_replaces_and_cleans(tmp_path):
    target = tmp_path / "w.bin"
    with atomic_path(target, suffix=".bin") as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(".bin")
        tmp.write_bytes(b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.bin"]


def test_atomic_write_rejects_append_mode(tmp_path):
    with pytest.raises(ValueError, match="mode"), atomic_write(tmp_path / "x", "a"):
        pass
