"""Image datasets (class folders, CSV/TXT lists) and a loader that skips unreadable images.

train = create_dataset("data/", split="train", transform=create_transform(224, is_training=True))
val = create_dataset("data/", split="val", transform=..., class_to_idx=train.class_to_idx)
loader = create_loader(train, batch_size=64, is_training=True, num_workers=4)
for images, targets in loader: ...     # images [B, C, H, W], targets [B]
loader.skipped                         # paths of images that could not be read, so far
"""

from __future__ import annotations

import csv
import os
import stat
import struct
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .transforms import check_aspect_ratio

__all__ = [
    "IMG_EXTENSIONS",
    "ImageReadError",
    "UnreadableImageWarning",
    "load_image",
    "convert_image",
    "find_images",
    "scan_images",
    "ImageScan",
    "ImageFolderDataset",
    "FileListDataset",
    "ImagePathsDataset",
    "create_dataset",
    "create_loader",
    "ImageLoader",
    "skip_failed_collate",
    "warn_skipped",
]

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")
LIST_EXTENSIONS = (".csv", ".txt", ".tsv")


class ImageReadError(ValueError):
    """An image file exists but cannot be decoded; `path` names it."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = str(path)
        super().__init__(f"cannot read image {self.path}: {reason}")


class UnreadableImageWarning(UserWarning):
    """Images were skipped because they could not be read; `skipped` lists (path, reason)."""

    def __init__(self, message: str, skipped: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.skipped = list(skipped)


def _is_image(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(IMG_EXTENSIONS)


_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _not_regular(st_mode: int) -> str | None:
    """Why a file of this mode is not an image candidate, e.g. 'not a regular file but a FIFO (named pipe)'.

    None for a regular file: only those are opened, since reading a FIFO or device can block forever.
    """
    if stat.S_ISREG(st_mode):
        return None
    kind = next((what for test, what in _FILE_KINDS if test(st_mode)), "something else")
    return f"not a regular file but {kind}"


# 16/32-bit integer and float modes, which Image.convert clips to 0..255 instead of scaling
_HIGH_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


def _high_bit_to_8bit(img: Image.Image) -> Image.Image:
    """A grey 'L' image from a 16/32-bit integer or float one, scaled rather than clipped.

    I;16*: 0..65535. I: 0..65535 (Pillow's mode for 16-bit data), or 0..2**31-1 when larger values
    occur. F: 0..1 if its maximum is at most 1, 0..255 if at most 255, else 0..65535.
    """
    arr = np.nan_to_num(np.asarray(img, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)  # [H, W]
    top = float(arr.max()) if arr.size else 0.0
    if img.mode.startswith("I;16"):
        full = 65535.0
    elif img.mode == "I":
        full = 65535.0 if top <= 65535 else 2.0**31 - 1
    else:
        full = 1.0 if top <= 1.0 else 255.0 if top <= 255.0 else 65535.0
    out = np.clip(np.rint(arr * (255.0 / full)), 0, 255).astype(np.uint8)
    return Image.fromarray(out, "L")


def convert_image(img: Image.Image, mode: str = "RGB") -> Image.Image:
    """`img` in `mode`, with 16-bit, 32-bit and float pixels scaled to 8 bits (not clipped).

    A palette image with transparency goes through RGBA so Pillow does not warn about it.
    """
    if img.mode in _HIGH_BIT_MODES and mode != img.mode:
        img = _high_bit_to_8bit(img)
    elif img.mode == "P" and "transparency" in img.info and mode != "P":
        img = img.convert("RGBA")
    return img if img.mode == mode else img.convert(mode)


def _open_regular_file(p: Path) -> BinaryIO:
    """Open `p` for reading if it is a regular file; a FIFO or device is refused without blocking."""
    try:
        # O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise FileNotFoundError(f"image not found: {p}") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"expected an image file, got a directory: {p}") from None
    except OSError as e:
        raise ImageReadError(p, f"{type(e).__name__}: {e.strerror}") from None
    try:
        st_mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(st_mode):
            raise IsADirectoryError(f"expected an image file, got a directory: {p}")
        reason = _not_regular(st_mode)
        if reason is not None:
            raise ImageReadError(p, reason)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def load_image(
    path: str | os.PathLike,
    mode: str = "RGB",
    exif_transpose: bool = False,
    min_size: int | None = None,
) -> Image.Image:
    """Open and fully decode an image file, converted to `mode` (see `convert_image`).

    Args:
        path: a regular file; a FIFO, socket or device is refused before anything is read.
        mode: the PIL mode wanted ('RGB', 'L', ...).
        exif_transpose: rotate/flip the image as its EXIF Orientation tag says (phone photos).
        min_size: let a JPEG decode at 1/2, 1/4 or 1/8 scale (PIL's draft mode, much faster) as long
            as both sides stay at least `min_size` pixels; None decodes at full size.

    Raises FileNotFoundError if it does not exist, ImageReadError if it cannot be decoded, is not a
    regular file, has more pixels than PIL's decompression-bomb limit (`PIL.Image.MAX_IMAGE_PIXELS`),
    or is more elongated than `MAX_ASPECT_RATIO`:1.
    """
    p = Path(path)
    with _open_regular_file(p) as f:
        try:
            with Image.open(f) as opened:  # reads the header only: size and mode
                try:
                    check_aspect_ratio(*opened.size)
                except ValueError as e:
                    raise ImageReadError(p, str(e)) from None
                if min_size is not None:
                    opened.draft(None, (min_size, min_size))  # JPEG only; a no-op for other formats
                opened.load()  # the full decode, so truncated files fail here
                img = ImageOps.exif_transpose(opened) if exif_transpose else opened
                out = convert_image(img, mode)
                return out.copy() if out is opened else out  # closing `opened` releases its pixels
        except ImageReadError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise ImageReadError(p, f"possible decompression bomb: {e}") from None
        except UnidentifiedImageError:
            raise ImageReadError(
                p, "not an image file PIL can identify (corrupt or unsupported format)"
            ) from None
        except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error) as e:
            raise ImageReadError(p, f"{type(e).__name__}: {e}") from None
        except Warning as e:  # any other warning the caller escalated to an error
            raise ImageReadError(p, f"{type(e).__name__}: {e}") from None


class ImageScan(NamedTuple):
    """What `scan_images` found: image files, and image-named entries it left out with the reason."""

    images: list[Path]
    skipped: list[tuple[str, str]]


def scan_images(root: str | os.PathLike, recursive: bool = True) -> ImageScan:
    """Image files (by extension) under `root`, sorted, each file once; hidden names are ignored.

    Symlinked folders are followed, each real folder at most once (so symlink loops end), and a file
    reachable by several paths is listed once, under the first path in sorted order. Image-named
    entries that are not regular files (FIFOs, sockets, devices, broken links) are not opened;
    they are returned in `skipped` as (path, reason).
    """
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"folder not found: {root}")
    if not root.is_dir():
        raise NotADirectoryError(f"not a folder: {root}")
    st = root.stat()
    seen_dirs = {(st.st_dev, st.st_ino)}
    seen_files: set[tuple[int, int]] = set()
    images: list[Path] = []
    skipped: list[tuple[str, str]] = []

    def listing(folder: Path) -> Iterator[os.DirEntry]:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as e:
            skipped.append((str(folder), f"cannot list folder {folder}: {e.strerror or e}"))
            return iter(())
        return iter([e for e in entries if not e.name.startswith(".")])

    # depth-first in sorted name order, so the first path met to a file is its first in sorted order
    stack = [(root, listing(root))]
    while stack:
        folder, entries = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        path = Path(folder, entry.name)
        try:
            est = entry.stat()  # follows symlinks
        except OSError as e:
            if _is_image(entry.name):
                why = "a broken symbolic link" if entry.is_symlink() else (e.strerror or str(e))
                skipped.append((str(path), str(ImageReadError(path, why))))
            continue
        key = (est.st_dev, est.st_ino)
        if stat.S_ISDIR(est.st_mode):
            if recursive and key not in seen_dirs:
                seen_dirs.add(key)
                stack.append((path, listing(path)))
        elif _is_image(entry.name):
            reason = _not_regular(est.st_mode)
            if reason is not None:
                skipped.append((str(path), str(ImageReadError(path, reason))))
            elif key not in seen_files:
                seen_files.add(key)
                images.append(path)
    return ImageScan(sorted(images), skipped)


def find_images(root: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Image files under `root`, sorted, each once; see `scan_images`, which also lists what was left out."""
    return scan_images(root, recursive).images


def warn_skipped(skipped: Sequence[tuple[str, str]], total: int, stacklevel: int = 3) -> None:
    """One UnreadableImageWarning for all of `skipped` [(path, reason)]: their count and the first reason."""
    if skipped:
        msg = f"skipped {len(skipped)} of {total} image(s) that could not be read; first: {skipped[0][1]}"
        warnings.warn(UnreadableImageWarning(msg, skipped), stacklevel=stacklevel)


class _ImageDataset(torch.utils.data.Dataset):
    """Shared behaviour: `samples` [(path, class index)], `classes`, `class_to_idx`, `transform`.

    `exif_transpose` turns images upright by their EXIF Orientation tag; off by default, as in timm,
    so published accuracies reproduce.
    """

    samples: list[tuple[str, int]]
    classes: list[str]
    class_to_idx: dict[str, int]

    def __init__(
        self,
        transform: Callable | None = None,
        target_transform: Callable | None = None,
        exif_transpose: bool = False,
    ) -> None:
        self.transform = transform
        self.target_transform = target_transform
        self.exif_transpose = exif_transpose

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def targets(self) -> list[int]:
        return [t for _, t in self.samples]

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        path, target = self.samples[index]
        img = load_image(path, exif_transpose=self.exif_transpose)
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def filename(self, index: int) -> str:
        return self.samples[index][0]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} images, {len(self.classes)} classes)"


