"""Training on real data (scikit-learn's digits): learning, fine-tuning, resume, bad data, saving."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import visionzoo
from visionzoo.train import TrainConfig, train
from visionzoo.train import trainer as trainer_mod

from ..tools.tiny_models import CNN_NAME

FAST = dict(img_size=32, batch_size=32, num_workers=0, hflip=0.0, scale=(0.5, 1.0), warmup_epochs=0.3)


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "last.pth", map_location="cpu", weights_only=True)["model"]


def test_resnet18_learns_digits(digits_dir, tmp_path):
    """Stated accuracy: resnet18 from scratch reaches >= 90% top-1 on held-out digits in 2 epochs."""
    res = train(
        TrainConfig(model="resnet18", data=str(digits_dir), epochs=2, lr=2e-3, output=str(tmp_path), **FAST)
    )
    assert res.best_top1 is not None and res.best_top1 >= 90.0, res.history
    run = res.run_dir
    for name in (
        "train_config.json",
        "metrics.json",
        "metrics.csv",
        "last.pth",
        "best.pth",
        "config.json",
        "model.safetensors",
    ):
        assert (run / name).is_file(), name
    history = json.loads((run / "metrics.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1]
    assert history[1]["train_loss"] < history[0]["train_loss"]
    assert (run / "metrics.csv").read_text().splitlines()[0].startswith("epoch,")

    # the run folder loads back, by checkpoint and as a local-dir, with its class names
    x = torch.randn(2, 3, 32, 32)
    by_ckpt = visionzoo.create_model("resnet18", num_classes=10, checkpoint_path=run / "best.pth").eval()
    by_dir = visionzoo.create_model(f"local-dir:{run}", pretrained=True).eval()
    with torch.no_grad():
        torch.testing.assert_close(by_ckpt(x), by_dir(x))
    assert list(by_dir.pretrained_cfg.label_names) == [str(i) for i in range(10)]


def test_pretrained_finetune_beats_scratch(small_digits_dir, tmp_path):
    """Same budget, same settings: the real ImageNet weights of tf_efficientnet_lite0 give better accuracy."""
    common = dict(
        model="tf_efficientnet_lite0",
        data=str(small_digits_dir),
        epochs=2,
        lr=1e-3,
        img_size=64,
        batch_size=16,
        num_workers=0,
        hflip=0.0,
        scale=(0.6, 1.0),
        warmup_epochs=0.2,
        output=str(tmp_path),
    )
    scratch = train(TrainConfig(run_name="scratch", pretrained=False, **common))
    tuned = train(TrainConfig(run_name="tuned", pretrained=True, **common))
    assert tuned.best_top1 > scratch.best_top1 + 10.0, (tuned.best_top1, scratch.best_top1)


def test_resume_continues_exactly(small_digits_dir, tmp_path):
    cfg = TrainConfig(
        model="resnet18",
        data=str(small_digits_dir),
        epochs=2,
        lr=1e-3,
        output=str(tmp_path),
        run_name="full",
        **FAST,
    )
    full = train(cfg)
    # an interrupted run: the same job stopped after its first epoch, then resumed
    first = train(cfg, run_name="split", epochs=2, max_epochs_this_run=1)
    assert len(first.history) == 1
    resumed = train(cfg, run_name="split", resume=True)
    assert [h["epoch"] for h in resumed.history] == [0, 1]
    a, b = _weights(full.run_dir), _weights(resumed.run_dir)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=f"{k} differs after resume")


def test_killed_run_keeps_last_checkpoint_and_resumes(small_digits_dir, tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "visionzoo",
        "train",
        "resnet18",
        "--data",
        str(small_digits_dir),
        "--epochs",
        "30",
        "--img-size",
        "32",
        "-b",
        "32",
        "-j",
        "0",
        "--hflip",
        "0",
        "--output",
        str(tmp_path),
        "--run-name",
        "killed",
        "--no-progress",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    last = tmp_path / "killed" / "last.pth"
    deadline = time.time() + 300
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert last.exists(), proc.stderr.read().decode()[-2000:]
    state = torch.load(last, map_location="cpu", weights_only=True)
    assert state["epoch"] >= 0 and "model" in state
    resumed = train(
        TrainConfig(
            model="resnet18",
            data=str(small_digits_dir),
            epochs=state["epoch"] + 2,
            output=str(tmp_path),
            run_name="killed",
            resume=True,
            **FAST,
        )
    )
    assert resumed.history[-1]["epoch"] == state["epoch"] + 1
    assert not [p for p in last.parent.iterdir() if p.name.endswith(".tmp")], (
        "stale partial files left behind"
    )


def test_disk_full_keeps_previous_checkpoint(tmp_path, monkeypatch):
    target = tmp_path / "last.pth"
    trainer_mod.atomic_save({"v": torch.ones(3)}, target)

    def full_disk(obj, f):
        f.write(b"partial bytes")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(trainer_mod.torch, "save", full_disk)
    with pytest.raises(OSError, match="No space left"):
        trainer_mod.atomic_save({"v": torch.zeros(3)}, target)
    monkeypatch.undo()
    assert torch.equal(torch.load(target)["v"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pth"]


def test_corrupt_image_is_skipped_and_counted(small_digits_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(small_digits_dir, data)
    (data / "train" / "3" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    # 129 images in batches of 43: the sampler keeps every image, the broken one included
    opts = dict(FAST, batch_size=43)
    with pytest.warns(UserWarning, match="broken.png"):
        res = train(
            TrainConfig(model="resnet18", data=str(data), epochs=1, output=str(tmp_path / "out"), **opts)
        )
    assert res.skipped_images >= 1
    assert res.history[0]["skipped_images"] >= 1


def test_bad_data_errors(small_digits_dir, tmp_path):
    empty = tmp_path / "empty"
    (empty / "train").mkdir(parents=True)
    with pytest.raises((ValueError, FileNotFoundError), match="(?i)no .*image|empty"):
        train(TrainConfig(model="resnet18", data=str(empty), output=str(tmp_path / "o1"), **FAST))

    single = tmp_path / "single"
    shutil.copytree(small_digits_dir / "train" / "1", single / "train" / "1")
    with pytest.raises(ValueError, match="at least 2 classes"):
        train(TrainConfig(model="resnet18", data=str(single), output=str(tmp_path / "o2"), **FAST))

    with pytest.raises(ValueError, match="does not match the 10 class folders"):
        train(
            TrainConfig(
                model="resnet18",
                data=str(small_digits_dir),
                num_classes=5,
                output=str(tmp_path / "o3"),
                **FAST,
            )
        )
    with pytest.raises(FileNotFoundError, match="not found"):
        train(TrainConfig(model="resnet18", data=str(tmp_path / "nope"), output=str(tmp_path / "o4"), **FAST))
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        train(
            TrainConfig(
                model="resnet18", data=str(small_digits_dir), epochs=0, output=str(tmp_path / "o5"), **FAST
            )
        )


def test_existing_run_is_not_overwritten(small_digits_dir, tmp_path):
    cfg = TrainConfig(
        model="resnet18",
        data=str(small_digits_dir),
        epochs=1,
        output=str(tmp_path),
        run_name="r",
        max_steps_per_epoch=1,
        **FAST,
    )
    train(cfg)
    with pytest.raises(FileExistsError, match="--resume"):
        train(cfg)


def test_cli_train_and_validate(small_digits_dir, tmp_path):
    env = dict(os.environ)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "visionzoo",
            "train",
            "resnet18",
            "--data",
            str(small_digits_dir),
            "--epochs",
            "1",
            "--img-size",
            "32",
            "-b",
            "32",
            "-j",
            "0",
            "--output",
            str(tmp_path),
            "--run-name",
            "cli",
            "--json",
            "--ema-decay",
            "0.9",
            "--clip-grad",
            "1.0",
            "--accum-steps",
            "2",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["best_epoch"] == 0
    val = subprocess.run(
        [
            sys.executable,
            "-m",
            "visionzoo",
            "validate",
            f"local-dir:{tmp_path / 'cli'}",
            "--data",
            str(small_digits_dir),
            "--img-size",
            "32",
            "-j",
            "0",
            "--json",
            "--results-file",
            str(tmp_path / "r.csv"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert val.returncode == 0, val.stderr[-3000:]
    res = json.loads(val.stdout)
    assert res["num_images"] == 64 and set(res["per_class"]) <= {str(i) for i in range(10)}
    assert 0.0 <= res["top1"] <= res["top5"] <= 100.0
    assert (tmp_path / "r.csv").read_text().startswith("model,class,top1")
    bad = subprocess.run(
        [sys.executable, "-m", "visionzoo", "train", "resnet18", "--data", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert bad.returncode == 2 and "not found" in bad.stderr and "Traceback" not in bad.stderr


# --- hardening: unsafe or broken checkpoints, concurrent runs, impossible options ------------------

TINY = dict(FAST, num_workers=0, max_steps_per_epoch=1)


def _cli(capsys, *argv: str) -> tuple[int, str]:
    from visionzoo.cli import main

    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse's usage errors
        code = e.code
    return code, capsys.readouterr().err


def _one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_resume_state_loads_weights_only_with_rng(small_digits_dir, tmp_path):
    import random

    res = train(
        TrainConfig(model=CNN_NAME, data=str(small_digits_dir), epochs=1, output=str(tmp_path), **TINY)
    )
    state = torch.load(res.run_dir / "last.pth", map_location="cpu", weights_only=True)
    assert {"optimizer", "scheduler", "scaler", "ema", "rng"} <= set(state)
    assert isinstance(state["rng"]["torch"], torch.Tensor)
    assert isinstance(state["rng"]["numpy"]["keys"], torch.Tensor)
    random.setstate((state["rng"]["python"][0], tuple(state["rng"]["python"][1]), state["rng"]["python"][2]))


def test_resume_refuses_a_pickle_payload(small_digits_dir, tmp_path, capsys):
    from visionzoo.weights.errors import UnsafeCheckpointError

    run = tmp_path / "evil"
    run.mkdir()
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"epoch": 0, "model": Payload()}, run / "last.pth")
    cfg = TrainConfig(model=CNN_NAME, data=str(small_digits_dir), output=str(tmp_path), run_name="evil",
                      resume=True, **TINY)  # fmt: skip
    with pytest.raises(UnsafeCheckpointError, match="unsafe"):
        train(cfg)
    assert not marker.exists()
    code, err = _cli(
        capsys, "train", CNN_NAME, "--data", str(small_digits_dir), "--output", str(tmp_path),
        "--run-name", "evil", "--resume", "--img-size", "32", "-j", "0",
    )  # fmt: skip
    assert code == 2 and "unsafe" in _one_line(err)
    assert not marker.exists()


def test_resume_from_a_truncated_checkpoint_is_one_line(small_digits_dir, tmp_path, capsys):
    res = train(TrainConfig(model=CNN_NAME, data=str(small_digits_dir), epochs=2, output=str(tmp_path),
                            run_name="cut", max_epochs_this_run=1, **TINY))  # fmt: skip
    last = res.run_dir / "last.pth"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    code, err = _cli(
        capsys, "train", CNN_NAME, "--data", str(small_digits_dir), "--output", str(tmp_path),
        "--run-name", "cut", "--resume", "--img-size", "32", "-j", "0", "--epochs", "2",
    )  # fmt: skip
    assert code == 2 and "truncated" in _one_line(err)


@pytest.mark.parametrize("option, value", [("--lr", "inf"), ("--warmup-epochs", "nan"), ("--clip-grad", "-inf"), ("--hflip", "nan"),
                                           ("--ema-decay", "nan"), ("--mixup", "inf")])  # fmt: skip
def test_non_finite_options_are_one_line(option, value, tmp_path, capsys):
    code, err = _cli(capsys, "train", CNN_NAME, "--data", str(tmp_path / "missing"), f"{option}={value}")
    line = _one_line(err)
    assert code == 2 and "finite" in line and option.lstrip("-").replace("-", "_") in line


def test_a_second_run_into_a_busy_folder_is_refused(small_digits_dir, tmp_path):
    from visionzoo.train.trainer import RunInUseError

    root = Path(__file__).resolve().parents[2]
    code = (
        f"import sys; sys.path.insert(0, {str(root)!r}); import tests.tools.tiny_models; "
        "from visionzoo.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    cmd = [sys.executable, "-c", code, "train", CNN_NAME, "--data", str(small_digits_dir), "--epochs", "100000",
           "--img-size", "32", "-j", "0", "--output", str(tmp_path), "--run-name", "busy", "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        last = tmp_path / "busy" / "last.pth"
        deadline = time.time() + 120
        while not last.exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert last.exists(), (
            proc.stderr.read().decode()[-2000:] if proc.poll() is not None else "no checkpoint"
        )
        cfg = TrainConfig(model=CNN_NAME, data=str(small_digits_dir), epochs=2, output=str(tmp_path),
                          run_name="busy", **TINY)  # fmt: skip
        for kwargs in (dict(resume=True), dict(overwrite=True), {}):
            with pytest.raises(RunInUseError, match=f"in use by another training run \\(pid {proc.pid}\\)"):
                train(cfg, **kwargs)
    finally:
        proc.kill()
        proc.wait()
    state = torch.load(last, map_location="cpu", weights_only=True)
    resumed = train(cfg, epochs=state["epoch"] + 2, resume=True)  # the dead run's lock is stale
    assert resumed.history[-1]["epoch"] == state["epoch"] + 1


def test_overwrite_starts_a_finished_run_afresh(small_digits_dir, tmp_path, capsys):
    cfg = TrainConfig(model=CNN_NAME, data=str(small_digits_dir), epochs=2, output=str(tmp_path), run_name="r",
                      **TINY)  # fmt: skip
    train(cfg)
    with pytest.raises(FileExistsError, match="--overwrite"):
        train(cfg)
    again = train(cfg, epochs=1, overwrite=True)
    assert [h["epoch"] for h in again.history] == [0]
    assert torch.load(again.run_dir / "last.pth", weights_only=True)["epoch"] == 0
    with pytest.raises(ValueError, match="exclude each other"):
        train(cfg, overwrite=True, resume=True)
    code, err = _cli(capsys, "train", CNN_NAME, "--data", "d", "--resume", "--overwrite")
    assert code == 2 and "not allowed with" in _one_line(err)


def test_resume_reads_a_last_pth_of_the_older_format(small_digits_dir, tmp_path):
    """Files written before the RNG state was stored as tensors hold numpy's state tuple (an ndarray)."""
    import numpy as np

    cfg = TrainConfig(model=CNN_NAME, data=str(small_digits_dir), epochs=2, output=str(tmp_path), run_name="old",
                      **TINY)  # fmt: skip
    first = train(cfg, max_epochs_this_run=1)
    last = first.run_dir / "last.pth"
    state = torch.load(last, weights_only=True)
    state["rng"]["numpy"] = np.random.get_state()
    torch.save(state, last)
    with pytest.raises(Exception, match="Unsupported global"):
        torch.load(last, weights_only=True)  # the format this test is about
    resumed = train(cfg, resume=True)
    assert [h["epoch"] for h in resumed.history] == [0, 1]


def test_cli_train_starts_from_checkpoint(small_digits_dir, tmp_path, capsys):
    from ..tools.tiny_models import TinyCnn

    torch.manual_seed(5)
    start = TinyCnn().state_dict()
    torch.save(start, tmp_path / "w.pth")
    code, err = _cli(
        capsys, "train", CNN_NAME, "--data", str(small_digits_dir), "--checkpoint", str(tmp_path / "w.pth"),
        "--epochs", "1", "--lr", "1e-30", "--img-size", "32x32", "-j", "0", "--output", str(tmp_path),
        "--run-name", "ck", "--max-steps-per-epoch", "1", "--precision", "fp32", "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    trained = _weights(tmp_path / "ck")
    for k, v in start.items():
        if "running_" not in k and "num_batches" not in k:  # batch-norm statistics move even at lr ~ 0
            torch.testing.assert_close(trained[k], v, msg=k)
