"""genkit's switches in the environment, read in one way: ``GENKIT_DEBUG=1``, ``GENKIT_STRICT_PLUGINS=yes``, ..."""

from __future__ import annotations

import os

TRUE = frozenset({"1", "true", "yes", "on"})


def env_flag(name: str) -> bool:
    """Whether the variable ``name`` is set to a true value (1, true, yes, on; any case, spaces ignored)."""
    return os.environ.get(name, "").strip().lower() in TRUE
