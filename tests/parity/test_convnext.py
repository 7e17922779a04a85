"""ConvNeXt against timm 1.0.31 (the oracle): strict weight loading, outputs, features, FAIR checkpoints."""

from __future__ import annotations

import re

import pytest
import timm
import torch

import visionzoo
from tests.memory import assert_checkpointing_keeps_gradients
from visionzoo.models.convnext import ConvNeXt, checkpoint_filter

from .harness import _close, build_pair, check_parity

SMALL = ["convnext_atto", "convnext_femto", "convnext_pico", "convnext_nano", "convnext_tiny"]
BIG = ["convnext_small", "convnext_base", "convnext_large", "convnext_xlarge"]
# Architectures whose norms (RMS, simple, head-norm-first) or GRN only show with non-trivial parameters.
SMALL_OPTIONS = [
    "convnext_zepto_rms",
    "convnext_zepto_rms_ols",
    "convnext_atto_ols",
    "convnext_atto_rms",
    "convnext_femto_ols",
    "convnext_pico_ols",
    "convnext_nano_ols",
    "convnext_tiny_hnf",
    "convnextv2_atto",
    "convnextv2_femto",
    "convnextv2_pico",
    "convnextv2_nano",
    "convnextv2_tiny",
    "test_convnext",
    "test_convnext2",
    "test_convnext3",
]
# Full widths with one or two blocks per stage: every layer shape, a fraction of the cost.
SHORT = ["convnext_large_mlp", "convnext_xxlarge", "convnextv2_small", "convnextv2_base", "convnextv2_large"]
SHORT += ["convnextv2_huge"]
SHORT_DEPTHS = dict(depths=(1, 1, 2, 1))

# timm initialises layer scale to 1e-6, which hides every block's output under the tolerance;
# ls_init_value=1.0 (on both sides) makes the blocks count.
LS = dict(ls_init_value=1.0)


def _normal_clipped(
    tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0
):
    with torch.no_grad():
        return tensor.normal_(mean, std).clamp_(a, b)


@pytest.fixture
def fast_timm_init(monkeypatch):
    """timm's truncated-normal init of the multi-100M-parameter variants costs more than the test itself;
    a normal sample clipped at the same bounds (+-2, i.e. 100 std) is the same distribution."""
    import timm.models.convnext as timm_convnext

    monkeypatch.setattr(timm_convnext, "trunc_normal_", _normal_clipped)


@pytest.mark.parametrize("arch", SMALL)
def test_parity(arch):
    check_parity(arch, input_size=(3, 64, 64), batch_size=2 if arch != "convnext_tiny" else 1, **LS)


@pytest.mark.parametrize("arch", BIG)
def test_parity_big(arch, fast_timm_init):
    # 32x32 still runs every layer (the last stage sees 1x1 maps); the 64x64 runs above cover spatial code.
    check_parity(arch, input_size=(3, 32, 32), batch_size=1, atol=2e-4, **LS)


def test_every_arch_is_covered():
    covered = set(SMALL + BIG + SMALL_OPTIONS + SHORT)
    assert (
        covered == set(visionzoo.list_models(module="convnext")) == set(timm.list_models(module="convnext"))
    )


def _ls(arch: str) -> dict:
    return {} if arch.startswith("convnextv2") else LS


@torch.no_grad()
def check_parity_randomised(arch: str, input_size=(3, 64, 64), atol: float = 1e-4, **kwargs) -> None:
    """check_parity with timm's norm and GRN parameters randomised first (both start as ones/zeros)."""
    ours, theirs = build_pair(arch, **kwargs)
    for name, p in theirs.named_parameters():
        if "norm" in name or "grn" in name:
            p.normal_(0.5, 0.5)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(1, *input_size)
    f_ours, f_theirs = ours.forward_features(x), theirs.forward_features(x)
    _close(f"{arch} forward_features", f_ours, f_theirs, atol)
    _close(
        f"{arch} forward_head(pre_logits)",
        ours.forward_head(f_ours, pre_logits=True),
        theirs.forward_head(f_theirs, pre_logits=True),
        atol,
    )
    _close(f"{arch} forward", ours(x), theirs(x), atol)


