"""Small sound components of every contract core v2 opened, written as a plugin author would, and recipes of them.

Each is the simplest honest instance of its contract, so that the conformance kit can be shown to pass it and to
catch the one mistake a variant in ``broken_families.py`` makes:

- ``DenseEncoder`` / ``DenseDecoder``: any latent shape; conditional on a class label when the spec has classes.
- ``MixtureSampler``: the code itself, with a fixed three-component Gaussian mixture prior.
- ``ImportanceSampler``: K = 3 reparameterised draws per image (K·N rows) and the extra ``log_q``.
- ``QuantisingSampler``: nearest codebook entry on a spatial grid, straight-through gradients, the extras
  ``codes``, ``codebook_loss`` and ``commitment_loss``, and a PixelCNN-style ``NetworkPrior`` that a second
  training stage fits; ``CategoricalQuantisingSampler`` instead fits independent code frequencies per position.
- ``QuantisedLoss``, ``ImportanceWeightedLoss`` (reads z, the extras and the prior) and ``PriorLoss`` (no
  reconstruction: the stage loss of the network prior).
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from genkit.config import field
from genkit.contract.components import Decoder, Encoder, Loss, Sampler, SamplerOutput
from genkit.contract.priors import CategoricalPrior, GaussianMixturePrior, NetworkPrior, lookup
from genkit.contract.registry import Registry
from genkit_plugins.ae.loss import ReconstructionLoss
from genkit_plugins.vae.loss import VAELoss, per_image_mse
from genkit_plugins.vae.sampler import GaussianSampler, standard_normal_like

INPUT = (1, 8, 8)
GRID_LATENT = (3, 2, 3)  # D = 3 channels on a 2x3 grid of codes


class DenseEncoder(Encoder):
    """Flatten, one hidden layer (plus a label embedding when conditional), a head per output of the latent shape."""

    @dataclasses.dataclass(frozen=True)
    class Settings:
        hidden: int = field(16, "hidden units", min=1)

    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        hidden = self.settings.hidden
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(spec.input_shape), hidden))
        self.embed = nn.Embedding(spec.classes, hidden) if spec.conditional else None
        self.heads = nn.ModuleList(nn.Linear(hidden, spec.latent_numel) for _ in spec.parameter_names)

    @property
    def feature_shape(self):
        return (self.settings.hidden,)

    def forward(self, x, *condition):
        h = self.body(x)
        if self.embed is not None:
            h = h + self.embed(condition[0])
        h = torch.relu(h)
        return tuple(head(h).unflatten(1, self.spec.latent_shape) for head in self.heads)


class DenseDecoder(Decoder):
    @dataclasses.dataclass(frozen=True)
    class Settings:
        hidden: int = field(16, "hidden units", min=1)

    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        hidden = self.settings.hidden
        self.body = nn.Linear(spec.latent_numel, hidden)
        self.embed = nn.Embedding(spec.classes, hidden) if spec.conditional else None
        self.out = nn.Linear(hidden, math.prod(spec.input_shape))

    def forward(self, z, *condition):
        h = self.body(z.flatten(1))
        if self.embed is not None:
            h = h + self.embed(condition[0])
        return torch.sigmoid(self.out(torch.relu(h))).view(-1, *self.spec.input_shape)


class MixtureSampler(Sampler):
    """z is the code; the prior is a fixed mixture of three Gaussians of unequal weights, means and spreads."""

    parameter_names = ("code",)

    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        d = spec.latent_numel
        self.register_buffer("weights", torch.tensor([0.5, 0.3, 0.2]), persistent=False)
        means = torch.stack([torch.full((d,), -3.0), torch.linspace(0.0, 1.0, d), torch.full((d,), 4.0)])
        self.register_buffer("means", means.reshape(3, *spec.latent_shape), persistent=False)
        self.register_buffer("stds", torch.tensor([0.5, 1.0, 0.25]).reshape(3, *[1] * len(spec.latent_shape))
                             .expand(3, *spec.latent_shape).clone(), persistent=False)

    def forward(self, code, generator=None):
        return code

    def mean(self, code):
        return code

    def prior(self):
        return GaussianMixturePrior(self.weights, self.means, self.stds)


class ImportanceSampler(GaussianSampler):
    """K draws per image, laid out as K blocks of N rows, and log q(z | x) of each."""

    extras = ("log_q",)
    K = 3

    def forward(self, mu, log_var, generator=None):
        mu, log_var = mu.repeat(self.K, *[1] * (mu.dim() - 1)), log_var.repeat(self.K, *[1] * (mu.dim() - 1))
        std = torch.exp(log_var / 2)
        z = mu + std * standard_normal_like(mu, generator)
        log_q = torch.distributions.Normal(mu, std).log_prob(z).flatten(1).sum(1)
        return SamplerOutput(z, {"log_q": log_q})


class MaskedConv2d(nn.Conv2d):
    """A position sees the positions before it in raster order (type 'A'), and itself too (type 'B')."""

    def __init__(self, kind, *args, **kwargs):
        super().__init__(*args, **kwargs)
        mask = torch.ones_like(self.weight)
        h, w = self.weight.shape[-2:]
        mask[:, :, h // 2, w // 2 + (kind == "B"):] = 0
        mask[:, :, h // 2 + 1:] = 0
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x):
        return nn.functional.conv2d(x, self.weight * self.mask, self.bias, self.stride, self.padding)


class PixelCNN(nn.Module):
    """codes (N, h, w) -> logits (N, M, h, w), each position conditioned on the codes before it."""

    def __init__(self, codes, width=8):
        super().__init__()
        self.embed = nn.Embedding(codes, width)
        self.a = MaskedConv2d("A", width, width, 3, padding=1)
        self.b = MaskedConv2d("B", width, codes, 1)

    def forward(self, codes):
        return self.b(torch.relu(self.a(self.embed(codes).movedim(-1, 1))))


class QuantisingSampler(Sampler):
    """The nearest of M codebook entries at each grid position, with gradients passed straight through."""

    parameter_names = ("z_e",)
    extras = ("codes", "codebook_loss", "commitment_loss")

    @dataclasses.dataclass(frozen=True)
    class Settings:
        codes: int = field(6, "codebook entries", min=2)

    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        self.codebook = nn.Parameter(torch.randn(self.settings.codes, spec.latent_shape[0]))
        self.prior_network = PixelCNN(self.settings.codes)

    def quantise(self, z_e):
        flat = z_e.movedim(1, -1)  # (N, *grid, D)
        distance = (flat.unsqueeze(-2) - self.codebook).square().sum(-1)  # (N, *grid, M)
        codes = distance.argmin(-1)
        return codes, lookup(self.codebook, codes)

    def forward(self, z_e, generator=None):
        codes, z_q = self.quantise(z_e)
        extras = {"codes": codes, "codebook_loss": (z_q - z_e.detach()).square().mean(),
                  "commitment_loss": (z_e - z_q.detach()).square().mean()}
        return SamplerOutput(z_e + (z_q - z_e).detach(), extras)

    def mean(self, z_e):
        return self.quantise(z_e)[1]

    def prior(self):
        return NetworkPrior(self.prior_network, self.codebook, tuple(self.spec.latent_shape[1:]))


class CategoricalQuantisingSampler(QuantisingSampler):
    """The same quantiser with independent codes per position, their frequencies fitted to the training codes."""

    fits_prior = True

    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        del self.prior_network
        self.register_buffer("logits", torch.zeros(*spec.latent_shape[1:], self.settings.codes))

    def prior(self):
        return CategoricalPrior(self.codebook, self.logits)

    @torch.no_grad()
    def fit_prior(self, codes):
        index = (codes.movedim(1, -1).unsqueeze(-2) - self.codebook).square().sum(-1).argmin(-1)  # (N, *grid)
        counts = nn.functional.one_hot(index, self.settings.codes).sum(0).float()
        self.logits.copy_((counts + 0.5).log())


class QuantisedLoss(Loss):
    terms = ("loss", "mse", "codebook_loss", "commitment_loss")

    def forward(self, x, out):
        mse = per_image_mse(x, out.x_hat).mean()
        codebook, commitment = out.extras["codebook_loss"], out.extras["commitment_loss"]
        return {"loss": mse + codebook + 0.25 * commitment, "mse": mse, "codebook_loss": codebook,
                "commitment_loss": commitment}


class ImportanceWeightedLoss(Loss):
    """-log of the mean importance weight p(x | z) p(z) / q(z | x) over the K draws per image."""

    terms = ("loss", "mse")

    def forward(self, x, out):
        k = len(out.z) // len(x)
        target = x.repeat(k, 1, 1, 1)
        log_px = -100.0 * (out.x_hat.float() - target).square().flatten(1).mean(1)
        log_w = (log_px + out.prior.log_prob(out.z) - out.extras["log_q"]).view(k, len(x))
        loss = -(torch.logsumexp(log_w, 0) - math.log(k)).mean()
        return {"loss": loss, "mse": per_image_mse(target, out.x_hat).mean()}


class PriorLoss(Loss):
    """The prior's negative log-likelihood of the codes: no reconstruction, only the prior network learns."""

    needs_reconstruction = False

    def forward(self, x, out):
        return {"loss": -out.prior.log_prob(out.z, codes=out.extras["codes"]).mean()}


