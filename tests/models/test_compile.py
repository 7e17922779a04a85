"""torch.compile(fullgraph=True) on one tiny model of each family: inference and a training step.

`fullgraph=True` raises on any graph break, so a pass means that Dynamo captured the whole forward (and, in
training, AOTAutograd the whole backward) without falling back to Python. Compiled output, loss and every
gradient must equal eager's to 1e-4.

Backends, to keep the cost bounded (inductor's first compile of a model takes 10-30 s of CPU): inference is
compiled by inductor for the families in INDUCTOR (convolution + BatchNorm stages, depthwise/SE blocks, ViT
attention, rotary EVA, Swin windows, ConvNeXt) and by aot_eager for the others; the training step by aot_eager
(Dynamo's capture and AOTAutograd's joint forward + backward graph, without inductor's code generation).

Every registered architecture (not only one per family) is compiled by scripts/compile_all.py.
"""

from __future__ import annotations

import copy

import pytest
import torch

from tests.models.test_trace_sweep import FAMILIES
from tests.models.tiny_configs import build_tiny

TOL = dict(rtol=1e-4, atol=1e-4)

# one small architecture per family module, built at tests/models/tiny_configs.py's tiny config
REPS = {
    "byobnet": "repvgg_a0",
    "convnext": "convnext_atto",
    "deit": "deit_tiny_distilled_patch16_224",
    "densenet": "densenet121",
    "efficientnet": "efficientnet_b0",
    "eva": "eva02_tiny_patch14_224",
    "hgnet": "hgnetv2_b0",
    "inception_resnet_v2": "inception_resnet_v2",
    "inception_v3": "inception_v3",
    "inception_v4": "inception_v4",
    "mobilenetv3": "mobilenetv3_small_100",
    "regnet": "regnetx_002",
    "resnet": "resnet18",
    "resnetv2": "resnetv2_18",
    "swin_transformer": "swin_tiny_patch4_window7_224",
    "swin_transformer_v2": "swinv2_tiny_window8_256",
    "swin_transformer_v2_cr": "swinv2_cr_tiny_ns_224",
    "vgg": "vgg11",
    "vision_transformer": "vit_tiny_patch16_224",
    "vision_transformer_hybrid": "vit_tiny_r_s16_p8_224",
    "xception": "legacy_xception",
    "xception_aligned": "xception41p",
}


INDUCTOR = {"resnet", "efficientnet", "vision_transformer", "eva", "swin_transformer", "convnext"}


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _loss(out) -> torch.Tensor:
    outs = out if isinstance(out, (tuple, list)) else (out,)  # distilled models: (cls, dist) while training
    return sum(o.float().pow(2).mean() for o in outs)


def test_every_family_has_a_representative():
    assert sorted(REPS) == FAMILIES


@pytest.mark.parametrize("module", sorted(REPS))
def test_compile_inference_matches_eager(module):
    model, size = build_tiny(REPS[module])
    x = torch.randn(2, *size)
    compiled = torch.compile(model, fullgraph=True, backend="inductor" if module in INDUCTOR else "aot_eager")
    with torch.no_grad():
        want = model(x)
        torch.testing.assert_close(compiled(x), want, **TOL)
        torch.testing.assert_close(compiled(x + 1), model(x + 1), **TOL)  # the same graph, no recompile


@pytest.mark.parametrize("module", sorted(REPS))
def test_compile_training_step_matches_eager(module):
    model, size = build_tiny(REPS[module])
    model.train()
    eager = copy.deepcopy(model)  # BatchNorm statistics move in both: each gets its own copy
    x = torch.randn(2, *size)
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    torch.manual_seed(1)  # drop path / dropout draw the same numbers in both (aot_eager runs the same ops)
    want = _loss(eager(x))
    want.backward()
    torch.manual_seed(1)
    got = _loss(compiled(x))
    got.backward()
    torch.testing.assert_close(got, want, **TOL)
    grads = [(n, p.grad, q.grad) for (n, p), q in zip(model.named_parameters(), eager.parameters())]
    assert any(g is not None for _, _, g in grads)
    for name, got_grad, want_grad in grads:
        if want_grad is None:  # a parameter the tiny config leaves unused (e.g. a window bias on a 1x1 map)
            assert got_grad is None, f"{name} has a gradient in the compiled step only"
            continue
        assert got_grad is not None, f"no gradient for {name} in the compiled step"
        torch.testing.assert_close(got_grad, want_grad, **TOL, msg=lambda m, n=name: f"grad of {n}: {m}")
