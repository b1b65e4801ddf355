"""The sections of an evaluation that need an encoder, for a generator-only model: no numbers, and why.

Reconstruction error, the latent diagnostics (KL per dimension, active units, the aggregate posterior)
and the likelihood (importance sampling with the encoder as proposal) all start from encoding real
images. A generator-only model decodes prior draws only, so each section keeps its keys (tables and
two-model comparisons line up) with the one-line reason in its note, as a model without a density is
told it has none.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from genkit.evaluation.latent import ACTIVE_THRESHOLD
from genkit.evaluation.likelihood import LikelihoodSettings, empty

if TYPE_CHECKING:
    from genkit.evaluation.source import Source

NOTE = "not computed: a generator-only model has no encoder"


def encoder_sections(source: Source, images: int, nll: LikelihoodSettings | None) -> dict[str, Any]:
    """``reconstruction``, ``latent``, ``likelihood`` and ``loss_per_class`` of a generator-only ``source``."""
    latent = {"latent_shape": list(source.latent_shape), "dimensions": source.latent_numel, "kl_per_dim": None,
              "kl_per_dim_mean": None, "active_dims": None, "active_threshold": ACTIVE_THRESHOLD,
              "code_variance": None, "note": f"{NOTE} to place real images in its latent space", "aggregate": None}
    return {
        "reconstruction": None,
        "reconstruction_note": f"{NOTE} to reconstruct with",
        "latent": latent,
        "likelihood": empty(nll or LikelihoodSettings(), f"{NOTE} to propose latent points for importance sampling",
                            of_images=images, dimensions=math.prod(source.input_shape)),
        "loss_per_class": None,
    }
