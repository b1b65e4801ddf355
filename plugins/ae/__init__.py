"""The autoencoder ablation plugin: a deterministic sampler and a reconstruction-only loss.

Its recipe ``ae`` reuses the vae plugin's encoder and decoder by name. Only hook implementations live
here, and nothing imported from here imports torch.
"""

from __future__ import annotations

from genkit.contract.hookspecs import hookimpl
from genkit_plugins.vae.recipes import recipe_kwargs

from .recipes import RECIPES


@hookimpl
def register_samplers(register):
    register("deterministic", "genkit_plugins.ae.sampler:DeterministicSampler",
             "z = code; prior: a diagonal Gaussian fitted to the training codes")


@hookimpl
def register_losses(register):
    register("reconstruction", "genkit_plugins.ae.loss:ReconstructionLoss", "per-image MSE only")


@hookimpl
def register_recipes(register):
    for name, recipe in RECIPES.items():
        register(name, **recipe_kwargs(recipe))
