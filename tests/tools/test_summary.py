import json

import pytest
import torch

from visionzoo import create_model
from visionzoo.tools.summary import model_summary

from .conftest import assert_user_error
from .tiny_models import CNN_NAME, VIT_NAME


def _row(summary, name):
    return next(r for r in summary.rows if r.name == name)


def test_summary_shapes_and_params():
    s = model_summary(CNN_NAME, depth=2)
    assert s.input_size == (1, 3, 32, 32)
    assert _row(s, "stem").output_shape == [1, 8, 16, 16]
    assert _row(s, "stem.0").params == 8 * 3 * 9 + 8
    assert _row(s, "stages.1").output_shape == [1, 32, 4, 4]
    assert _row(s, "head").output_shape == [1, 10]
    assert s.output_shape == [1, 10]
    assert s.total_params == 6474
    # parents come before their children, in execution order
    names = [r.name for r in s.rows]
    assert names.index("stem") < names.index("stem.0") < names.index("stages.0") < names.index("head")
    assert max(r.depth for r in s.rows) == 2


def test_summary_depth_limits_rows():
    s = model_summary(CNN_NAME, depth=1)
    assert {r.name for r in s.rows} == {"stem", "head"}  # stages is a ModuleList: never called itself


def test_summary_input_size_and_batch():
    s = model_summary(CNN_NAME, input_size=(3, 64, 48), batch_size=2)
    assert _row(s, "stem").output_shape == [2, 8, 32, 24]


def test_summary_follows_model_dtype():
    model = create_model(VIT_NAME, dtype=torch.bfloat16)
    s = model_summary(model, depth=1)
    assert s.dtype == "bfloat16"
    assert _row(s, "patch_embed").output_shape == [1, 16, 4, 4]


def test_summary_features_only():
    s = model_summary(CNN_NAME, features_only=True, depth=2, input_size=(3, 64, 64))
    assert s.output_shape == [[1, 8, 32, 32], [1, 16, 16, 16], [1, 32, 8, 8]]
    assert _row(s, "model.stages.0").output_shape == [1, 16, 16, 16]
    assert not any(r.name.endswith("head") and r.type == "Linear" for r in s.rows)


def test_summary_text_and_dict():
    s = model_summary(CNN_NAME, depth=2)
    text = str(s)
    assert "stages.1 (Sequential)" in text and "[1, 32, 4, 4]" in text and "6,474" in text
    d = s.to_dict()
    assert d["total_params"] == 6474 and len(d["layers"]) == len(s.rows)


def test_summary_errors():
    with pytest.raises(ValueError, match="depth"):
        model_summary(CNN_NAME, depth=0)
    with pytest.raises(ValueError, match="input size"):
        model_summary(CNN_NAME, input_size=(3, 32))
    with pytest.raises(ValueError, match="cannot run"):
        model_summary(create_model(VIT_NAME), input_size=(3, 48, 48))  # fixed 32x32 pos embed
    with pytest.raises(TypeError, match="model name or an nn.Module"):
        model_summary(3)


def test_summary_real_family():
    pytest.importorskip("visionzoo.models.resnet")
    s = model_summary("resnet18", input_size=(3, 64, 64), depth=1)
    assert _row(s, "layer4").output_shape == [1, 512, 2, 2]
    assert s.total_params == 11_689_512


def test_summary_cli(cli):
    code, out, err = cli("summary", CNN_NAME, "--depth", "1", "--json")
    assert code == 0, err
    assert json.loads(out)["output_shape"] == [1, 10]
    code, out, _ = cli("summary", CNN_NAME, "--features-only", "--dtype", "bfloat16")
    assert code == 0 and "bfloat16" in out


def test_summary_cli_errors(cli):
    assert_user_error(cli("summary", "no_such_model_xyz"), "unknown model")
    assert_user_error(cli("summary", CNN_NAME, "--input-size", "3", "32", "x"), "input size")
    assert_user_error(cli("summary", CNN_NAME, "--depth", "0"), "depth")
    assert_user_error(
        cli("summary", CNN_NAME, "--device", "cuda:99" if not torch.cuda.is_available() else "tpu")
    )


def test_summary_wrong_type_is_type_error_wrong_value_is_value_error():
    with pytest.raises(TypeError, match="depth must be an int"):
        model_summary(CNN_NAME, depth=2.0)
    with pytest.raises(TypeError, match="batch_size must be an int"):
        model_summary(CNN_NAME, batch_size=True)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        model_summary(CNN_NAME, batch_size=0)
