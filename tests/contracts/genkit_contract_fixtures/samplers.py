"""Two samplers whose priors are not one Gaussian: a fitted mixture, and discrete codes with a prior network."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from genkit.config import field
from genkit.contract.components import Sampler, SamplerOutput
from genkit.contract.priors import GaussianMixturePrior, NetworkPrior, lookup


class MixtureSampler(Sampler):
    """The code itself; after each epoch a K-component Gaussian mixture is fitted to the training codes."""

    parameter_names = ("code",)
    fits_prior = True

    @dataclasses.dataclass(frozen=True)
    class Settings:
        components: int = field(3, "mixture components", min=1)

    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        k = self.settings.components
        self.register_buffer("weights", torch.full((k,), 1.0 / k))
        self.register_buffer("means", torch.zeros((k, *spec.latent_shape)))
        self.register_buffer("stds", torch.ones((k, *spec.latent_shape)))

    def forward(self, code, generator=None):
        return code

    def mean(self, code):
        return code

    def prior(self):
        return GaussianMixturePrior(self.weights, self.means, self.stds)

    @torch.no_grad()
    def fit_prior(self, codes):
        """k-means from evenly spaced codes (deterministic), then each cluster's share, mean and spread."""
        flat = codes.flatten(1).float()
        k = self.settings.components
        centres = flat[torch.linspace(0, len(flat) - 1, k).long()].clone()
        for _ in range(20):
            assign = torch.cdist(flat, centres).argmin(1)
            for j in range(k):
                members = flat[assign == j]
                if len(members):
                    centres[j] = members.mean(0)
        assign = torch.cdist(flat, centres).argmin(1)
        for j in range(k):
            members = flat[assign == j]
            self.weights[j] = len(members) / len(flat)
            self.means[j] = centres[j].view(self.spec.latent_shape)
            spread = members.std(0, correction=0) if len(members) > 1 else torch.ones_like(centres[j])
            self.stds[j] = spread.clamp_min(1e-3).view(self.spec.latent_shape)


class MaskedConv2d(nn.Conv2d):
    """A PixelCNN convolution: a position sees only the positions before it in raster order (and itself for 'B')."""

    def __init__(self, kind: str, *args, **kwargs):
        super().__init__(*args, **kwargs)
        mask = torch.ones_like(self.weight)
        _, _, h, w = self.weight.shape
        mask[:, :, h // 2, w // 2 + (kind == "B"):] = 0
        mask[:, :, h // 2 + 1:] = 0
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x):
        return nn.functional.conv2d(x, self.weight * self.mask, self.bias, self.stride, self.padding)


class PixelCNN(nn.Module):
    """codes (N, h, w) int64 -> logits (N, M, h, w), each position conditioned on the codes before it."""

    def __init__(self, codes: int, width: int = 32):
        super().__init__()
        self.embed = nn.Embedding(codes, width)
        self.layers = nn.Sequential(MaskedConv2d("A", width, width, 5, padding=2), nn.ReLU(),
                                    MaskedConv2d("B", width, width, 3, padding=1), nn.ReLU(),
                                    nn.Conv2d(width, codes, 1))

    def forward(self, codes):
        return self.layers(self.embed(codes).movedim(-1, 1))


class VectorQuantizer(Sampler):
    """z_e (N, D, h, w) -> the nearest of M codebook entries at each position, gradients straight through."""

    parameter_names = ("z_e",)
    extras = ("codebook_loss", "commitment_loss", "codes")

    @dataclasses.dataclass(frozen=True)
    class Settings:
        codes: int = field(16, "codebook size", min=2)

    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        m, d = self.settings.codes, spec.latent_shape[0]
        self.codebook = nn.Embedding(m, d)
        nn.init.uniform_(self.codebook.weight, -1.0 / m, 1.0 / m)
        self.prior_network = PixelCNN(m)

    def quantize(self, z_e):
        flat = z_e.movedim(1, -1)  # (N, h, w, D)
        distances = (flat.unsqueeze(-2) - self.codebook.weight).square().sum(-1)  # (N, h, w, M)
        codes = distances.argmin(-1)
        return codes, lookup(self.codebook.weight, codes)

    def forward(self, z_e, generator=None):
        codes, q = self.quantize(z_e)
        extras = {"codebook_loss": (q - z_e.detach()).square().mean(),
                  "commitment_loss": (z_e - q.detach()).square().mean(), "codes": codes}
        return SamplerOutput(z_e + (q - z_e).detach(), extras)

    def mean(self, z_e):
        return self.quantize(z_e)[1]

    def prior(self):
        return NetworkPrior(self.prior_network, self.codebook.weight, tuple(self.spec.latent_shape[1:]))
