"""The command line's parsing and error reporting: options anywhere, one-line user errors, tracebacks
for bugs, odd file names, devices, checkpoints without downloads, and local-dir models."""

from __future__ import annotations

import csv
import http.server
import io
import json
import os
import threading
from pathlib import Path

import pytest
import torch
from PIL import Image

import visionzoo
from visionzoo.cli import build_parser, main
from visionzoo.registry import is_model, register_model
from visionzoo.tools.info import model_info
from visionzoo.weights.cfg import PretrainedCfg

from .conftest import assert_user_error
from .tiny_models import CNN_NAME, TinyCnn


def _image(path: Path) -> Path:
    Image.new("RGB", (40, 40), (200, 30, 90)).save(path, format="PNG")
    return path


# --- parsing ------------------------------------------------------------------------------------


def test_predict_options_between_model_and_images(cli, tmp_path):
    img = _image(tmp_path / "a.png")
    code, out, err = cli("predict", CNN_NAME, "--topk", "1", "--no-pretrained", str(img), "--device", "cpu")
    assert code == 0, err
    assert out.splitlines()[0] == str(img) and len(out.splitlines()) == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "m", "--data", "d"],
        ["validate", "m", "--data", "d"],
        ["benchmark", "m"],
        ["export", "m"],
        ["visualize", "features", "m", "img", "-o", "x.png"],
        ["visualize", "pos-embed", "m", "-o", "x.png"],
    ],
)
def test_img_size_takes_h_and_hxw_everywhere(argv):
    parser = build_parser()
    assert parser.parse_args([*argv, "--img-size", "224"]).img_size == (224, 224)
    assert parser.parse_args([*argv, "--img-size", "224x160"]).img_size == (224, 160)


def test_bad_img_size_is_one_line(cli):
    assert_user_error(cli("validate", "m", "--data", "d", "--img-size", "224x"), "image size", "--help")


@pytest.mark.parametrize("command", [["train", "m", "--data", "d"], ["validate", "m", "--data", "d"]])
def test_precision_and_the_old_amp_spelling(command, cli):
    from visionzoo.cli._common import amp_of

    parser = build_parser()
    assert amp_of(parser.parse_args([*command, "--precision", "bf16"])) == "bf16"
    assert amp_of(parser.parse_args([*command, "--precision", "fp32"])) is None
    assert amp_of(parser.parse_args([*command, "--amp", "fp16"])) == "fp16"  # hidden alias
    assert amp_of(parser.parse_args(command)) is None
    _, out, _ = cli(command[0], "--help")
    assert "--precision" in out and "--amp" not in out


def test_benchmark_precision_sets_the_autocast_dtype(cli):
    code, out, err = cli(
        "benchmark", CNN_NAME, "--precision", "bf16", "--device", "cpu", "--batch-size", "2",
        "--num-warmup", "0", "--num-iters", "1", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)[0]["amp"] is True and json.loads(out)[0]["amp_dtype"] == "bfloat16"
    _, out, _ = cli("benchmark", "--help")
    assert "--precision" in out and "--amp-dtype" not in out


# --- which errors are the user's -----------------------------------------------------------------


def test_internal_errors_keep_their_traceback(monkeypatch, cli):
    from visionzoo.tools import info

    def broken(*args, **kwargs):
        return {}["missing"]  # a bug: KeyError

    monkeypatch.setattr(info, "model_info", broken)
    with pytest.raises(KeyError):
        main(["info", CNN_NAME])
    monkeypatch.setattr(info, "model_info", lambda *a, **k: int("not a number"))  # not raised by visionzoo
    with pytest.raises(ValueError):
        main(["info", CNN_NAME])


def test_deliberate_errors_are_one_line(cli):
    assert_user_error(cli("info", "no_such_model_xyz"), "unknown model")
    assert_user_error(cli("info", "local-dir:/no/such/folder"), "not found")


def test_cuda_device_without_gpu_is_one_line(cli, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    img = _image(tmp_path / "a.png")
    assert_user_error(cli("predict", CNN_NAME, str(img), "--no-pretrained", "--device", "cuda"), "cuda")
    assert_user_error(cli("predict", CNN_NAME, str(img), "--no-pretrained", "--device", "gpu0"), "device")
    assert_user_error(cli("validate", CNN_NAME, "--data", str(tmp_path), "--device", "cuda:1"), "cuda")
    assert_user_error(cli("train", CNN_NAME, "--data", str(tmp_path), "--device", "cuda"), "cuda")


# --- file names that are not UTF-8 ----------------------------------------------------------------


def test_non_utf8_file_names_print_escaped(cli, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    raw = os.fsencode(folder) + b"/caf\xe9.png"  # Latin-1 bytes: not valid UTF-8
    _image(Path(os.fsdecode(raw)))
    name = os.fsdecode(raw)
    code, out, err = cli("predict", CNN_NAME, name, "--no-pretrained", "--topk", "2")
    assert code == 0, err
    assert out.splitlines()[0] == f"{folder}/caf\\xe9.png"
    code, out, err = cli(
        "predict", CNN_NAME, str(folder), "--no-pretrained", "--topk", "2", "--output", "csv"
    )
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["image"] for r in rows} == {f"{folder}/caf\\xe9.png"} and len(rows) == 2


# --- a checkpoint replaces the pretrained weights: nothing is downloaded --------------------------


class _CountingHandler(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802
        type(self).hits.append(self.path)
        self.send_error(404)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def remote_model():
    """A tiny model whose pretrained weights live on a local server that answers 404 and counts asks."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CountingHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    name = f"cli_remote_cnn_{server.server_address[1]}"
    cfg = PretrainedCfg(
        input_size=(3, 32, 32),
        num_classes=10,
        url=f"http://127.0.0.1:{server.server_address[1]}/weights.pth",
        license="mit",
    )
    if not is_model(name):
        register_model(lambda **kw: TinyCnn(**kw), name=name, model_cls=TinyCnn, pretrained_cfgs={"": cfg})
    yield name
    server.shutdown()


def test_checkpoint_is_used_without_downloading(remote_model, cli, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    torch.manual_seed(3)
    ckpt = tmp_path / "w.pth"
    torch.save(TinyCnn().state_dict(), ckpt)
    img = _image(tmp_path / "a.png")
    _CountingHandler.hits.clear()
    code, out, err = cli(
        "predict", remote_model, str(img), "--checkpoint", str(ckpt), "--json", "--topk", "10"
    )
    assert code == 0, err
    assert _CountingHandler.hits == []
    assert len(json.loads(out)[0]["predictions"]) == 10
    code, _, err = cli(
        "export", remote_model, "--checkpoint", str(ckpt), "--format", "torch-export", "-o",
        str(tmp_path / "m.pt2"),
    )  # fmt: skip
    assert code == 0, err
    assert _CountingHandler.hits == []
    ours = visionzoo.create_model(remote_model, checkpoint_path=ckpt).eval()
    x = torch.randn(1, 3, 32, 32)
    exported = torch.export.load(tmp_path / "m.pt2").module()
    torch.testing.assert_close(exported(x), ours(x))


# --- local-dir models -----------------------------------------------------------------------------


@pytest.fixture
def local_dir(tmp_path) -> tuple[str, torch.nn.Module]:
    from visionzoo.weights.save import save_pretrained

    torch.manual_seed(7)
    model = visionzoo.create_model(CNN_NAME, num_classes=4).eval()
    folder = tmp_path / "saved"
    save_pretrained(model, folder)
    return f"local-dir:{folder}", model


def test_info_on_local_dir(local_dir, cli):
    spec, model = local_dir
    info = model_info(spec)
    assert info["params"] == sum(p.numel() for p in model.parameters())
    assert info["num_classes"] == 4 and info["architecture"] == CNN_NAME
    code, out, err = cli("info", spec, "--json")
    assert code == 0, err
    assert json.loads(out)["num_classes"] == 4


def test_export_on_local_dir_uses_its_weights(local_dir, cli, tmp_path):
    spec, model = local_dir
    out = tmp_path / "m.pt2"
    code, _, err = cli("export", spec, "--format", "torch-export", "-o", str(out))
    assert code == 0, err
    x = torch.randn(1, 3, 32, 32)  # the exported batch size
    torch.testing.assert_close(torch.export.load(out).module()(x), model(x))
