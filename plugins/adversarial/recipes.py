"""The adversarial recipes as plain data (no torch): WGAN-GP and its conditional variant on Fashion-MNIST.

Both follow the book's ch. 4 notebooks (Generative Deep Learning, 2nd ed.) adapted to 28x28: a latent of
128 (the book's Z_DIM), Adam at 2e-4 with betas (0.5, 0.9) for both players, gradient penalty weight 10.
The critic takes 5 steps per generator step, the paper's n_critic (the book's notebook uses 3); the batch
is 64, the paper's (the book's is 512, for 64x64 faces). No average of the generator's weights is kept unless
``training.ema_decay`` is set.
"""

from __future__ import annotations

import copy
from typing import Any

CRITIC_STEPS = 5
OPTIMIZER = {"lr": 2e-4, "betas": [0.5, 0.9]}
PLAYERS = [
    {"name": "critic", "loss": "wgan-gp-critic", "trains": ["player_losses.critic"], "steps": CRITIC_STEPS,
     **OPTIMIZER},
    {"name": "generator", "trains": ["decoder"], "steps": 1, **OPTIMIZER},
]
SETTINGS: dict[str, dict[str, Any]] = {
    "decoder": {"filters": [128, 64], "batch_norm": True},
    # ema_modules names the generator so that `--set training.ema_decay=0.999` averages it (and not the critic)
    "training": {"lr": OPTIMIZER["lr"], "batch_size": 64, "epochs": 30, "ema_modules": ["decoder"]},
    "data": {"name": "fashion-mnist"},
}
WGAN_GP: dict[str, Any] = {
    "encoder": None, "sampler": "gaussian", "decoder": "conv-generator", "loss": "wgan-generator",
    "input_shape": (1, 28, 28), "latent_shape": (128,), "players": PLAYERS, "settings": SETTINGS,
    "description": "WGAN-GP (Gulrajani et al. 2017), the book's ch. 4 GAN at 28x28: a generator from a 128-d "
                   "N(0, I) latent, a conv critic without BatchNorm, gradient penalty 10, 5 critic steps per "
                   "generator step",
}
CGAN: dict[str, Any] = {
    **WGAN_GP, "classes": 10,
    "description": "conditional WGAN-GP (the book's ch. 4 CGAN): the one-hot label joins z in the generator and "
                   "the image as 10 planes in the critic (10 classes)",
}

RECIPES: dict[str, dict[str, Any]] = {"wgan-gp": WGAN_GP, "cgan": CGAN}


def recipe_kwargs(recipe: dict[str, Any]) -> dict[str, Any]:
    """A private copy for one registration, so no registry shares the lists of this module."""
    return copy.deepcopy(recipe)
