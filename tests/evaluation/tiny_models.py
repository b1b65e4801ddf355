"""Tiny models of the v2 contracts for the evaluation tests: a spatial latent, a condition, a mixture prior.

Each is one linear layer each way, so a one-epoch run on the small Fashion-MNIST file takes a second.
They are registered in a private registry (a copy of the installed one plus these), installed
process-wide with ``genkit.testing.persistence.registry_installed`` while the tests that use them run.
The decoder of the conditional model adds a label embedding before its sigmoid, so the same code
decodes to a visibly different image under another label: a test can tell whether labels were passed.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from genkit.contract.components import Decoder, Encoder
from genkit.contract.host import get_registry
from genkit.contract.priors import GaussianMixturePrior
from genkit.contract.registry import Registry
from genkit_plugins.vae.sampler import GaussianSampler

SPATIAL_SHAPE = (2, 3, 3)
CLASSES = 10


class TinyEncoder(Encoder):
    """One linear head per sampler parameter, reshaped to the latent shape; a label embedding when conditional."""

    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        pixels = spec.input_shape[0] * spec.input_shape[1] * spec.input_shape[2]
        self.heads = nn.ModuleDict({name: nn.Linear(pixels, spec.latent_numel) for name in spec.parameter_names})
        self.embed = nn.Embedding(spec.classes, pixels) if spec.conditional else None

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return tuple(self.spec.input_shape)

    def forward(self, x, *condition):
        h = x.flatten(1)
        if self.embed is not None:
            h = h + self.embed(condition[0])
        # unflatten, not reshape(len(x), ...): the exported graph must keep a symbolic batch size
        return tuple(self.heads[name](h).unflatten(1, self.spec.latent_shape) for name in self.spec.parameter_names)


class TinyDecoder(Decoder):
    """A linear layer from the flattened latent to the pixels, plus a label embedding when conditional."""

    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        pixels = spec.input_shape[0] * spec.input_shape[1] * spec.input_shape[2]
        self.body = nn.Linear(spec.latent_numel, pixels)
        self.embed = nn.Embedding(spec.classes, pixels) if spec.conditional else None
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, std=3.0)  # labels move the pixels a lot, and training keeps that

    def forward(self, z, *condition):
        h = self.body(z.flatten(1))
        if self.embed is not None:
            h = h + self.embed(condition[0])
        return torch.sigmoid(h).unflatten(1, self.spec.input_shape)


class MixtureSampler(GaussianSampler):
    """The Gaussian posterior under a fixed two-component mixture prior (no KL in closed form)."""

    def prior(self) -> GaussianMixturePrior:
        shape = self.spec.latent_shape
        means = torch.stack([torch.full(shape, -1.5), torch.full(shape, 1.5)]).to(self.prior_mean)
        return GaussianMixturePrior(torch.tensor([0.5, 0.5]).to(self.prior_mean), means,
                                    torch.full((2, *shape), 0.5).to(self.prior_mean))


RECIPES = {
    "tiny-spatial": dict(sampler="gaussian", latent_shape=SPATIAL_SHAPE),
    "tiny-conditional": dict(sampler="gaussian", latent_shape=2, classes=CLASSES),
    "tiny-mixture": dict(sampler="tiny-mixture", latent_shape=2),
}

# a second stage that refits the decoder: for the summary, which lists a stage's loss as a part of its own
STAGED = {"tiny-staged": dict(sampler="gaussian", latent_shape=2, stages=[
    {"name": "refine", "loss": "reconstruction", "trains": ["decoder"], "epochs": 1}])}


def tiny_registry() -> Registry:
    """The installed registry plus the tiny components and recipes."""
    registry = copy.deepcopy(get_registry())
    registry.add_component("encoder", "tiny", TinyEncoder, plugin="tests")
    registry.add_component("decoder", "tiny", TinyDecoder, plugin="tests")
    registry.add_component("sampler", "tiny-mixture", MixtureSampler, plugin="tests")
    for name, parts in {**RECIPES, **STAGED}.items():
        registry.add_recipe(name, plugin="tests", encoder="tiny", decoder="tiny", loss="vae",
                            input_shape=(1, 28, 28), settings={"loss": {"r_loss_factor": 100.0}}, **parts)
    return registry
