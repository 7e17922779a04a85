import json
import os
import sys

import numpy as np
import pytest
import torch
from torch import nn

from visionzoo import create_model
from visionzoo.tools.export import ExportError, ExportVerificationError, export_model

from .conftest import assert_user_error
from .tiny_models import CNN_NAME, VIT_NAME, TinyCnn


@pytest.mark.parametrize("fmt", ["onnx", "torch-export"])
def test_export_writes_and_verifies(tmp_path, fmt):
    out = tmp_path / f"m.{fmt}"
    r = export_model(VIT_NAME, out, format=fmt)
    assert out.is_file() and out.stat().st_size == r["file_size"] > 1000
    assert r["max_abs_diff"] <= 1e-4 and r["checked_batch_sizes"] == [2, 3]  # dynamic by default
    assert sorted(os.listdir(tmp_path)) == [out.name]  # no temp files left


def _onnx_run(path, x):
    import onnxruntime

    sess = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]


def test_onnx_dynamic_batch_runs_other_batch_sizes(tmp_path):
    out = tmp_path / "cnn.onnx"
    r = export_model(CNN_NAME, out, format="onnx", dynamic_batch=True)
    assert r["checked_batch_sizes"] == [2, 3]
    assert _onnx_run(out, torch.randn(5, 3, 32, 32)).shape == (5, 10)


def test_onnx_static_batch_is_fixed(tmp_path):
    out = tmp_path / "cnn.onnx"
    export_model(CNN_NAME, out, format="onnx", batch_size=2, dynamic_batch=False)
    with pytest.raises(Exception):  # noqa: B017 - onnxruntime's own error type
        _onnx_run(out, torch.randn(3, 3, 32, 32))


def test_torch_export_dynamic_batch(tmp_path):
    out = tmp_path / "cnn.pt2"
    export_model(CNN_NAME, out, format="torch-export", dynamic_batch=True)
    module = torch.export.load(out).module()
    assert module(torch.randn(5, 3, 32, 32)).shape == (5, 10)


def test_export_loads_checkpoint(tmp_path):
    ref = TinyCnn().eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.uniform_(-0.5, 0.5)
    ckpt = tmp_path / "weights.pth"
    torch.save(ref.state_dict(), ckpt)
    out = tmp_path / "cnn.onnx"
    export_model(CNN_NAME, out, checkpoint_path=ckpt)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        expected = ref(x).numpy()
    np.testing.assert_allclose(_onnx_run(out, x), expected, atol=1e-5)


def test_export_img_size(tmp_path):
    r = export_model(VIT_NAME, tmp_path / "v.pt2", format="torch-export", img_size=48)
    assert r["input_size"] == [3, 48, 48]


