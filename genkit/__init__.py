"""genkit: a plugin-based generative-model framework on PyTorch.

``import genkit`` stays cheap: torch and onnxruntime are imported by the functions that need them.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "load"]


def load(run_dir, device: str = "cpu"):
    """Load a trained ``GenerativeModel`` from a run folder, in eval mode (no pickled code is read)."""
    from genkit.checkpoint import load_model

    return load_model(run_dir, device=device)
