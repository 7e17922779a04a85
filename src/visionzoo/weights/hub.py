"""The Hugging Face Hub as a weight source, and the `config.json` layout timm uses there.

Downloads go through `huggingface_hub`, so HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN and
HF_HUB_OFFLINE behave as they do for every other Hub library.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .cfg import PretrainedCfg
from .download import is_offline
from .errors import WeightsUnavailableError

# Weight files looked for in a Hub repo or a local folder, most preferred first.
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "pytorch_model.pth", "model.pth")
CONFIG_FILE = "config.json"

# Fields that say where weights come from; a config.json never carries them (the folder/repo is the source).
SOURCE_FIELDS = ("file", "package", "hf_hub_id", "hf_hub_filename", "url", "sha256", "state_dict_key")


def split_repo_revision(hub_id: str) -> tuple[str, str | None]:
    """'org/repo@rev' -> ('org/repo', 'rev'); no '@' -> ('org/repo', None)."""
    repo, _, revision = hub_id.partition("@")
    return repo, revision or None


def hub_download(hub_id: str, filename: str, cache_dir: str | Path | None = None) -> Path:
    """Fetch one file of a Hub repo (or find it in the cache); returns its local path.

    Raises FileNotFoundError when the repo does not have the file, WeightsUnavailableError when the Hub
    cannot be reached (or HF_HUB_OFFLINE is set) and no cached copy exists.
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError

    repo, revision = split_repo_revision(hub_id)
    offline = is_offline()
    try:
        path = hf_hub_download(
            repo,
            filename,
            revision=revision,
            cache_dir=cache_dir,
            local_files_only=offline,
            library_name="visionzoo",
        )
    except EntryNotFoundError as e:
        if isinstance(e, LocalEntryNotFoundError):
            why = "HF_HUB_OFFLINE is set" if offline else "the Hub could not be reached"
            raise WeightsUnavailableError(
                f"{filename} of {repo} is not in the Hugging Face cache and {why}"
            ) from None
        raise FileNotFoundError(f"{repo} has no file {filename}") from None
    except (HfHubHTTPError, OSError, ValueError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise WeightsUnavailableError(f"cannot fetch {filename} from {repo}: {first}") from None
    return Path(path)


def hub_weights_file(cfg: PretrainedCfg, cache_dir: str | Path | None = None) -> Path:
    """The weight file of `cfg.hf_hub_id`: `cfg.hf_hub_filename`, else model.safetensors, else pytorch_model.bin."""
    names = (cfg.hf_hub_filename,) if cfg.hf_hub_filename else WEIGHT_FILES[:2]
    reasons = []
    for name in names:
        try:
            return hub_download(cfg.hf_hub_id, name, cache_dir)
        except FileNotFoundError as e:
            reasons.append(str(e))
        except WeightsUnavailableError as e:
            reasons.append(str(e))
    raise WeightsUnavailableError("; ".join(reasons))


def find_weights_in_dir(folder: Path) -> Path | None:
    """The preferred weight file in a local model folder, or None."""
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    return next(iter(sorted(folder.glob("*.safetensors"))), None)


def _tuple_labels(labels: Any) -> tuple[str, ...] | None:
    """timm stores label names as a list, or as a dict {index: name} when there are gaps."""
    if not labels:
        return None
    if isinstance(labels, dict):
        return tuple(str(labels[k]) for k in sorted(labels, key=int))
    return tuple(str(x) for x in labels)


def parse_model_config(config: dict[str, Any]) -> tuple[str, PretrainedCfg, dict[str, Any]]:
    """Turn a timm-style `config.json` dict into (architecture, PretrainedCfg, model_args).

    Both layouts are read: the current one (`architecture`, `num_classes`, `pretrained_cfg`,
    `model_args`, `label_names` at the top) and the older flat one where everything sits at the top.
    """
    if not isinstance(config, dict):
        raise ValueError(f"config.json must hold a JSON object, got {type(config).__name__}")
    if "pretrained_cfg" in config:
        pcfg = dict(config["pretrained_cfg"] or {})
        top = config
    else:  # older flat layout
        pcfg = dict(config)
        top = {"architecture": pcfg.pop("architecture", None), "label_names": pcfg.pop("labels", None)}
    arch = top.get("architecture") or pcfg.get("architecture")
    if not arch or not isinstance(arch, str):
        raise ValueError("config.json has no 'architecture' entry naming the model")
    if top.get("num_classes") is not None:
        pcfg["num_classes"] = top["num_classes"]
    if top.get("label_names"):
        pcfg["label_names"] = top["label_names"]
    pcfg["label_names"] = _tuple_labels(pcfg.get("label_names"))
    pcfg.update(config.get("visionzoo") or {})  # fields timm has no name for, written by save_pretrained
    for key in SOURCE_FIELDS:
        pcfg.pop(key, None)
    pcfg.pop("architecture", None)
    pcfg.pop("source", None)
    cfg = PretrainedCfg.from_dict({"architecture": arch, **pcfg})
    model_args = dict(config.get("model_args") or {})
    return arch, cfg, model_args


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None
