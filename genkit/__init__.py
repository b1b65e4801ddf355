"""genkit: a plugin-based generative-model framework on PyTorch.

``import genkit`` stays cheap: torch and onnxruntime are imported by the functions that need them.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "load", "train"]


def load(run_dir, device: str = "cpu"):
    """Load a trained ``GenerativeModel`` from a run folder, in eval mode (no pickled code is read)."""
    from genkit.run.checkpoint import load_model

    return load_model(run_dir, device=device)


def train(recipe: str | None = None, **kwargs):
    """Train ``recipe`` into a run folder (or resume one) with ``genkit train``'s guarantees; a ``TrainResult``.

    Keyword arguments: ``config`` (TOML file), ``overrides`` (``section.key=value`` texts), ``out``,
    ``resume``, ``nproc``, ``max_restarts``, ``fast``, ``progress``, ``callbacks`` (``genkit.training.Callback``).
    """
    from genkit.training.runs import train as train_run

    return train_run(recipe, **kwargs)
