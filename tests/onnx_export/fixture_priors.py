"""Small torch components for the export tests: one sampler per prior family, and a conditional model.

Unit-sized (1x8x8 images, linear encoder and decoder) so that each exports in a second or two. They are
registered in a private ``Registry`` (``registry()``), never with the installed plugins, and built
through the ordinary config and model builder (``build``). The priors' arrays are fixed, distinctive
values, so that the runtime's draws can be compared with them.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn
from torch.nn import functional as F

from genkit.config import build_config
from genkit.contract.components import Decoder, Encoder, Loss, Sampler, SamplerOutput
from genkit.contract.model import build_model
from genkit.contract.priors import CategoricalPrior, DiagonalGaussianPrior, GaussianMixturePrior, NetworkPrior
from genkit.contract.registry import Registry

PLUGIN = "onnx-fixtures"
INPUT_SHAPE = (1, 8, 8)
GRID_LATENT = (4, 2, 3)  # D = 4 numbers per code, a 2x3 grid of codes
CODES = 5


class LinearEncoder(Encoder):
    """One linear map per sampler parameter, reshaped to the latent shape; labels add a learnt offset."""

    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        width = math.prod(spec.input_shape)
        self.heads = nn.ModuleList(nn.Linear(width, spec.latent_numel) for _ in spec.parameter_names)
        self.embed = nn.Embedding(spec.classes, spec.latent_numel) if spec.conditional else None

    @property
    def feature_shape(self):
        return tuple(self.spec.input_shape)

    def forward(self, x, *condition):
        flat = x.flatten(1)
        offset = self.embed(condition[0]) if self.embed is not None else 0
        return tuple((head(flat) + offset).unflatten(1, self.spec.latent_shape) for head in self.heads)


class LinearDecoder(Decoder):
    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        self.linear = nn.Linear(spec.latent_numel, math.prod(spec.input_shape))
        self.embed = nn.Embedding(spec.classes, spec.latent_numel) if spec.conditional else None

    def forward(self, z, *condition):
        flat = z.flatten(1) + (self.embed(condition[0]) if self.embed is not None else 0)
        return torch.sigmoid(self.linear(flat)).unflatten(1, self.spec.input_shape)


class MSELoss(Loss):
    def forward(self, x, out):
        return {"loss": F.mse_loss(out.x_hat, x)}


class CodeSampler(Sampler):
    """The code is the encoder's output; the prior a fixed diagonal Gaussian (mean 1, std 0.5)."""

    parameter_names = ("code",)

    def forward(self, code, generator=None):
        return code

    def mean(self, code):
        return code

    def prior(self):
        shape = self.spec.latent_shape
        return DiagonalGaussianPrior(torch.full(shape, 1.0), torch.full(shape, 0.5))


MIXTURE_WEIGHTS = (0.2, 0.5, 0.3)
MIXTURE_MEANS = (-4.0, 0.0, 5.0)
MIXTURE_STDS = (0.3, 0.6, 0.2)


class MixtureSampler(CodeSampler):
    """Three well-separated components: component k has mean MIXTURE_MEANS[k] in every dimension."""

    def prior(self):
        shape = self.spec.latent_shape
        means = torch.stack([torch.full(shape, m) for m in MIXTURE_MEANS])
        stds = torch.stack([torch.full(shape, s) for s in MIXTURE_STDS])
        return GaussianMixturePrior(torch.tensor(MIXTURE_WEIGHTS), means, stds)


def quantize(z_e, codebook):
    """Nearest codebook entry per grid position: (N, D, h, w) -> (codes (N, h, w), vectors (N, D, h, w))."""
    vectors = z_e.permute(0, 2, 3, 1)  # (N, h, w, D)
    distances = (vectors.unsqueeze(-2) - codebook).pow(2).sum(-1)  # (N, h, w, M)
    codes = distances.argmin(-1)
    return codes, codebook[codes].permute(0, 3, 1, 2)


