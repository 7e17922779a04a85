import os
import sys

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from visionzoo import create_model
from visionzoo.tools.visualize import (
    load_image_tensor,
    plot_feature_maps,
    plot_pos_embed,
    pos_embed_similarity,
)

from .conftest import assert_user_error
from .tiny_models import CNN_NAME, VIT_NAME, TinyVit

pytest.importorskip("matplotlib")


def assert_png_not_blank(path, min_side: int = 200) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert min(im.size) >= min_side and max(im.size) < 5000
        pixels = np.asarray(im.convert("RGB"), dtype=np.float32)
    assert pixels.std() > 20  # a blank or single-colour figure has (near) zero spread
    return pixels


@pytest.fixture
def image_file(tmp_path):
    im = Image.new("RGB", (80, 60), (30, 60, 200))
    draw = ImageDraw.Draw(im)
    draw.ellipse((10, 10, 50, 50), fill=(250, 200, 0))
    draw.rectangle((55, 5, 75, 55), fill=(200, 20, 20))
    path = tmp_path / "in.png"
    im.save(path)
    return path


def _grid_embeddings(gh: int, gw: int, dim: int = 16) -> torch.Tensor:
    """Smooth 2-D sinusoidal embeddings: neighbours similar, far patches less so. [gh*gw, dim]"""
    ii, jj = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
    f = torch.arange(dim // 4).float() + 1
    parts = [torch.sin(ii[..., None] * 0.4 * f), torch.cos(ii[..., None] * 0.4 * f)]
    parts += [torch.sin(jj[..., None] * 0.4 * f), torch.cos(jj[..., None] * 0.4 * f)]
    return torch.cat(parts, -1).reshape(gh * gw, dim)


def test_similarity_of_orthogonal_embeddings_is_identity():
    model = TinyVit(img_size=32)  # 4x4 grid, dim 16: one-hot embeddings are orthogonal
    with torch.no_grad():
        model.pos_embed[0, 0] = 5.0  # class token: must be ignored
        model.pos_embed[0, 1:] = torch.eye(16)
    sim = pos_embed_similarity(model)
    assert sim.shape == (4, 4, 4, 4)
    torch.testing.assert_close(sim.reshape(16, 16), torch.eye(16))


def test_similarity_non_square_grid_and_values():
    model = TinyVit(img_size=(32, 48))  # 4x6 grid
    emb = _grid_embeddings(4, 6)
    with torch.no_grad():
        model.pos_embed[0, 1:] = emb
    sim = pos_embed_similarity(model)
    assert sim.shape == (4, 6, 4, 6)
    # entry [1, 2, 3, 5]: cosine of patch (1, 2) and patch (3, 5)
    a, b = emb[1 * 6 + 2], emb[3 * 6 + 5]
    assert sim[1, 2, 3, 5].item() == pytest.approx((a @ b / (a.norm() * b.norm())).item(), abs=1e-6)
    assert torch.allclose(sim[2, 3, 2, 3], torch.tensor(1.0))


def test_pos_embed_figure(tmp_path):
    model = TinyVit(img_size=80)  # 10x10 grid
    with torch.no_grad():
        model.pos_embed[0, 1:] = _grid_embeddings(10, 10)
    out = plot_pos_embed(model, tmp_path / "pos.png")
    assert out == tmp_path / "pos.png"
    assert_png_not_blank(out)
    assert os.listdir(tmp_path) == ["pos.png"]


def test_pos_embed_real_vit_any_grid(tmp_path):
    pytest.importorskip("visionzoo.models.vision_transformer")
    model = create_model("vit_tiny_patch16_224", img_size=160)
    assert pos_embed_similarity(model).shape == (10, 10, 10, 10)
    plot_pos_embed("vit_tiny_patch16_224", tmp_path / "vit.png", img_size=160)
    assert_png_not_blank(tmp_path / "vit.png")


def test_pos_embed_deit_two_prefix_tokens():
    pytest.importorskip("visionzoo.models.deit")
    model = create_model("deit_tiny_distilled_patch16_224", img_size=64)
    assert model.pos_embed.shape[1] == 2 + 16
    assert pos_embed_similarity(model).shape == (4, 4, 4, 4)


def test_pos_embed_errors(tmp_path):
    with pytest.raises(ValueError, match="no learned absolute position embedding"):
        pos_embed_similarity(create_model(CNN_NAME))
    with pytest.raises(ValueError, match="has no pretrained weights"):
        plot_pos_embed(VIT_NAME, tmp_path / "x.png", pretrained=True)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        plot_pos_embed(VIT_NAME, tmp_path / "missing" / "x.png")
    assert os.listdir(tmp_path) == []


def test_pos_embed_swin_has_none():
    pytest.importorskip("visionzoo.models.swin_transformer")
    with pytest.raises(ValueError, match="no learned absolute position embedding"):
        pos_embed_similarity(create_model("swin_tiny_patch4_window7_224"))


def test_feature_maps_figure(tmp_path, image_file):
    out = plot_feature_maps(CNN_NAME, image_file, tmp_path / "feat.png", img_size=64)
    assert_png_not_blank(out)


def test_feature_maps_real_family(tmp_path, image_file):
    pytest.importorskip("visionzoo.models.resnet")
    out = plot_feature_maps("resnet18", image_file, tmp_path / "r.png", img_size=64, num_channels=2)
    assert_png_not_blank(out)


def test_load_image_tensor_normalises(image_file):
    x, shown = load_image_tensor(image_file, (3, 32, 32))
    assert x.shape == (1, 3, 32, 32) and shown.size == (32, 32)
    # the centre of the crop is inside the yellow disc: R=250 -> (250/255 - 0.485) / 0.229
    assert x[0, 0, 16, 12].item() == pytest.approx((250 / 255 - 0.485) / 0.229, abs=0.05)


def test_feature_maps_errors(tmp_path, image_file):
    with pytest.raises(FileNotFoundError, match="not found"):
        plot_feature_maps(CNN_NAME, tmp_path / "nope.jpg", tmp_path / "f.png")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(ValueError, match="cannot read image"):
        plot_feature_maps(CNN_NAME, bad, tmp_path / "f.png")
    with pytest.raises(ValueError, match="features_only"):
        plot_feature_maps(create_model(CNN_NAME), image_file, tmp_path / "f.png")
    with pytest.raises(ValueError, match="num_channels"):
        plot_feature_maps(CNN_NAME, image_file, tmp_path / "f.png", num_channels=-1)
    with pytest.raises(TypeError, match="num_channels must be an int"):
        plot_feature_maps(CNN_NAME, image_file, tmp_path / "f.png", num_channels=2.0)
    assert not (tmp_path / "f.png").exists()


def test_matplotlib_missing_names_the_extra(tmp_path, image_file, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install visionzoo\[plot\]"):
        plot_feature_maps(CNN_NAME, image_file, tmp_path / "f.png")


def test_visualize_cli(tmp_path, image_file, cli):
    ref = TinyVit(img_size=32)
    with torch.no_grad():
        ref.pos_embed[0, 1:] = _grid_embeddings(4, 4)
    ckpt = tmp_path / "vit.pth"
    torch.save(ref.state_dict(), ckpt)
    out = tmp_path / "pos.png"
    code, stdout, err = cli("visualize", "pos-embed", VIT_NAME, "-o", str(out), "--checkpoint", str(ckpt))
    assert code == 0, err
    assert str(out) in stdout
    assert_png_not_blank(out)
    out2 = tmp_path / "feat.png"
    code, _, err = cli("visualize", "features", CNN_NAME, str(image_file), "-o", str(out2), "--channels", "2")
    assert code == 0, err
    assert_png_not_blank(out2)


def test_visualize_cli_errors(tmp_path, image_file, cli, monkeypatch):
    out = str(tmp_path / "x.png")
    assert_user_error(
        cli("visualize", "pos-embed", CNN_NAME, "-o", out), "no learned absolute position embedding"
    )
    assert_user_error(cli("visualize", "pos-embed", "no_such_model_xyz", "-o", out), "unknown model")
    assert_user_error(
        cli("visualize", "pos-embed", VIT_NAME, "-o", out, "--pretrained"), "no pretrained weights"
    )
    assert_user_error(
        cli("visualize", "pos-embed", VIT_NAME, "-o", str(tmp_path / "d" / "x.png")), "does not exist"
    )
    assert_user_error(
        cli("visualize", "features", CNN_NAME, str(tmp_path / "no.jpg"), "-o", out), "not found"
    )
    assert_user_error(cli("visualize", "features", CNN_NAME, str(image_file), "-o", out, "--img-size", "-3"))
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert_user_error(cli("visualize", "features", CNN_NAME, str(image_file), "-o", out), "visionzoo[plot]")
    assert not os.path.exists(out)


def test_load_image_tensor_uses_the_models_preprocessing():
    """crop_mode, crop_pct, mean and std come from the model's cfg, as in predict."""
    from PIL import Image

    from visionzoo.weights.cfg import PretrainedCfg

    img = Image.new("RGB", (64, 32), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 4, 32))  # a red stripe along the left edge
    cfg = PretrainedCfg(
        architecture="x",
        tag="t",
        input_size=(3, 32, 32),
        crop_pct=1.0,
        crop_mode="squash",
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        interpolation="bilinear",
    )
    x, shown = load_image_tensor(img, (3, 32, 32), cfg)
    # squash keeps the whole width, so the red stripe is in the first column; a centre crop would cut it
    assert x[0, :, 16, 0].tolist() == pytest.approx([1.0, -1.0, -1.0], abs=1e-6)
    assert x[0, :, 16, 31].tolist() == pytest.approx([-1.0, -1.0, 1.0], abs=1e-6)
    assert shown.size == (32, 32)
