import os

import pytest
import torch

# Tests must never reach a model hub: anything that tries fails fast and visibly.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield
