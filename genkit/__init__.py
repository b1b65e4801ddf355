"""genkit: a plugin-based generative-model framework on PyTorch.

``import genkit`` stays cheap: torch and onnxruntime are imported by the functions that need them.
"""

from __future__ import annotations

from genkit import deprecation

# The package's version (semantic versioning; pyproject.toml reads it from here). The plugin API has a
# version of its own, genkit.contract.hookspecs.API_VERSION.
__version__ = "0.3.0"

__all__ = ["__version__", "load", "train"]

deprecation.install()  # old module paths (genkit.hookspecs, genkit.components, ...) keep working, with a warning


def load(run_dir, device: str = "cpu", weights: str = "averaged"):
    """Load a trained ``GenerativeModel`` from a run folder, in eval mode (no pickled code is read).

    ``weights``: ``"averaged"`` (the default) puts a run's averaged weights (``training.ema_decay``) in
    place, as evaluation and export use them; ``"trained"`` keeps the last optimizer step's.
    """
    from genkit.run.checkpoint import load_model

    return load_model(run_dir, device=device, weights=weights)


def train(recipe: str | None = None, **kwargs):
    """Train ``recipe`` into a run folder (or resume one) with ``genkit train``'s guarantees; a ``TrainResult``.

    Keyword arguments: ``config`` (TOML file), ``overrides`` (``section.key=value`` texts), ``out``,
    ``resume``, ``nproc``, ``max_restarts``, ``fast``, ``progress``, ``callbacks`` (``genkit.training.Callback``).
    """
    from genkit.training.runs import train as train_run

    return train_run(recipe, **kwargs)
