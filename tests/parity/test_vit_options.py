"""ViT options on the real architectures that use them, against timm (the oracle): loading SigLIP weights
into another pooling, FlexiViT patch-size resampling, position embeddings on non-square grids, and
features_only / forward_intermediates / dynamic_img_size / gradient checkpointing on one architecture of
each recipe (depth 2, small inputs). Also: predicting with a headless image tower is a clear error.
"""

from __future__ import annotations

import logging

import pytest
import torch
from safetensors.torch import save_file

import visionzoo
from tests.parity.vit_checks import check_outputs, fast_pair
from visionzoo.cli import main
from visionzoo.layers.patch_embed import resample_patch_embed

timm = pytest.importorskip("timm")


def _save(model: torch.nn.Module, path) -> str:
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return str(path)


def _timm_from_file(arch: str, path: str, **kwargs):
    return timm.create_model(arch, pretrained=True, pretrained_cfg_overlay=dict(file=path), **kwargs).eval()


@torch.no_grad()
@pytest.mark.parametrize("global_pool", ["avg", "token", ""])
def test_siglip_weights_load_into_another_pool_without_the_head(tmp_path, caplog, global_pool):
    """SigLIP's 'map' tower loaded with another global_pool: the attention-pool head is dropped (and
    named in the log), as timm does; the rest loads and matches timm's model."""
    arch = "vit_base_patch16_siglip_224"
    source = timm.create_model(arch, img_size=32, depth=2)
    path = _save(source, tmp_path / "siglip.safetensors")
    kw = dict(img_size=32, depth=2, global_pool=global_pool, fc_norm=False)  # keep the final norm as trained
    if global_pool == "token":
        kw["class_token"] = True  # a class token needs its own (fresh) weights: not in the checkpoint
        with pytest.raises(ValueError, match="position embedding"):
            visionzoo.create_model(arch, checkpoint_path=path, **kw)
        return
    theirs = _timm_from_file(arch, path, **kw)
    with caplog.at_level(logging.INFO, logger="visionzoo"):
        ours = visionzoo.create_model(arch, checkpoint_path=path, **kw).eval()
    assert ours.attn_pool is None
    assert "attn_pool.latent" in caplog.text and "attn_pool.mlp.fc2.weight" in caplog.text
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(ours(x), theirs(x), atol=1e-4, rtol=0)


def test_siglip_map_pool_keeps_its_head(tmp_path):
    arch = "vit_base_patch16_siglip_224"
    source = timm.create_model(arch, img_size=32, depth=1)
    path = _save(source, tmp_path / "siglip.safetensors")
    ours = visionzoo.create_model(arch, checkpoint_path=path, img_size=32, depth=1).eval()
    torch.testing.assert_close(ours.attn_pool.latent, source.attn_pool.latent)


@torch.no_grad()
@pytest.mark.parametrize("patch_size", [8, 12, 20])
def test_flexivit_patch_size_resampled_like_timm(tmp_path, patch_size):
    """A patch-16 FlexiViT checkpoint loaded at another patch size: the patch embedding is resampled
    (pseudo-inverse resize) and the position embedding follows the new grid, as in timm."""
    arch = "flexivit_small"
    source = timm.create_model(arch, img_size=80, depth=2)  # 5x5 grid of 16-px patches
    path = _save(source, tmp_path / "flexi.safetensors")
    kw = dict(img_size=80 if 80 % patch_size == 0 else 4 * patch_size, depth=2, patch_size=patch_size)
    theirs = _timm_from_file(arch, path, **kw)
    ours = visionzoo.create_model(arch, checkpoint_path=path, **kw).eval()
    assert ours.patch_embed.proj.weight.shape[-2:] == (patch_size, patch_size)
    torch.testing.assert_close(
        ours.patch_embed.proj.weight, theirs.patch_embed.proj.weight, atol=1e-4, rtol=0
    )
    side = kw["img_size"]
    x = torch.randn(1, 3, side, side)
    torch.testing.assert_close(ours(x), theirs(x), atol=1e-4, rtol=0)


