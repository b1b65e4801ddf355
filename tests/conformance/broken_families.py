"""The components of ``families.py``, each with a single realistic mistake against a contract core v2 opened.

``test_kit_catches_families`` requires the kit to fail on each with a message naming the broken rule. A sampler
that overrides ``sample_prior`` (to draw otherwise than its prior says) also breaks the export contract, which the
contract check names; the prior statistics show what its draws do.
"""

from __future__ import annotations

import torch
from torch import nn

from genkit.contract.components import Loss, SamplerOutput
from genkit.contract.priors import GaussianMixturePrior, Prior, lookup

from .families import (
    CategoricalQuantisingSampler,
    DenseDecoder,
    DenseEncoder,
    ImportanceSampler,
    MixtureSampler,
    PixelCNN,
    QuantisingSampler,
)

# -- the export contract: prior() ----------------------------------------------------------------------------


class LaplacePrior(Prior):
    """A sound distribution, but none of genkit.contract.priors' families: the runtime could not sample it."""

    family = "laplace"

    def __init__(self, shape):
        self.shape = shape

    @property
    def latent_shape(self):
        return self.shape

    def sample(self, n, generator=None):
        return torch.distributions.Laplace(0.0, 1.0).sample((n, *self.shape))

    def describe(self):
        return {"family": self.family}


class UnknownPriorSampler(MixtureSampler):
    def prior(self):
        return LaplacePrior(tuple(self.spec.latent_shape))


class TemperedMixturePrior(GaussianMixturePrior):
    """Draws twice as wide as it describes: the runtime would draw what describe() says."""

    def sample(self, n, generator=None):
        return 2.0 * super().sample(n, generator)


class TemperedPriorSampler(MixtureSampler):
    def prior(self):
        return TemperedMixturePrior(self.weights, self.means, self.stds)


class WrongShapePriorSampler(MixtureSampler):
    """Its prior draws points one dimension short of the model's latent shape."""

    def prior(self):
        return GaussianMixturePrior(self.weights, self.means[:, :-1], self.stds[:, :-1])


class UnnormalisedMixtureSampler(MixtureSampler):
    """Mixture weights that sum to 1.1."""

    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        self.weights.copy_(torch.tensor([0.5, 0.3, 0.3]))


class PeekingPixelCNN(PixelCNN):
    """The first layer is a type-B mask: each position sees its own code."""

    def __init__(self, codes, width=8):
        super().__init__(codes, width)
        self.a.mask[:, :, 1, 1] = 1.0


class PeekingNetworkSampler(QuantisingSampler):
    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        self.prior_network = PeekingPixelCNN(self.settings.codes)


# -- the sampler's forward ------------------------------------------------------------------------------------


class MissingExtrasSampler(QuantisingSampler):
    """Declares its extras but returns the bare z."""

    def forward(self, z_e, generator=None):
        return super().forward(z_e, generator).z


class UndeclaredExtrasSampler(ImportanceSampler):
    """Returns log_q without declaring it."""

    extras = ()


class NoStraightThroughSampler(QuantisingSampler):
    """z is the codebook entry itself: the decoder's gradient stops at the codebook (the commitment loss still
    reaches the encoder, which hides the mistake from a check of all extras together)."""

    def forward(self, z_e, generator=None):
        out = super().forward(z_e, generator)
        return SamplerOutput(lookup(self.codebook, out.extras["codes"]), out.extras)


class FlatSampler(QuantisingSampler):
    """Flattens z to (N, D·h·w) instead of keeping the latent shape."""

    def forward(self, z_e, generator=None):
        out = super().forward(z_e, generator)
        return SamplerOutput(out.z.flatten(1), out.extras)


class JitteringQuantiser(QuantisingSampler):
    """Its draws wobble around the code it reports as its mean."""

    def forward(self, z_e, generator=None):
        out = super().forward(z_e, generator)
        noise = torch.randn(out.z.shape, generator=generator)
        return SamplerOutput(out.z + 0.01 * noise, out.extras)


class ImportanceStdAsVarianceSampler(ImportanceSampler):
    """Scales the noise of its K draws by the variance exp(log_var) instead of the std."""

    def forward(self, mu, log_var, generator=None):
        return super().forward(mu, 2 * log_var, generator)


# -- sampling the prior ---------------------------------------------------------------------------------------


class UniformComponentSampler(MixtureSampler):
    """Picks the mixture's components with equal probability, whatever the weights."""

    def sample_prior(self, n, generator=None):
        uniform = torch.full_like(self.weights, 1.0 / 3)
        return GaussianMixturePrior(uniform, self.means, self.stds).sample(n, generator)


class PerDimensionComponentSampler(MixtureSampler):
    """Picks a component for each dimension separately: each marginal is right, the points are not."""

    def sample_prior(self, n, generator=None):
        columns = [self.prior().sample(n, generator).flatten(1)[:, j] for j in range(self.spec.latent_numel)]
        return torch.stack(columns, 1).reshape(n, *self.spec.latent_shape)


class ChainNetwork(nn.Module):
    """Logits 4·onehot(previous code + 1) in raster order (code 1 first): a prior whose conditionals matter."""

    def __init__(self, codes):
        super().__init__()
        self.codes = codes
        self.register_buffer("scale", torch.tensor(4.0), persistent=False)

    def forward(self, codes):
        flat = codes.flatten(1)
        previous = torch.cat([torch.zeros_like(flat[:, :1]), flat[:, :-1]], 1)
        logits = self.scale * nn.functional.one_hot((previous + 1) % self.codes, self.codes).float()
        return logits.movedim(-1, 1).reshape(len(codes), self.codes, *codes.shape[1:])


class ChainSampler(QuantisingSampler):
    """A sound quantiser whose network prior has strong conditionals."""

    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        self.prior_network = ChainNetwork(self.settings.codes)


class AllAtOnceSampler(ChainSampler):
    """Draws every position at once from the all-zero grid's logits, although the prior is autoregressive."""

    def sample_prior(self, n, generator=None):
        prior = self.prior()
        prior.autoregressive = False
        return prior.sample(n, generator)


class UniformCodesSampler(CategoricalQuantisingSampler):
    """Draws its codes uniformly, ignoring its categorical prior's (uneven) logits."""

    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        self.logits.copy_(torch.linspace(0.0, 2.0, self.settings.codes).expand_as(self.logits))

    def sample_prior(self, n, generator=None):
        codes = torch.randint(0, self.settings.codes, (n, *self.spec.latent_shape[1:]), generator=generator)
        return lookup(self.codebook.detach(), codes)


class OffCodebookSampler(QuantisingSampler):
    """Adds a little noise to the codebook entries it draws."""

    def sample_prior(self, n, generator=None):
        z = super().sample_prior(n, generator)
        return z + 0.01 * torch.randn(z.shape, generator=generator)


# -- conditions and losses ------------------------------------------------------------------------------------


class LabelBlindDecoder(DenseDecoder):
    """Takes the labels, but forgot to embed them: they never reach the output."""

    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        self.embed = None


class UnconditionalEncoder(DenseEncoder):
    """Takes no labels: a conditional model cannot call it."""

    def forward(self, x):
        return super().forward(x)


class CodebookOnlyLoss(Loss):
    """A stage loss that never looks at the prior network it is meant to train."""

    needs_reconstruction = False

    def forward(self, x, out):
        return {"loss": out.extras["codebook_loss"]}
