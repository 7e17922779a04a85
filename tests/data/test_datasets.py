"""Class-folder and list-file datasets, the loader, and how they report bad input."""

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from visionzoo.data.datasets import (
    FileListDataset,
    ImageFolderDataset,
    ImageReadError,
    UnreadableImageWarning,
    create_dataset,
    create_loader,
    find_images,
    load_image,
)
from visionzoo.data.transforms import create_transform


def _img(path, seed=0, size=(12, 10)):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr).save(path)
    return path


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "train"
    _img(root / "dog" / "a.png", 1)
    _img(root / "dog" / "nested" / "b.jpg", 2)
    _img(root / "cat" / "c.png", 3)
    (root / "cat" / "notes.txt").write_text("not an image")
    _img(root / "cat" / ".hidden.png", 4)
    (root / "empty_class").mkdir()
    return root


def test_image_folder(tree):
    ds = ImageFolderDataset(tree, transform=create_transform(8))
    assert ds.classes == ["cat", "dog"]  # folders without images are not classes
    assert ds.class_to_idx == {"cat": 0, "dog": 1}
    assert [(p.split("train/")[1], t) for p, t in ds.samples] == [
        ("cat/c.png", 0),
        ("dog/a.png", 1),
        ("dog/nested/b.jpg", 1),
    ]
    x, y = ds[2]
    assert x.shape == (3, 8, 8) and y == 1
    assert ds.targets == [0, 1, 1]


def test_image_folder_fixed_class_map(tree):
    ds = ImageFolderDataset(tree, class_to_idx={"dog": 0, "cat": 1, "bird": 2})
    assert ds.classes == ["dog", "cat", "bird"]
    assert sorted(t for _, t in ds.samples) == [0, 0, 1]
    with pytest.raises(ValueError, match=r"class folder\(s\) \['dog'\] .* not in the given class_to_idx"):
        ImageFolderDataset(tree, class_to_idx={"cat": 0})


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset folder not found"):
        ImageFolderDataset(tmp_path / "nope")
    f = _img(tmp_path / "x.png")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        ImageFolderDataset(f)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images found in class sub-folders"):
        ImageFolderDataset(tmp_path / "empty")
    # images directly in the root: the message says how to lay them out
    with pytest.raises(ValueError, match="1 images lie directly in it"):
        ImageFolderDataset(tmp_path)


def test_file_list_csv_with_header_and_names(tmp_path):
    _img(tmp_path / "imgs" / "1.png")
    _img(tmp_path / "imgs" / "2.png")
    lst = tmp_path / "list.csv"
    lst.write_text("path,label\nimgs/1.png,zebra\n\n# comment\nimgs/2.png,ant\n")
    ds = FileListDataset(lst)
    assert ds.classes == ["ant", "zebra"]
    assert [t for _, t in ds.samples] == [1, 0]
    assert ds[0][0].size == (12, 10)


def test_file_list_txt_indices_and_root(tmp_path):
    _img(tmp_path / "data" / "my image.png")
    lst = tmp_path / "lists" / "val.txt"
    lst.parent.mkdir()
    lst.write_text("my image.png 3\n")
    ds = FileListDataset(lst, root=tmp_path / "data")
    assert ds.samples[0][1] == 3 and len(ds.classes) == 4


@pytest.mark.parametrize(
    "content,match",
    [
        ("a.png\n", "line 1 of .* is not 'path,label'"),
        ("a.doc,1\n", "line 1 .* 'a.doc' has an unknown image extension"),
        ("a.png,1\nb.png,cat\n", "mixes class indices and class names"),
        ("missing.png,0\n", "1 image\\(s\\) listed in .* do not exist"),
        ("# only a comment\n", "lists no images"),
    ],
)
def test_file_list_errors(tmp_path, content, match):
    _img(tmp_path / "a.png")
    _img(tmp_path / "b.png")
    lst = tmp_path / "l.csv"
    lst.write_text(content)
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        FileListDataset(lst)


def test_file_list_label_mismatch_and_file_type(tmp_path):
    _img(tmp_path / "a.png")
    lst = tmp_path / "l.csv"
    lst.write_text("a.png,cat\n")
    with pytest.raises(ValueError, match="label 'cat' on line 1 .* is not a known class"):
        FileListDataset(lst, class_to_idx={"dog": 0})
    lst.write_text("a.png,5\n")
    with pytest.raises(ValueError, match="class index 5 but only 2 classes"):
        FileListDataset(lst, class_to_idx={"dog": 0, "cat": 1})
    other = tmp_path / "l.json"
    other.write_text("{}")
    with pytest.raises(ValueError, match="must end in one of"):
        FileListDataset(other)
    with pytest.raises(ValueError, match="unknown dataset file type '.json'"):
        create_dataset(other)


def test_create_dataset_splits(tree, tmp_path):
    assert isinstance(create_dataset(tmp_path, split="train"), ImageFolderDataset)
    _img(tmp_path / "validation" / "cat" / "v.png")
    val = create_dataset(tmp_path, split="val", class_to_idx={"cat": 0, "dog": 1})
    assert val.samples[0][1] == 0
    with pytest.raises(FileNotFoundError, match="no split 'test'"):
        create_dataset(tmp_path, split="test")
    with pytest.raises(FileNotFoundError, match="dataset not found"):
        create_dataset(tmp_path / "nowhere")


def test_load_image_errors(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff not really a jpeg")
    with pytest.raises(ImageReadError, match="cannot read image .*broken.jpg"):
        load_image(bad)
    truncated = tmp_path / "truncated.png"
    data = _img(tmp_path / "full.png", size=(64, 64)).read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="truncated.png"):
        load_image(truncated)
    with pytest.raises(FileNotFoundError, match="image not found"):
        load_image(tmp_path / "none.png")
    assert [p.name for p in find_images(tmp_path)] == ["broken.jpg", "full.png", "truncated.png"]


@pytest.mark.parametrize("num_workers", [0, 1])
def test_loader_skips_and_counts_corrupt_images(tree, num_workers):
    (tree / "dog" / "corrupt.png").write_bytes(b"garbage")
    ds = ImageFolderDataset(tree, transform=create_transform(8))
    loader = create_loader(ds, batch_size=2, num_workers=num_workers)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        batches = list(loader)
    assert [x.shape[0] for x, _ in batches] == [2, 1]  # 4 samples, one dropped from the second batch
    assert [y.tolist() for _, y in batches] == [[0, 1], [1]]
    assert loader.num_skipped == 1 and loader.skipped[0].endswith("corrupt.png")
    assert any(
        issubclass(w.category, UnreadableImageWarning) and "corrupt.png" in str(w.message) for w in caught
    )


def test_loader_training_options(tree):
    ds = ImageFolderDataset(tree, transform=create_transform(8))
    loader = create_loader(ds, batch_size=2, is_training=True)
    assert len(loader) == 1  # drop_last when training
    torch.manual_seed(0)
    ((x, y),) = list(loader)
    assert x.shape == (2, 3, 8, 8)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        create_loader(ds, batch_size=0)
    with pytest.raises(ValueError, match="num_workers must be an int >= 0"):
        create_loader(ds, num_workers=-1)


def test_loader_with_own_sampler_keeps_its_order(tree):
    ds = ImageFolderDataset(tree, transform=create_transform(8))
    loader = create_loader(ds, batch_size=3, is_training=True, drop_last=False, sampler=[2, 0])
    ((x, y),) = list(loader)
    assert y.tolist() == [ds.samples[2][1], ds.samples[0][1]] == [1, 0]
