"""torch.fx and torch.export over every registered architecture, at tiny configs on the meta device.

Symbolic tracing and export record the graph without arithmetic, so the meta device (shapes only) is enough to
show that an architecture traces; the numbers of traced and exported graphs against eager are checked on
real tensors per family (tests/models/test_fx.py, tests/tools/test_export_sweep.py) and for every
architecture by scripts/compile_all.py.

- FX: every architecture is traced and its graph run on a meta batch.
- torch.export: every *distinct graph* is exported: architectures of a family whose tiny models have the
  same module classes and the same non-numeric options (pooling, token and norm choices, flags) record the
  same operations and differ only in sizes, so the first of each such group stands for the rest.
"""

from __future__ import annotations

import pytest
import torch
import torch.fx

import visionzoo
from tests.models.tiny_configs import build_tiny, family
from visionzoo import registry

ARCHS = sorted(
    a for a in visionzoo.list_models() if registry.get_arch_module(a).startswith("visionzoo.models.")
)
FAMILIES = sorted({family(a) for a in ARCHS})


def _classes(model: torch.nn.Module) -> int:
    return model.num_classes or model.head_hidden_size


@pytest.mark.parametrize("arch", ARCHS)
@torch.no_grad()
def test_fx_symbolic_trace(arch):
    model, size = build_tiny(arch, "meta")
    traced = torch.fx.symbolic_trace(model)
    assert any(n.op == "call_module" for n in traced.graph.nodes)
    out = traced(torch.randn(2, *size, device="meta"))
    assert out.shape == (2, _classes(model))


def _options(module: torch.nn.Module) -> tuple:
    """The choices a module's forward can branch on: its str, bool and None attributes and which of its
    int attributes are zero (a zero count of tokens or blocks skips a path); sizes are left out, and so are
    descriptions (strings with spaces or brackets, e.g. EfficientNet's `arch_desc`, which state widths)."""
    out = []
    for key, value in sorted(vars(module).items()):
        if key.startswith("_") or key == "training":
            continue
        if isinstance(value, str) and any(c in value for c in " ()"):
            continue
        if isinstance(value, (str, bool)) or value is None:
            out.append((key, value))
        elif isinstance(value, int):
            out.append((key, value == 0))
    return tuple(out)


def graph_key(model: torch.nn.Module) -> frozenset:
    """What makes two tiny models one graph: the module classes in it, with their options."""
    return frozenset((type(m).__qualname__, _options(m)) for m in model.modules())


def distinct_graphs(module: str) -> list[tuple[str, torch.nn.Module, tuple[int, int, int]]]:
    """(arch, meta model, input size) for the first architecture of each distinct graph in a family."""
    seen: dict[frozenset, str] = {}
    out = []
    for arch in (a for a in ARCHS if family(a) == module):
        model, size = build_tiny(arch, "meta")
        key = graph_key(model)
        if key not in seen:
            seen[key] = arch
            out.append((arch, model, size))
    return out


@pytest.mark.parametrize("module", FAMILIES)
@torch.no_grad()
def test_torch_export_every_distinct_graph(module):
    failed = []
    graphs = distinct_graphs(module)
    for arch, model, size in graphs:
        x = torch.randn(2, *size, device="meta")
        try:
            program = torch.export.export(model, (x,))
            out = program.module()(x)
            assert out.shape == (2, _classes(model)), f"output {tuple(out.shape)}"
        except Exception as e:  # noqa: BLE001 - every architecture's failure is listed, not the first only
            failed.append(f"{arch}: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
    assert graphs and not failed, "\n".join(failed)


def test_graph_key_tells_options_apart():
    # same classes, other choices: two graphs; same choices at other widths: one graph
    avg = visionzoo.create_model("vit_tiny_patch16_224", depth=1, global_pool="avg")
    token = visionzoo.create_model("vit_tiny_patch16_224", depth=1)
    wide = visionzoo.create_model("vit_small_patch16_224", depth=1)
    assert graph_key(avg) != graph_key(token) == graph_key(wide)
    assert graph_key(visionzoo.create_model("resnet18")) != graph_key(visionzoo.create_model("resnet18d"))


@torch.no_grad()
def test_traced_eva_follows_the_grid_at_run_time():
    # rotary and absolute position embeddings are built for the input's grid when the graph runs
    torch.manual_seed(0)
    model = visionzoo.create_model(
        "eva02_tiny_patch14_224", img_size=28, depth=1, dynamic_img_size=True
    ).eval()
    traced = torch.fx.symbolic_trace(model)
    for h, w in ((28, 28), (42, 56)):
        x = torch.randn(1, 3, h, w)
        torch.testing.assert_close(traced(x), model(x), rtol=0, atol=0)
    with pytest.raises(ValueError, match="3-channel"):
        traced(torch.randn(1, 1, 28, 28))


@pytest.mark.parametrize(
    "arch", ["mixnet_s", "tf_efficientnet_cc_b0_4e", "resnetv2_50d_evos", "resnetv2_50d_frn", "resnet50_clip"]
)
@torch.no_grad()
def test_traced_graph_matches_eager(arch):
    # the layers that broke tracing: mixed-kernel split, CondConv's SAME padding, EvoNorm / FRN's rank
    # check, the CLIP attention pool's position embedding
    model, size = build_tiny(arch)
    traced = torch.fx.symbolic_trace(model)
    x = torch.randn(2, *size)
    torch.testing.assert_close(traced(x), model(x), rtol=0, atol=0)
