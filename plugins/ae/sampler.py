"""DeterministicSampler: the autoencoder's latent point is the code itself, with a prior fitted to data."""

from __future__ import annotations

import torch

from genkit.components import ModelSpec, Sampler


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
        self.register_buffer("prior_mean", torch.zeros(spec.z_dim))
        self.register_buffer("prior_std", torch.ones(spec.z_dim))

    def forward(self, code: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return code

    def mean(self, code: torch.Tensor) -> torch.Tensor:
        return code

    def prior(self) -> dict[str, torch.Tensor]:
        return {"mean": self.prior_mean, "std": self.prior_std}

    @torch.no_grad()
    def fit_prior(self, codes: torch.Tensor) -> None:
        z_dim = self.spec.z_dim
        if codes.dim() != 2 or codes.shape[1] != z_dim or codes.shape[0] == 0:
            raise ValueError(f"fit_prior expects codes of shape (N >= 1, {z_dim}); got {tuple(codes.shape)}")
        codes = codes.detach().float()
        # Population std: defined for a single code too, and the prior describes these codes exactly.
        self.prior_mean.copy_(codes.mean(dim=0))
        self.prior_std.copy_(codes.std(dim=0, correction=0))
