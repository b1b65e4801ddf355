"""GaussianSampler: the VAE's reparameterised draw z = mu + exp(log_var / 2) * eps, prior N(0, I)."""

from __future__ import annotations

import torch

from genkit.contract.components import ModelSpec, Sampler
from genkit.contract.priors import DiagonalGaussianPrior


def standard_normal_like(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """N(0, I) noise shaped like ``like``, drawn from ``generator`` when one is given.

    ``torch.randn`` rather than ``randn_like`` because only the former takes a generator; the noise is
    drawn on the generator's own device so a CPU generator still seeds a CUDA model reproducibly, and
    in float32 whatever ``like``'s dtype, so that a seed gives the same noise under bf16 or fp16
    autocast as in fp32 (a bf16 draw is another stream of numbers, and coarser).
    """
    device = generator.device if generator is not None else like.device
    eps = torch.randn(like.shape, generator=generator, device=device, dtype=torch.float32)
    return eps.to(device=like.device, dtype=like.dtype)


class GaussianSampler(Sampler):
    """Samples the diagonal Gaussian the encoder describes; its prior is the standard normal."""

    parameter_names = ("mu", "log_var")

    def __init__(self, spec: ModelSpec, **settings):
        super().__init__(spec, **settings)
        # Buffers follow .to(device, dtype); non-persistent because the prior is fixed, not learnt.
        self.register_buffer("prior_mean", torch.zeros(spec.latent_shape), persistent=False)
        self.register_buffer("prior_std", torch.ones(spec.latent_shape), persistent=False)

    def forward(self, mu: torch.Tensor, log_var: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
        return mu + torch.exp(log_var / 2) * standard_normal_like(mu, generator)

    def mean(self, mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
        return mu

    def prior(self) -> DiagonalGaussianPrior:
        return DiagonalGaussianPrior(self.prior_mean, self.prior_std)

    def log_posterior(self, z: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
        """log N(z; mu, exp(log_var)) summed over the latent (z may hold K draws per image: K·N rows)."""
        repeat = len(z) // len(mu)
        mu, log_var = mu.float().repeat(repeat, *[1] * (mu.dim() - 1)), log_var.float().repeat(
            repeat, *[1] * (mu.dim() - 1))
        return torch.distributions.Normal(mu, torch.exp(log_var / 2)).log_prob(z.float()).flatten(1).sum(1)