def family_registry(parts: dict[tuple[str, str], type] | None = None) -> Registry:
    """The recipes of this module in a private registry; ``parts`` replace classes by (kind, registered name)."""
    registry = Registry()
    classes = {("encoder", "dense"): DenseEncoder, ("decoder", "dense"): DenseDecoder,
               ("sampler", "gaussian"): GaussianSampler, ("sampler", "mixture"): MixtureSampler,
               ("sampler", "importance"): ImportanceSampler, ("sampler", "quantise"): QuantisingSampler,
               ("sampler", "categorical"): CategoricalQuantisingSampler, ("loss", "vae"): VAELoss,
               ("loss", "mse"): ReconstructionLoss, ("loss", "quantised"): QuantisedLoss,
               ("loss", "iw"): ImportanceWeightedLoss, ("loss", "prior"): PriorLoss}
    for (kind, name), cls in classes.items():
        registry.add_component(kind, name, (parts or {}).get((kind, name), cls), "families")
    common = {"encoder": "dense", "decoder": "dense", "input_shape": INPUT, "plugin": "families"}
    registry.add_recipe("cvae", sampler="gaussian", loss="vae", latent_shape=2, classes=3, **common)
    registry.add_recipe("mixture-ae", sampler="mixture", loss="mse", latent_shape=2, **common)
    registry.add_recipe("iwae", sampler="importance", loss="iw", latent_shape=2, **common)
    registry.add_recipe("vq", sampler="quantise", loss="quantised", latent_shape=GRID_LATENT, **common,
                        stages=[{"name": "prior", "loss": "prior", "trains": ["sampler.prior_network"], "epochs": 1}])
    registry.add_recipe("vq-categorical", sampler="categorical", loss="quantised", latent_shape=GRID_LATENT, **common)
    return registry


RECIPES = ("cvae", "mixture-ae", "iwae", "vq", "vq-categorical")
