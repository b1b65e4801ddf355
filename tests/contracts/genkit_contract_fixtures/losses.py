"""The VQ objective, and the likelihood of the codes under the prior (the second stage's loss)."""

from __future__ import annotations

import dataclasses

from genkit.config import field
from genkit.contract.components import Loss


class VQLoss(Loss):
    terms = ("loss", "mse", "codebook", "commitment")

    @dataclasses.dataclass(frozen=True)
    class Settings:
        beta: float = field(0.25, "commitment weight", min=0.0)

    def forward(self, x, out):
        mse = (x.float() - out.x_hat.float()).square().flatten(1).mean(1).mean()
        codebook, commitment = out.extras["codebook_loss"], out.extras["commitment_loss"]
        return {"loss": mse + codebook + self.settings.beta * commitment, "mse": mse, "codebook": codebook,
                "commitment": commitment}


class PriorNLL(Loss):
    """-log p(codes) per image under the sampler's prior, in nats (the decoder is not run)."""

    terms = ("loss", "nll")
    needs_reconstruction = False

    def forward(self, x, out):
        nll = -out.prior.log_prob(out.z, out.extras.get("codes")).mean()
        return {"loss": nll, "nll": nll}
