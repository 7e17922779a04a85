"""Export sweep: the smallest model of every family module, to ONNX (dynamic batch) and torch.export (static)."""

import pytest
import torch

import visionzoo
from visionzoo.registry import FAMILY_TABLES
from visionzoo.tools.export import export_model

# smallest architecture (by parameter count) of each family module (measured once with create_model on
# the meta device), a small input size, and arguments that shorten the deeper ones (export time grows
# with the number of blocks; every kind of block is kept)
REPRESENTATIVES = {
    "convnext": ("convnext_atto", 64, dict(depths=(1, 1, 1, 1))),
    "deit": ("deit_tiny_patch16_224", 64, dict(depth=2)),
    "efficientnet": ("mobilenetv2_100", 64, dict(depth_multiplier=0.1)),  # one block per stage
    "eva": ("eva02_tiny_patch14_224", 56, dict(depth=2)),  # absolute + rotary position, SwiGLU
    "mobilenetv3": ("mobilenetv3_small_075", 64, dict(depth_multiplier=0.1)),
    "regnet": ("regnetx_002", 64, {}),
    "resnet": ("resnet18", 64, {}),
    # 64 px -> 16, 8, 4, 2 tokens a side: windows of 2 tile every stage; 2 blocks keep a shifted one
    "swin_transformer": ("swin_tiny_patch4_window7_224", 64, dict(depths=(2, 1, 1, 1), window_size=2)),
    "vision_transformer": ("vit_tiny_patch16_224", 64, dict(depth=2)),
    # a CNN stem (SAME-padded std conv and max pool, GroupNorm) as the patch embedding
    "vision_transformer_hybrid": ("vit_tiny_r_s16_p8_224", 64, dict(depth=2)),
    "densenet": ("densenet121", 64, dict(block_config=(1, 1, 1, 1))),
    "vgg": ("vgg11", 32, dict(mlp_ratio=1 / 64)),  # a 64-wide first MLP conv instead of 103M weights
    # the Inception stems and reductions are unpadded: 75 px is the smallest input they take
    "inception_v3": ("inception_v3", 75, {}),
    "inception_v4": ("inception_v4", 75, dict(num_blocks=(1, 1, 1))),
    "inception_resnet_v2": ("inception_resnet_v2", 75, dict(num_repeats=(1, 1, 1))),
    "xception": ("legacy_xception", 64, {}),
    "xception_aligned": ("xception41p", 64, {}),
    "byobnet": ("repvgg_a0", 64, {}),
}

# Known failures, kept visible (strict: the mark fails the run once they pass, so it is removed then).
ONNX_DYNAMIC_BROKEN: dict[str, str] = {}


def _smallest(module: str) -> str:
    def size(name: str) -> int:
        with torch.device("meta"):
            return sum(p.numel() for p in visionzoo.create_model(name).parameters())

    return min(visionzoo.list_models(module=module), key=size)


def _representative(module: str) -> tuple[str, int | None, dict]:
    if module in REPRESENTATIVES:
        return REPRESENTATIVES[module]
    return _smallest(module), None, {}


def _family_modules() -> list[str]:
    return [m for m in visionzoo.list_modules() if m in FAMILY_TABLES or m in REPRESENTATIVES]


def test_every_family_has_a_registered_representative():
    for module in FAMILY_TABLES:
        name, _, _ = _representative(module)
        assert name in visionzoo.list_models(module=module), (module, name)


def _importable(module: str) -> None:
    name, _, _ = _representative(module)
    try:
        visionzoo.model_entrypoint(name)
    except (ImportError, RuntimeError) as e:  # family not written yet in this checkout
        pytest.skip(f"{module} not importable: {e}")


def _onnx_params() -> list:
    return [
        pytest.param(m, marks=pytest.mark.xfail(strict=True, reason=ONNX_DYNAMIC_BROKEN[m]))
        if m in ONNX_DYNAMIC_BROKEN
        else m
        for m in _family_modules()
    ]


@pytest.mark.parametrize("module", _onnx_params())
def test_onnx_export_family(module, tmp_path):
    pytest.importorskip("onnxruntime")
    _importable(module)
    name, size, kwargs = _representative(module)
    r = export_model(
        name, tmp_path / "m.onnx", format="onnx", dynamic_batch=True, img_size=size, model_kwargs=kwargs
    )
    assert r["max_abs_diff"] <= 1e-4 and r["checked_batch_sizes"] == [2, 3]
    assert (tmp_path / "m.onnx").stat().st_size > 500_000  # weights are in the file


@pytest.mark.parametrize("module", _family_modules())
def test_torch_export_family(module, tmp_path):
    # static batch here (the ONNX sweep above already traces every family with a dynamic batch)
    _importable(module)
    name, size, kwargs = _representative(module)
    r = export_model(
        name,
        tmp_path / "m.pt2",
        format="torch-export",
        dynamic_batch=False,
        img_size=size,
        model_kwargs=kwargs,
    )
    assert r["max_abs_diff"] <= 1e-4 and r["checked_batch_sizes"] == [1]