class _Drifting(nn.Module):
    """Adds how many times it has been called: the traced graph freezes one count, eager keeps counting."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.lin(x.mean((2, 3))) + self.calls


@pytest.mark.parametrize("fmt", ["onnx", "torch-export"])
def test_verification_failure_writes_nothing(tmp_path, fmt):
    out = tmp_path / "drift.bin"
    with pytest.raises(ExportVerificationError, match="differs from the eager model"):
        export_model(_Drifting(), out, format=fmt, img_size=8)
    assert os.listdir(tmp_path) == []


def test_export_failure_is_clear_and_writes_nothing(tmp_path):
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(1))

        def forward(self, x):
            if x.sum() > 0:  # data-dependent control flow
                return x * self.w
            return x

    with pytest.raises(ExportError, match="cannot export Branchy to torch-export"):
        export_model(Branchy(), tmp_path / "b.pt2", format="torch-export", img_size=4)
    assert os.listdir(tmp_path) == []


def test_export_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="format must be one of"):
        export_model(CNN_NAME, tmp_path / "x", format="tflite")
    with pytest.raises(ValueError, match="opset"):
        export_model(CNN_NAME, tmp_path / "x", format="torch-export", opset=17)
    with pytest.raises(ValueError, match="opset"):
        export_model(CNN_NAME, tmp_path / "x", opset=3)
    with pytest.raises(ValueError, match="tolerance"):
        export_model(CNN_NAME, tmp_path / "x", tolerance=-1.0)
    with pytest.raises(ValueError, match="unknown model"):
        export_model("no_such_model_xyz", tmp_path / "x")
    with pytest.raises(ValueError, match="image size"):
        export_model(CNN_NAME, tmp_path / "x", img_size="32y32")
    with pytest.raises(ValueError, match="has no pretrained weights"):
        export_model(CNN_NAME, tmp_path / "x", pretrained=True)
    with pytest.raises(FileNotFoundError, match="checkpoint file not found"):
        export_model(CNN_NAME, tmp_path / "x", checkpoint_path=tmp_path / "missing.pth")
    with pytest.raises(ValueError, match="cannot run"):
        export_model(create_model(VIT_NAME), tmp_path / "x", img_size=48)  # fixed 32x32 pos embed
    assert os.listdir(tmp_path) == []


def test_export_output_path_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export_model(CNN_NAME, tmp_path / "no" / "dir" / "m.onnx")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        export_model(CNN_NAME, tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="not a directory"):
        export_model(CNN_NAME, tmp_path / "file" / "m.onnx")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can write anywhere")
def test_export_read_only_dir(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    with pytest.raises(PermissionError, match="permission denied"):
        export_model(CNN_NAME, ro / "m.onnx")


def test_onnx_missing_dependency_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now fails as if not installed
    with pytest.raises(ImportError, match=r"pip install visionzoo\[export\]"):
        export_model(CNN_NAME, tmp_path / "m.onnx")


def test_export_cli(tmp_path, cli):
    out = tmp_path / "cnn.pt2"
    code, stdout, err = cli("export", CNN_NAME, "--format", "torch-export", "-o", str(out), "--json")
    assert code == 0, err
    data = json.loads(stdout)
    assert data["path"] == str(out) and out.is_file() and data["max_abs_diff"] <= data["tolerance"]
    code, stdout, _ = cli("export", CNN_NAME, "--format", "torch-export", "-o", str(out), "--dynamic-batch")
    assert code == 0 and "verified at batch size(s) 2, 3" in stdout


def test_export_cli_errors(tmp_path, cli, monkeypatch):
    out = str(tmp_path / "m.onnx")
    assert_user_error(cli("export", "no_such_model_xyz", "-o", out), "unknown model")
    assert_user_error(
        cli("export", CNN_NAME, "-o", out, "--pretrained"), "no pretrained weights", "--checkpoint"
    )
    assert_user_error(cli("export", CNN_NAME, "-o", str(tmp_path / "nodir" / "m.onnx")), "does not exist")
    assert_user_error(cli("export", CNN_NAME, "-o", out, "--img-size", "abc"), "image size")
    assert_user_error(
        cli("export", CNN_NAME, "-o", out, "--checkpoint", str(tmp_path / "nope.pth")), "not found"
    )
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    assert_user_error(cli("export", CNN_NAME, "-o", out), "pip install visionzoo[export]")
    assert os.listdir(tmp_path) == []


def test_sdpa_math_matches_torch():
    from visionzoo.tools.export import _sdpa_math

    q, k, v = torch.randn(2, 3, 4, 5, 8), torch.randn(2, 3, 4, 6, 8), torch.randn(2, 3, 4, 6, 7)  # 5-D
    mask = torch.randn(4, 5, 6)
    bool_mask = torch.rand(5, 6) > 0.3
    bool_mask[:, 0] = True  # every query keeps one key
    F = torch.nn.functional
    torch.testing.assert_close(_sdpa_math(q, k, v), F.scaled_dot_product_attention(q, k, v))
    torch.testing.assert_close(_sdpa_math(q, k, v, mask), F.scaled_dot_product_attention(q, k, v, mask))
    torch.testing.assert_close(
        _sdpa_math(q, k, v, bool_mask, scale=0.3),
        F.scaled_dot_product_attention(q, k, v, bool_mask, scale=0.3),
    )
    q2 = torch.randn(2, 3, 6, 8)
    torch.testing.assert_close(
        _sdpa_math(q2, q2, q2, is_causal=True), F.scaled_dot_product_attention(q2, q2, q2, is_causal=True)
    )


class _WindowAttention(nn.Module):
    """Attention over 5-D [B, windows, heads, tokens, dim] tensors, as windowed transformers do."""

    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.randn(2, 4, 4))  # [heads, tokens, tokens]

    def forward(self, x):  # x [B, 3, 4, 4]
        t = torch.stack([x[:, :2], x[:, 1:]], 2)  # [B, 2 windows, 2 heads, 4 tokens, 4 dim]
        out = nn.functional.scaled_dot_product_attention(t, t, t, self.bias)
        return out.flatten(1)


def test_onnx_five_dim_attention_falls_back_to_matmul(tmp_path):
    r = export_model(_WindowAttention(), tmp_path / "w.onnx", dynamic_batch=True, img_size=4)
    assert r["max_abs_diff"] < 1e-5 and r["checked_batch_sizes"] == [2, 3]


def test_onnx_export_is_dynamic_by_default_and_checked_at_two_batch_sizes(tmp_path):
    pytest.importorskip("onnxruntime")
    import onnxruntime

    out = tmp_path / "m.onnx"
    r = export_model(CNN_NAME, out)
    assert r["dynamic_batch"] and r["checked_batch_sizes"] == [2, 3]
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    batch_dim = session.get_inputs()[0].shape[0]
    assert not isinstance(batch_dim, int), batch_dim  # a symbolic dimension, not a fixed size
    for b in (1, 5):
        assert session.run(None, {"input": torch.randn(b, 3, 32, 32).numpy()})[0].shape[0] == b


def test_cli_static_batch_and_old_flags(tmp_path, cli):
    out = tmp_path / "s.pt2"
    code, stdout, _ = cli("export", CNN_NAME, "--format", "torch-export", "-o", str(out), "--static-batch")
    assert code == 0 and "static batch" in stdout and "batch size(s) 1:" in stdout
    code, _, stderr = cli("export", CNN_NAME, "-o", str(out), "--static-batch", "--dynamic-batch")
    assert code == 2 and "contradict" in stderr


def test_old_checkpoint_keyword_still_works_with_a_warning(tmp_path):
    ckpt = tmp_path / "w.pth"
    torch.save(create_model(CNN_NAME).state_dict(), ckpt)
    with pytest.warns(DeprecationWarning, match="checkpoint_path"):
        r = export_model(CNN_NAME, tmp_path / "c.pt2", format="torch-export", checkpoint=ckpt)
    assert r["max_abs_diff"] <= 1e-4
