"""The one lazy-import resolver: ``"package.module:attribute"`` strings to the objects they name.

Built-in commands, registry entries, plot kinds and benchmark scenarios are all listed as such strings,
so that listing them imports nothing heavy (no torch) and only what is used gets imported.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def is_target(text: Any) -> bool:
    """Whether ``text`` has the form ``package.module:Attribute.path``."""
    if not isinstance(text, str):
        return False
    module, sep, attr = text.partition(":")
    return bool(sep and _DOTTED.fullmatch(module) and _DOTTED.fullmatch(attr))


def resolve(target: str) -> Any:
    """Import the module of ``target`` and return its attribute, or the module itself for a bare
    ``package.module`` (``ValueError`` for a malformed target).

    Import errors propagate unchanged: each caller knows whom to blame (a plugin, a missing dependency).
    """
    if isinstance(target, str) and _DOTTED.fullmatch(target):
        return importlib.import_module(target)
    if not is_target(target):
        raise ValueError(f"target {target!r} is not of the form 'package.module:Attribute'")
    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj
