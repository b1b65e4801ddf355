"""Deliberately broken components, each the built-in one with a single realistic mistake.

Every class here keeps the basic contract (shapes, dtypes, gradients, the [0, 1] range) that
``check_recipe`` and ``check_*`` test, and breaks exactly one rule that a newer check of the kit
covers; ``test_kit_catches_*`` require that check to fail with a message naming the rule.
"""

from __future__ import annotations

import torch
from torch import nn

from genkit.contract.components import Sampler
from genkit.contract.priors import DiagonalGaussianPrior
from genkit.contract.registry import Registry
from genkit_plugins.ae.loss import ReconstructionLoss
from genkit_plugins.ae.sampler import DeterministicSampler
from genkit_plugins.vae.decoder import TransposedConvDecoder
from genkit_plugins.vae.encoder import ConvEncoder
from genkit_plugins.vae.loss import VAELoss, per_image_mse
from genkit_plugins.vae.sampler import GaussianSampler

# -- saving and loading ---------------------------------------------------------------------------


class ForgetfulPriorSampler(DeterministicSampler):
    """Loading keeps the prior it had and drops the saved one."""

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        kept = self.prior_mean.clone(), self.prior_std.clone()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self.prior_mean.copy_(kept[0])
        self.prior_std.copy_(kept[1])


class UnsavedPriorSampler(DeterministicSampler):
    """The fitted prior lives in non-persistent buffers, so the saved weights lack it."""

    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        for name in ("prior_mean", "prior_std"):
            value = getattr(self, name)
            delattr(self, name)
            self.register_buffer(name, value, persistent=False)


# -- batches --------------------------------------------------------------------------------------


class BatchMeanDecoder(TransposedConvDecoder):
    """Blends each image with the batch's mean image, also in eval mode."""

    def forward(self, z):
        out = super().forward(z)
        return 0.5 * (out + out.mean(dim=0, keepdim=True))


class BatchStatisticsEncoder(ConvEncoder):
    """A batch norm without running statistics: in eval mode it still normalises by the batch."""

    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        self.features.append(nn.BatchNorm2d(self.feature_shape[0], track_running_stats=False))


class CentredMeanSampler(GaussianSampler):
    """The code of each image is centred on the batch."""

    def mean(self, mu, log_var):
        return mu - mu.mean(dim=0, keepdim=True)


# -- precision, seeds and devices -----------------------------------------------------------------


class BrightDecoder(TransposedConvDecoder):
    """Images near white: sigmoid(logit + 8), about 0.9997, which bfloat16 rounds to exactly 1."""

    def forward(self, z):
        logits = self.layers[:-1](self.unflatten(self.dense(z.flatten(1))))
        return torch.sigmoid(logits + 8.0)


class LargeOffsetEncoder(ConvEncoder):
    """Adds and removes an offset of 1000, which bfloat16 cannot resolve below steps of 4."""

    def forward(self, x):
        return tuple((t + 1000.0) - 1000.0 for t in super().forward(x))


class UnseededInitEncoder(ConvEncoder):
    """Initialises its heads from a private generator seeded by the OS, not by torch.manual_seed."""

    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        private = torch.Generator()
        private.seed()
        with torch.no_grad():
            for head in self.heads.values():
                head.weight.normal_(0.0, 0.05, generator=private)


class UnseededDropoutEncoder(ConvEncoder):
    """Training-mode dropout on its features with masks from a private generator seeded by the OS."""

    def forward(self, x):
        if self.training:
            private = torch.Generator()
            private.seed()
            h = self.flatten(self.features(x))
            h = h * (torch.rand(h.shape, generator=private) > 0.25) / 0.75
            return tuple(head(h).unflatten(1, self.spec.latent_shape) for head in self.heads.values())
        return super().forward(x)


class GlobalRNGSampler(GaussianSampler):
    """Draws its noise from the global RNG and ignores ``generator``."""

    def forward(self, mu, log_var, generator=None):
        return mu + torch.exp(log_var / 2) * torch.randn_like(mu)


class PlainTensorPriorSampler(GaussianSampler):
    """Keeps its prior in plain tensor attributes, which .to() and .double() do not move."""

    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        self.fixed_mean, self.fixed_std = torch.zeros(spec.latent_shape), torch.ones(spec.latent_shape)

    def prior(self):
        return DiagonalGaussianPrior(self.fixed_mean, self.fixed_std)


class NoisyDecoder(TransposedConvDecoder):
    """Dithers its output with random noise, also in eval mode (and so in the exported graph)."""

    def forward(self, z):
        out = super().forward(z)
        return (out + 1e-3 * torch.rand_like(out)).clamp(0.0, 1.0)


# -- samplers' statistics -------------------------------------------------------------------------


class StdAsVarianceSampler(GaussianSampler):
    """Scales the noise by exp(log_var), the variance, instead of exp(log_var / 2)."""

    def forward(self, mu, log_var, generator=None):
        eps = torch.randn(mu.shape, generator=generator)
        return mu + torch.exp(log_var) * eps


class UniformNoiseSampler(GaussianSampler):
    """Uniform noise in [-1, 1] (variance 1/3) where the Gaussian needs standard normal noise."""

    def forward(self, mu, log_var, generator=None):
        eps = torch.rand(mu.shape, generator=generator) * 2 - 1
        return mu + torch.exp(log_var / 2) * eps


