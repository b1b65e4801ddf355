"""Adversarial models as a plugin: WGAN-GP and the conditional GAN, generator-only recipes trained by two players.

``generator`` holds the decoder, ``critic`` the critic network, ``gradient_penalty`` the penalty, ``loss`` the
two players' losses (the critic's owns the critic network) and ``recipes`` the recipes. Only hook
implementations live here; components are registered as "module:Class" strings so that loading the plugin
does not import torch.
"""

from __future__ import annotations

from genkit.contract.hookspecs import hookimpl

from .recipes import RECIPES, recipe_kwargs

genkit_api = ">=1.2,<2"

HERE = "genkit_plugins.adversarial"


@hookimpl
def register_decoders(register):
    register("conv-generator", f"{HERE}.generator:ConvGenerator", "z (and the one-hot label) -> dense -> 7x7 "
             "map -> stride-2 ConvTranspose2d stack with BatchNorm -> sigmoid")


@hookimpl
def register_losses(register):
    register("wgan-gp-critic", f"{HERE}.loss:CriticLoss", "WGAN-GP critic loss D(fake) - D(real) + lambda * "
             "gradient penalty; owns the conv critic")
    register("wgan-generator", f"{HERE}.loss:GeneratorLoss", "-D(G(z)), scored by the critic player's critic")


@hookimpl
def register_recipes(register):
    for name, recipe in RECIPES.items():
        register(name, **recipe_kwargs(recipe))
