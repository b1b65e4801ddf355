"""Error types the CLI turns into one clear line and a non-zero exit code.

Every error a user can cause (bad config, wrong path, corrupt file, unknown name) is raised as a
``GenkitError`` whose message says what is wrong and how to fix it. Anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import difflib
import sys


class GenkitError(Exception):
    """A problem with the user's input or environment, reported as one line."""

    exit_code = 1


class ConfigError(GenkitError):
    """A malformed or invalid configuration value."""


class UnknownNameError(GenkitError):
    """A name that no plugin registered; the message lists the known names."""

    def __init__(self, kind: str, name: str, known: list[str] | tuple[str, ...], hint: str = ""):
        self.kind, self.name, self.known = kind, name, sorted(known)
        message = f"unknown {kind} {name!r}"
        close = difflib.get_close_matches(name, self.known, n=1)
        message += f"; did you mean {close[0]!r}?" if close else "."
        message += f" Known: {', '.join(self.known) if self.known else '(none registered)'}."
        if hint:
            message += f" {hint}"
        super().__init__(message)


class PluginError(GenkitError):
    """A plugin failed to load or to register (raised only in strict mode or on collisions)."""


class DataError(GenkitError):
    """A dataset that is missing, corrupt or of the wrong shape."""


class RunFolderError(GenkitError):
    """A run folder that is missing, incomplete, corrupt or from an incompatible version."""


class ExportError(GenkitError):
    """An ONNX export that cannot be written, verified or loaded."""


class TrainingError(GenkitError):
    """Training that cannot go on (for instance a NaN loss)."""


class OutputError(GenkitError):
    """An output path that would overwrite an input, or write into a run or export folder not the command's."""


class WriteError(GenkitError):
    """A file or folder that cannot be written (disk full, read-only, a path under a file)."""


_warned: set[str] = set()


def warn(message: str) -> None:
    """One ``genkit: warning:`` line on stderr for something surprising but not wrong; each message once."""
    if message not in _warned:
        _warned.add(message)
        print(f"genkit: warning: {message}", file=sys.stderr, flush=True)
