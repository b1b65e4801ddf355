"""Deprecation shims: a public name that moves or changes keeps working, with a warning, for a while.

The promise to plugin authors (docs/plugins.md, "Versions and deprecations"): a public name that moves
or changes in release 0.Y keeps working through a shim in 0.Y and 0.(Y+1) at least, and goes in the
release each warning names. Every shim warns once per process with a ``GenkitDeprecationWarning`` that
names the old form, the new one and that release; CHANGELOG.md lists them under "For plugin authors".

This module holds the warning and the moved modules (an import hook, so that ``from genkit.hookspecs
import hookimpl`` gives the very objects of ``genkit.contract.hookspecs``); the shims of changed
signatures live beside the names they keep alive.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import os
import sys
import warnings
from types import ModuleType

# The shims that release 0.2.0 added stay through 0.3.x.
SINCE = "0.2.0"
REMOVED_IN = "0.4.0"


class GenkitDeprecationWarning(DeprecationWarning):
    """A public genkit name used through a deprecation shim; the message says what replaces it and when
    the shim goes. Filter it like any ``DeprecationWarning`` (``-W error::DeprecationWarning`` in a
    plugin's tests turns every use into a failure)."""


_warned: set[str] = set()


_PACKAGE = os.path.dirname(__file__) + os.sep
_IMPORTLIB = os.path.dirname(importlib.__file__) + os.sep  # import_module and entry points' load


def _outside_frames() -> int:
    """The ``stacklevel`` of the first frame outside genkit and importlib: the plugin's line that used the
    old name (or the caller of ``warn_deprecated`` when genkit itself is the whole stack)."""
    frame, level = sys._getframe(1), 1
    while frame is not None:
        name = frame.f_code.co_filename
        internal = "importlib" in name and "_bootstrap" in name  # warnings.warn skips these itself
        if not internal and not name.startswith(_PACKAGE) and not name.startswith(_IMPORTLIB):
            return level
        frame, level = frame.f_back, level + (not internal)
    return 3


def warn_deprecated(old: str, new: str, removed_in: str = REMOVED_IN, since: str = SINCE,
                    where: str | None = None) -> None:
    """Warn, once per process for ``old``, that ``old`` is deprecated in favour of ``new``.

    The warning points at the line of code that used ``old``; for what is not code (a setting in a TOML file
    or a ``--set``), ``where`` says where it was written instead.
    """
    if old in _warned:
        return
    _warned.add(old)
    message = f"{old} is deprecated since genkit {since} and will be removed in genkit {removed_in}; use {new}"
    if where is not None:
        warnings.warn(f"{message} (in {where})", GenkitDeprecationWarning, stacklevel=1)
    else:
        warnings.warn(message, GenkitDeprecationWarning, stacklevel=_outside_frames())


def show_as_lines() -> None:
    """Show every deprecation warning as one ``genkit: warning:`` line with the line that caused it (the
    command line does this, so a plugin's author sees what to change; Python hides them by default)."""
    warnings.filterwarnings("default", category=GenkitDeprecationWarning)
    previous = warnings.showwarning
    if getattr(previous, "shows_genkit_lines", False):
        return

    def showwarning(message, category, filename, lineno, file=None, line=None):
        if not issubclass(category, GenkitDeprecationWarning):
            return previous(message, category, filename, lineno, file, line)
        at = "" if filename == __file__ else f" (at {filename}:{lineno})"  # a setting's warning says where itself
        print(f"genkit: warning: {message}{at}", file=sys.stderr, flush=True)

    showwarning.shows_genkit_lines = True
    warnings.showwarning = showwarning


def forget_warnings() -> None:
    """Warn again for names already warned about (for tests that check each warning)."""
    _warned.clear()


# old module -> its new home; both hold the very same objects.
MOVED_MODULES = {
    "genkit.hookspecs": "genkit.contract.hookspecs",
    "genkit.components": "genkit.contract.components",
    "genkit.plugins": "genkit.contract.host",
    "genkit.registry": "genkit.contract.registry",
    "genkit.model": "genkit.contract.model",
    "genkit.checkpoint": "genkit.run.checkpoint",
}


class _MovedModuleLoader(importlib.abc.Loader):
    def __init__(self, new: str):
        self.new = new

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warn_deprecated(f"module {spec.name}", f"module {self.new}")
        module = importlib.import_module(self.new)
        self.own_spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The new module is already executed; the import system has just set its __spec__ to the old
        # name's, which would make it lie about where it lives.
        module.__spec__ = self.own_spec


class _MovedModuleFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        new = MOVED_MODULES.get(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _MovedModuleLoader(new))


def install() -> None:
    """Make the moved modules importable under their old names (called by ``import genkit``)."""
    if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(_MovedModuleFinder())