class ModeSampler(GaussianSampler):
    """Codes at mu + std: not the mean of the distribution it samples."""

    def mean(self, mu, log_var):
        return mu + torch.exp(log_var / 2)


class WidePriorSampler(GaussianSampler):
    """Samples the prior 1.5 times wider than prior() declares."""

    def sample_prior(self, n, generator=None):
        return 1.5 * super().sample_prior(n, generator)


class VarianceFitSampler(DeterministicSampler):
    """fit_prior stores the codes' variance as the prior's std."""

    def fit_prior(self, codes):
        super().fit_prior(codes)
        self.prior_std.copy_(codes.var(dim=0))


class NoisyCodeSampler(DeterministicSampler):
    """A deterministic sampler whose draws wobble around the code."""

    def forward(self, code, generator=None):
        return code + 0.01 * torch.randn(code.shape, generator=generator)


class LogScaleSampler(Sampler):
    """A sound sampler with a parametrisation genkit does not know: z = loc + exp(log_scale) * eps."""

    parameter_names = ("loc", "log_scale")

    def forward(self, loc, log_scale, generator=None):
        return loc + torch.exp(log_scale) * torch.randn(loc.shape, generator=generator)

    def mean(self, loc, log_scale):
        return loc

    def prior(self):
        return DiagonalGaussianPrior(torch.zeros(self.spec.latent_shape), torch.ones(self.spec.latent_shape))


# -- losses ---------------------------------------------------------------------------------------


class ShiftedTargetLoss(VAELoss):
    """Compares the reconstruction with a brightened copy of x: smallest at x_hat = x + 0.05."""

    def forward(self, x, out):
        return super().forward((x + 0.05).clamp(0.0, 1.0), out)


class StrayBatchTermLoss(ReconstructionLoss):
    """Declares a batch term it does not return: evaluate would look for a term that is not there."""

    batch_terms = ("mmd",)


class CodesReadingLoss(ReconstructionLoss):
    """Reads the sampler extra 'codes' (declared in needs_extras), which a Gaussian sampler does not give."""

    needs_extras = ("codes",)


class SwappedBCELoss(ReconstructionLoss):
    """Binary cross-entropy with input and target swapped: linear in x_hat, smallest at 0 or 1."""

    def forward(self, x, out):
        p, x_hat = x.clamp(1e-6, 1 - 1e-6), out.x_hat
        bce = -(x_hat * p.log() + (1 - x_hat) * (1 - p).log()).flatten(1).mean(1).mean()
        return {"loss": bce, "reconstruction": bce, "mse": per_image_mse(x, x_hat).mean()}


class TiltedMSELoss(ReconstructionLoss):
    """MSE plus 0.05 × the mean of x - x_hat: smallest 0.025 above x, which random nudges of ±δ barely see (their
    tilt averages out over the pixels) and a step against the gradient finds."""

    def forward(self, x, out):
        mse = per_image_mse(x, out.x_hat).mean()
        loss = mse + 0.05 * (x - out.x_hat).mean()
        return {"loss": loss, "reconstruction": loss, "mse": mse}


class UnclampedBCELoss(VAELoss):
    """Binary cross-entropy plus KL, with log(x_hat) and log(1 - x_hat) unclamped."""

    def forward(self, x, out):
        terms, x_hat = super().forward(x, out), out.x_hat
        bce = -(x * x_hat.log() + (1 - x) * (1 - x_hat).log()).flatten(1).sum(1).mean()
        return {**terms, "loss": bce + terms["kl"], "reconstruction": bce}


class TrimmedMSELoss(ReconstructionLoss):
    """MSE over the pixels within 0.02 of the target only: errors any larger cost nothing."""

    def forward(self, x, out):
        error = (x - out.x_hat).square()
        mse = (error * (error < 0.02**2)).flatten(1).mean(1).mean()
        return {"loss": mse, "reconstruction": mse, "mse": mse}


class RMSELoss(ReconstructionLoss):
    """Root mean squared error: finite, but its gradient at a perfect reconstruction is 0 * inf."""

    def forward(self, x, out):
        rmse = per_image_mse(x, out.x_hat).sqrt().mean()
        return {"loss": rmse, "reconstruction": rmse, "mse": per_image_mse(x, out.x_hat).mean()}


class NormalisedMSELoss(ReconstructionLoss):
    """MSE divided by each image's variance: 0/0 for a blank image."""

    def forward(self, x, out):
        mse = ((x - out.x_hat).square().flatten(1).mean(1) / x.flatten(1).var(1)).mean()
        return {"loss": mse, "reconstruction": mse, "mse": mse}


# -- a recipe of chosen parts ---------------------------------------------------------------------

SOUND = {"encoder": ConvEncoder, "sampler": GaussianSampler, "decoder": TransposedConvDecoder, "loss": VAELoss}


def recipe_registry(**parts: type) -> Registry:
    """A private registry whose recipe ``broken`` is the vae with small conv stacks and ``parts`` swapped in."""
    registry = Registry()
    for kind, cls in {**SOUND, **parts}.items():
        registry.add_component(kind, "part", cls, "test")
    registry.add_recipe("broken", plugin="test", encoder="part", sampler="part", decoder="part", loss="part",
                        input_shape=(1, 28, 28), latent_shape=3,
                        settings={"encoder": {"filters": [8, 8, 8, 8]}, "decoder": {"filters": [8, 8, 8, 1]}})
    return registry