@pytest.mark.parametrize("arch", SMALL_OPTIONS)
def test_parity_options(arch):
    check_parity_randomised(arch, **_ls(arch))


@pytest.mark.parametrize("arch", SHORT)
def test_parity_short_depth(arch, fast_timm_init):
    check_parity_randomised(arch, input_size=(3, 32, 32), atol=2e-4, **SHORT_DEPTHS, **_ls(arch))


@pytest.mark.parametrize("global_pool", ["avg", ""])
def test_hidden_head_options(global_pool):
    # convnext_large_mlp's pre-logits layer, as Linear (pooled) and 1x1 conv (per position)
    kw = dict(depths=(1, 1, 1, 1), dims=(16, 32, 48, 64), head_hidden_size=40, **LS)
    check_parity("convnext_large_mlp", input_size=(3, 64, 64), num_classes=10, global_pool=global_pool, **kw)


def test_hidden_head_reset_keeps_pre_logits():
    ours, theirs = build_pair("convnext_large_mlp", depths=(1, 1, 1, 1), dims=(16, 32, 48, 64), **LS)
    for m in (ours, theirs):
        m.reset_classifier(0, "")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), atol=1e-4, rtol=0)
    assert isinstance(ours.head.pre_logits.fc, torch.nn.Conv2d)


def test_bad_option_values():
    with pytest.raises(ValueError, match="stem_type"):
        ConvNeXt(depths=(1,), dims=(8,), stem_type="conv")
    with pytest.raises(ValueError, match="norm_layer"):
        ConvNeXt(depths=(1,), dims=(8,), norm_layer="batchnorm")
    with pytest.raises(ValueError, match="conv_mlp"):
        ConvNeXt(depths=(1,), dims=(8,), norm_layer="rmsnorm")
    with pytest.raises(ValueError, match="head_hidden_size"):
        ConvNeXt(depths=(1,), dims=(8,), head_norm_first=True, head_hidden_size=8)
    with pytest.raises(ValueError, match="kernel_size"):
        ConvNeXt(depths=(1, 1), dims=(8, 16), kernel_size=(7,))


@pytest.mark.parametrize(
    "num_classes, global_pool", [(0, "avg"), (0, ""), *[(10, p) for p in ["avg", "max", "avgmax", ""]]]
)
def test_head_options(num_classes, global_pool):
    check_parity(
        "convnext_atto", input_size=(3, 64, 64), num_classes=num_classes, global_pool=global_pool, **LS
    )


def test_in_chans_and_dropout():
    check_parity("convnext_atto", input_size=(1, 64, 64), in_chans=1, drop_rate=0.2, drop_path_rate=0.1, **LS)


def test_catavgmax_rejected():
    with pytest.raises(ValueError, match="global_pool"):
        visionzoo.create_model("convnext_atto", global_pool="catavgmax")
    model = visionzoo.create_model("convnext_atto")
    with pytest.raises(ValueError, match="global_pool"):
        model.reset_classifier(10, "catavgmax")


def test_bad_arguments():
    with pytest.raises(ValueError, match="depths and dims"):
        ConvNeXt(depths=(2, 2), dims=(8, 16, 32))
    with pytest.raises(ValueError, match="kernel_size"):
        ConvNeXt(depths=(1,), dims=(8,), kernel_size=4)
    with pytest.raises(ValueError, match="num_classes"):
        ConvNeXt(depths=(1,), dims=(8,)).reset_classifier(-1)


def test_reset_classifier_matches_timm():
    ours, theirs = build_pair("convnext_atto", **LS)
    ours.reset_classifier(7, "max")
    theirs.reset_classifier(7, "max")
    ours.head.fc.load_state_dict(theirs.head.fc.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), atol=1e-4, rtol=0)
    assert ours.num_classes == 7 and ours.get_classifier().out_features == 7


