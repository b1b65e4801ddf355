"""Which plugin component an error came from, named the way a user can act on: kind, name and plugin.

A component is plugin code: when it raises, the one line a user sees must say whose code it was
(``decoder 'mlp' of plugin 'example'``), not show a traceback through genkit. The command line asks
``blame`` about any exception that is not a ``GenkitError``; the fit check names components the same way.
This module imports no torch: a component can only have raised if its module was imported already.
"""

from __future__ import annotations

import sys
from typing import Any

# Errors plugin code raises when it meets what it does not expect; anything else (a KeyboardInterrupt, a
# MemoryError, genkit's own errors) keeps its own handling.
PLUGIN_FAILURES = (ValueError, TypeError, KeyError, IndexError, AttributeError, RuntimeError, NotImplementedError)


def _target_of(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def describe(component: Any, kind: str | None = None, name: str | None = None) -> str:
    """``decoder 'mlp' of plugin 'example'``: the component's kind, registered name and plugin, as far as known."""
    kind = kind or getattr(component, "kind", "") or "component"
    cls = component if isinstance(component, type) else type(component)
    entry = _registered(kind, cls, name)
    if entry is None:
        return f"{kind} {cls.__qualname__} ({_target_of(cls)})"
    return f"{kind} {entry.name!r} of plugin {entry.plugin!r}"


def _registered(kind: str, cls: type, name: str | None):
    """The registry entry of ``cls`` (by name where given, else by its target), or None."""
    host = sys.modules.get("genkit.contract.host")
    loaded = host.loaded_host() if host is not None else None
    if loaded is None:  # no plugins loaded: nothing registered to name
        return None
    table = loaded.registry.components.get(kind, {})
    if name in table:
        return table[name]
    target = _target_of(cls)
    for entry in table.values():
        if entry.target is cls or entry.target == target:
            return entry
    return None


def blame(exc: BaseException) -> str | None:
    """One line naming the plugin component whose code raised ``exc``, or None when none did.

    The innermost frame on the traceback that runs a method of a ``Component`` is the one to blame: a
    loss that calls genkit's helpers is still the loss's failure.
    """
    components = sys.modules.get("genkit.contract.components")
    if components is None or not isinstance(exc, PLUGIN_FAILURES):
        return None
    culprit, tb = None, exc.__traceback__
    while tb is not None:
        owner = tb.tb_frame.f_locals.get("self")
        if isinstance(owner, components.Component):
            culprit = owner
        tb = tb.tb_next
    if culprit is None:
        return None
    text = " ".join(str(exc).split()) or "(no message)"
    return (f"{describe(culprit)} raised {type(exc).__name__}: {text} (in the plugin's code; "
            f"--debug shows the traceback)")
