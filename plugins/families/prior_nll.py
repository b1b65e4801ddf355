"""The negative log-likelihood of a model's latent points under its own prior: a later stage's loss.

A stage that fits a learnt prior (the VQ-VAE's PixelCNN) minimises -log p(z) of the training images'
codes, in nats per image: ``out.prior.log_prob(z, codes)`` with the integer codes a discrete sampler
returns as its extra ``codes``. The decoder is not run. Any prior whose ``log_prob`` is differentiable
in what the stage trains works, so the loss names no family.
"""

from __future__ import annotations

import math

from genkit.contract.components import Loss


class PriorNLL(Loss):
    terms = ("loss", "nll", "bits_per_code")
    needs_reconstruction = False

    def forward(self, x, out):
        codes = out.extras.get("codes")
        nll = -out.prior.log_prob(out.z, codes).mean()
        positions = codes[0].numel() if codes is not None else out.z[0].numel()
        return {"loss": nll, "nll": nll, "bits_per_code": nll / (positions * math.log(2))}
