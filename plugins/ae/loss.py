"""ReconstructionLoss: the autoencoder's loss, per-image MSE alone (no KL term to shape the latent space)."""

from __future__ import annotations

import torch

from genkit.components import Loss
from genkit_plugins.vae.loss import per_image_mse


class ReconstructionLoss(Loss):
    """Per-image MSE averaged over the batch, in float32 (so bf16 autocast keeps an accurate loss).

    The total and the reconstruction term are the same number; both are reported so that runs of
    ``ae`` and ``vae`` log comparable terms.
    """

    terms = ("loss", "reconstruction", "mse")

    def forward(self, x: torch.Tensor, x_hat: torch.Tensor,
                params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        mse = per_image_mse(x, x_hat).mean()
        return {"loss": mse, "reconstruction": mse, "mse": mse}
