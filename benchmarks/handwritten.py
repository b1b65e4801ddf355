"""The seed VAE trained by a plain PyTorch loop: the baseline genkit's loop is measured against.

Written the way one would without a framework: two ``nn.Sequential`` stacks with PyTorch's usual
``padding=1`` / ``output_padding=1`` for the stride-2 layers (the same layer sizes as genkit's
``vae`` recipe), Adam with lr 5e-4 and eps 1e-7, loss ``1000 * MSE + KL``, batches cut from one
in-memory tensor with a fresh permutation per epoch.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

LATENT = 2
R_LOSS_FACTOR = 1000.0


class HandwrittenVAE(nn.Module):
    def __init__(self, latent: int = LATENT) -> None:
        super().__init__()
        slope = 0.3
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 32, 3, 1, 1), nn.LeakyReLU(slope),
            nn.Conv2d(32, 64, 3, 2, 1), nn.LeakyReLU(slope),
            nn.Conv2d(64, 64, 3, 2, 1), nn.LeakyReLU(slope),
            nn.Conv2d(64, 64, 3, 1, 1), nn.LeakyReLU(slope),
            nn.Flatten(),
        )
        self.mu = nn.Linear(64 * 7 * 7, latent)
        self.log_var = nn.Linear(64 * 7 * 7, latent)
        self.decoder_input = nn.Linear(latent, 64 * 7 * 7)
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(64, 64, 3, 1, 1), nn.LeakyReLU(slope),
            nn.ConvTranspose2d(64, 64, 3, 2, 1, output_padding=1), nn.LeakyReLU(slope),
            nn.ConvTranspose2d(64, 32, 3, 2, 1, output_padding=1), nn.LeakyReLU(slope),
            nn.ConvTranspose2d(32, 1, 3, 1, 1), nn.Sigmoid(),
        )
        for layer in self.modules():  # the same initialisation as the recipe (Keras' glorot-uniform)
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        mu, log_var = self.mu(h), self.log_var(h)
        z = mu + torch.exp(log_var / 2) * torch.randn_like(mu)
        x_hat = self.decoder(self.decoder_input(z).view(-1, 64, 7, 7))
        return x_hat, mu, log_var


def vae_loss(x: torch.Tensor, x_hat: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    mse = F.mse_loss(x_hat, x)
    kl = (-0.5 * (1 + log_var - mu.square() - log_var.exp()).sum(dim=1)).mean()
    return R_LOSS_FACTOR * mse + kl


class HandwrittenTrainer:
    """Model, optimiser and data of the plain loop; ``epoch(images)`` trains once over ``images``."""

    def __init__(self, batch_size: int = 32, lr: float = 5e-4, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.model = HandwrittenVAE()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr, eps=1e-7)
        self.batch_size = batch_size

    def epoch(self, images: torch.Tensor) -> float:
        """Train one pass over ``images`` (N, 1, 28, 28); returns the mean training loss."""
        self.model.train()
        order = torch.randperm(len(images))
        total = 0.0
        for start in range(0, len(images), self.batch_size):
            x = images[order[start:start + self.batch_size]]
            x_hat, mu, log_var = self.model(x)
            loss = vae_loss(x, x_hat, mu, log_var)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            total += loss.item() * len(x)
        return total / len(images)

    @torch.no_grad()
    def test_loss(self, images: torch.Tensor, batch_size: int = 256) -> float:
        self.model.eval()
        total = 0.0
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size]
            x_hat, mu, log_var = self.model(x)
            total += vae_loss(x, x_hat, mu, log_var).item() * len(x)
        return total / len(images)
