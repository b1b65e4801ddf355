"""The scenarios, in the order a full run goes through them; each module has ``NAME``, ``TITLE`` and ``run(ctx)``.

Modules are imported only when their scenario runs, so listing them costs nothing.
"""

from __future__ import annotations

from types import ModuleType

from genkit import lazy

ORDER = ("overhead", "fast_training", "roofline", "profile", "inference", "startup", "ablation", "families", "memory",
         "gpu")


def load(name: str) -> ModuleType:
    if name not in ORDER:
        raise KeyError(name)
    return lazy.resolve(f"{__name__}.{name}")
