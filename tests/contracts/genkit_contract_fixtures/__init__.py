"""A small third-party-style plugin whose recipes exercise each core contract end to end.

``fixture-cvae`` (a condition), ``fixture-spatial`` (a (2, 7, 7) latent), ``fixture-mixture`` (a
Gaussian-mixture prior fitted to the codes), ``fixture-vq`` (discrete codes on a 7×7 grid, a
PixelCNN-style prior network exported as prior.onnx, fitted in a second training stage). The networks
are tiny so that each trains in seconds; they prove the contracts, not the families.
"""

from __future__ import annotations

import pluggy

hookimpl = pluggy.HookimplMarker("genkit")
HERE = "genkit_contract_fixtures"

NETWORKS = {"training": {"batch_size": 64, "epochs": 1, "lr": 2e-3, "samples": 20}, "data": {"name": "fashion-mnist"}}


@hookimpl
def register_encoders(register):
    register("fixture-mlp-encoder", f"{HERE}.networks:MLPEncoder", "flatten, one hidden layer, a head per parameter")
    register("fixture-grid-encoder", f"{HERE}.networks:GridEncoder", "two stride-2 convolutions to a 7x7 grid")


@hookimpl
def register_decoders(register):
    register("fixture-mlp-decoder", f"{HERE}.networks:MLPDecoder", "one hidden layer to the image, sigmoid")
    register("fixture-grid-decoder", f"{HERE}.networks:GridDecoder", "two stride-2 transposed convolutions")


@hookimpl
def register_samplers(register):
    register("fixture-mixture", f"{HERE}.samplers:MixtureSampler", "deterministic code, mixture fitted to the codes")
    register("fixture-vq", f"{HERE}.samplers:VectorQuantizer", "nearest codebook entry, straight through")


@hookimpl
def register_losses(register):
    register("fixture-vq-loss", f"{HERE}.losses:VQLoss", "MSE + codebook + commitment terms")
    register("fixture-prior-nll", f"{HERE}.losses:PriorNLL", "negative log-likelihood of the codes under the prior")


@hookimpl
def register_recipes(register):
    mlp = {"encoder": "fixture-mlp-encoder", "decoder": "fixture-mlp-decoder", "input_shape": (1, 28, 28)}
    grid = {"encoder": "fixture-grid-encoder", "decoder": "fixture-grid-decoder", "input_shape": (1, 28, 28)}
    register("fixture-cvae", **mlp, sampler="gaussian", loss="vae", latent_shape=2, classes=10,
             settings={**NETWORKS, "loss": {"r_loss_factor": 1000.0}}, description="class-conditional VAE")
    register("fixture-spatial", **grid, sampler="gaussian", loss="vae", latent_shape=(2, 7, 7),
             settings={**NETWORKS, "encoder": {"channels": 2}, "decoder": {"channels": 2}},
             description="VAE with a (2, 7, 7) latent")
    register("fixture-mixture", **mlp, sampler="fixture-mixture", loss="reconstruction", latent_shape=2,
             settings=NETWORKS, description="autoencoder with a mixture prior fitted to its codes")
    register("fixture-vq", **grid, sampler="fixture-vq", loss="fixture-vq-loss", latent_shape=(4, 7, 7),
             settings={**NETWORKS, "encoder": {"channels": 4}, "decoder": {"channels": 4}},
             stages=[{"name": "prior", "loss": "fixture-prior-nll", "trains": ["sampler.prior_network"],
                      "epochs": 1, "lr": 3e-3}],
             description="discrete 7x7 codes; a second stage fits the prior network over them")
