"""GaussianSampler: the VAE's reparameterised draw z = mu + exp(log_var / 2) * eps, prior N(0, I)."""

from __future__ import annotations

import torch

from genkit.components import ModelSpec, Sampler


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
        self.register_buffer("prior_mean", torch.zeros(spec.z_dim), persistent=False)
        self.register_buffer("prior_std", torch.ones(spec.z_dim), persistent=False)

    def forward(self, mu: torch.Tensor, log_var: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
        return mu + torch.exp(log_var / 2) * standard_normal_like(mu, generator)

    def mean(self, mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
        return mu

    def prior(self) -> dict[str, torch.Tensor]:
        return {"mean": self.prior_mean, "std": self.prior_std}