class ImageFolderDataset(_ImageDataset):
    """Images in one sub-folder per class: root/<class>/**/<image>. Classes are sorted folder names.

    Args:
        root: the folder holding the class folders.
        transform: applied to each PIL image (e.g. `create_transform(...)`).
        class_to_idx: a fixed class mapping (e.g. the training set's, for a validation folder);
            a class folder not in it raises a ValueError.
        exif_transpose: turn images upright by their EXIF Orientation tag (default off, as timm).

    Image-named entries that are not regular files (FIFOs, devices, broken links) are left out,
    listed in `skipped_files` as (path, reason) and warned about once (UnreadableImageWarning).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        transform: Callable | None = None,
        target_transform: Callable | None = None,
        class_to_idx: dict[str, int] | None = None,
        exif_transpose: bool = False,
    ) -> None:
        super().__init__(transform, target_transform, exif_transpose)
        self.root = Path(root)
        if not self.root.exists():
            raise FileNotFoundError(f"dataset folder not found: {self.root}")
        if not self.root.is_dir():
            raise NotADirectoryError(f"dataset path is not a folder: {self.root}")
        class_dirs = sorted(d.name for d in self.root.iterdir() if d.is_dir() and not d.name.startswith("."))
        scans = {c: scan_images(self.root / c) for c in class_dirs}
        self.skipped_files = [s for scan in scans.values() for s in scan.skipped]
        if self.skipped_files:
            warn_skipped(
                self.skipped_files, len(self.skipped_files) + sum(len(s.images) for s in scans.values())
            )
        per_class = {c: scan.images for c, scan in scans.items() if scan.images}
        if not per_class:
            loose = find_images(self.root, recursive=False)
            hint = (
                f" ({len(loose)} images lie directly in it; put them in one sub-folder per class)"
                if loose
                else ""
            )
            raise ValueError(
                f"no images found in class sub-folders of {self.root}{hint}; "
                f"expected root/<class>/<image> with extensions {', '.join(IMG_EXTENSIONS)}"
            )
        if class_to_idx is None:
            self.classes = sorted(per_class)
            self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        else:
            unknown = sorted(set(per_class) - set(class_to_idx))
            if unknown:
                raise ValueError(
                    f"class folder(s) {unknown} in {self.root} are not in the given class_to_idx"
                )
            self.class_to_idx = dict(class_to_idx)
            self.classes = sorted(class_to_idx, key=class_to_idx.__getitem__)
        self.samples = [(str(p), self.class_to_idx[c]) for c in sorted(per_class) for p in per_class[c]]


def _parse_label(raw: str) -> int | str:
    raw = raw.strip()
    return int(raw) if raw.lstrip("-").isdigit() else raw


class FileListDataset(_ImageDataset):
    """Images listed in a CSV or TXT file, one `path,label` (or `path label`) per line.

    Paths are relative to `root` (default: the list file's folder). Labels are class indices or
    class names; names map to indices by sorted order unless `class_to_idx` is given. A CSV may start
    with a header row (`path,label` / `filename,class` ...). Blank lines and lines starting with '#'
    are ignored.
    """

    def __init__(
        self,
        list_file: str | os.PathLike,
        root: str | os.PathLike | None = None,
        transform: Callable | None = None,
        target_transform: Callable | None = None,
        class_to_idx: dict[str, int] | None = None,
        check_files: bool = True,
        exif_transpose: bool = False,
    ) -> None:
        super().__init__(transform, target_transform, exif_transpose)
        self.list_file = Path(list_file)
        if not self.list_file.is_file():
            raise FileNotFoundError(f"list file not found: {self.list_file}")
        if not str(self.list_file).lower().endswith(LIST_EXTENSIONS):
            raise ValueError(f"list file {self.list_file} must end in one of {', '.join(LIST_EXTENSIONS)}")
        self.root = Path(root) if root is not None else self.list_file.parent
        rows = self._read_rows()
        if not rows:
            raise ValueError(f"list file {self.list_file} lists no images")

        labels = [lab for _, lab, _ in rows]
        if all(isinstance(v, int) for v in labels):
            n = max(labels) + 1
            if min(labels) < 0:
                raise ValueError(f"negative class index in {self.list_file}")
            if class_to_idx is not None:
                self.class_to_idx = dict(class_to_idx)
                if n > len(self.class_to_idx):
                    raise ValueError(
                        f"{self.list_file} has class index {n - 1} but only {len(class_to_idx)} classes"
                    )
            else:
                self.class_to_idx = {str(i): i for i in range(n)}
            indices = labels
        elif any(isinstance(v, int) for v in labels):
            bad = next(line for _, v, line in rows if isinstance(v, int))
            raise ValueError(f"{self.list_file} mixes class indices and class names (line {bad})")
        else:
            self.class_to_idx = (
                dict(class_to_idx)
                if class_to_idx is not None
                else {c: i for i, c in enumerate(sorted(set(labels)))}
            )
            for _, lab, line in rows:
                if lab not in self.class_to_idx:
                    raise ValueError(f"label {lab!r} on line {line} of {self.list_file} is not a known class")
            indices = [self.class_to_idx[v] for v in labels]
        self.classes = sorted(self.class_to_idx, key=self.class_to_idx.__getitem__)
        self.samples = [(p, i) for (p, _, _), i in zip(rows, indices)]
        if check_files:
            missing = [p for p, _ in self.samples if not os.path.exists(p)]
            if missing:
                raise FileNotFoundError(
                    f"{len(missing)} image(s) listed in {self.list_file} do not exist, e.g. {missing[:3]}"
                )
            odd = [p for p, _ in self.samples if not os.path.isfile(p)]
            if odd:
                raise ValueError(
                    f"{len(odd)} path(s) listed in {self.list_file} are not regular files "
                    f"(folders, FIFOs or devices), e.g. {odd[:3]}"
                )

    def _read_rows(self) -> list[tuple[str, int | str, int]]:
        is_csv = self.list_file.suffix.lower() == ".csv"
        # surrogateescape: paths that are not valid UTF-8 still name their files
        text = self.list_file.read_text(encoding="utf-8-sig", errors="surrogateescape").splitlines()
        rows: list[tuple[str, int | str, int]] = []
        for lineno, line in enumerate(text, start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if is_csv:
                fields = next(csv.reader([line]))
            elif "\t" in line:
                fields = line.split("\t")
            else:
                fields = line.rsplit(maxsplit=1) if "," not in line else line.rsplit(",", 1)
            fields = [f.strip() for f in fields]
            if len(fields) != 2 or not fields[0] or not fields[1]:
                raise ValueError(f"line {lineno} of {self.list_file} is not 'path,label': {line!r}")
            path, label = fields
            if not rows and lineno == _first_line(text) and not _is_image(path) and not label.isdigit():
                continue  # a header row such as 'path,label'
            if not _is_image(path):
                raise ValueError(
                    f"line {lineno} of {self.list_file}: {path!r} has an unknown image extension "
                    f"(known: {', '.join(IMG_EXTENSIONS)})"
                )
            full = path if os.path.isabs(path) else str(self.root / path)
            rows.append((full, _parse_label(label), lineno))
        return rows


def _first_line(lines: Sequence[str]) -> int:
    for i, line in enumerate(lines, start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            return i
    return 0


class ImagePathsDataset(torch.utils.data.Dataset):
    """Unlabelled images given as a list of paths; items are (image, index into the list)."""

    def __init__(
        self,
        paths: Sequence[str | os.PathLike],
        transform: Callable | None = None,
        exif_transpose: bool = False,
    ) -> None:
        self.paths = [str(p) for p in paths]
        self.transform = transform
        self.exif_transpose = exif_transpose

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        img = load_image(self.paths[index], exif_transpose=self.exif_transpose)
        return (self.transform(img) if self.transform is not None else img), index

    def filename(self, index: int) -> str:
        return self.paths[index]


def create_dataset(
    path: str | os.PathLike,
    split: str | None = None,
    transform: Callable | None = None,
    class_to_idx: dict[str, int] | None = None,
    exif_transpose: bool = False,
) -> _ImageDataset:
    """A dataset from a class-folder tree or a CSV/TXT list file.

    With `split` ('train', 'val', ...), `path/<split>` (or `path/<split>.csv|.txt`) is used;
    'val' and 'validation' find each other. `exif_transpose` turns images upright by their EXIF
    Orientation tag (default off, as in timm, so published accuracies reproduce).
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"dataset not found: {p}")
    if split:
        candidates = [split] + {"val": ["validation"], "validation": ["val"]}.get(split, [])
        for name in candidates:
            for c in [p / name] + [p / f"{name}{ext}" for ext in LIST_EXTENSIONS]:
                if c.exists():
                    return create_dataset(
                        c, transform=transform, class_to_idx=class_to_idx, exif_transpose=exif_transpose
                    )
        raise FileNotFoundError(f"no split {split!r} in {p} (looked for a folder or list file named {split})")
    if p.is_dir():
        return ImageFolderDataset(
            p, transform=transform, class_to_idx=class_to_idx, exif_transpose=exif_transpose
        )
    if str(p).lower().endswith(LIST_EXTENSIONS):
        return FileListDataset(
            p, transform=transform, class_to_idx=class_to_idx, exif_transpose=exif_transpose
        )
    raise ValueError(
        f"unknown dataset file type {p.suffix!r} for {p}; give a folder or a {'/'.join(LIST_EXTENSIONS)} list"
    )


