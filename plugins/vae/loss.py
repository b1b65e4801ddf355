"""VAELoss: r_loss_factor * per-image MSE + KL divergence to N(0, I), as compiled in the book."""

from __future__ import annotations

import dataclasses
import math

import torch

from genkit.config import field
from genkit.contract.components import Loss, ModelOutput, ModelSpec


def implied_variance(r_loss_factor: float, pixels: int) -> float:
    """sigma² of the Gaussian decoder whose negative log-likelihood is r · per-image MSE (plus a constant):
    r · sum(e²) / D = sum(e²) / (2 sigma²), so sigma² = D / (2 r) for D pixels."""
    if r_loss_factor <= 0:
        raise ValueError(f"r_loss_factor must be > 0 for a decoder likelihood; got {r_loss_factor}")
    return pixels / (2.0 * r_loss_factor)


def decoder_log_likelihood(x: torch.Tensor, x_hat: torch.Tensor, r_loss_factor: float) -> torch.Tensor:
    """log N(x; x_hat, sigma² I) per row of ``x_hat`` (K·N rows for K draws per image: x repeats), in nats,
    computed in float32 or wider whatever autocast chose."""
    x = x.to(torch.promote_types(x.dtype, torch.float32)).flatten(1)
    x_hat = x_hat.to(torch.promote_types(x_hat.dtype, torch.float32)).flatten(1)
    if len(x_hat) != len(x):
        x = x.repeat(len(x_hat) // len(x), 1)
    pixels = x.shape[1]
    variance = implied_variance(r_loss_factor, pixels)
    mse = (x - x_hat).square().mean(1)
    return -r_loss_factor * mse - 0.5 * pixels * (math.log(2 * math.pi) + math.log(variance))


def per_image_mse(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Mean squared error over (C, H, W) of each image, in float32 (Keras' ``K.mean(..., axis=[1,2,3])``)."""
    return (x.float() - x_hat.float()).square().flatten(1).mean(dim=1)


def require_gaussian_posterior(spec: ModelSpec, loss_name: str) -> None:
    """Refuse, in one line, a model whose sampler does not give the Gaussian posterior's mu and log_var."""
    missing = {"mu", "log_var"} - set(spec.parameter_names)
    if missing:
        raise ValueError(f"the {loss_name} loss needs the encoder outputs mu and log_var (a Gaussian sampler); "
                         f"this model's sampler provides {list(spec.parameter_names)}")


class ImpliedGaussianLikelihood:
    """The decoder likelihood of a loss weighted by the book's ``r_loss_factor``: the Gaussian whose variance
    the weight implies. Mixed into every loss with that setting, so each defines the same density."""

    @property
    def likelihood(self) -> str:
        return (f"gaussian with the variance r_loss_factor implies: sigma^2 = pixels / (2 * r_loss_factor) = "
                f"{self.variance():.4g}")

    def variance(self) -> float:
        """The Gaussian decoder variance under which r_loss_factor * MSE is the NLL up to a constant (inf at 0)."""
        if self.settings.r_loss_factor <= 0:
            return math.inf
        return implied_variance(self.settings.r_loss_factor, math.prod(self.spec.input_shape))

    def log_likelihood(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        if self.settings.r_loss_factor <= 0:
            raise NotImplementedError(f"with r_loss_factor 0 {type(self).__name__} implies no decoder likelihood")
        return decoder_log_likelihood(x, x_hat, self.settings.r_loss_factor)


class VAELoss(ImpliedGaussianLikelihood, Loss):
    """``loss = r_loss_factor * mse + kl``, each averaged over the batch.

    The factor balances reconstruction against the KL term: the book uses 1000 for 28x28 digits and
    10000 for faces. Everything is computed in float32 so that bf16 autocast keeps an accurate loss.
    """

    terms = ("loss", "reconstruction", "kl", "mse")

    @dataclasses.dataclass(frozen=True)
    class Settings:
        r_loss_factor: float = field(1000.0, "weight of the per-image MSE against the KL term", min=0.0)

    def __init__(self, spec: ModelSpec, **settings):
        super().__init__(spec, **settings)
        require_gaussian_posterior(spec, "vae")

    def forward(self, x: torch.Tensor, out: ModelOutput) -> dict[str, torch.Tensor]:
        mse = per_image_mse(x, out.x_hat).mean()
        mu, log_var = out.params["mu"].float(), out.params["log_var"].float()
        kl = (-0.5 * (1 + log_var - mu.square() - log_var.exp()).flatten(1).sum(dim=1)).mean()
        reconstruction = self.settings.r_loss_factor * mse
        return {"loss": reconstruction + kl, "reconstruction": reconstruction, "kl": kl, "mse": mse}
