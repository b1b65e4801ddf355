"""ReconstructionLoss: the autoencoder's loss, per-image MSE alone (no KL term to shape the latent space)."""

from __future__ import annotations

import torch

from genkit.contract.components import Loss, ModelOutput
from genkit_plugins.vae.loss import per_image_mse


class ReconstructionLoss(Loss):
    """Per-image MSE averaged over the batch, in float32 (so bf16 autocast keeps an accurate loss).

    The total and the reconstruction term are the same number; both are reported so that runs of
    ``ae`` and ``vae`` log comparable terms.
    """

    terms = ("loss", "reconstruction", "mse")

    def forward(self, x: torch.Tensor, out: ModelOutput) -> dict[str, torch.Tensor]:
        mse = per_image_mse(x, out.x_hat).mean()
        return {"loss": mse, "reconstruction": mse, "mse": mse}
