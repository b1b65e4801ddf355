"""DeterministicSampler: the autoencoder's latent point is the code itself, with a prior fitted to data."""

from __future__ import annotations

import torch

from genkit.contract.components import ModelSpec, Sampler
from genkit.contract.priors import DiagonalGaussianPrior


class DeterministicSampler(Sampler):
    """Passes the encoder's single ``code`` output through unchanged.

    A plain autoencoder has no prior of its own, so to generate images it gets one fitted to the
    training codes: a diagonal Gaussian (mean and std per latent dimension). Both are persistent
    buffers, saved with the weights; until the first fit the prior is N(0, I).
    """

    parameter_names = ("code",)
    fits_prior = True

    def __init__(self, spec: ModelSpec, **settings):
        super().__init__(spec, **settings)
        self.register_buffer("prior_mean", torch.zeros(spec.latent_shape))
        self.register_buffer("prior_std", torch.ones(spec.latent_shape))

    def forward(self, code: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return code

    def mean(self, code: torch.Tensor) -> torch.Tensor:
        return code

    def prior(self) -> DiagonalGaussianPrior:
        return DiagonalGaussianPrior(self.prior_mean, self.prior_std)

    @torch.no_grad()
    def fit_prior(self, codes: torch.Tensor) -> None:
        shape = self.spec.latent_shape
        if tuple(codes.shape[1:]) != shape or codes.shape[0] == 0:
            raise ValueError(f"fit_prior expects codes of shape (N >= 1, {', '.join(map(str, shape))}); "
                             f"got {tuple(codes.shape)}")
        codes = codes.detach().float()
        # Population std: defined for a single code too, and the prior describes these codes exactly.
        self.prior_mean.copy_(codes.mean(dim=0))
        self.prior_std.copy_(codes.std(dim=0, correction=0))
