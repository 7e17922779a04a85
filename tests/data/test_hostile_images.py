"""Image files and folders built to break a loader: symlink loops, FIFOs, extreme aspect ratios,
decompression bombs, 16-bit and float pixels, EXIF orientation, file names that are not UTF-8."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.data.hostile import forbid_huge_resize, within, write_bomb, write_sideways
from visionzoo.data import sample_image_path
from visionzoo.data.datasets import (
    FileListDataset,
    ImageFolderDataset,
    ImageReadError,
    UnreadableImageWarning,
    convert_image,
    create_dataset,
    create_loader,
    find_images,
    load_image,
    scan_images,
)
from visionzoo.data.transforms import MAX_ASPECT_RATIO, create_transform

needs_posix = pytest.mark.skipif(os.name != "posix", reason="symlinks and FIFOs as on POSIX")


def _img(path, seed=0, size=(12, 10)):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr).save(path)
    return path


# --- 1. symlinked folders -----------------------------------------------------------------------


@needs_posix
def test_symlink_to_own_folder_lists_each_image_once(tmp_path):
    a = _img(tmp_path / "a.png")
    b = _img(tmp_path / "sub" / "b.png")
    os.symlink(tmp_path, tmp_path / "loop")  # tmp/loop -> tmp
    os.symlink(tmp_path / "sub", tmp_path / "sub" / "again")  # tmp/sub/again -> tmp/sub
    os.symlink(b, tmp_path / "z_link.png")  # the same file under a second name
    assert find_images(tmp_path) == [a, b]
    # a file met by several paths is listed under the first in sorted order
    os.symlink(a, tmp_path / "sub" / "a_link.png")
    assert find_images(tmp_path) == [a, b]
    os.symlink(b, tmp_path / "b_link.png")
    assert find_images(tmp_path) == [a, tmp_path / "b_link.png"]


@needs_posix
def test_symlinked_folder_outside_root_is_followed(tmp_path):
    outside = _img(tmp_path / "elsewhere" / "x.png")
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(outside.parent, root / "linked")
    assert find_images(root) == [root / "linked" / "x.png"]


@needs_posix
def test_two_symlink_loops_finish(tmp_path):
    # with two self-links a naive walk has 2**40 paths to visit; run it apart so a hang can be killed
    _img(tmp_path / "a.png")
    os.symlink(tmp_path, tmp_path / "l1")
    os.symlink(tmp_path, tmp_path / "l2")
    code = "import sys; from visionzoo.data.datasets import find_images; print(len(find_images(sys.argv[1])))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, env=env, timeout=120
        )
    except subprocess.TimeoutExpired:
        pytest.fail("find_images did not finish on a folder with two symlink loops")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1"


@needs_posix
def test_image_folder_with_loop_in_a_class(tmp_path):
    _img(tmp_path / "cat" / "c.png")
    _img(tmp_path / "dog" / "d.png")
    os.symlink(tmp_path / "dog", tmp_path / "dog" / "loop")
    ds = ImageFolderDataset(tmp_path)
    assert [Path(p).relative_to(tmp_path).as_posix() for p, _ in ds.samples] == ["cat/c.png", "dog/d.png"]


# --- 2. FIFOs and other files that are not regular ---------------------------------------------


@pytest.fixture
def fifo_folder(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    a = _img(tmp_path / "imgs" / "a.png")
    os.mkfifo(tmp_path / "imgs" / "b.jpg")
    return a.parent


def test_fifo_in_folder_is_left_out_and_reported(fifo_folder):
    fifo = fifo_folder / "b.jpg"
    assert find_images(fifo_folder) == [fifo_folder / "a.png"]
    scan = scan_images(fifo_folder)
    assert scan.skipped == [
        (str(fifo), f"cannot read image {fifo}: not a regular file but a FIFO (named pipe)")
    ]


def test_fifo_given_explicitly_is_refused_without_blocking(fifo_folder):
    with pytest.raises(ImageReadError, match=r"cannot read image .*b\.jpg: not a regular file but a FIFO"):
        within(10, load_image, fifo_folder / "b.jpg")


def test_image_folder_leaves_out_fifo_and_warns_once(fifo_folder):
    os.mkfifo(fifo_folder / "c.png")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = ImageFolderDataset(fifo_folder.parent)
    assert [Path(p).name for p, _ in ds.samples] == ["a.png"]
    assert len(ds.skipped_files) == 2
    msgs = [str(w.message) for w in caught if issubclass(w.category, UnreadableImageWarning)]
    assert len(msgs) == 1 and msgs[0].startswith("skipped 2 of 3 image(s)") and "b.jpg" in msgs[0]


def test_file_list_naming_a_fifo_is_refused(fifo_folder):
    lst = fifo_folder / "list.csv"
    lst.write_text("a.png,0\nb.jpg,1\n")
    with pytest.raises(ValueError, match=r"1 path\(s\) listed in .* are not regular files"):
        within(10, FileListDataset, lst)


def test_broken_symlink_is_reported_not_listed(tmp_path):
    _img(tmp_path / "a.png")
    os.symlink(tmp_path / "gone.png", tmp_path / "dangling.png")
    scan = scan_images(tmp_path)
    assert scan.images == [tmp_path / "a.png"]
    assert [(Path(p).name, "broken symbolic link" in why) for p, why in scan.skipped] == [
        ("dangling.png", True)
    ]


# --- 3. extreme aspect ratios -------------------------------------------------------------------


@pytest.fixture
def no_huge_resize(monkeypatch):
    forbid_huge_resize(monkeypatch)


def test_10000x1_png_is_refused_before_decoding(tmp_path, no_huge_resize):
    path = tmp_path / "line.png"
    Image.new("L", (10000, 1), 128).save(path)
    assert path.stat().st_size < 200  # 114 bytes on disk...
    # ...but a 256 short side would make a 2560000x256 RGB image: 1.97 GB
    with pytest.raises(ImageReadError, match=r"line\.png: a 10000x1 image has an aspect ratio beyond 100:1"):
        load_image(path)


def test_extreme_aspect_in_memory_gets_a_clear_error(no_huge_resize):
    tf = create_transform(224)  # shorter side to 256
    with pytest.raises(ValueError, match="a 1x10000 image has an aspect ratio beyond 100:1"):
        tf(Image.new("RGB", (1, 10000)))
    with pytest.raises(ValueError, match="beyond 100:1"):
        create_transform(224, crop_mode="border")(Image.new("RGB", (10000, 1)))


def test_panorama_within_the_bound_is_accepted(tmp_path, no_huge_resize):
    assert MAX_ASPECT_RATIO == 100
    path = tmp_path / "pano.png"
    Image.new("RGB", (1000, 10)).save(path)  # exactly 100:1
    x = create_transform(224)(load_image(path))
    assert x.shape == (3, 224, 224)
    Image.new("RGB", (1001, 10)).save(path)
    with pytest.raises(ImageReadError, match="beyond 100:1"):
        load_image(path)


# --- 4. decompression bombs ---------------------------------------------------------------------


def test_decompression_bomb_is_an_image_read_error(tmp_path):
    bomb = write_bomb(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 200_000
    with pytest.raises(ImageReadError, match=r"bomb\.png: possible decompression bomb: .*900000000 pixels"):
        load_image(bomb)


def test_decompression_bomb_warning_escalated_is_an_image_read_error(tmp_path):
    # 1e8 pixels: above PIL's warning limit, below its error limit
    bomb = write_bomb(tmp_path / "big.png", side=10000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageReadError, match=r"big\.png: possible decompression bomb"):
            load_image(bomb)


def test_loader_skips_and_counts_a_bomb(tmp_path):
    _img(tmp_path / "cat" / "c.png")
    _img(tmp_path / "dog" / "d.png")
    write_bomb(tmp_path / "dog" / "e.png")
    loader = create_loader(ImageFolderDataset(tmp_path, transform=create_transform(8)), batch_size=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):  # two epochs: the bad file is counted and warned about once
            ((x, y),) = list(loader)
            assert x.shape == (2, 3, 8, 8) and y.tolist() == [0, 1]
    assert loader.num_skipped == 1 and loader.skipped[0].endswith("e.png")
    msgs = [str(w.message) for w in caught if issubclass(w.category, UnreadableImageWarning)]
    assert len(msgs) == 1 and "decompression bomb" in msgs[0]


# --- 5. 16-bit, 32-bit and float pixels ---------------------------------------------------------


@pytest.fixture(scope="module")
def grey_cat():
    """The bundled photo in 8-bit grey, [H, W] uint8."""
    return np.asarray(Image.open(sample_image_path()).convert("L"))


def _high_bit_file(tmp_path, grey, kind):
    if kind == "png16":  # mode I;16
        img, name = Image.fromarray(grey.astype(np.uint16) * 257), "cat16.png"
    elif kind == "tiff32":  # mode I, 16-bit values
        img, name = Image.fromarray(grey.astype(np.int32) * 257), "cat32.tif"
    else:  # mode F, 0..1
        img, name = Image.fromarray(grey.astype(np.float32) / 255), "catf.tif"
    img.save(tmp_path / name)
    return tmp_path / name


@pytest.mark.parametrize("kind,mode", [("png16", "I;16"), ("tiff32", "I"), ("float", "F")])
def test_high_bit_photo_matches_the_8bit_original(tmp_path, grey_cat, kind, mode):
    path = _high_bit_file(tmp_path, grey_cat, kind)
    assert Image.open(path).mode == mode
    rgb = np.asarray(load_image(path)).astype(int)  # [H, W, 3]
    assert rgb.shape == grey_cat.shape + (3,)
    assert np.abs(rgb - grey_cat[..., None]).max() <= 1
    assert np.abs(np.asarray(load_image(path, mode="L")).astype(int) - grey_cat).max() <= 1


@pytest.mark.parametrize(
    "arr,expected",
    [
        (np.array([[0, 257, 65535]], dtype=">u2"), [0, 1, 255]),  # I;16B
        (np.array([[0, 32768, 65535]], dtype=np.int32), [0, 128, 255]),  # I holding 16-bit data
        (np.array([[-5, 2**30, 2**31 - 1]], dtype=np.int32), [0, 128, 255]),  # I beyond 16 bits
        (np.array([[0.0, 0.5, 1.0]], dtype=np.float32), [0, 128, 255]),  # F in 0..1
        (np.array([[0.0, 100.0, 255.0]], dtype=np.float32), [0, 100, 255]),  # F in 0..255
        (np.array([[np.nan, 1000.0, 65535.0]], dtype=np.float32), [0, 4, 255]),  # F in 0..65535
    ],
)
def test_convert_image_scales_high_bit_modes(arr, expected):
    out = convert_image(Image.fromarray(arr), "RGB")
    assert out.mode == "RGB"
    assert np.asarray(out)[0, :, 0].tolist() == expected


def test_palette_with_transparency_converts_without_warning():
    img = Image.new("P", (4, 4), 1)
    img.putpalette([0, 0, 0, 200, 10, 20] + [0] * 762)
    img.info["transparency"] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = convert_image(img)
    assert np.asarray(out)[0, 0].tolist() == [200, 10, 20]


# --- 6. EXIF orientation ------------------------------------------------------------------------


def test_load_image_exif_transpose(tmp_path):
    upright, stored = write_sideways(tmp_path / "phone.png")
    assert np.array_equal(np.asarray(load_image(tmp_path / "phone.png", exif_transpose=True)), upright)
    assert np.array_equal(np.asarray(load_image(tmp_path / "phone.png")), stored)  # default: as stored


def test_datasets_keep_timm_orientation_by_default_and_honour_exif_on_request(tmp_path):
    upright, stored = write_sideways(tmp_path / "train" / "cat" / "phone.png")
    _img(tmp_path / "train" / "dog" / "d.png")
    assert np.array_equal(np.asarray(create_dataset(tmp_path, split="train")[0][0]), stored)
    ds = create_dataset(tmp_path, split="train", exif_transpose=True)
    assert np.array_equal(np.asarray(ds[0][0]), upright)
    lst = tmp_path / "train.csv"
    lst.write_text("train/cat/phone.png,cat\ntrain/dog/d.png,dog\n")
    assert np.array_equal(np.asarray(FileListDataset(lst, exif_transpose=True)[0][0]), upright)


# --- file names that are not UTF-8 --------------------------------------------------------------


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="the file system must accept any bytes")
def test_file_names_that_are_not_utf8(tmp_path):
    latin1 = os.fsdecode(b"caf\xe9")  # 'café' in Latin-1: a lone surrogate once decoded
    img = _img(tmp_path / "train" / latin1 / os.fsdecode(b"\xff\xfe.png"))
    _img(tmp_path / "train" / "dog" / "d.png")
    assert find_images(tmp_path) == [img, tmp_path / "train" / "dog" / "d.png"]
    assert load_image(img).size == (12, 10)
    ds = ImageFolderDataset(tmp_path / "train", transform=create_transform(8))
    assert ds.classes == ["caf\udce9", "dog"] and ds[0][0].shape == (3, 8, 8)
    lst = tmp_path / "list.txt"
    lst.write_bytes(b"train/caf\xe9/\xff\xfe.png 0\ntrain/dog/d.png 1\n")
    listed = FileListDataset(lst)
    assert listed.samples[0][0] == str(img) and listed[0][0].size == (12, 10)
