"""The model families researchers compare, as a plugin: β-VAE, β-TCVAE, IWAE, WAE-MMD, RAE, VQ-VAE, cVAE.

One module per family holds its components (``beta_vae``, ``tcvae``, ``iwae``, ``wae``, ``rae`` with
``mixture``, ``vq`` with ``pixelcnn``), ``gaussian`` the densities they share, ``prior_nll`` the loss of a
stage that fits a learnt prior, ``grid`` the book's networks with heads for a (D, h, w) latent, and
``recipes`` the recipes. Only hook implementations live here; components are registered as
"module:Class" strings so that loading the plugin does not import torch.
"""

from __future__ import annotations

from genkit.contract.hookspecs import hookimpl

from .recipes import RECIPES, recipe_kwargs

HERE = "genkit_plugins.families"


@hookimpl
def register_encoders(register):
    register("conv-grid", f"{HERE}.grid:GridConvEncoder", "the book's Conv2d stack -> a 1x1 conv head per "
             "parameter: a (D, h, w) latent on the feature map's grid")


@hookimpl
def register_decoders(register):
    register("transposed-conv-grid", f"{HERE}.grid:GridConvDecoder", "a 1x1 conv from a (D, h, w) latent -> the "
             "book's ConvTranspose2d stack -> sigmoid")


@hookimpl
def register_samplers(register):
    register("importance", f"{HERE}.iwae:ImportanceSampler", "K draws per image from N(mu, exp(log_var)); extras "
             "log q(z|x), log p(z); prior N(0, I)")
    register("wae-code", f"{HERE}.wae:CodeSampler", "z = code; prior N(0, I); extra: as many prior draws, for an MMD")
    register("ex-post-mixture", f"{HERE}.mixture:ExPostMixtureSampler", "z = code; prior: a Gaussian mixture "
             "fitted to the training codes by EM")
    register("vector-quantizer", f"{HERE}.vq:VectorQuantizer", "nearest codebook entry per grid position, straight "
             "through; prior: a gated PixelCNN over the codes")


@hookimpl
def register_losses(register):
    register("beta-vae", f"{HERE}.beta_vae:BetaVAELoss", "r_loss_factor * MSE + beta * KL")
    register("beta-tcvae", f"{HERE}.tcvae:TCVAELoss", "r_loss_factor * MSE + alpha MI + beta TC + gamma "
             "dimension-wise KL (minibatch-weighted sampling)")
    register("iwae", f"{HERE}.iwae:IWAELoss", "the negative importance-weighted bound (Gaussian decoder)")
    register("wae-mmd", f"{HERE}.wae:WAELoss", "r_loss_factor * MSE + lambda * MMD to N(0, I) (IMQ kernel)")
    register("rae", f"{HERE}.rae:RAELoss", "r_loss_factor * MSE + beta ||z||^2 / 2 + lambda decoder gradient penalty")
    register("vq-vae", f"{HERE}.vq:VQLoss", "r_loss_factor * MSE + codebook + beta * commitment")
    register("prior-nll", f"{HERE}.prior_nll:PriorNLL", "-log p(z) of the codes under the model's prior (fits a "
             "learnt prior in a later stage)")


@hookimpl
def register_recipes(register):
    for name, recipe in RECIPES.items():
        register(name, **recipe_kwargs(recipe))
