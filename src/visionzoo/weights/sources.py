"""Where weights come from: local file, installed package, Hugging Face Hub, plain URL (placeholder, see issue 3)."""

from __future__ import annotations

from pathlib import Path

from .cfg import PretrainedCfg
from .errors import WeightsUnavailableError


def resolve_checkpoint_file(cfg: PretrainedCfg, cache_dir: str | Path | None = None) -> Path:
    """Return a local path holding the weights of `cfg`, fetching and caching them if needed."""
    if cfg.file:
        path = Path(cfg.file).expanduser()
        if not path.is_file():
            raise WeightsUnavailableError(f"weights file for {cfg.name} not found: {path}")
        return path
    raise WeightsUnavailableError(f"no usable weight source for {cfg.name}")


def load_model_config(spec: str, cache_dir: str | Path | None = None) -> tuple[str, PretrainedCfg, dict]:
    """Read `config.json` of an 'hf-hub:org/repo' or 'local-dir:/path' model: (architecture, cfg, model_args)."""
    raise WeightsUnavailableError(f"cannot read model config for {spec!r} yet")
