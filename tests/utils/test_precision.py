"""Precision names: every spelling maps to one canonical name; bad ones are one-line errors."""

import pytest
import torch

from visionzoo.utils.precision import autocast, precision_dtype, resolve_precision


@pytest.mark.parametrize(
    "value,expected",
    [(None, "fp32"), ("BF16", "bf16"), ("bfloat16", "bf16"), (torch.float16, "fp16"), ("float32", "fp32")],
)
def test_spellings(value, expected):
    assert resolve_precision(value) == expected


def test_errors():
    with pytest.raises(ValueError, match="fp32, bf16, fp16"):
        resolve_precision("int4")
    with pytest.raises(TypeError):
        resolve_precision(16)
    with pytest.raises(ValueError, match="not supported on the CPU"):
        autocast("cpu", "fp16")


def test_autocast_runs_matmul_in_bf16():
    a = torch.randn(4, 4)
    with autocast("cpu", "bf16"):
        assert (a @ a).dtype == torch.bfloat16
    with autocast("cpu", "fp32"):
        assert (a @ a).dtype == torch.float32
    assert precision_dtype("bf16") is torch.bfloat16
