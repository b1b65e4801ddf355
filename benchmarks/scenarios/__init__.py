"""The scenarios, in the order a full run goes through them; each module has ``NAME``, ``TITLE`` and ``run(ctx)``.

Modules are imported only when their scenario runs, so listing them costs nothing.
"""

from __future__ import annotations

import importlib
from types import ModuleType

ORDER = ("overhead", "fast_training", "roofline", "profile", "inference", "startup", "ablation", "memory", "gpu")


def load(name: str) -> ModuleType:
    if name not in ORDER:
        raise KeyError(name)
    return importlib.import_module(f"{__name__}.{name}")
