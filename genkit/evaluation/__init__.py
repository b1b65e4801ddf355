"""Evaluation of a trained model: loss terms, reconstruction, latent diagnostics and generation quality.

    from genkit.evaluation import evaluate, open_source

    result = evaluate(open_source("runs/vae"), seed=0)   # a run folder or an ONNX export folder

``source`` (the run/export abstraction), ``terms`` (each image's loss terms on the host), ``metrics``
(``evaluate``), ``classifier`` (the cached feature network), ``frechet``, ``kid``, ``generation``,
``latent``, ``density`` (whether a model defines one), ``likelihood`` (importance-sampled NLL, ELBO and
IWAE bounds), ``aggregate`` (mutual information and total correlation of the aggregate posterior) and
``normal`` (Φ, Φ⁻¹) hold one concept each; ``generator_terms`` (the loss terms of a model without an
encoder, scored by its run's own model) and ``no_encoder`` (the sections such a model cannot have, with
the reason) serve generator-only models. Latents of any shape are evaluated (flattened where a
measure works per dimension); a conditional model is evaluated with the data's labels.
"""

from __future__ import annotations

from typing import Any

__all__ = ["evaluate", "open_source"]


def evaluate(*args: Any, **kwargs: Any) -> dict[str, Any]:
    from genkit.evaluation.metrics import evaluate as _evaluate

    return _evaluate(*args, **kwargs)


def open_source(*args: Any, **kwargs: Any):
    from genkit.evaluation.source import open_source as _open

    return _open(*args, **kwargs)
