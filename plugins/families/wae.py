"""WAE-MMD (Tolstikhin et al. 2018): a deterministic encoder whose codes are pushed, as a whole, to N(0, I).

The VAE asks every image's posterior to match the prior; the Wasserstein autoencoder asks only the
aggregate of the codes to, measured by the maximum mean discrepancy with an inverse-multiquadratic kernel
k(x, y) = C / (C + ||x - y||²), summed over the paper's scales C = 2·d·s for s in ``scales`` (d the latent
size, the prior's variance 1). With n codes q_i and n prior draws p_i, the unbiased estimate is

    MMD = Σ_C [ Σ_{i≠j} (k(q_i, q_j) + k(p_i, p_j)) / (n(n-1)) - 2 Σ_{i,j} k(q_i, p_j) / n² ],

and ``loss = r_loss_factor · mse + λ · MMD``. The paper's cost is ||x - x_hat||², of which r · mse is
r / D times: λ = 40 here is λ ≈ 31 in the paper's units, between its MNIST 10 and its code's 200 (λ = 10
kept the codes too far from the prior, 100 cost sharpness, in a one-epoch run on 15,000 images).

The prior draws come from the sampler (``CodeSampler``'s extra ``prior_draws``), drawn with the training
generator, so runs and resumes see the same draws.
"""

from __future__ import annotations

import dataclasses

import torch

from genkit.config import field
from genkit.contract.components import Loss, Sampler, SamplerOutput
from genkit.contract.priors import DiagonalGaussianPrior
from genkit_plugins.vae.loss import per_image_mse

from .gaussian import rows

SCALES = [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0]  # the paper code's multiples of the base scale 2·d·σ²


def imq_mmd(q: torch.Tensor, p: torch.Tensor, scales: list[float], variance: float = 1.0) -> torch.Tensor:
    """The unbiased MMD² estimate between two samples (n, ...) with the multi-scale IMQ kernel (see the module)."""
    q, p = rows(q), rows(p)
    n, d = q.shape
    if n < 2:
        return q.new_zeros(())  # one point has no within-sample pair: nothing to estimate
    both = torch.cat([q, p])
    squared = (both[:, None, :] - both[None, :, :]).square().sum(2)  # exact, and a zero gradient at zero distance
    off_diagonal = 1.0 - torch.eye(n, device=q.device, dtype=q.dtype)
    total = q.new_zeros(())
    for scale in scales:
        c = 2.0 * d * variance * scale
        k = c / (c + squared)
        within = ((k[:n, :n] + k[n:, n:]) * off_diagonal).sum() / (n * (n - 1))
        total = total + within - 2.0 * k[:n, n:].sum() / (n * n)
    return total


class CodeSampler(Sampler):
    """z = the encoder's code; prior N(0, I); the extra ``prior_draws``: one draw from the prior per image."""

    parameter_names = ("code",)
    extras = ("prior_draws",)

    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        # buffers follow .to(device, dtype); not saved, since the prior is fixed
        self.register_buffer("prior_mean", torch.zeros(spec.latent_shape), persistent=False)
        self.register_buffer("prior_std", torch.ones(spec.latent_shape), persistent=False)

    def forward(self, code: torch.Tensor, generator: torch.Generator | None = None) -> SamplerOutput:
        return SamplerOutput(code, {"prior_draws": self.prior().sample(len(code), generator).to(code.dtype)})

    def mean(self, code: torch.Tensor) -> torch.Tensor:
        return code

    def prior(self) -> DiagonalGaussianPrior:
        return DiagonalGaussianPrior(self.prior_mean, self.prior_std)


class WAELoss(Loss):
    terms = ("loss", "reconstruction", "mmd", "mse")
    batch_terms = ("loss", "mmd")  # the MMD compares the batch's codes with as many prior draws
    needs_extras = ("prior_draws",)

    @dataclasses.dataclass(frozen=True)
    class Settings:
        r_loss_factor: float = field(1000.0, "weight of the per-image MSE (the book's)", min=0.0)
        lam: float = field(40.0, "weight λ of the MMD term", min=0.0)
        scales: list[float] = field(SCALES, "multiples of the base kernel scale 2·d summed in the kernel",
                                    positive_items=True)

    def forward(self, x, out):
        if "prior_draws" not in out.extras:
            raise ValueError("the wae-mmd loss compares the codes with draws from the prior: it needs the sampler's "
                             "extra prior_draws (the 'wae-code' sampler)")
        mse = per_image_mse(x, out.x_hat).mean()
        mmd = imq_mmd(out.z, out.extras["prior_draws"], self.settings.scales)
        reconstruction = self.settings.r_loss_factor * mse
        return {"loss": reconstruction + self.settings.lam * mmd, "reconstruction": reconstruction, "mmd": mmd,
                "mse": mse}
