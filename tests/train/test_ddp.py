"""torchrun with 2 CPU processes on gloo trains to the same weights as one process with the same global batch."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import torch

from visionzoo.train import TrainConfig, train


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_processes_match_single_process(small_digits_dir, tmp_path):
    # convnext_atto has no BatchNorm, so per-rank batch statistics cannot differ from the global batch's
    common = [
        "--data",
        str(small_digits_dir),
        "--epochs",
        "1",
        "--img-size",
        "32",
        "-j",
        "0",
        "--no-aug",
        "--lr",
        "1e-3",
        "--output",
        str(tmp_path),
        "--no-progress",
        "--warmup-epochs",
        "0",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            str(_free_port()),
            "-m",
            "visionzoo",
            "train",
            "convnext_atto",
            "-b",
            "16",
            "--run-name",
            "ddp",
            *common,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    single = train(
        TrainConfig(
            model="convnext_atto",
            data=str(small_digits_dir),
            epochs=1,
            img_size=32,
            batch_size=32,
            num_workers=0,
            no_aug=True,
            lr=1e-3,
            warmup_epochs=0,
            output=str(tmp_path),
            run_name="single",
        )
    )
    ddp_state = torch.load(tmp_path / "ddp" / "last.pth", map_location="cpu", weights_only=False)
    one_state = torch.load(single.run_dir / "last.pth", map_location="cpu", weights_only=False)
    assert ddp_state["epoch"] == one_state["epoch"] == 0
    moved = 0
    for k, v in one_state["model"].items():
        torch.testing.assert_close(ddp_state["model"][k], v, rtol=1e-4, atol=1e-5, msg=f"{k} differs")
        moved += 1
    assert moved > 0
    # metrics were reduced across ranks: both runs saw all 64 validation images
    assert abs(ddp_state["history"][0]["val_top1"] - one_state["history"][0]["val_top1"]) < 1e-6
    # only rank 0 wrote: exactly one set of files
    names = sorted(p.name for p in (tmp_path / "ddp").iterdir())
    assert names.count("last.pth") == 1 and not [n for n in names if n.endswith(".tmp")]