def _timm_features_keys(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # timm's FeatureListNet flattens top-level names: 'stem_0.weight' -> 'stem.0.weight'
    return {re.sub(r"^([a-z]+)_(\d+)\.", r"\1.\2.", k): v for k, v in sd.items()}


@pytest.mark.parametrize("out_indices", [(0, 1, 2, 3), (1, 3), (-2,)])
def test_features_only(out_indices):
    theirs = timm.create_model("convnext_atto", features_only=True, out_indices=out_indices, **LS).eval()
    ours = visionzoo.create_model("convnext_atto", features_only=True, out_indices=out_indices, **LS).eval()
    missing, unexpected = ours.model.load_state_dict(_timm_features_keys(theirs.state_dict()), strict=False)
    assert not unexpected and all(k.startswith("head.norm.") for k in missing), (missing, unexpected)
    assert ours.feature_info.channels() == theirs.feature_info.channels()
    assert ours.feature_info.reduction() == theirs.feature_info.reduction()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        f_ours, f_theirs = ours(x), theirs(x)
    assert len(f_ours) == len(f_theirs) == len(ours.feature_info)
    for a, b in zip(f_ours, f_theirs):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


def test_forward_intermediates_and_feature_info():
    ours, theirs = build_pair("convnext_atto", **LS)
    assert ours.feature_info == theirs.feature_info
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        final_o, maps_o = ours.forward_intermediates(x, indices=[0, -1])
        final_t, maps_t = theirs.forward_intermediates(x, indices=[0, -1])
        nhwc = ours.forward_intermediates(x, indices=1, output_fmt="NHWC", intermediates_only=True)
    torch.testing.assert_close(final_o, final_t, atol=1e-4, rtol=0)
    for a, b in zip(maps_o, maps_t, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    torch.testing.assert_close(nhwc[0], maps_t[-1].permute(0, 2, 3, 1), atol=1e-4, rtol=0)
    with pytest.raises(IndexError):
        ours.forward_intermediates(x, indices=[4])


def test_grad_checkpointing_same_gradients():
    model = ConvNeXt(depths=(1, 2), dims=(8, 16), num_classes=5, conv_mlp=True, **LS)
    assert_checkpointing_keeps_gradients(model, torch.randn(2, 3, 32, 32))


def test_group_matcher_covers_body():
    model = visionzoo.create_model("convnext_atto")
    fine, coarse = model.group_matcher(), model.group_matcher(coarse=True)
    assert fine == timm.create_model("convnext_atto").group_matcher()
    for name, _ in model.named_parameters():
        if name.startswith("head."):
            continue
        assert re.match(coarse["stem"], name) or re.match(coarse["blocks"], name), name
        assert re.match(fine["stem"], name) or any(re.match(r, name) for r, _ in fine["blocks"]), name


# -- FAIR checkpoints -------------------------------------------------------------------------------


def timm_to_fair(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The original facebookresearch/ConvNeXt layout, written from that repository's module names."""
    out = {}
    for k, v in sd.items():
        parts = k.split(".")
        if parts[0] == "stem":  # stem.{0,1} -> downsample_layers.0.{0,1}
            nk = "downsample_layers.0." + ".".join(parts[1:])
        elif parts[0] == "stages" and parts[2] == "downsample":
            nk = f"downsample_layers.{parts[1]}." + ".".join(parts[3:])
        elif parts[0] == "stages":  # stages.i.blocks.j.<layer> -> stages.i.j.<layer>
            layer = ".".join(parts[4:])
            layer = (
                layer.replace("conv_dw.", "dwconv.")
                .replace("mlp.fc1.", "pwconv1.")
                .replace("mlp.fc2.", "pwconv2.")
            )
            layer = layer.replace("mlp.grn.weight", "grn.gamma").replace("mlp.grn.bias", "grn.beta")
            nk = f"stages.{parts[1]}.{parts[3]}.{layer}"
            if "pwconv" in nk and v.ndim == 4:
                v = v.flatten(1)  # FAIR's MLP is nn.Linear
            if ".grn." in nk:
                v = v.reshape(1, 1, 1, -1)  # ConvNeXt-V2 keeps GRN parameters as [1, 1, 1, C]
        elif k.startswith("head.norm."):
            nk = "norm." + parts[-1]
        elif k.startswith("head.fc."):
            nk = "head." + parts[-1]
        else:
            raise AssertionError(f"unmapped key {k}")
        out[nk] = v
    return out


@pytest.mark.parametrize("arch", ["convnext_atto", "convnext_tiny", "convnextv2_atto", "convnextv2_tiny"])
def test_fair_checkpoint(arch, tmp_path):
    theirs = timm.create_model(arch, **_ls(arch)).eval()
    with torch.no_grad():
        for name, p in theirs.named_parameters():
            if "grn" in name:
                p.normal_()
    fair = timm_to_fair(theirs.state_dict())
    assert "downsample_layers.1.1.weight" in fair and "stages.2.0.pwconv1.weight" in fair
    path = tmp_path / "fair.pth"
    torch.save({"model": fair}, path)
    ours = visionzoo.create_model(arch, checkpoint_path=path).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), atol=1e-4, rtol=0)


def test_checkpoint_filter_passes_timm_layout():
    model = ConvNeXt(depths=(1, 1), dims=(8, 16), num_classes=3)
    sd = model.state_dict()
    assert checkpoint_filter(sd, model).keys() == sd.keys()


def test_open_clip_tower(tmp_path):
    """open_clip's `visual.trunk` + MLP projection (no biases) load as the convnext_large_mlp layout."""
    kw = dict(depths=(1, 1, 1, 1), dims=(16, 32, 48, 64), num_classes=12, **LS)
    theirs = timm.create_model("convnext_large_mlp", **kw).eval()
    sd = theirs.state_dict()
    with torch.no_grad():
        theirs.head.fc.bias.zero_()
    clip = {
        f"visual.trunk.{k}": v for k, v in sd.items() if not k.startswith(("head.fc.", "head.pre_logits."))
    }
    clip["visual.head.mlp.fc1.weight"] = sd["head.pre_logits.fc.weight"]
    clip["visual.head.mlp.fc1.bias"] = sd["head.pre_logits.fc.bias"]
    clip["visual.head.mlp.fc2.weight"] = sd["head.fc.weight"]
    clip["text.token_embedding.weight"] = torch.zeros(4, 4)  # the text tower is ignored
    path = tmp_path / "open_clip.pth"
    torch.save(clip, path)
    ours = visionzoo.create_model("convnext_large_mlp", checkpoint_path=path, **kw).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), atol=1e-4, rtol=0)


def test_fcmae_headless_checkpoint(tmp_path, caplog):
    """FCMAE pre-training weights stop at the last stage; the head norm keeps its init and the load says so."""
    theirs = timm.create_model("convnextv2_atto", num_classes=0).eval()
    sd = {k: v for k, v in theirs.state_dict().items() if not k.startswith("head.")}
    path = tmp_path / "fcmae.pth"
    torch.save(sd, path)
    with caplog.at_level("INFO", logger="visionzoo.models.convnext"):
        ours = visionzoo.create_model("convnextv2_atto", num_classes=0, checkpoint_path=path).eval()
    assert "FCMAE" in caplog.text and "head.norm.weight" in caplog.text
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours.forward_features(x), theirs.forward_features(x), atol=1e-4, rtol=0)
        torch.testing.assert_close(ours(x), theirs(x), atol=1e-4, rtol=0)  # both heads at init: ones, zeros


@pytest.mark.parametrize("output_stride, reductions", [(16, [4, 8, 16, 16]), (8, [4, 8, 8, 8])])
def test_output_stride_matches_timm(output_stride, reductions):
    """Dilated later stages (stride-1 2x2 "SAME" downsamples, dilated depthwise convs) as timm builds them."""
    kwargs = dict(**SHORT_DEPTHS, output_stride=output_stride)
    check_parity_randomised("convnext_atto", **kwargs, **LS)
    ours = visionzoo.create_model("convnext_atto", **kwargs)
    assert [info["reduction"] for info in ours.feature_info] == reductions
    assert ours.forward_features(torch.randn(1, 3, 64, 64)).shape[-1] == 64 // output_stride
