"""Model names, tags and aliases.

Every family's weight table (`visionzoo.weights.cfgs.<family>`) is plain data, so listing and looking up
names never imports a model module. The tables are found by listing that package: adding a family takes
its model module and its generated table, nothing else. A family module is imported the first time one
of its architectures is built, and its `register_model` calls then attach the builders.

A table module holds `MODULE` (the family's model module), `CFGS` ('arch.tag' -> the cfg fields of that
weight set), and optionally `FAMILY_DEFAULTS` (architecture facts every architecture of the family shares,
such as where the stem and the classifier are), `ARCH_DEFAULTS` (arch -> the facts where an
architecture differs) and `ALIASES` (deprecated name -> current name). A tag's cfg merges
FAMILY_DEFAULTS, then ARCH_DEFAULTS[arch], then CFGS['arch.tag'], later ones winning.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import pkgutil
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .weights import cfgs as _tables_pkg
from .weights.cfg import PretrainedCfg

__all__ = [
    "register_model",
    "register_variants",
    "list_models",
    "list_pretrained",
    "list_modules",
    "is_model",
    "model_entrypoint",
    "get_pretrained_cfg",
    "get_pretrained_tags",
    "split_model_name_tag",
    "resolve_model_name",
    "get_arch_module",
    "get_checkpoint_filter",
]


def _find_tables() -> tuple[str, ...]:
    """Names of the weight-table modules in `visionzoo.weights.cfgs` (one per family), sorted."""
    found = pkgutil.iter_modules(_tables_pkg.__path__)
    return tuple(sorted(m.name for m in found if not m.ispkg and not m.name.startswith("_")))


FAMILY_TABLES = _find_tables()


@dataclass
class _Arch:
    """What the registry knows about one architecture."""

    module: str
    tags: dict[str, PretrainedCfg]  # ordered; the first is the default tag
    builder: Callable | None = None
    model_cls: type | None = None
    checkpoint_filter: Callable | None = None
    has_cfg: bool = True  # False for a model registered without any pretrained cfg


_archs: dict[str, _Arch] = {}
_aliases: dict[str, str] = {}
_tables_loaded = False


def _load_tables() -> None:
    """Read every family's weight table (plain data) into the registry, once."""
    global _tables_loaded
    if _tables_loaded:
        return
    for family in FAMILY_TABLES:
        table = importlib.import_module(f"{_tables_pkg.__name__}.{family}")
        family_defaults = getattr(table, "FAMILY_DEFAULTS", {})
        arch_defaults = getattr(table, "ARCH_DEFAULTS", {})
        for full_name, fields in table.CFGS.items():
            arch, tag = split_model_name_tag(full_name)
            entry = _archs.setdefault(arch, _Arch(module=table.MODULE, tags={}))
            merged = {**family_defaults, **arch_defaults.get(arch, {}), **fields}
            entry.tags[tag] = PretrainedCfg(architecture=arch, tag=tag, **merged)
        _aliases.update(getattr(table, "ALIASES", {}))
    _tables_loaded = True


def split_model_name_tag(name: str) -> tuple[str, str]:
    """'vit_base_patch16_224.augreg_in21k' -> ('vit_base_patch16_224', 'augreg_in21k')."""
    arch, _, tag = name.partition(".")
    return arch, tag


def _natural_key(s: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s.lower())]


def register_model(
    fn: Callable | None = None,
    *,
    name: str | None = None,
    model_cls: type | None = None,
    pretrained_cfgs: dict[str, PretrainedCfg] | None = None,
    checkpoint_filter: Callable | None = None,
) -> Callable:
    """Register a builder `fn(**kwargs) -> nn.Module` under `name` (default: the function's name).

    Usable bare (`@register_model`) or with options (`@register_model(pretrained_cfgs={...})`).
    Registering a name that already exists raises a ValueError.
    """

    def wrap(f: Callable) -> Callable:
        _load_tables()
        arch = name or f.__name__
        module = f.__module__
        existing = _archs.get(arch)
        if existing is not None and (existing.builder is not None or existing.module != module):
            raise ValueError(
                f"model {arch!r} is already registered (by {existing.module}); pick another name"
            )
        if "." in arch:
            raise ValueError(f"model name {arch!r} must not contain '.', which separates the pretrained tag")
        tags = dict(existing.tags) if existing else {}
        for tag, cfg in (pretrained_cfgs or {}).items():
            tags[tag] = cfg.replace(architecture=arch, tag=tag)
        has_cfg = bool(tags)
        if not has_cfg:
            tags[""] = PretrainedCfg(architecture=arch, tag="")
        _archs[arch] = _Arch(module, tags, f, model_cls, checkpoint_filter, has_cfg)
        return f

    return wrap(fn) if fn is not None else wrap


def register_variants(
    variants: dict[str, dict],
    model_cls: type,
    checkpoint_filter: Callable | None = None,
    module: str | None = None,
) -> None:
    """Register one builder per row of a family's variant table: `name -> model_cls(**row, **kwargs)`.

    `module` is the registering family module when the class lives in another one (default: the class's).
    """
    for arch, row in variants.items():

        def build(_row: dict = row, **kwargs):
            return model_cls(**{**_row, **kwargs})

        build.__name__ = build.__qualname__ = arch
        build.__module__ = module or model_cls.__module__
        build.variant_args = row
        register_model(build, model_cls=model_cls, checkpoint_filter=checkpoint_filter)


