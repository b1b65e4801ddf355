"""Comparing genkit versions: whether a file was written by a genkit newer than this one.

Run folders (``config.json``'s ``genkit_version``) and exports (the ``genkit_version`` metadata) are
read the same way: a newer writer is not an error when the format is one this genkit reads, but it may
have meant something this genkit does not know, so it is one warning line.
"""

from __future__ import annotations

from typing import Any

from genkit import __version__
from genkit.errors import warn


def is_newer(version: Any) -> bool:
    """Whether ``version`` is later than this genkit's (PEP 440, as pip compares them; False for a version
    that is not one: nothing can be said of it)."""
    from packaging.version import InvalidVersion, Version

    try:
        return Version(str(version)) > Version(__version__)
    except InvalidVersion:
        return False


def warn_if_newer(what: str, version: Any, reading: str) -> None:
    """One warning line when ``what`` was written by a newer genkit; ``reading`` says how it is read anyway."""
    if is_newer(version):
        warn(f"{what} was written by genkit {version}, newer than this {__version__}; {reading}, "
             f"but upgrading genkit is safer")