class CategoricalSampler(Sampler):
    """A vector-quantiser: z is the nearest codebook entry at each grid position (straight-through)."""

    parameter_names = ("z_e",)
    extras = ("codes",)

    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        dim, grid = spec.latent_shape[0], spec.latent_shape[1:]
        self.register_buffer("codebook", torch.linspace(-1, 1, CODES * dim).view(CODES, dim))
        # position p favours code p % CODES; a different distribution at every position
        logits = torch.zeros(*grid, CODES)
        for p in range(math.prod(grid)):
            logits.view(-1, CODES)[p, p % CODES] = 2.0
            logits.view(-1, CODES)[p, (p + 2) % CODES] = -1.0
        self.register_buffer("logits", logits)

    def forward(self, z_e, generator=None):
        codes, z_q = quantize(z_e, self.codebook)
        return SamplerOutput(z_e + (z_q - z_e).detach(), {"codes": codes})

    def mean(self, z_e):
        return quantize(z_e, self.codebook)[1]

    def prior(self):
        return CategoricalPrior(self.codebook, self.logits)


class MaskedConv2d(nn.Conv2d):
    """A PixelCNN convolution: type A sees only positions before the centre in raster order."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        kh, kw = self.kernel_size
        mask = torch.ones(kh, kw)
        mask[kh // 2, kw // 2:] = 0
        mask[kh // 2 + 1:] = 0
        self.register_buffer("mask", mask)

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias, self.stride, self.padding)


class TinyPixelCNN(nn.Module):
    """codes (N, h, w) int64 -> logits (N, M, h, w), each position's logits from the codes before it."""

    def __init__(self, codes: int):
        super().__init__()
        self.embed = nn.Embedding(codes, 8)
        self.masked = MaskedConv2d(8, 16, 3, padding=1)
        self.out = nn.Conv2d(16, codes, 1)

    def forward(self, codes):
        return self.out(torch.relu(self.masked(self.embed(codes).permute(0, 3, 1, 2))))


class NetworkSampler(CategoricalSampler):
    """The vector-quantiser with a learnt prior: a PixelCNN over the code grid (autoregressive or not)."""

    @dataclasses.dataclass(frozen=True)
    class Settings:
        autoregressive: bool = True

    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        self.network = TinyPixelCNN(CODES)
        with torch.no_grad():  # sharper logits than an initialisation gives, so draws differ visibly
            self.network.out.weight.mul_(20)

    def prior(self):
        return NetworkPrior(self.network, self.codebook, tuple(self.spec.latent_shape[1:]),
                            self.settings.autoregressive)


SAMPLERS = {"code": CodeSampler, "mixture": MixtureSampler, "categorical": CategoricalSampler,
            "network": NetworkSampler}
# recipe -> (sampler, latent_shape, classes, sampler settings)
RECIPES = {
    "mixture": ("mixture", (3,), 0, {}),
    "categorical": ("categorical", GRID_LATENT, 0, {}),
    "network": ("network", GRID_LATENT, 0, {}),
    "network-parallel": ("network", GRID_LATENT, 0, {"autoregressive": False}),
    "conditional": ("code", (2,), 3, {}),
    "conditional-network": ("network", GRID_LATENT, 4, {}),
}


def registry() -> Registry:
    """A registry holding only these fixtures."""
    reg = Registry()
    for kind, name, cls in (("encoder", "linear", LinearEncoder), ("decoder", "linear", LinearDecoder),
                            ("loss", "mse", MSELoss), *(("sampler", n, c) for n, c in SAMPLERS.items())):
        reg.add_component(kind, name, cls, PLUGIN)
    for name, (sampler, latent, classes, settings) in RECIPES.items():
        reg.add_recipe(name, plugin=PLUGIN, encoder="linear", sampler=sampler, decoder="linear", loss="mse",
                       input_shape=INPUT_SHAPE, latent_shape=latent, classes=classes, settings={"sampler": settings})
    return reg


def build(recipe: str, seed: int = 0):
    """The recipe's model, seeded, in eval mode."""
    torch.manual_seed(seed)
    return build_model(build_config(registry(), recipe), registry()).eval()


def components(recipe: str) -> dict[str, dict[str, str]]:
    """The provenance an export records, as a run folder would give it."""
    reg = registry()
    sampler = RECIPES[recipe][0]
    names = {"encoder": "linear", "sampler": sampler, "decoder": "linear", "loss": "mse"}
    return {kind: {"name": name, "plugin": PLUGIN, "class": reg.component(kind, name).target.__qualname__}
            for kind, name in names.items()}
