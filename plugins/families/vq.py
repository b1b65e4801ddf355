"""VQ-VAE (van den Oord et al. 2017): a grid of discrete codes from a learnt codebook, and a prior over them.

The encoder gives z_e (N, D, h, w); at each position the nearest of the M codebook entries e_k replaces it.
The decoder sees z_q = z_e + sg(e - z_e): the codebook entry forward, the identity backward (the straight-
through estimator), so the reconstruction's gradient reaches the encoder. The loss is

    r_loss_factor · mse + ||sg(z_e) - e||² + β · ||z_e - sg(e)||²,

the codebook term moving the entries to the codes that chose them and the commitment term keeping the
encoder near its entries (means over every element, as in the paper's code). The codebook size M is the
``codes`` setting and the entry size D the latent's channels (``model.latent_shape = [D, h, w]``). The
prior over the code grid is a gated PixelCNN (``pixelcnn``), fitted in a second training stage with the
``prior-nll`` loss while everything else stays frozen; until then it is an untrained network.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from genkit.config import field
from genkit.contract.components import Loss, Sampler, SamplerOutput
from genkit.contract.priors import NetworkPrior, lookup
from genkit_plugins.vae.loss import per_image_mse

from .gaussian import wide
from .pixelcnn import GatedPixelCNN


def nearest_codes(z_e: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """The index (N, *grid) of the codebook entry (M, D) nearest each position's vector of z_e (N, D, *grid)."""
    flat = wide(z_e.movedim(1, -1))  # (N, *grid, D)
    book = wide(codebook).to(flat.dtype)
    # ||z - e||² = ||z||² - 2 z·e + ||e||²; ||z||² is the same for every entry, so it does not change the argmin
    distances = book.square().sum(1) - 2.0 * flat @ book.T
    return distances.argmin(-1)


def straight_through(z_e: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
    """z_q in the forward pass, the identity to z_e in the backward pass."""
    return z_e + (z_q - z_e).detach()


class VectorQuantizer(Sampler):
    parameter_names = ("z_e",)
    extras = ("codebook_loss", "commitment_loss", "codes")

    @dataclasses.dataclass(frozen=True)
    class Settings:
        codes: int = field(512, "codebook size M (the entries' size is the latent's channels D)", min=2)
        init_std: float = field(0.3, "standard deviation of the codebook's initial entries, about that of the "
                                     "untrained encoder's outputs", min=0.0)
        prior_width: int = field(64, "channels of the PixelCNN prior's layers", min=1)
        prior_layers: int = field(6, "gated layers of the PixelCNN prior", min=1)

    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        if len(spec.latent_shape) < 2:
            raise ValueError(f"the vector quantizer needs a latent of shape [D, h, w] (a grid of D-sized entries); "
                             f"latent_shape is {list(spec.latent_shape)}")
        m, d = self.settings.codes, spec.latent_shape[0]
        self.codebook = nn.Embedding(m, d)
        # Entries on the scale of the encoder's outputs. The paper code's U(-1/M, 1/M) suits its encoder; beside
        # the book's (outputs of std ~0.3) such tiny entries are all but equidistant from every code, so a few
        # corner entries take every position, and Adam, which moves an entry ~lr per step, cannot catch up with
        # the encoder: 8 of 512 entries were used after an epoch on 15,000 images, 186 with this initialisation.
        nn.init.normal_(self.codebook.weight, 0.0, self.settings.init_std)
        self.prior_network = GatedPixelCNN(m, self.settings.prior_width, self.settings.prior_layers)

    def quantize(self, z_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        codes = nearest_codes(z_e, self.codebook.weight)
        return codes, lookup(self.codebook.weight, codes).to(z_e.dtype)

    def forward(self, z_e: torch.Tensor, generator: torch.Generator | None = None) -> SamplerOutput:
        codes, z_q = self.quantize(z_e)
        extras = {"codebook_loss": (wide(z_q) - wide(z_e.detach())).square().mean(),
                  "commitment_loss": (wide(z_e) - wide(z_q.detach())).square().mean(), "codes": codes}
        return SamplerOutput(straight_through(z_e, z_q), extras)

    def mean(self, z_e: torch.Tensor) -> torch.Tensor:
        return self.quantize(z_e)[1]

    def prior(self) -> NetworkPrior:
        return NetworkPrior(self.prior_network, self.codebook.weight, tuple(self.spec.latent_shape[1:]))


class VQLoss(Loss):
    terms = ("loss", "reconstruction", "codebook", "commitment", "mse")
    needs_extras = ("codebook_loss", "commitment_loss")

    @dataclasses.dataclass(frozen=True)
    class Settings:
        r_loss_factor: float = field(10.0, "weight of the per-image MSE (the paper divides it by the data's "
                                           "variance, about 0.1 for Fashion-MNIST)", min=0.0)
        beta: float = field(0.25, "commitment weight β (the paper's 0.25)", min=0.0)

    def forward(self, x, out):
        missing = [name for name in ("codebook_loss", "commitment_loss") if name not in out.extras]
        if missing:
            raise ValueError(f"the vq-vae loss needs the vector quantizer's extras codebook_loss and "
                             f"commitment_loss; missing {missing}")
        mse = per_image_mse(x, out.x_hat).mean()
        codebook, commitment = out.extras["codebook_loss"], out.extras["commitment_loss"]
        reconstruction = self.settings.r_loss_factor * mse
        return {"loss": reconstruction + codebook + self.settings.beta * commitment, "reconstruction": reconstruction,
                "codebook": codebook, "commitment": commitment, "mse": mse}
