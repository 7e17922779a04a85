"""torch.fx symbolic tracing: one representative of each construct that used to break it.

BatchNorm + activation (EfficientNet), TF "SAME" padding (`tf_` models), the patch-embedding input checks
(ViT/DeiT) and the fixed-size check (Swin). A traced model must give the eager outputs and keep its checks.
"""

from __future__ import annotations

import pytest
import torch
import torch.fx

import visionzoo

CASES = {
    "efficientnet_b0": ({}, 32),
    "tf_efficientnet_b0": ({}, 33),  # odd size: SAME padding differs per side
    "tf_mobilenetv3_small_100": ({}, 33),
    "vit_tiny_patch16_224": (dict(img_size=32, depth=2), 32),
    "deit_tiny_distilled_patch16_224": (dict(img_size=32, depth=2), 32),
    "swin_tiny_patch4_window7_224": (dict(img_size=64, window_size=4, depths=(1, 1, 1, 1)), 64),
    "vit_small_r26_s32_224": (dict(img_size=64, depth=2), 64),  # a CNN stem (SAME padding) as patch embedding
}


def _build(arch: str, **extra) -> torch.nn.Module:
    kwargs, _ = CASES[arch]
    torch.manual_seed(0)
    return visionzoo.create_model(arch, **kwargs, **extra).eval()


@pytest.mark.parametrize("arch", CASES)
@torch.no_grad()
def test_symbolic_trace_matches_eager(arch):
    model = _build(arch)
    size = CASES[arch][1]
    traced = torch.fx.symbolic_trace(model)
    x = torch.randn(2, 3, size, size)
    torch.testing.assert_close(traced(x), model(x), rtol=0, atol=0)


@torch.no_grad()
def test_traced_same_padding_follows_the_input_size():
    model = _build("tf_efficientnet_b0")
    traced = torch.fx.symbolic_trace(model)
    for size in (33, 40, 47):  # the padding is computed at run time, not frozen at trace time
        x = torch.randn(1, 3, size, size)
        torch.testing.assert_close(traced(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize("arch", ["vit_tiny_patch16_224", "swin_tiny_patch4_window7_224"])
@torch.no_grad()
def test_traced_model_keeps_the_input_checks(arch):
    traced = torch.fx.symbolic_trace(_build(arch))
    size = CASES[arch][1]
    with pytest.raises(ValueError, match=rf"expects input size {size}x{size}, got {size + 16}x{size}"):
        traced(torch.randn(1, 3, size + 16, size))
    with pytest.raises(ValueError, match="3-channel"):
        traced(torch.randn(1, 1, size, size))


@torch.no_grad()
def test_traced_vit_resamples_pos_embed_at_run_time():
    model = _build("vit_tiny_patch16_224", dynamic_img_size=True)
    traced = torch.fx.symbolic_trace(model)
    x = torch.randn(1, 3, 48, 64)  # another grid than the 2x2 the position embedding is laid out for
    torch.testing.assert_close(traced(x), model(x), rtol=0, atol=0)


@torch.no_grad()
def test_traced_hybrid_vit_follows_the_input_size():
    """A hybrid's token grid comes from its CNN stem: traced, it still follows the input size."""
    model = visionzoo.create_model(
        "vit_tiny_r_s16_p8_224", img_size=64, depth=2, dynamic_img_size=True
    ).eval()
    traced = torch.fx.symbolic_trace(model)
    for size in ((64, 64), (70, 97)):  # 2x2 and 2x3 tokens (the stem rounds up, the patches down)
        x = torch.randn(1, 3, *size)
        torch.testing.assert_close(traced(x), model(x), rtol=0, atol=0)


@torch.no_grad()
def test_traced_batchnorm_act_keeps_its_dim_check():
    traced = torch.fx.symbolic_trace(_build("efficientnet_b0").bn1)
    with pytest.raises(ValueError, match="expected 4D input"):
        traced(torch.randn(32, 8, 8))


@pytest.mark.parametrize("arch", ["tf_efficientnet_b0", "vit_tiny_patch16_224"])
@torch.no_grad()
def test_torchvision_feature_extractor(arch):
    feature_extraction = pytest.importorskip("torchvision.models.feature_extraction")
    model = _build(arch)
    node = model.feature_info[-2]["module"]  # e.g. 'blocks.5' (a stage) or 'blocks.0' (a ViT block)
    extractor = feature_extraction.create_feature_extractor(model, return_nodes={node: "feat"})
    seen = []
    model.get_submodule(node).register_forward_hook(lambda mod, args, out: seen.append(out))
    x = torch.randn(1, 3, CASES[arch][1], CASES[arch][1])
    model(x)
    torch.testing.assert_close(extractor(x)["feat"], seen[0], rtol=0, atol=0)
