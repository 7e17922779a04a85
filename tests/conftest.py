import os

import pytest
import torch

# Under pytest-xdist each worker gets one core's worth of threads: on small tensors two workers with one
# thread each finish far sooner than one worker whose two threads wait on each other.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)

# Tests must never reach a model hub: anything that tries fails fast and visibly.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield
