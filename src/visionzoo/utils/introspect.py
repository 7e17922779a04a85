"""What a callable accepts: used to tell a user which keyword an architecture does not take."""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["accepted_kwargs"]


def accepted_kwargs(fn: Any) -> set[str] | None:
    """Keyword names `fn` (a function or a class) accepts, or None when it takes **kwargs (anything goes)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
