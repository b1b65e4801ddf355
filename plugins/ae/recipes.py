"""The autoencoder ablation recipe: the ``vae`` recipe with exactly two registry entries swapped."""

from __future__ import annotations

from typing import Any

from genkit_plugins.vae.recipes import MNIST_NETWORKS, VAE

AE: dict[str, Any] = {
    **VAE,
    "sampler": "deterministic",
    "loss": "reconstruction",
    "settings": {**MNIST_NETWORKS, "sampler": {}, "loss": {}},
    "description": "ablation of `vae`: deterministic sampler (prior fitted to the codes) and MSE-only "
                   "loss; uses the vae plugin's conv encoder and transposed-conv decoder",
}

RECIPES: dict[str, dict[str, Any]] = {"ae": AE}