def _expand(filters: str | Iterable[str] | None) -> list[str]:
    if not filters:
        return []
    return [filters] if isinstance(filters, str) else list(filters)


def list_models(
    filter: str | Iterable[str] = "",
    module: str | Iterable[str] = "",
    pretrained: bool = False,
    exclude_filters: str | Iterable[str] = "",
    name_matches_cfg: bool = False,
    include_tags: bool | None = None,
) -> list[str]:
    """Registered model names matching shell-style `filter`(s), in natural sort order.

    With `pretrained=True` only weight sets that have a source are listed; tags (`arch.tag`) are
    listed when `include_tags` is True, which it is by default when `pretrained` is. With
    `name_matches_cfg=True` only names that have a pretrained cfg are listed, which leaves out models
    registered without any.
    """
    _load_tables()
    if include_tags is None:
        include_tags = pretrained
    modules = {m.rsplit(".", 1)[-1] for m in _expand(module)}
    names: list[str] = []
    for arch, entry in _archs.items():
        if modules and entry.module.rsplit(".", 1)[-1] not in modules:
            continue
        if name_matches_cfg and not entry.has_cfg:
            continue
        if include_tags:
            for tag, cfg in entry.tags.items():
                if pretrained and not cfg.has_weights:
                    continue
                names.append(f"{arch}.{tag}" if tag else arch)
        elif not pretrained or any(c.has_weights for c in entry.tags.values()):
            names.append(arch)
    incl, excl = _expand(filter), _expand(exclude_filters)

    def matches(n: str, pats: list[str]) -> bool:
        # a filter without a tag part also matches tagged names of matching architectures
        return any(fnmatch.fnmatchcase(n, p) or fnmatch.fnmatchcase(n.split(".")[0], p) for p in pats)

    if incl:
        names = [n for n in names if matches(n, incl)]
    if excl:
        names = [n for n in names if not matches(n, excl)]
    return sorted(set(names), key=_natural_key)


def list_pretrained(filter: str | Iterable[str] = "", exclude_filters: str | Iterable[str] = "") -> list[str]:
    """`arch.tag` names of every weight set that has a source."""
    return list_models(filter, pretrained=True, exclude_filters=exclude_filters, include_tags=True)


def list_modules() -> list[str]:
    """Family module names, e.g. ['convnext', 'deit', 'efficientnet', ...]."""
    _load_tables()
    return sorted({e.module.rsplit(".", 1)[-1] for e in _archs.values()})


def resolve_model_name(name: str, warn: bool = True) -> tuple[str, str]:
    """Resolve aliases and the default tag: returns (architecture, tag).

    Raises a ValueError naming the closest registered names for an unknown architecture, and the
    existing tags for an unknown tag.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"model name must be a non-empty string, got {name!r}")
    _load_tables()
    if name in _aliases:
        new = _aliases[name]
        if warn:
            warnings.warn(
                f"model name {name!r} is deprecated, use {new!r} instead", DeprecationWarning, stacklevel=3
            )
        name = new
    arch, tag = split_model_name_tag(name)
    entry = _archs.get(arch)
    if entry is None:
        close = difflib.get_close_matches(arch, list(_archs) + list(_aliases), n=5, cutoff=0.6)
        prefix = sorted((a for a in _archs if a.startswith(arch)), key=_natural_key)[:5]
        suggestions = list(dict.fromkeys(prefix + close))[:6]
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        raise ValueError(f"unknown model {arch!r}.{hint} See visionzoo.list_models().")
    if not tag:
        tag = next(iter(entry.tags))
    elif tag not in entry.tags:
        known = ", ".join(t for t in entry.tags if t) or "(none)"
        raise ValueError(f"unknown pretrained tag {tag!r} for {arch!r}; known tags: {known}")
    return arch, tag


def _entry(arch: str) -> _Arch:
    arch, _ = resolve_model_name(arch)
    entry = _archs[arch]
    if entry.builder is None:
        importlib.import_module(entry.module)
        entry = _archs[arch]
        if entry.builder is None:
            raise RuntimeError(f"{entry.module} lists {arch!r} in its weight table but does not register it")
    return entry


def is_model(name: str) -> bool:
    """True when `name` (with or without a tag, or an alias) names a registered model."""
    try:
        resolve_model_name(name, warn=False)
    except (ValueError, TypeError):
        return False
    return True


def model_entrypoint(name: str) -> Callable:
    """The builder function of an architecture (imports its family module if needed)."""
    return _entry(name).builder


def get_arch_module(name: str) -> str:
    _load_tables()
    arch, _ = resolve_model_name(name, warn=False)
    return _archs[arch].module


def get_model_class(name: str) -> type | None:
    return _entry(name).model_cls


def get_checkpoint_filter(name: str) -> Callable | None:
    return _entry(name).checkpoint_filter


def get_pretrained_cfg(name: str) -> PretrainedCfg:
    """A copy of the pretrained cfg of `arch.tag` (the default tag when none is given); change it freely."""
    arch, tag = resolve_model_name(name, warn=False)
    return _archs[arch].tags[tag].copy()


def get_pretrained_tags(name: str) -> dict[str, PretrainedCfg]:
    """Copies of the cfgs of every tag of an architecture, default first."""
    arch, _ = resolve_model_name(name, warn=False)
    return {tag: cfg.copy() for tag, cfg in _archs[arch].tags.items()}
