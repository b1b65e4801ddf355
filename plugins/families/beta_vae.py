"""β-VAE (Higgins et al. 2017): the VAE's objective with the KL term weighted by β.

``loss = r_loss_factor · mse + β · KL(q(z|x) || N(0, I))``. β > 1 presses the posterior towards the
factorised prior, which trades reconstruction for fewer, more independent latent dimensions; β = 1 is
the book's VAE loss exactly. The reconstruction and KL terms are the ``vae`` loss's own.
"""

from __future__ import annotations

import dataclasses

from genkit.config import field
from genkit_plugins.vae.loss import VAELoss


class BetaVAELoss(VAELoss):
    terms = ("loss", "reconstruction", "kl", "mse")

    @dataclasses.dataclass(frozen=True)
    class Settings(VAELoss.Settings):
        beta: float = field(4.0, "weight of the KL term (1: the plain VAE)", min=0.0)

    def forward(self, x, out):
        terms = super().forward(x, out)
        terms["loss"] = terms["reconstruction"] + self.settings.beta * terms["kl"]
        return terms
