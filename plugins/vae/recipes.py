"""The book's VAE recipes as plain data (no torch), shared with the autoencoder ablation plugin.

Each recipe is the keyword arguments of the ``register_recipes`` callback. ``MNIST_NETWORKS`` holds
the settings the 28x28 VAE and its ablation share, so ``ae`` differs from ``vae`` only in its sampler
and loss.
"""

from __future__ import annotations

import copy
from typing import Any

MNIST_NETWORKS: dict[str, dict[str, Any]] = {
    "encoder": {"filters": [32, 64, 64, 64], "kernels": [3, 3, 3, 3], "strides": [1, 2, 2, 1],
                "batch_norm": False, "dropout": False},
    "decoder": {"filters": [64, 64, 32, 1], "kernels": [3, 3, 3, 3], "strides": [1, 2, 2, 1],
                "batch_norm": False, "dropout": False},
    "training": {"lr": 5e-4, "batch_size": 32, "epochs": 10},
    "data": {"name": "fashion-mnist"},
}

VAE: dict[str, Any] = {
    "encoder": "conv", "sampler": "gaussian", "decoder": "transposed-conv", "loss": "vae",
    "input_shape": (1, 28, 28), "latent_shape": (2,),
    "settings": {**MNIST_NETWORKS, "sampler": {}, "loss": {"r_loss_factor": 1000.0}},
    "description": "the book's 28x28 VAE: 4 conv layers, 2-d latent space, loss 1000 * MSE + KL",
}

VAE_FACES: dict[str, Any] = {
    "encoder": "conv", "sampler": "gaussian", "decoder": "transposed-conv", "loss": "vae",
    "input_shape": (3, 128, 128), "latent_shape": (200,),
    "settings": {
        "encoder": {"filters": [32, 64, 64, 64], "kernels": [3, 3, 3, 3], "strides": [2, 2, 2, 2],
                    "batch_norm": True, "dropout": True},
        "decoder": {"filters": [64, 64, 32, 3], "kernels": [3, 3, 3, 3], "strides": [2, 2, 2, 2],
                    "batch_norm": True, "dropout": True},
        "sampler": {},
        "loss": {"r_loss_factor": 10000.0},
        "training": {"lr": 5e-4, "batch_size": 32, "epochs": 10},
        # No data default: the faces are a folder only the user knows.
        "data": {},
    },
    "description": "the book's 128x128 RGB faces VAE (200-d latent, batch norm, dropout); "
                   "needs an image folder: --data folder:PATH (or --set data.name=folder:PATH)",
}

RECIPES: dict[str, dict[str, Any]] = {"vae": VAE, "vae-faces": VAE_FACES}


def recipe_kwargs(recipe: dict[str, Any]) -> dict[str, Any]:
    """A private copy for one registration, so no registry shares the lists of this module."""
    return copy.deepcopy(recipe)
