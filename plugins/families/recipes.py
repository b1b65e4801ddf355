"""The families' recipes as plain data (no torch): each the book's 28x28 networks and training, one family's parts.

Every recipe keeps the ``vae`` recipe's encoder and decoder settings and its training (Adam 5e-4, batch
32, 10 epochs), so that a comparison between families compares objectives, not networks. Latent sizes
follow each paper's small-image setting where the book's 2 would hide the effect (β-VAE and β-TCVAE
count and decorrelate dimensions: 10; WAE: the paper's 8 for MNIST; IWAE, RAE: 16).
"""

from __future__ import annotations

import copy
from typing import Any

from genkit_plugins.vae.recipes import MNIST_NETWORKS, VAE

BOOK_LOSS = {"r_loss_factor": 1000.0}


def _recipe(sampler: str, loss: str, latent_shape: Any, description: str, sampler_settings: dict | None = None,
            loss_settings: dict | None = None, **extra: Any) -> dict[str, Any]:
    return {**copy.deepcopy(VAE), "sampler": sampler, "loss": loss, "latent_shape": latent_shape,
            "settings": {**copy.deepcopy(MNIST_NETWORKS), "sampler": sampler_settings or {},
                         "loss": loss_settings or {}},
            "description": description, **extra}


RECIPES: dict[str, dict[str, Any]] = {
    "beta-vae": _recipe("gaussian", "beta-vae", (10,), "β-VAE (Higgins et al. 2017): 1000 * MSE + β KL, β = 4, "
                        "10-d latent", loss_settings={**BOOK_LOSS, "beta": 4.0}),
    "beta-tcvae": _recipe("gaussian", "beta-tcvae", (10,), "β-TCVAE (Chen et al. 2018): the KL split into mutual "
                          "information, total correlation (weighted β = 6) and dimension-wise KL, 10-d latent",
                          loss_settings={**BOOK_LOSS, "beta": 6.0}),
    "iwae": _recipe("importance", "iwae", (16,), "IWAE (Burda et al. 2016): the importance-weighted bound with K = 5 "
                    "samples per image, 16-d latent", sampler_settings={"samples": 5}, loss_settings=BOOK_LOSS),
    "wae-mmd": _recipe("wae-code", "wae-mmd", (8,), "WAE-MMD (Tolstikhin et al. 2018): deterministic encoder, "
                       "1000 * MSE + λ MMD (inverse-multiquadratic kernel) to N(0, I), 8-d latent",
                       loss_settings=BOOK_LOSS),
    "rae": _recipe("ex-post-mixture", "rae", (16,), "RAE (Ghosh et al. 2020): deterministic encoder, L2 on z and a "
                   "decoder gradient penalty; a 10-component Gaussian mixture fitted to the codes, 16-d latent",
                   loss_settings=BOOK_LOSS),
    "vq-vae": _recipe("vector-quantizer", "vq-vae", (16, 7, 7), "VQ-VAE (van den Oord et al. 2017): a 7x7 grid of "
                      "codes from 512 entries, straight-through; stage 'prior' fits a gated PixelCNN over the grid",
                      encoder="conv-grid", decoder="transposed-conv-grid",
                      stages=[{"name": "prior", "loss": "prior-nll", "trains": ["sampler.prior_network"],
                               "epochs": 10, "lr": 1e-3}]),
    "cvae": _recipe("gaussian", "vae", (2,), "conditional VAE (Sohn et al. 2015): the book's VAE with the class "
                    "label given to the encoder and the decoder (10 classes)", loss_settings=BOOK_LOSS, classes=10),
}


def recipe_kwargs(recipe: dict[str, Any]) -> dict[str, Any]:
    """A private copy for one registration, so no registry shares the lists of this module."""
    return copy.deepcopy(recipe)
