"""resolve_device: one-line errors for devices this machine does not have."""

import pytest
import torch

from visionzoo.utils.device import resolve_device


def test_cpu_and_default():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert isinstance(resolve_device(None), torch.device)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_missing_cuda_is_a_value_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")


def test_bad_device():
    with pytest.raises(ValueError, match="invalid device"):
        resolve_device("gpu0")
    with pytest.raises(TypeError):
        resolve_device(3.5)
    with pytest.raises(ValueError, match="must be one of cpu"):
        resolve_device("meta", allowed=("cpu",))
