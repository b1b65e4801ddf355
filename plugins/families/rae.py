"""RAE (Ghosh et al. 2020): a deterministic autoencoder, regularised instead of noised.

``loss = r_loss_factor · mse + β · ½||z||² + λ · ||∇_z Σ_pixels D(z)||²`` per image, averaged: the L2
penalty on the codes keeps the latent space bounded (the role of the VAE's KL), and the gradient penalty
on the decoder (RAE-GP, computed as in pythae: the gradient of the summed reconstruction with respect to
z) makes it smooth (the role of the VAE's noise). Images are generated from a Gaussian mixture fitted to
the training codes after training (``ExPostMixtureSampler``, the paper's ex-post density estimation).

The gradient penalty differentiates the decoder's output with respect to z, so it needs the graph of the
pass: with gradients off (the trainer's test-set evaluation) there is none, and the term is reported as 0.
"""

from __future__ import annotations

import dataclasses

import torch

from genkit.config import field
from genkit.contract.components import Loss
from genkit_plugins.vae.loss import per_image_mse

from .gaussian import rows, wide


def decoder_gradient_penalty(x_hat: torch.Tensor | None, z: torch.Tensor) -> torch.Tensor:
    """||∂(Σ_pixels x_hat_n) / ∂z_n||² per image (N,), differentiable; zeros where x_hat was not made from z."""
    zeros = wide(z).new_zeros(len(z))
    if x_hat is None or not torch.is_grad_enabled() or not (x_hat.requires_grad and z.requires_grad):
        return zeros
    (gradient,) = torch.autograd.grad(wide(x_hat).sum(), z, create_graph=True, allow_unused=True)
    return zeros if gradient is None else rows(gradient).square().sum(1)


class RAELoss(Loss):
    terms = ("loss", "reconstruction", "z_norm", "gradient_penalty", "mse")

    @dataclasses.dataclass(frozen=True)
    class Settings:
        r_loss_factor: float = field(1000.0, "weight of the per-image MSE (the book's)", min=0.0)
        z_weight: float = field(0.01, "weight β of the code penalty ½||z||²", min=0.0)
        gradient_penalty: float = field(0.01, "weight λ of the decoder gradient penalty (0: plain RAE)", min=0.0)

    def forward(self, x, out):
        s = self.settings
        mse = per_image_mse(x, out.x_hat).mean()
        z_norm = 0.5 * rows(out.z).square().sum(1).mean()
        penalty = decoder_gradient_penalty(out.x_hat, out.z).mean() if s.gradient_penalty else mse.new_zeros(())
        reconstruction = s.r_loss_factor * mse
        loss = reconstruction + s.z_weight * z_norm + s.gradient_penalty * penalty
        return {"loss": loss, "reconstruction": reconstruction, "z_norm": z_norm, "gradient_penalty": penalty,
                "mse": mse}
