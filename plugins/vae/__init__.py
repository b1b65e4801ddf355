"""The reference VAE plugin: conv encoder, Gaussian sampler, transposed-conv decoder, VAE loss.

Only hook implementations live here; components are registered as "module:Class" strings so that
loading the plugin (for every ``genkit`` command, ``--help`` included) does not import torch.
"""

from __future__ import annotations

from genkit.contract.hookspecs import hookimpl

from .recipes import RECIPES, recipe_kwargs


@hookimpl
def register_encoders(register):
    register("conv", "genkit_plugins.vae.encoder:ConvEncoder",
             "Conv2d stack -> dense heads (Keras 'same' padding)")


@hookimpl
def register_samplers(register):
    register("gaussian", "genkit_plugins.vae.sampler:GaussianSampler",
             "z = mu + exp(log_var / 2) * eps; prior N(0, I)")


@hookimpl
def register_decoders(register):
    register("transposed-conv", "genkit_plugins.vae.decoder:TransposedConvDecoder",
             "dense -> ConvTranspose2d stack -> sigmoid (Keras 'same' padding)")


@hookimpl
def register_losses(register):
    register("vae", "genkit_plugins.vae.loss:VAELoss", "r_loss_factor * per-image MSE + KL divergence")


@hookimpl
def register_recipes(register):
    for name, recipe in RECIPES.items():
        register(name, **recipe_kwargs(recipe))