# --- loading with unreadable images skipped ------------------------------------------------------


class _Failed:
    """Marker for a sample that could not be loaded."""

    __slots__ = ("path", "reason")

    def __init__(self, path: str, reason: str) -> None:
        self.path, self.reason = path, reason


class _SkipUnreadable(torch.utils.data.Dataset):
    """Wraps a dataset so an unreadable image yields a `_Failed` marker instead of an exception."""

    def __init__(self, dataset: torch.utils.data.Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        try:
            return self.dataset[index]
        except (ImageReadError, FileNotFoundError) as e:
            path = getattr(e, "path", None) or (
                self.dataset.filename(index) if hasattr(self.dataset, "filename") else f"item {index}"
            )
            return _Failed(str(path), str(e))


def skip_failed_collate(batch: list[Any]) -> tuple[Any, list[tuple[str, str]]]:
    """Collate the samples that loaded; returns (collated batch or None, [(path, reason) of failures])."""
    good = [b for b in batch if not isinstance(b, _Failed)]
    failed = [(b.path, b.reason) for b in batch if isinstance(b, _Failed)]
    return (torch.utils.data.default_collate(good) if good else None), failed


class ImageLoader:
    """A DataLoader whose batches leave out unreadable images.

    Each unreadable file is warned about once (UnreadableImageWarning) and listed once in `skipped`,
    however many epochs meet it.
    """

    def __init__(self, loader: torch.utils.data.DataLoader, dataset: torch.utils.data.Dataset) -> None:
        self.loader = loader
        self.dataset = dataset
        self.skipped: list[str] = []
        self._skipped_set: set[str] = set()

    @property
    def num_skipped(self) -> int:
        return len(self.skipped)

    @property
    def sampler(self) -> Any:
        return self.loader.sampler

    @property
    def batch_size(self) -> int | None:
        return self.loader.batch_size

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle a distributed sampler for this epoch."""
        if hasattr(self.loader.sampler, "set_epoch"):
            self.loader.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        for batch, failed in self.loader:
            for path, reason in failed:
                if path in self._skipped_set:
                    continue  # warned about in an earlier epoch
                self._skipped_set.add(path)
                self.skipped.append(path)
                warnings.warn(f"skipped unreadable image: {reason}", UnreadableImageWarning, stacklevel=2)
            if batch is not None:
                yield batch


def create_loader(
    dataset: torch.utils.data.Dataset,
    batch_size: int = 32,
    is_training: bool = False,
    num_workers: int = 0,
    pin_memory: bool = False,
    persistent_workers: bool = False,
    distributed: bool = False,
    shuffle: bool | None = None,
    drop_last: bool | None = None,
    seed: int = 0,
    sampler: torch.utils.data.Sampler | None = None,
) -> ImageLoader:
    """Batches of (images, targets) from `dataset`, skipping images that cannot be read.

    Args:
        batch_size: images per batch (a batch shrinks by the number of unreadable images in it).
        is_training: shuffle and drop the last incomplete batch (unless `shuffle`/`drop_last` say otherwise).
        num_workers, pin_memory, persistent_workers: as torch's DataLoader.
        distributed: split the data across processes with a DistributedSampler (call `set_epoch` each epoch).
        seed: seed of the distributed sampler's shuffling.
        sampler: a sampler of your own (e.g. the trainer's deterministic sharded sampler); overrides
            `shuffle` and `distributed`.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers must be an int >= 0, got {num_workers!r}")
    if len(dataset) == 0:  # type: ignore[arg-type]
        raise ValueError("cannot build a loader over an empty dataset")
    shuffle = is_training if shuffle is None else shuffle
    drop_last = is_training if drop_last is None else drop_last
    if sampler is not None:
        shuffle = False
    elif distributed:
        sampler = torch.utils.data.distributed.DistributedSampler(dataset, shuffle=shuffle, seed=seed)
        shuffle = False
    loader = torch.utils.data.DataLoader(
        _SkipUnreadable(dataset),
        batch_size=batch_size,
        shuffle=shuffle,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=persistent_workers and num_workers > 0,
        drop_last=drop_last,
        collate_fn=skip_failed_collate,
    )
    return ImageLoader(loader, dataset)