def test_resample_patch_embed_matches_timm_on_a_non_square_kernel():
    weight = torch.randn(4, 3, 16, 16)
    ours = resample_patch_embed(weight, (10, 20))
    theirs = timm.layers.resample_patch_embed(weight, (10, 20))
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="conv kernel"):
        resample_patch_embed(weight[0], (8, 8))


@torch.no_grad()
@pytest.mark.parametrize(
    "arch, img_size",
    [
        ("vit_small_patch14_reg4_dinov2", (28, 112)),  # 4x4 -> 2x8: same token count, other shape
        ("vit_base_patch16_siglip_224", (32, 128)),
        ("vit_base_patch16_clip_224", (48, 96)),  # 4x4 -> 3x6
    ],
)
def test_pos_embed_resampled_to_a_non_square_grid(tmp_path, arch, img_size):
    """A square checkpoint loaded at a non-square size, even one with the same number of patches, gets
    its position embedding resampled to the new grid (compared with timm's resampling of it)."""
    patch = 14 if "patch14" in arch else 16
    source = timm.create_model(arch, img_size=4 * patch, depth=2)
    path = _save(source, tmp_path / "square.safetensors")
    ours = visionzoo.create_model(arch, checkpoint_path=path, img_size=img_size, depth=2).eval()
    grid = (img_size[0] // patch, img_size[1] // patch)
    prefix = 0 if ours.no_embed_class else ours.num_prefix_tokens
    want = timm.layers.resample_abs_pos_embed(
        source.pos_embed.detach(), new_size=grid, old_size=(4, 4), num_prefix_tokens=prefix
    )
    torch.testing.assert_close(ours.pos_embed, want, atol=1e-5, rtol=0)
    theirs = timm.create_model(arch, img_size=img_size, depth=2).eval()
    theirs.load_state_dict({**source.state_dict(), "pos_embed": want})
    x = torch.randn(1, 3, *img_size)
    torch.testing.assert_close(ours(x), theirs(x), atol=1e-4, rtol=0)


# one architecture per recipe: block type, norm, MLP, pooling and prefix tokens
RECIPES = [
    "vit_base_patch16_clip_quickgelu_224",  # pre-norm, LayerNorm eps 1e-5, QuickGELU
    "vit_base_patch16_siglip_224",  # map pooling, no class token
    "vit_base_patch16_siglip_gap_224",  # avg pooling without fc_norm
    "vit_small_patch14_reg4_dinov2",  # registers, layer scale, no class-token position
    "vit_giant_patch14_dinov2",  # packed SwiGLU
    "aimv2_large_patch14_224",  # SwiGLU, RMSNorm, patch-embed norm, no biases
    "beit3_base_patch16_224",  # scaled attention / MLP norms
    "vit_base_patch16_xp_224",  # parallel scaling block, qk norm, RMSNorm
    "vit_small_patch16_18x2_224",  # parallel branches
    "vit_base_patch16_rpn_224",  # post-norm
    "vit_base_patch16_radio_v3",  # 7 registers, no final norm
    "test_vit3",  # map pooling over the prefix tokens too
    "deit3_small_patch16_224",
]


def _patch(model) -> int:
    return model.patch_embed.patch_size[0]


@torch.no_grad()
@pytest.mark.parametrize("arch", RECIPES)
def test_recipe_dynamic_size_and_intermediates(arch):
    """dynamic_img_size on a non-square input, forward_intermediates (with prefix tokens) and
    features_only maps agree with timm's."""
    with torch.device("meta"):
        patch = visionzoo.create_model(arch).patch_embed.patch_size[0]
    ours, theirs = fast_pair(arch, depth=2, img_size=4 * patch, dynamic_img_size=True)
    x = torch.randn(1, 3, 2 * patch, 5 * patch)
    check_outputs(arch, ours, theirs, x)
    mine = ours.forward_intermediates(x, indices=[0, 1], return_prefix_tokens=True, intermediates_only=True)
    ref = theirs.forward_intermediates(x, indices=[0, 1], return_prefix_tokens=True, intermediates_only=True)
    if not ours.num_prefix_tokens:  # timm then gives the maps alone; ours (map, empty prefix) pairs
        assert all(p.shape[1] == 0 for _, p in mine)
        ref = [(t, torch.zeros(1, 0, ours.embed_dim)) for t in ref]
    for (m_map, m_prefix), (t_map, t_prefix) in zip(mine, ref):
        assert m_map.shape == t_map.shape == (1, ours.embed_dim, 2, 5)
        torch.testing.assert_close(m_map, t_map, atol=1e-4, rtol=0)
        torch.testing.assert_close(m_prefix, t_prefix, atol=1e-4, rtol=0)
    feats = visionzoo.create_model(arch, features_only=True, depth=2, img_size=4 * patch, out_indices=(0, 1))
    feats.model.load_state_dict({k: v for k, v in ours.state_dict().items() if k in feats.model.state_dict()})
    maps = feats.eval()(torch.randn(1, 3, 4 * patch, 4 * patch))
    assert [tuple(m.shape) for m in maps] == [(1, ours.embed_dim, 4, 4)] * 2
    assert feats.feature_info.channels() == [ours.embed_dim] * 2


@pytest.mark.parametrize("arch", RECIPES[::3])
def test_recipe_grad_checkpointing_same_gradients(arch):
    with torch.device("meta"):
        patch = visionzoo.create_model(arch).patch_embed.patch_size[0]
    model = visionzoo.create_model(arch, depth=2, img_size=2 * patch).train()
    x = torch.randn(2, 3, 2 * patch, 2 * patch)
    model(x).float().pow(2).mean().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    model.set_grad_checkpointing(True)
    model(x).float().pow(2).mean().backward()
    assert grads
    for n, p in model.named_parameters():
        if n in grads:
            torch.testing.assert_close(p.grad, grads[n], atol=1e-5, rtol=1e-4)


def test_predict_on_a_headless_tower_says_how_to_attach_a_head(tmp_path, capsys):
    """A DINOv2 tower (num_classes=0) cannot classify: a one-line error, before any weights are fetched."""
    from PIL import Image

    img = tmp_path / "x.png"
    Image.new("RGB", (32, 32)).save(img)
    with pytest.raises(ValueError, match=r"no classifier \(num_classes=0\).*num_classes=N.*fine-tune"):
        visionzoo.predict("vit_small_patch14_dinov2.lvd142m", str(img))
    assert main(["predict", "vit_so400m_patch14_siglip_384.webli", str(img)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "num_classes=N" in err


@torch.no_grad()
def test_headless_tower_gives_pooled_embeddings():
    ours, theirs = fast_pair("vit_small_patch14_dinov2", img_size=28, depth=2)
    assert ours.num_classes == 0
    x = torch.randn(2, 3, 28, 28)
    out = ours(x)
    assert out.shape == (2, 384)
    torch.testing.assert_close(out, theirs(x), atol=1e-4, rtol=0)


@torch.no_grad()
def test_ijepa_release_layout_loads(tmp_path):
    """An I-JEPA release ({'encoder': {'module.' + key: ...}, 'predictor': ..., 'epoch': ...}) loads
    through its tag's cfg (state_dict_key='encoder') and the family filter (which strips 'module.')."""
    source = timm.create_model("vit_huge_patch14_gap_224", img_size=28, depth=1).eval()
    path = tmp_path / "ijepa.pth.tar"
    encoder = {f"module.{k}": v for k, v in source.state_dict().items()}
    torch.save({"encoder": encoder, "predictor": {"module.x": torch.zeros(1)}, "epoch": 3}, path)
    ours = visionzoo.create_model(
        "vit_huge_patch14_gap_224.in1k_ijepa",
        pretrained=True,
        pretrained_cfg_overlay=dict(file=str(path)),
        img_size=28,
        depth=1,
    ).eval()
    x = torch.randn(1, 3, 28, 28)
    torch.testing.assert_close(ours(x), source(x), atol=1e-4, rtol=0)
