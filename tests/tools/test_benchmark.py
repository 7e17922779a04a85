import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from visionzoo.tools.benchmark import benchmark_model, format_benchmarks

from .conftest import assert_user_error
from .tiny_models import CNN_NAME, VIT_NAME


def _check_spread(s: dict) -> None:
    assert s["min"] <= s["median"] <= s["max"]
    assert s["min"] <= s["mean"] <= s["max"]
    assert s["std"] >= 0


def test_benchmark_inference_structure():
    r = benchmark_model(CNN_NAME, batch_size=4, num_warmup=1, num_iters=4)
    assert r["mode"] == "infer" and r["device"] == "cpu" and r["batch_size"] == 4
    assert r["input_size"] == [3, 32, 32]
    _check_spread(r["latency_ms"])
    _check_spread(r["img_per_s"])
    assert r["latency_ms"]["min"] > 0
    # img/s and latency describe the same runs
    assert r["img_per_s"]["max"] == pytest.approx(4 / (r["latency_ms"]["min"] / 1e3), rel=1e-6)
    assert r["peak_memory_mb"] > 50  # the process's resident set: torch alone is larger
    assert 0 <= r["peak_memory_above_start_mb"] < r["peak_memory_mb"]


def test_benchmark_cpu_peak_memory_sees_activations():
    # 64 x 8 x 128 x 128 float32 stem output alone is 32 MiB; warm-up allocations count too.
    # A fresh process: in a long-lived one, freed memory is reused and the resident peak need not grow.
    root = Path(__file__).resolve().parents[2]
    code = (
        f"import sys, json; sys.path.insert(0, {str(root)!r}); import tests.tools.tiny_models as t; "
        "from visionzoo.tools.benchmark import benchmark_model; "
        "print(json.dumps(benchmark_model(t.CNN_NAME, batch_size=64, img_size=256, num_warmup=1, num_iters=1)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["input_size"] == [3, 256, 256]
    assert r["peak_memory_above_start_mb"] > 16


def test_benchmark_train_amp_channels_last():
    r = benchmark_model(
        VIT_NAME,
        batch_size=2,
        img_size=64,
        train=True,
        amp=True,
        channels_last=True,
        num_warmup=1,
        num_iters=2,
    )
    assert r["mode"] == "train" and r["amp_dtype"] == "bfloat16" and r["channels_last"]
    assert r["input_size"] == [3, 64, 64]  # the ViT was built for 64x64 (8x8 patches)


def test_benchmark_table_has_a_row_per_model():
    results = [benchmark_model(n, batch_size=2, num_warmup=0, num_iters=2) for n in (CNN_NAME, VIT_NAME)]
    lines = format_benchmarks(results).splitlines()
    assert len(lines) == 4 and CNN_NAME in lines[2] and VIT_NAME in lines[3]


def test_benchmark_errors():
    with pytest.raises(ValueError, match="batch_size"):
        benchmark_model(CNN_NAME, batch_size=0)
    with pytest.raises(ValueError, match="num_iters"):
        benchmark_model(CNN_NAME, num_iters=0)
    with pytest.raises(ValueError, match="image size"):
        benchmark_model(CNN_NAME, img_size="12xx")
    with pytest.raises(ValueError, match="unknown model"):
        benchmark_model("no_such_model_xyz")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            benchmark_model(CNN_NAME, device="cuda")


def test_benchmark_cli_several_models(cli):
    code, out, err = cli(
        "benchmark",
        CNN_NAME,
        VIT_NAME,
        "--batch-size",
        "2",
        "--num-iters",
        "2",
        "--num-warmup",
        "0",
        "--device",
        "cpu",
        "--json",
    )
    assert code == 0, err
    data = json.loads(out)
    assert [d["model"] for d in data] == [CNN_NAME, VIT_NAME]
    code, out, _ = cli("benchmark", CNN_NAME, "--batch-size", "2", "--num-iters", "2", "--device", "cpu")
    assert code == 0 and "img/s" in out and CNN_NAME in out


def test_benchmark_cli_errors(cli):
    assert_user_error(cli("benchmark", CNN_NAME, "no_such_model_xyz"), "unknown model")
    assert_user_error(cli("benchmark", CNN_NAME, "--img-size", "0"), "image size")
    assert_user_error(cli("benchmark", CNN_NAME, "--img-size", "224x"), "image size")
    assert_user_error(cli("benchmark", CNN_NAME, "--batch-size", "-2", "--device", "cpu"), "batch_size")
    assert_user_error(cli("benchmark", CNN_NAME, "--device", "banana"), "device")


def test_benchmark_cuda():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    r = benchmark_model(CNN_NAME, batch_size=8, device="cuda", amp=True, num_warmup=1, num_iters=3)
    assert r["device"].startswith("cuda") and r["peak_memory_mb"] > 0 and r["amp_dtype"] == "float16"


def test_benchmark_error_types_wrong_type_vs_wrong_value():
    with pytest.raises(TypeError, match="batch_size must be an int"):
        benchmark_model(CNN_NAME, batch_size="4")
    with pytest.raises(TypeError, match="compile must be a bool"):
        benchmark_model(CNN_NAME, compile="yes")
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        benchmark_model(CNN_NAME, batch_size=0)
    with pytest.raises(ValueError, match="precision must be one of"):
        benchmark_model(CNN_NAME, precision="int4")
    with pytest.raises(ValueError, match="not supported on the CPU"):
        benchmark_model(CNN_NAME, precision="fp16", device="cpu")
    with pytest.raises(ValueError, match="not both"):
        benchmark_model(CNN_NAME, precision="bf16", amp=True)


def test_benchmark_precision_bf16_is_recorded():
    r = benchmark_model(CNN_NAME, batch_size=2, precision="bf16", num_warmup=0, num_iters=1)
    assert r["precision"] == "bf16" and r["amp"] and r["amp_dtype"] == "bfloat16"
    assert "bf16" in format_benchmarks([r])
