"""The Hugging Face Hub as a weight source, and the `config.json` layout timm uses there.

Downloads go through `huggingface_hub`, so HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN and
HF_HUB_OFFLINE behave as they do for every other Hub library.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from numbers import Real
from pathlib import Path
from typing import Any

from .cfg import PretrainedCfg
from .download import is_offline, is_unreachable_error
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


def _first_line(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _unreachable(repo: str, filename: str, revision: str | None, cache_dir: str | Path | None) -> str | None:
    """Why the Hub cannot be reached for a file that is not cached, or None when it might be.

    huggingface_hub answers a connection error on a file it has not cached by retrying the request
    five times with back-off (1+2+4+8+8 s). A failed name lookup or a refused connection will not
    heal in that time, so one HEAD request without retries tells them apart first. Cached files
    skip this probe: huggingface_hub falls back to them without retrying.
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_url, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(repo, filename, cache_dir=cache_dir, revision=revision), str):
        return None
    try:
        get_hf_file_metadata(hf_hub_url(repo, filename, revision=revision), retry_on_errors=False)
    except Exception as e:  # anything but an unreachable host is left to hf_hub_download to report
        if is_unreachable_error(e):
            return _first_line(e)
    return None


def hub_download(hub_id: str, filename: str, cache_dir: str | Path | None = None) -> Path:
    """Fetch one file of a Hub repo (or find it in the cache); returns its local path.

    Raises FileNotFoundError when the repo does not have the file, WeightsUnavailableError when the Hub
    cannot be reached (or HF_HUB_OFFLINE is set) and no cached copy exists. An unresolvable or refusing
    host fails at once rather than after huggingface_hub's retries.
    """
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError

    repo, revision = split_repo_revision(hub_id)
    offline = is_offline()
    if not offline:
        reason = _unreachable(repo, filename, revision, cache_dir)
        if reason is not None:
            raise WeightsUnavailableError(
                f"{filename} of {repo} is not in the Hugging Face cache and the Hub at {constants.ENDPOINT} "
                f"cannot be reached: {reason}"
            )
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
        raise WeightsUnavailableError(f"cannot fetch {filename} from {repo}: {_first_line(e)}") from None
    return Path(path)


def hub_weights_file(cfg: PretrainedCfg, cache_dir: str | Path | None = None) -> Path:
    """The weight file of `cfg.hf_hub_id`: `cfg.hf_hub_filename`, else model.safetensors, else pytorch_model.bin."""
    names = (cfg.hf_hub_filename,) if cfg.hf_hub_filename else WEIGHT_FILES[:2]
    reasons = []
    for name in names:
        try:
            return hub_download(cfg.hf_hub_id, name, cache_dir)
        except (FileNotFoundError, WeightsUnavailableError) as e:
            reasons.append(str(e))
    raise WeightsUnavailableError("; ".join(reasons))


def find_weights_in_dir(folder: Path) -> Path | None:
    """The preferred weight file in a local model folder, or None."""
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    return next(iter(sorted(folder.glob("*.safetensors"))), None)


MAX_CONFIG_DEPTH = 32  # nesting deeper than this in a config.json is refused before anything recurses


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


def _list_of(check: Callable[[Any], bool], length: int | None = None) -> Callable[[Any], bool]:
    return lambda v: (
        isinstance(v, (list, tuple)) and (length is None or len(v) == length) and all(map(check, v))
    )


def _str_or_strs(v: Any) -> bool:
    return isinstance(v, str) or _list_of(lambda x: isinstance(x, str))(v)


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


# PretrainedCfg fields a config.json may set: the check their value must pass, and what it expects.
_FIELD_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "tag": (_is_str, "a string"),
    "num_classes": (lambda v: _is_int(v) and v >= 0, "a non-negative integer"),
    "input_size": (_list_of(lambda x: _is_int(x) and x > 0, 3), "a list of 3 positive integers"),
    "test_input_size": (_list_of(lambda x: _is_int(x) and x > 0, 3), "a list of 3 positive integers"),
    "fixed_input_size": (lambda v: isinstance(v, bool), "true or false"),
    "interpolation": (_is_str, "a string"),
    "crop_pct": (lambda v: _is_number(v) and v > 0, "a positive number"),
    "test_crop_pct": (lambda v: _is_number(v) and v > 0, "a positive number"),
    "crop_mode": (_is_str, "a string"),
    "mean": (_list_of(_is_number), "a list of numbers"),
    "std": (_list_of(_is_number), "a list of numbers"),
    "label_set": (_is_str, "a string"),
    "classifier": (_str_or_strs, "a string or a list of strings"),
    "first_conv": (_str_or_strs, "a string or a list of strings"),
    "pool_size": (_list_of(lambda x: _is_int(x) and x > 0, 2), "a list of 2 positive integers"),
    "license": (_is_str, "a string"),
    "top1": (_is_number, "a number"),
    "paper_ids": (_str_or_strs, "a string or a list of strings"),
    "origin_url": (_is_str, "a string"),
    "notes": (_str_or_strs, "a string or a list of strings"),
}
# model_args a config.json may set that every architecture takes.
_MODEL_ARG_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "num_classes": _FIELD_TYPES["num_classes"],
    "in_chans": (lambda v: _is_int(v) and v > 0, "a positive integer"),
}


def _check_types(
    values: dict[str, Any], table: dict[str, tuple[Callable[[Any], bool], str]], where: str
) -> None:
    for key, (check, expected) in table.items():
        value = values.get(key)
        if value is not None and not check(value):
            raise ValueError(f"{where}{key!r} must be {expected}, got {value!r:.60}")


def _check_depth(value: Any, limit: int = MAX_CONFIG_DEPTH) -> None:
    """Refuse JSON nested deeper than `limit`, without recursing."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                raise ValueError(f"it is nested more than {limit} levels deep")
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))


def _object(config: dict[str, Any], key: str) -> dict[str, Any]:
    """`config[key]` when it is a JSON object, {} when it is missing or null."""
    value = config.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{key!r} must be a JSON object, got {type(value).__name__}")
    return value


def _tuple_labels(labels: Any) -> tuple[str, ...] | None:
    """timm stores label names as a list, or as a dict {index: name} when there are gaps."""
    if not labels:
        return None
    if isinstance(labels, dict):
        if not all(isinstance(k, str) and k.strip().isdigit() for k in labels):
            raise ValueError("'label_names' as an object must map class indices to names")
        return tuple(str(labels[k]) for k in sorted(labels, key=int))
    if not isinstance(labels, list):
        raise ValueError(f"'label_names' must be a list or an object, got {type(labels).__name__}")
    return tuple(str(x) for x in labels)


def parse_model_config(config: dict[str, Any]) -> tuple[str, PretrainedCfg, dict[str, Any]]:
    """Turn a timm-style `config.json` dict into (architecture, PretrainedCfg, model_args).

    Both layouts are read: the current one (`architecture`, `num_classes`, `pretrained_cfg`,
    `model_args`, `label_names` at the top) and the older flat one where everything sits at the top.
    The values of known fields are type-checked; a wrong one raises a ValueError naming it.
    """
    if not isinstance(config, dict):
        raise ValueError(f"config.json must hold a JSON object, got {type(config).__name__}")
    _check_depth(config)
    if "pretrained_cfg" in config:
        pcfg = dict(_object(config, "pretrained_cfg"))
        top = config
    else:  # older flat layout
        pcfg = dict(config)
        top = {"architecture": pcfg.pop("architecture", None), "label_names": pcfg.pop("labels", None)}
    arch = top.get("architecture") or pcfg.get("architecture")
    if not arch or not isinstance(arch, str):
        raise ValueError("config.json has no 'architecture' entry naming the model")
    _check_types(top, {"num_classes": _FIELD_TYPES["num_classes"]}, "")
    if top.get("num_classes") is not None:
        pcfg["num_classes"] = top["num_classes"]
    if top.get("label_names"):
        pcfg["label_names"] = top["label_names"]
    pcfg["label_names"] = _tuple_labels(pcfg.get("label_names"))
    pcfg.update(_object(config, "visionzoo"))  # fields timm has no name for, written by save_pretrained
    for key in SOURCE_FIELDS:
        pcfg.pop(key, None)
    pcfg.pop("architecture", None)
    pcfg.pop("source", None)
    pcfg = {k: v for k, v in pcfg.items() if v is not None}  # a null leaves the field at its default
    _check_types(pcfg, _FIELD_TYPES, "pretrained_cfg " if top is config else "")
    if not isinstance(pcfg.get("extra", {}), dict):
        raise ValueError(f"pretrained_cfg 'extra' must be a JSON object, got {type(pcfg['extra']).__name__}")
    cfg = PretrainedCfg.from_dict({"architecture": arch, **pcfg})
    model_args = dict(_object(config, "model_args"))
    _check_types(model_args, _MODEL_ARG_TYPES, "model_args ")
    return arch, cfg, model_args


def read_config_file(path: Path) -> dict[str, Any]:
    """The JSON object in `path`; unreadable, non-UTF-8, invalid or too deeply nested JSON is a one-line ValueError."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not UTF-8 text (byte {e.start}: {e.reason})") from None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None
    except RecursionError:
        raise ValueError(f"{path} is nested too deeply to be a model config") from None
    return config


def read_model_config(path: Path) -> tuple[str, PretrainedCfg, dict[str, Any]]:
    """Read and parse a `config.json` (see `parse_model_config`); every error is a one-line ValueError naming `path`."""
    config = read_config_file(path)
    try:
        return parse_model_config(config)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{path}: {str(e).splitlines()[0]}") from None
