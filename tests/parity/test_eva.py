"""EVA family (EVA, EVA02, DINOv3, Perception Encoder, RoPE-ViT, SBB, LingBot, Sapiens2) against timm.

timm is the oracle: its model's weights load into ours with strict=True, and forward, forward_features
and forward_head(pre_logits=True) agree to 1e-4 (fp32, eval).

To keep the file fast, every architecture runs at full depth and width on a 2x2 patch grid, except the
ones past a billion parameters (EVA-g, EVA02-E, PE-G, DINOv3-7B/H+, LingBot-g, Sapiens2-1B+), which run
at depth 2 (width, heads, MLP, rotary and pooling still theirs). timm's random init of the large models
dominates the time, so timm's model is built on the meta device and filled with seeded values of a
realistic scale (`_fill`), and ours is built on the meta device and given timm's tensors. Every tag's
full-size layout is checked on the meta device by tests/parity/test_tag_layouts.py.
"""

from __future__ import annotations

import math
import re

import pytest
import torch
from safetensors.torch import save_file

import visionzoo
from tests.parity.harness import ATOL, _close
from visionzoo.features import FeatureModel
from visionzoo.models.eva import checkpoint_filter
from visionzoo.models.eva_variants import VARIANTS
from visionzoo.weights.loading import meta_init

timm = pytest.importorskip("timm")
from timm.models._manipulate import reinit_non_persistent_buffers  # noqa: E402

ARCHS = visionzoo.list_models(module="eva")
# architectures compared at depth 2 (each past ~1B parameters, >10 s to build at full depth)
REDUCED = {
    "eva_giant_patch14_224",
    "eva_giant_patch14_336",
    "eva_giant_patch14_560",
    "eva_giant_patch14_clip_224",
    "eva02_enormous_patch14_clip_224",
    "vit_pe_core_gigantic_patch14_448",
    "vit_pe_lang_gigantic_patch14_448",
    "vit_pe_spatial_gigantic_patch14_448",
    "vit_7b_patch16_dinov3",
    "vit_huge_plus_patch16_dinov3",
    "vit_huge_plus_patch16_dinov3_qkvb",
    "vit_giant_patch16_lingbot",
    "vit_huge_patch16_sapiens2",
    "vit_giant_patch16_sapiens2",
    "vit_5b_patch16_sapiens2",
}
EVA02 = "eva02_tiny_patch14_224"
EVA02_BASE = "eva02_base_patch14_224"  # split q/k/v, SwiGLU with sub-layer norm
DINOV3 = "vit_small_patch16_dinov3_qkvb"
MIXED = "vit_small_patch16_rope_mixed_ape_224"
PE = "vit_pe_core_tiny_patch16_384"


def _patch(arch: str) -> int:
    return int(re.search(r"patch(\d+)", arch).group(1))


_POOL = torch.randn(1_000_003, generator=torch.Generator().manual_seed(0))  # a prime length: rows differ


def _copy_pool(flat: torch.Tensor, offset: int) -> None:
    """Fill `flat` with consecutive pool values from `offset`, wrapping (drawing 1e8 fresh ones takes seconds)."""
    pos, n, size = 0, flat.numel(), _POOL.numel()
    while pos < n:
        take = min(n - pos, size - offset)
        flat[pos : pos + take].copy_(_POOL[offset : offset + take])
        pos, offset = pos + take, 0


@torch.no_grad()
def _fill(model: torch.nn.Module) -> None:
    """Values of a realistic scale: matrices ~ N(0, 1/fan_in), norm weights ~ 1, the rest small."""
    for i, (name, p) in enumerate(model.named_parameters()):
        _copy_pool(p.view(-1), (7919 * i) % _POOL.numel())
        if p.ndim >= 2 and not name.endswith(("_token", "pos_embed", "latent")):
            p.mul_(math.prod(p.shape[1:]) ** -0.5)
        elif p.ndim == 1 and name.endswith("weight"):
            p.mul_(0.1).add_(1.0)
        else:
            p.mul_(0.1)


def build_pair(arch: str, **kwargs):
    """(ours, timm's) in eval mode: timm's seeded weights loaded into ours with strict=True."""
    if arch in REDUCED and "depth" not in kwargs:
        kwargs["depth"] = 2
        if "sapiens2" in arch:  # per-block key/value heads: one full-attention and one grouped block
            heads = VARIANTS[arch]["num_heads"]
            kwargs["num_kv_heads"] = (heads, heads // 2)
    with torch.device("meta"):
        theirs = timm.create_model(arch, pretrained=False, **kwargs)
    theirs.to_empty(device="cpu")
    _fill(theirs)
    reinit_non_persistent_buffers(theirs)
    with meta_init():
        ours = visionzoo.create_model(arch, pretrained=False, **kwargs)
    ours.load_state_dict(theirs.state_dict(), strict=True, assign=True)
    return ours.eval(), theirs.eval()


@torch.no_grad()
def compare(ours, theirs, x: torch.Tensor, name: str, atol: float = ATOL) -> None:
    f_ours, f_theirs = ours.forward_features(x), theirs.forward_features(x)
    assert f_theirs.abs().amax() > 1e-2, f"{name}: degenerate features, the comparison would prove nothing"
    _close(f"{name} forward_features", f_ours, f_theirs, atol)
    _close(
        f"{name} forward_head(pre_logits)",
        ours.forward_head(f_ours, pre_logits=True),
        theirs.forward_head(f_theirs, pre_logits=True),
        atol,
    )
    # timm's forward is forward_head(forward_features(x)); reusing its features saves a pass of a large model
    _close(f"{name} forward", ours(x), theirs.forward_head(f_theirs), atol)


def check(arch: str, input_size: tuple[int, int] | None = None, batch: int = 1, **kwargs) -> None:
    if input_size is None:  # a 2x2 patch grid
        side = 2 * _patch(arch)
        input_size = (side, side)
        kwargs.setdefault("img_size", input_size)
    ours, theirs = build_pair(arch, **kwargs)
    x = torch.randn(batch, kwargs.get("in_chans", 3), *input_size, generator=torch.Generator().manual_seed(1))
    compare(ours, theirs, x, arch)


def test_every_timm_eva_arch_is_registered():
    assert sorted(ARCHS) == sorted(timm.list_models(module="eva"))
    assert len(ARCHS) == 65


def test_every_timm_eva_tag_is_registered():
    ours = set(visionzoo.list_pretrained(ARCHS))
    assert ours == set(timm.list_models(module="eva", pretrained=True))
    assert len(ours) == 83


@pytest.mark.parametrize("arch", ARCHS)
def test_parity(arch):
    check(arch)


# ------------------------------------------------------------------ sizes
@pytest.mark.parametrize("arch", [EVA02, EVA02_BASE, DINOV3, PE, MIXED])
def test_non_default_img_size_parity(arch):
    # a 3x4 grid: absolute embedding resampled, rotary grid (and EVA02's rescaling to 16x16) follow
    p = _patch(arch)
    check(arch, input_size=(3 * p, 4 * p), batch=2, img_size=(3 * p, 4 * p), depth=3)


@pytest.mark.parametrize("arch", [EVA02, DINOV3, MIXED])
@pytest.mark.parametrize("grid", [(2, 3), (4, 4)])
def test_dynamic_img_size_parity(arch, grid):
    p = _patch(arch)
    ours, theirs = build_pair(arch, img_size=3 * p, dynamic_img_size=True, depth=3)
    compare(ours, theirs, torch.randn(1, 3, grid[0] * p, grid[1] * p), arch)


def test_fixed_size_rejects_other_sizes():
    model = visionzoo.create_model(EVA02, img_size=28, depth=1)
    with pytest.raises(ValueError, match="expects input size 28x28, got 42x28"):
        model(torch.randn(1, 3, 42, 28))


# ------------------------------------------------------------------ options
OPTIONS = [
    (EVA02, dict(num_classes=0)),
    (EVA02, dict(num_classes=10)),
    (EVA02, dict(global_pool="token")),
    (EVA02, dict(global_pool="max")),
    (EVA02, dict(global_pool="avgmax")),
    (EVA02, dict(global_pool="")),
    (EVA02, dict(in_chans=1)),
    (EVA02, dict(class_token=False, num_reg_tokens=2)),
    (EVA02, dict(global_pool="map")),
    (DINOV3, dict(global_pool="token")),
    (DINOV3, dict(num_classes=10)),
    (EVA02_BASE, dict(qk_norm=True, scale_attn_inner=True, init_values=0.1)),
    ("vit_base_patch16_sapiens2", dict(num_kv_heads=(12, 4, 6))),
]


@pytest.mark.parametrize(("arch", "kwargs"), OPTIONS, ids=lambda v: v if isinstance(v, str) else repr(v))
def test_parity_options(arch, kwargs):
    p = _patch(arch)
    check(arch, input_size=(2 * p, 3 * p), batch=2, img_size=(2 * p, 3 * p), depth=3, **kwargs)


# ------------------------------------------------------------------ features
@torch.no_grad()
@pytest.mark.parametrize("arch", [EVA02, DINOV3])
def test_forward_intermediates_match_timm(arch):
    p = _patch(arch)
    ours, theirs = build_pair(arch, img_size=(2 * p, 3 * p), depth=4)
    x = torch.randn(2, 3, 2 * p, 3 * p)
    for indices in (None, 2, [0, -1]):
        final, maps = ours.forward_intermediates(x, indices=indices)
        t_final, t_maps = theirs.forward_intermediates(x, indices=indices)
        _close("final", final, t_final, ATOL)
        assert len(maps) == len(t_maps)
        for m, t in zip(maps, t_maps):
            assert m.shape == t.shape == (2, ours.embed_dim, 2, 3)
            _close("map", m, t, ATOL)
    normed = ours.forward_intermediates(x, indices=[1], norm=True, output_fmt="NLC", intermediates_only=True)
    t_normed = theirs.forward_intermediates(
        x, indices=[1], norm=True, output_fmt="NLC", intermediates_only=True
    )
    _close("normed NLC", normed[0], t_normed[0], ATOL)


@torch.no_grad()
@pytest.mark.parametrize("arch", [EVA02, DINOV3])
def test_features_only_maps_are_the_patch_tokens_of_the_blocks(arch):
    p = _patch(arch)
    ours, theirs = build_pair(arch, img_size=(2 * p, 3 * p), depth=4)
    x = torch.randn(2, 3, 2 * p, 3 * p)
    # the patch tokens after blocks 1 and 3, taken from timm's model block by block
    t_maps = theirs.forward_intermediates(x, indices=[1, 3], intermediates_only=True)
    feats = FeatureModel(ours, out_indices=(1, 3)).eval()  # what create_model(features_only=True) wraps
    maps = feats(x)
    assert len(maps) == 2 and len(feats.model.blocks) == 4  # blocks after the last map are pruned
    for m, t in zip(maps, t_maps):
        assert m.shape == (2, ours.embed_dim, 2, 3)  # NCHW
        _close("features_only", m, t, ATOL)
    assert feats.feature_info.channels() == [ours.embed_dim] * 2
    assert feats.feature_info.reduction() == [p, p]
    default = visionzoo.create_model(arch, features_only=True, img_size=(2 * p, 3 * p), depth=4)
    assert default.feature_info.module_name() == ["blocks.1", "blocks.2", "blocks.3"]  # timm: the last 3


# ------------------------------------------------------------------ training
@pytest.mark.parametrize("arch", [EVA02, MIXED])
def test_gradient_checkpointing_gives_identical_outputs_and_grads(arch):
    p = _patch(arch)
    model = visionzoo.create_model(arch, img_size=2 * p, depth=3, num_classes=5).train()
    x = torch.randn(2, 3, 2 * p, 2 * p)
    torch.manual_seed(0)
    ref = model(x)
    ref.square().sum().backward()
    ref_grads = {n: q.grad.clone() for n, q in model.named_parameters()}
    model.zero_grad()
    model.set_grad_checkpointing()
    torch.manual_seed(0)
    out = model(x)
    out.square().sum().backward()
    assert torch.allclose(out, ref, atol=1e-6)
    for n, q in model.named_parameters():
        assert torch.allclose(q.grad, ref_grads[n], atol=1e-6), n
    if arch == MIXED:  # the learned rotary frequencies train
        assert model.rope.freqs.grad.abs().sum() > 0


# ------------------------------------------------------------------ checkpoints
@pytest.mark.parametrize("arch", [EVA02, MIXED])
def test_pretrained_weights_follow_a_new_img_size(tmp_path, arch):
    """A checkpoint saved at the default size loads at another img_size as it does in timm."""
    p = _patch(arch)
    source, _ = build_pair(arch, depth=2)
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    overlay = dict(file=str(path), hf_hub_id=None, url=None)
    new = (3 * p, 5 * p)
    theirs = timm.create_model(arch, pretrained=True, pretrained_cfg_overlay=overlay, img_size=new, depth=2)
    ours = visionzoo.create_model(
        arch, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)), img_size=new, depth=2
    )
    assert ours.pos_embed.shape == theirs.pos_embed.shape != source.pos_embed.shape  # resampled on load
    compare(ours.eval(), theirs.eval(), torch.randn(1, 3, *new), arch)


def test_checkpoint_filter_reads_original_dinov3_keys():
    """Meta's DINOv3 release: storage_tokens, ls1/ls2.gamma, a fused qkv.bias, and pretraining-only entries."""
    ours, _ = build_pair(DINOV3, img_size=32, depth=2)
    sd = ours.state_dict()
    original = {}
    for k, v in sd.items():
        k2 = (
            k.replace("reg_token", "storage_tokens")
            .replace("gamma_1", "ls1.gamma")
            .replace("gamma_2", "ls2.gamma")
        )
        if k2.endswith("attn.q_bias"):
            v = torch.cat([v, torch.zeros_like(v), sd[k.replace("q_bias", "v_bias")]])
            k2 = k2.replace("q_bias", "qkv.bias")
        elif k2.endswith("attn.v_bias"):
            continue
        original[k2] = v
    original["mask_token"] = torch.zeros(1, ours.embed_dim)
    original["rope_embed.periods"] = torch.ones(ours.embed_dim // ours.blocks[0].attn.num_heads // 4)
    model = visionzoo.create_model(DINOV3, img_size=32, depth=2)
    model.load_state_dict(checkpoint_filter(original, model), strict=True)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model.eval()(x), ours(x), atol=1e-6)
